import { DynamoDbStore } from '../../functions/adapters/dynamodb/store';
import { applyBuildEvent, type BuildEvent } from '../../functions/domain/build-events';
import { newId } from '../../functions/domain/ids';
import type { Build } from '../../functions/domain/model';
import { createBuildEventsHandler, parseCodeBuildEvent } from '../../functions/http/build-events';
import { LocalTaskTokens } from '../../functions/workflow/local-task-tokens';
import { DOC_PHASE_CHANGE, DOC_STATE_CHANGE, phasesUpTo, slipwayEvent } from '../support/codebuild-events';
import { type FreshTable, freshTable } from '../support/dynamodb';

let table: FreshTable;
let store: DynamoDbStore;
let records: DynamoDbStore;

beforeAll(async () => {
  table = await freshTable();
  records = new DynamoDbStore({ tableName: table.tableName, client: table.client });
  store = records;
});

afterAll(() => {
  table?.raw.destroy();
});

const DIGEST = `sha256:${'b'.repeat(64)}`;
const IMAGES = { web: DIGEST, worker: `sha256:${'c'.repeat(64)}` };

/** A queued build of a fresh app, recorded in the table. */
async function aQueuedBuild(overrides: Partial<Build> = {}): Promise<Build> {
  const build: Build = {
    id: newId(),
    app: `app-${Math.random().toString(36).slice(2, 10)}`,
    status: 'queued',
    commit: 'a'.repeat(40),
    ref: 'refs/heads/main',
    message: 'Add things',
    author: 'Jane',
    trigger: 'push',
    createdAt: '2017-09-01T16:12:00.000Z',
    ...overrides,
  };
  await records.recordBuild(build);
  return build;
}

interface LogLine {
  level: 'info' | 'warn';
  message: string;
  detail: unknown;
}

/** Waits the workflow parks on (the same completion rules as Step Functions' task tokens). */
const tasks = new LocalTaskTokens();

/** The handler with a logger that keeps what it was told. */
function handlerWithLog(): { handle: (event: unknown) => Promise<void>; log: LogLine[] } {
  const log: LogLine[] = [];
  const handle = createBuildEventsHandler({
    store,
    tasks,
    logger: {
      info: (message, detail) => log.push({ level: 'info', message, detail }),
      warn: (message, detail) => log.push({ level: 'warn', message, detail }),
    },
  });
  return { handle, log };
}

