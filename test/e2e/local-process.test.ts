import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isLoopback, listeningSocketsOfTree } from '../support/listening-sockets';
import { cli, ROOT } from '../support/local';

/** `slipway local` as a real process: what `npm start` runs. */
describe('slipway local (npm start)', () => {
  const home = mkdtempSync(join(tmpdir(), 'slipway-process-'));
  const env = { SLIPWAY_HOME: home, SLIPWAY_PORT: '0', POWERTOOLS_LOG_LEVEL: 'WARN' };

  function start(): Promise<{ child: ChildProcess; url: string; stderr: () => string }> {
    const child = spawn(process.execPath, [join(ROOT, 'cli/bin/slipway.mjs'), 'local'], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr?.on('data', (d) => {
      stderr += d;
    });
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`local mode did not start: ${stderr}`)), 60_000);
      child.on('exit', (code) => reject(new Error(`local mode exited ${code}: ${stderr}`)));
      const poll = setInterval(() => {
        const match = /local mode on (http:\/\/127\.0\.0\.1:\d+)/.exec(stderr);
        if (match?.[1]) {
          clearInterval(poll);
          clearTimeout(timer);
          child.removeAllListeners('exit');
          resolve({ child, url: match[1], stderr: () => stderr });
        }
      }, 50);
    });
  }

  function stop(child: ChildProcess, signal: NodeJS.Signals): Promise<number | null> {
    return new Promise((resolve) => {
      child.on('exit', (code) => resolve(code));
      child.kill(signal);
    });
  }

  it('starts, writes the admin token 0600, keeps state across a SIGTERM restart, and stops cleanly on SIGINT', async () => {
    const first = await start();
    expect(statSync(join(home, 'admin-token')).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(join(home, 'server.json'), 'utf8')).url).toBe(first.url);
    expect((await cli(['apps', 'create', 'kept', '--project', 'acme/kept'], { SLIPWAY_HOME: home })).code).toBe(0);

    expect(await stop(first.child, 'SIGTERM')).toBe(0);
    expect(first.stderr()).toMatch(/SIGTERM, shutting down/);
    expect(existsSync(join(home, 'server.json'))).toBe(false);

    const second = await start();
    const shown = await cli(['apps', 'show', 'kept', '--json'], { SLIPWAY_HOME: home });
    expect(JSON.parse(shown.stdout)).toMatchObject({ name: 'kept', project: 'acme/kept' });
    expect(await stop(second.child, 'SIGINT')).toBe(0);
  }, 120_000);

  it('listens on loopback only: the HTTP server and DynamoDB Local, every process it starts', async () => {
    const running = await start();
    try {
      const pid = running.child.pid ?? 0;
      const sockets = listeningSocketsOfTree(pid);
      const port = Number(new URL(running.url).port);

      // At least the HTTP server (this process) and DynamoDB Local (a java child).
      expect(sockets.some((s) => s.port === port && s.pid === pid)).toBe(true);
      expect(sockets.some((s) => s.pid !== pid)).toBe(true);
      expect(sockets.filter((s) => !isLoopback(s.address))).toEqual([]);
    } finally {
      await stop(running.child, 'SIGTERM');
    }
  }, 120_000);

  it('says in one line, exit 1, when Java is missing', async () => {
    const out = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, [join(ROOT, 'cli/bin/slipway.mjs'), 'local'], {
        cwd: ROOT,
        env: { ...process.env, ...env, PATH: '/nonexistent' },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      child.stderr.on('data', (d) => {
        stderr += d;
      });
      child.on('exit', (code) => resolve({ code, stderr }));
    });

    expect(out.code).toBe(1);
    expect(out.stderr).toMatch(/^slipway: .*Java/);
    expect(out.stderr.trim().split('\n')).toHaveLength(1);
  }, 30_000);
});
