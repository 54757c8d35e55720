import { randomBytes } from 'node:crypto';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { findProjectRoot } from '../commons/project-root';

/**
 * The small Node programs buildspecs/build.yml runs, bundled with esbuild into single ESM
 * files that need nothing but `node`: on AWS the CDK puts `plan-images.mjs` into the build's
 * source asset (say under `tools/`, the buildspec's default $SLIPWAY_TOOLS); locally the
 * local builder bundles into the state dir and points SLIPWAY_TOOLS there.
 */

/** The programs and their entry files (relative to the repository root). */
export const TOOL_ENTRIES = {
  'plan-images.mjs': 'functions/build/plan-images-cli.ts',
  'local-decrypt.mjs': 'functions/build/local-decrypt-cli.ts',
} as const;

export type ToolName = keyof typeof TOOL_ENTRIES;

/** Bundles the image planner into `<outDir>/plan-images.mjs` and returns that path. */
export async function bundlePlanner(outDir: string, options: { projectRoot?: string } = {}): Promise<string> {
  const [file] = await bundleTools(outDir, ['plan-images.mjs'], options);
  return file as string;
}

type Esbuild = typeof import('esbuild');

/** esbuild, loaded on demand from the repository (createRequire: this module also runs as CommonJS under Jest). */
function loadEsbuild(root: string): Esbuild {
  // esbuild is a build-time tool, never part of a Lambda bundle.
  return createRequire(join(root, 'package.json'))('esbuild') as Esbuild;
}

function toolBuildOptions(root: string, name: ToolName, outfile: string) {
  return {
    entryPoints: [join(root, TOOL_ENTRIES[name])],
    outfile,
    write: false as const,
    bundle: true,
    platform: 'node' as const,
    format: 'esm' as const,
    // Whatever node the build image has: the tools use nothing newer than Node 18.
    target: 'node18',
    // CommonJS dependencies bundled into ESM may still call require() for Node built-ins.
    banner: {
      js: "import { createRequire as __slipwayRequire } from 'node:module';\nconst require = __slipwayRequire(import.meta.url);",
    },
    logLevel: 'error' as const,
    legalComments: 'none' as const,
  };
}

/** Writes a bundled tool aside and renames it into place, so a build running the previous copy is not disturbed. */
function install(outfile: string, outputFiles: { path: string; contents: Uint8Array }[] | undefined, name: string) {
  const output = outputFiles?.find((file) => file.path === outfile);
  if (!output) throw new Error(`esbuild produced no ${name}`);
  const partial = `${outfile}.${process.pid}.${randomBytes(4).toString('hex')}.partial`;
  writeFileSync(partial, output.contents, { mode: 0o600 });
  renameSync(partial, outfile);
}

const ALL_TOOLS = Object.keys(TOOL_ENTRIES) as ToolName[];

/** Bundles the named tools into `outDir` (created 0700 if missing); returns their paths in order. */
export async function bundleTools(
  outDir: string,
  names: readonly ToolName[] = ALL_TOOLS,
  options: { projectRoot?: string } = {},
): Promise<string[]> {
  const root = options.projectRoot ?? findProjectRoot();
  const { build } = loadEsbuild(root);
  mkdirSync(outDir, { recursive: true, mode: 0o700 });
  const files: string[] = [];
  for (const name of names) {
    const outfile = join(outDir, name);
    install(outfile, (await build(toolBuildOptions(root, name, outfile))).outputFiles, name);
    files.push(outfile);
  }
  return files;
}

/** The same, synchronously: CDK's local asset bundling cannot wait. */
export function bundleToolsSync(
  outDir: string,
  names: readonly ToolName[] = ALL_TOOLS,
  options: { projectRoot?: string } = {},
): string[] {
  const root = options.projectRoot ?? findProjectRoot();
  const { buildSync } = loadEsbuild(root);
  mkdirSync(outDir, { recursive: true, mode: 0o700 });
  return names.map((name) => {
    const outfile = join(outDir, name);
    install(outfile, buildSync(toolBuildOptions(root, name, outfile)).outputFiles, name);
    return outfile;
  });
}
