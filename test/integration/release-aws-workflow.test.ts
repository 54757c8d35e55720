import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  BatchGetBuildsCommand,
  CodeBuildClient,
  StartBuildCommand,
  type StartBuildCommandInput,
} from '@aws-sdk/client-codebuild';
import {
  CreateRepositoryCommand,
  type CreateRepositoryCommandInput,
  DescribeRepositoriesCommand,
  ECRClient,
  PutLifecyclePolicyCommand,
} from '@aws-sdk/client-ecr';
import {
  type ContainerDefinition,
  type Deployment,
  DescribeServicesCommand,
  type DescribeServicesCommandInput,
  DescribeTaskDefinitionCommand,
  type DescribeTaskDefinitionCommandInput,
  ECSClient,
  RegisterTaskDefinitionCommand,
  type RegisterTaskDefinitionCommandInput,
  type Service,
  type TaskDefinition,
  UpdateServiceCommand,
  type UpdateServiceCommandInput,
} from '@aws-sdk/client-ecs';
import { SendTaskSuccessCommand, SFNClient } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { CodeBuildBuilder } from '../../functions/adapters/builder/codebuild-builder';
import { EcsDeployer } from '../../functions/adapters/deploy/ecs-deployer';
import { DynamoDbStore } from '../../functions/adapters/dynamodb/store';
import { createGitlabApi } from '../../functions/adapters/gitlab/gitbeaker-client';
import { SlackNotifier } from '../../functions/adapters/notify/slack-notifier';
import { EcrRegistry } from '../../functions/adapters/registry/ecr-registry';
import { LocalVault } from '../../functions/adapters/vault/local-vault';
import { StepFunctionsTaskTokens } from '../../functions/adapters/workflow/sfn-task-tokens';
import { newHookId, newId } from '../../functions/domain/ids';
import type { App, Build, Release } from '../../functions/domain/model';
import { type ReleaseStepDeps, rollbackRelease } from '../../functions/domain/releases';
import { createBuildEventsHandler } from '../../functions/http/build-events';
import {
  createRolloutEventsHandler,
  DEPLOYMENT_STATE_CHANGE,
  TASK_STATE_CHANGE,
} from '../../functions/http/rollout-events';
import { startLocalExecution } from '../../functions/workflow/local-executor';
import { LocalTaskTokens } from '../../functions/workflow/local-task-tokens';
import { slipwayEvent } from '../support/codebuild-events';
import { type FreshTable, freshTable } from '../support/dynamodb';
import { type GitlabStandin, startGitlabStandin } from '../support/gitlab-standin';

/**
 * The release workflow on AWS adapters (issue #5): the real definition (workflow/release.asl.json)
 * run by the local executor, with the real EcsDeployer, CodeBuildBuilder and EcrRegistry whose SDK
 * clients are mocked at the `send` boundary (aws-sdk-client-mock) by a small stateful ECS, the
 * real DynamoDbStore on DynamoDB Local, GitLab reporting through @gitbeaker/rest to the GitLab
 * stand-in (real HTTP), and Slack through the real SlackNotifier to a node:http receiver.
 *
 * Each test gets its own table (so its own GitLab connection) and its own app.
 */

const TOKEN = 'glpat-release-aws-workflow-0123456789';
const PROJECT_ID = 4242;
const PROJECT_PATH = 'acme/web-shop';
const REGISTRY = '123456789012.dkr.ecr.eu-west-1.amazonaws.com';
const ACCOUNT_ARN = 'arn:aws:ecs:eu-west-1:123456789012';
const BREAKER_REASON = 'ECS deployment circuit breaker: tasks failed to start.';
/** SlackNotifier's default retries (3) plus the first attempt. */
const SLACK_ATTEMPTS = 4;

const ecs = mockClient(ECSClient);
/**
 * Step Functions' SendTaskSuccess, answered as the service does for the executor's tokens: the
 * waiting state goes on, and a token nobody waits on any more is `TaskTimedOut`.
 */
const sfn = mockClient(SFNClient);
const localTasks = new LocalTaskTokens();
const quietLogger = { info: () => undefined, warn: () => undefined };
const codebuild = mockClient(CodeBuildClient);
const ecr = mockClient(ECRClient);

const digestOf = (buildId: string) => `sha256:${createHash('sha256').update(buildId).digest('hex')}`;
const randomSha = () => randomBytes(20).toString('hex');
const copy = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;

// ---------------------------------------------------------------------------------------------
// A small ECS: services with deployments that roll out over a few DescribeServices calls.

type RolloutPlan = 'complete' | 'breaker';

interface FakeService {
  cluster: string;
  name: string;
  taskDefinition: string;
  deploymentConfiguration: Service['deploymentConfiguration'];
  deployments: Deployment[];
  events: Array<{ id: string; message: string }>;
  /** How the next rollout ends. */
  plan: RolloutPlan;
  /** DescribeServices calls the deployment in flight stays IN_PROGRESS for. */
  pollsLeft: number;
  /** The breaker's rollback deployment settles on the next look. */
  rollingBack: boolean;
  /** UpdateService calls still to reject with ThrottlingException. */
  throttleUpdates: number;
  /** Where the service's events go (EventBridge → the rollout-events function). */
  onEvent?: (event: Record<string, unknown>) => Promise<void>;
  /** Its events are lost. */
  silent?: boolean;
  /** How long each step of a rollout takes, in ms. @default 5 */
  stepMs?: number;
}

