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

import { createHash, randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import {
  fmt,
  gitlabEvent,
  header,
  javaVersion,
  keepAliveClient,
  log,
  pushHeaders,
  QUICK,
  ratio,
  runBench,
  stats,
  table,
  timeOps,
  withDynamoDbLocal,
} from './support';

// Before anything creates a Powertools logger: the handlers log each delivery at INFO.
process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';

const { GetItemCommand, TransactWriteItemsCommand } = await import('@aws-sdk/client-dynamodb');
const { TABLE_SCHEMA } = await import('../functions/adapters/dynamodb/schema');
const { startLocalMode, LOCAL_TABLE } = await import('../functions/local/local-mode');
const { StateDir } = await import('../functions/local/state-dir');

/** Requests per measured scenario, by concurrency. */
const COUNTS: Record<number, number> = QUICK ? { 1: 60, 16: 300, 64: 300 } : { 1: 300, 16: 2000, 64: 2000 };
const CONCURRENCY = [1, 16, 64] as const;
/** Warm-up (JIT of DynamoDB Local and of Node) before anything is measured. */
const WARMUP = QUICK ? 300 : 3000;
/** The whole run must end by then, whatever happens. */
const TIME_LIMIT_MS = (QUICK ? 3 : 10) * 60_000;

const PUSH = gitlabEvent('push.json');
const EXAMPLE_AFTER = 'da1560886d4f094c3e6c9ef40349f7d38b5d27d7';
/** GitLab's example push with its own head commit per delivery key (the commit id stays in `commits`). */
if (!PUSH.toString('utf8').includes(`"after": "${EXAMPLE_AFTER}"`))
  throw new Error('push.json changed: pushFor no longer applies');
function pushFor(key: string): Buffer {
  const sha = createHash('sha1').update(key).digest('hex');
  return Buffer.from(
    PUSH.toString('utf8')
      .replace(`"after": "${EXAMPLE_AFTER}"`, `"after": "${sha}"`)
      .replace(`"checkout_sha": "${EXAMPLE_AFTER}"`, `"checkout_sha": "${sha}"`),
  );
}

// ---- measuring ------------------------------------------------------------------------------

interface Result {
  scenario: string;
  concurrency: number;
  n: number;
  p50: number;
  p99: number;
  perSecond: number;
}

/** Runs `op` n times from `concurrency` senders; latency is per op, throughput over the wall time. */
async function measure(
  scenario: string,
  concurrency: number,
  n: number,
  op: (i: number) => Promise<void>,
): Promise<Result> {
  const { ms, wallMs } = await timeOps(n, op, concurrency);
  const { p50, p99 } = stats(ms);
  return { scenario, concurrency, n, p50, p99, perSecond: (n / wallMs) * 1000 };
}

// ---- the run --------------------------------------------------------------------------------

function resultTable(results: Result[], floors: Map<number, Result>): string {
  return table([
    ['scenario', 'concurrency', 'n', 'p50 ms', 'p99 ms', 'req/s', 'p50 vs floor', 'req/s vs floor'],
    ...results.map((r) => {
      const floor = floors.get(r.concurrency);
      const isFloor = r.scenario.startsWith('floor');
      return [
        r.scenario,
        String(r.concurrency),
        String(r.n),
        fmt(r.p50),
        fmt(r.p99),
        fmt(r.perSecond, 0),
        !floor ? '-' : isFloor ? '1.00×' : ratio(r.p50, floor.p50),
        !floor ? '-' : isFloor ? '1.00×' : ratio(r.perSecond, floor.perSecond),
      ];
    }),
  ]);
}

async function main(): Promise<number> {
  header('bench:ingest', [javaVersion()]);
  const http = keepAliveClient();
  return withDynamoDbLocal(LOCAL_TABLE, async ({ endpoint, client: raw, put, home }) => {
    let local: Awaited<ReturnType<typeof startLocalMode>> | undefined;
    try {
      local = await startLocalMode({
        port: 0,
        inMemory: true,
        dynamoDbEndpoint: endpoint,
        stateDir: new StateDir(home),
        log: () => undefined,
        // The pushes start (failing: the app is not linked) release executions in the background;
        // their notices would otherwise print here.
        console: new Writable({ write: (_chunk, _encoding, done) => done() }),
      });
      const { url, adminToken, workflow } = local;

      // An app through the admin API, and its webhook secret, as `slipway apps create/webhook` do.
      const admin = { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' };
      const created = await http.post(
        `${url}/v1/apps`,
        admin,
        JSON.stringify({ name: 'diaspora', project: 'mike/diaspora', branch: 'master' }),
      );
      if (created.status !== 201) throw new Error(`creating the app answered ${created.status}: ${created.body}`);
      const issued = await http.post(`${url}/v1/apps/diaspora/webhook`, admin, '{}');
      if (issued.status !== 200) {
        throw new Error(`issuing the webhook secret answered ${issued.status}: ${issued.body}`);
      }
      const hook = JSON.parse(issued.body) as { url: string; secret: string };

      const unexpected: string[] = [];
      // One push is one build: each accepted delivery is its own push (its own `after`), and a
      // redelivery of a key is the same push again.
      const deliver = (key: string, expected: number) => async () => {
        const res = await http.post(hook.url, pushHeaders(hook.secret, key), pushFor(key));
        if (res.status !== expected && unexpected.length < 5) unexpected.push(`${res.status} ${res.body}`);
      };

      log(`  warming up (${WARMUP} PutItems and ${WARMUP} webhook deliveries at concurrency 16)…`);
      await measure('warm-up floor', 16, WARMUP, put);
      await measure('warm-up webhook', 16, WARMUP, (i) => deliver(`warm-${i}-${randomUUID()}`, 202)());
      unexpected.length = 0;
      // Each accepted push starts a release execution in this process, in the background; they
      // drain between scenarios, so every measurement starts from a quiet process.
      const drain = async () => {
        const started = Date.now();
        await workflow.whenIdle();
        log(`  (background release executions drained in ${fmt((Date.now() - started) / 1000)} s)`);
      };
      await drain();

      const results: Result[] = [];
      const floors = new Map<number, Result>();
      for (const c of CONCURRENCY) {
        const n = COUNTS[c] as number;
        const floor = await measure('floor: conditional PutItem', c, n, put);
        floors.set(c, floor);
        results.push(floor);
        log(`  ${floor.scenario} c=${c}: p50 ${fmt(floor.p50)} ms`);
        const accept = await measure('webhook: push accepted (202)', c, n, (i) =>
          deliver(`c${c}-${i}-${randomUUID()}`, 202)(),
        );
        results.push(accept);
        log(`  ${accept.scenario} c=${c}: p50 ${fmt(accept.p50)} ms`);
        await drain();
      }
      // Where a delivery's time goes: its parts alone, one at a time (c=1), on the same server.
      const anatomy: Result[] = [];
      const nAnatomy = COUNTS[1] as number;
      const PK = TABLE_SCHEMA.partitionKey;
      const SK = TABLE_SCHEMA.sortKey;
      anatomy.push(
        await measure('HTTP + handler, no DynamoDB (malformed hook id, 404)', 1, nAnatomy, async () => {
          const res = await http.post(`${url}/hooks/gitlab/x`, pushHeaders(hook.secret, randomUUID()), PUSH);
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
      log(resultTable(results, floors));
      log('');
      log('Anatomy, one at a time (c=1):');
      log(resultTable(anatomy, floors));
      log('');
      log('p50/p99: per request, from the first byte sent to the last byte of the answer read (keep-alive).');
      log('vs floor: the same concurrency level of "floor: conditional PutItem" measured in this run.');
      if (unexpected.length > 0) {
        process.stderr.write(`bench:ingest: unexpected answers, e.g.:\n  ${unexpected.join('\n  ')}\n`);
        return 1;
      }
      return 0;
    } finally {
      http.destroy();
      await local?.stop();
    }
  });
}

runBench('bench:ingest', TIME_LIMIT_MS, main);
