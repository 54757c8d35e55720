import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { findProjectRoot } from '../../functions/commons/project-root';
import { type LocalMode, type LocalModeOptions, startLocalMode } from '../../functions/local/local-mode';
import { StateDir } from '../../functions/local/state-dir';

/** The repository root (found from the working directory: this runs under Jest and under tsx, in benchmarks). */
export const ROOT = findProjectRoot();

/** Local mode on a free loopback port, against the run's DynamoDB Local, in its own table and state dir. */
export async function startTestLocalMode(
  options: Partial<LocalModeOptions> = {},
): Promise<LocalMode & { home: string; tableName: string; endpoint: string }> {
  const endpoint = process.env.SLIPWAY_TEST_DYNAMODB_ENDPOINT;
  if (!endpoint) throw new Error('SLIPWAY_TEST_DYNAMODB_ENDPOINT is not set: run through jest (globalSetup)');
  const home = mkdtempSync(join(tmpdir(), 'slipway-home-'));
  const tableName = `t-${randomUUID()}`;
  const local = await startLocalMode({
    port: 0,
    stateDir: new StateDir(home),
    dynamoDbEndpoint: endpoint,
    tableName,
    log: () => undefined,
    // Release notices without a Slack URL go here instead of the test's stdout.
    console: new Writable({ write: (_chunk, _encoding, done) => done() }),
    ...options,
  });
  return Object.assign(local, { home, tableName, endpoint });
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the real `slipway` command (cli/bin/slipway.mjs) as a child process; `input` goes to its stdin. */
export function cli(args: string[], env: Record<string, string> = {}, input?: string): Promise<CliResult> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [join(ROOT, 'cli/bin/slipway.mjs'), ...args], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    child.stdin?.end(input);
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d) => {
      stdout += d;
    });
    child.stderr?.on('data', (d) => {
      stderr += d;
    });
    child.on('error', fail);
    child.on('close', (code) => done({ code, stdout, stderr }));
  });
}