class FakeEcs {
  readonly services = new Map<string, FakeService>();
  readonly definitions = new Map<string, TaskDefinition>();
  private seq = 0;

  /** A running service on revision 1 of `family`, with the app container and a sidecar. */
  addService(cluster: string, name: string, family: string): FakeService {
    const arn = `${ACCOUNT_ARN}:task-definition/${family}:1`;
    this.definitions.set(arn, {
      taskDefinitionArn: arn,
      family,
      revision: 1,
      status: 'ACTIVE',
      networkMode: 'awsvpc',
      requiresCompatibilities: ['FARGATE'],
      cpu: '256',
      memory: '512',
      executionRoleArn: 'arn:aws:iam::123456789012:role/exec',
      containerDefinitions: [
        { name: 'web', image: `${REGISTRY}/slipway/${family}:initial`, essential: true },
        { name: 'log-router', image: 'public.ecr.aws/aws-observability/aws-for-fluent-bit:stable', essential: false },
      ],
    });
    const service: FakeService = {
      cluster,
      name,
      taskDefinition: arn,
      deploymentConfiguration: { maximumPercent: 200, minimumHealthyPercent: 100 },
      deployments: [
        {
          id: `ecs-svc/${++this.seq}`,
          status: 'PRIMARY',
          taskDefinition: arn,
          rolloutState: 'COMPLETED',
          runningCount: 2,
          desiredCount: 2,
        },
      ],
      events: [],
      plan: 'complete',
      pollsLeft: 0,
      rollingBack: false,
      throttleUpdates: 0,
    };
    this.services.set(name, service);
    return service;
  }

  describeServices(input: DescribeServicesCommandInput) {
    const name = input.services?.[0] ?? '';
    const service = this.services.get(name);
    if (!service || service.cluster !== input.cluster) {
      return { services: [], failures: [{ arn: name, reason: 'MISSING' }] };
    }
    return { services: [this.present(service)], failures: [] };
  }

  /** The service's rollout moves on by itself, a step every few ms, as ECS's does, telling its events. */
  private run(service: FakeService): void {
    const step = async () => {
      const events = this.advance(service);
      for (const event of events) if (!service.silent) await service.onEvent?.(event);
      const settled = !service.rollingBack && !service.deployments.some((d) => d.rolloutState === 'IN_PROGRESS');
      if (!settled) setTimeout(() => void step(), service.stepMs ?? 5);
    };
    setTimeout(() => void step(), service.stepMs ?? 5);
  }

  /** An ECS event as EventBridge delivers it: its envelope around ECS's detail. */
  private ecsEvent(detailType: string, resource: string, detail: Record<string, unknown>): Record<string, unknown> {
    return {
      version: '0',
      id: randomBytes(8).toString('hex'),
      'detail-type': detailType,
      source: 'aws.ecs',
      account: '123456789012',
      time: new Date().toISOString(),
      region: 'eu-west-1',
      resources: [resource],
      detail,
    };
  }

  /** ECS's event for a deployment of the service. */
  private deploymentEvent(service: FakeService, eventName: string, deploymentId: string): Record<string, unknown> {
    return this.ecsEvent(DEPLOYMENT_STATE_CHANGE, `${ACCOUNT_ARN}:service/${service.cluster}/${service.name}`, {
      eventType: eventName.endsWith('FAILED') ? 'ERROR' : 'INFO',
      eventName,
      deploymentId,
      updatedAt: new Date().toISOString(),
      reason: `ECS deployment ${deploymentId} ${eventName.toLowerCase()}`,
    });
  }

  /** ECS's event for a task of the service that a deployment started. */
  private taskEvent(service: FakeService, deploymentId: string): Record<string, unknown> {
    return this.ecsEvent(
      TASK_STATE_CHANGE,
      `${ACCOUNT_ARN}:task/${service.cluster}/${randomBytes(16).toString('hex')}`,
      {
        clusterArn: `${ACCOUNT_ARN}:cluster/${service.cluster}`,
        group: `service:${service.name}`,
        startedBy: deploymentId,
        lastStatus: 'RUNNING',
        desiredStatus: 'RUNNING',
      },
    );
  }

  describeTaskDefinition(input: DescribeTaskDefinitionCommandInput) {
    const definition = this.definitions.get(input.taskDefinition ?? '');
    if (!definition) {
      throw Object.assign(new Error('Unable to describe task definition.'), {
        name: 'ClientException',
        $metadata: { httpStatusCode: 400 },
      });
    }
    return { taskDefinition: copy(definition), tags: [] };
  }

  registerTaskDefinition(input: RegisterTaskDefinitionCommandInput) {
    const family = input.family ?? '';
    const revision =
      Math.max(0, ...[...this.definitions.values()].filter((d) => d.family === family).map((d) => d.revision ?? 0)) + 1;
    const arn = `${ACCOUNT_ARN}:task-definition/${family}:${revision}`;
    const definition = {
      ...copy(input),
      taskDefinitionArn: arn,
      revision,
      status: 'ACTIVE',
    } as TaskDefinition;
    this.definitions.set(arn, definition);
    return { taskDefinition: copy(definition) };
  }

