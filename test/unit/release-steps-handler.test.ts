import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { StaleWriteError, TransientError } from '../../functions/domain/errors';
import type { Deployer, Store } from '../../functions/domain/ports';
import type { ReleaseStepDeps, ReleaseStepInput } from '../../functions/domain/releases';
import { codeBuildConsoleUrl } from '../../functions/wiring/aws/release';
import { RELEASE_METRICS } from '../../functions/workflow/release-metrics';
import { createReleaseStepsHandler } from '../../functions/workflow/release-steps-handler';

/**
 * The release-steps Lambda's contract with Step Functions: the Task's Payload reaches the step as
 * it is, the step's result comes back, and a thrown error keeps its `name`, which the Lambda
 * runtime reports as `errorType` and the state machine matches in Retry (`TransientError`) and
 * Catch (everything else).
 */

function setup(store: Partial<Store>, deployer: Partial<Deployer> = {}) {
  const logger = new Logger({ serviceName: 'test', logLevel: 'SILENT' });
  const info = jest.spyOn(logger, 'info');
  const warn = jest.spyOn(logger, 'warn');
  const error = jest.spyOn(logger, 'error');
  // A lock given back before there is a release is found through the build (none here: the first environment's).
  const withBuilds = { getBuild: async () => undefined, ...store };
  const steps: ReleaseStepDeps = { store: withBuilds as Store, deployer: deployer as Deployer };
  const handler = createReleaseStepsHandler({ steps, logger });
  return { handler, info, warn, error };
}

/** What Lambda's Node.js runtime reports for a thrown error: `errorType` is its `name`. */
async function invocationError(run: Promise<unknown>): Promise<{ errorType: string; errorMessage: string }> {
  try {
    await run;
  } catch (thrown) {
    const error = thrown as Error;
    return { errorType: error.name, errorMessage: error.message };
  }
  throw new Error('the invocation succeeded');
}

