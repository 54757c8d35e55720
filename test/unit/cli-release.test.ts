import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type CliResult, cli } from '../support/local';

/**
 * `slipway deploy` and `slipway releases`, run as the real command against a scripted admin
 * API: each build or release answers the next state of its sequence on every GET (the last one
 * repeats), so a wait sees the workflow advance. Every app has its own script, so the tests run
 * concurrently; each CLI start costs one to two seconds of CPU, so the cases are few and dense.
 */

type Json = Record<string, unknown>;

interface AppScript {
  /** Answer to POST deploy (202); default the first state of the first build. */
  deployed?: Json;
  builds?: Record<string, Json[]>;
  releases?: Record<string, Json[]>;
  /** Answer to GET releases?limit=N. */
  list?: Json[];
  /** Answer to POST releases/{id}/rollback (202), by the release rolled back to. */
  rollbacks?: Record<string, Json>;
}

interface Received {
  method: string;
  path: string;
  app: string;
  body: unknown;
  authorization: string | undefined;
}

const TOKEN = 'test-admin-token';
const scripts = new Map<string, AppScript>();
const received: Received[] = [];
const served = new Map<string, number>();

function next(key: string, sequence: Json[] | undefined): Json | undefined {
  if (!sequence?.length) return undefined;
  const i = served.get(key) ?? 0;
  served.set(key, i + 1);
  return sequence[Math.min(i, sequence.length - 1)];
}

