import type { Command } from 'commander';
import { callApi } from '../api-client';
import { printFields, printJson, printTable } from '../output';
import { parseTimeout, type ReleaseView, waitForRelease } from '../wait';
import { globals, target } from './context';

const enc = encodeURIComponent;

const USAGE = 'usage: slipway releases NAME [--env ENV] [--limit N] | slipway releases rollback NAME RELEASE [--wait]';

interface ReleasesOptions {
  limit: string;
  env?: string;
  wait?: boolean;
  timeout: string;
}

/**
 * `slipway releases NAME` and `slipway releases rollback NAME RELEASE [--wait]`. Dispatched by
 * hand, since an app may be named "rollback": three arguments starting with it are a rollback.
 */
export function registerReleases(program: Command): void {
  program
    .command('releases')
    .description('list an app\'s releases, newest first; "releases rollback NAME RELEASE" to roll back to one')
    .usage('NAME [--env ENV] [--limit N] | rollback NAME RELEASE [--wait]')
    .argument('<args...>')
    .option('--limit <n>', 'how many releases to list', '50')
    .option('--env <environment>', "only this environment's releases")
    .option('--wait', 'with rollback: follow the new release until it is live or has failed')
    .option('--timeout <minutes>', 'with --wait: stop waiting after this long (the release goes on)', '60')
    .action(async (args: string[], options: ReleasesOptions, command: Command) => {
      const json = globals(command).json;
      if (args[0] === 'rollback' && args.length === 3) {
        const app = args[1] ?? '';
        const timeoutMinutes = parseTimeout(options.timeout, command);
        const api = await target(command);
        let release = await callApi<ReleaseView>(
          api,
          'POST',
          `/v1/apps/${enc(app)}/releases/${enc(args[2] ?? '')}/rollback`,
          {},
        );
        if (options.wait) release = await waitForRelease(api, app, release.id, { timeoutMinutes });
        if (json) printJson(release);
        else printFields(release);
        return;
      }
      if (args.length !== 1) command.error(USAGE, { exitCode: 2 });
      if (options.wait) command.error(`error: --wait applies to releases rollback only\n${USAGE}`, { exitCode: 2 });
      const limit = Number(options.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > 1000) {
        command.error('error: --limit must be 1-1000', { exitCode: 2 });
      }
      const releases = await callApi<ReleaseView[]>(
        await target(command),
        'GET',
        `/v1/apps/${enc(args[0] ?? '')}/releases?limit=${limit}${options.env !== undefined ? `&env=${enc(options.env)}` : ''}`,
      );
      if (json) printJson(releases);
      else
        printTable(
          releases.map((r) => ({ ...r, commit: r.commit.slice(0, 8) })),
          ['id', 'status', 'build', 'commit', 'createdAt', 'liveAt'],
        );
    });
}
