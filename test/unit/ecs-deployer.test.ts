import {
  DescribeServicesCommand,
  DescribeTaskDefinitionCommand,
  ECSClient,
  RegisterTaskDefinitionCommand,
  ServiceNotFoundException,
  type TaskDefinition,
  UpdateServiceCommand,
} from '@aws-sdk/client-ecs';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import { EcsDeployer, TransientError } from '../../functions/adapters/deploy/ecs-deployer';

const ecs = mockClient(ECSClient);
const REPO = '123456789012.dkr.ecr.eu-west-1.amazonaws.com/slipway/web';
const OLD = 'arn:aws:ecs:eu-west-1:123456789012:task-definition/web:7';
const NEW = 'arn:aws:ecs:eu-west-1:123456789012:task-definition/web:8';
const DIGEST = `sha256:${'a'.repeat(64)}`;
const DIGEST2 = `sha256:${'b'.repeat(64)}`;
const target = { app: 'web', cluster: 'prod', service: 'web-svc' };

function deployer() {
  return new EcsDeployer({ client: new ECSClient({}) });
}

function currentService(extra: Record<string, unknown> = {}) {
  return {
    services: [
      {
        serviceName: 'web-svc',
        status: 'ACTIVE',
        taskDefinition: OLD,
        deploymentConfiguration: { maximumPercent: 200, minimumHealthyPercent: 100 },
        ...extra,
      },
    ],
  };
}

const taskDefinition: TaskDefinition = {
  taskDefinitionArn: OLD,
  family: 'web',
  revision: 7,
  status: 'ACTIVE',
  taskRoleArn: 'arn:aws:iam::123456789012:role/web-task',
  executionRoleArn: 'arn:aws:iam::123456789012:role/web-exec',
  networkMode: 'awsvpc',
  requiresCompatibilities: ['FARGATE'],
  compatibilities: ['EC2', 'FARGATE'],
  cpu: '256',
  memory: '512',
  registeredAt: new Date(),
  registeredBy: 'someone',
  requiresAttributes: [{ name: 'com.amazonaws.ecs.capability.logging-driver.awslogs' }],
  containerDefinitions: [
    {
      name: 'web',
      image: `${REPO}:old`,
      essential: true,
      portMappings: [{ containerPort: 8080 }],
      environment: [{ name: 'MODE', value: 'prod' }],
    },
  ],
};

