import { DynamoDbStore } from '../../functions/adapters/dynamodb/store';
import { applyBuildEvent } from '../../functions/domain/build-events';
import { newHookId, newId } from '../../functions/domain/ids';
import type { App, AppMode, Build } from '../../functions/domain/model';
import type { Builder, BuildJob, Deployer, DeployTarget, Registry, RolloutStatus } from '../../functions/domain/ports';
import { type ReleaseStepDeps, rollbackRelease } from '../../functions/domain/releases';
import { startLocalExecution } from '../../functions/workflow/local-executor';
import { type FreshTable, freshTable } from '../support/dynamodb';

/**
 * The release workflow end to end: the real definition (workflow/release.asl.json) run by the
 * local executor, against DynamoDB Local. Builds finish through applyBuildEvent as builder
 * reports would; the Deployer is a small in-test one (the ECS deployer has its own tests with
 * ECS mocked) that counts rollouts in flight per app.
 */

let table: FreshTable;
let store: DynamoDbStore;

beforeAll(async () => {
  table = await freshTable();
  store = new DynamoDbStore({ tableName: table.tableName, client: table.client });
  await store.putGitlabConnection({
    url: 'https://gitlab.example.com',
    username: 'slipway',
    tokenCiphertext: 'ciphertext',
    scopes: ['api'],
    knownHosts: 'gitlab.example.com ssh-ed25519 AAAA',
    connectedAt: new Date().toISOString(),
  });
});

afterAll(() => {
  table?.raw.destroy();
});

const digest = (c: string) => `sha256:${c.repeat(64)}`;

/** Finishes each build as the test says (succeeded by default) through build events. */
class ScriptedBuilder implements Builder {
  readonly outcomes = new Map<string, { status: 'succeeded' | 'failed'; reason?: string; delayMs?: number }>();
  readonly started: string[] = [];
  async start(job: BuildJob): Promise<{ ref: string; logLocation: string }> {
    this.started.push(job.buildId);
    const plan = this.outcomes.get(job.buildId) ?? { status: 'succeeded' };
    setTimeout(async () => {
      const at = new Date().toISOString();
      await applyBuildEvent(store, { app: job.app, buildId: job.buildId, kind: 'started', at });
      await applyBuildEvent(store, {
        app: job.app,
        buildId: job.buildId,
        kind: 'finished',
        status: plan.status,
        reason: plan.reason,
        images:
          plan.status === 'succeeded' ? { app: digest(job.buildId.at(-1)?.toLowerCase() === 'f' ? 'f' : 'a') } : {},
        at: new Date().toISOString(),
      });
    }, plan.delayMs ?? 5);
    return { ref: `local-run-${job.buildId}`, logLocation: `/tmp/${job.buildId}.log` };
  }
}

/** Rolls out in memory: a few in_progress polls, then completed (or rolled back when told). */
class TestDeployer implements Deployer {
  readonly failing = new Set<string>();
  readonly deployed: Array<{ app: string; revision: string }> = [];
  readonly active = new Map<string, number>();
  maxActive = 0;
  private readonly polls = new Map<string, number>();
  private seq = 0;
  async prepare(target: DeployTarget, images: Record<string, string>): Promise<{ revision: string }> {
    return { revision: `${target.app}:${++this.seq}:${Object.values(images).join(',')}` };
  }
  async rollout(target: DeployTarget, revision: string): Promise<{ deployment: string }> {
    const now = (this.active.get(target.app) ?? 0) + 1;
    this.active.set(target.app, now);
    this.maxActive = Math.max(this.maxActive, now);
    const deployment = `dep-${++this.seq}|${revision}`;
    this.polls.set(deployment, 0);
    return { deployment };
  }
  async status(target: DeployTarget, deployment: string): Promise<RolloutStatus> {
    const polls = (this.polls.get(deployment) ?? 0) + 1;
    this.polls.set(deployment, polls);
    if (polls < 3) return { state: 'in_progress', running: 0, desired: 1 };
    if (polls === 3) {
      this.active.set(target.app, (this.active.get(target.app) ?? 1) - 1);
      if (this.failing.has(target.app)) {
        return { state: 'rolled_back', reason: 'circuit breaker: tasks failed to start; rolled back' };
      }
      this.deployed.push({ app: target.app, revision: deployment.split('|')[1] ?? '' });
    }
    return this.failing.has(target.app) ? { state: 'rolled_back', reason: 'rolled back' } : { state: 'completed' };
  }
}

