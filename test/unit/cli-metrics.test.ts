import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type CliResult, cli } from '../support/local';

/**
 * `slipway metrics`, run as the real command against a scripted admin API that knows one app.
 * Each CLI start costs a second or two of CPU, so the cases are few.
 */

const TOKEN = 'test-admin-token';

const METRICS = {
  app: 'web',
  days: 7,
  from: '2026-04-23T12:00:00.000Z',
  to: '2026-04-30T12:00:00.000Z',
  deployments: 4,
  deploymentsPerDay: 0.5714,
  leadTimeSeconds: { median: 5400, p90: 1_332_600 },
  changeFailureRate: 0.4,
  timeToRestoreSeconds: { median: 43_350 },
  daily: [
    { date: '2026-04-23', deployments: 0, failures: 0 },
    { date: '2026-04-24', deployments: 1, failures: 1 },
    { date: '2026-04-25', deployments: 1, failures: 0 },
    { date: '2026-04-26', deployments: 2, failures: 0 },
    { date: '2026-04-27', deployments: 0, failures: 1 },
    { date: '2026-04-28', deployments: 0, failures: 0 },
    { date: '2026-04-29', deployments: 0, failures: 0 },
    { date: '2026-04-30', deployments: 0, failures: 0 },
  ],
};

const received: string[] = [];

const server: Server = createServer((req, res) => {
  received.push(`${req.method} ${req.url}`);
  const url = new URL(req.url ?? '/', 'http://x');
  const send = (status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  if (req.headers.authorization !== `Bearer ${TOKEN}`) return send(401, { error: 'unauthorized' });
  if (url.pathname === '/v1/apps/web/metrics') {
    return send(200, { ...METRICS, days: Number(url.searchParams.get('days')) });
  }
  send(404, { error: 'no app named nope' });
});
const apiUrl: Promise<string> = new Promise((resolve) => {
  server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`));
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

beforeEach(() => {
  received.length = 0;
});

const SLOW = 90_000;

async function slipway(args: string[]): Promise<CliResult> {
  return cli([...args, '--api', await apiUrl, '--api-token', TOKEN], {
    SLIPWAY_URL: '',
    SLIPWAY_TOKEN: '',
    SLIPWAY_STACK: '',
  });
}

describe('slipway metrics', () => {
  it(
    'passes the contract object through with --json, asking for --days',
    async () => {
      const out = await slipway(['metrics', 'web', '--days', '7', '--json']);

      expect(out).toEqual({ code: 0, stdout: expect.any(String), stderr: '' });
      expect(JSON.parse(out.stdout)).toEqual(METRICS);
      expect(received).toEqual(['GET /v1/apps/web/metrics?days=7']);
    },
    SLOW,
  );

  it(
    'prints a small table for people, over 30 days by default',
    async () => {
      const out = await slipway(['metrics', 'web']);

      expect(out.code).toBe(0);
      expect(out.stdout.split('\n')).toEqual([
        'app                  web',
        'window               30 days (2026-04-23T12:00:00.000Z to 2026-04-30T12:00:00.000Z)',
        'deployments          4 (0.5714 per day)',
        'lead time            median 1h 30m, p90 15d 10h',
        'change failure rate  40%',
        'time to restore      median 12h 2m',
        'deployments/day      ·▄▄█····  2026-04-23 .. 2026-04-30',
        'failures/day         ·█··█···',
        '',
      ]);
      expect(received).toEqual(['GET /v1/apps/web/metrics?days=30']);
    },
    SLOW,
  );

  it(
    'refuses a bad --days as a usage error before any request, and an unknown app with one line',
    async () => {
      const zero = await slipway(['metrics', 'web', '--days', '0']);
      const words = await slipway(['metrics', 'web', '--days', 'week']);
      const unknown = await slipway(['metrics', 'nope']);

      expect(zero.code).toBe(2);
      expect(zero.stderr).toContain('--days must be a whole number from 1 to 365');
      expect(words.code).toBe(2);
      expect(unknown).toEqual({ code: 1, stdout: '', stderr: 'slipway: no app named nope\n' });
      expect(received).toEqual(['GET /v1/apps/nope/metrics?days=30']);
    },
    SLOW,
  );
});
