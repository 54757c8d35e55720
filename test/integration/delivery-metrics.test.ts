import { Logger } from '@aws-lambda-powertools/logger';
import type { Context } from 'aws-lambda';
import { DynamoDbStore } from '../../functions/adapters/dynamodb/store';
import { newApp } from '../../functions/domain/apps';
import { NotFoundError, ValidationError } from '../../functions/domain/errors';
import { newId } from '../../functions/domain/ids';
import { ingestPush } from '../../functions/domain/ingest';
import { computeDeliveryMetrics, loadDeliveryMetrics } from '../../functions/domain/metrics';
import type { App, Build, Release, ReleaseStatus } from '../../functions/domain/model';
import { rollbackRelease } from '../../functions/domain/releases';
import { handleSystemEvents } from '../../functions/domain/system-hooks';
import { type AdminDeps, createAdminHandler } from '../../functions/http/admin-api';
import { parsePush, parseSystemEvent } from '../../functions/http/gitlab-payloads';
import type { HttpEvent } from '../../functions/http/responses';
import { type FreshTable, freshTable } from '../support/dynamodb';
import { gitlabExample } from '../support/gitlab-events';
import { RecordingWorkflow } from '../support/recording-workflow';

/**
 * Delivery metrics through the real store on DynamoDB Local: the new facts (`committedAt` on
 * builds, `rollbackOf` on releases) round-trip, the key-range reads return what was created
 * since a time, `loadDeliveryMetrics` reads enough history to compute the contract's figures,
 * and the admin API serves them.
 */

let table: FreshTable;
let store: DynamoDbStore;

beforeAll(async () => {
  table = await freshTable();
  store = new DynamoDbStore({ tableName: table.tableName, client: table.client });
});

afterAll(() => {
  table?.raw.destroy();
});

let counter = 0;
async function anApp(overrides: Partial<Parameters<typeof newApp>[0]> = {}): Promise<App> {
  counter += 1;
  const app = newApp({
    name: `metrics-${counter}-${Math.random().toString(36).slice(2, 8)}`,
    project: 'mike/diaspora',
    branch: 'master',
    ...overrides,
  });
  await store.createApp(app);
  return app;
}

/** A build made (and its id dated) at `createdAt`. */
async function aBuild(app: string, createdAt: string, committedAt?: string): Promise<Build> {
  const build: Build = {
    id: newId(new Date(createdAt)),
    app,
    status: 'succeeded',
    commit: 'c'.repeat(40),
    ref: 'refs/heads/master',
    message: 'Change things',
    author: 'Ada',
    trigger: 'push',
    createdAt,
    images: { app: `sha256:${'d'.repeat(64)}` },
    ...(committedAt ? { committedAt } : {}),
  };
  await store.recordBuild(build);
  return build;
}

/** A release as it stands after its life so far, its id dated at `createdAt` as the workflow dates it. */
async function aRelease(
  app: string,
  build: string,
  status: ReleaseStatus,
  times: Pick<Release, 'createdAt'> & Partial<Release>,
): Promise<Release> {
  const release: Release = {
    id: newId(new Date(times.createdAt)),
    app,
    status,
    build,
    commit: 'c'.repeat(40),
    images: { app: `sha256:${'d'.repeat(64)}` },
    ...times,
  };
  await store.createRelease(release);
  return release;
}

