/**
 * What the benchmarks share (bench/ingest.ts, bench/release.ts, bench/fetch.ts): the `--quick`
 * switch, percentiles, number and table formatting, the machine they ran on, the time limit
 * around a run, keep-alive HTTP posts, GitLab's push as sent to the webhook, and DynamoDB Local
 * with the floor they measure against (one conditional PutItem round trip).
 *
 * Nothing here creates a Powertools logger or loads the AWS SDK at import time: the benches
 * silence the handlers' logs before they import the functions, and bench:fetch needs neither.
 */
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';

/** `npm run bench:… -- --quick`: a short run, for a smoke test. */
export const QUICK = process.argv.includes('--quick');

/** One line to stdout (the results; problems go to stderr). */
export function log(line = ''): void {
  process.stdout.write(`${line}\n`);
}

// ---- measuring ------------------------------------------------------------------------------

export interface Stats {
  n: number;
  p50: number;
  p99: number;
  mean: number;
}

/** The nearest-rank percentile of ascending `sorted` (NaN when empty). */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1] as number;
}

export function median(values: number[]): number {
  return percentile(
    [...values].sort((a, b) => a - b),
    50,
  );
}

export function stats(values: number[]): Stats {
  const sorted = [...values].sort((a, b) => a - b);
  const mean = sorted.reduce((s, v) => s + v, 0) / Math.max(1, sorted.length);
  return { n: sorted.length, p50: percentile(sorted, 50), p99: percentile(sorted, 99), mean };
}

/**
 * Runs `op` n times from `concurrency` senders (one after the other by default): each op's
 * time in ms, in the order they ended, and the wall time of them all.
 */
export async function timeOps(
  n: number,
  op: (i: number) => Promise<unknown>,
  concurrency = 1,
): Promise<{ ms: number[]; wallMs: number }> {
  const ms: number[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let i = next++; i < n; i = next++) {
        const t0 = performance.now();
        await op(i);
        ms.push(performance.now() - t0);
      }
    }),
  );
  return { ms, wallMs: performance.now() - started };
}

// ---- formatting -----------------------------------------------------------------------------

/** `1,234.57`; `-` for NaN or infinity. */
export function fmt(value: number, digits = 2): string {
  if (!Number.isFinite(value)) return '-';
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** A Stats' n, p50, p99 and mean (ms), as table cells. */
export function statsCells(s: Stats): string[] {
  return [String(s.n), fmt(s.p50), fmt(s.p99), fmt(s.mean)];
}

/** `value / base` as a factor: `1.23×` (`-` when either is missing). */
export function ratio(value: number, base: number, digits = 2): string {
  const r = value / base;
  return Number.isFinite(r) ? `${fmt(r, digits)}×` : '-';
}

/** Rows as aligned columns: the first left-aligned, the others right-aligned; the first row is the header. */
export function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, c) => Math.max(...rows.map((row) => (row[c] ?? '').length))) ?? [];
  return rows
    .map((row) =>
      row.map((cell, c) => (c === 0 ? cell.padEnd(widths[c] ?? 0) : cell.padStart(widths[c] ?? 0))).join('  '),
    )
    .join('\n');
}

// ---- the run --------------------------------------------------------------------------------

/** The first line a command prints, stdout then stderr (`java -version` and `ssh -V` write to stderr). */
export function versionOf(cmd: string, args: string[]): string {
  const run = spawnSync(cmd, args, { encoding: 'utf8' });
  return `${run.stdout ?? ''}${run.stderr ?? ''}`.trim().split('\n')[0]?.trim() || `${cmd}: unknown`;
}

/** The machine, as each bench prints it first: cores, memory, load, Node, then `extra` (tool versions). */
export function machine(extra: string[] = []): string[] {
  const cpu = cpus();
  return [
    `cores: ${cpu.length} × ${cpu[0]?.model.trim() ?? 'unknown CPU'}`,
    `memory: ${(totalmem() / 2 ** 30).toFixed(1)} GiB`,
    `load average: ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
    `node: ${process.version} (${process.platform}/${process.arch})`,
    ...extra,
  ];
}

/** `bench:name (quick)` and the machine, indented. */
export function header(name: string, extra: string[] = []): void {
  log(`${name}${QUICK ? ' (quick)' : ''}`);
  for (const line of machine(extra)) log(`  ${line}`);
}

/** `java (DynamoDB Local): …`, for the benches on DynamoDB Local. */
export function javaVersion(): string {
  return `java (DynamoDB Local): ${versionOf('java', ['-version'])}`;
}

/**
 * Runs a bench's `main` (its exit code), printing what it throws, within `timeLimitMs`: by then
 * the process exits with 2, whatever happens. `cleanUp` runs after `main`, and before that exit
 * (given 10 s at most). DynamoDB Local, where a bench started it, is killed by its exit hook
 * (functions/adapters/dynamodb/local-server.ts).
 */
export function runBench(
  name: string,
  timeLimitMs: number,
  main: () => Promise<number>,
  cleanUp?: () => Promise<void>,
): void {
  const deadline = setTimeout(() => {
    process.stderr.write(`${name}: gave up after ${timeLimitMs / 60_000} min\n`);
    if (!cleanUp) process.exit(2);
    const forced = setTimeout(() => process.exit(2), 10_000);
    cleanUp().finally(() => {
      clearTimeout(forced);
      process.exit(2);
    });
  }, timeLimitMs);
  deadline.unref();
  main()
    .then(
      (code) => {
        process.exitCode = code;
      },
      (error: unknown) => {
        process.stderr.write(`${name}: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
        process.exitCode = 1;
      },
    )
    .finally(async () => {
      try {
        await cleanUp?.();
      } catch (error) {
        process.stderr.write(`${name}: cleaning up: ${String(error)}\n`);
        process.exitCode = 1;
      }
      clearTimeout(deadline);
    });
}

