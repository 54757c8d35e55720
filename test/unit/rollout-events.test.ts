import { SendTaskSuccessCommand, SFNClient } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import fc from 'fast-check';
import { runState } from '../../functions/adapters/builder/codebuild-builder';
import { StepFunctionsTaskTokens } from '../../functions/adapters/workflow/sfn-task-tokens';
import {
  createRolloutEventsHandler,
  type RolloutEventsDeps,
  watchedDeployment,
} from '../../functions/http/rollout-events';
import { LocalTaskTokens } from '../../functions/workflow/local-task-tokens';

/**
 * The event side of the release waits: ECS's events as AWS documents them ("Amazon ECS service
 * deployment state change events", "Amazon ECS task state change events"), the Step Functions
 * adapter's reading of SendTaskSuccess's answers, the local task tokens' rules, and what a
 * CodeBuild BatchGetBuilds build means for the recheck.
 */

/** The documentation's deployment event, as EventBridge delivers it. */
const DEPLOYMENT_COMPLETED = {
  version: '0',
  id: 'ddca6449-b258-46c0-8653-e0e3a6EXAMPLE',
  'detail-type': 'ECS Deployment State Change',
  source: 'aws.ecs',
  account: '111122223333',
  time: '2020-05-23T12:31:14Z',
  region: 'us-west-2',
  resources: ['arn:aws:ecs:us-west-2:111122223333:service/default/servicetest'],
  detail: {
    eventType: 'INFO',
    eventName: 'SERVICE_DEPLOYMENT_COMPLETED',
    deploymentId: 'ecs-svc/123',
    updatedAt: '2020-05-23T11:11:11Z',
    reason: 'ECS deployment deploymentId completed.',
  },
};

/** A task state change of a service's task (trimmed to the fields that matter here). */
const TASK_RUNNING = {
  version: '0',
  id: '3317b2af-7005-947d-b652-f55e762e571a',
  'detail-type': 'ECS Task State Change',
  source: 'aws.ecs',
  account: '111122223333',
  time: '2020-01-23T17:57:58Z',
  region: 'us-west-2',
  resources: ['arn:aws:ecs:us-west-2:111122223333:task/FargateCluster/c13b4cb40f1f4fe4a2971f76ae5a47ad'],
  detail: {
    clusterArn: 'arn:aws:ecs:us-west-2:111122223333:cluster/FargateCluster',
    group: 'service:servicetest',
    lastStatus: 'RUNNING',
    desiredStatus: 'RUNNING',
    startedBy: 'ecs-svc/123',
  },
};

/** The handler over a store that only looks rollouts up with `findRolloutWatch` (nothing else is reached). */
function handlerLookingUp(
  findRolloutWatch: (watch: string) => Promise<{ app: string; release: string } | undefined>,
  logger = { info: () => undefined, warn: () => undefined } as RolloutEventsDeps['logger'],
) {
  return createRolloutEventsHandler({
    store: {
      findRolloutWatch,
      getRelease: async () => undefined,
      getApp: async () => undefined,
      updateRelease: async () => undefined,
      listEnvironments: async () => [],
    },
    deployer: {
      prepare: async () => ({ revision: '' }),
      rollout: async () => ({ deployment: '' }),
      status: async () => ({ state: 'in_progress' }),
    },
    tasks: new LocalTaskTokens(),
    logger,
  });
}

describe('ECS events name the deployment a release waits on', () => {
  it('reads the deployment id of deployment and service-task events', () => {
    expect(watchedDeployment(DEPLOYMENT_COMPLETED)).toEqual({
      watch: 'ecs-svc/123',
      what: 'SERVICE_DEPLOYMENT_COMPLETED',
    });
    for (const eventName of ['SERVICE_DEPLOYMENT_IN_PROGRESS', 'SERVICE_DEPLOYMENT_FAILED']) {
      const event = { ...DEPLOYMENT_COMPLETED, detail: { ...DEPLOYMENT_COMPLETED.detail, eventName } };
      expect(watchedDeployment(event)).toEqual({ watch: 'ecs-svc/123', what: eventName });
    }
    expect(watchedDeployment(TASK_RUNNING)).toEqual({ watch: 'ecs-svc/123', what: 'task RUNNING' });
  });

  it('drops tasks not started by a service deployment, other sources, and anything malformed, never throwing', () => {
    const standalone = { ...TASK_RUNNING, detail: { ...TASK_RUNNING.detail, startedBy: 'my-batch-job' } };
    expect(watchedDeployment(standalone)).toHaveProperty('dropped');
    expect(watchedDeployment({ ...DEPLOYMENT_COMPLETED, source: 'aws.codebuild' })).toHaveProperty('dropped');
    fc.assert(
      fc.property(fc.anything(), (raw) => {
        const result = watchedDeployment(raw);
        expect('dropped' in result || typeof result.watch === 'string').toBe(true);
      }),
    );
  });

  it('the handler logs and drops what it cannot read, and looks up the rest', async () => {
    const lines: Array<[string, Record<string, unknown>]> = [];
    const logger = {
      info: (m: string, a: Record<string, unknown>) => lines.push([m, a]),
      warn: (m: string, a: Record<string, unknown>) => lines.push([m, a]),
    };
    const looked: string[] = [];
    const handler = handlerLookingUp(async (watch) => {
      looked.push(watch);
      return undefined;
    }, logger);
    await handler({ nonsense: true });
    await handler(DEPLOYMENT_COMPLETED);
    expect(looked).toEqual(['ecs-svc/123']);
    expect(lines.map(([m, a]) => [m, a.reason ?? a.outcome])).toEqual([
      ['rollout event dropped', expect.stringContaining('not an ECS')],
      ['rollout event', 'not a rollout of Slipway'],
    ]);
  });

  it('throws when the table cannot be read, so EventBridge retries and then parks the event (dead-letter alarm)', async () => {
    const handler = handlerLookingUp(async () => {
      throw Object.assign(new Error('Rate exceeded'), { name: 'TransientError' });
    });
    await expect(handler(DEPLOYMENT_COMPLETED)).rejects.toThrow('Rate exceeded');
  });
});

