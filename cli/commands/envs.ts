import type { Command } from 'commander';
import { callApi } from '../api-client';
import { printFields, printJson, printTable } from '../output';
import { parseTimeout, type ReleaseView, waitForRelease } from '../wait';
import { globals, target } from './context';

const enc = encodeURIComponent;

const USAGE =
  'usage: slipway envs NAME | slipway envs create NAME ENV [--branch B] [--tags P] [--cluster C --service S] [--container N] [--url U] ' +
  '[--approval none|maintainer [--self-approval]] [--review-apps [--cluster C --service-template S] [--cap N]] ' +
  '| slipway envs delete NAME ENV';

interface EnvsOptions {
  branch?: string;
  tags?: string;
  cluster?: string;
  service?: string;
  container?: string;
  url?: string;
  approval?: string;
  selfApproval?: boolean;
  reviewApps?: boolean;
  serviceTemplate?: string;
  cap?: string;
}

/**
 * `slipway envs NAME`, `envs create NAME ENV …`, `envs delete NAME ENV` (docs/ENVIRONMENTS.md).
 * Dispatched by hand, since an app may be named "create" or "delete": three arguments starting
 * with one of them are that subcommand.
 */
export function registerEnvs(program: Command): void {
  program
    .command('envs')
    .description('list an app\'s environments; "envs create" / "envs delete" to add or remove one')
    .usage('NAME | create NAME ENV [options] | delete NAME ENV')
    .argument('<args...>')
    .option('--branch <pattern>', 'pushes to matching branches are released here too (one build for every match)')
    .option('--tags <pattern>', 'pushed tags matching this are released here too (one build for every match)')
    .option('--cluster <cluster>', 'ECS cluster of the environment')
    .option('--service <service>', 'ECS service of the environment')
    .option('--container <name>', 'container in the task definition whose image changes')
    .option('--url <url>', 'where the environment is reached')
    .option('--approval <rule>', "none, or maintainer: releases wait for a Maintainer's approval (slipway approve)")
    .option('--self-approval', 'with --approval maintainer: whoever asked for a release may approve it too')
    .option('--review-apps', 'a review app per merge request, made from this environment (review/<iid>)')
    .option('--service-template <service>', 'with --review-apps on ECS: the service each review app copies')
    .option('--cap <n>', 'with --review-apps: at most this many at once (default 5)')
    .action(async (args: string[], options: EnvsOptions, command: Command) => {
      const json = globals(command).json;
      const [first, app = '', env = ''] = args;
      if (first === 'create' && args.length === 3) {
        if (options.approval !== undefined && options.approval !== 'none' && options.approval !== 'maintainer') {
          command.error('error: --approval must be none or maintainer', { exitCode: 2 });
        }
        if (options.cap !== undefined && !/^[1-9][0-9]{0,2}$/.test(options.cap)) {
          command.error('error: --cap must be a whole number of at least 1', { exitCode: 2 });
        }
        const body = Object.fromEntries(
          Object.entries({
            name: env,
            ...options,
            cap: options.cap === undefined ? undefined : Number(options.cap),
          }).filter(([, value]) => value !== undefined),
        );
        const created = await callApi<Record<string, unknown>>(
          await target(command),
          'POST',
          `/v1/apps/${enc(app)}/envs`,
          body,
        );
        if (json) printJson(created);
        else printFields(created);
        return;
      }
      if (first === 'delete' && args.length === 3) {
        const deleted = await callApi<Record<string, unknown>>(
          await target(command),
          'DELETE',
          `/v1/apps/${enc(app)}/envs/${enc(env)}`,
        );
        if (json) printJson(deleted);
        else process.stdout.write(`deleted environment ${env} of ${app}\n`);
        return;
      }
      if (args.length !== 1) command.error(USAGE, { exitCode: 2 });
      const envs = await callApi<Record<string, unknown>[]>(
        await target(command),
        'GET',
        `/v1/apps/${enc(first ?? '')}/envs`,
      );
      if (json) printJson(envs);
      else printTable(envs, ['name', 'branch', 'tags', 'cluster', 'service', 'approval', 'live', 'url']);
    });
}

/**
 * `slipway approve NAME RELEASE [--wait]` and `slipway reject NAME RELEASE [--reason R]`: decide
 * on a release waiting for approval (its environment has `approval: maintainer`).
 */
export function registerApprovals(program: Command): void {
  program
    .command('approve')
    .description('approve a release waiting for approval: it goes on to roll out')
    .argument('<name>')
    .argument('<release>')
    .option('--wait', 'follow the release until it is live or has failed')
    .option('--timeout <minutes>', 'with --wait: stop waiting after this long (the release goes on)', '60')
    .action(async (name: string, id: string, options: { wait?: boolean; timeout: string }, command: Command) => {
      const json = globals(command).json;
      const timeoutMinutes = parseTimeout(options.timeout, command);
      const api = await target(command);
      let release = await callApi<ReleaseView>(api, 'POST', `/v1/apps/${enc(name)}/releases/${enc(id)}/approve`, {});
      if (options.wait) release = await waitForRelease(api, name, release.id, { timeoutMinutes });
      if (json) printJson(release);
      else printFields(release);
    });
  program
    .command('reject')
    .description('reject a release waiting for approval: it ends rejected, nothing rolls out')
    .argument('<name>')
    .argument('<release>')
    .option('--reason <text>', 'why (shown with the release and in Slack)')
    .action(async (name: string, id: string, options: { reason?: string }, command: Command) => {
      const json = globals(command).json;
      const release = await callApi<ReleaseView>(
        await target(command),
        'POST',
        `/v1/apps/${enc(name)}/releases/${enc(id)}/reject`,
        options.reason !== undefined ? { reason: options.reason } : {},
      );
      if (json) printJson(release);
      else printFields(release);
    });
}

/** `slipway promote NAME --from ENV --to ENV [--release ID] [--wait]`: the same images, no rebuild. */
export function registerPromote(program: Command): void {
  program
    .command('promote')
    .description("release to another environment exactly the images of an environment's live release (no rebuild)")
    .argument('<name>')
    .requiredOption('--from <environment>', 'the environment whose release is promoted')
    .requiredOption('--to <environment>', 'the environment it is released to')
    .option('--release <id>', 'promote this release of --from instead of its live one (it must have gone live)')
    .option('--wait', 'follow the new release until it is live, has failed, or waits for approval')
    .option('--timeout <minutes>', 'with --wait: stop waiting after this long (the release goes on)', '60')
    .action(
      async (
        name: string,
        options: { from: string; to: string; release?: string; wait?: boolean; timeout: string },
        command: Command,
      ) => {
        const json = globals(command).json;
        const timeoutMinutes = parseTimeout(options.timeout, command);
        const api = await target(command);
        let release = await callApi<ReleaseView>(api, 'POST', `/v1/apps/${enc(name)}/promote`, {
          from: options.from,
          to: options.to,
          ...(options.release !== undefined ? { release: options.release } : {}),
        });
        // To an environment that asks for approval, the wait ends once the release waits for it.
        if (options.wait) {
          release = await waitForRelease(api, name, String(release.id), { timeoutMinutes, stopAtApproval: true });
        }
        if (json) printJson(release);
        else printFields(release);
      },
    );
}
