import type { Command } from 'commander';
import { CliError, callApi } from '../api-client';
import { printJson, printLine, printTable } from '../output';
import { globals, target } from './context';

const enc = encodeURIComponent;

const USAGE =
  'usage: slipway config NAME ENV [--show] | slipway config set NAME ENV KEY=VALUE... | ' +
  'slipway config unset NAME ENV KEY...';

/** What the admin API answers for a configuration (values only when asked for). */
export interface ConfigurationView {
  app: string;
  environment: string;
  keys: string[];
  version: number;
  values?: Record<string, string>;
  release?: string;
}

/** How a value is shown without `--show`. */
const MASK = '********';

/**
 * `KEY=VALUE` arguments as the `set` object. A malformed one is an error of one line that
 * names its position, not its text (it may be a value).
 */
export function parseAssignments(args: readonly string[]): Record<string, string> {
  const set: Record<string, string> = {};
  args.forEach((arg, i) => {
    const at = arg.indexOf('=');
    if (at <= 0) throw new CliError(`argument ${i + 1} after the environment is not KEY=VALUE`);
    const key = arg.slice(0, at);
    if (Object.hasOwn(set, key)) throw new CliError(`${key.slice(0, 64)} is given twice`);
    Object.defineProperty(set, key, { value: arg.slice(at + 1), enumerable: true, writable: true });
  });
  return set;
}

/**
 * `slipway config NAME ENV [--show]`, `config set NAME ENV KEY=VALUE…`, `config unset NAME ENV
 * KEY…` (PRODUCT.md "Configuration"). Dispatched by hand, since an app may be named "set" or
 * "unset": four or more arguments starting with one of them are that subcommand.
 */
export function registerConfig(program: Command): void {
  program
    .command('config')
    .description(
      'show an environment\'s configuration (keys; values with --show); "config set" / "config unset" to change it ' +
        '(its live images are released again with the new values)',
    )
    .usage('NAME ENV [--show] | set NAME ENV KEY=VALUE... | unset NAME ENV KEY...')
    .argument('<args...>')
    .option('--show', 'show the values too')
    .action(async (args: string[], options: { show?: boolean }, command: Command) => {
      const json = globals(command).json;
      const [first, app = '', env = '', ...rest] = args;
      if ((first === 'set' || first === 'unset') && args.length >= 4) {
        if (options.show) command.error(`error: --show applies to "config NAME ENV" only\n${USAGE}`, { exitCode: 2 });
        const body = first === 'set' ? { set: parseAssignments(rest) } : { unset: rest };
        const changed = await callApi<ConfigurationView>(
          await target(command),
          'PATCH',
          `/v1/apps/${enc(app)}/envs/${enc(env)}/config`,
          body,
        );
        if (json) {
          printJson(changed);
          return;
        }
        printKeys(changed);
        if (changed.release) printLine(`released again as ${changed.release}`);
        else
          printLine(
            `stored (version ${changed.version}); nothing is live in ${changed.environment}: the next release takes it`,
          );
        return;
      }
      if (args.length !== 2) command.error(USAGE, { exitCode: 2 });
      const shown = await callApi<ConfigurationView>(
        await target(command),
        'GET',
        `/v1/apps/${enc(first ?? '')}/envs/${enc(app)}/config${options.show ? '?show=true' : ''}`,
      );
      if (json) printJson(shown);
      else printKeys(shown);
    });
}

/** The keys, one a line, each with its value or a mask. */
function printKeys(view: ConfigurationView): void {
  printTable(
    view.keys.map((key) => ({ key, value: view.values ? (view.values[key] ?? '') : MASK })),
    ['key', 'value'],
  );
}
