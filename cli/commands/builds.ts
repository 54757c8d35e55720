import type { Command } from 'commander';
import { CliError, callApi } from '../api-client';
import { printFields, printJson, printTable } from '../output';
import { globals, target } from './context';

const enc = encodeURIComponent;

type BuildView = Record<string, unknown> & { id: string; commit: string };

/**
 * `slipway builds NAME` and `slipway builds show NAME ID`. Dispatched by hand, since an app
 * may be named like a sub-command: `builds show` with two arguments is the detail view.
 */
export function registerBuilds(program: Command): void {
  program
    .command('builds')
    .description('list an app\'s builds, newest first; "builds show NAME ID" for one')
    .usage('NAME | show NAME ID')
    .argument('<args...>')
    .option('--limit <n>', 'how many builds to list', '50')
    .action(async (args: string[], options: { limit: string }, command: Command) => {
      const json = globals(command).json;
      if (args[0] === 'show' && args.length === 3) {
        const build = await callApi<BuildView>(
          await target(command),
          'GET',
          `/v1/apps/${enc(args[1] ?? '')}/builds/${enc(args[2] ?? '')}`,
        );
        if (json) printJson(build);
        else printFields(build);
        return;
      }
      if (args.length !== 1) {
        command.error('usage: slipway builds NAME | slipway builds show NAME ID', { exitCode: 2 });
      }
      const limit = Number(options.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new CliError('--limit must be 1-1000');
      const builds = await callApi<BuildView[]>(
        await target(command),
        'GET',
        `/v1/apps/${enc(args[0] ?? '')}/builds?limit=${limit}`,
      );
      if (json) printJson(builds);
      else
        printTable(
          builds.map((b) => ({ ...b, commit: b.commit.slice(0, 8) })),
          ['id', 'status', 'trigger', 'ref', 'commit', 'author', 'createdAt'],
        );
    });
}