describe('the release-steps handler', () => {
  it('hands the Task payload to the step as it is and returns the step’s result', async () => {
    const releaseRollout = jest.fn(async () => undefined);
    const { handler, info } = setup({ releaseRollout });

    const result = await handler({ action: 'releaseLock', app: 'web', build: '01B', release: '' });

    expect(result).toEqual({ released: true });
    // No release given: the app's first environment, whose lock has no lane.
    expect(releaseRollout).toHaveBeenCalledWith('web', '01B', undefined);
    expect(info).toHaveBeenCalledWith(
      'release step done',
      expect.objectContaining({ action: 'releaseLock', app: 'web', build: '01B', result: { released: true } }),
    );
  });

  it('passes every field the state machine sends (rollout check)', async () => {
    const status = jest.fn(async () => ({ state: 'in_progress' as const, running: 1, desired: 2 }));
    const getApp = jest.fn(async () => ({ name: 'web', cluster: 'prod', service: 'web', container: 'app' }));
    const updateRelease = jest.fn(async () => undefined);
    const getRelease = jest.fn(async () => ({ id: '01R', app: 'web', status: 'deploying' }));
    const { handler } = setup({ getApp, getRelease, updateRelease } as unknown as Partial<Store>, { status });
    const event: ReleaseStepInput = {
      action: 'checkRollout',
      app: 'web',
      build: '01B',
      release: '01R',
      deployment: 'ecs-svc/1|arn:aws:ecs:eu-west-1:123456789012:task-definition/web:8',
      polls: 2,
    };

    const result = await handler(event);

    expect(status).toHaveBeenCalledWith(
      { app: 'web', cluster: 'prod', service: 'web', container: 'app' },
      'ecs-svc/1|arn:aws:ecs:eu-west-1:123456789012:task-definition/web:8',
    );
    expect(updateRelease).toHaveBeenCalledWith('web', '01R', { running: 1, desired: 2 });
    expect(result).toMatchObject({ state: 'in_progress', polls: 3, deployment: event.deployment });
  });

  it('lets a TransientError from a step reach Step Functions as TransientError (Retry)', async () => {
    const status = jest.fn(async () => {
      throw new TransientError('ECS status for service web in cluster prod failed: ThrottlingException: slow down');
    });
    const getApp = jest.fn(async () => ({ name: 'web', cluster: 'prod', service: 'web' }));
    const getRelease = jest.fn(async () => ({ id: '01R', app: 'web', status: 'deploying' }));
    const { handler, warn, error } = setup({ getApp, getRelease } as unknown as Partial<Store>, { status });

    const failure = await invocationError(
      handler({ action: 'checkRollout', app: 'web', build: '01B', release: '01R', deployment: 'd' }),
    );

    expect(failure.errorType).toBe('TransientError');
    expect(failure.errorMessage).toMatch(/ThrottlingException/);
    expect(warn).toHaveBeenCalledWith(
      'release step failed, to be retried',
      expect.objectContaining({ action: 'checkRollout', app: 'web', build: '01B' }),
    );
    expect(error).not.toHaveBeenCalled();
  });

  it('names a lost conditional-write race TransientError (the step converts it)', async () => {
    const releaseRollout = jest.fn(async () => {
      throw new StaleWriteError('lock of web changed meanwhile');
    });
    const { handler } = setup({ releaseRollout });

    const failure = await invocationError(handler({ action: 'releaseLock', app: 'web', build: '01B' }));

    expect(failure).toEqual({
      errorType: 'TransientError',
      errorMessage: 'StaleWriteError: lock of web changed meanwhile',
    });
  });

  it('leaves telling AWS errors apart to the adapters: a raw SDK error keeps its name', async () => {
    // The AWS clients carry the transientErrors plugin (test/unit/aws-errors.test.ts); the domain
    // does not know AWS's error names.
    const throttled = Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' });
    const { handler } = setup({
      releaseRollout: jest.fn(async () => {
        throw throttled;
      }),
    });

    const failure = await invocationError(handler({ action: 'releaseLock', app: 'web', build: '01B' }));

    expect(failure.errorType).toBe('ThrottlingException');
  });

  it('keeps the name of every other error (Catch → RecordFailure)', async () => {
    const { handler, error } = setup({});

    expect(await invocationError(handler({ action: 'rollout', app: 'web', build: '01B' }))).toEqual({
      errorType: 'ValidationError',
      errorMessage: 'rollout needs the prepared revision',
    });
    expect(await invocationError(handler({ action: 'nonsense', app: 'web', build: '01B' } as never))).toMatchObject({
      errorType: 'ValidationError',
    });
    expect(await invocationError(handler({ action: 'releaseLock' } as never))).toEqual({
      errorType: 'ValidationError',
      errorMessage: 'a release step needs an app and a build',
    });
    expect(error).toHaveBeenCalledWith('release step failed', expect.objectContaining({ action: 'rollout' }));
  });

  it('throws the step’s own error object, not a wrapper', async () => {
    const gone = Object.assign(new Error('no app web'), { name: 'NotFoundError' });
    const getBuild = jest.fn(async () => {
      throw gone;
    });
    const { handler } = setup({ getBuild });

    await expect(handler({ action: 'checkBuild', app: 'web', build: '01B' })).rejects.toBe(gone);
  });

  it('turns a thrown non-Error into an Error, so its errorType still says something', async () => {
    const releaseRollout = jest.fn(async () => {
      throw 'boom';
    });
    const { handler } = setup({ releaseRollout });

    expect(await invocationError(handler({ action: 'releaseLock', app: 'web', build: '01B' }))).toEqual({
      errorType: 'Error',
      errorMessage: 'boom',
    });
  });

  it('logs the caught error of recordFailure by its name only', async () => {
    const getRelease = jest.fn(async () => undefined);
    const listReleases = jest.fn(async () => []);
    const getBuild = jest.fn(async () => undefined);
    const { handler, info } = setup({ getRelease, listReleases, getBuild });

    await handler({
      action: 'recordFailure',
      app: 'web',
      build: '01B',
      error: { Error: 'States.TaskFailed', Cause: '{"errorMessage":"a long cause"}' },
    });

    const [, detail] = info.mock.calls[0] ?? [];
    expect(detail).toMatchObject({ action: 'recordFailure', caught: 'States.TaskFailed' });
    expect(JSON.stringify(detail)).not.toContain('a long cause');
  });
});

describe('the CodeBuild console link of a build', () => {
  const arn = 'arn:aws:codebuild:eu-west-1:123456789012:build/SlipwayBuild-AbC:0b5e9a4e-1111-2222-3333-444455556666';

  it('points at the build in the given region, its id URL-encoded', () => {
    expect(codeBuildConsoleUrl(arn, 'eu-west-1')).toBe(
      'https://eu-west-1.console.aws.amazon.com/codesuite/codebuild/projects/SlipwayBuild-AbC/build/' +
        'SlipwayBuild-AbC%3A0b5e9a4e-1111-2222-3333-444455556666/?region=eu-west-1',
    );
  });

  it('falls back to the ARN’s region', () => {
    expect(codeBuildConsoleUrl(arn)).toMatch(/^https:\/\/eu-west-1\.console\.aws\.amazon\.com\/.*\?region=eu-west-1$/);
  });

  it('links nothing for what is not a CodeBuild build ARN of the commercial partition', () => {
    expect(codeBuildConsoleUrl('local:01B')).toBeUndefined();
    expect(codeBuildConsoleUrl(arn.replace('arn:aws:', 'arn:aws-cn:'))).toBeUndefined();
    expect(codeBuildConsoleUrl('arn:aws:codebuild:eu-west-1:123456789012:project/SlipwayBuild')).toBeUndefined();
  });
});

