/**
 * Webhook ingest benchmark (issue 2 acceptance): how fast local mode accepts GitLab pushes,
 * as latency (p50/p99) and throughput at 1, 16 and 64 concurrent senders, each next to the
 * floor measured in the same run on the same DynamoDB Local: one conditional PutItem
 * (attribute_not_exists) round trip at the same concurrency.
 *
 *   npm run bench:ingest               full run (a couple of minutes)
 *   npm run bench:ingest -- --quick    short run, for a smoke test
 *
 * Everything stays on loopback: DynamoDB Local (Java), local mode's HTTP server and the senders
 * all run on this machine and share its cores. Results: docs/PERFORMANCE.md.
 */
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join, resolve } from 'node:path';

// Before anything creates a Powertools logger: the handlers log each delivery at INFO.
process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';

const { DynamoDBClient, GetItemCommand, PutItemCommand, TransactWriteItemsCommand } = await import(
  '@aws-sdk/client-dynamodb'
);
const { startDynamoDbLocal, LOCAL_CREDENTIALS } = await import('../functions/adapters/dynamodb/local-server');
const { TABLE_SCHEMA } = await import('../functions/adapters/dynamodb/schema');
const { startLocalMode, LOCAL_TABLE } = await import('../functions/local/local-mode');
const { StateDir } = await import('../functions/local/state-dir');

const QUICK = process.argv.includes('--quick');
/** Requests per measured scenario, by concurrency. */
const COUNTS: Record<number, number> = QUICK ? { 1: 60, 16: 300, 64: 300 } : { 1: 300, 16: 2000, 64: 2000 };
const CONCURRENCY = [1, 16, 64] as const;
/** Warm-up (JIT of DynamoDB Local and of Node) before anything is measured. */
const WARMUP = QUICK ? 300 : 3000;
/** The whole run must end by then, whatever happens. */
const TIME_LIMIT_MS = (QUICK ? 3 : 10) * 60_000;

const EVENTS_DIR = resolve(
  process.env.SLIPWAY_GITLAB_EVENTS ?? join(import.meta.dirname, '../../shared/gitlab-events'),
);
const PUSH = readFileSync(join(EVENTS_DIR, 'push.json'));

// ---- measuring ------------------------------------------------------------------------------

interface Result {
  scenario: string;
  concurrency: number;
  n: number;
  p50: number;
  p99: number;
  perSecond: number;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1] as number;
}

/** Runs `op` n times from `concurrency` senders; latency is per op, throughput over the wall time. */
async function measure(
  scenario: string,
  concurrency: number,
  n: number,
  op: (i: number) => Promise<void>,
): Promise<Result> {
  const latencies: number[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let i = next++; i < n; i = next++) {
        const t0 = performance.now();
        await op(i);
        latencies.push(performance.now() - t0);
      }
    }),
  );
  const wall = performance.now() - started;
  latencies.sort((a, b) => a - b);
  return {
    scenario,
    concurrency,
    n,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    perSecond: (n / wall) * 1000,
  };
}

// ---- HTTP over keep-alive -------------------------------------------------------------------

const agent = new Agent({ keepAlive: true, maxSockets: 64, maxFreeSockets: 64 });

function post(
  url: string,
  headers: Record<string, string>,
  body: Buffer | string,
): Promise<{ status: number; body: string }> {
  return new Promise((done, fail) => {
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
  });
}

// ---- the run --------------------------------------------------------------------------------

function machine(): string[] {
  const cpu = cpus();
  // `java -version` writes to stderr.
  const java = spawnSync('java', ['-version'], { encoding: 'utf8' });
  const javaVersion = `${java.stderr ?? ''}${java.stdout ?? ''}`.split('\n')[0]?.trim() || 'unknown';
  return [
    `cores: ${cpu.length} × ${cpu[0]?.model.trim() ?? 'unknown CPU'}`,
    `memory: ${(totalmem() / 2 ** 30).toFixed(1)} GiB`,
    `node: ${process.version} (${process.platform}/${process.arch})`,
    `java (DynamoDB Local): ${javaVersion}`,
  ];
}

