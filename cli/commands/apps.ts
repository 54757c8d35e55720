import { type Command, Option } from 'commander';
import type { PublicApp } from '../../functions/domain/apps';
import { callApi } from '../api-client';
import { printFields, printJson, printLine, printTable } from '../output';
import { globals, target } from './context';

const enc = encodeURIComponent;

interface CreateOptions {
  project: string;
  branch?: string;
  tags?: string;
  cluster?: string;
  service?: string;
  container?: string;
  dockerfile?: string;
  mode?: string;
  environment?: string;
}

export function registerApps(program: Command): void {
  const apps = program.command('apps').description('manage apps (a GitLab project released to a service)');

  apps
    .command('create')
    .description('create an app')
    .argument('<name>', 'app name: lower-case letters, digits, dashes')
    .requiredOption('--project <path>', 'GitLab project path, e.g. group/project')
    .option('--branch <branch>', 'branch to build; `*` matches any run, `/` too (≤ 255 chars, ≤ 16 `*`)', 'main')
    .option('--tags <pattern>', 'also build tags matching this pattern (`*` wildcards, as --branch)')
    .option('--cluster <cluster>', 'ECS cluster')
    .option('--service <service>', 'ECS service')
    .option('--container <name>', 'container in the task definition to update')
    .option('--dockerfile <path>', 'Dockerfile path in the repository')
    .option('--environment <name>', 'name of the first environment, where pushes are released', 'production')
    .addOption(new Option('--mode <mode>', 'what a newer push does to an older one').choices(['superseded', 'queued']))
    .action(async (name: string, options: CreateOptions, command: Command) => {
      const app = await callApi<PublicApp>(await target(command), 'POST', '/v1/apps', { name, ...options });
      if (globals(command).json) printJson(app);
      else printLine(`created app ${app.name} (project ${app.project}, branch ${app.branch})`);
    });

  apps
    .command('list')
    .description('list apps')
    .action(async (_options: unknown, command: Command) => {
      const list = await callApi<PublicApp[]>(await target(command), 'GET', '/v1/apps');
      if (globals(command).json) printJson(list);
      else
        printTable(list as unknown as Record<string, unknown>[], [
          'name',
          'project',
          'branch',
          'mode',
          'status',
          'linked',
        ]);
    });

  apps
    .command('show')
    .description('show one app')
    .argument('<name>')
    .action(async (name: string, _options: unknown, command: Command) => {
      const app = await callApi<PublicApp>(await target(command), 'GET', `/v1/apps/${enc(name)}`);
      if (globals(command).json) printJson(app);
      else printFields(app as unknown as Record<string, unknown>);
    });

  apps
    .command('delete')
    .description('delete an app and its history')
    .argument('<name>')
    .action(async (name: string, _options: unknown, command: Command) => {
      const out = await callApi<{ deleted: string }>(await target(command), 'DELETE', `/v1/apps/${enc(name)}`);
      if (globals(command).json) printJson(out);
      else printLine(`deleted app ${out.deleted}`);
    });

  apps
    .command('link')
    .description('add the GitLab webhook and a read-only deploy key (again: rotate both)')
    .argument('<name>')
    .action(async (name: string, _options: unknown, command: Command) => {
      const out = await callApi<{
        app: PublicApp;
        gitlabHookId: number;
        deployKeyId: number;
        deployKeyFingerprint: string;
        replacedDisabledHook?: { id: number; alertStatus: string; disabledUntil?: string };
      }>(await target(command), 'POST', `/v1/apps/${enc(name)}/link`);
      if (globals(command).json) printJson(out);
      else {
        printLine(
          `linked app ${out.app.name} to ${out.app.project}: hook ${out.gitlabHookId} → ${out.app.hookUrl}, ` +
            `deploy key ${out.deployKeyId} (${out.deployKeyFingerprint}, read-only)`,
        );
        const old = out.replacedDisabledHook;
        if (old) {
          printLine(
            `GitLab had disabled the previous hook ${old.id} (${old.alertStatus}): replaced by hook ${out.gitlabHookId}, which is enabled`,
          );
        }
      }
    });

  apps
    .command('unlink')
    .description('remove the GitLab webhook and deploy key')
    .argument('<name>')
    .action(async (name: string, _options: unknown, command: Command) => {
      const app = await callApi<PublicApp>(await target(command), 'POST', `/v1/apps/${enc(name)}/unlink`);
      if (globals(command).json) printJson(app);
      else printLine(`unlinked app ${app.name}: its hook and deploy key are gone from GitLab`);
    });

  apps
    .command('webhook')
    .description('issue a new webhook secret (the old one stops working); prints the URL and secret once')
    .argument('<name>')
    .option('--signing', 'also issue a Standard-Webhooks signing token (whsec_…)')
    .action(async (name: string, options: { signing?: boolean }, command: Command) => {
      const out = await callApi<{ url: string; secret: string; signingSecret?: string }>(
        await target(command),
        'POST',
        `/v1/apps/${enc(name)}/webhook`,
        { signing: options.signing ?? false },
      );
      if (globals(command).json) printJson(out);
      else {
        printFields(out);
        process.stdout.write(
          '\nAdd a webhook in GitLab (Settings → Webhooks) with this URL and secret token,\n' +
            'trigger: push events and tag push events. The secret is not shown again.\n',
        );
      }
    });
}