  updateService(input: UpdateServiceCommandInput) {
    const service = this.services.get(input.service ?? '');
    if (!service) throw Object.assign(new Error('Service not found.'), { name: 'ServiceNotFoundException' });
    if (service.throttleUpdates > 0) {
      service.throttleUpdates -= 1;
      // What the SDK raises for ECS throttling: a service error by that name, with $metadata.
      throw Object.assign(new Error('Rate exceeded'), {
        name: 'ThrottlingException',
        $fault: 'client',
        $metadata: { httpStatusCode: 400, requestId: 'throttled' },
      });
    }
    const revision = input.taskDefinition ?? service.taskDefinition;
    for (const d of service.deployments) if (d.status === 'PRIMARY') d.status = 'ACTIVE';
    service.deployments.unshift({
      id: `ecs-svc/${++this.seq}`,
      status: 'PRIMARY',
      taskDefinition: revision,
      rolloutState: 'IN_PROGRESS',
      runningCount: 0,
      desiredCount: 2,
    });
    service.deploymentConfiguration = copy(input.deploymentConfiguration);
    service.pollsLeft = 2;
    this.run(service);
    return { service: this.present(service) };
  }

  /** One step of the rollout (every few ms): what changed, as ECS's events about it. */
  private advance(service: FakeService): Array<Record<string, unknown>> {
    if (service.rollingBack) {
      // The breaker's deployment of the old revision has finished; the failed one is gone.
      const primary = service.deployments.find((d) => d.status === 'PRIMARY');
      if (primary) Object.assign(primary, { rolloutState: 'COMPLETED', runningCount: 2 });
      service.deployments = primary ? [primary] : [];
      service.events.unshift({
        id: randomBytes(4).toString('hex'),
        message: `(service ${service.name}) has reached a steady state.`,
      });
      service.rollingBack = false;
      return primary?.id ? [this.deploymentEvent(service, 'SERVICE_DEPLOYMENT_COMPLETED', primary.id)] : [];
    }
    const ours = service.deployments.find((d) => d.status === 'PRIMARY' && d.rolloutState === 'IN_PROGRESS');
    if (!ours?.id) return [];
    if (service.pollsLeft > 1) {
      service.pollsLeft -= 1;
      ours.runningCount = 1;
      return [
        this.deploymentEvent(service, 'SERVICE_DEPLOYMENT_IN_PROGRESS', ours.id),
        this.taskEvent(service, ours.id),
      ];
    }
    service.pollsLeft = 0;
    if (service.plan === 'complete') {
      Object.assign(ours, { rolloutState: 'COMPLETED', runningCount: 2 });
      service.deployments = [ours];
      service.taskDefinition = ours.taskDefinition ?? service.taskDefinition;
      service.events.unshift({
        id: randomBytes(4).toString('hex'),
        message: `(service ${service.name}) has reached a steady state.`,
      });
      return [this.taskEvent(service, ours.id), this.deploymentEvent(service, 'SERVICE_DEPLOYMENT_COMPLETED', ours.id)];
    }
    // The circuit breaker: our deployment FAILED, and ECS at once deploys the previous revision again.
    const previous = service.taskDefinition;
    Object.assign(ours, {
      status: 'ACTIVE',
      rolloutState: 'FAILED',
      rolloutStateReason: BREAKER_REASON,
      runningCount: 0,
    });
    service.deployments = [
      {
        id: `ecs-svc/${++this.seq}`,
        status: 'PRIMARY',
        taskDefinition: previous,
        rolloutState: 'IN_PROGRESS',
        runningCount: 2,
        desiredCount: 2,
      },
      ours,
    ];
    service.events.unshift(
      {
        id: randomBytes(4).toString('hex'),
        message: `(service ${service.name}) (deployment ${ours.id}) deployment failed: tasks failed to start.`,
      },
      {
        id: randomBytes(4).toString('hex'),
        message: `(service ${service.name}) rolling back to deployment ecs-svc/${this.seq}.`,
      },
    );
    service.rollingBack = true;
    return [
      this.deploymentEvent(service, 'SERVICE_DEPLOYMENT_FAILED', ours.id),
      this.deploymentEvent(service, 'SERVICE_DEPLOYMENT_IN_PROGRESS', `ecs-svc/${this.seq}`),
    ];
  }

  private present(service: FakeService): Service {
    return copy({
      serviceName: service.name,
      serviceArn: `${ACCOUNT_ARN}:service/${service.cluster}/${service.name}`,
      clusterArn: `${ACCOUNT_ARN}:cluster/${service.cluster}`,
      status: 'ACTIVE',
      taskDefinition: service.taskDefinition,
      deploymentConfiguration: service.deploymentConfiguration,
      deployments: service.deployments,
      events: service.events,
      desiredCount: 2,
    });
  }
}

// ---------------------------------------------------------------------------------------------
// Slack: a real HTTP receiver that records every JSON body it is sent.

interface SlackBody {
  text: string;
  blocks: Array<Record<string, unknown>>;
}

interface SlackReceiver {
  url: string;
  received: SlackBody[];
  /** `ok`: 200; `fail`: 500 on every call. */
  mode: 'ok' | 'fail';
  server: Server;
}

