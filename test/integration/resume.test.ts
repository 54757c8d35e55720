import { DynamoDbStore } from '../../functions/adapters/dynamodb/store';
import { newHookId, newId } from '../../functions/domain/ids';
import type { App, Build, Release } from '../../functions/domain/model';
import type { Workflow } from '../../functions/domain/ports';
import { resumeInFlight } from '../../functions/domain/resume';
import { type FreshTable, freshTable } from '../support/dynamodb';

/** Local mode's restart: what a previous process left in flight starts again, nothing else does. */

let table: FreshTable;
let store: DynamoDbStore;

beforeAll(async () => {
  table = await freshTable();
  store = new DynamoDbStore({ tableName: table.tableName, client: table.client });
});

afterAll(() => {
  table?.raw.destroy();
});

class Recorder implements Workflow {
  readonly started: Array<{ app: string; build: string; release?: string }> = [];
  failFor?: string;
  async startRelease(input: { app: string; build: string; release?: string }): Promise<string> {
    if (input.app === this.failFor) throw new Error('no executor');
    this.started.push(input);
    return `x:${input.build}`;
  }
}

const now = '2026-11-24T08:00:00.000Z';

async function anApp(name: string): Promise<App> {
  const app: App = {
    name,
    project: 'group/web',
    branch: 'main',
    mode: 'superseded',
    status: 'active',
    hookId: newHookId(),
    linked: true,
    createdAt: now,
    updatedAt: now,
    version: 1,
  };
  await store.createApp(app);
  return app;
}

async function aBuild(app: string, status: Build['status'], extra: Partial<Build> = {}): Promise<Build> {
  const build: Build = {
    id: newId(),
    app,
    status: 'queued',
    commit: 'c'.repeat(40),
    ref: 'refs/heads/main',
    message: 'Change',
    author: 'Ada',
    trigger: 'push',
    createdAt: now,
  };
  await store.recordBuild(build);
  if (status !== 'queued') await store.transitionBuild(app, build.id, 'queued', 'running', { startedAt: now });
  if (status !== 'queued' && status !== 'running') await store.transitionBuild(app, build.id, 'running', status);
  if (extra.outcome) await store.recordBuildOutcome(app, build.id, { outcome: extra.outcome });
  return (await store.getBuild(app, build.id)) as Build;
}

async function aRelease(
  app: string,
  build: string,
  status: 'pending' | 'live',
  reason?: string,
  extra: Partial<Release> = {},
): Promise<Release> {
  const release: Release = {
    id: newId(),
    app,
    status: 'pending',
    build,
    commit: 'c'.repeat(40),
    images: { app: `sha256:${'d'.repeat(64)}` },
    createdAt: now,
    ...(reason ? { reason } : {}),
    ...extra,
  };
  await store.createRelease(release);
  if (status === 'live') {
    await store.transitionRelease(app, release.id, 'pending', 'deploying');
    await store.promoteRelease(app, release.id);
  }
  return release;
}

it('starts again every build without an outcome and every rollback or promotion in flight; fails builds that were running', async () => {
  const app = await anApp(`resume-${Date.now().toString(36)}`);
  const queued = await aBuild(app.name, 'queued');
  const running = await aBuild(app.name, 'running');
  const built = await aBuild(app.name, 'succeeded');
  const done = await aBuild(app.name, 'succeeded', { outcome: 'live' });
  const skipped = await aBuild(app.name, 'succeeded', { outcome: 'superseded' });
  await aRelease(app.name, done.id, 'live');
  const rollback = await aRelease(app.name, done.id, 'pending', 'rollback to release 01ABC');
  const promotion = await aRelease(app.name, done.id, 'pending', 'promoted from staging', {
    environment: 'production',
    promotedFrom: rollback.id,
  });
  await aRelease(app.name, built.id, 'pending'); // resumed through its build's execution
  const other = await anApp(`resume-other-${Date.now().toString(36)}`);
  await aBuild(other.name, 'queued');

  const workflow = new Recorder();
  workflow.failFor = other.name;
  const errors: string[] = [];
  const resumed = await resumeInFlight({ store, workflow }, { onError: (_e, name) => errors.push(name) });

  expect(new Set(resumed.builds)).toEqual(new Set([queued.id, running.id, built.id]));
  expect(new Set(resumed.releases)).toEqual(new Set([rollback.id, promotion.id]));
  expect(workflow.started).toEqual(
    expect.arrayContaining([
      { app: app.name, build: queued.id },
      { app: app.name, build: running.id },
      { app: app.name, build: built.id },
      { app: app.name, build: done.id, release: rollback.id },
      { app: app.name, build: done.id, release: promotion.id },
    ]),
  );
  expect(workflow.started.some((s) => s.build === skipped.id)).toBe(false);
  expect(workflow.started.filter((s) => s.build === done.id && !s.release)).toEqual([]);
  expect(await store.getBuild(app.name, running.id)).toMatchObject({
    status: 'failed',
    reason: expect.stringMatching(/local mode stopped/),
  });
  // One app's trouble does not stop the others.
  expect(errors).toEqual([other.name]);
});