const registry: Registry = { ensureRepository: async (app) => `registry.local/${app}` };

async function anApp(mode: AppMode = 'superseded'): Promise<App> {
  const now = new Date().toISOString();
  const app: App = {
    name: `app-${Math.random().toString(36).slice(2, 10)}`,
    project: 'group/project',
    branch: 'main',
    mode,
    status: 'active',
    hookId: newHookId(),
    linked: true,
    deployKeyCiphertext: 'key-ciphertext',
    repoUrl: 'git@gitlab.example.com:group/project.git',
    cluster: 'c',
    service: 's',
    createdAt: now,
    updatedAt: now,
    version: 1,
  };
  await store.createApp(app);
  return app;
}

async function aBuild(app: string): Promise<Build> {
  const build: Build = {
    id: newId(),
    app,
    status: 'queued',
    commit: 'a'.repeat(40),
    ref: 'refs/heads/main',
    message: 'Change',
    author: 'Jane',
    trigger: 'push',
    createdAt: new Date().toISOString(),
  };
  await store.recordBuild(build);
  await new Promise((r) => setTimeout(r, 2)); // distinct ULID milliseconds: push order = id order
  return build;
}

function world() {
  const builder = new ScriptedBuilder();
  const deployer = new TestDeployer();
  const deps: ReleaseStepDeps = { store, builder, registry, deployer };
  const release = (app: string, build: string) => startLocalExecution(deps, { app, build }, { waitMs: 5 }).done;
  return { builder, deployer, deps, release };
}