async function startSlackReceiver(): Promise<SlackReceiver> {
  const receiver = { received: [] as SlackBody[], mode: 'ok' as 'ok' | 'fail' } as SlackReceiver;
  receiver.server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      receiver.received.push(JSON.parse(Buffer.concat(chunks).toString('utf8')) as SlackBody);
      if (receiver.mode === 'fail') res.writeHead(500, { 'content-type': 'text/plain' }).end('internal_error');
      else res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
    });
  });
  await new Promise<void>((resolve) => receiver.server.listen(0, '127.0.0.1', resolve));
  const { port } = receiver.server.address() as AddressInfo;
  receiver.url = `http://127.0.0.1:${port}/services/T000/B000/secret`;
  return receiver;
}

// ---------------------------------------------------------------------------------------------

const fakeEcs = new FakeEcs();
let gitlab: GitlabStandin;
let slack: SlackReceiver;
let vaultDir: string;
let vault: LocalVault;
const tables: FreshTable[] = [];
/** Builds CodeBuild was asked to start: Slipway build id → app. */
const started = new Map<string, string>();
/** The store each app lives in (CodeBuild's fake reports build events there). */
const storeOfApp = new Map<string, DynamoDbStore>();
/** Apps whose CodeBuild events are lost. */
const silentBuilds = new Set<string>();
const sfnClient = new SFNClient({ region: 'eu-west-1' });

async function standinWithProject(): Promise<GitlabStandin> {
  const standin = await startGitlabStandin();
  standin.addUser({ username: 'platform-bot', token: TOKEN, scopes: ['api'] });
  standin.addProject({ path: PROJECT_PATH, id: PROJECT_ID });
  return standin;
}

beforeAll(async () => {
  vaultDir = mkdtempSync(join(tmpdir(), 'slipway-release-aws-'));
  vault = LocalVault.open(join(vaultDir, 'vault.key'));
  gitlab = await standinWithProject();
  slack = await startSlackReceiver();

  ecs.on(DescribeServicesCommand).callsFake(async (input) => fakeEcs.describeServices(input));
  ecs.on(DescribeTaskDefinitionCommand).callsFake(async (input) => fakeEcs.describeTaskDefinition(input));
  ecs.on(RegisterTaskDefinitionCommand).callsFake(async (input) => fakeEcs.registerTaskDefinition(input));
  ecs.on(UpdateServiceCommand).callsFake(async (input) => fakeEcs.updateService(input));

  sfn.on(SendTaskSuccessCommand).callsFake(async (input: { taskToken?: string; output?: string }) => {
    const woken = await localTasks.succeed(input.taskToken ?? '', JSON.parse(input.output ?? '{}'));
    if (!woken) {
      throw Object.assign(new Error('Task Timed Out'), { name: 'TaskTimedOut', $metadata: { httpStatusCode: 400 } });
    }
    return {};
  });

  ecr.on(CreateRepositoryCommand).callsFake(async (input: CreateRepositoryCommandInput) => ({
    repository: { repositoryName: input.repositoryName, repositoryUri: `${REGISTRY}/${input.repositoryName}` },
  }));
  ecr.on(DescribeRepositoriesCommand).rejects(new Error('not expected: CreateRepository answers'));
  ecr.on(PutLifecyclePolicyCommand).resolves({});

  // CodeBuild starts the build; the build then reports as the EventBridge rule would, with digests.
  codebuild.on(StartBuildCommand).callsFake(async (input: StartBuildCommandInput) => {
    const env = Object.fromEntries((input.environmentVariablesOverride ?? []).map((v) => [v.name, v.value ?? '']));
    const buildId = env.SLIPWAY_BUILD_ID ?? '';
    const app = env.SLIPWAY_APP ?? '';
    const uuid = randomBytes(16).toString('hex');
    if (!started.has(buildId)) {
      started.set(buildId, app);
      const store = storeOfApp.get(app);
      setTimeout(() => {
        if (!store || silentBuilds.has(app)) return;
        // EventBridge → the build-events function, with CodeBuild's own event shape.
        const handler = createBuildEventsHandler({
          store,
          tasks: new StepFunctionsTaskTokens(sfnClient),
          logger: quietLogger,
        });
        const exported = { SLIPWAY_IMAGES: JSON.stringify({ app: digestOf(buildId) }) };
        void (async () => {
          await handler(slipwayEvent({ app, buildId, status: 'IN_PROGRESS' }));
          await handler(slipwayEvent({ app, buildId, status: 'SUCCEEDED', exported }));
        })();
      }, 5);
    }
    return {
      build: {
        id: `${input.projectName}:${uuid}`,
        arn: `arn:aws:codebuild:eu-west-1:123456789012:build/${input.projectName}:${uuid}`,
      },
    };
  });
});

afterAll(async () => {
  ecs.restore();
  sfn.restore();
  codebuild.restore();
  ecr.restore();
  for (const table of tables) table.raw.destroy();
  await gitlab?.stop();
  await new Promise<void>((resolve) => (slack ? slack.server.close(() => resolve()) : resolve()));
  if (vaultDir) rmSync(vaultDir, { recursive: true, force: true });
});

interface World {
  store: DynamoDbStore;
  deps: ReleaseStepDeps;
  app: App;
  service: FakeService;
  push(commit?: Partial<Pick<Build, 'commit' | 'message' | 'author'>>): Promise<Build>;
  run(input: { app: string; build: string; release?: string }): ReturnType<typeof startLocalExecution>['done'];
  /** How long the parked states wait for their event locally (tests of lost events shorten them). */
  taskTimeoutsMs: Record<string, number>;
  /** The Slack bodies about this app. */
  slackBodies(): SlackBody[];
}