describe('the facts metrics are made of', () => {
  it('keeps a build’s commit time and a release’s rollback source, in every read', async () => {
    const app = await anApp();
    const build = await aBuild(app.name, '2026-04-01T10:00:00.000Z', '2026-04-01T09:00:00.000Z');
    const original = await aRelease(app.name, build.id, 'replaced', {
      createdAt: '2026-04-01T10:05:00.000Z',
      liveAt: '2026-04-01T10:10:00.000Z',
      endedAt: '2026-04-02T10:10:00.000Z',
    });
    const rollback = await aRelease(app.name, build.id, 'live', {
      createdAt: '2026-04-02T10:00:00.000Z',
      liveAt: '2026-04-02T10:10:00.000Z',
      rollbackOf: original.id,
      reason: `rollback to release ${original.id}`,
    });

    expect(await store.getBuild(app.name, build.id)).toEqual(build);
    expect(await store.listBuilds(app.name)).toEqual([build]);
    expect(await store.listBuildsSince(app.name, '2026-04-01T00:00:00.000Z')).toEqual([build]);
    expect(await store.getRelease(app.name, rollback.id)).toEqual(rollback);
    expect(await store.listReleases(app.name)).toEqual([rollback, original]);
    expect(await store.listReleasesSince(app.name, '2026-04-01T00:00:00.000Z')).toEqual([original, rollback]);
  });

  it('records rollbackOf on the release a rollback copies forward, and keeps saying it in the reason', async () => {
    const app = await anApp();
    const build = await aBuild(app.name, '2026-04-01T10:00:00.000Z');
    const original = await aRelease(app.name, build.id, 'live', {
      createdAt: '2026-04-01T10:05:00.000Z',
      liveAt: '2026-04-01T10:10:00.000Z',
    });

    const { release } = await rollbackRelease({ store }, app.name, original.id);

    expect(await store.getRelease(app.name, release.id)).toMatchObject({
      status: 'pending',
      build: build.id,
      rollbackOf: original.id,
      reason: `rollback to release ${original.id}`,
    });
  });

  it('reads releases and builds created since a time, oldest first, one key range each', async () => {
    const app = await anApp();
    const early = await aBuild(app.name, '2026-04-01T00:00:00.000Z');
    const onTime = await aBuild(app.name, '2026-04-02T00:00:00.000Z');
    const late = await aBuild(app.name, '2026-04-03T00:00:00.000Z');
    const r1 = await aRelease(app.name, early.id, 'failed', { createdAt: '2026-04-01T00:00:01.000Z' });
    const r2 = await aRelease(app.name, onTime.id, 'failed', { createdAt: '2026-04-02T00:00:01.000Z' });
    const r3 = await aRelease(app.name, late.id, 'failed', { createdAt: '2026-04-03T00:00:01.000Z' });

    expect((await store.listBuildsSince(app.name, '2026-04-02T00:00:00.000Z')).map((b) => b.id)).toEqual([
      onTime.id,
      late.id,
    ]);
    expect((await store.listReleasesSince(app.name, '2026-04-02T00:00:00.000Z')).map((r) => r.id)).toEqual([
      r2.id,
      r3.id,
    ]);
    expect((await store.listReleasesSince(app.name, '2026-01-01T00:00:00.000Z')).map((r) => r.id)).toEqual([
      r1.id,
      r2.id,
      r3.id,
    ]);
    expect(await store.listReleasesSince(app.name, '2026-05-01T00:00:00.000Z')).toEqual([]);
    await expect(store.listReleasesSince(app.name, 'yesterday')).rejects.toBeInstanceOf(ValidationError);
  });

  it('records the head commit’s time when GitLab’s example push is ingested, through either hook', async () => {
    const app = await anApp();
    const workflow = new RecordingWorkflow();

    const project = await ingestPush({ store, workflow }, app, parsePush(gitlabExample('push.json').body, 'branch'), {
      source: app.hookId,
      key: `push-${app.name}`,
      trigger: 'push',
    });

    expect(project.outcome).toBe('started');
    const build = project.outcome === 'started' ? project.build : undefined;
    // The head commit da15608… is stamped 2012-01-03T23:36:29+02:00 in the payload.
    expect(build?.committedAt).toBe('2012-01-03T21:36:29.000Z');
    expect(await store.getBuild(app.name, build?.id ?? '')).toMatchObject({ committedAt: '2012-01-03T21:36:29.000Z' });

    // The system hook's example lists another commit than the one it pushes: it gets its head's time when listed.
    const systemApp = await anApp({ project: 'jsmith/system-metrics' });
    const example = gitlabExample('system_push.json').body as Record<string, unknown> & {
      after: string;
      commits: Array<Record<string, unknown>>;
      project: Record<string, unknown>;
    };
    const body = {
      ...example,
      project: { ...example.project, path_with_namespace: 'jsmith/system-metrics', id: undefined },
      project_id: undefined,
      commits: [{ ...example.commits[0], id: example.after, timestamp: '2013-05-13T18:18:08+00:00' }],
    };
    const result = await handleSystemEvents({ store, workflow }, parseSystemEvent(body));

    expect(result.outcome).toBe('started');
    const [systemBuild] = result.outcome === 'started' ? result.builds : [];
    expect(systemBuild?.app).toBe(systemApp.name);
    expect(await store.getBuild(systemApp.name, systemBuild?.id ?? '')).toMatchObject({
      trigger: 'system_hook',
      committedAt: '2013-05-13T18:18:08.000Z',
    });
  });
});

