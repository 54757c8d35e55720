import type { Command } from 'commander';
import { type ApiTarget, CliError, callApi } from '../api-client';
import { jsonText, printable, printFields, printJson, printTable } from '../output';
import { globals, target } from './context';

const enc = encodeURIComponent;

interface LogPage {
  lines: string[];
  cursor: string;
  done: boolean;
  status: string;
}

const FOLLOW_INTERVAL_MS = 1000;

/** Prints a build's log; with --follow, polls until the build has ended and the log is drained. */
async function printLogs(api: ApiTarget, app: string, id: string, follow: boolean, json: boolean): Promise<void> {
  let cursor = '';
  for (;;) {
    const query = cursor ? `?cursor=${enc(cursor)}` : '';
    const page = await callApi<LogPage>(api, 'GET', `/v1/apps/${enc(app)}/builds/${enc(id)}/logs${query}`);
    // A log is what the build printed: multi-line text that keeps its line breaks and tabs.
    for (const line of page.lines) {
      process.stdout.write(json ? `${jsonText({ line })}\n` : `${printable(line, { multiline: true })}\n`);
    }
    cursor = page.cursor || cursor;
    if (page.done || (!follow && page.lines.length === 0)) {
      if (follow && !json) process.stderr.write(`slipway: ${printable(`build ${id} ${page.status}`)}\n`);
      return;
    }
    if (page.lines.length === 0) await new Promise((r) => setTimeout(r, FOLLOW_INTERVAL_MS));
  }
}

type BuildView = Record<string, unknown> & { id: string; commit: string };

/**
 * `slipway builds NAME` and `slipway builds show NAME ID`. Dispatched by hand, since an app
 * may be named like a sub-command: `builds show` with two arguments is the detail view.
 */
export function registerBuilds(program: Command): void {
  program
    .command('builds')
    .description(
      'list an app\'s builds, newest first; "builds show NAME ID" for one; "builds logs NAME ID" for its log',
    )
    .usage('NAME | show NAME ID | logs NAME ID [--follow]')
    .argument('<args...>')
    .option('--limit <n>', 'how many builds to list', '50')
    .option('--follow', 'with logs: keep printing until the build ends')
    .action(async (args: string[], options: { limit: string; follow?: boolean }, command: Command) => {
      const json = globals(command).json;
      if (args[0] === 'logs' && args.length === 3) {
        await printLogs(await target(command), args[1] ?? '', args[2] ?? '', options.follow ?? false, json ?? false);
        return;
      }
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
