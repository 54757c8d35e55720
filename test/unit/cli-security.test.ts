import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from '../support/local';

/**
 * The `slipway` command, run as the real process against a scripted admin API (issue 13,
 * points 7 and 8): what it prints from payloads and build logs carries no control character to
 * the terminal (human output stripped, `--json` lossless and escaped), the local admin token
 * goes to loopback only, secrets can come from a file, and `slipway local` refuses a short
 * system hook token. Each CLI start costs a second or two of CPU, so the cases are few.
 */

type Json = Record<string, unknown>;

const TOKEN = 'test-admin-token';
const SHA = 'a1b2c3d4e5f60718293a4b5c6d7e8f9012345678';

/** What a push can put in a build: an OSC 8 link, a screen clear, BEL, C1 CSI, a window title. */
const MESSAGE = 'Fix \u001b]8;;https://evil\u0007click\u001b]8;;\u0007 \u001b[2J\u0007bell \u009b31mred';
const AUTHOR = 'Mallory\u001b]0;pwned\u0007';
const REF = 'refs/heads/main\u001b[1A\r';

const BUILD: Json = {
  id: '01JBUILD0000000000000000001',
  app: 'web',
  status: 'failed',
  commit: SHA,
  ref: REF,
  message: MESSAGE,
  author: AUTHOR,
  trigger: 'push',
  reason: 'build: step \u001b[31mRUN make\u001b[0m exited 2\u0007',
  createdAt: '2025-01-02T03:04:05.000Z',
};

const RELEASE: Json = {
  id: '01JRELEASE00000000000000001',
  app: 'web',
  status: 'failed\u001b[8m',
  build: BUILD.id,
  commit: SHA,
  images: { app: 'registry/web@sha256:0123' },
  createdAt: '2025-01-02T03:10:00.000Z',
  reason: 'rollout: \u009b2Jcircuit breaker',
};

const APP: Json = {
  name: 'web',
  project: 'group/web\u001b[2K',
  branch: 'main\u0007',
  mode: 'superseded',
  status: 'active',
  linked: false,
  hookUrl: 'http://127.0.0.1:8080/hooks/gitlab/abc',
  createdAt: '2025-01-01T00:00:00.000Z',
  updatedAt: '2025-01-01T00:00:00.000Z',
};

const LOG_LINES = [
  'step 1\tok',
  'progress\r50%\r100%',
  '\u001b[32mgreen\u001b[0m',
  'multi\nline',
  'osc \u001b]52;c;ZXZpbA==\u0007clipboard\u009d0;title\u009c',
];

const received: Array<{ method: string; path: string; authorization?: string; body?: unknown }> = [];

async function answer(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString();
  const url = new URL(req.url ?? '/', 'http://x');
  received.push({
    method: req.method ?? '',
    path: `${url.pathname}${url.search}`,
    ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}),
    ...(text ? { body: JSON.parse(text) } : {}),
  });
  const send = (status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  if (req.headers.authorization !== `Bearer ${TOKEN}`) return send(401, { error: 'unauthorized' });
  const route = `${req.method} ${url.pathname}`;
  switch (route) {
    case 'GET /v1/apps':
      return send(200, [APP]);
    case 'GET /v1/apps/web':
      return send(200, APP);
    case 'GET /v1/apps/web/builds':
      return send(200, [BUILD]);
    case `GET /v1/apps/web/builds/${BUILD.id}`:
      return send(200, BUILD);
    case `GET /v1/apps/web/builds/${BUILD.id}/logs`:
      return send(200, { lines: LOG_LINES, cursor: 'c1', done: true, status: 'failed' });
    case 'GET /v1/apps/web/releases':
      return send(200, [RELEASE]);
    case 'PUT /v1/gitlab':
      return send(200, {
        url: 'https://gitlab.example.com',
        username: 'root',
        scopes: ['api'],
        connectedAt: '2025-01-01T00:00:00.000Z',
        hostKeys: [],
      });
  }
  send(404, { error: 'no app named evil\u001b]0;pwned\u0007\nsecond line' });
}