describe('CodeBuild events into build records', () => {
  it('completes the release workflow waiting on the build once it ends, with its status; a redelivery completes nothing', async () => {
    const build = await aQueuedBuild();
    const token = tasks.issue();
    const wait = tasks.wait(token, 10_000);
    await records.updateBuildRun(build.app, build.id, { waitToken: token });
    const { handle, log } = handlerWithLog();
    const ids = { app: build.app, buildId: build.id };
    await handle(slipwayEvent({ ...ids, status: 'IN_PROGRESS', phases: phasesUpTo('PROVISIONING') }));
    expect(tasks.open).toBeGreaterThan(0); // a start does not end the wait
    const exported = { SLIPWAY_IMAGES: JSON.stringify(IMAGES) };
    await handle(slipwayEvent({ ...ids, status: 'SUCCEEDED', phases: phasesUpTo('COMPLETED'), exported }));
    await expect(wait.done).resolves.toEqual({ status: 'succeeded' });
    expect(log.at(-1)?.detail).toMatchObject({ workflow: 'woken' });
    // EventBridge delivers at least once: the same end again finds nobody waiting, and says so.
    await handle(slipwayEvent({ ...ids, status: 'SUCCEEDED', phases: phasesUpTo('COMPLETED'), exported }));
    expect(log.at(-1)?.detail).toMatchObject({ outcome: 'ignored', workflow: 'no_wait' });
  });

  it('records a build’s life: running from its start time, its phases, then succeeded with the digests', async () => {
    const build = await aQueuedBuild();
    const { handle } = handlerWithLog();
    const ids = { app: build.app, buildId: build.id };

    await handle(
      slipwayEvent({ ...ids, status: 'IN_PROGRESS', phases: phasesUpTo('PROVISIONING'), time: '2017-09-01T16:12:30Z' }),
    );
    let stored = await records.getBuild(build.app, build.id);
    expect(stored).toMatchObject({ status: 'running', startedAt: '2017-09-01T16:12:29.000Z' });

    await handle(slipwayEvent({ ...ids, completedPhase: 'PROVISIONING', phases: phasesUpTo('DOWNLOAD_SOURCE') }));
    await handle(slipwayEvent({ ...ids, completedPhase: 'PRE_BUILD', phases: phasesUpTo('BUILD') }));
    stored = await records.getBuild(build.app, build.id);
    expect(stored).toMatchObject({ status: 'running', phase: 'BUILD' });

    await handle(slipwayEvent({ ...ids, status: 'SUCCEEDED', exported: { SLIPWAY_IMAGES: JSON.stringify(IMAGES) } }));
    stored = await records.getBuild(build.app, build.id);
    expect(stored).toMatchObject({
      status: 'succeeded',
      startedAt: '2017-09-01T16:12:29.000Z',
      endedAt: '2017-09-01T16:14:28.000Z',
      images: IMAGES,
    });
    expect(stored?.reason).toBeUndefined();
  });

  it('ignores a repeated finished event: the record stays as the first one left it', async () => {
    const build = await aQueuedBuild();
    const { handle, log } = handlerWithLog();
    const done = slipwayEvent({
      app: build.app,
      buildId: build.id,
      status: 'SUCCEEDED',
      exported: { SLIPWAY_IMAGES: JSON.stringify({ app: DIGEST }) },
    });

    await handle(done);
    const first = await records.getBuild(build.app, build.id);
    await handle({ ...done, time: '2017-09-01T17:00:00Z' });

    expect(await records.getBuild(build.app, build.id)).toEqual(first);
    expect(log.at(-1)?.detail).toMatchObject({ outcome: 'ignored', ignored: 'the build is already succeeded' });
  });

  it('takes a finished event that overtook the start: queued goes through running, late events change nothing', async () => {
    const build = await aQueuedBuild();
    const { handle } = handlerWithLog();
    const ids = { app: build.app, buildId: build.id };

    await handle(slipwayEvent({ ...ids, status: 'SUCCEEDED', exported: { SLIPWAY_IMAGES: JSON.stringify(IMAGES) } }));
    await handle(slipwayEvent({ ...ids, status: 'IN_PROGRESS', phases: phasesUpTo('PROVISIONING') }));
    await handle(slipwayEvent({ ...ids, completedPhase: 'INSTALL', phases: phasesUpTo('PRE_BUILD') }));

    expect(await records.getBuild(build.app, build.id)).toMatchObject({
      status: 'succeeded',
      startedAt: '2017-09-01T16:12:29.000Z',
      endedAt: '2017-09-01T16:14:28.000Z',
      images: IMAGES,
    });
  });

  it('never lets an older phase overwrite a newer one', async () => {
    const build = await aQueuedBuild();
    const { handle } = handlerWithLog();
    const ids = { app: build.app, buildId: build.id };

    await handle(slipwayEvent({ ...ids, completedPhase: 'PRE_BUILD', phases: phasesUpTo('BUILD') }));
    await handle(slipwayEvent({ ...ids, completedPhase: 'PROVISIONING', phases: phasesUpTo('DOWNLOAD_SOURCE') }));

    expect(await records.getBuild(build.app, build.id)).toMatchObject({ status: 'running', phase: 'BUILD' });
  });

  it('records a failure with the failing phase and its message', async () => {
    const build = await aQueuedBuild();
    const { handle } = handlerWithLog();
    const message =
      'COMMAND_EXECUTION_ERROR: Error while executing command: slipway-step fetch. Reason: exit status 128';

    await handle(
      slipwayEvent({
        app: build.app,
        buildId: build.id,
        status: 'FAILED',
        phases: phasesUpTo('COMPLETED', { phase: 'BUILD', context: [message] }),
      }),
    );

    const stored = await records.getBuild(build.app, build.id);
    expect(stored).toMatchObject({
      status: 'failed',
      reason: `BUILD: ${message}`,
      endedAt: '2017-09-01T16:14:28.000Z',
    });
    expect(stored?.images).toBeUndefined();
  });

  it('says a timed-out build timed out, and where', async () => {
    const build = await aQueuedBuild();
    const { handle } = handlerWithLog();

    await handle(
      slipwayEvent({
        app: build.app,
        buildId: build.id,
        status: 'TIMED_OUT',
        phases: phasesUpTo('COMPLETED', { phase: 'BUILD', status: 'TIMED_OUT', context: [] }),
      }),
    );

    expect(await records.getBuild(build.app, build.id)).toMatchObject({
      status: 'failed',
      reason: 'timed out in BUILD',
    });
  });

  it('records a build stopped in CodeBuild as canceled', async () => {
    const build = await aQueuedBuild();
    const { handle } = handlerWithLog();

    await handle(slipwayEvent({ app: build.app, buildId: build.id, status: 'STOPPED' }));

    expect(await records.getBuild(build.app, build.id)).toMatchObject({
      status: 'canceled',
      reason: 'the build was stopped in CodeBuild',
    });
  });

  it('fails a build that succeeded without usable image digests', async () => {
    const build = await aQueuedBuild();
    const { handle } = handlerWithLog();

    await handle(
      slipwayEvent({
        app: build.app,
        buildId: build.id,
        status: 'SUCCEEDED',
        exported: { SLIPWAY_IMAGES: '{not json' },
      }),
    );

    expect(await records.getBuild(build.app, build.id)).toMatchObject({
      status: 'failed',
      reason: 'the build succeeded but reported no image digests',
    });
  });

  it('leaves a build that has ended (superseded) alone', async () => {
    const build = await aQueuedBuild();
    await records.transitionBuild(build.app, build.id, 'queued', 'superseded', { reason: 'a newer push' });
    const { handle } = handlerWithLog();

    await handle(slipwayEvent({ app: build.app, buildId: build.id, status: 'IN_PROGRESS' }));
    await handle(slipwayEvent({ app: build.app, buildId: build.id, completedPhase: 'PROVISIONING' }));
    await handle(
      slipwayEvent({
        app: build.app,
        buildId: build.id,
        status: 'SUCCEEDED',
        exported: { SLIPWAY_IMAGES: JSON.stringify(IMAGES) },
      }),
    );

    const stored = await records.getBuild(build.app, build.id);
    expect(stored).toMatchObject({ status: 'superseded', reason: 'a newer push' });
    expect(stored?.phase).toBeUndefined();
    expect(stored?.startedAt).toBeUndefined();
  });

  it('ends in the same state whatever order concurrent events arrive in', async () => {
    for (let round = 0; round < 3; round++) {
      const build = await aQueuedBuild();
      const { handle } = handlerWithLog();
      const ids = { app: build.app, buildId: build.id };

      await Promise.all([
        handle(slipwayEvent({ ...ids, status: 'IN_PROGRESS' })),
        handle(slipwayEvent({ ...ids, completedPhase: 'PROVISIONING', phases: phasesUpTo('DOWNLOAD_SOURCE') })),
        handle(slipwayEvent({ ...ids, completedPhase: 'INSTALL', phases: phasesUpTo('PRE_BUILD') })),
        handle(slipwayEvent({ ...ids, status: 'SUCCEEDED', exported: { SLIPWAY_IMAGES: JSON.stringify(IMAGES) } })),
        handle(slipwayEvent({ ...ids, status: 'SUCCEEDED', exported: { SLIPWAY_IMAGES: JSON.stringify(IMAGES) } })),
      ]);

      expect(await records.getBuild(build.app, build.id)).toMatchObject({
        status: 'succeeded',
        startedAt: '2017-09-01T16:12:29.000Z',
        endedAt: '2017-09-01T16:14:28.000Z',
        images: IMAGES,
      });
    }
  });

  it('ignores events for a build it does not know', async () => {
    const { handle, log } = handlerWithLog();

    await handle(slipwayEvent({ app: 'no-such-app', buildId: newId(), status: 'IN_PROGRESS' }));

    expect(log.at(-1)?.detail).toMatchObject({ outcome: 'ignored', ignored: 'no such build' });
  });

  it('drops, without throwing, events Slipway did not cause and anything malformed, and never logs the overrides', async () => {
    const { handle, log } = handlerWithLog();
    const malformed: unknown[] = [
      DOC_STATE_CHANGE, // the documentation's own build: no Slipway overrides
      DOC_PHASE_CHANGE,
      null,
      'CodeBuild Build State Change',
      {},
      { source: 'aws.codebuild', 'detail-type': 'CodeBuild Build State Change', detail: null },
      { ...slipwayEvent({ app: 'web', buildId: newId(), status: 'IN_PROGRESS' }), source: 'aws.s3' },
      { ...slipwayEvent({ app: 'web', buildId: newId(), status: 'IN_PROGRESS' }), time: 'yesterday' },
      slipwayEvent({ app: 'web', buildId: newId(), status: 'QUEUED' as never }),
    ];

    for (const event of malformed) await expect(handle(event)).resolves.toBeUndefined();

    expect(log).toHaveLength(malformed.length);
    for (const line of log) expect(line).toMatchObject({ level: 'warn', message: 'build event dropped' });
    expect(JSON.stringify(log)).not.toMatch(/kms1:|SLIPWAY_DEPLOY_KEY_CIPHERTEXT/);
  });
});