function table(results: Result[], floors: Map<number, Result>): string {
  const rows = [
    ['scenario', 'concurrency', 'n', 'p50 ms', 'p99 ms', 'req/s', 'p50 vs floor', 'req/s vs floor'],
    ...results.map((r) => {
      const floor = floors.get(r.concurrency);
      const isFloor = r.scenario.startsWith('floor');
      return [
        r.scenario,
        String(r.concurrency),
        String(r.n),
        r.p50.toFixed(2),
        r.p99.toFixed(2),
        r.perSecond.toFixed(0),
        !floor ? '-' : isFloor ? '1.00×' : `${(r.p50 / floor.p50).toFixed(2)}×`,
        !floor ? '-' : isFloor ? '1.00×' : `${(r.perSecond / floor.perSecond).toFixed(2)}×`,
      ];
    }),
  ];
  const widths = rows[0]?.map((_, c) => Math.max(...rows.map((row) => (row[c] ?? '').length))) ?? [];
  return rows
    .map((row) =>
      row.map((cell, c) => (c === 0 ? cell.padEnd(widths[c] ?? 0) : cell.padStart(widths[c] ?? 0))).join('  '),
    )
    .join('\n');
}

async function main(): Promise<number> {
  const log = (line: string) => process.stdout.write(`${line}\n`);
  log(`bench:ingest${QUICK ? ' (quick)' : ''}`);
  for (const line of machine()) log(`  ${line}`);

  const home = mkdtempSync(join(tmpdir(), 'slipway-bench-'));
  // One DynamoDB Local for both local mode and the floor, so both measure the same server.
  const dynamo = await startDynamoDbLocal({});
  let local: Awaited<ReturnType<typeof startLocalMode>> | undefined;
  const raw = new DynamoDBClient({ endpoint: dynamo.endpoint, region: 'local', credentials: LOCAL_CREDENTIALS });
  try {
    local = await startLocalMode({
      port: 0,
      inMemory: true,
      dynamoDbEndpoint: dynamo.endpoint,
      stateDir: new StateDir(home),
      log: () => undefined,
    });
    const { url, adminToken } = local;

    // An app through the admin API, and its webhook secret, as `slipway apps create/webhook` do.
    const admin = { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' };
    const created = await post(
      `${url}/v1/apps`,
      admin,
      JSON.stringify({ name: 'diaspora', project: 'mike/diaspora', branch: 'master' }),
    );
    if (created.status !== 201) throw new Error(`creating the app answered ${created.status}: ${created.body}`);
    const issued = await post(`${url}/v1/apps/diaspora/webhook`, admin, '{}');
    if (issued.status !== 200) throw new Error(`issuing the webhook secret answered ${issued.status}: ${issued.body}`);
    const hook = JSON.parse(issued.body) as { url: string; secret: string };

    // What GitLab sends with a push (webhook_events.md / webhooks.md), with a fresh key each time.
    const headers = (key: string) => ({
      'content-type': 'application/json',
      'user-agent': 'GitLab/18.6.0',
      'idempotency-key': key,
      'x-gitlab-event': 'Push Hook',
      'x-gitlab-event-uuid': key,
      'x-gitlab-instance': 'https://gitlab.example.com',
      'x-gitlab-webhook-uuid': '2a3b1c5e-7f0d-4c1e-9b5a-3e6d8f9a0b1c',
      'x-gitlab-token': hook.secret,
    });
    const unexpected: string[] = [];
    const deliver = (key: string, expected: number) => async () => {
      const res = await post(hook.url, headers(key), PUSH);
      if (res.status !== expected && unexpected.length < 5) unexpected.push(`${res.status} ${res.body}`);
    };

    // The floor: one conditional PutItem per op, into the same table local mode uses.
    const put = async () => {
      const id = randomUUID();
      await raw.send(
        new PutItemCommand({
          TableName: LOCAL_TABLE,
          Item: {
            [TABLE_SCHEMA.partitionKey]: { S: `BENCH#${id}` },
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

    log(`  warming up (${WARMUP} PutItems and ${WARMUP} webhook deliveries at concurrency 16)…`);
    await measure('warm-up floor', 16, WARMUP, put);
    await measure('warm-up webhook', 16, WARMUP, (i) => deliver(`warm-${i}-${randomUUID()}`, 202)());
    unexpected.length = 0;

    const results: Result[] = [];
    const floors = new Map<number, Result>();
    for (const c of CONCURRENCY) {
      const n = COUNTS[c] as number;
      const floor = await measure('floor: conditional PutItem', c, n, put);
      floors.set(c, floor);
      results.push(floor);
      log(`  ${floor.scenario} c=${c}: p50 ${floor.p50.toFixed(2)} ms`);
      const accept = await measure('webhook: push accepted (202)', c, n, (i) =>
        deliver(`c${c}-${i}-${randomUUID()}`, 202)(),
      );
      results.push(accept);
      log(`  ${accept.scenario} c=${c}: p50 ${accept.p50.toFixed(2)} ms`);
    }
    // Where a delivery's time goes: its parts alone, one at a time (c=1), on the same server.
    const anatomy: Result[] = [];
    const nAnatomy = COUNTS[1] as number;
    const PK = TABLE_SCHEMA.partitionKey;
    const SK = TABLE_SCHEMA.sortKey;
    anatomy.push(
      await measure('HTTP + handler, no DynamoDB (malformed hook id, 404)', 1, nAnatomy, async () => {
        const res = await post(`${url}/hooks/gitlab/x`, headers(randomUUID()), PUSH);
        if (res.status !== 404 && unexpected.length < 5) unexpected.push(`${res.status} ${res.body}`);
      }),
      await measure('GetItem, consistent (hook pointer, app)', 1, nAnatomy, async () => {
        await raw.send(
          new GetItemCommand({
            TableName: LOCAL_TABLE,
            Key: { [PK]: { S: 'APPS' }, [SK]: { S: 'APP#diaspora' } },
            ConsistentRead: true,
          }),
        );
      }),
      await measure('TransactWriteItems, 2 conditional Puts (delivery + build)', 1, nAnatomy, async () => {
        const id = randomUUID();
        const item = (pk: string) => ({
          Put: {
            TableName: LOCAL_TABLE,
            Item: { [PK]: { S: pk }, [SK]: { S: 'TX' }, commit: { S: 'da1560886d4f094c3e6c9ef40349f7d38b5d27d7' } },
            ConditionExpression: 'attribute_not_exists(#pk)',
            ExpressionAttributeNames: { '#pk': PK },
          },
        });
        await raw.send(
          new TransactWriteItemsCommand({ TransactItems: [item(`BENCH#${id}#a`), item(`BENCH#${id}#b`)] }),
        );
      }),
      await measure('conditional PutItem (the floor)', 1, nAnatomy, put),
    );

    // The duplicate path: GitLab redelivering one delivery (same Idempotency-Key) over and over.
    const key = `dup-${randomUUID()}`;
    await deliver(key, 202)();
    const duplicates = await measure('webhook: duplicate key (200)', 16, COUNTS[16] as number, () =>
      deliver(key, 200)(),
    );
    results.push(duplicates);

    log('');
    log(table(results, floors));
    log('');
    log('Anatomy, one at a time (c=1):');
    log(table(anatomy, floors));
    log('');
    log('p50/p99: per request, from the first byte sent to the last byte of the answer read (keep-alive).');
    log('vs floor: the same concurrency level of "floor: conditional PutItem" measured in this run.');
    if (unexpected.length > 0) {
      process.stderr.write(`bench:ingest: unexpected answers, e.g.:\n  ${unexpected.join('\n  ')}\n`);
      return 1;
    }
    return 0;
  } finally {
    agent.destroy();
    raw.destroy();
    await local?.stop();
    await dynamo.stop();
    rmSync(home, { recursive: true, force: true });
  }
}

const deadline = setTimeout(() => {
  process.stderr.write(`bench:ingest: gave up after ${TIME_LIMIT_MS / 60_000} min\n`);
  // DynamoDB Local is killed by its exit hook (functions/adapters/dynamodb/local-server.ts).
  process.exit(2);
}, TIME_LIMIT_MS);
deadline.unref();

main().then(
  (code) => {
    clearTimeout(deadline);
    process.exitCode = code;
  },
  (error: unknown) => {
    clearTimeout(deadline);
    process.stderr.write(`bench:ingest: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 1;
  },
);