describe('release workflow (local executor, DynamoDB Local)', () => {
  it('builds, rolls out and records the release live; the previous live one becomes replaced', async () => {
    const { release, deployer } = world();
    const app = await anApp();
    const first = await aBuild(app.name);
    expect(await release(app.name, first.id)).toEqual({ status: 'SUCCEEDED', output: expect.anything() });
    const second = await aBuild(app.name);
    expect((await release(app.name, second.id)).status).toBe('SUCCEEDED');

    const releases = await store.listReleases(app.name);
    expect(releases.map((r) => [r.build, r.status])).toEqual([
      [second.id, 'live'],
      [first.id, 'replaced'],
    ]);
    expect(releases[0]?.images).toEqual((await store.getBuild(app.name, second.id))?.images);
    expect(releases[0]?.liveAt).toBeDefined();
    expect(releases[1]?.endedAt).toBeDefined();
    expect(deployer.deployed).toHaveLength(2);
    // The lock is free again: a third release goes through.
    const third = await aBuild(app.name);
    expect((await release(app.name, third.id)).status).toBe('SUCCEEDED');
    expect((await store.listReleases(app.name)).filter((r) => r.status === 'live').map((r) => r.build)).toEqual([
      third.id,
    ]);
  });

  it('tells an observer every state the execution entered, in order, and each step it ran', async () => {
    const { deps } = world();
    const app = await anApp();
    const build = await aBuild(app.name);
    const entered: string[] = [];
    const steps: string[] = [];
    const result = await startLocalExecution(
      deps,
      { app: app.name, build: build.id },
      {
        waitMs: 5,
        onEvent: (event) => {
          const name = (event as { state?: { name?: string } }).state?.name;
          if (event.type === 'StateEntered' && name) entered.push(name);
        },
        aroundStep: async (input, run) => {
          steps.push(input.action);
          return run();
        },
      },
    ).done;
    expect(result.status).toBe('SUCCEEDED');
    expect(entered[0]).toBe('Start');
    expect(entered.at(-1)).toBe('Recorded');
    for (const state of ['StartBuild', 'AcquireRollout', 'Prepare', 'Rollout', 'RecordLive', 'ReleaseLock', 'Report']) {
      expect(entered).toContain(state);
    }
    expect(steps[0]).toBe('startBuild');
    expect(steps.slice(-3)).toEqual(['recordLive', 'releaseLock', 'report']);
  });

  it('records a failed build and creates no release', async () => {
    const { release, builder, deployer } = world();
    const app = await anApp();
    const build = await aBuild(app.name);
    builder.outcomes.set(build.id, { status: 'failed', reason: 'build: docker build exited 1' });
    const result = await release(app.name, build.id);
    expect(result).toMatchObject({ status: 'SUCCEEDED', output: { result: { outcome: 'failed' } } });
    expect(await store.getBuild(app.name, build.id)).toMatchObject({
      status: 'failed',
      reason: 'build: docker build exited 1',
    });
    expect(await store.listReleases(app.name)).toEqual([]);
    expect(deployer.deployed).toEqual([]);
  });

  it('records a rollout the circuit breaker rolled back, and keeps the live release live', async () => {
    const { release, deployer } = world();
    const app = await anApp();
    const good = await aBuild(app.name);
    expect((await release(app.name, good.id)).status).toBe('SUCCEEDED');
    deployer.failing.add(app.name);
    const bad = await aBuild(app.name);
    expect(await release(app.name, bad.id)).toMatchObject({
      status: 'SUCCEEDED',
      output: { result: { outcome: 'rolled_back' } },
    });
    const [latest, previous] = await store.listReleases(app.name);
    expect(latest).toMatchObject({ build: bad.id, status: 'rolled_back' });
    expect(latest?.reason).toMatch(/circuit breaker/);
    expect(previous).toMatchObject({ build: good.id, status: 'live' });
  });

  it('records a failure when a step fails for good (deployer error) and frees the lock', async () => {
    const { release, deployer, deps } = world();
    const app = await anApp();
    deployer.prepare = async () => {
      throw Object.assign(new Error('task definition has no container named web'), { name: 'ValidationError' });
    };
    const build = await aBuild(app.name);
    expect(await release(app.name, build.id)).toMatchObject({
      status: 'SUCCEEDED',
      output: { result: { outcome: 'failed' } },
    });
    const [failed] = await store.listReleases(app.name);
    expect(failed).toMatchObject({ status: 'failed', reason: 'task definition has no container named web' });
    expect(await deps.store.acquireRollout(app.name, 'someone-else', 'immediate')).toBe('acquired');
  });

  it('never lets two executions of one app roll out at once; queued mode deploys every build in order', async () => {
    const { release, deployer } = world();
    const app = await anApp('queued');
    const builds: Build[] = [];
    for (let i = 0; i < 5; i++) builds.push(await aBuild(app.name));
    const results = await Promise.all(builds.map((b) => release(app.name, b.id)));
    expect(results.map((r) => r.status)).toEqual(Array(5).fill('SUCCEEDED'));
    expect(deployer.maxActive).toBe(1);
    const releases = await store.listReleases(app.name);
    // Newest first: releases were created in push order.
    expect(releases.map((r) => r.build)).toEqual(builds.map((b) => b.id).reverse());
    expect(releases.filter((r) => r.status === 'live').map((r) => r.build)).toEqual([builds[4]?.id]);
  });

  it('two executions for the same build and app at once: the lock is taken once', async () => {
    const app = await anApp();
    const build = await aBuild(app.name);
    const other = await aBuild(app.name);
    const turns = await Promise.all(
      Array.from({ length: 10 }, (_, i) => store.acquireRollout(app.name, i % 2 ? build.id : other.id, 'immediate')),
    );
    const winners = new Set(turns.flatMap((t, i) => (t === 'acquired' ? [i % 2 ? build.id : other.id] : [])));
    expect(winners.size).toBe(1);
  });

  it('superseded mode: three pushes in a row, only the newest deploys', async () => {
    const { release, deployer } = world();
    const app = await anApp('superseded');
    const builds = [await aBuild(app.name), await aBuild(app.name), await aBuild(app.name)];
    const results = await Promise.all(builds.map((b) => release(app.name, b.id)));
    expect(results.map((r) => r.status)).toEqual(['SUCCEEDED', 'SUCCEEDED', 'SUCCEEDED']);
    const releases = await store.listReleases(app.name);
    expect(releases.map((r) => [r.build, r.status])).toEqual([[builds[2]?.id, 'live']]);
    expect(deployer.deployed).toHaveLength(1);
    expect(deployer.maxActive).toBe(1);
  });

  it('superseded mode: a build overtaken while it runs is stopped and recorded superseded', async () => {
    const { deployer } = world();
    const app = await anApp('superseded');
    const canceled: Array<{ ref: string; reason: string }> = [];
    // Runs until told otherwise: started at once, finished only if not stopped within 2 s.
    const slow: Builder & { cancel(ref: string, reason: string): Promise<void> } = {
      async start(job) {
        await applyBuildEvent(store, {
          app: job.app,
          buildId: job.buildId,
          kind: 'started',
          at: new Date().toISOString(),
        });
        setTimeout(() => {
          if (canceled.some((c) => c.ref === `slow-${job.buildId}`)) return;
          void applyBuildEvent(store, {
            app: job.app,
            buildId: job.buildId,
            kind: 'finished',
            status: 'succeeded',
            images: { app: digest('b') },
            at: new Date().toISOString(),
          });
        }, 2000);
        return { ref: `slow-${job.buildId}`, logLocation: '/dev/null' };
      },
      async cancel(ref, reason) {
        canceled.push({ ref, reason });
      },
    };
    const deps: ReleaseStepDeps = { store, builder: slow, registry, deployer };
    const older = await aBuild(app.name);
    const olderRun = startLocalExecution(deps, { app: app.name, build: older.id }, { waitMs: 5 }).done;
    for (let i = 0; i < 100 && (await store.getBuild(app.name, older.id))?.status !== 'running'; i++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const newer = await aBuild(app.name);
    const newerRun = startLocalExecution(deps, { app: app.name, build: newer.id }, { waitMs: 5 }).done;

    expect(await olderRun).toMatchObject({ status: 'SUCCEEDED', output: { result: { outcome: 'superseded' } } });
    expect(await store.getBuild(app.name, older.id)).toMatchObject({
      status: 'superseded',
      outcome: 'superseded',
      reason: expect.stringContaining(newer.id),
      endedAt: expect.any(String),
    });
    expect(canceled).toEqual([{ ref: `slow-${older.id}`, reason: expect.stringContaining(newer.id) }]);
    expect(await newerRun).toMatchObject({ status: 'SUCCEEDED', output: { result: { outcome: 'live' } } });
    expect((await store.listReleases(app.name)).map((r) => [r.build, r.status])).toEqual([[newer.id, 'live']]);
  });

  it('queued mode: an older build is never stopped for a newer one', async () => {
    const { release, builder } = world();
    const app = await anApp('queued');
    const older = await aBuild(app.name);
    builder.outcomes.set(older.id, { status: 'succeeded', delayMs: 200 });
    const newer = await aBuild(app.name);
    const results = await Promise.all([release(app.name, older.id), release(app.name, newer.id)]);
    expect(results.map((r) => r.status)).toEqual(['SUCCEEDED', 'SUCCEEDED']);
    expect((await store.listReleases(app.name)).map((r) => [r.build, r.status])).toEqual([
      [newer.id, 'live'],
      [older.id, 'replaced'],
    ]);
  });

  it('rolls back to an earlier release by copying it forward as a new release', async () => {
    const { release, deps } = world();
    const app = await anApp();
    const first = await aBuild(app.name);
    await release(app.name, first.id);
    const second = await aBuild(app.name);
    await release(app.name, second.id);
    const [, firstRelease] = await store.listReleases(app.name);
    if (!firstRelease) throw new Error('expected two releases');
    const { input } = await rollbackRelease(deps, app.name, firstRelease.id);
    const result = await startLocalExecution(deps, input, { waitMs: 5 }).done;
    expect(result.status).toBe('SUCCEEDED');
    const releases = await store.listReleases(app.name);
    expect(releases.map((r) => [r.build, r.status])).toEqual([
      [first.id, 'live'],
      [second.id, 'replaced'],
      [first.id, 'replaced'],
    ]);
    expect(releases[0]?.images).toEqual(firstRelease.images);
    expect(releases[0]?.id).not.toBe(firstRelease.id);
    // The rollback names what it copied as data; the reason says it for people.
    expect(releases[0]).toMatchObject({
      rollbackOf: firstRelease.id,
      reason: `rollback to release ${firstRelease.id}`,
    });
  });
});