describe('applyBuildEvent', () => {
  const at = '2026-11-01T10:00:00.000Z';

  it('moves a queued build to running on start, once', async () => {
    const build = await aQueuedBuild();
    const started: BuildEvent = { app: build.app, buildId: build.id, kind: 'started', at };

    await expect(applyBuildEvent(store, started)).resolves.toMatchObject({
      outcome: 'applied',
      build: { status: 'running', startedAt: at },
    });
    await expect(applyBuildEvent(store, started)).resolves.toEqual({
      outcome: 'ignored',
      reason: 'the build is already running',
    });
  });

  it('keeps the local runner’s own phase names in the order they come', async () => {
    const build = await aQueuedBuild();
    const ids = { app: build.app, buildId: build.id, at };

    await applyBuildEvent(store, { ...ids, kind: 'phase', phase: 'fetch' });
    await applyBuildEvent(store, { ...ids, kind: 'phase', phase: 'build' });

    expect(await records.getBuild(build.app, build.id)).toMatchObject({ status: 'running', phase: 'build' });
  });

  it('cuts an overlong reason', async () => {
    const build = await aQueuedBuild();

    await applyBuildEvent(store, {
      app: build.app,
      buildId: build.id,
      kind: 'finished',
      status: 'failed',
      reason: 'x'.repeat(5000),
      at,
    });

    expect((await records.getBuild(build.app, build.id))?.reason).toHaveLength(1000);
  });

  it('needs a status to finish a build', async () => {
    const build = await aQueuedBuild();

    await expect(applyBuildEvent(store, { app: build.app, buildId: build.id, kind: 'finished', at })).rejects.toThrow(
      /needs a status/,
    );
  });
});

describe('parseCodeBuildEvent', () => {
  it('reads the documented samples as builds Slipway did not start', () => {
    expect(parseCodeBuildEvent(DOC_STATE_CHANGE)).toEqual({ dropped: 'a CodeBuild build that Slipway did not start' });
    expect(parseCodeBuildEvent(DOC_PHASE_CHANGE)).toEqual({ dropped: 'a CodeBuild build that Slipway did not start' });
  });

  it('takes the phase after the completed one when the event lists no open phase', () => {
    const event = slipwayEvent({ app: 'web', buildId: 'b1', completedPhase: 'BUILD', phases: [] });

    expect(parseCodeBuildEvent(event)).toEqual({
      event: expect.objectContaining({ kind: 'phase', phase: 'POST_BUILD', app: 'web', buildId: 'b1' }),
    });
  });
});
