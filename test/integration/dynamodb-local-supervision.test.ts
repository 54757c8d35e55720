import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { LocalVault } from '../../functions/adapters/vault/local-vault';
import { issueWebhookSecret, newApp } from '../../functions/domain/apps';
import { type LocalMode, startLocalMode } from '../../functions/local/local-mode';
import { StateDir } from '../../functions/local/state-dir';
import { gitlabExample } from '../support/gitlab-events';
import { ROOT } from '../support/local';

/**
 * Issue 13 point 9a: local mode supervises the DynamoDB Local it started. Killed outright
 * (SIGKILL), it is started again on the same port with the same data, and requests succeed
 * again within a bounded time with nothing acknowledged lost; if it keeps dying, local mode
 * says so in one line and exits non-zero, so a supervisor can start it again.
 */

jest.setTimeout(180_000);
// Requests fail (500) while DynamoDB Local is down: their error lines are expected here.
process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';

/** The DynamoDB Local java processes serving `dbPath` (found by their command line). */
function dynamoDbPids(dbPath: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (cmdline.some((arg) => arg.endsWith('LoopbackDynamoDbLocal.java')) && cmdline.includes(dbPath)) {
        pids.push(Number(entry));
      }
    } catch {
      // gone already
    }
  }
  return pids;
}

function killDynamoDb(dbPath: string): number {
  const [pid, ...others] = dynamoDbPids(dbPath);
  if (pid === undefined || others.length > 0) throw new Error(`expected one DynamoDB Local for ${dbPath}`);
  process.kill(pid, 'SIGKILL');
  return pid;
}

