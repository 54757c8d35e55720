/**
 * Webhook ingest benchmark (issue 2 acceptance): how fast local mode accepts GitLab pushes,
 * as latency (p50/p99) and throughput at 1, 16 and 64 concurrent senders, each next to the
 * floor measured in the same run on the same DynamoDB Local: one conditional PutItem
 * (attribute_not_exists) round trip at the same concurrency.
 *
 * Two ways (issue 10, section 3): the ack alone — the request until its 202, through the same
 * HTTP adapter, handler and store as local mode's webhook route, with no release execution
 * running in this process while it is measured (the starts are noted, then run on local mode's
 * workflow and timed apart) — and local mode as it is, its executions running in the background
 * of the same process.
 *
 *   npm run bench:ingest               full run (a couple of minutes)
 *   npm run bench:ingest -- --quick    short run, for a smoke test
 *
 * Everything stays on loopback: DynamoDB Local (Java), local mode's HTTP server and the senders
 * all run on this machine and share its cores. Results: docs/PERFORMANCE.md.
 */

import { createHash, randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
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

const { DynamoDBClient, GetItemCommand, TransactWriteItemsCommand } = await import('@aws-sdk/client-dynamodb');
const { DynamoDBDocumentClient } = await import('@aws-sdk/lib-dynamodb');
const { Logger } = await import('@aws-lambda-powertools/logger');
const { LOCAL_CREDENTIALS } = await import('../functions/adapters/dynamodb/local-server');
const { TABLE_SCHEMA } = await import('../functions/adapters/dynamodb/schema');
const { DynamoDbStore } = await import('../functions/adapters/dynamodb/store');
const { LocalVault } = await import('../functions/adapters/vault/local-vault');
const { FUNCTION_TIMEOUTS } = await import('../functions/commons/timeouts');
const { createProjectWebhookHandler } = await import('../functions/http/project-webhook');
const { apiGatewayListener } = await import('../functions/local/http-adapter');
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

      // The ack alone: local mode's webhook route rebuilt on a second listener in this process
      // (same HTTP adapter, handler, store class, table and vault key), with a workflow that
      // only notes each start. Nothing runs in the background while the acks are measured; the
      // noted builds are then started on local mode's own workflow and drained, timed apart.
      const noted: Array<{ app: string; build: string }> = [];
      const noting = {
        startRelease: async (input: { app: string; build: string }) => {
          noted.push(input);
          return `noted:${input.build}`;
        },
      };
      const documents = DynamoDBDocumentClient.from(
        new DynamoDBClient({ endpoint, region: 'local', credentials: LOCAL_CREDENTIALS }),
        { marshallOptions: { removeUndefinedValues: true } },
      );
      const vault = LocalVault.open(new StateDir(home).vaultKeyFile);
      const silent = new Logger({ serviceName: 'bench', logLevel: 'SILENT' });
      const hookPath = new URL(hook.url).pathname;
      const ackServers = await Promise.all(
        [false, true].map(async (awaitTransactionCommit) => {
          const store = new DynamoDbStore({ tableName: LOCAL_TABLE, client: documents, awaitTransactionCommit });
          const handler = createProjectWebhookHandler({ store, vault, workflow: noting, logger: silent });
          const server = createServer(
            apiGatewayListener(
              [{ method: 'POST', path: '/hooks/gitlab/{hookId}', handler, timeoutMs: FUNCTION_TIMEOUTS.webhook }],
              () => undefined,
            ),
          );
          await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
          const { port } = server.address() as AddressInfo;
          return { server, url: `http://127.0.0.1:${port}${hookPath}` };
        }),
      );
      const [awsShaped, localShaped] = ackServers as [(typeof ackServers)[number], (typeof ackServers)[number]];
      const ack = (target: string, key: string) => async () => {
        const res = await http.post(target, pushHeaders(hook.secret, key), pushFor(key));
        if (res.status !== 202 && unexpected.length < 5) unexpected.push(`${res.status} ${res.body}`);
      };
      const runNoted = async () => {
        const started = Date.now();
        const count = noted.length;
        for (const input of noted.splice(0)) await workflow.startRelease(input);
        await workflow.whenIdle();
        const seconds = (Date.now() - started) / 1000;
        log(`  (then their ${count} release executions, run apart: ${fmt(seconds)} s, ${fmt(count / seconds, 0)}/s)`);
      };
      await measure('warm-up ack', 16, WARMUP, (i) => ack(awsShaped.url, `warm-ack-${i}-${randomUUID()}`)());
      await runNoted();

      const results: Result[] = [];
      const floors = new Map<number, Result>();
      try {
        for (const c of CONCURRENCY) {
          const n = COUNTS[c] as number;
          const floor = await measure('floor: conditional PutItem', c, n, put);
          floors.set(c, floor);
          results.push(floor);
          log(`  ${floor.scenario} c=${c}: p50 ${fmt(floor.p50)} ms`);
          const acks = [
            await measure('ack alone (202): 1 GetItem + 1 TransactWriteItems, as on AWS', c, n, (i) =>
              ack(awsShaped.url, `ack-c${c}-${i}-${randomUUID()}`)(),
            ),
          ];
          if (c === 1) {
            acks.push(
              await measure("ack alone (202), local mode's store: + commit barrier GetItem", c, n, (i) =>
                ack(localShaped.url, `ackl-c${c}-${i}-${randomUUID()}`)(),
              ),
            );
          }
          for (const a of acks) log(`  ${a.scenario} c=${c}: p50 ${fmt(a.p50)} ms`);
          results.push(...acks);
          await runNoted();
          const accept = await measure('local mode: push accepted (202), executions in-process', c, n, (i) =>
            deliver(`c${c}-${i}-${randomUUID()}`, 202)(),
          );
          results.push(accept);
          log(`  ${accept.scenario} c=${c}: p50 ${fmt(accept.p50)} ms`);
          await drain();
        }
      } finally {
        for (const { server } of ackServers) server.close();
        documents.destroy();
      }
      // Where a delivery's time goes: its parts alone, one at a time (c=1), on the same server.
      const anatomy: Result[] = [];
      const nAnatomy = COUNTS[1] as number;
      const PK = TABLE_SCHEMA.partitionKey;
      const SK = TABLE_SCHEMA.sortKey;
      const hookId = hookPath.slice(hookPath.lastIndexOf('/') + 1);
      // Well-formed, never issued: local mode's handler reads once, then remembers it (404s).
      const unknownHook = `${url}/hooks/gitlab/${'u'.repeat(24)}`;
      /** `count` conditional Puts of fresh items in one transaction: what recordBuild sends. */
      const transactItems = (count: number) => {
        const id = randomUUID();
        return Array.from({ length: count }, (_, i) => ({
          Put: {
            TableName: LOCAL_TABLE,
            Item: {
              [PK]: { S: `BENCH#${id}#${i}` },
              [SK]: { S: 'TX' },
              commit: { S: 'da1560886d4f094c3e6c9ef40349f7d38b5d27d7' },
            },
            ConditionExpression: 'attribute_not_exists(#pk)',
            ExpressionAttributeNames: { '#pk': PK },
          },
        }));
      };
      anatomy.push(
        await measure('HTTP + handler, no DynamoDB (malformed hook id, 404)', 1, nAnatomy, async () => {
          const res = await http.post(`${url}/hooks/gitlab/x`, pushHeaders(hook.secret, randomUUID()), PUSH);
          if (res.status !== 404 && unexpected.length < 5) unexpected.push(`${res.status} ${res.body}`);
        }),
        await measure('HTTP + handler, unknown hook id remembered (404, no DynamoDB)', 1, nAnatomy, async () => {
          const res = await http.post(unknownHook, pushHeaders(hook.secret, randomUUID()), PUSH);
          if (res.status !== 404 && unexpected.length < 5) unexpected.push(`${res.status} ${res.body}`);
        }),
        await measure('GetItem, consistent (the hook pointer, carrying its app)', 1, nAnatomy, async () => {
          await raw.send(
            new GetItemCommand({
              TableName: LOCAL_TABLE,
              Key: { [PK]: { S: `HOOK#${hookId}` }, [SK]: { S: 'HOOK' } },
              ConsistentRead: true,
            }),
          );
        }),
        await measure('TransactWriteItems, 2 conditional Puts (delivery + build)', 1, nAnatomy, async () => {
          await raw.send(new TransactWriteItemsCommand({ TransactItems: transactItems(2) }));
        }),
        await measure('TransactWriteItems, 4 Puts (2 delivery keys, build, start marker)', 1, nAnatomy, async () => {
          await raw.send(new TransactWriteItemsCommand({ TransactItems: transactItems(4) }));
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
