import { DynamoDbStore } from '../../functions/adapters/dynamodb/store';
import { ADMIN_ACTOR, approveRelease, expireStaleApprovals, rejectRelease } from '../../functions/domain/approvals';
import { applyBuildEvent } from '../../functions/domain/build-events';
import { firstEnvironment, promoteRelease } from '../../functions/domain/environments';
import { ConflictError, ForbiddenError } from '../../functions/domain/errors';
import { newHookId, newId } from '../../functions/domain/ids';
import type { App, AppMode, Build, Release } from '../../functions/domain/model';
import type { Builder, BuildJob, Deployer, DeployTarget, Registry, RolloutStatus } from '../../functions/domain/ports';
import { type ReleaseStepDeps, rollbackRelease } from '../../functions/domain/releases';
import { takeRolloutTurn } from '../../functions/domain/rollout';
import { onRolloutEvent, wakeBuildWait } from '../../functions/domain/waits';
import { startLocalExecution } from '../../functions/workflow/local-executor';
import { LocalTaskTokens } from '../../functions/workflow/local-task-tokens';
import { type FreshTable, freshTable } from '../support/dynamodb';
import { until } from '../support/until';

/**
 * The release workflow end to end: the real definition (workflow/release.asl.json) run by the
 * local executor, against DynamoDB Local. Builds finish through applyBuildEvent as builder
 * reports would, and their end event completes the workflow's wait (wakeBuildWait); the Deployer
 * is a small in-test one (the ECS deployer has its own tests with ECS mocked) that counts
 * rollouts in flight per app and reports its rollouts' ends as events (onRolloutEvent). Either
 * may lose its events, to show the waits' timeouts and rechecks.
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

type BuildPlan = {
  status: 'succeeded' | 'failed';
  reason?: string;
  delayMs?: number;
  /** The end is never recorded nor told (a lost event); only `describe` knows it. */
  lost?: boolean;
  /** Still running when asked (`describe`), and never ends. */
  hangs?: boolean;
};

/** Finishes each build as the test says (succeeded by default) through build events, which wake the workflow. */
class ScriptedBuilder implements Builder {
  readonly outcomes = new Map<string, BuildPlan>();
  readonly started: string[] = [];
  constructor(private readonly tasks: LocalTaskTokens) {}
  private plan(buildId: string): BuildPlan {
    return this.outcomes.get(buildId) ?? { status: 'succeeded' };
  }
  private images(buildId: string, plan: BuildPlan): Record<string, string> {
    return plan.status === 'succeeded' ? { app: digest(buildId.at(-1)?.toLowerCase() === 'f' ? 'f' : 'a') } : {};
  }
  async start(job: BuildJob): Promise<{ ref: string; logLocation: string }> {
    this.started.push(job.buildId);
    const plan = this.plan(job.buildId);
    setTimeout(async () => {
      const at = new Date().toISOString();
      await applyBuildEvent(store, { app: job.app, buildId: job.buildId, kind: 'started', at });
      if (plan.lost || plan.hangs) return;
      await applyBuildEvent(store, {
        app: job.app,
        buildId: job.buildId,
        kind: 'finished',
        status: plan.status,
        reason: plan.reason,
        images: this.images(job.buildId, plan),
        at: new Date().toISOString(),
      });
      await wakeBuildWait({ store, tasks: this.tasks }, job.app, job.buildId);
    }, plan.delayMs ?? 5);
    return { ref: `local-run-${job.buildId}`, logLocation: `/tmp/${job.buildId}.log` };
  }
  describeCalls = 0;
  async describe(ref: string) {
    this.describeCalls += 1;
    const buildId = ref.replace('local-run-', '');
    const plan = this.plan(buildId);
    if (plan.hangs) return { status: 'running' as const };
    return { status: plan.status, images: this.images(buildId, plan), ...(plan.reason ? { reason: plan.reason } : {}) };
  }
}

/**
 * Rolls out in memory: in progress for `rolloutMs`, then completed (or rolled back when told),
 * told as events (one on the way, one at the end) unless the app's events are lost.
 */