async function until<T>(what: string, ms: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${what} not within ${ms} ms${last ? `: ${String(last)}` : ''}`);
}

const silent = new Writable({ write: (_chunk, _encoding, done) => done() });

const homes: string[] = [];
function tempHome(): string {
  const home = mkdtempSync(join(tmpdir(), 'slipway-supervise-'));
  homes.push(home);
  return home;
}
afterAll(() => {
  for (const home of homes) rmSync(home, { recursive: true, force: true });
});

describe('local mode when DynamoDB Local dies', () => {
  let local: LocalMode | undefined;
  afterEach(async () => {
    await local?.stop();
    local = undefined;
  });

  it('restarts it on the same port with its data: requests succeed again and nothing acknowledged is lost', async () => {
    const home = tempHome();
    const state = new StateDir(home);
    const lines: string[] = [];
    const fatal: string[] = [];
    local = await startLocalMode({
      port: 0,
      stateDir: state,
      log: (line) => lines.push(line),
      console: silent,
      dynamoDbRestarts: { max: 4, backoffMs: 200 },
      onFatal: (line) => fatal.push(line),
    });
    const running = local;
    const apps = () => fetch(`${running.url}/v1/apps`, { headers: { authorization: `Bearer ${running.adminToken}` } });
    // Acknowledged before the crash: written, and answered.
    await running.store.createApp(newApp({ name: 'kept-before', project: 'acme/kept' }));
    expect((await apps()).status).toBe(200);

    for (const round of [1, 2]) {
      const killed = killDynamoDb(state.dynamoDbDir);
      const started = Date.now();
      const answer = await until(`GET /v1/apps answering 200 after kill ${round}`, 60_000, async () => {
        const res = await apps();
        return res.status === 200 ? ((await res.json()) as Array<{ name: string }>) : undefined;
      });
      expect(Date.now() - started).toBeLessThan(60_000);
      expect(answer.map((a) => a.name)).toEqual(expect.arrayContaining(['kept-before']));
      expect(dynamoDbPids(state.dynamoDbDir)).not.toContain(killed);
      await running.store.createApp(newApp({ name: `kept-after-${round}`, project: 'acme/kept' }));
    }

    expect((await running.store.listApps()).map((a) => a.name)).toEqual([
      'kept-after-1',
      'kept-after-2',
      'kept-before',
    ]);
    // A stream of pushes with the kill in its midst: every one answered 202 has its build afterwards.
    const vault = LocalVault.open(state.vaultKeyFile);
    const app = newApp({ name: 'pushed', project: 'acme/pushed', branch: 'main' });
    await running.store.createApp(app);
    const issued = await issueWebhookSecret(app, vault, false);
    await running.store.updateApp(app.name, app.version, issued.patch);
    const example = gitlabExample('push.json').body as Record<string, unknown> & { project: object };
    const pushOne = async (i: number): Promise<string | undefined> => {
      const after = randomBytes(20).toString('hex');
      const body = {
        ...example,
        ref: 'refs/heads/main',
        after,
        checkout_sha: after,
        project: { ...example.project, id: undefined, path_with_namespace: 'acme/pushed' },
        project_id: undefined,
      };
      try {
        const res = await fetch(`${running.url}/hooks/gitlab/${app.hookId}`, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'x-gitlab-event': 'Push Hook',
            'x-gitlab-token': issued.secret,
            'idempotency-key': `stream-${i}`,
          },
          body: JSON.stringify(body),
        });
        return res.status === 202 ? ((await res.json()) as { build: string }).build : undefined;
      } catch {
        return undefined;
      }
    };
    let answered = 0;
    const stream = Array.from({ length: 40 }, (_, i) =>
      new Promise((resolve) => setTimeout(resolve, i * 25))
        .then(() => pushOne(i))
        .then((id) => {
          if (id !== undefined) answered += 1;
          return id;
        }),
    );
    // Killed once a few are acknowledged, with more in flight and still to come (however loaded the machine).
    await until('the first pushes acknowledged', 30_000, async () => (answered >= 3 ? true : undefined));
    killDynamoDb(state.dynamoDbDir);
    const accepted = (await Promise.all(stream)).filter((id): id is string => id !== undefined);
    await until('requests answered after the third kill', 60_000, async () =>
      (await apps()).status === 200 ? true : undefined,
    );
    expect(accepted.length).toBeGreaterThan(0);
    const recorded = new Set((await running.store.listBuilds(app.name)).map((b) => b.id));
    expect(accepted.filter((id) => !recorded.has(id))).toEqual([]);

    const restarts = lines.filter((line) => /DynamoDB Local/.test(line));
    expect(restarts).toHaveLength(3);
    for (const line of restarts) {
      expect(line).toMatch(/^slipway: DynamoDB Local exited \(SIGKILL\); restarting it \(\d of 4\)/);
      expect(line).not.toContain('\n');
    }
    expect(fatal).toEqual([]);
  });

  it('gives up after the bound, with one clear line (the caller decides how to exit)', async () => {
    const home = tempHome();
    const state = new StateDir(home);
    const lines: string[] = [];
    let fatal: string | undefined;
    local = await startLocalMode({
      port: 0,
      stateDir: state,
      log: (line) => lines.push(line),
      console: silent,
      dynamoDbRestarts: { max: 1, backoffMs: 100 },
      onFatal: (line) => {
        fatal = line;
      },
    });
    killDynamoDb(state.dynamoDbDir);
    await until('the restart', 60_000, async () => (dynamoDbPids(state.dynamoDbDir).length === 1 ? true : undefined));
    await until('requests answered again', 60_000, async () => ((await local?.store.listApps()) ? true : undefined));
    killDynamoDb(state.dynamoDbDir);
    const line = await until('giving up', 30_000, async () => fatal);

    expect(line).toMatch(/^slipway: DynamoDB Local keeps dying \(2 exits/);
    expect(line).toMatch(/exiting so a supervisor can restart local mode$/);
    expect(line).not.toContain('\n');
  });
});

describe('slipway local as a process when DynamoDB Local keeps dying', () => {
  it('exits 1 with one clear line on stderr', async () => {
    const home = tempHome();
    const script = join(home, 'run.mts');
    writeFileSync(
      script,
      `import { startLocalMode } from ${JSON.stringify(join(ROOT, 'functions/local/local-mode'))};
       import { StateDir } from ${JSON.stringify(join(ROOT, 'functions/local/state-dir'))};
       startLocalMode({ port: 0, stateDir: new StateDir(${JSON.stringify(home)}), dynamoDbRestarts: { max: 0 } })
         .then(() => process.stderr.write('ready\\n'));`,
    );
    const child = spawn(process.execPath, [join(ROOT, 'node_modules/tsx/dist/cli.mjs'), script], {
      cwd: ROOT,
      env: { ...process.env, POWERTOOLS_LOG_LEVEL: 'SILENT' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr?.on('data', (d) => {
      stderr += d;
    });
    let exitCode: number | null | undefined;
    const exited = new Promise<number | null>((resolve) =>
      child.on('exit', (code) => {
        exitCode = code;
        resolve(code);
      }),
    );
    const ready = await until('local mode ready (or gone)', 90_000, async () =>
      exitCode !== undefined ? 'exited' : stderr.includes('ready') ? 'ready' : undefined,
    );
    expect({ ready, stderr: ready === 'ready' ? '' : stderr }).toEqual({ ready: 'ready', stderr: '' });

    killDynamoDb(join(home, 'dynamodb'));

    expect(await exited).toBe(1);
    const lines = stderr.split('\n').filter((l) => l.includes('DynamoDB Local'));
    expect(lines).toEqual([expect.stringMatching(/^slipway: DynamoDB Local keeps dying .* exiting so a supervisor/)]);
  });
});
