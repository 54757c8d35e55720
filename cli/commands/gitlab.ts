import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { scanHostKeys } from '../../functions/adapters/ssh/known-hosts';
import type { PublicConnection } from '../../functions/domain/gitlab-link';
import { CliError, callApi } from '../api-client';
import { printable, printFields, printJson } from '../output';
import { globals, target } from './context';

interface ConnectOptions {
  url: string;
  token?: string;
  tokenFile?: string;
  allowHttp?: boolean;
  knownHosts?: string;
}

/**
 * The GitLab token: `--token -` reads standard input, `--token-file FILE` a file (both keep it
 * out of argv, which other users of the machine can read in `ps`); `--token TOKEN` still works.
 */
function readToken(options: ConnectOptions, command: Command): string {
  if ((options.token === undefined) === (options.tokenFile === undefined)) {
    command.error('error: give the token with --token - (stdin), --token-file FILE or --token TOKEN', {
      exitCode: 2,
    });
  }
  let token: string;
  if (options.tokenFile !== undefined) {
    try {
      token = readFileSync(options.tokenFile, 'utf8').trim();
    } catch (error) {
      throw new CliError(`--token-file ${options.tokenFile}: ${(error as NodeJS.ErrnoException).code ?? 'unreadable'}`);
    }
    if (!token) throw new CliError(`--token-file ${options.tokenFile}: the file is empty`);
    return token;
  }
  if (options.token !== '-') return options.token ?? '';
  try {
    token = readFileSync(0, 'utf8').trim();
  } catch {
    throw new CliError('--token -: could not read the token from standard input');
  }
  if (!token) throw new CliError('--token -: standard input was empty');
  return token;
}

function readKnownHosts(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    throw new CliError(`--known-hosts ${file}: ${(error as NodeJS.ErrnoException).code ?? 'unreadable'}`);
  }
}

/** Trust on first use: scan the instance's SSH host keys once, and say what was pinned. */
async function scanOnce(gitlabUrl: string): Promise<string> {
  let host: string;
  try {
    host = new URL(gitlabUrl).hostname;
  } catch {
    throw new CliError(`invalid GitLab URL ${gitlabUrl}`);
  }
  try {
    return await scanHostKeys(host, 22);
  } catch (error) {
    throw new CliError(
      `could not scan the SSH host key of ${host}:22 (${(error as Error).message}); pass --known-hosts FILE`,
    );
  }
}

function show(connection: PublicConnection, json: boolean | undefined): void {
  if (json) {
    printJson(connection);
    return;
  }
  printFields({
    url: connection.url,
    username: connection.username,
    tokenExpiresAt: connection.tokenExpiresAt ?? 'never',
    scopes: connection.scopes.join(', '),
    connectedAt: connection.connectedAt,
    oauth: connection.oauth ? `set (client id ${connection.oauth.clientId}, ${connection.oauth.setAt})` : 'not set',
  });
  for (const key of connection.hostKeys) {
    process.stdout.write(`hostKey  ${printable(`${key.hosts.join(',')} ${key.fingerprint}`)}\n`);
  }
}

export function registerGitlab(program: Command): void {
  const gitlab = program.command('gitlab').description('the GitLab instance Slipway works with');

  gitlab
    .command('connect')
    .description('check a GitLab access token (api scope) and store it encrypted')
    .requiredOption('--url <url>', 'GitLab base URL, e.g. https://gitlab.example.com')
    .option('--token <token>', 'access token with the api scope; "-" reads it from standard input (recommended)')
    .option('--token-file <file>', 'read the access token from this file (recommended over a token in argv)')
    .addHelpText(
      'after',
      '\nGive the token on standard input (--token - < token.txt) or in a file (--token-file token.txt):\n' +
        'a token in argv (--token TOKEN) is visible to other users of this machine (ps, /proc).',
    )
    .option('--allow-http', 'allow a plain-http GitLab URL (the token travels in clear)')
    .option(
      '--known-hosts <file>',
      "the instance's SSH host keys; without it they are scanned once (trust on first use)",
    )
    .action(async (options: ConnectOptions, command: Command) => {
      const token = readToken(options, command);
      let knownHosts: string;
      if (options.knownHosts) knownHosts = readKnownHosts(options.knownHosts);
      else {
        knownHosts = await scanOnce(options.url);
        process.stderr.write('slipway: pinned SSH host keys on first use (check them against your GitLab admin):\n');
      }
      const connection = await callApi<PublicConnection>(await target(command), 'PUT', '/v1/gitlab', {
        url: options.url,
        token,
        allowHttp: options.allowHttp ?? false,
        knownHosts,
      });
      if (!options.knownHosts && !globals(command).json) {
        for (const key of connection.hostKeys) {
          process.stderr.write(`  ${printable(`${key.hosts.join(',')} ${key.fingerprint}`)}\n`);
        }
      }
      show(connection, globals(command).json);
    });

  gitlab
    .command('oauth')
    .description('set the OAuth application the console signs people in with ("Sign in with GitLab")')
    .requiredOption('--client-id <id>', "the application's ID from GitLab")
    .requiredOption('--client-secret <->', 'the secret, read from standard input: pass "-"')
    .action(async (options: { clientId: string; clientSecret: string }, command: Command) => {
      if (options.clientSecret !== '-') {
        throw new CliError('--client-secret takes "-" and reads the secret from standard input (never argv)');
      }
      let clientSecret: string;
      try {
        clientSecret = readFileSync(0, 'utf8').trim();
      } catch {
        throw new CliError('--client-secret -: could not read the secret from standard input');
      }
      if (!clientSecret) throw new CliError('--client-secret -: standard input was empty');
      const set = await callApi<{ clientId: string; redirectUri: string; scopes: string[] }>(
        await target(command),
        'PUT',
        '/v1/gitlab/oauth',
        { clientId: options.clientId, clientSecret },
      );
      if (globals(command).json) {
        printJson(set);
        return;
      }
      printFields({ clientId: set.clientId, redirectUri: set.redirectUri, scopes: set.scopes.join(' ') });
      process.stderr.write(
        'slipway: register exactly this redirect URI and these scopes on the application in GitLab\n',
      );
    });

  gitlab
    .command('show')
    .description('who is connected, to which instance, and when the token expires')
    .action(async (_options: unknown, command: Command) => {
      show(await callApi<PublicConnection>(await target(command), 'GET', '/v1/gitlab'), globals(command).json);
    });
}