async function answer(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString();
  const url = new URL(req.url ?? '/', 'http://x');
  const parts = url.pathname.split('/').slice(1).map(decodeURIComponent);
  const app = parts[2] ?? '';
  received.push({
    method: req.method ?? '',
    path: `${url.pathname}${url.search}`,
    app,
    body: text ? JSON.parse(text) : undefined,
    authorization: req.headers.authorization,
  });
  const send = (status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  if (req.headers.authorization !== `Bearer ${TOKEN}`) return send(401, { error: 'unauthorized' });
  const script = scripts.get(app);
  if (parts[0] !== 'v1' || parts[1] !== 'apps' || !script) return send(404, { error: `no app named ${app}` });
  const [, , , kind, id, action] = parts;
  const route = `${req.method} ${kind}${id === undefined ? '' : '/:id'}${action === undefined ? '' : `/${action}`}`;
  let body: unknown;
  let status = 200;
  switch (route) {
    case 'POST deploy':
      body = script.deployed ?? Object.values(script.builds ?? {})[0]?.[0];
      status = 202;
      break;
    case 'GET builds/:id':
      body = next(`${app}/builds/${id}`, script.builds?.[id ?? '']);
      break;
    case 'GET releases':
      body = script.list;
      break;
    case 'GET releases/:id':
      body = next(`${app}/releases/${id}`, script.releases?.[id ?? '']);
      break;
    case 'POST releases/:id/rollback':
      body = script.rollbacks?.[id ?? ''];
      status = 202;
      break;
  }
  if (body === undefined) return send(404, { error: `nothing scripted for ${route} ${id ?? ''}` });
  send(status, body);
}

// Started at load rather than in beforeAll: concurrent tests are started before hooks run.
const server: Server = createServer((req, res) => {
  answer(req, res).catch((error) => {
    res.writeHead(500);
    res.end(String(error));
  });
});
const apiUrl: Promise<string> = new Promise((resolve) => {
  server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`));
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

/** Generous: the CLI starts are CPU-bound and slow on a loaded machine. */
const SLOW = 90_000;

/** Runs the CLI against the scripted API (--api/--api-token), polling every 20 ms. */
async function slipway(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  const url = await apiUrl;
  const viaEnv = env.SLIPWAY_URL !== undefined;
  return cli([...args, ...(viaEnv ? [] : ['--api', url, '--api-token', TOKEN])], {
    SLIPWAY_POLL_MS: '20',
    SLIPWAY_URL: '',
    SLIPWAY_TOKEN: '',
    SLIPWAY_STACK: '',
    ...env,
  });
}

const lines = (text: string) => text.split('\n').filter((l) => l !== '');
const requestsOf = (app: string) => received.filter((r) => r.app === app);

const SHA = 'a1b2c3d4e5f60718293a4b5c6d7e8f9012345678';

function build(app: string, id: string, extra: Json = {}): Json {
  return {
    id,
    app,
    status: 'queued',
    commit: SHA,
    ref: 'refs/tags/v1.2.0',
    message: 'Ship it',
    author: 'Ada',
    trigger: 'manual',
    createdAt: '2025-01-02T03:04:05.000Z',
    ...extra,
  };
}

function release(app: string, id: string, extra: Json = {}): Json {
  return {
    id,
    app,
    status: 'pending',
    build: 'B0',
    commit: SHA,
    images: { app: 'registry/app@sha256:0123' },
    createdAt: '2025-01-02T03:10:00.000Z',
    ...extra,
  };
}

describe('slipway deploy', () => {
  it.concurrent(
    'follows the build and its release until live (--wait --json), with --ref',
    async () => {
      const app = 'web';
      const live = release(app, 'R1', {
        build: 'B1',
        status: 'live',
        running: 2,
        desired: 2,
        liveAt: '2025-01-02T03:12:00.000Z',
      });
      scripts.set(app, {
        builds: {
          B1: [
            build(app, 'B1'),
            build(app, 'B1', { status: 'running', phase: 'BUILD' }),
            build(app, 'B1', { status: 'running', phase: 'BUILD' }),
            build(app, 'B1', { status: 'running', phase: 'POST_BUILD' }),
            build(app, 'B1', { status: 'succeeded' }),
            build(app, 'B1', { status: 'succeeded', phase: 'COMPLETED' }),
            build(app, 'B1', { status: 'succeeded', outcome: 'live', release: 'R1' }),
          ],
        },
        releases: {
          R1: [
            release(app, 'R1', { build: 'B1' }),
            release(app, 'R1', { build: 'B1', status: 'deploying', running: 0, desired: 2 }),
            release(app, 'R1', { build: 'B1', status: 'deploying', running: 0, desired: 2 }),
            release(app, 'R1', { build: 'B1', status: 'deploying', running: 1, desired: 2 }),
            live,
          ],
        },
      });

      const out = await slipway(['deploy', app, '--ref', 'v1.2.0', '--wait', '--json']);

      expect(out.code).toBe(0);
      expect(JSON.parse(out.stdout)).toEqual(live);
      expect(lines(out.stderr)).toEqual([
        'slipway: build B1 queued',
        'slipway: build B1 running (BUILD)',
        'slipway: build B1 running (POST_BUILD)',
        'slipway: build B1 succeeded, waiting for its turn to roll out',
        'slipway: release R1 pending',
        'slipway: release R1 deploying: 0/2 tasks running',
        'slipway: release R1 deploying: 1/2 tasks running',
      ]);
      const calls = requestsOf(app);
      expect(calls[0]).toEqual({
        method: 'POST',
        path: `/v1/apps/${app}/deploy`,
        app,
        body: { ref: 'v1.2.0' },
        authorization: `Bearer ${TOKEN}`,
      });
      // Every state was seen: 7 build states, then 5 release states, and no more.
      expect(calls.slice(1).map((c) => `${c.method} ${c.path}`)).toEqual([
        ...Array(7).fill(`GET /v1/apps/${app}/builds/B1`),
        ...Array(5).fill(`GET /v1/apps/${app}/releases/R1`),
      ]);
    },
    SLOW,
  );

  it.concurrent(
    'without --wait prints the build and stops; no --ref sends no ref (SLIPWAY_URL/SLIPWAY_TOKEN)',
    async () => {
      const app = 'plain';
      const queued = build(app, 'B2', { ref: 'refs/heads/main' });
      scripts.set(app, { builds: { B2: [queued] } });

      const out = await slipway(['deploy', app, '--json'], { SLIPWAY_URL: await apiUrl, SLIPWAY_TOKEN: TOKEN });

      expect(out).toEqual({ code: 0, stdout: expect.any(String), stderr: '' });
      expect(JSON.parse(out.stdout)).toEqual(queued);
      expect(requestsOf(app)).toEqual([
        { method: 'POST', path: `/v1/apps/${app}/deploy`, app, body: {}, authorization: `Bearer ${TOKEN}` },
      ]);
    },
    SLOW,
  );

  it.concurrent(
    'exits 1 with the reason when the build fails',
    async () => {
      const app = 'broken';
      scripts.set(app, {
        builds: {
          B3: [
            build(app, 'B3', { status: 'running', phase: 'BUILD' }),
            build(app, 'B3', { status: 'failed', reason: 'docker build exited 1 (step 4/9)' }),
          ],
        },
      });

      const out = await slipway(['deploy', app, '--wait', '--json']);

      expect(out.code).toBe(1);
      expect(out.stdout).toBe('');
      expect(lines(out.stderr)).toEqual([
        'slipway: build B3 running (BUILD)',
        'slipway: build B3 failed: docker build exited 1 (step 4/9)',
      ]);
    },
    SLOW,
  );

  it.concurrent(
    'exits 1 with the reason when the release is rolled back',
    async () => {
      const app = 'flaky';
      const reason = 'health checks failed; rolled back to release R0';
      scripts.set(app, {
        builds: { B4: [build(app, 'B4', { status: 'succeeded', release: 'R4' })] },
        releases: {
          R4: [
            release(app, 'R4', { status: 'deploying', running: 1, desired: 2 }),
            release(app, 'R4', { status: 'rolled_back', reason }),
          ],
        },
      });

      const out = await slipway(['deploy', app, '--wait']);

      expect(out.code).toBe(1);
      expect(out.stdout).toBe('');
      expect(lines(out.stderr)).toEqual([
        'slipway: release R4 deploying: 1/2 tasks running',
        `slipway: release R4 rolled_back: ${reason}`,
      ]);
    },
    SLOW,
  );

  it.concurrent(
    'exits 1 saying a newer build overtook it when it was superseded before a release',
    async () => {
      const app = 'overtaken';
      scripts.set(app, {
        builds: {
          B5: [
            build(app, 'B5', { status: 'succeeded' }),
            build(app, 'B5', { status: 'succeeded', outcome: 'superseded', reason: 'superseded by build B6' }),
          ],
        },
      });

      const out = await slipway(['deploy', app, '--wait']);

      expect(out.code).toBe(1);
      expect(out.stdout).toBe('');
      const said = lines(out.stderr);
      expect(said).toHaveLength(2);
      expect(said[0]).toBe('slipway: build B5 succeeded, waiting for its turn to roll out');
      expect(said[1]).toMatch(/^slipway: build B5 superseded: a newer build overtook it/);
    },
    SLOW,
  );

  it.concurrent(
    'stops waiting after --timeout, exit 1, saying the build goes on',
    async () => {
      const app = 'slow';
      scripts.set(app, { builds: { B7: [build(app, 'B7', { status: 'running', phase: 'BUILD' })] } });

      const out = await slipway(['deploy', app, '--wait', '--timeout', '0.01']);

      expect(out.code).toBe(1);
      expect(out.stdout).toBe('');
      expect(lines(out.stderr)).toEqual([
        'slipway: build B7 running (BUILD)',
        'slipway: stopped waiting after 0.01 minutes (build B7 running (BUILD)); it goes on: see slipway builds slow',
      ]);
    },
    SLOW,
  );
});

describe('slipway releases', () => {
  it.concurrent(
    'passes the list through with --json',
    async () => {
      const app = 'shop';
      const list = [
        release(app, 'R9', { status: 'live', build: 'B9', liveAt: '2025-01-03T00:00:00.000Z', running: 2, desired: 2 }),
        release(app, 'R8', { status: 'replaced', build: 'B8', endedAt: '2025-01-03T00:00:00.000Z' }),
      ];
      scripts.set(app, { list });

      const out = await slipway(['releases', app, '--json']);

      expect(out.code).toBe(0);
      expect(JSON.parse(out.stdout)).toEqual(list);
      expect(requestsOf(app).map((r) => `${r.method} ${r.path}`)).toEqual([`GET /v1/apps/${app}/releases?limit=50`]);
    },
    SLOW,
  );

  it.concurrent(
    'lists an app named "rollback" given one argument, as a table with short commits',
    async () => {
      const app = 'rollback';
      scripts.set(app, {
        list: [
          release(app, 'R2', { status: 'deploying', build: 'B2', running: 1, desired: 2 }),
          release(app, 'R1', { status: 'live', build: 'B1', liveAt: '2025-01-03T00:00:00.000Z' }),
        ],
      });

      const out = await slipway(['releases', 'rollback', '--limit', '5']);

      expect(out.code).toBe(0);
      expect(lines(out.stdout).map((l) => l.split(/\s+/))).toEqual([
        ['ID', 'STATUS', 'BUILD', 'COMMIT', 'CREATEDAT', 'LIVEAT'],
        ['R2', 'deploying', 'B2', 'a1b2c3d4', '2025-01-02T03:10:00.000Z'],
        ['R1', 'live', 'B1', 'a1b2c3d4', '2025-01-02T03:10:00.000Z', '2025-01-03T00:00:00.000Z'],
      ]);
      expect(requestsOf(app).map((r) => `${r.method} ${r.path}`)).toEqual([`GET /v1/apps/${app}/releases?limit=5`]);
    },
    SLOW,
  );

  it.concurrent(
    'rolls back and prints the new release (--json)',
    async () => {
      const app = 'api';
      const pending = release(app, 'R3', { reason: 'rollback to release R1' });
      scripts.set(app, { rollbacks: { R1: pending } });

      const out = await slipway(['releases', 'rollback', app, 'R1', '--json']);

      expect(out).toEqual({ code: 0, stdout: expect.any(String), stderr: '' });
      expect(JSON.parse(out.stdout)).toEqual(pending);
      expect(requestsOf(app).map((r) => ({ method: r.method, path: r.path, body: r.body }))).toEqual([
        { method: 'POST', path: `/v1/apps/${app}/releases/R1/rollback`, body: {} },
      ]);
    },
    SLOW,
  );

  it.concurrent(
    'rolls back with --wait: follows the new release until live and prints it',
    async () => {
      const app = 'admin';
      const reason = 'rollback to release R1';
      const pending = release(app, 'R3', { reason });
      scripts.set(app, {
        rollbacks: { R1: pending },
        releases: {
          R3: [
            pending,
            release(app, 'R3', { reason, status: 'deploying', running: 0, desired: 1 }),
            release(app, 'R3', { reason, status: 'live', liveAt: '2025-01-02T04:00:00.000Z' }),
          ],
        },
      });

      const out = await slipway(['releases', 'rollback', app, 'R1', '--wait']);

      expect(out.code).toBe(0);
      expect(lines(out.stderr)).toEqual([
        'slipway: release R3 pending',
        'slipway: release R3 deploying: 0/1 tasks running',
      ]);
      expect(out.stdout).toMatch(/^id\s+R3$/m);
      expect(out.stdout).toMatch(/^status\s+live$/m);
      expect(out.stdout).toMatch(/^reason\s+rollback to release R1$/m);
      expect(requestsOf(app).map((r) => `${r.method} ${r.path}`)).toEqual([
        `POST /v1/apps/${app}/releases/R1/rollback`,
        ...Array(3).fill(`GET /v1/apps/${app}/releases/R3`),
      ]);
    },
    SLOW,
  );

  it.concurrent(
    'exits 2 for usage errors, before calling the API',
    async () => {
      const runs = await Promise.all([
        slipway(['releases', 'rollback', 'onlyone']),
        slipway(['deploy', 'u1', '--wait', '--timeout', '0']),
      ]);

      expect(runs.map((r) => r.code)).toEqual([2, 2]);
      expect(runs[0]?.stderr).toMatch(/usage: slipway releases NAME .*\| slipway releases rollback NAME RELEASE/);
      expect(runs[1]?.stderr).toMatch(/--timeout must be a positive number of minutes/);
      expect(runs.every((r) => r.stdout === '')).toBe(true);
      expect(received.filter((r) => ['onlyone', 'u1'].includes(r.app))).toEqual([]);
    },
    SLOW,
  );
});
