import type { Command } from 'commander';
import { callApi } from '../api-client';
import { printFields, printJson } from '../output';
import { type BuildView, parseTimeout, waitForBuild } from '../wait';
import { globals, target } from './context';

const enc = encodeURIComponent;

/**
 * `slipway deploy NAME [--ref REF] [--wait]`: starts a build (and its release) by hand. With
 * --wait, follows it until the release is live (exit 0) or the build or release failed (exit 1).
 */
export function registerDeploy(program: Command): void {
  program
    .command('deploy')
    .description("build and release an app now (default: the head of the app's branch)")
    .argument('<name>')
    .option('--ref <ref>', 'branch, tag or commit to deploy')
    .option('--wait', 'follow the build and its release until it is live or has failed')
    .option('--timeout <minutes>', 'with --wait: stop waiting after this long (the release goes on)', '60')
    .action(async (name: string, options: { ref?: string; wait?: boolean; timeout: string }, command: Command) => {
      const json = globals(command).json;
      const timeoutMinutes = parseTimeout(options.timeout, command);
      const api = await target(command);
      const build = await callApi<BuildView>(
        api,
        'POST',
        `/v1/apps/${enc(name)}/deploy`,
        options.ref !== undefined ? { ref: options.ref } : {},
      );
      if (!options.wait) {
        if (json) printJson(build);
        else printFields(build);
        return;
      }
      const release = await waitForBuild(api, name, build.id, { timeoutMinutes });
      if (json) printJson(release);
      else printFields(release);
    });
}
