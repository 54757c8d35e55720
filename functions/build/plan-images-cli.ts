import { writeFileSync } from 'node:fs';
import { type BuildPlan, nulRecords, PlanError, planBuild } from './compose-plan';

/**
 * `node plan-images.mjs [--nul FILE] <repoDir> <dockerfile>`: the images a build makes
 * (functions/build/compose-plan.ts), run inside the build by buildspecs/build.yml from the
 * esbuild bundle in $SLIPWAY_TOOLS (functions/build/bundle-tools.ts).
 *
 * Prints one JSON ImagePlan per line. With `--nul FILE` it also writes the plan for bash to
 * read with `read -d ''` (no jq needed): `source NUL count NUL`, then per image
 * `service NUL context NUL dockerfile NUL target NUL nargs NUL` and `nargs` × `K=V NUL`.
 * Exit 1 with one line on stderr (`==> error: <why>`) when the repository cannot be planned; 2 on bad usage.
 */
function main(argv: string[]): number {
  const args = [...argv];
  let nulFile: string | undefined;
  if (args[0] === '--nul') {
    nulFile = args[1];
    args.splice(0, 2);
  }
  const [repoDir, dockerfile, ...rest] = args;
  if (!repoDir || !dockerfile || rest.length > 0 || (nulFile !== undefined && !nulFile)) {
    process.stderr.write('usage: plan-images [--nul FILE] <repoDir> <dockerfile>\n');
    return 2;
  }
  let plan: BuildPlan;
  try {
    plan = planBuild(repoDir, dockerfile);
    if (nulFile) writeFileSync(nulFile, nulRecords(plan));
  } catch (error) {
    if (!(error instanceof PlanError)) throw error;
    // The buildspec runner takes a `==> error:` line as the build's reason (`plan: <message>`).
    process.stderr.write(`==> error: ${error.message}\n`);
    return 1;
  }
  const from = plan.source === 'compose' ? plan.composeFile : dockerfile;
  process.stderr.write(`plan: ${plan.images.length} image(s) from ${from}\n`);
  process.stdout.write(plan.images.map((image) => `${JSON.stringify(image)}\n`).join(''));
  return 0;
}

process.exitCode = main(process.argv.slice(2));