// Started at load rather than in beforeAll: concurrent tests are started before hooks run.
const server: Server = createServer((req, res) => {
  answer(req, res).catch((error) => {
    res.writeHead(500);
    res.end(String(error));
  });
});
const listening: Promise<number> = new Promise((resolve) => {
  server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the real command; stdin is empty; killed (SIGTERM) after `timeoutMs`. */
function run(args: string[], env: Record<string, string> = {}, timeoutMs = 60_000): Promise<Run> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [join(ROOT, 'cli/bin/slipway.mjs'), ...args], {
      cwd: ROOT,
      env: { ...process.env, SLIPWAY_URL: '', SLIPWAY_TOKEN: '', SLIPWAY_STACK: '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    const timer = setTimeout(() => child.kill('SIGTERM'), timeoutMs);
    child.on('error', fail);
    child.on('close', (code) => {
      clearTimeout(timer);
      done({ code, stdout, stderr });
    });
  });
}

async function slipway(...args: string[]): Promise<Run> {
  return run([...args, '--api', `http://127.0.0.1:${await listening}`, '--api-token', TOKEN]);
}

/** No C0/C1 control character but the line breaks that end lines (and tabs, where allowed). */
function expectPrintable(text: string, options: { tabs?: boolean } = {}): void {
  const control = options.tabs
    ? // biome-ignore lint/suspicious/noControlCharactersInRegex: finding them is the point
      /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/
    : // biome-ignore lint/suspicious/noControlCharactersInRegex: finding them is the point
      /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/;
  expect(text).not.toMatch(control);
}

const SLOW = 90_000;

describe('what the CLI prints from payloads and build logs', () => {
  it(
    'strips control characters from builds, builds show, releases, apps list and apps show',
    async () => {
      const [builds, show, releases, list, app] = await Promise.all([
        slipway('builds', 'web'),
        slipway('builds', 'show', 'web', String(BUILD.id)),
        slipway('releases', 'web'),
        slipway('apps', 'list'),
        slipway('apps', 'show', 'web'),
      ]);

      for (const out of [builds, show, releases, list, app]) {
        expect(out).toMatchObject({ code: 0, stderr: '' });
        expectPrintable(out.stdout);
        expect(out.stdout).not.toContain('https://evil');
        expect(out.stdout).not.toContain('pwned');
      }
      // Sequences go whole, the text around them stays.
      expect(builds.stdout.split('\n')[1]?.split(/\s{2,}/)).toEqual([
        BUILD.id,
        'failed',
        'push',
        'refs/heads/main',
        'a1b2c3d4',
        'Mallory',
        '2025-01-02T03:04:05.000Z',
      ]);
      expect(show.stdout).toContain('message    Fix click bell red\n');
      expect(show.stdout).toContain('author     Mallory\n');
      expect(show.stdout).toContain('reason     build: step RUN make exited 2\n');
      expect(releases.stdout).toContain(`${RELEASE.id}  failed  ${BUILD.id}`);
      expect(list.stdout).toContain('web   group/web  main    superseded  active  false');
      expect(app.stdout).toContain('project    group/web\n');
    },
    SLOW,
  );

  it(
    'keeps line breaks and tabs of builds logs, and nothing else of the controls',
    async () => {
      const out = await slipway('builds', 'logs', 'web', String(BUILD.id));

      expect(out.code).toBe(0);
      expectPrintable(out.stdout, { tabs: true });
      expect(out.stdout).toBe('step 1\tok\nprogress50%100%\ngreen\nmulti\nline\nosc clipboard\n');
    },
    SLOW,
  );

  it(
    'prints --json losslessly, with DEL and C1 escaped like C0 (\\u009b), so it is safe on a terminal too',
    async () => {
      const [builds, logs, releases] = await Promise.all([
        slipway('builds', 'web', '--json'),
        slipway('builds', 'logs', 'web', String(BUILD.id), '--json'),
        slipway('releases', 'web', '--json'),
      ]);

      for (const out of [builds, logs, releases]) {
        expect(out.code).toBe(0);
        expectPrintable(out.stdout);
      }
      expect(JSON.parse(builds.stdout)).toEqual([BUILD]);
      expect(JSON.parse(releases.stdout)).toEqual([RELEASE]);
      expect(releases.stdout).toContain('\\u009b2Jcircuit breaker');
      expect(
        logs.stdout
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l)),
      ).toEqual(LOG_LINES.map((line) => ({ line })));
    },
    SLOW,
  );

  it(
    "prints a server's error as one printable line",
    async () => {
      const out = await slipway('apps', 'show', 'evil');

      expect(out).toEqual({ code: 1, stdout: '', stderr: 'slipway: no app named evil second line\n' });
    },
    SLOW,
  );
});