/** A fresh table with a GitLab connection to `standin`, and a linked app on its own ECS service. */
async function world(standin: GitlabStandin = gitlab): Promise<World> {
  const taskTimeoutsMs: Record<string, number> = {};
  const table = await freshTable();
  tables.push(table);
  const store = new DynamoDbStore({ tableName: table.tableName, client: table.client });
  await store.putGitlabConnection({
    url: standin.url,
    username: 'platform-bot',
    tokenCiphertext: await vault.encrypt(TOKEN, { purpose: 'gitlab-token', instance: standin.url }),
    scopes: ['api'],
    knownHosts: '127.0.0.1 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl',
    connectedAt: new Date().toISOString(),
  });
  const name = `shop-${randomBytes(4).toString('hex')}`;
  const now = new Date().toISOString();
  const app: App = {
    name,
    project: PROJECT_PATH,
    projectId: PROJECT_ID,
    branch: 'main',
    mode: 'superseded',
    status: 'active',
    hookId: newHookId(),
    linked: true,
    gitlabHookId: 1001,
    deployKeyId: 2001,
    deployKeyCiphertext: await vault.encrypt('-----BEGIN OPENSSH PRIVATE KEY-----\n…', {
      purpose: 'deploy-key',
      app: name,
    }),
    repoUrl: `git@127.0.0.1:${PROJECT_PATH}.git`,
    environment: 'staging',
    cluster: 'prod-cluster',
    service: `${name}-svc`,
    container: 'web',
    createdAt: now,
    updatedAt: now,
    version: 1,
  };
  await store.createApp(app);
  storeOfApp.set(name, store);
  const service = fakeEcs.addService('prod-cluster', `${name}-svc`, name);

  const deps: ReleaseStepDeps = {
    store,
    builder: new CodeBuildBuilder({
      client: new CodeBuildClient({ region: 'eu-west-1' }),
      projectName: 'slipway-build',
      logGroupName: '/slipway/builds',
      buildRoleArnPrefix: 'arn:aws:iam::123456789012:role/slipway/builds/slipway-build-0a1b2c3d-',
    }),
    registry: new EcrRegistry({ client: new ECRClient({ region: 'eu-west-1' }) }),
    deployer: new EcsDeployer({ client: new ECSClient({ region: 'eu-west-1' }) }),
    // Steps complete their own waits through Step Functions too.
    tasks: new StepFunctionsTaskTokens(sfnClient),
    reporting: {
      vault,
      gitlab: createGitlabApi,
      notifier: new SlackNotifier({ webhookUrl: async () => slack.url, backoffMs: 1, maxBackoffMs: 2 }),
      retry: { baseDelayMs: 1 },
    },
  };

  // EventBridge → the rollout-events function, for this service's ECS events.
  service.onEvent = createRolloutEventsHandler({
    store,
    deployer: deps.deployer,
    tasks: new StepFunctionsTaskTokens(sfnClient),
    logger: quietLogger,
  });

  return {
    store,
    deps,
    app,
    service,
    taskTimeoutsMs,
    async push(commit = {}) {
      const build: Build = {
        id: newId(),
        app: name,
        status: 'queued',
        commit: commit.commit ?? randomSha(),
        ref: 'refs/heads/main',
        message: commit.message ?? 'Add the checkout page\n\nWith a longer body.',
        author: commit.author ?? 'Ada Lovelace',
        trigger: 'push',
        createdAt: new Date().toISOString(),
      };
      await store.recordBuild(build);
      await new Promise((r) => setTimeout(r, 2)); // distinct ULID milliseconds
      return build;
    },
    run(input) {
      return startLocalExecution(deps, input, { waitMs: 5, retryMs: 5, tasks: localTasks, taskTimeoutsMs }).done;
    },
    slackBodies() {
      return slack.received.filter((b) => b.text.includes(name));
    },
  };
}

function callsFor<T extends { service?: string }>(command: Parameters<typeof ecs.commandCalls>[0], service: string) {
  return ecs
    .commandCalls(command)
    .map((c) => c.args[0].input as T)
    .filter((input) => input.service === service);
}

function registeredFor(family: string): RegisterTaskDefinitionCommandInput[] {
  return ecs
    .commandCalls(RegisterTaskDefinitionCommand)
    .map((c) => c.args[0].input)
    .filter((input) => input.family === family);
}

function startBuildsFor(app: string): number {
  return codebuild
    .commandCalls(StartBuildCommand)
    .filter((c) =>
      c.args[0].input.environmentVariablesOverride?.some((v) => v.name === 'SLIPWAY_APP' && v.value === app),
    ).length;
}

function imageOf(input: RegisterTaskDefinitionCommandInput | undefined, container: string): string | undefined {
  return input?.containerDefinitions?.find((c: ContainerDefinition) => c.name === container)?.image;
}

const deploymentsOf = (standin: GitlabStandin, sha: string) =>
  standin.deployments(PROJECT_ID).filter((d) => d.sha === sha);

