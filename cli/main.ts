import { Command, CommanderError, Option } from 'commander';
import { CliError } from './api-client';
import { registerApps } from './commands/apps';
import { registerBuilds } from './commands/builds';
import { registerConfig } from './commands/config';
import { registerDeploy } from './commands/deploy';
import { registerDoctor } from './commands/doctor';
import { registerApprovals, registerEnvs, registerPromote } from './commands/envs';
import { registerGitlab } from './commands/gitlab';
import { registerLocal } from './commands/local';
import { registerMetrics } from './commands/metrics';
import { registerReleases } from './commands/releases';
import { printable } from './output';

/**
 * `slipway`: the command line for Slipway's admin API (PRODUCT.md contract).
 * Exit 0 ok, 1 error (one line on stderr), 2 usage.
 */
export function buildProgram(): Command {
  const program = new Command('slipway')
    .description('Continuous delivery from GitLab to AWS')
    .addOption(new Option('--json', 'machine-readable output'))
    .addOption(new Option('--api <url>', 'admin API base URL (default: SLIPWAY_URL, else local mode)'))
    .addOption(
      new Option(
        '--api-token <token>',
        "admin API token, sent over https or to loopback (default: SLIPWAY_TOKEN, else the local state dir's, for loopback URLs only); prefer --api-token-file or SLIPWAY_TOKEN, as argv is visible to other users",
      ),
    )
    .addOption(new Option('--api-token-file <file>', 'read the admin API token from this file'))
    .addOption(new Option('--stack <name>', 'read the API URL from this deployed stack (default: SLIPWAY_STACK)'))
    .showSuggestionAfterError()
    .exitOverride();
  registerLocal(program);
  registerGitlab(program);
  registerApps(program);
  registerDeploy(program);
  registerBuilds(program);
  registerReleases(program);
  registerEnvs(program);
  registerPromote(program);
  registerConfig(program);
  registerApprovals(program);
  registerMetrics(program);
  registerDoctor(program);
  return program;
}

export async function run(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      return error.exitCode === 0 ? 0 : 2;
    }
    // One line, made printable: a message may quote a ref, a reason or a server's answer.
    if (error instanceof CliError) {
      process.stderr.write(`slipway: ${printable(error.message)}\n`);
      return 1;
    }
    process.stderr.write(`slipway: ${printable((error as Error).message ?? String(error))}\n`);
    return 1;
  }
}

const isMain = process.argv[1] !== undefined && /(slipway(\.mjs)?|main\.ts)$/.test(process.argv[1]);
if (isMain) {
  run(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