class TestDeployer implements Deployer {
  readonly failing = new Set<string>();
  /** Apps whose rollout events are lost. */
  readonly silent = new Set<string>();
  /** Apps whose rollouts never end. */
  readonly stuck = new Set<string>();
  readonly deployed: Array<{ app: string; revision: string }> = [];
  readonly active = new Map<string, number>();
  maxActive = 0;
  rolloutMs = 15;
  tasks?: LocalTaskTokens;
  private readonly startedAt = new Map<string, number>();
  private readonly ended = new Map<string, RolloutStatus>();
  private seq = 0;
  async prepare(target: DeployTarget, images: Record<string, string>): Promise<{ revision: string }> {
    return { revision: `${target.app}:${++this.seq}:${Object.values(images).join(',')}` };
  }
  async rollout(target: DeployTarget, revision: string): Promise<{ deployment: string; watch: string }> {
    const now = (this.active.get(target.app) ?? 0) + 1;
    this.active.set(target.app, now);
    this.maxActive = Math.max(this.maxActive, now);
    const watch = `dep-${++this.seq}`;
    const deployment = `${watch}|${revision}`;
    this.startedAt.set(deployment, Date.now());
    const tasks = this.tasks;
    if (tasks && !this.silent.has(target.app)) {
      const tell = () => void onRolloutEvent({ store, deployer: this, tasks }, watch);
      setTimeout(tell, 2);
      setTimeout(tell, this.rolloutMs + 5);
    }
    return { deployment, watch };
  }
  async status(target: DeployTarget, deployment: string): Promise<RolloutStatus> {
    const done = this.ended.get(deployment);
    if (done) return done;
    const elapsed = Date.now() - (this.startedAt.get(deployment) ?? 0);
    if (elapsed < this.rolloutMs || this.stuck.has(target.app)) return { state: 'in_progress', running: 0, desired: 1 };
    this.active.set(target.app, (this.active.get(target.app) ?? 1) - 1);
    let status: RolloutStatus;
    if (this.failing.has(target.app)) {
      status = { state: 'rolled_back', reason: 'circuit breaker: tasks failed to start; rolled back' };
    } else {
      this.deployed.push({ app: target.app, revision: deployment.split('|')[1] ?? '' });
      status = { state: 'completed', running: 1, desired: 1 };
    }
    this.ended.set(deployment, status);
    return status;
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
  const tasks = new LocalTaskTokens();
  const builder = new ScriptedBuilder(tasks);
  const deployer = new TestDeployer();
  deployer.tasks = tasks;
  const deps: ReleaseStepDeps = { store, builder, registry, deployer, tasks };
  const release = (app: string, build: string, taskTimeoutsMs?: Record<string, number>) =>
    startLocalExecution(deps, { app, build }, { waitMs: 5, ...(taskTimeoutsMs ? { taskTimeoutsMs } : {}) }).done;
  return { builder, deployer, deps, release, tasks };
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
    expect(await takeRolloutTurn(deps, app.name, 'someone-else', 'immediate')).toBe('acquired');
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
      Array.from({ length: 10 }, (_, i) =>
        takeRolloutTurn({ store }, app.name, i % 2 ? build.id : other.id, 'immediate'),
      ),
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
    const { deployer, tasks: slowTasks } = world();
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
        setTimeout(async () => {
          if (canceled.some((c) => c.ref === `slow-${job.buildId}`)) return;
          await applyBuildEvent(store, {
            app: job.app,
            buildId: job.buildId,
            kind: 'finished',
            status: 'succeeded',
            images: { app: digest('b') },
            at: new Date().toISOString(),
          });
          await wakeBuildWait({ store, tasks: slowTasks }, job.app, job.buildId);
        }, 2000);
        return { ref: `slow-${job.buildId}`, logLocation: '/dev/null' };
      },
      async cancel(ref, reason) {
        canceled.push({ ref, reason });
      },
    };
    const deps: ReleaseStepDeps = { store, builder: slow, registry, deployer, tasks: slowTasks };
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

  describe('waits told by events, with a timeout and one recheck when an event is lost', () => {
    const parkedStates = (entered: string[]) => entered.filter((n) => /Build|Rollout|TimedOut/.test(n));
    const observe = (entered: string[]) => (event: { type: string }) => {
      const name = (event as { state?: { name?: string } }).state?.name;
      if (event.type === 'StateEntered' && name) entered.push(name);
    };

    it('goes on the moment the build ends and the rollout ends: no Wait state, no recheck', async () => {
      const { deps, builder } = world();
      const app = await anApp();
      const build = await aBuild(app.name);
      const entered: string[] = [];
      const result = await startLocalExecution(
        deps,
        { app: app.name, build: build.id },
        { onEvent: observe(entered), taskTimeoutsMs: { StartBuild: 60_000, Rollout: 60_000 } },
      ).done;
      expect(result).toMatchObject({ status: 'SUCCEEDED', output: { result: { outcome: 'live' } } });
      expect(parkedStates(entered)).toEqual([
        'StartBuild',
        'BuildStatus',
        'AcquireRollout',
        'RolloutTurn',
        'Rollout',
        'RolloutStatus',
      ]);
      expect(builder.describeCalls).toBe(0);
      // The tokens were kept on the records while waiting.
      expect((await store.getBuild(app.name, build.id))?.waitToken).toMatch(/^local-task-/);
      const [release] = await store.listReleases(app.name);
      expect(release).toMatchObject({
        status: 'live',
        rolloutRef: expect.stringMatching(/^dep-/),
        running: 1,
        desired: 1,
      });
    });

    it('a build whose end was recorded but whose wake-up was lost: the recheck finds it ended', async () => {
      const { release, builder, tasks } = world();
      const app = await anApp();
      const build = await aBuild(app.name);
      // The end event is recorded, but nobody completes the wait (as if SendTaskSuccess were lost).
      const succeed = tasks.succeed.bind(tasks);
      let dropped = 0;
      tasks.succeed = async (token, output) => {
        if ((await store.getBuild(app.name, build.id))?.waitToken === token && output.status === 'succeeded') {
          dropped += 1;
          return false;
        }
        return succeed(token, output);
      };
      const result = await release(app.name, build.id, { StartBuild: 1500 });
      expect(dropped).toBeGreaterThan(0);
      expect(result).toMatchObject({ status: 'SUCCEEDED', output: { result: { outcome: 'live' } } });
      expect(builder.describeCalls).toBe(0); // the record already knew
    });

    it('a build whose end event was lost altogether: the recheck asks the builder and records it', async () => {
      const { release, builder } = world();
      const app = await anApp();
      const build = await aBuild(app.name);
      builder.outcomes.set(build.id, { status: 'succeeded', lost: true });
      const result = await release(app.name, build.id, { StartBuild: 1500 });
      expect(result).toMatchObject({ status: 'SUCCEEDED', output: { result: { outcome: 'live' } } });
      expect(builder.describeCalls).toBe(1);
      expect(await store.getBuild(app.name, build.id)).toMatchObject({
        status: 'succeeded',
        images: expect.any(Object),
      });
    });

    it('a build still running when its wait times out fails the release as timed out, once', async () => {
      const { release, builder, deployer } = world();
      const app = await anApp();
      const build = await aBuild(app.name);
      builder.outcomes.set(build.id, { status: 'succeeded', hangs: true });
      const result = await release(app.name, build.id, { StartBuild: 1500 });
      expect(result).toMatchObject({ status: 'SUCCEEDED', output: { result: { outcome: 'failed' } } });
      expect(builder.describeCalls).toBe(1);
      expect(await store.getBuild(app.name, build.id)).toMatchObject({
        status: 'failed',
        reason: expect.stringMatching(/did not end/),
      });
      expect(deployer.deployed).toEqual([]);
    });

    it('a build that ends before its token is stored still completes the wait (the step looks itself)', async () => {
      const { deps } = world();
      const app = await anApp();
      const build = await aBuild(app.name);
      // Ends inside start(): before startBuild returns, so before anything but the step could see it.
      const instant: Builder = {
        async start(job) {
          const at = new Date().toISOString();
          await store.updateBuildRun(job.app, job.buildId, { waitToken: 'overwritten-before-start' });
          await applyBuildEvent(store, { app: job.app, buildId: job.buildId, kind: 'started', at });
          await applyBuildEvent(store, {
            app: job.app,
            buildId: job.buildId,
            kind: 'finished',
            status: 'succeeded',
            images: { app: digest('c') },
            at,
          });
          return { ref: `instant-${job.buildId}`, logLocation: '/dev/null' };
        },
      };
      const result = await startLocalExecution(
        { ...deps, builder: instant },
        { app: app.name, build: build.id },
        { taskTimeoutsMs: { StartBuild: 60_000 } },
      ).done;
      expect(result).toMatchObject({ status: 'SUCCEEDED', output: { result: { outcome: 'live' } } });
    });

    it('a rollout whose events were lost: the recheck after the timeout finds it ended', async () => {
      const { release, deployer } = world();
      const app = await anApp();
      deployer.silent.add(app.name);
      deployer.rolloutMs = 400; // still going when the step looks after storing its token
      const build = await aBuild(app.name);
      const started = Date.now();
      const result = await release(app.name, build.id, { Rollout: 1500 });
      expect(result).toMatchObject({ status: 'SUCCEEDED', output: { result: { outcome: 'live' } } });
      expect(Date.now() - started).toBeGreaterThanOrEqual(1500); // it waited out the timeout, then looked
      expect(deployer.deployed).toHaveLength(1);
    });

    it('a rollout still going when its wait times out fails the release as timed out', async () => {
      const { release, deployer } = world();
      const app = await anApp();
      deployer.stuck.add(app.name);
      const build = await aBuild(app.name);
      const result = await release(app.name, build.id, { Rollout: 1500 });
      expect(result).toMatchObject({ status: 'SUCCEEDED', output: { result: { outcome: 'failed' } } });
      const [failed] = await store.listReleases(app.name);
      expect(failed).toMatchObject({ status: 'failed', reason: expect.stringMatching(/rollout did not finish/) });
    });

    it('a rollout event for a deployment Slipway does not know, or twice, changes nothing', async () => {
      const { deployer, tasks } = world();
      expect(await onRolloutEvent({ store, deployer, tasks }, 'ecs-svc/0000000000000000000')).toEqual({
        outcome: 'ignored',
        reason: 'not a rollout of Slipway',
      });
      expect(await tasks.succeed('local-task-unknown', { status: 'succeeded' })).toBe(false);
    });
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

describe('approvals (local executor, DynamoDB Local)', () => {
  /** An app live in its first environment (`production`), with `customers` asking for a Maintainer's approval. */
  async function promotable(selfApproval = false) {
    const w = world();
    const app = await anApp();
    const build = await aBuild(app.name);
    await w.release(app.name, build.id);
    await store.createEnvironment({
      app: app.name,
      name: 'customers',
      cluster: 'c',
      service: 'customers',
      approval: 'maintainer',
      ...(selfApproval ? { selfApproval: true } : {}),
      createdAt: new Date().toISOString(),
    });
    const promote = async (timeouts?: Record<string, number>) => {
      const { input, release } = await promoteRelease(w.deps, app, {
        from: firstEnvironment(app),
        to: 'customers',
        requestedBy: 'alice',
      });
      const execution = startLocalExecution(w.deps, input, {
        waitMs: 5,
        ...(timeouts ? { taskTimeoutsMs: timeouts } : {}),
      });
      return { release, done: execution.done };
    };
    return { ...w, app, build, promote };
  }

  const waiting = (app: string, id: string) =>
    until(`release ${id} waiting for approval`, async () => {
      const release = await store.getRelease(app, id);
      return release?.status === 'awaiting_approval' && release.waitToken ? release : undefined;
    });

  it('parks a promotion until a Maintainer approves it, then rolls it out in its own lane', async () => {
    const { app, promote, deployer, deps } = await promotable();
    const deployedBefore = deployer.deployed.length;
    const { release, done } = await promote();
    const parked = await waiting(app.name, release.id);
    expect(parked.awaitingSince).toBeDefined();
    // Nothing rolls out, and the lock of customers is not taken, while it waits.
    expect(deployer.deployed.length).toBe(deployedBefore);
    expect(await store.getRolloutLock(app.name, 'customers')).toBeUndefined();

    const approved = await approveRelease(deps, app.name, release.id, { kind: 'user', name: 'bob' });
    expect(approved).toMatchObject({ status: 'pending', approvedBy: 'bob' });
    expect((await done).status).toBe('SUCCEEDED');
    const after = await store.getRelease(app.name, release.id);
    expect(after).toMatchObject({ status: 'live', approvedBy: 'bob', environment: 'customers' });
    expect(await store.liveReleaseId(app.name, 'customers')).toBe(release.id);
    expect(deployer.deployed.length).toBe(deployedBefore + 1);
    // Deciding twice is refused: it no longer waits.
    await expect(approveRelease(deps, app.name, release.id, { kind: 'user', name: 'bob' })).rejects.toThrow(
      /not waiting for approval \(it is live\)/,
    );
  });

  it('a rejection ends the release rejected: nothing rolls out, customers keeps what it had', async () => {
    const { app, promote, deployer, deps } = await promotable();
    const deployedBefore = deployer.deployed.length;
    const { release, done } = await promote();
    await waiting(app.name, release.id);
    await rejectRelease(deps, app.name, release.id, ADMIN_ACTOR, 'not on a Friday');
    expect(await done).toMatchObject({ status: 'SUCCEEDED', output: { result: { outcome: 'rejected' } } });
    expect(await store.getRelease(app.name, release.id)).toMatchObject({
      status: 'rejected',
      rejectedBy: 'admin',
      reason: 'rejected by admin: not on a Friday',
    });
    expect(await store.liveReleaseId(app.name, 'customers')).toBeUndefined();
    expect(deployer.deployed.length).toBe(deployedBefore);
  });

  it('refuses approving your own release unless the environment allows it', async () => {
    const strict = await promotable();
    const { release, done } = await strict.promote();
    await waiting(strict.app.name, release.id);
    await expect(
      approveRelease(strict.deps, strict.app.name, release.id, { kind: 'user', name: 'alice' }),
    ).rejects.toThrow(ForbiddenError);
    expect((await store.getRelease(strict.app.name, release.id))?.status).toBe('awaiting_approval');
    await rejectRelease(strict.deps, strict.app.name, release.id, { kind: 'user', name: 'alice' });
    expect((await done).status).toBe('SUCCEEDED');

    const relaxed = await promotable(true);
    const mine = await relaxed.promote();
    await waiting(relaxed.app.name, mine.release.id);
    await approveRelease(relaxed.deps, relaxed.app.name, mine.release.id, { kind: 'user', name: 'alice' });
    expect((await mine.done).status).toBe('SUCCEEDED');
    expect((await store.getRelease(relaxed.app.name, mine.release.id))?.status).toBe('live');
  });

  it('expires a release nobody decided on when the wait times out (7 days; here 300 ms)', async () => {
    const { app, promote } = await promotable();
    const { release, done } = await promote({ AwaitApproval: 300 });
    expect(await done).toMatchObject({ status: 'SUCCEEDED', output: { result: { outcome: 'expired' } } });
    expect(await store.getRelease(app.name, release.id)).toMatchObject({
      status: 'expired',
      reason: 'nobody approved it within 7 days',
    });
    expect(await store.liveReleaseId(app.name, 'customers')).toBeUndefined();
  });

  it('the sweep expires a release waiting past 7 days and completes its wait; a late approval is refused', async () => {
    const { app, promote, deps } = await promotable();
    const { release, done } = await promote();
    await waiting(app.name, release.id);
    const eightDaysOn = { now: () => new Date(Date.now() + 8 * 24 * 3600 * 1000) };
    expect(await expireStaleApprovals({ ...deps, clock: { now: () => new Date() } })).not.toContain(release.id);
    expect(await expireStaleApprovals({ ...deps, clock: eightDaysOn })).toContain(release.id);
    expect(await done).toMatchObject({ status: 'SUCCEEDED', output: { result: { outcome: 'expired' } } });
    expect((await store.getRelease(app.name, release.id))?.status).toBe('expired');
    await expect(approveRelease(deps, app.name, release.id, ADMIN_ACTOR)).rejects.toThrow(ConflictError);
  });

  it('a wait started again (local mode resuming) parks on a new token, and the approval finds it', async () => {
    const { app, promote, deps } = await promotable();
    // The first execution stands for one lost with a restart; its own wait times out later.
    const { release, done: lost } = await promote({ AwaitApproval: 1500 });
    const first = await waiting(app.name, release.id);
    // Resume starts the release's execution again.
    const again = startLocalExecution(
      deps,
      { app: app.name, build: release.build, release: release.id },
      { waitMs: 5 },
    );
    const reparked = await until('a new token', async () => {
      const now = await store.getRelease(app.name, release.id);
      return now?.waitToken && now.waitToken !== first.waitToken ? now : undefined;
    });
    expect(reparked).toMatchObject({ status: 'awaiting_approval', awaitingSince: first.awaitingSince });
    await approveRelease(deps, app.name, release.id, { kind: 'user', name: 'bob' });
    expect(await again.done).toMatchObject({ status: 'SUCCEEDED', output: { result: { outcome: 'live' } } });
    expect((await store.getRelease(app.name, release.id))?.status).toBe('live');
    // The lost execution's wait ending later expires nothing: the release was approved and went live.
    await lost;
    expect((await store.getRelease(app.name, release.id))?.status).toBe('live');
  });

  it('an approval whose workflow is gone fails the release, saying so, instead of leaving it pending', async () => {
    const { app, build, deps } = await promotable();
    // What a restart leaves behind: a release waiting on a token nobody waits on any more.
    const orphan: Release = {
      id: newId(),
      app: app.name,
      status: 'awaiting_approval',
      build: build.id,
      commit: build.commit,
      images: { app: digest('c') },
      createdAt: new Date().toISOString(),
      environment: 'customers',
      waitToken: 'a-token-nobody-waits-on',
    };
    await store.createRelease(orphan);
    await expect(approveRelease(deps, app.name, orphan.id, ADMIN_ACTOR)).rejects.toThrow(
      /approved, but its release workflow was no longer waiting/,
    );
    expect(await store.getRelease(app.name, orphan.id)).toMatchObject({
      status: 'failed',
      approvedBy: 'admin',
      reason: 'approved, but its release workflow was no longer waiting',
    });
  });
});

describe('fan-out: one build, every environment its push matched (local executor, DynamoDB Local)', () => {
  it('releases the build to its own environment and, in executions of their own, to the others', async () => {
    const w = world();
    const executions: Array<Promise<unknown>> = [];
    w.deps.releaseWorkflow = () => ({
      startRelease: async (input) => {
        executions.push(startLocalExecution(w.deps, input, { waitMs: 5 }).done);
        return `local:${input.release}`;
      },
    });
    const app = await anApp();
    await store.createEnvironment({
      app: app.name,
      name: 'qa',
      branch: 'main',
      cluster: 'c',
      service: 'qa',
      approval: 'none',
      createdAt: new Date().toISOString(),
    });
    const fanned = (
      await store.recordBuild({ ...(await aBuild('elsewhere')), app: app.name, id: newId(), alsoTo: ['qa', 'gone'] })
    ).build;
    expect(fanned.alsoTo).toEqual(['qa', 'gone']);

    expect((await w.release(app.name, fanned.id)).status).toBe('SUCCEEDED');
    expect(executions).toHaveLength(1); // `gone` is no environment of the app: nothing for it
    expect(await Promise.all(executions)).toEqual([expect.objectContaining({ status: 'SUCCEEDED' })]);

    const releases = (await store.listReleases(app.name)).filter((r) => r.build === fanned.id);
    expect(releases.map((r) => [r.environment, r.status, Boolean(r.fannedOut)]).sort()).toEqual([
      ['production', 'live', false],
      ['qa', 'live', true],
    ]);
    // The same images in both, built once; each environment has its own live release.
    expect(new Set(releases.map((r) => JSON.stringify(r.images))).size).toBe(1);
    expect(w.builder.started.filter((id) => id === fanned.id)).toHaveLength(1);
    expect(await store.liveReleaseId(app.name, 'qa')).toBe(releases.find((r) => r.environment === 'qa')?.id);
    expect(await store.liveReleaseId(app.name)).toBe(releases.find((r) => r.environment === 'production')?.id);
  });
});