describe('the release workflow on the AWS adapters (SDK mocked), DynamoDB Local, GitLab stand-in, Slack receiver', () => {
  jest.setTimeout(30_000);

  it('happy path: builds on CodeBuild, pins the digest in a new revision, rolls out with the breaker, reports', async () => {
    const w = await world();
    const build = await w.push({ message: 'Add the checkout page\n\nWith a longer body.', author: 'Ada Lovelace' });

    const result = await w.run({ app: w.app.name, build: build.id });

    expect(result.status).toBe('SUCCEEDED');
    // CodeBuild was asked once, for this build.
    expect(startBuildsFor(w.app.name)).toBe(1);
    const digest = digestOf(build.id);
    // The new revision: the app container pinned by digest, the sidecar untouched.
    const [registered, ...more] = registeredFor(w.app.name);
    expect(more).toEqual([]);
    expect(imageOf(registered, 'web')).toBe(`${REGISTRY}/slipway/${w.app.name}@${digest}`);
    expect(imageOf(registered, 'log-router')).toBe('public.ecr.aws/aws-observability/aws-for-fluent-bit:stable');
    expect(registered).toMatchObject({ family: w.app.name, networkMode: 'awsvpc', cpu: '256', memory: '512' });
    const [update, ...moreUpdates] = callsFor<UpdateServiceCommandInput>(UpdateServiceCommand, w.service.name);
    expect(moreUpdates).toEqual([]);
    expect(update).toMatchObject({
      cluster: 'prod-cluster',
      service: w.service.name,
      taskDefinition: `${ACCOUNT_ARN}:task-definition/${w.app.name}:2`,
      deploymentConfiguration: {
        maximumPercent: 200,
        minimumHealthyPercent: 100,
        deploymentCircuitBreaker: { enable: true, rollback: true },
      },
    });
    expect(w.service.taskDefinition).toBe(`${ACCOUNT_ARN}:task-definition/${w.app.name}:2`);

    // Recorded: the release live with the build's images, the build's outcome.
    const releases = await w.store.listReleases(w.app.name);
    expect(releases).toHaveLength(1);
    const release = releases[0] as Release;
    expect(release).toMatchObject({
      build: build.id,
      commit: build.commit,
      status: 'live',
      images: { app: digest },
      running: 2,
      desired: 2,
      report: { gitlab: 'ok', slack: 'ok' },
    });
    expect(release.liveAt).toBeDefined();
    expect(release.deploymentId).toEqual(expect.any(Number));
    expect(await w.store.getBuild(w.app.name, build.id)).toMatchObject({
      status: 'succeeded',
      images: { app: digest },
      outcome: 'live',
      release: release.id,
      report: { gitlab: 'ok', slack: 'ok' },
    });

    // GitLab: the commit status pending → running → success, one deployment running → success.
    const statuses = gitlab.statuses(PROJECT_ID, build.commit);
    expect(statuses.map((s) => [s.status, s.name, s.ref])).toEqual([
      ['pending', `slipway/${w.app.name}`, 'main'],
      ['running', `slipway/${w.app.name}`, 'main'],
      ['success', `slipway/${w.app.name}`, 'main'],
    ]);
    expect(statuses.at(-1)?.description).toBe('Live on staging');
    const deployments = deploymentsOf(gitlab, build.commit);
    expect(deployments).toHaveLength(1);
    expect(deployments[0]).toMatchObject({
      id: release.deploymentId,
      ref: 'main',
      tag: false,
      status: 'success',
      environment: { name: 'staging' },
      status_history: ['created', 'running', 'success'],
    });

    // Slack: exactly one message, saying who shipped what where.
    const bodies = w.slackBodies();
    expect(bodies).toHaveLength(1);
    const [message] = bodies as [SlackBody];
    const everything = `${message.text}\n${JSON.stringify(message.blocks)}`;
    expect(message.text).toContain(`${w.app.name} is live on staging`);
    for (const fact of [w.app.name, 'staging', build.commit.slice(0, 8), 'Add the checkout page', 'Ada Lovelace']) {
      expect(everything).toContain(fact);
    }
    expect(everything).not.toContain('With a longer body');
  });

  it('ECS circuit breaker: the release is recorded rolled back with the reason; the previous one stays live', async () => {
    const w = await world();
    const good = await w.push({ message: 'Working change' });
    expect((await w.run({ app: w.app.name, build: good.id })).status).toBe('SUCCEEDED');
    const goodRevision = w.service.taskDefinition;

    w.service.plan = 'breaker';
    const bad = await w.push({ message: 'Break the health check' });
    const result = await w.run({ app: w.app.name, build: bad.id });

    expect(result).toMatchObject({ status: 'SUCCEEDED', output: { result: { outcome: 'rolled_back' } } });
    // The new revision was rolled out, and ECS went back to the good one.
    expect(imageOf(registeredFor(w.app.name)[1], 'web')).toBe(`${REGISTRY}/slipway/${w.app.name}@${digestOf(bad.id)}`);
    expect(w.service.taskDefinition).toBe(goodRevision);
    const [latest, previous, ...rest] = await w.store.listReleases(w.app.name);
    expect(rest).toEqual([]);
    expect(latest).toMatchObject({ build: bad.id, status: 'rolled_back', reason: BREAKER_REASON });
    expect(latest?.endedAt).toBeDefined();
    expect(previous).toMatchObject({ build: good.id, status: 'live' });
    expect(await w.store.getBuild(w.app.name, bad.id)).toMatchObject({
      outcome: 'rolled_back',
      release: latest?.id,
      report: { gitlab: 'ok', slack: 'ok' },
    });
    expect(latest?.report).toEqual({ gitlab: 'ok', slack: 'ok' });

    const statuses = gitlab.statuses(PROJECT_ID, bad.commit);
    expect(statuses.map((s) => s.status)).toEqual(['pending', 'running', 'failed']);
    expect(statuses.at(-1)?.description).toBe(`Rolled back on staging: ${BREAKER_REASON}`);
    expect(deploymentsOf(gitlab, bad.commit)).toMatchObject([
      { id: latest?.deploymentId, status: 'failed', status_history: ['created', 'running', 'failed'] },
    ]);
    // The good release's deployment is still the environment's success.
    expect(deploymentsOf(gitlab, good.commit)).toMatchObject([{ status: 'success' }]);

    const bodies = w.slackBodies();
    expect(bodies).toHaveLength(2);
    const notice = bodies[1] as SlackBody;
    expect(notice.text).toContain(`${w.app.name}: rolled back on staging`);
    expect(notice.text).toContain(BREAKER_REASON);
    expect(JSON.stringify(notice.blocks)).toContain('*Reason*');
  });

  it('Slack down: the release still goes live; the report says Slack failed after a bounded number of attempts', async () => {
    const w = await world();
    const build = await w.push();
    slack.mode = 'fail';
    let result: Awaited<ReturnType<World['run']>>;
    try {
      result = await w.run({ app: w.app.name, build: build.id });
    } finally {
      slack.mode = 'ok';
    }

    expect(result.status).toBe('SUCCEEDED');
    const [release] = await w.store.listReleases(w.app.name);
    expect(release).toMatchObject({ status: 'live', report: { gitlab: 'ok' } });
    expect(release?.report?.slack).toMatch(/^failed: Slack answered 500/);
    expect(release?.report?.slack).not.toContain(slack.url);
    expect(release?.report?.slack).not.toContain('/services/');
    const recorded = await w.store.getBuild(w.app.name, build.id);
    expect(recorded).toMatchObject({ outcome: 'live', report: release?.report });
    // One notice (release live), tried SlackNotifier's retries + 1 times and no more.
    const attempts = w.slackBodies();
    expect(attempts).toHaveLength(SLACK_ATTEMPTS);
    expect(new Set(attempts.map((b) => b.text)).size).toBe(1);
    expect(gitlab.statuses(PROJECT_ID, build.commit).map((s) => s.status)).toEqual(['pending', 'running', 'success']);
  });

  it('GitLab down: every status and deployment call answers 500; the release still goes live and Slack is told', async () => {
    const broken = await standinWithProject();
    try {
      for (let i = 0; i < 60; i++) {
        broken.failNext({ method: 'POST', pathPattern: /\/statuses\// }, 500);
        broken.failNext({ method: 'POST', pathPattern: /\/deployments$/ }, 500);
        broken.failNext({ method: 'PUT', pathPattern: /\/deployments\/\d+$/ }, 500);
      }
      const w = await world(broken);
      const build = await w.push();

      const result = await w.run({ app: w.app.name, build: build.id });

      expect(result.status).toBe('SUCCEEDED');
      const [release] = await w.store.listReleases(w.app.name);
      expect(release).toMatchObject({ status: 'live', report: { slack: 'ok' } });
      expect(release?.deploymentId).toBeUndefined();
      expect(release?.report?.gitlab).toMatch(
        /^failed: commit status: GitLab failed .*\(500\).*; deployment: GitLab failed/,
      );
      expect(release?.report?.gitlab).not.toContain(TOKEN);
      expect(await w.store.getBuild(w.app.name, build.id)).toMatchObject({ outcome: 'live', report: release?.report });
      expect(w.slackBodies()).toHaveLength(1);
      expect(w.slackBodies()[0]?.text).toContain(`${w.app.name} is live on staging`);
      // Nothing got through, and the tries were bounded: 3 per status (pending, running, success),
      // one per deployment creation (not retried after a 500: GitLab may have acted on it).
      expect(broken.statuses(PROJECT_ID)).toEqual([]);
      expect(broken.deployments(PROJECT_ID)).toEqual([]);
      const calls = broken.requests.filter((r) => /\/(statuses|deployments)/.test(r.path));
      expect(calls.every((r) => r.status === 500)).toBe(true);
      expect(calls.filter((r) => r.path.includes('/statuses/'))).toHaveLength(9);
      expect(calls.filter((r) => r.path.includes('/deployments'))).toHaveLength(2);
    } finally {
      await broken.stop();
    }
  });

  it('rollback: R1 copied forward as R3 without a build, R1’s digest rolled out, R2 replaced', async () => {
    const w = await world();
    const first = await w.push({ message: 'First' });
    expect((await w.run({ app: w.app.name, build: first.id })).status).toBe('SUCCEEDED');
    const second = await w.push({ message: 'Second' });
    expect((await w.run({ app: w.app.name, build: second.id })).status).toBe('SUCCEEDED');
    const [r2, r1] = await w.store.listReleases(w.app.name);
    expect([r2?.status, r1?.status]).toEqual(['live', 'replaced']);
    if (!r1 || !r2) throw new Error('expected two releases');
    const buildsBefore = startBuildsFor(w.app.name);
    const slackBefore = w.slackBodies().length;

    const { input, release: r3 } = await rollbackRelease(w.deps, w.app.name, r1.id);
    const result = await w.run(input);

    expect(result.status).toBe('SUCCEEDED');
    expect(startBuildsFor(w.app.name)).toBe(buildsBefore);
    expect(buildsBefore).toBe(2);
    const revisions = registeredFor(w.app.name);
    expect(revisions).toHaveLength(3);
    expect(imageOf(revisions[2], 'web')).toBe(`${REGISTRY}/slipway/${w.app.name}@${digestOf(first.id)}`);
    const updates = callsFor<UpdateServiceCommandInput>(UpdateServiceCommand, w.service.name);
    expect(updates.at(-1)?.taskDefinition).toBe(`${ACCOUNT_ARN}:task-definition/${w.app.name}:4`);
    expect(w.service.taskDefinition).toBe(`${ACCOUNT_ARN}:task-definition/${w.app.name}:4`);

    const releases = await w.store.listReleases(w.app.name);
    expect(releases.map((r) => [r.id, r.build, r.status])).toEqual([
      [r3.id, first.id, 'live'],
      [r2.id, second.id, 'replaced'],
      [r1.id, first.id, 'replaced'],
    ]);
    expect(releases[0]?.images).toEqual(r1.images);
    expect(releases[0]?.report).toEqual({ gitlab: 'ok', slack: 'ok' });
    expect(releases.filter((r) => r.status === 'live')).toHaveLength(1);
    // The rollback reuses R1's build, whose own record is left as it was.
    expect(await w.store.getBuild(w.app.name, first.id)).toMatchObject({ outcome: 'live', release: r1.id });
    // GitLab: a new deployment of R1's commit, success; Slack: one more message, live.
    expect(deploymentsOf(gitlab, first.commit).map((d) => d.status)).toEqual(['success', 'success']);
    expect(gitlab.statuses(PROJECT_ID, first.commit).at(-1)?.status).toBe('success');
    expect(w.slackBodies()).toHaveLength(slackBefore + 1);
    const notice = String(w.slackBodies().at(-1)?.text);
    expect(notice).toContain(`${w.app.name} is live on staging again (rollback to release `);
    expect(notice).toContain(`: ${first.commit.slice(0, 8)} First`);
    expect(notice).not.toMatch(/build \d/); // no build ran for a rollback
  });

  it('throttling: UpdateService throttled once is retried by the workflow and the release goes live', async () => {
    const w = await world();
    w.service.throttleUpdates = 1;
    const build = await w.push();

    const result = await w.run({ app: w.app.name, build: build.id });

    expect(result.status).toBe('SUCCEEDED');
    expect(w.service.throttleUpdates).toBe(0);
    const updates = callsFor<UpdateServiceCommandInput>(UpdateServiceCommand, w.service.name);
    expect(updates).toHaveLength(2);
    expect(updates[0]?.taskDefinition).toBe(updates[1]?.taskDefinition);
    // One revision registered (Prepare was not repeated), one release, live.
    expect(registeredFor(w.app.name)).toHaveLength(1);
    const releases = await w.store.listReleases(w.app.name);
    expect(releases.map((r) => r.status)).toEqual(['live']);
    expect(releases[0]?.report).toEqual({ gitlab: 'ok', slack: 'ok' });
    expect(w.service.taskDefinition).toBe(updates[1]?.taskDefinition);
  });

  it('lost events: CodeBuild and ECS events never come; each wait times out, looks once, and the release goes live', async () => {
    const w = await world();
    silentBuilds.add(w.app.name);
    w.service.silent = true;
    w.service.stepMs = 500; // still rolling out when the step looks, done before the wait times out
    sfn.resetHistory();
    w.taskTimeoutsMs.StartBuild = 1500;
    w.taskTimeoutsMs.Rollout = 1500;
    // What BatchGetBuilds says of the build once asked: it succeeded and exported its digest.
    codebuild.on(BatchGetBuildsCommand).callsFake(async (input: { ids?: string[] }) => ({
      builds: (input.ids ?? []).map((id) => ({
        id,
        buildStatus: 'SUCCEEDED',
        exportedEnvironmentVariables: [{ name: 'SLIPWAY_IMAGES', value: JSON.stringify({ app: digestOf(lastBuild) }) }],
      })),
    }));
    const build = await w.push();
    lastBuild = build.id;
    const result = await w.run({ app: w.app.name, build: build.id });
    expect(result).toMatchObject({ status: 'SUCCEEDED', output: { result: { outcome: 'live' } } });
    expect(codebuild.commandCalls(BatchGetBuildsCommand)).toHaveLength(1);
    expect(await w.store.getBuild(w.app.name, build.id)).toMatchObject({
      status: 'succeeded',
      images: { app: digestOf(build.id) },
    });
    expect((await w.store.listReleases(w.app.name)).map((r) => r.status)).toEqual(['live']);
    // Nothing was told, and the steps found nothing ended when they looked: no wait was completed.
    expect(sfn.commandCalls(SendTaskSuccessCommand)).toHaveLength(0);
  });
});

let lastBuild = '';