// ---- HTTP over keep-alive -------------------------------------------------------------------

export interface KeepAliveClient {
  post(url: string, headers: Record<string, string>, body: Buffer | string): Promise<{ status: number; body: string }>;
  /** Closes the pooled connections. */
  destroy(): void;
}

/** POSTs over up to 64 kept-alive connections: what a bench times is the request, not the TCP handshake. */
export function keepAliveClient(): KeepAliveClient {
  const agent = new Agent({ keepAlive: true, maxSockets: 64, maxFreeSockets: 64 });
  return {
    post: (url, headers, body) =>
      new Promise((done, fail) => {
        const req = request(
          url,
          { method: 'POST', agent, headers: { ...headers, 'content-length': Buffer.byteLength(body) } },
          (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () => done({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
            res.on('error', fail);
          },
        );
        req.on('error', fail);
        req.end(body);
      }),
    destroy: () => agent.destroy(),
  };
}

// ---- GitLab's webhook -----------------------------------------------------------------------

/** GitLab's example event `name` (e.g. `push.json`), from $SLIPWAY_GITLAB_EVENTS or ../shared/gitlab-events. */
export function gitlabEvent(name: string): Buffer {
  const dir = resolve(process.env.SLIPWAY_GITLAB_EVENTS ?? join(import.meta.dirname, '../../shared/gitlab-events'));
  return readFileSync(join(dir, name));
}

/** What GitLab sends with a push (webhook_events.md / webhooks.md); `key` fresh per delivery. */
export function pushHeaders(secret: string, key: string): Record<string, string> {
  return {
    'content-type': 'application/json',
    'user-agent': 'GitLab/18.6.0',
    'idempotency-key': key,
    'x-gitlab-event': 'Push Hook',
    'x-gitlab-event-uuid': key,
    'x-gitlab-instance': 'https://gitlab.example.com',
    'x-gitlab-webhook-uuid': '2a3b1c5e-7f0d-4c1e-9b5a-3e6d8f9a0b1c',
    'x-gitlab-token': secret,
  };
}

// ---- DynamoDB Local and the floor -----------------------------------------------------------

export interface BenchDynamoDb {
  endpoint: string;
  /** A plain client on it (no DocumentClient, no store). */
  client: DynamoDBClient;
  /** The floor: one conditional PutItem (attribute_not_exists) of a fresh item into `table`. */
  put(): Promise<void>;
  /** A fresh temporary directory (local mode's state dir). */
  home: string;
}

/**
 * Runs `run` with one DynamoDB Local for both local mode and the floor (so both measure the
 * same server), then stops it and removes `home`.
 */
export async function withDynamoDbLocal<T>(table: string, run: (db: BenchDynamoDb) => Promise<T>): Promise<T> {
  const { DynamoDBClient, PutItemCommand } = await import('@aws-sdk/client-dynamodb');
  const { startDynamoDbLocal, LOCAL_CREDENTIALS } = await import('../functions/adapters/dynamodb/local-server');
  const { TABLE_SCHEMA } = await import('../functions/adapters/dynamodb/schema');
  const home = mkdtempSync(join(tmpdir(), 'slipway-bench-'));
  try {
    const dynamo = await startDynamoDbLocal({});
    const client = new DynamoDBClient({ endpoint: dynamo.endpoint, region: 'local', credentials: LOCAL_CREDENTIALS });
    const put = async () => {
      await client.send(
        new PutItemCommand({
          TableName: table,
          Item: {
            [TABLE_SCHEMA.partitionKey]: { S: `BENCH#${randomUUID()}` },
            [TABLE_SCHEMA.sortKey]: { S: 'FLOOR' },
            commit: { S: 'da1560886d4f094c3e6c9ef40349f7d38b5d27d7' },
            ref: { S: 'refs/heads/master' },
            message: { S: 'fixed readme' },
          },
          ConditionExpression: 'attribute_not_exists(#pk)',
          ExpressionAttributeNames: { '#pk': TABLE_SCHEMA.partitionKey },
        }),
      );
    };
    try {
      return await run({ endpoint: dynamo.endpoint, client, put, home });
    } finally {
      client.destroy();
      await dynamo.stop();
    }
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
}