/**
 * A week's history (window [2026-04-23T12:00Z, 2026-04-30T12:00Z]) written through the store:
 *
 * - Q live 03-20, P live 04-01 (both long before the window, P still live when the window opens);
 * - RB, a rollback of Q created 04-24 00:00, live 00:05: a deployment without lead time, and P
 *   (the release it moved away from, found more than the look-back before the window) fails at
 *   00:00, restored at 00:05 (300 s);
 * - LATE, built 04-10 (before the look-back) from a commit of 04-10 00:00, live 04-25 10:10:
 *   lead time 15 d 10 h 10 min = 1,332,600 s;
 * - R1, committed 04-26 08:00, live 09:30: lead 5400 s;
 * - F, failed 04-27 10:00: restored by R2 at 04-28 10:00 (86,400 s);
 * - R2, committed 04-28 09:00, live 10:00: lead 3600 s;
 * - AFTER, live 05-01: after now, not counted.
 */
async function weekOfHistory(app: string): Promise<void> {
  const q = await aBuild(app, '2026-03-20T09:00:00.000Z', '2026-03-20T08:00:00.000Z');
  const qr = await aRelease(app, q.id, 'replaced', {
    createdAt: '2026-03-20T09:50:00.000Z',
    liveAt: '2026-03-20T10:00:00.000Z',
    endedAt: '2026-04-01T10:00:00.000Z',
  });
  const p = await aBuild(app, '2026-04-01T09:00:00.000Z', '2026-04-01T08:00:00.000Z');
  await aRelease(app, p.id, 'replaced', {
    createdAt: '2026-04-01T09:50:00.000Z',
    liveAt: '2026-04-01T10:00:00.000Z',
    endedAt: '2026-04-24T00:05:00.000Z',
  });
  const old = await aBuild(app, '2026-04-10T00:30:00.000Z', '2026-04-10T00:00:00.000Z');
  await aRelease(app, q.id, 'replaced', {
    createdAt: '2026-04-24T00:00:00.000Z',
    liveAt: '2026-04-24T00:05:00.000Z',
    endedAt: '2026-04-25T10:10:00.000Z',
    rollbackOf: qr.id,
    reason: `rollback to release ${qr.id}`,
  });
  await aRelease(app, old.id, 'replaced', {
    createdAt: '2026-04-25T10:00:00.000Z',
    liveAt: '2026-04-25T10:10:00.000Z',
    endedAt: '2026-04-26T09:30:00.000Z',
  });
  const r1 = await aBuild(app, '2026-04-26T09:00:00.000Z', '2026-04-26T08:00:00.000Z');
  await aRelease(app, r1.id, 'replaced', {
    createdAt: '2026-04-26T09:20:00.000Z',
    liveAt: '2026-04-26T09:30:00.000Z',
    endedAt: '2026-04-28T10:00:00.000Z',
  });
  const f = await aBuild(app, '2026-04-27T09:00:00.000Z', '2026-04-27T08:00:00.000Z');
  await aRelease(app, f.id, 'failed', { createdAt: '2026-04-27T09:50:00.000Z', endedAt: '2026-04-27T10:00:00.000Z' });
  const r2 = await aBuild(app, '2026-04-28T09:30:00.000Z', '2026-04-28T09:00:00.000Z');
  await aRelease(app, r2.id, 'replaced', {
    createdAt: '2026-04-28T09:50:00.000Z',
    liveAt: '2026-04-28T10:00:00.000Z',
    endedAt: '2026-05-01T10:00:00.000Z',
  });
  const after = await aBuild(app, '2026-05-01T09:00:00.000Z', '2026-05-01T08:00:00.000Z');
  await aRelease(app, after.id, 'live', { createdAt: '2026-05-01T09:50:00.000Z', liveAt: '2026-05-01T10:00:00.000Z' });
}

const WEEK_NOW = new Date('2026-04-30T12:00:00.000Z');

const WEEK_METRICS = {
  days: 7,
  from: '2026-04-23T12:00:00.000Z',
  to: '2026-04-30T12:00:00.000Z',
  deployments: 4,
  deploymentsPerDay: 0.5714,
  leadTimeSeconds: { median: 5400, p90: 1_332_600 },
  // Failed changes P and F over 4 deployments + 1 ended failure.
  changeFailureRate: 0.4,
  // 300 and 86,400.
  timeToRestoreSeconds: { median: 43_350 },
  daily: [
    { date: '2026-04-23', deployments: 0, failures: 0 },
    { date: '2026-04-24', deployments: 1, failures: 1 },
    { date: '2026-04-25', deployments: 1, failures: 0 },
    { date: '2026-04-26', deployments: 1, failures: 0 },
    { date: '2026-04-27', deployments: 0, failures: 1 },
    { date: '2026-04-28', deployments: 1, failures: 0 },
    { date: '2026-04-29', deployments: 0, failures: 0 },
    { date: '2026-04-30', deployments: 0, failures: 0 },
  ],
};