describe('tokens and secrets', () => {
  it(
    'sends the local admin token to loopback only: another host is a clear error, and nothing is sent',
    async () => {
      const home = mkdtempSync(join(tmpdir(), 'slipway-cli-'));
      writeFileSync(join(home, 'admin-token'), `${TOKEN}\n`, { mode: 0o600 });
      const port = await listening;
      received.length = 0;

      // 0.0.0.0 reaches this machine's listeners, yet it is not a loopback address.
      const elsewhere = await run(['apps', 'list'], { SLIPWAY_HOME: home, SLIPWAY_URL: `http://0.0.0.0:${port}` });
      const viaApi = await run(['apps', 'list', '--api', `https://slipway.example.com:${port}`], {
        SLIPWAY_HOME: home,
      });

      expect(elsewhere.code).toBe(1);
      expect(elsewhere.stderr).toMatch(
        /^slipway: the local admin token is sent only to loopback URLs \(127\.0\.0\.0\/8, ::1, localhost\), not to 0\.0\.0\.0:\d+[^\n]*\n$/,
      );
      expect(viaApi.code).toBe(1);
      expect(viaApi.stderr).toMatch(/^slipway: the local admin token is sent only to loopback URLs[^\n]*\n$/);
      expect(received).toEqual([]);

      const local = await run(['apps', 'list', '--json'], {
        SLIPWAY_HOME: home,
        SLIPWAY_URL: `http://localhost:${port}`,
      });
      expect(local.code).toBe(0);
      expect(received.map((r) => r.authorization)).toEqual([`Bearer ${TOKEN}`]);
    },
    SLOW,
  );

  it(
    'reads the GitLab token from --token-file and the admin token from --api-token-file (never argv)',
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'slipway-cli-'));
      writeFileSync(join(dir, 'gitlab-token'), 'glpat-from-a-file\n', { mode: 0o600 });
      writeFileSync(join(dir, 'admin-token'), `${TOKEN}\n`, { mode: 0o600 });
      writeFileSync(
        join(dir, 'known_hosts'),
        'gitlab.example.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n',
      );
      const port = await listening;
      received.length = 0;

      const [connected, neither] = await Promise.all([
        run([
          'gitlab',
          'connect',
          '--url',
          'https://gitlab.example.com',
          '--token-file',
          join(dir, 'gitlab-token'),
          '--known-hosts',
          join(dir, 'known_hosts'),
          '--api',
          `http://127.0.0.1:${port}`,
          '--api-token-file',
          join(dir, 'admin-token'),
        ]),
        run(['gitlab', 'connect', '--url', 'https://gitlab.example.com', '--api', `http://127.0.0.1:${port}`]),
      ]);

      expect(connected).toMatchObject({ code: 0, stderr: '' });
      expect(received).toEqual([
        expect.objectContaining({
          method: 'PUT',
          path: '/v1/gitlab',
          authorization: `Bearer ${TOKEN}`,
          body: expect.objectContaining({ token: 'glpat-from-a-file' }),
        }),
      ]);
      expect(neither.code).toBe(2);
      expect(neither.stderr).toMatch(/--token - \(stdin\), --token-file FILE or --token TOKEN/);
    },
    SLOW,
  );

  it(
    'refuses a system hook token shorter than 32 characters in slipway local: one line, exit 1',
    async () => {
      const home = mkdtempSync(join(tmpdir(), 'slipway-cli-'));
      const out = await run(
        ['local'],
        { SLIPWAY_HOME: home, SLIPWAY_PORT: '0', SLIPWAY_SYSTEM_HOOK_TOKEN: 'x'.repeat(31) },
        30_000,
      );

      expect(out).toEqual({
        code: 1,
        stdout: '',
        stderr:
          'slipway: SLIPWAY_SYSTEM_HOOK_TOKEN is 31 characters long; it must have at least 32 (e.g. openssl rand -hex 32)\n',
      });
    },
    SLOW,
  );
});