describe('the release-steps handler’s metric of releases that did not go live', () => {
  /** Runs `act` with a real Powertools Metrics and returns the EMF lines it wrote to stdout. */
  // biome-ignore lint/suspicious/noExplicitAny: an EMF line is untyped JSON
  async function emfLines(act: (metrics: Metrics) => Promise<unknown>): Promise<Array<Record<string, any>>> {
    const metrics = new Metrics({ namespace: RELEASE_METRICS.namespace, serviceName: RELEASE_METRICS.service });
    const lines: string[] = [];
    const write = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      lines.push(String(chunk));
      return true;
    });
    try {
      await act(metrics);
    } finally {
      write.mockRestore();
    }
    return lines.filter((line) => line.includes('"_aws"')).map((line) => JSON.parse(line));
  }

  function handlerWith(store: Partial<Store>, metrics: Metrics) {
    const logger = new Logger({ serviceName: 'test', logLevel: 'SILENT' });
    return createReleaseStepsHandler({ steps: { store: store as Store } as ReleaseStepDeps, logger, metrics });
  }

  /** The one metric of an EMF line as CloudWatch reads it: namespace, name, dimensions, value. */
  // biome-ignore lint/suspicious/noExplicitAny: an EMF line is untyped JSON
  function metricOf(line: Record<string, any>) {
    const [directive] = line._aws.CloudWatchMetrics;
    const [definition] = directive.Metrics;
    const dimensions = Object.fromEntries(directive.Dimensions[0].map((name: string) => [name, line[name]]));
    return { namespace: directive.Namespace, name: definition.Name, dimensions, value: line[definition.Name] };
  }

  it('counts a release recorded failed after its build failed (RecordFailure)', async () => {
    const build = { app: 'web', id: '01B', status: 'running' };
    const store = {
      listReleases: jest.fn(async () => []),
      getBuild: jest.fn(async () => build),
      transitionBuild: jest.fn(async () => ({ ...build, status: 'failed' })),
    } as unknown as Partial<Store>;

    const lines = await emfLines((metrics) =>
      handlerWith(
        store,
        metrics,
      )({
        action: 'recordFailure',
        app: 'web',
        build: '01B',
        release: '',
        error: { Error: 'BuildFailed', Cause: 'the build failed in phase BUILD' },
      }),
    );

    expect(store.transitionBuild).toHaveBeenCalledWith('web', '01B', 'running', 'failed', expect.anything());
    expect(lines).toHaveLength(1);
    expect(metricOf(lines[0] ?? {})).toEqual({
      namespace: 'Slipway',
      name: 'ReleasesFailed',
      dimensions: { service: 'slipway' },
      value: 1,
    });
    expect(lines[0]).toMatchObject({ app: 'web', build: '01B', outcome: 'failed' });
  });

  it('counts a release whose rollout ECS rolled back (RecordRolledBack)', async () => {
    const store = {
      getRelease: jest.fn(async () => ({ app: 'web', id: '01R', status: 'deploying' })),
      transitionRelease: jest.fn(async () => ({})),
    } as unknown as Partial<Store>;

    const lines = await emfLines((metrics) =>
      handlerWith(store, metrics)({ action: 'recordRolledBack', app: 'web', build: '01B', release: '01R' }),
    );

    expect(lines.map(metricOf)).toEqual([
      { namespace: 'Slipway', name: 'ReleasesFailed', dimensions: { service: 'slipway' }, value: 1 },
    ]);
    expect(lines[0]).toMatchObject({ release: '01R', outcome: 'rolled_back' });
  });

  it('counts nothing for a release that went live, nor for a step that is not an outcome', async () => {
    const store = {
      getRelease: jest.fn(async () => ({ app: 'web', id: '01R', status: 'live' })),
      getBuild: jest.fn(async () => undefined),
      releaseRollout: jest.fn(async () => undefined),
    } as unknown as Partial<Store>;

    const lines = await emfLines(async (metrics) => {
      const handler = handlerWith(store, metrics);
      await handler({ action: 'recordLive', app: 'web', build: '01B', release: '01R' });
      await handler({ action: 'releaseLock', app: 'web', build: '01B', release: '' });
    });

    expect(lines).toEqual([]);
  });
});