describe('loadDeliveryMetrics', () => {
  it('reads what the window needs from the store and computes the contract’s figures', async () => {
    const app = await anApp();
    await weekOfHistory(app.name);

    const metrics = await loadDeliveryMetrics({ store }, app.name, { days: 7, now: WEEK_NOW });

    expect(metrics).toEqual({ app: app.name, ...WEEK_METRICS });
  });

  it('agrees with the computation over the whole history', async () => {
    const app = await anApp();
    await weekOfHistory(app.name);

    const releases = await store.listReleases(app.name, { limit: 1000 });
    const builds = await store.listBuilds(app.name, { limit: 1000 });
    for (const days of [1, 3, 30, 365]) {
      expect(await loadDeliveryMetrics({ store }, app.name, { days, now: WEEK_NOW })).toEqual(
        computeDeliveryMetrics({ app: app.name, days, now: WEEK_NOW, releases, builds }),
      );
    }
  });

  it('gives an app without history zeros and nulls, and refuses unknown apps and bad windows', async () => {
    const app = await anApp();

    expect(await loadDeliveryMetrics({ store }, app.name, { days: 1, now: WEEK_NOW })).toEqual({
      app: app.name,
      days: 1,
      from: '2026-04-29T12:00:00.000Z',
      to: '2026-04-30T12:00:00.000Z',
      deployments: 0,
      deploymentsPerDay: 0,
      leadTimeSeconds: null,
      changeFailureRate: null,
      timeToRestoreSeconds: null,
      daily: [
        { date: '2026-04-29', deployments: 0, failures: 0 },
        { date: '2026-04-30', deployments: 0, failures: 0 },
      ],
    });
    await expect(loadDeliveryMetrics({ store }, 'no-such-app', { days: 30 })).rejects.toBeInstanceOf(NotFoundError);
    await expect(loadDeliveryMetrics({ store }, app.name, { days: 0 })).rejects.toBeInstanceOf(ValidationError);
  });
});

describe('GET /v1/apps/{name}/metrics', () => {
  const logger = new Logger({ serviceName: 'metrics-test', logLevel: 'SILENT' });
  const handler = () =>
    createAdminHandler({
      store,
      logger,
      clock: { now: () => WEEK_NOW },
      workflow: new RecordingWorkflow(),
    } as unknown as AdminDeps);

  function get(path: string, query?: Record<string, string>): Promise<{ statusCode: number; body: string }> {
    const event = {
      version: '2.0',
      routeKey: '$default',
      rawPath: path,
      rawQueryString: new URLSearchParams(query).toString(),
      headers: {},
      ...(query ? { queryStringParameters: query } : {}),
      requestContext: {
        accountId: '000000000000',
        apiId: 'test',
        domainName: 'slipway.test',
        domainPrefix: 'slipway',
        http: { method: 'GET', path, protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'jest' },
        requestId: 'r',
        routeKey: '$default',
        stage: '$default',
        time: WEEK_NOW.toUTCString(),
        timeEpoch: WEEK_NOW.getTime(),
      },
      isBase64Encoded: false,
    } as HttpEvent;
    return handler()(event, { awsRequestId: 'r', getRemainingTimeInMillis: () => 10_000 } as Context);
  }

  it('answers the metrics of the last N days, 30 by default', async () => {
    const app = await anApp();
    await weekOfHistory(app.name);

    const week = await get(`/v1/apps/${app.name}/metrics`, { days: '7' });
    const month = await get(`/v1/apps/${app.name}/metrics`);

    expect(week.statusCode).toBe(200);
    expect(JSON.parse(week.body)).toEqual({ app: app.name, ...WEEK_METRICS });
    expect(month.statusCode).toBe(200);
    expect(JSON.parse(month.body)).toMatchObject({
      app: app.name,
      days: 30,
      from: '2026-03-31T12:00:00.000Z',
      to: '2026-04-30T12:00:00.000Z',
      deployments: 5, // P's deployment on 04-01 is in it too
    });
    expect(JSON.parse(month.body).daily).toHaveLength(31);
  });

  it.each(['0', '366', '1.5', 'abc', '', '-1', '1e2', ' 7'])('refuses days=%p with 400 and says why', async (days) => {
    const app = await anApp();

    const answer = await get(`/v1/apps/${app.name}/metrics`, { days });

    expect(answer.statusCode).toBe(400);
    expect(JSON.parse(answer.body)).toEqual({ error: 'days must be a whole number from 1 to 365' });
  });

  it('answers 404 for an unknown app', async () => {
    const answer = await get('/v1/apps/no-such-app/metrics', { days: '7' });

    expect(answer.statusCode).toBe(404);
    expect(JSON.parse(answer.body)).toEqual({ error: 'no app named no-such-app' });
  });
});
