/**
 * Promotion against a rebuild (issue 11): how long putting a commit live in another environment
 * takes by promoting its image digests (no build), against building and releasing the same
 * commit again, in the same run, on the same machine. Local mode in-process with the real build
 * (the buildspec, git over a real sshd on loopback, the recording docker stand-in that keeps
 * images and containers), the GitLab stand-in, DynamoDB Local; timed over the admin API from the
 * request until the release is `live`.
 *
 *   npm run bench:promote               full run (about a minute)
 *   npm run bench:promote -- --quick    a smoke test
 *
 * Results: docs/PERFORMANCE.md ("Promotion").
 */
import {
  fmt,
  header,
  javaVersion,
  log,
  QUICK,
  ratio,
  runBench,
  stats,
  statsCells,
  table,
  withDynamoDbLocal,
} from './support';

// Before anything creates a Powertools logger: the handlers log each request at INFO.
process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';

const { startLinkedAppWorld } = await import('../test/support/linked-app');
const { until: waitFor } = await import('../test/support/until');

const ROUNDS = QUICK ? 2 : 8;
const TIMEOUT_MS = 120_000;

async function main(): Promise<number> {
  header('bench:promote', [javaVersion()]);
  return withDynamoDbLocal('slipway', async ({ endpoint, client, put }) => {
    process.env.SLIPWAY_TEST_DYNAMODB_ENDPOINT = endpoint;
    // The floor's table (local mode below makes a table of its own).
    const { ensureTable } = await import('../functions/adapters/dynamodb/table');
    await ensureTable(client, 'slipway');
    const world = await startLinkedAppWorld();
    try {
      await world.linkApp('shop', ['--environment', 'staging']);
      await world.slipway('envs', 'create', 'shop', 'production');
      const { url, adminToken, store } = world.local;
      const call = async (method: string, path: string, body?: unknown) => {
        const res = await fetch(`${url}${path}`, {
          method,
          headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        });
        if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
        return (await res.json()) as Record<string, unknown>;
      };
      // Polled every 10 ms: the measurement's resolution.
      const until = <T>(what: string, probe: () => Promise<T | undefined>) => waitFor(what, probe, TIMEOUT_MS, 10);

      // One commit, live in staging: what both ways put live again.
      const sha = world.commit('The release being moved around');
      await world.push('shop', sha, 'bench-promote-first');
      await until('first release', async () => {
        const [latest] = await store.listBuilds('shop', { limit: 1 });
        return latest?.outcome === 'live' ? latest : undefined;
      });

      const rebuilds: number[] = [];
      const promotions: number[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        // A rebuild: `deploy --ref <sha>` builds the same commit again and releases it to staging.
        let t0 = performance.now();
        const build = await call('POST', '/v1/apps/shop/deploy', { ref: sha });
        const built = await until('rebuild', async () => {
          const b = await store.getBuild('shop', String(build.id));
          return b?.outcome ? b : undefined;
        });
        if (built.outcome !== 'live') throw new Error(`rebuild ended ${built.outcome}: ${built.reason ?? ''}`);
        rebuilds.push(performance.now() - t0);

        // A promotion: staging's live images, by digest, to production.
        t0 = performance.now();
        const release = await call('POST', '/v1/apps/shop/promote', { from: 'staging', to: 'production' });
        const promoted = await until('promotion', async () => {
          const r = await store.getRelease('shop', String(release.id));
          return r && r.status !== 'pending' && r.status !== 'deploying' ? r : undefined;
        });
        if (promoted.status !== 'live') throw new Error(`promotion ended ${promoted.status}: ${promoted.reason ?? ''}`);
        promotions.push(performance.now() - t0);
      }
      const floor: number[] = [];
      for (let i = 0; i < 200; i++) {
        const t0 = performance.now();
        await put();
        floor.push(performance.now() - t0);
      }

      const r = stats(rebuilds);
      const p = stats(promotions);
      const f = stats(floor);
      log('');
      log(`The same commit put live again, ${ROUNDS} times each, alternating:`);
      log(
        table([
          ['measure', 'n', 'p50 ms', 'p99 ms', 'mean ms', 'p50 vs rebuild', 'p50 vs PutItem'],
          ['floor: conditional PutItem', ...statsCells(f), '-', '1.00×'],
          ['rebuild: deploy --ref <sha> → live (staging)', ...statsCells(r), '1.00×', ratio(r.p50, f.p50)],
          [
            'promotion: promote staging → production → live',
            ...statsCells(p),
            ratio(p.p50, r.p50),
            ratio(p.p50, f.p50),
          ],
        ]),
      );
      log(`  a promotion takes ${fmt(p.p50 / r.p50, 3)} of a rebuild's time (p50); it runs no build at all.`);
      return 0;
    } finally {
      await world.stop();
    }
  });
}

runBench('bench:promote', (QUICK ? 3 : 8) * 60_000, main);