describe('the ECS deployer', () => {
  beforeEach(() => {
    ecs.reset();
    ecs.on(DescribeServicesCommand).resolves(currentService());
    ecs.on(RegisterTaskDefinitionCommand).resolves({ taskDefinition: { taskDefinitionArn: NEW } });
  });

  describe('prepare', () => {
    it('copies the current revision with only the image changed, pinned by digest', async () => {
      ecs.on(DescribeTaskDefinitionCommand).resolves({ taskDefinition, tags: [{ key: 'team', value: 'a' }] });

      await expect(deployer().prepare(target, { app: DIGEST }, REPO)).resolves.toEqual({ revision: NEW });

      expect(ecs).toHaveReceivedCommandWith(DescribeServicesCommand, { cluster: 'prod', services: ['web-svc'] });
      expect(ecs).toHaveReceivedCommandWith(DescribeTaskDefinitionCommand, { taskDefinition: OLD, include: ['TAGS'] });
      const input = ecs.commandCalls(RegisterTaskDefinitionCommand)[0]?.args[0].input;
      expect(input).toEqual({
        family: 'web',
        taskRoleArn: 'arn:aws:iam::123456789012:role/web-task',
        executionRoleArn: 'arn:aws:iam::123456789012:role/web-exec',
        networkMode: 'awsvpc',
        requiresCompatibilities: ['FARGATE'],
        cpu: '256',
        memory: '512',
        tags: [{ key: 'team', value: 'a' }],
        containerDefinitions: [{ ...taskDefinition.containerDefinitions?.[0], image: `${REPO}@${DIGEST}` }],
      });
    });

    it('maps compose images to the containers named like the services, leaving sidecars alone', async () => {
      ecs.on(DescribeTaskDefinitionCommand).resolves({
        taskDefinition: {
          ...taskDefinition,
          containerDefinitions: [
            { name: 'api', image: 'x' },
            { name: 'worker', image: 'y' },
            { name: 'log-router', image: 'fluent-bit' },
          ],
        },
      });

      await deployer().prepare(target, { api: DIGEST, worker: DIGEST2 }, REPO);

      const input = ecs.commandCalls(RegisterTaskDefinitionCommand)[0]?.args[0].input;
      expect(input?.containerDefinitions).toEqual([
        { name: 'api', image: `${REPO}@${DIGEST}` },
        { name: 'worker', image: `${REPO}@${DIGEST2}` },
        { name: 'log-router', image: 'fluent-bit' },
      ]);
      expect(input?.tags).toBeUndefined();
    });

    it('uses the target container for a single image when there are several', async () => {
      ecs.on(DescribeTaskDefinitionCommand).resolves({
        taskDefinition: { ...taskDefinition, containerDefinitions: [{ name: 'main' }, { name: 'proxy' }] },
      });

      await deployer().prepare({ ...target, container: 'main' }, { app: DIGEST }, REPO);

      const input = ecs.commandCalls(RegisterTaskDefinitionCommand)[0]?.args[0].input;
      expect(input?.containerDefinitions).toEqual([{ name: 'main', image: `${REPO}@${DIGEST}` }, { name: 'proxy' }]);
    });

    it('refuses when an image has no matching container, or the container is ambiguous', async () => {
      ecs.on(DescribeTaskDefinitionCommand).resolves({
        taskDefinition: { ...taskDefinition, containerDefinitions: [{ name: 'main' }, { name: 'proxy' }] },
      });

      await expect(deployer().prepare(target, { api: DIGEST }, REPO)).rejects.toThrow(
        'image api: the task definition of service web-svc in cluster prod has no container named api (it has main, proxy)',
      );
      await expect(deployer().prepare(target, { app: DIGEST }, REPO)).rejects.toThrow(/has 2 containers/);
      await expect(deployer().prepare({ ...target, container: 'nope' }, { app: DIGEST }, REPO)).rejects.toThrow(
        /no container named nope/,
      );
      expect(ecs).not.toHaveReceivedCommand(RegisterTaskDefinitionCommand);
    });

    it('never deploys by tag', async () => {
      ecs.on(DescribeTaskDefinitionCommand).resolves({ taskDefinition });
      await expect(deployer().prepare(target, { app: 'latest' }, REPO)).rejects.toThrow(/no sha256 digest/);
    });

    it('names the cluster and service when the service is missing', async () => {
      ecs.on(DescribeServicesCommand).resolves({ services: [], failures: [{ reason: 'MISSING' }] });
      await expect(deployer().prepare(target, { app: DIGEST }, REPO)).rejects.toThrow(
        'ECS service web-svc in cluster prod is not available (MISSING)',
      );
    });
  });

  describe('rollout', () => {
    it('updates the service with the circuit breaker and rollback, keeping the other settings', async () => {
      ecs.on(UpdateServiceCommand).resolves({
        service: {
          deployments: [
            { id: 'ecs-svc/2', status: 'PRIMARY', taskDefinition: NEW },
            { id: 'ecs-svc/1', status: 'ACTIVE', taskDefinition: OLD },
          ],
        },
      });

      const { deployment } = await deployer().rollout(target, NEW);

      expect(deployment).toBe(`ecs-svc/2|${NEW}`);
      expect(ecs).toHaveReceivedCommandWith(UpdateServiceCommand, {
        cluster: 'prod',
        service: 'web-svc',
        taskDefinition: NEW,
        forceNewDeployment: false,
        deploymentConfiguration: {
          maximumPercent: 200,
          minimumHealthyPercent: 100,
          deploymentCircuitBreaker: { enable: true, rollback: true },
        },
      });
    });
  });

  describe('status', () => {
    function deployments(list: Record<string, unknown>[], events: { message: string }[] = []) {
      ecs.on(DescribeServicesCommand).resolves(currentService({ deployments: list, events }));
    }

    it('reports a completed rollout', async () => {
      deployments([{ id: 'ecs-svc/2', status: 'PRIMARY', taskDefinition: NEW, rolloutState: 'COMPLETED' }]);
      await expect(deployer().status(target, `ecs-svc/2|${NEW}`)).resolves.toMatchObject({ state: 'completed' });
    });

    it('reports progress with running and desired counts', async () => {
      deployments([
        {
          id: 'ecs-svc/2',
          status: 'PRIMARY',
          taskDefinition: NEW,
          rolloutState: 'IN_PROGRESS',
          runningCount: 1,
          desiredCount: 3,
        },
        { id: 'ecs-svc/1', status: 'ACTIVE', taskDefinition: OLD, rolloutState: 'COMPLETED' },
      ]);
      await expect(deployer().status(target, `ecs-svc/2|${NEW}`)).resolves.toEqual({
        state: 'in_progress',
        running: 1,
        desired: 3,
      });
    });

    it('reports a failed rollout with its reason', async () => {
      deployments([
        {
          id: 'ecs-svc/2',
          status: 'PRIMARY',
          taskDefinition: NEW,
          rolloutState: 'FAILED',
          rolloutStateReason: 'ECS deployment circuit breaker: tasks failed to start.',
        },
      ]);
      await expect(deployer().status(target, 'ecs-svc/2')).resolves.toMatchObject({
        state: 'failed',
        reason: 'ECS deployment circuit breaker: tasks failed to start.',
      });
    });

    it('reports rolled_back while the breaker rolls back to the old revision', async () => {
      deployments([
        { id: 'ecs-svc/3', status: 'PRIMARY', taskDefinition: OLD, rolloutState: 'IN_PROGRESS' },
        {
          id: 'ecs-svc/2',
          status: 'ACTIVE',
          taskDefinition: NEW,
          rolloutState: 'FAILED',
          rolloutStateReason: 'ECS deployment circuit breaker: tasks failed to start.',
        },
      ]);
      await expect(deployer().status(target, `ecs-svc/2|${NEW}`)).resolves.toMatchObject({
        state: 'rolled_back',
        reason: 'ECS deployment circuit breaker: tasks failed to start.',
      });
    });

    it('reports rolled_back once the breaker put the old revision back, with the reason from the events', async () => {
      deployments(
        [{ id: 'ecs-svc/3', status: 'PRIMARY', taskDefinition: OLD, rolloutState: 'COMPLETED' }],
        [
          { message: '(service web-svc) has reached a steady state.' },
          { message: '(service web-svc) rolling back to deployment ecs-svc/3.' },
          { message: '(service web-svc) (deployment ecs-svc/2) deployment failed: tasks failed to start.' },
        ],
      );
      await expect(deployer().status(target, `ecs-svc/2|${NEW}`)).resolves.toEqual({
        state: 'rolled_back',
        reason: '(service web-svc) (deployment ecs-svc/2) deployment failed: tasks failed to start.',
      });
    });

    it('says which revision the service went back to when no event explains it', async () => {
      deployments([{ id: 'ecs-svc/3', status: 'PRIMARY', taskDefinition: OLD, rolloutState: 'COMPLETED' }]);
      await expect(deployer().status(target, `ecs-svc/2|${NEW}`)).resolves.toEqual({
        state: 'rolled_back',
        reason: `the deployment circuit breaker rolled service web-svc back to ${OLD}`,
      });
    });
  });

  describe('errors', () => {
    it('turns throttling into a TransientError (for the workflow to retry)', async () => {
      // ECS models no throttling exception class: the SDK raises a generic service error by that name.
      const throttled = Object.assign(new Error('Rate exceeded'), {
        name: 'ThrottlingException',
        $metadata: { httpStatusCode: 400 },
      });
      ecs.on(DescribeServicesCommand).rejects(throttled);

      const error = await deployer()
        .status(target, 'ecs-svc/2')
        .catch((e: unknown) => e);

      expect(error).toBeInstanceOf(TransientError);
      expect((error as Error).name).toBe('TransientError');
      expect((error as Error).message).toBe(
        'ECS status for service web-svc in cluster prod failed: ThrottlingException: Rate exceeded',
      );
    });

    it('keeps other errors permanent, naming the cluster and service', async () => {
      ecs
        .on(UpdateServiceCommand)
        .rejects(new ServiceNotFoundException({ message: 'Service not found.', $metadata: {} }));

      const error = await deployer()
        .rollout(target, NEW)
        .catch((e: unknown) => e);

      expect(error).not.toBeInstanceOf(TransientError);
      expect((error as Error).message).toBe(
        'ECS rollout for service web-svc in cluster prod failed: ServiceNotFoundException: Service not found.',
      );
    });

    it('needs a cluster and a service', async () => {
      await expect(deployer().rollout({ app: 'web' }, NEW)).rejects.toThrow(
        'app web has no ECS cluster and service to deploy to',
      );
    });
  });
});
