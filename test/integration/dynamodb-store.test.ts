import { DynamoDBClient, TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { LOCAL_CREDENTIALS, LOCAL_REGION } from '../../functions/adapters/dynamodb/local-server';
import { TABLE_SCHEMA } from '../../functions/adapters/dynamodb/schema';
import { DELIVERY_TTL_SECONDS, DynamoDbStore } from '../../functions/adapters/dynamodb/store';
import { ensureTable } from '../../functions/adapters/dynamodb/table';
import {
  ConflictError,
  IllegalTransitionError,
  NotFoundError,
  StaleWriteError,
  ValidationError,
} from '../../functions/domain/errors';
import { newHookId, newId } from '../../functions/domain/ids';
import type { App, Build, Release } from '../../functions/domain/model';
import { ROLLOUT_LEASE_MS, takeRolloutTurn } from '../../functions/domain/rollout';
import { type FreshTable, freshTable } from '../support/dynamodb';

let table: FreshTable;
let store: DynamoDbStore;

beforeAll(async () => {
  table = await freshTable();
});

afterAll(() => {
  table?.raw.destroy();
});

beforeEach(() => {
  store = new DynamoDbStore({ tableName: table.tableName, client: table.client });
});

let appCounter = 0;
/** A unique app name per test, so tests share the table without seeing each other. */
function uniqueName(prefix = 'app'): string {
  appCounter += 1;
  return `${prefix}-${appCounter}-${Math.random().toString(36).slice(2, 8)}`;
}

function anApp(overrides: Partial<App> = {}): App {
  return {
    name: uniqueName(),
    project: 'Group/Sub/Project',
    branch: 'main',
    mode: 'superseded',
    status: 'active',
    hookId: newHookId(),
    linked: false,
    createdAt: '2026-11-01T10:00:00.000Z',
    updatedAt: '2026-11-01T10:00:00.000Z',
    version: 1,
    ...overrides,
  };
}

function aBuild(app: string, overrides: Partial<Build> = {}): Build {
  return {
    id: newId(),
    app,
    status: 'queued',
    commit: 'a'.repeat(40),
    ref: 'refs/heads/main',
    message: 'Fix the thing',
    author: 'Ada',
    trigger: 'push',
    createdAt: '2026-11-01T10:00:00.000Z',
    ...overrides,
  };
}

function aRelease(app: string, build: string, overrides: Partial<Release> = {}): Release {
  return {
    id: newId(),
    app,
    status: 'pending',
    build,
    commit: 'b'.repeat(40),
    images: { web: `sha256:${'c'.repeat(64)}` },
    createdAt: '2026-11-01T10:05:00.000Z',
    ...overrides,
  };
}

/** Counts what the store sends from now on: returns the command names so far. */
function countSends(): () => string[] {
  const sent: string[] = [];
  const send = table.client.send.bind(table.client);
  const spied = (command: { constructor: { name: string } }, ...rest: unknown[]) => {
    sent.push(command.constructor.name);
    return (send as (...args: unknown[]) => unknown)(command, ...rest);
  };
  const client = Object.assign(Object.create(table.client), { send: spied }) as DynamoDBDocumentClient;
  store = new DynamoDbStore({ tableName: table.tableName, client });
  return () => [...sent];
}

async function rawItem(pk: string, sk: string): Promise<Record<string, unknown> | undefined> {
  const result = await table.client.send(
    new GetCommand({ TableName: table.tableName, Key: { pk, sk }, ConsistentRead: true }),
  );
  return result.Item;
}

describe('table', () => {
  it('ensureTable is idempotent on an existing table', async () => {
    await expect(ensureTable(table.raw, table.tableName)).resolves.toBeUndefined();
  });
});

describe('apps', () => {
  it('returns a created app exactly as it was given, without key attributes', async () => {
    const app = anApp({ projectId: 42, tags: 'v*', environment: 'production' });

    await store.createApp(app);

    expect(await store.getApp(app.name)).toEqual(app);
  });

  it('does not store undefined optional fields', async () => {
    const app = anApp({ tags: undefined, cluster: undefined });

    await store.createApp(app);

    const stored = await store.getApp(app.name);
    expect(stored).not.toHaveProperty('tags');
    expect(stored).not.toHaveProperty('cluster');
  });

  it('returns undefined for an unknown app', async () => {
    expect(await store.getApp(uniqueName('missing'))).toBeUndefined();
  });

  it('rejects a second app with the same name with ConflictError and keeps the first', async () => {
    const first = anApp();
    await store.createApp(first);

    const second = { ...anApp(), name: first.name, project: 'other/project' };

    await expect(store.createApp(second)).rejects.toBeInstanceOf(ConflictError);
    expect((await store.getApp(first.name))?.project).toBe(first.project);
    expect(await store.findAppByHookId(second.hookId)).toBeUndefined();
  });

  it('rejects an app whose hook id is already in use and creates nothing', async () => {
    const first = anApp();
    await store.createApp(first);
    const second = anApp({ hookId: first.hookId });

    await expect(store.createApp(second)).rejects.toBeInstanceOf(ConflictError);
    expect(await store.getApp(second.name)).toBeUndefined();
  });

  it('lists apps sorted by name with one Query', async () => {
    const names = [uniqueName('zeta'), uniqueName('alpha'), uniqueName('mid')];
    for (const name of names) await store.createApp(anApp({ name }));

    const listed = (await store.listApps()).map((app) => app.name);

    const ours = listed.filter((name) => names.includes(name));
    expect(ours).toEqual([...names].sort());
    expect(listed).toEqual([...listed].sort());
  });

  it('finds an app by the hook id in its URL', async () => {
    const app = anApp();
    await store.createApp(app);

    expect(await store.findAppByHookId(app.hookId)).toEqual(app);
    expect(await store.findAppByHookId(newHookId())).toBeUndefined();
  });

  it('keeps a copy of the app on its hook pointer, in step with every update, so one read finds it', async () => {
    const app = anApp({ tags: 'v*', hookSecretHash: 'a'.repeat(64) });
    await store.createApp(app);
    const updated = await store.updateApp(app.name, 1, { status: 'disabled', tags: undefined, branch: 'release/*' });

    const pointer = await rawItem(`HOOK#${app.hookId}`, 'HOOK');
    expect(pointer?.appCopy).toEqual(updated);
    const reads = countSends();
    expect(await store.findAppByHookId(app.hookId)).toEqual(updated);
    expect(reads()).toEqual(['GetCommand']);
  });

  it('still finds an app through a hook pointer written without the copy, reading the app', async () => {
    const app = anApp();
    await store.createApp(app);
    // A pointer as versions before the copy wrote it.
    await table.client.send(
      new PutCommand({
        TableName: table.tableName,
        Item: { pk: `HOOK#${app.hookId}`, sk: 'HOOK', app: app.name, entity: 'hook' },
      }),
    );

    const reads = countSends();
    expect(await store.findAppByHookId(app.hookId)).toEqual(app);
    expect(reads()).toEqual(['GetCommand', 'GetCommand']);
    // Its next update writes the copy.
    const updated = await store.updateApp(app.name, 1, { branch: 'develop' });
    expect((await rawItem(`HOOK#${app.hookId}`, 'HOOK'))?.appCopy).toEqual(updated);
  });

  it('finds apps by GitLab project id once the id is known', async () => {
    const projectId = 100_000 + Math.floor(Math.random() * 1_000_000);
    const a = anApp({ name: uniqueName('a'), projectId });
    const b = anApp({ name: uniqueName('b'), projectId });
    const unrelated = anApp({ projectId: projectId + 1 });
    for (const app of [b, a, unrelated]) await store.createApp(app);

    const found = await store.findAppsByProject({ id: projectId });

    expect(found.map((app) => app.name)).toEqual([a.name, b.name]);
  });

  it('finds apps without a known id by project path, case-insensitively', async () => {
    const path = `Team-${Math.random().toString(36).slice(2, 8)}/Service`;
    const app = anApp({ project: path });
    await store.createApp(app);

    const found = await store.findAppsByProject({ path: path.toUpperCase() });

    expect(found).toEqual([app]);
  });

  it('finds apps by id and by path in one call, each once', async () => {
    const projectId = 2_000_000 + Math.floor(Math.random() * 1_000_000);
    const path = `grp-${Math.random().toString(36).slice(2, 8)}/svc`;
    const byId = anApp({ project: path, projectId });
    const byPath = anApp({ project: path });
    await store.createApp(byId);
    await store.createApp(byPath);

    const found = await store.findAppsByProject({ id: projectId, path });

    expect(found.map((app) => app.name).sort()).toEqual([byId.name, byPath.name].sort());
  });

  it('finds nothing when neither id nor path is given', async () => {
    expect(await store.findAppsByProject({})).toEqual([]);
  });

  it('updates an app at the expected version, bumping version and updatedAt', async () => {
    const clock = { now: () => new Date('2026-11-02T08:30:00.000Z') };
    store = new DynamoDbStore({ tableName: table.tableName, client: table.client, clock });
    const app = anApp();
    await store.createApp(app);

    const updated = await store.updateApp(app.name, 1, { branch: 'release/*', linked: true });

    expect(updated).toMatchObject({ branch: 'release/*', linked: true, version: 2 });
    expect(updated.updatedAt).toBe('2026-11-02T08:30:00.000Z');
    expect(await store.getApp(app.name)).toEqual(updated);
  });

  it('removes optional fields given as undefined and leaves required ones alone', async () => {
    const app = anApp({ tags: 'v*', cluster: 'prod' });
    await store.createApp(app);

    const updated = await store.updateApp(app.name, 1, { tags: undefined, branch: undefined });

    expect(updated).not.toHaveProperty('tags');
    expect(updated.cluster).toBe('prod');
    expect(updated.branch).toBe('main');
  });

  it('rejects an update at a stale version with StaleWriteError and changes nothing', async () => {
    const app = anApp();
    await store.createApp(app);
    await store.updateApp(app.name, 1, { branch: 'develop' });

    await expect(store.updateApp(app.name, 1, { branch: 'main' })).rejects.toBeInstanceOf(StaleWriteError);
    expect(await store.getApp(app.name)).toMatchObject({ branch: 'develop', version: 2 });
  });

  it('lets exactly one of two concurrent updates at the same version win', async () => {
    const app = anApp();
    await store.createApp(app);

    const results = await Promise.allSettled([
      store.updateApp(app.name, 1, { branch: 'one' }),
      store.updateApp(app.name, 1, { branch: 'two' }),
    ]);

    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const rejected = results.find((r) => r.status === 'rejected');
    expect(rejected?.status === 'rejected' && rejected.reason).toBeInstanceOf(StaleWriteError);
  });

  it('rejects an update of a missing app with NotFoundError', async () => {
    await expect(store.updateApp(uniqueName('ghost'), 1, { branch: 'x' })).rejects.toBeInstanceOf(NotFoundError);
    await expect(store.updateApp(uniqueName('ghost'), 1, { project: 'a/b' })).rejects.toBeInstanceOf(NotFoundError);
  });

  it('refuses to patch identity attributes', async () => {
    const app = anApp();
    await store.createApp(app);

    const patch = { hookId: 'x'.repeat(24) } as unknown as Parameters<DynamoDbStore['updateApp']>[2];

    await expect(store.updateApp(app.name, 1, patch)).rejects.toBeInstanceOf(ValidationError);
  });

  it('moves the app in the project index when it learns the project id', async () => {
    const path = `move-${Math.random().toString(36).slice(2, 8)}/svc`;
    const projectId = 3_000_000 + Math.floor(Math.random() * 1_000_000);
    const app = anApp({ project: path });
    await store.createApp(app);

    await store.updateApp(app.name, 1, { projectId });

    expect((await store.findAppsByProject({ id: projectId })).map((a) => a.name)).toEqual([app.name]);
    expect(await store.findAppsByProject({ path })).toEqual([]);
  });

  it('indexes a renamed app without a project id under its new path', async () => {
    const oldPath = `old-${Math.random().toString(36).slice(2, 8)}/svc`;
    const newPath = `new-${Math.random().toString(36).slice(2, 8)}/Svc`;
    const app = anApp({ project: oldPath });
    await store.createApp(app);

    await store.updateApp(app.name, 1, { project: newPath });

    expect((await store.findAppsByProject({ path: newPath.toLowerCase() })).map((a) => a.name)).toEqual([app.name]);
    expect(await store.findAppsByProject({ path: oldPath })).toEqual([]);
  });

  it('falls back to the path index when the project id is removed', async () => {
    const path = `drop-${Math.random().toString(36).slice(2, 8)}/svc`;
    const projectId = 4_000_000 + Math.floor(Math.random() * 1_000_000);
    const app = anApp({ project: path, projectId });
    await store.createApp(app);

    await store.updateApp(app.name, 1, { projectId: undefined });

    expect((await store.findAppsByProject({ path })).map((a) => a.name)).toEqual([app.name]);
    expect(await store.findAppsByProject({ id: projectId })).toEqual([]);
  });

  it('deletes an app with its hook pointer, builds and releases', async () => {
    const app = anApp();
    await store.createApp(app);
    const builds = Array.from({ length: 30 }, () => aBuild(app.name));
    for (const build of builds) await store.recordBuild(build);
    const first = builds[0] as Build;
    await store.createRelease(aRelease(app.name, first.id));

    await store.deleteApp(app.name);

    expect(await store.getApp(app.name)).toBeUndefined();
    expect(await store.findAppByHookId(app.hookId)).toBeUndefined();
    expect(await rawItem(`HOOK#${app.hookId}`, 'HOOK')).toBeUndefined();
    expect(await store.listBuilds(app.name)).toEqual([]);
    expect(await store.listReleases(app.name)).toEqual([]);
  });

  it('rejects deleting a missing app with NotFoundError', async () => {
    await expect(store.deleteApp(uniqueName('ghost'))).rejects.toBeInstanceOf(NotFoundError);
  });

  it('leaves other apps untouched when deleting one', async () => {
    const kept = anApp();
    const doomed = anApp();
    await store.createApp(kept);
    await store.createApp(doomed);
    const keptBuild = aBuild(kept.name);
    await store.recordBuild(keptBuild);

    await store.deleteApp(doomed.name);

    expect(await store.getApp(kept.name)).toEqual(kept);
    expect(await store.getBuild(kept.name, keptBuild.id)).toEqual(keptBuild);
  });
});

describe('builds', () => {
  let app: App;

  beforeEach(async () => {
    app = anApp();
    await store.createApp(app);
  });

  it('records a build without a delivery and reads it back unchanged', async () => {
    const build = aBuild(app.name, { repoUrl: 'git@gitlab.example.com:group/project.git' });

    const result = await store.recordBuild(build);

    expect(result).toEqual({ build, duplicate: false });
    expect(await store.getBuild(app.name, build.id)).toEqual(build);
  });

  it('rejects a second build with the same id with ConflictError', async () => {
    const build = aBuild(app.name);
    await store.recordBuild(build);

    await expect(store.recordBuild({ ...build, commit: 'f'.repeat(40) })).rejects.toBeInstanceOf(ConflictError);
    expect((await store.getBuild(app.name, build.id))?.commit).toBe(build.commit);
  });

  it('records the delivery with the build, expiring after 14 days', async () => {
    const build = aBuild(app.name, { deliveryId: 'key-1' });
    const receivedAt = '2026-11-01T10:00:00.000Z';

    await store.recordBuild(build, { source: app.hookId, key: 'key-1', receivedAt });

    const delivery = await rawItem(`DELIVERY#${app.hookId}#key-1`, 'DELIVERY');
    expect(delivery).toMatchObject({ app: app.name, build: build.id, receivedAt });
    expect(delivery?.[TABLE_SCHEMA.ttlAttribute]).toBe(Date.parse(receivedAt) / 1000 + DELIVERY_TTL_SECONDS);
  });

  it('returns the earlier build for a redelivery and stores nothing new', async () => {
    const first = aBuild(app.name);
    const delivery = { source: app.hookId, key: `key-${newId()}`, receivedAt: '2026-11-01T10:00:00.000Z' };
    await store.recordBuild(first, delivery);

    const again = await store.recordBuild(aBuild(app.name), { ...delivery, receivedAt: '2026-11-01T10:00:05.000Z' });

    expect(again).toEqual({ build: first, duplicate: true });
    expect((await store.listBuilds(app.name)).map((b) => b.id)).toEqual([first.id]);
  });

  it('treats the same key from another source as a different delivery', async () => {
    const key = `key-${newId()}`;
    await store.recordBuild(aBuild(app.name), { source: 'hook-a', key, receivedAt: '2026-11-01T10:00:00.000Z' });

    const other = await store.recordBuild(aBuild(app.name), {
      source: 'hook-b',
      key,
      receivedAt: '2026-11-01T10:00:00.000Z',
    });

    expect(other.duplicate).toBe(false);
    expect(await store.listBuilds(app.name)).toHaveLength(2);
  });

  it('records exactly one build for 50 concurrent deliveries with the same key', async () => {
    const delivery = { source: app.hookId, key: `key-${newId()}`, receivedAt: '2026-11-01T10:00:00.000Z' };
    const candidates = Array.from({ length: 50 }, () => aBuild(app.name));

    const results = await Promise.all(candidates.map((build) => store.recordBuild(build, delivery)));

    const stored = await store.listBuilds(app.name);
    expect(stored).toHaveLength(1);
    const winner = stored[0] as Build;
    expect(results.map((r) => r.build.id)).toEqual(Array(50).fill(winner.id));
    expect(results.filter((r) => r.duplicate)).toHaveLength(49);
    expect(results.filter((r) => !r.duplicate)).toHaveLength(1);
  });

  describe('when a transaction loses to a concurrent one (TransactionConflict)', () => {
    // DynamoDB Local serialises transactions, so the conflict real DynamoDB reports is injected here.
    let conflicting: DynamoDBClient;
    let attempts: number;
    let conflictsLeft: number;
    let beforeConflict: (() => Promise<void>) | undefined;

    beforeEach(() => {
      attempts = 0;
      beforeConflict = undefined;
      conflicting = new DynamoDBClient({
        endpoint: process.env.SLIPWAY_TEST_DYNAMODB_ENDPOINT,
        region: LOCAL_REGION,
        credentials: LOCAL_CREDENTIALS,
      });
      conflicting.middlewareStack.add(
        (next) => async (args) => {
          const input = args.input as { TransactItems?: unknown[] };
          if (!input.TransactItems) return next(args);
          attempts += 1;
          if (conflictsLeft <= 0) return next(args);
          conflictsLeft -= 1;
          await beforeConflict?.();
          throw new TransactionCanceledException({
            message: 'Transaction cancelled, please refer cancellation reasons for specific reasons',
            $metadata: {},
            CancellationReasons: [{ Code: 'TransactionConflict' }, { Code: 'None' }],
          });
        },
        { step: 'initialize', name: 'injectTransactionConflict' },
      );
      store = new DynamoDbStore({ tableName: table.tableName, client: DynamoDBDocumentClient.from(conflicting) });
    });

    afterEach(() => {
      conflicting.destroy();
    });

    it('retries and records the build', async () => {
      conflictsLeft = 3;
      const build = aBuild(app.name);

      const result = await store.recordBuild(build, { source: app.hookId, key: `key-${newId()}`, receivedAt: '' });

      expect(result).toEqual({ build, duplicate: false });
      expect(attempts).toBe(4);
      expect(await store.getBuild(app.name, build.id)).toEqual(build);
    });

    it('returns the winner as a duplicate when the concurrent delivery committed meanwhile', async () => {
      conflictsLeft = 1;
      const delivery = { source: app.hookId, key: `key-${newId()}`, receivedAt: '2026-11-01T10:00:00.000Z' };
      const winner = aBuild(app.name);
      const other = new DynamoDbStore({ tableName: table.tableName, client: table.client });
      beforeConflict = async () => {
        await other.recordBuild(winner, delivery);
      };

      const result = await store.recordBuild(aBuild(app.name), delivery);

      expect(result).toEqual({ build: winner, duplicate: true });
      expect((await store.listBuilds(app.name)).map((b) => b.id)).toEqual([winner.id]);
    });

    it('gives up after a bounded number of attempts without writing anything', async () => {
      conflictsLeft = Number.POSITIVE_INFINITY;
      const build = aBuild(app.name);

      await expect(
        store.recordBuild(build, { source: app.hookId, key: `key-${newId()}`, receivedAt: '' }),
      ).rejects.toBeInstanceOf(StaleWriteError);
      expect(attempts).toBe(10);
      expect(await store.getBuild(app.name, build.id)).toBeUndefined();
    });
  });

  it('records a redelivery afresh once the build it named is gone with its app', async () => {
    const delivery = { source: app.hookId, key: `key-${newId()}`, receivedAt: '2026-11-01T10:00:00.000Z' };
    await store.recordBuild(aBuild(app.name), delivery);
    await store.deleteApp(app.name);
    await store.createApp({ ...app, hookId: app.hookId });
    const fresh = aBuild(app.name);

    const result = await store.recordBuild(fresh, delivery);

    expect(result).toEqual({ build: fresh, duplicate: false });
  });

  it('lists builds newest first and honours the limit', async () => {
    const times = ['2026-11-01T10:00:00Z', '2026-11-01T11:00:00Z', '2026-11-01T12:00:00Z'];
    const builds = times.map((t) => aBuild(app.name, { id: newId(new Date(t)), createdAt: t }));
    for (const build of [builds[1], builds[2], builds[0]] as Build[]) await store.recordBuild(build);

    const all = await store.listBuilds(app.name);
    const newest = await store.listBuilds(app.name, { limit: 2 });

    expect(all.map((b) => b.createdAt)).toEqual([...times].reverse());
    expect(newest.map((b) => b.createdAt)).toEqual([times[2], times[1]]);
  });

  it('does not mix releases into the build list or builds into the release list', async () => {
    const build = aBuild(app.name);
    await store.recordBuild(build);
    const release = aRelease(app.name, build.id);
    await store.createRelease(release);

    expect(await store.listBuilds(app.name)).toEqual([build]);
    expect(await store.listReleases(app.name)).toEqual([release]);
  });

  it('moves a build through its states, applying the patch', async () => {
    const build = aBuild(app.name);
    await store.recordBuild(build);

    const running = await store.transitionBuild(app.name, build.id, 'queued', 'running', {
      startedAt: '2026-11-01T10:01:00.000Z',
    });
    const done = await store.transitionBuild(app.name, build.id, 'running', 'succeeded', {
      endedAt: '2026-11-01T10:04:00.000Z',
      images: { web: `sha256:${'d'.repeat(64)}` },
    });

    expect(running).toMatchObject({ status: 'running', startedAt: '2026-11-01T10:01:00.000Z' });
    expect(done).toEqual({
      ...build,
      status: 'succeeded',
      startedAt: '2026-11-01T10:01:00.000Z',
      endedAt: '2026-11-01T10:04:00.000Z',
      images: { web: `sha256:${'d'.repeat(64)}` },
    });
    expect(await store.getBuild(app.name, build.id)).toEqual(done);
  });

  it('rejects an illegal build transition before touching the table', async () => {
    const build = aBuild(app.name, { status: 'queued' });
    await store.recordBuild(build);

    await expect(store.transitionBuild(app.name, build.id, 'queued', 'succeeded')).rejects.toBeInstanceOf(
      IllegalTransitionError,
    );
    expect((await store.getBuild(app.name, build.id))?.status).toBe('queued');
  });

  it('rejects leaving a terminal build state', async () => {
    const build = aBuild(app.name, { status: 'failed' });
    await store.recordBuild(build);

    await expect(store.transitionBuild(app.name, build.id, 'failed', 'running')).rejects.toBeInstanceOf(
      IllegalTransitionError,
    );
  });

  it('rejects a transition from a status the build is no longer in with StaleWriteError', async () => {
    const build = aBuild(app.name);
    await store.recordBuild(build);
    await store.transitionBuild(app.name, build.id, 'queued', 'superseded', { reason: 'newer push' });

    await expect(store.transitionBuild(app.name, build.id, 'queued', 'running')).rejects.toBeInstanceOf(
      StaleWriteError,
    );
    expect(await store.getBuild(app.name, build.id)).toMatchObject({ status: 'superseded', reason: 'newer push' });
  });

  it('rejects a transition of a missing build with NotFoundError', async () => {
    await expect(store.transitionBuild(app.name, newId(), 'queued', 'running')).rejects.toBeInstanceOf(NotFoundError);
  });

  it("keeps a build's start marker until the builder has it", async () => {
    const build = aBuild(app.name, { createdAt: new Date(Date.now() - 60_000).toISOString() });
    await store.recordBuild(build);
    const unstarted = async () =>
      (await store.listUnstartedBuilds(new Date().toISOString())).filter((m) => m.build === build.id);

    await store.updateBuildRun(app.name, build.id, { phase: 'QUEUED' });
    expect(await unstarted()).toEqual([{ app: app.name, build: build.id }]);
    await store.updateBuildRun(app.name, build.id, { builderRef: 'run-1', logLocation: 'log' });
    expect(await unstarted()).toEqual([]);
  });

  it("removes a build's start marker when it leaves queued", async () => {
    const build = aBuild(app.name, { createdAt: new Date(Date.now() - 60_000).toISOString() });
    await store.recordBuild(build);

    await store.transitionBuild(app.name, build.id, 'queued', 'superseded', { reason: 'newer push' });

    expect((await store.listUnstartedBuilds(new Date().toISOString())).map((m) => m.build)).not.toContain(build.id);
  });
});

describe('releases', () => {
  let app: App;

  beforeEach(async () => {
    app = anApp();
    await store.createApp(app);
  });

  it('creates a release once and rejects the same id again with ConflictError', async () => {
    const release = aRelease(app.name, newId());
    await store.createRelease(release);

    await expect(store.createRelease(release)).rejects.toBeInstanceOf(ConflictError);
    expect(await store.getRelease(app.name, release.id)).toEqual(release);
  });

  it('moves a release from pending to live and rejects illegal and stale moves', async () => {
    const release = aRelease(app.name, newId());
    await store.createRelease(release);

    await store.transitionRelease(app.name, release.id, 'pending', 'deploying');
    const live = await store.transitionRelease(app.name, release.id, 'deploying', 'live', {
      liveAt: '2026-11-01T10:10:00.000Z',
    });

    expect(live).toMatchObject({ status: 'live', liveAt: '2026-11-01T10:10:00.000Z' });
    await expect(store.transitionRelease(app.name, release.id, 'live', 'deploying')).rejects.toBeInstanceOf(
      IllegalTransitionError,
    );
    await expect(store.transitionRelease(app.name, release.id, 'deploying', 'failed')).rejects.toBeInstanceOf(
      StaleWriteError,
    );
  });

  it('lists releases newest first', async () => {
    const older = aRelease(app.name, newId(), { id: newId(new Date('2026-11-01T09:00:00Z')) });
    const newer = aRelease(app.name, newId(), { id: newId(new Date('2026-11-01T10:00:00Z')) });
    await store.createRelease(newer);
    await store.createRelease(older);

    expect((await store.listReleases(app.name)).map((r) => r.id)).toEqual([newer.id, older.id]);
    expect((await store.listReleases(app.name, { limit: 1 })).map((r) => r.id)).toEqual([newer.id]);
  });
});

describe('configuration', () => {
  it('stores and replaces the GitLab connection', async () => {
    const connection = {
      url: 'https://gitlab.example.com',
      username: 'slipway-bot',
      tokenCiphertext: 'v1:ciphertext',
      scopes: ['api'],
      knownHosts: 'gitlab.example.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl',
      connectedAt: '2026-11-01T10:00:00.000Z',
    };

    await store.putGitlabConnection(connection);
    const first = await store.getGitlabConnection();
    await store.putGitlabConnection({ ...connection, username: 'other-bot', tokenExpiresAt: '2027-01-01' });

    expect(first).toEqual(connection);
    expect(await store.getGitlabConnection()).toEqual({
      ...connection,
      username: 'other-bot',
      tokenExpiresAt: '2027-01-01',
    });
  });

  it('sets, replaces and clears the system-hook token hash', async () => {
    await store.setSystemHookTokenHash('a'.repeat(64));
    const first = await store.getSystemHookTokenHash();
    await store.setSystemHookTokenHash('b'.repeat(64));
    const second = await store.getSystemHookTokenHash();

    await store.setSystemHookTokenHash(undefined);

    expect([first, second]).toEqual(['a'.repeat(64), 'b'.repeat(64)]);
    expect(await store.getSystemHookTokenHash()).toBeUndefined();
  });
});

describe('item layout', () => {
  it('keeps apps under one partition and builds under the app partition', async () => {
    const app = anApp();
    await store.createApp(app);
    const build = aBuild(app.name);
    await store.recordBuild(build);

    const apps = await table.client.send(
      new QueryCommand({
        TableName: table.tableName,
        KeyConditionExpression: 'pk = :pk AND sk = :sk',
        ExpressionAttributeValues: { ':pk': 'APPS', ':sk': `APP#${app.name}` },
      }),
    );

    expect(apps.Items?.[0]).toMatchObject({ gsi1pk: 'PROJ#group/sub/project', gsi1sk: `APP#${app.name}` });
    expect(await rawItem(`APP#${app.name}`, `BUILD#${build.id}`)).toMatchObject({ id: build.id });
    expect(await rawItem(`HOOK#${app.hookId}`, 'HOOK')).toMatchObject({ app: app.name });
  });
});

describe('recording how a build runs', () => {
  it('sets the builder reference, log location and phase while the build is queued or running', async () => {
    const app = uniqueName();
    const build = aBuild(app);
    await store.recordBuild(build);

    await store.updateBuildRun(app, build.id, { builderRef: 'local:1', logLocation: '/tmp/1.log' });
    await store.transitionBuild(app, build.id, 'queued', 'running', { startedAt: '2026-11-24T06:00:00.000Z' });
    await store.updateBuildRun(app, build.id, { phase: 'BUILD' });

    expect(await store.getBuild(app, build.id)).toMatchObject({
      status: 'running',
      builderRef: 'local:1',
      logLocation: '/tmp/1.log',
      phase: 'BUILD',
    });
  });

  it('refuses to change an ended build, and says when the build is missing', async () => {
    const app = uniqueName();
    const build = aBuild(app);
    await store.recordBuild(build);
    await store.transitionBuild(app, build.id, 'queued', 'failed', { reason: 'no deploy key' });

    await expect(store.updateBuildRun(app, build.id, { phase: 'BUILD' })).rejects.toThrow(StaleWriteError);
    await expect(store.updateBuildRun(app, newId(), { phase: 'BUILD' })).rejects.toThrow(NotFoundError);
  });
});

describe('the rollout lock lease and the outcome fields', () => {
  it('takes over a lock older than its lease, exactly once among racing takers', async () => {
    let now = new Date('2026-11-24T08:00:00.000Z');
    const clock = { now: () => now };
    const timed = new DynamoDbStore({ tableName: table.tableName, client: table.client, clock });
    const app = anApp();
    await timed.createApp(app);

    expect(await takeRolloutTurn({ store: timed, clock }, app.name, 'build-dead', 'immediate')).toBe('acquired');
    now = new Date(now.getTime() + ROLLOUT_LEASE_MS - 1000);
    expect(await takeRolloutTurn({ store: timed, clock }, app.name, 'build-b', 'immediate')).toBe('wait');

    now = new Date(now.getTime() + 2000);
    const takers = Array.from({ length: 8 }, (_, i) => `build-${i}`);
    const turns = await Promise.all(
      takers.map((b) => takeRolloutTurn({ store: timed, clock }, app.name, b, 'immediate')),
    );
    expect(turns.filter((t) => t === 'acquired')).toHaveLength(1);
    const winner = takers[turns.indexOf('acquired')] as string;
    // The new holder holds a fresh lease: nobody else gets in, and the dead holder cannot give it back.
    await timed.releaseRollout(app.name, 'build-dead');
    expect(await takeRolloutTurn({ store: timed, clock }, app.name, 'build-late', 'immediate')).toBe('wait');
    await timed.releaseRollout(app.name, winner);
    expect(await takeRolloutTurn({ store: timed, clock }, app.name, 'build-late', 'immediate')).toBe('acquired');
  });

  it('records a build outcome and release progress without touching their status', async () => {
    const app = anApp();
    await store.createApp(app);
    const build = aBuild(app.name);
    await store.recordBuild(build);
    await store.recordBuildOutcome(app.name, build.id, {
      outcome: 'superseded',
      report: { gitlab: 'ok', slack: 'skipped' },
    });
    expect(await store.getBuild(app.name, build.id)).toMatchObject({
      status: 'queued',
      outcome: 'superseded',
      report: { gitlab: 'ok', slack: 'skipped' },
    });
    await expect(store.recordBuildOutcome(app.name, newId(), { outcome: 'failed' })).rejects.toBeInstanceOf(
      NotFoundError,
    );

    const release: Release = {
      id: newId(),
      app: app.name,
      status: 'deploying',
      build: build.id,
      commit: build.commit,
      images: { app: `sha256:${'a'.repeat(64)}` },
      createdAt: new Date().toISOString(),
    };
    await store.createRelease(release);
    await store.updateRelease(app.name, release.id, { running: 1, desired: 2, deploymentId: 7 });
    expect(await store.getRelease(app.name, release.id)).toMatchObject({
      status: 'deploying',
      running: 1,
      desired: 2,
      deploymentId: 7,
    });
    await expect(store.updateRelease(app.name, newId(), { running: 1 })).rejects.toBeInstanceOf(NotFoundError);
  });
});
