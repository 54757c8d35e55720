import { SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { DynamoDbStore } from '../../functions/adapters/dynamodb/store';
import { newHookId, newId } from '../../functions/domain/ids';
import { ingestPush } from '../../functions/domain/ingest';
import type { App, Build } from '../../functions/domain/model';
import type { Workflow } from '../../functions/domain/ports';
import { sweepUnstartedBuilds } from '../../functions/domain/sweep';
import { parsePush } from '../../functions/http/gitlab-payloads';
import { type FreshTable, freshTable } from '../support/dynamodb';
import { gitlabExample } from '../support/gitlab-events';
import { startTestLocalMode } from '../support/local';

/**
 * Issue 13 point 9b: every build answered 202 reaches a workflow. The start is retried at
 * once; what still did not start is found by the sweep — all of it, across apps, whatever the
 * history's length — and started (DynamoDB Local, one table per test).
 */

const tables: FreshTable[] = [];
async function aStore(clock?: { now(): Date }): Promise<{ store: DynamoDbStore; table: FreshTable }> {
  const table = await freshTable();
  tables.push(table);
  return {
    store: new DynamoDbStore({ tableName: table.tableName, client: table.client, ...(clock ? { clock } : {}) }),
    table,
  };
}

afterAll(() => {
  for (const table of tables) table.raw.destroy();
});

class FlakyWorkflow implements Workflow {
  readonly started: Array<{ app: string; build: string }> = [];
  calls = 0;
  constructor(public failures: number) {}
  async startRelease(input: { app: string; build: string }): Promise<string> {
    this.calls += 1;
    if (this.failures > 0) {
      this.failures -= 1;
      throw Object.assign(new Error('Step Functions is throttling'), { name: 'ThrottlingException' });
    }
    this.started.push(input);
    return `exec:${input.build}`;
  }
}

async function anApp(store: DynamoDbStore, name: string): Promise<App> {
  const app: App = {
    name,
    project: 'mike/diaspora',
    branch: 'master',
    mode: 'superseded',
    status: 'active',
    hookId: newHookId(),
    linked: false,
    createdAt: '2026-11-01T10:00:00.000Z',
    updatedAt: '2026-11-01T10:00:00.000Z',
    version: 1,
  };
  await store.createApp(app);
  return app;
}

function aBuild(app: string, at: Date, overrides: Partial<Build> = {}): Build {
  return {
    id: newId(at),
    app,
    status: 'queued',
    commit: 'a'.repeat(40),
    ref: 'refs/heads/master',
    message: 'Fix',
    author: 'Ada',
    trigger: 'push',
    createdAt: at.toISOString(),
    ...overrides,
  };
}

const push = () => parsePush(gitlabExample('push.json').body, 'branch');

it('retries a failed workflow start at once, inside the request', async () => {
  const { store } = await aStore();
  const app = await anApp(store, 'retried');
  const workflow = new FlakyWorkflow(2);
  const errors: unknown[] = [];

  const result = await ingestPush({ store, workflow, onWorkflowError: (e) => errors.push(e) }, app, push(), {
    source: app.hookId,
    key: 'k-1',
    trigger: 'push',
  });

  expect(result.outcome).toBe('started');
  expect(workflow.calls).toBe(3);
  expect(errors).toEqual([]);
  const id = result.outcome === 'started' ? result.build.id : '';
  expect(workflow.started).toEqual([{ app: app.name, build: id }]);
  // Nothing written back: the execution is named after the build.
  expect(await store.getBuild(app.name, id)).not.toHaveProperty('execution');
});

it('starts, from the sweep, a build whose workflow never started; once', async () => {
  const received = new Date('2026-12-01T10:00:00.000Z');
  let now = received;
  const clock = { now: () => now };
  const { store } = await aStore(clock);
  const app = await anApp(store, 'stuck');
  const down = new FlakyWorkflow(1_000);

  const result = await ingestPush({ store, workflow: down, clock, onWorkflowError: () => undefined }, app, push(), {
    source: app.hookId,
    key: 'k-stuck',
    trigger: 'push',
    receivedAt: received,
  });
  expect(result.outcome).toBe('started');
  const id = result.outcome === 'started' ? result.build.id : '';
  expect(await store.getBuild(app.name, id)).not.toHaveProperty('execution');

  const up = new FlakyWorkflow(0);
  // Younger than a minute: its own request may still be starting it.
  now = new Date(received.getTime() + 30_000);
  expect((await sweepUnstartedBuilds({ store, workflow: up, clock })).started).toEqual([]);

  now = new Date(received.getTime() + 90_000);
  const swept = await sweepUnstartedBuilds({ store, workflow: up, clock });
  expect(swept.started).toEqual([id]);
  expect(up.started).toEqual([{ app: app.name, build: id }]);
  expect(await store.listUnstartedBuilds(now.toISOString())).toEqual([]);

  // Started: nothing left for the next sweep.
  const again = await sweepUnstartedBuilds({ store, workflow: up, clock });
  expect(again.started).toEqual([]);
  expect(up.started).toHaveLength(1);
});

it('finds every unstarted build of every app, beyond the newest 50 per app, and nothing else', async () => {
  const { store } = await aStore();
  const big = await anApp(store, 'big');
  const small = await anApp(store, 'small');
  const past = Date.now() - 10 * 60_000;
  const unstarted: string[] = [];
  for (let i = 0; i < 75; i++) {
    const build = aBuild(big.name, new Date(past + i));
    await store.recordBuild(build);
    unstarted.push(build.id);
  }
  for (let i = 0; i < 3; i++) {
    const build = aBuild(small.name, new Date(past + i));
    await store.recordBuild(build);
    unstarted.push(build.id);
  }
  // Started ones and ones that moved on are not the sweep's.
  const started = aBuild(big.name, new Date(past));
  await store.recordBuild(started);
  await store.updateBuildRun(big.name, started.id, { builderRef: 'run-earlier' });
  // …and one an older version recorded its execution for, its marker left behind.
  const recorded = aBuild(big.name, new Date(past), { execution: 'exec:earlier' });
  await store.recordBuild(recorded);
  const ran = aBuild(small.name, new Date(past));
  await store.recordBuild(ran);
  await store.transitionBuild(small.name, ran.id, 'queued', 'running');
  // A build whose app was deleted leaves nothing to start.
  const gone = await anApp(store, 'gone');
  await store.recordBuild(aBuild(gone.name, new Date(past)));
  await store.deleteApp(gone.name);

  const workflow = new FlakyWorkflow(0);
  const swept = await sweepUnstartedBuilds({ store, workflow });

  expect(new Set(swept.started)).toEqual(new Set(unstarted));
  expect(swept.started).toHaveLength(78);
  expect(workflow.started.map((s) => s.build).sort()).toEqual([...unstarted].sort());
  expect(swept.cleared).toEqual(expect.arrayContaining([recorded.id]));
  expect(await store.listUnstartedBuilds(new Date().toISOString())).toEqual([]);
  expect(await sweepUnstartedBuilds({ store, workflow })).toMatchObject({ started: [], failed: [] });
});

it('keeps a build it could not start for the next sweep, and goes on with the others', async () => {
  const { store } = await aStore();
  const app = await anApp(store, 'partly');
  const past = new Date(Date.now() - 5 * 60_000);
  const builds = [aBuild(app.name, past), aBuild(app.name, past)];
  for (const build of builds) await store.recordBuild(build);

  const workflow = new FlakyWorkflow(1);
  const first = await sweepUnstartedBuilds({ store, workflow });
  expect(first.started).toHaveLength(1);
  expect(first.failed).toHaveLength(1);

  const second = await sweepUnstartedBuilds({ store, workflow });
  expect(second.started).toEqual(first.failed.map((f) => f.build));
});

describe('the sweep Lambda (functions/handlers/sweep.ts)', () => {
  const sfn = mockClient(SFNClient);
  const saved = { ...process.env };
  afterEach(() => {
    process.env = { ...saved };
    sfn.reset();
  });

  it('starts what the table holds unstarted with StartExecution named after the build', async () => {
    const { store, table } = await aStore();
    const app = await anApp(store, 'lambda');
    const build = aBuild(app.name, new Date(Date.now() - 120_000));
    await store.recordBuild(build);
    const machine = 'arn:aws:states:eu-west-1:123456789012:stateMachine:Release';
    sfn
      .on(StartExecutionCommand)
      .resolves({ executionArn: `arn:aws:states:eu-west-1:123456789012:execution:Release:${build.id}` });
    Object.assign(process.env, {
      TABLE_NAME: table.tableName,
      STATE_MACHINE_ARN: machine,
      AWS_ENDPOINT_URL_DYNAMODB: process.env.SLIPWAY_TEST_DYNAMODB_ENDPOINT,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'local',
      AWS_SECRET_ACCESS_KEY: 'local',
      POWERTOOLS_LOG_LEVEL: 'SILENT',
    });

    // Loaded now: the handler reads its environment on its first call, as on a cold start.
    const { handler } = require('../../functions/handlers/sweep') as typeof import('../../functions/handlers/sweep');
    const result = await handler();

    expect(result).toMatchObject({ started: 1, failed: 0 });
    expect(sfn.commandCalls(StartExecutionCommand).map((c) => c.args[0].input)).toEqual([
      { stateMachineArn: machine, name: build.id, input: JSON.stringify({ app: app.name, build: build.id }) },
    ]);
    expect(await store.listUnstartedBuilds(new Date().toISOString())).toEqual([]);
  });
});

describe('local mode runs the sweep', () => {
  it('at start (whatever the age) and then on its timer (older than a minute)', async () => {
    const { store, table } = await aStore();
    const app = await anApp(store, 'local');
    const atStart = aBuild(app.name, new Date());
    await store.recordBuild(atStart);

    const local = await startTestLocalMode({ tableName: table.tableName, sweepIntervalMs: 200 });
    try {
      // Started before local mode answered anything: its start marker is gone.
      const unstarted = async () => (await store.listUnstartedBuilds(new Date().toISOString())).map((m) => m.build);
      expect(await unstarted()).not.toContain(atStart.id);

      const later = aBuild(app.name, new Date(Date.now() - 2 * 60_000));
      await store.recordBuild(later);
      const deadline = Date.now() + 10_000;
      while ((await unstarted()).includes(later.id) && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(await unstarted()).toEqual([]);
    } finally {
      await local.stop();
    }
  });
});

it('stops starting builds at its deadline and says how many it left for the next run', async () => {
  const { store } = await aStore();
  const app = await anApp(store, 'deadline');
  const past = new Date(Date.now() - 5 * 60_000);
  for (let i = 0; i < 3; i++) await store.recordBuild(aBuild(app.name, past));

  const workflow = new FlakyWorkflow(0);
  const first = await sweepUnstartedBuilds({ store, workflow }, { deadline: Date.now() - 1 });
  expect(first).toMatchObject({ started: [], left: 3 });
  const second = await sweepUnstartedBuilds({ store, workflow }, { deadline: Date.now() + 60_000 });
  expect(second).toMatchObject({ left: 0 });
  expect(second.started).toHaveLength(3);
});