describe('Step Functions task tokens', () => {
  const sfn = mockClient(SFNClient);
  afterEach(() => sfn.reset());
  afterAll(() => sfn.restore());

  it('sends the output as JSON and answers true', async () => {
    sfn.on(SendTaskSuccessCommand).resolves({});
    const tokens = new StepFunctionsTaskTokens(new SFNClient({ region: 'eu-west-1' }));
    expect(await tokens.succeed('AQB8AAAAKgAAAAMAAAAA', { status: 'succeeded' })).toBe(true);
    expect(sfn.commandCalls(SendTaskSuccessCommand)[0]?.args[0].input).toEqual({
      taskToken: 'AQB8AAAAKgAAAAMAAAAA',
      output: '{"status":"succeeded"}',
    });
  });

  it('answers false for a token nobody waits on any more, and throws anything else', async () => {
    const tokens = new StepFunctionsTaskTokens(new SFNClient({ region: 'eu-west-1' }));
    for (const name of ['TaskTimedOut', 'TaskDoesNotExist', 'InvalidToken']) {
      sfn.on(SendTaskSuccessCommand).rejects(Object.assign(new Error(name), { name }));
      expect(await tokens.succeed('t', {})).toBe(false);
    }
    sfn.on(SendTaskSuccessCommand).rejects(Object.assign(new Error('no'), { name: 'AccessDeniedException' }));
    await expect(tokens.succeed('t', {})).rejects.toThrow('no');
  });
});

describe('local task tokens', () => {
  it('complete once, with a JSON copy of the output; unknown and spent tokens answer false', async () => {
    const tokens = new LocalTaskTokens();
    const token = tokens.issue();
    expect(token).not.toBe(tokens.issue());
    const wait = tokens.wait(token, 5_000);
    const output = { status: 'succeeded', when: new Date(0) };
    expect(await tokens.succeed(token, output)).toBe(true);
    await expect(wait.done).resolves.toEqual({ status: 'succeeded', when: '1970-01-01T00:00:00.000Z' });
    expect(await tokens.succeed(token, output)).toBe(false);
    expect(await tokens.succeed('local-task-never-issued', output)).toBe(false);
    expect(tokens.open).toBe(0);
  });

  it('time out as Step Functions names it, after which the token is spent', async () => {
    const tokens = new LocalTaskTokens();
    const token = tokens.issue();
    const wait = tokens.wait(token, 20);
    await expect(wait.done).rejects.toMatchObject({ name: 'States.Timeout' });
    expect(await tokens.succeed(token, {})).toBe(false);
  });
});

describe('a CodeBuild build as the recheck reads it (BatchGetBuilds)', () => {
  it('maps statuses, exported digests and the failing phase', () => {
    const images = { web: `sha256:${'a'.repeat(64)}` };
    expect(
      runState({
        buildStatus: 'SUCCEEDED',
        exportedEnvironmentVariables: [{ name: 'SLIPWAY_IMAGES', value: JSON.stringify(images) }],
      }),
    ).toEqual({ status: 'succeeded', images });
    expect(runState({ buildStatus: 'IN_PROGRESS' })).toEqual({ status: 'running' });
    expect(runState({ buildStatus: 'STOPPED' })).toMatchObject({ status: 'canceled' });
    expect(
      runState({
        buildStatus: 'FAILED',
        phases: [
          { phaseType: 'INSTALL', phaseStatus: 'SUCCEEDED' },
          {
            phaseType: 'BUILD',
            phaseStatus: 'FAILED',
            contexts: [{ statusCode: 'COMMAND_EXECUTION_ERROR', message: 'docker build exited 1' }],
          },
        ],
      }),
    ).toEqual({ status: 'failed', reason: 'BUILD: COMMAND_EXECUTION_ERROR: docker build exited 1' });
    // Digests that are not a map of strings are not trusted: the build has none.
    expect(
      runState({ buildStatus: 'SUCCEEDED', exportedEnvironmentVariables: [{ name: 'SLIPWAY_IMAGES', value: '[1]' }] }),
    ).toEqual({ status: 'succeeded' });
  });
});
