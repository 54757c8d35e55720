import type { Command } from 'commander';
import { SlackUrlError, slackUrlFromEnv } from '../../functions/adapters/notify/slack-url';
import { ENV } from '../../functions/commons/env-names';
import { ValidationError } from '../../functions/domain/errors';
import { validateSystemHookToken } from '../../functions/domain/system-hook-token';
import { CliError } from '../api-client';

function portFromEnv(): number {
  const raw = process.env.SLIPWAY_PORT ?? '8080';
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new CliError(`SLIPWAY_PORT must be a port number, not ${raw}`);
  return port;
}

function publicUrlFromEnv(): string | undefined {
  const raw = process.env[ENV.publicUrl];
  if (!raw) return undefined;
  try {
    const url = new URL(raw);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error();
  } catch {
    throw new CliError(`SLIPWAY_PUBLIC_URL must be an http(s) URL, not ${raw}`);
  }
  return raw.replace(/\/+$/, '');
}

/** SLIPWAY_SYSTEM_HOOK_TOKEN, when set: at least 32 characters, else one clear line and exit 1. */
function systemHookTokenFromEnv(): string | undefined {
  const token = process.env.SLIPWAY_SYSTEM_HOOK_TOKEN || undefined;
  if (token === undefined) return undefined;
  try {
    validateSystemHookToken(token, 'SLIPWAY_SYSTEM_HOOK_TOKEN');
  } catch (error) {
    if (error instanceof ValidationError) throw new CliError(error.message);
    throw error;
  }
  return token;
}

/** `slipway local`: run the whole service on this machine until SIGINT/SIGTERM. */
export function registerLocal(program: Command): void {
  program
    .command('local')
    .description('run Slipway locally (DynamoDB Local, local vault, HTTP on 127.0.0.1)')
    .addHelpText(
      'after',
      '\nEnvironment: SLIPWAY_PORT (8080), SLIPWAY_HOME (.slipway), SLIPWAY_PUBLIC_URL, SLACK_WEBHOOK_URL,\n' +
        'SLIPWAY_SYSTEM_HOOK_TOKEN (the system hook secret token: at least 32 characters, e.g. openssl rand -hex 32).',
    )
    .action(async () => {
      const port = portFromEnv();
      const publicUrl = publicUrlFromEnv();
      const systemHookToken = systemHookTokenFromEnv();
      let slackWebhookUrl: string | undefined;
      try {
        slackWebhookUrl = slackUrlFromEnv();
      } catch (error) {
        if (error instanceof SlackUrlError) throw new CliError(error.message);
        throw error;
      }
      // Loaded here, not at the top: every other command starts without local mode's weight.
      const { startLocalMode } = await import('../../functions/local/local-mode');
      let local: Awaited<ReturnType<typeof startLocalMode>>;
      try {
        local = await startLocalMode({
          port,
          ...(publicUrl ? { publicUrl } : {}),
          ...(systemHookToken ? { systemHookToken } : {}),
          ...(slackWebhookUrl ? { slackWebhookUrl } : {}),
        });
      } catch (error) {
        const err = error as NodeJS.ErrnoException;
        if (err.code === 'EADDRINUSE') throw new CliError(`port ${port} is in use: set SLIPWAY_PORT to another port`);
        throw new CliError(err.message);
      }
      await new Promise<void>((resolve) => {
        const shutdown = (signal: string) => {
          process.stderr.write(`slipway: ${signal}, shutting down\n`);
          local.stop().then(resolve, resolve);
        };
        process.once('SIGINT', () => shutdown('SIGINT'));
        process.once('SIGTERM', () => shutdown('SIGTERM'));
      });
    });
}
