import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { ArnFormat, Duration, Stack, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as destinations from 'aws-cdk-lib/aws-lambda-destinations';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { REVIEW_TAG } from '../../functions/adapters/deploy/ecs-deployer';
import { ENV } from '../../functions/commons/env-names';
import {
  DEPLOYMENT_EVENT_NAMES,
  DEPLOYMENT_STATE_CHANGE,
  TASK_STATE_CHANGE,
} from '../../functions/http/rollout-events';
import { RELEASE_METRICS } from '../../functions/workflow/release-metrics';
import { HANDLERS, PROJECT_ROOT } from '../bundling';
import type { Build } from './build';
import { SlipwayFunction } from './slipway-function';

/** The tag an ECS service must carry for Slipway to describe or update it. */
export const MANAGED_SERVICE_TAG = { key: 'slipway:managed', value: 'true' } as const;

/** Where environments' configurations live on AWS: secrets `slipway/<app>/<env>` (the ECS deployer's). */
export const CONFIG_SECRET_PREFIX = 'slipway/';

/** The tag an app's task execution role carries to read its app's configuration secrets (`TaskConfigPolicy`). */
export const APP_TAG_KEY = 'slipway:app';

/** The default name pattern of the roles Slipway may hand to ECS tasks (task and execution roles). */
export const DEFAULT_TASK_ROLE_NAME_PATTERN = 'slipway-task-*';

/**
 * One Task of the release workflow: a few store reads and writes and one AWS call, or a report
 * (GitLab with its retries, Slack with up to 4 attempts of 5 s). Well under a minute.
 */
export const RELEASE_STEPS_TIMEOUT = Duration.seconds(60);

/** The ARN placeholder of workflow/release.asl.json, substituted by CloudFormation. */
export const STEPS_FUNCTION_ARN_PLACEHOLDER = 'ReleaseStepsFunctionArn';

/**
 * What Step Functions needs to deliver execution logs to CloudWatch Logs. These are the
 * vended-logs delivery APIs, which support no resource-level permissions.
 */
const LOG_DELIVERY_ACTIONS = [
  'logs:CreateLogDelivery',
  'logs:GetLogDelivery',
  'logs:UpdateLogDelivery',
  'logs:DeleteLogDelivery',
  'logs:ListLogDeliveries',
  'logs:PutResourcePolicy',
  'logs:DescribeResourcePolicies',
  'logs:DescribeLogGroups',
];

/** What an X-Ray traced state machine sends; X-Ray accepts no resource but `*`. */
const STATE_MACHINE_TRACING_ACTIONS = [
  'xray:PutTraceSegments',
  'xray:PutTelemetryRecords',
  'xray:GetSamplingRules',
  'xray:GetSamplingTargets',
];

const CLUSTER_NAME = /^[A-Za-z0-9_-]{1,255}$/;

export interface ReleaseProps {
  /** The state table: builds, releases, the rollout lock. */
  readonly table: dynamodb.ITable;

  /**
   * The secrets key. The steps may decrypt with it GitLab tokens (to report to GitLab) and, through
   * Secrets Manager, the Slack secret; nothing else.
   */
  readonly secretsKey: kms.IKey;

  /** The builds: the steps start them (CodeBuild) and make the app repositories (ECR). */
  readonly build: Build;

  /**
   * The ECS clusters (names) whose services Slipway may deploy to.
   * @default - any cluster of the account and region (services still need the `slipway:managed=true` tag)
   */
  readonly ecsClusters?: readonly string[];

  /**
   * The IAM roles Slipway may pass to ECS tasks: the task roles and task execution roles named in
   * the apps' task definitions (a new revision copies them). An ARN, wildcards allowed.
   * @default `arn:<partition>:iam::<account>:role/slipway-task-*`
   */
  readonly taskRolePattern?: string;

  /**
   * How long the state machine's execution logs are kept.
   * @default logs.RetentionDays.ONE_MONTH
   */
  readonly logRetention?: logs.RetentionDays;

  /**
   * The workflow definition (JSONPath ASL).
   * @default - `workflow/release.asl.json` of this repository, the one local mode runs
   */
  readonly definitionPath?: string;
}

/**
 * The release workflow on AWS (PRODUCT.md step 5): the `release-steps` function that runs every
 * Task of `workflow/release.asl.json`, the Standard state machine that runs that very definition
 * (with the function's ARN substituted), its execution logs and its role, and the Slack secret
 * the steps read the webhook URL from.
 *
 * Least privilege: the state machine may invoke the steps function and nothing else (besides
 * log delivery and X-Ray, which take only `*`). The steps function may start builds of the one
 * project, make `slipway/*` repositories, register task definition revisions, update only ECS
 * services tagged `slipway:managed=true` (in the given clusters), pass only the task roles that
 * match `taskRolePattern` and only to ECS tasks, decrypt only GitLab tokens, environments'
 * configurations and the Slack secret, and write only `slipway/*` secrets (environments'
 * configurations, which task definitions reference). Each wildcard sits in a policy of its own,
 * acknowledged there.
 */
export class Release extends Construct {
  /** Runs the workflow's steps (`functions/handlers/release-steps.ts`). */
  public readonly stepsFunction: SlipwayFunction;
  public readonly stateMachine: sfn.StateMachine;
  /** The state machine's role: invokes the steps function, delivers logs, sends traces. */
  public readonly stateMachineRole: iam.Role;
  /** The state machine's execution logs (no execution data). */
  public readonly logGroup: logs.LogGroup;
  /** The Slack incoming-webhook URL, `{"url": "https://hooks.slack.com/…"}`; `{}` until someone puts one. */
  public readonly slackSecret: secretsmanager.Secret;
  /**
   * Completes the workflow's rollout waits (`functions/handlers/rollout-events.ts`): ECS
   * deployment state changes and service task state changes, from EventBridge.
   */
  public readonly rolloutEventsFunction: SlipwayFunction;
  /** ECS events the rollout-events function could not handle after its retries. */
  public readonly rolloutEventsDeadLetters: sqs.Queue;
  /** Raised when there is any message in the rollout events' dead-letter queue. */
  public readonly rolloutEventsDeadLetterAlarm: cloudwatch.Alarm;
  /**
   * For the apps' task execution roles: read the configuration secrets of the app named by the
   * role's own `slipway:app` tag, and no other (docs/INFRASTRUCTURE.md, "Configuration").
   */
  public readonly taskConfigPolicy: iam.ManagedPolicy;

  constructor(scope: Construct, id: string, props: ReleaseProps) {
    super(scope, id);
    const stack = Stack.of(this);

    // The steps: one function, one action per Task.
    const fn = new SlipwayFunction(this, 'StepsFunction', {
      entry: HANDLERS.releaseSteps,
      description: 'Runs the steps of the Slipway release workflow (Step Functions Tasks)',
      timeout: RELEASE_STEPS_TIMEOUT,
    });
    this.stepsFunction = fn;
    fn.bindTable(props.table, ['GetItem', 'Query', 'PutItem', 'UpdateItem', 'DeleteItem']);
    // GitLab tokens, to report commit statuses and deployments, and environments' configurations,
    // to hand them to ECS. Deploy keys are decrypted inside the build, by the build role; webhook
    // secrets are the hooks' business.
    fn.bindKey(props.secretsKey, ['Decrypt'], ['gitlab-token', 'env-config']);
    props.build.grantStartBuild(fn);
    props.build.grantRepositoryAdmin(fn);
    this.grantDeploy(fn, props);
    this.grantConfigSecrets(fn);
    this.grantReviewServices(fn, props);
    this.taskConfigPolicy = this.makeTaskConfigPolicy();

    this.slackSecret = new secretsmanager.Secret(this, 'SlackWebhook', {
      description:
        'Slipway: the Slack incoming-webhook URL, as {"url": "https://hooks.slack.com/..."}. {} means Slack is not configured.',
      // A placeholder, not a secret: the operator puts the real value (docs/OPERATIONS.md). The
      // template never changes it, so CloudFormation never writes over the operator's value.
      secretObjectValue: {},
      encryptionKey: props.secretsKey,
    });
    Validations.of(this.slackSecret).acknowledge({
      id: 'AwsSolutions-SMG4',
      reason:
        'The value is a Slack incoming-webhook URL, issued by Slack: no rotation function can make a new one. ' +
        'It is rotated by creating a new webhook in Slack and putting its URL into this secret (docs/OPERATIONS.md).',
    });
    // GetSecretValue on this secret, and the key only through Secrets Manager for this secret.
    fn.bindSecret(ENV.slackSecretArn, this.slackSecret, 'SlackSecret');

    // The state machine: the one definition local mode runs too.
    this.logGroup = new logs.LogGroup(this, 'WorkflowLogs', {
      retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
    });
    this.stateMachineRole = new iam.Role(this, 'StateMachineRole', {
      description: 'Role of the Slipway release state machine: invokes the release-steps function',
      assumedBy: new iam.ServicePrincipal('states.amazonaws.com', {
        conditions: {
          ArnLike: {
            'aws:SourceArn': stack.formatArn({
              service: 'states',
              resource: 'stateMachine',
              resourceName: '*',
              arnFormat: ArnFormat.COLON_RESOURCE_NAME,
            }),
          },
          StringEquals: { 'aws:SourceAccount': stack.account },
        },
      }),
    });
    const policies = this.stateMachinePolicies(fn);
    const substitutions = { [STEPS_FUNCTION_ARN_PLACEHOLDER]: fn.functionArn };
    this.stateMachine = new sfn.StateMachine(this, 'StateMachine', {
      stateMachineType: sfn.StateMachineType.STANDARD,
      definitionBody: sfn.DefinitionBody.fromString(
        loadDefinition(props.definitionPath ?? path.join(PROJECT_ROOT, 'workflow/release.asl.json'), substitutions),
      ),
      definitionSubstitutions: substitutions,
      // The policies below hold exactly what it needs; nothing CDK would add reaches the role.
      role: this.stateMachineRole.withoutPolicyUpdates(),
      logs: { destination: this.logGroup, level: sfn.LogLevel.ALL, includeExecutionData: false },
      tracingEnabled: true,
    });
    // Step Functions checks log delivery and the role when the state machine is created.
    this.stateMachine.node.addDependency(...policies);
    // A step that finds what it parks on already ended completes its own wait, and fan-out starts
    // executions. In a policy of its own: the function's default policy may not name the state
    // machine, which names the function.
    new iam.Policy(fn, 'CompleteOwnWaitsPolicy', {
      roles: [fn.role as iam.IRole],
      statements: [
        new iam.PolicyStatement({
          sid: 'CompleteOwnWaits',
          actions: ['states:SendTaskSuccess'],
          resources: [this.stateMachine.stateMachineArn],
        }),
        // Fan-out: a build released to further environments starts an execution per release.
        new iam.PolicyStatement({
          sid: 'StartFannedOutReleases',
          actions: ['states:StartExecution'],
          resources: [this.stateMachine.stateMachineArn],
        }),
      ],
    });

    // Rollout waits are told, not polled: ECS's events for the deployments Slipway started.
    const rolloutEvents = new SlipwayFunction(this, 'RolloutEventsFunction', {
      entry: HANDLERS.rolloutEvents,
      description: 'Completes the release workflow rollout waits from ECS deployment and task state changes',
    });
    this.rolloutEventsFunction = rolloutEvents;
    // The rollout's event id → its release (GetItem), the app and release (GetItem), the release's
    // environment (Query of the app's environments), task counts (UpdateItem).
    rolloutEvents.bindTable(props.table, ['GetItem', 'Query', 'UpdateItem']);
    this.grantDescribeServices(rolloutEvents, props);
    this.grantTaskResponse(rolloutEvents);
    this.rolloutEventsDeadLetters = new sqs.Queue(this, 'RolloutEventsDeadLetters', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    Validations.of(this.rolloutEventsDeadLetters).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason:
        'This queue is itself the dead-letter queue of the ECS event rules and the rollout-events function; ' +
        'its messages are inspected by hand, and its alarm says when there are any.',
    });
    rolloutEvents.configureAsyncInvoke({
      retryAttempts: 2,
      onFailure: new destinations.SqsDestination(this.rolloutEventsDeadLetters),
    });
    const target = new targets.LambdaFunction(rolloutEvents, {
      deadLetterQueue: this.rolloutEventsDeadLetters,
      retryAttempts: 8,
      maxEventAge: Duration.hours(2),
    });
    new events.Rule(this, 'EcsDeploymentEvents', {
      description: 'ECS service deployment state changes: a Slipway rollout started, ended or was rolled back',
      eventPattern: {
        source: ['aws.ecs'],
        detailType: [DEPLOYMENT_STATE_CHANGE],
        detail: { eventName: [...DEPLOYMENT_EVENT_NAMES] },
      },
      targets: [target],
    });
    new events.Rule(this, 'EcsServiceTaskEvents', {
      description: 'ECS tasks of service deployments running: rollout progress for slipway deploy --wait',
      eventPattern: {
        source: ['aws.ecs'],
        detailType: [TASK_STATE_CHANGE],
        detail: { startedBy: [{ prefix: 'ecs-svc/' }], lastStatus: ['RUNNING'] },
      },
      targets: [target],
    });
    this.rolloutEventsDeadLetterAlarm = new cloudwatch.Alarm(this, 'RolloutEventsDeadLettersAlarm', {
      metric: this.rolloutEventsDeadLetters.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(5) }),
      alarmDescription:
        'An ECS event could not be handled (see the rollout events dead-letter queue); a release waiting on it goes on after its rollout wait times out',
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
  }

  /** `actions` on the ECS services tagged `slipway:managed=true` in the given clusters, in a policy of their own. */
  private taggedServicesPolicy(fn: SlipwayFunction, props: ReleaseProps, sid: string, actions: string[]): iam.Policy {
    const stack = Stack.of(this);
    const role = fn.role;
    if (!role) throw new Error(`${fn.node.path} has no role`);
    const clusters = props.ecsClusters && props.ecsClusters.length > 0 ? [...props.ecsClusters] : ['*'];
    for (const cluster of clusters) {
      if (cluster !== '*' && !CLUSTER_NAME.test(cluster)) {
        throw new Error(`ecsClusters: "${cluster}" is not an ECS cluster name (give names, not ARNs)`);
      }
    }
    const serviceArns = clusters.map((cluster) =>
      stack.formatArn({ service: 'ecs', resource: 'service', resourceName: `${cluster}/*` }),
    );
    const services = new iam.Policy(fn, 'EcsServicesPolicy', {
      roles: [role],
      statements: [
        new iam.PolicyStatement({
          sid,
          actions,
          resources: serviceArns,
          conditions: {
            StringEquals: { [`aws:ResourceTag/${MANAGED_SERVICE_TAG.key}`]: MANAGED_SERVICE_TAG.value },
          },
        }),
      ],
    });
    for (const cluster of clusters) {
      Validations.of(services).acknowledge({
        id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ecs:<AWS::Region>:<AWS::AccountId>:service/${cluster}/*]`,
        reason:
          'Apps name their ECS service at run time (slipway apps create --cluster --service), so the services are ' +
          `not known at deploy time. The statement covers ${cluster === '*' ? 'the services of any cluster' : `the services of cluster ${cluster}`} ` +
          `and only those tagged ${MANAGED_SERVICE_TAG.key}=${MANAGED_SERVICE_TAG.value} (aws:ResourceTag condition); this policy holds nothing else.`,
      });
    }
    return services;
  }

  /**
   * Review apps (functions/domain/review-apps.ts): the steps create an ECS service per merge request
   * from a template service (`<template>-review-<iid>`) and delete it when the merge request ends.
   * CreateService only with the tag `slipway:review` in the request (and `slipway:managed=true`, so
   * the deploy statements then cover it), TagResource only while creating such a service,
   * DeleteService only of services carrying `slipway:review`, DescribeServices of `*-review-*`
   * services whatever their tags (whether a review app's service exists yet: a service that does
   * not exist has no tags to check). In a policy of its own.
   */
  private grantReviewServices(fn: SlipwayFunction, props: ReleaseProps): void {
    const stack = Stack.of(this);
    const role = fn.role;
    if (!role) throw new Error(`${fn.node.path} has no role`);
    const clusters = props.ecsClusters && props.ecsClusters.length > 0 ? [...props.ecsClusters] : ['*'];
    const reviewServices = clusters.map((cluster) =>
      stack.formatArn({ service: 'ecs', resource: 'service', resourceName: `${cluster}/*-review-*` }),
    );
    const requested = { Null: { [`aws:RequestTag/${REVIEW_TAG}`]: 'false' } };
    const policy = new iam.Policy(fn, 'EcsReviewServicesPolicy', {
      roles: [role],
      statements: [
        new iam.PolicyStatement({
          sid: 'CreateTaggedReviewServicesOnly',
          actions: ['ecs:CreateService'],
          resources: reviewServices,
          conditions: {
            ...requested,
            StringEquals: { [`aws:RequestTag/${MANAGED_SERVICE_TAG.key}`]: MANAGED_SERVICE_TAG.value },
          },
        }),
        new iam.PolicyStatement({
          sid: 'TagNewReviewServicesOnly',
          actions: ['ecs:TagResource'],
          resources: reviewServices,
          conditions: { ...requested, StringEquals: { 'ecs:CreateAction': 'CreateService' } },
        }),
        new iam.PolicyStatement({
          sid: 'DeleteTaggedReviewServicesOnly',
          actions: ['ecs:DeleteService'],
          resources: reviewServices,
          conditions: { Null: { [`aws:ResourceTag/${REVIEW_TAG}`]: 'false' } },
        }),
        new iam.PolicyStatement({
          sid: 'DescribeReviewServices',
          actions: ['ecs:DescribeServices'],
          resources: reviewServices,
        }),
      ],
    });
    for (const cluster of clusters) {
      Validations.of(policy).acknowledge({
        id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ecs:<AWS::Region>:<AWS::AccountId>:service/${cluster}/*-review-*]`,
        reason:
          'Review apps get a service per merge request, named at run time (<template>-review-<iid>). Creating one needs ' +
          `the ${REVIEW_TAG} tag in the request (aws:RequestTag), deleting one needs it on the service (aws:ResourceTag); ` +
          'tagging only while creating (ecs:CreateAction). Describing covers services named *-review-* only, read-only.',
      });
    }
  }

  /** Rollout events read the service (DescribeServices) to see where a rollout stands, and change nothing. */
  private grantDescribeServices(fn: SlipwayFunction, props: ReleaseProps): void {
    this.taggedServicesPolicy(fn, props, 'DescribeTaggedServicesOnly', ['ecs:DescribeServices']);
  }

  /**
   * Lets `fn` complete the workflow's waits: `states:SendTaskSuccess` on this state machine only
   * (Slipway never fails a wait nor sends heartbeats, so not the other task responses).
   */
  public grantTaskResponse(fn: SlipwayFunction): iam.Grant {
    return iam.Grant.addToPrincipal({
      grantee: fn,
      actions: ['states:SendTaskSuccess'],
      resourceArns: [this.stateMachine.stateMachineArn],
    });
  }

  /**
   * Releases recorded failed or rolled back: the count the steps function emits in Embedded
   * Metric Format (functions/workflow/release-metrics.ts), same namespace, name and dimension.
   */
  public metricReleasesFailed(options: cloudwatch.MetricOptions = {}): cloudwatch.Metric {
    return new cloudwatch.Metric({
      namespace: RELEASE_METRICS.namespace,
      metricName: RELEASE_METRICS.releasesFailed,
      dimensionsMap: { service: RELEASE_METRICS.service },
      statistic: 'Sum',
      ...options,
    });
  }

  /** Lets `fn` start release executions of this state machine only, and tells it which (`STATE_MACHINE_ARN`). */
  public grantStartRelease(fn: SlipwayFunction): iam.Grant {
    fn.addEnvironment(ENV.stateMachineArn, this.stateMachine.stateMachineArn);
    return this.stateMachine.grantStartExecution(fn);
  }

  /**
   * ECS: new task definition revisions (copied from the service's current one, images pinned by
   * digest) and UpdateService on tagged services only; the roles those revisions name, passed to
   * ECS tasks only.
   */
  private grantDeploy(fn: SlipwayFunction, props: ReleaseProps): void {
    const stack = Stack.of(this);
    const role = fn.role;
    if (!role) throw new Error(`${fn.node.path} has no role`);
    this.taggedServicesPolicy(fn, props, 'DeployTaggedServicesOnly', ['ecs:DescribeServices', 'ecs:UpdateService']);

    const taskDefinitionArns = stack.formatArn({ service: 'ecs', resource: 'task-definition', resourceName: '*' });
    const taskDefinitions = new iam.Policy(fn, 'EcsTaskDefinitionsPolicy', {
      roles: [role],
      statements: [
        new iam.PolicyStatement({
          sid: 'RegisterRevisions',
          actions: ['ecs:DescribeTaskDefinition', 'ecs:RegisterTaskDefinition'],
          resources: ['*'],
        }),
        new iam.PolicyStatement({
          sid: 'TagNewRevisionsOnly',
          actions: ['ecs:TagResource'],
          resources: [taskDefinitionArns],
          conditions: { StringEquals: { 'ecs:CreateAction': 'RegisterTaskDefinition' } },
        }),
      ],
    });
    Validations.of(taskDefinitions).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'ecs:DescribeTaskDefinition and ecs:RegisterTaskDefinition support no resource-level permissions; "*" is ' +
        'the only valid resource. A revision does nothing until a service runs it, and only tagged services can be ' +
        'updated; the roles a revision names are limited by the PassRole policy.',
    });
    Validations.of(taskDefinitions).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ecs:<AWS::Region>:<AWS::AccountId>:task-definition/*]',
      reason:
        'A new revision keeps the tags of the one it is copied from, which ECS authorizes as ecs:TagResource. ' +
        'The ecs:CreateAction condition allows tagging only while registering a revision, never of existing resources; ' +
        'the families are the apps\u2019 own, named at run time.',
    });

    const taskRoles =
      props.taskRolePattern ??
      stack.formatArn({ service: 'iam', region: '', resource: 'role', resourceName: DEFAULT_TASK_ROLE_NAME_PATTERN });
    const passRole = new iam.Policy(fn, 'PassTaskRolesPolicy', {
      roles: [role],
      statements: [
        new iam.PolicyStatement({
          sid: 'PassTaskRolesToEcsTasksOnly',
          actions: ['iam:PassRole'],
          resources: [taskRoles],
          conditions: { StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' } },
        }),
      ],
    });
    if (taskRoles.includes('*')) {
      Validations.of(passRole).acknowledge({
        id: `AwsSolutions-IAM5[Resource::${nagResource(taskRoles)}]`,
        reason:
          'A new task definition revision names the same task and execution roles as the current one, and ECS checks ' +
          'iam:PassRole for them. Those roles belong to the apps and are not known at deploy time: the pattern ' +
          '(stack prop taskRolePattern) limits them, and iam:PassedToService limits passing them to ECS tasks.',
      });
    }
  }

  /**
   * Environments' configurations: the steps write them as secrets `slipway/<app>/<env>`
   * (CreateSecret with its tags the first time, PutSecretValue after), and nothing else of
   * Secrets Manager. In a policy of its own: its wildcard is the app and environment.
   */
  private grantConfigSecrets(fn: SlipwayFunction): void {
    const role = fn.role;
    if (!role) throw new Error(`${fn.node.path} has no role`);
    const policy = new iam.Policy(fn, 'ConfigSecretsPolicy', {
      roles: [role],
      statements: [
        new iam.PolicyStatement({
          sid: 'WriteConfigSecretsOnly',
          actions: ['secretsmanager:CreateSecret', 'secretsmanager:PutSecretValue', 'secretsmanager:TagResource'],
          resources: [configSecretsArn(this)],
        }),
      ],
    });
    Validations.of(policy).acknowledge({
      id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:secretsmanager:<AWS::Region>:<AWS::AccountId>:secret:${CONFIG_SECRET_PREFIX}*]`,
      reason:
        'One secret per app environment, named slipway/<app>/<env> by the release steps at run time (apps and ' +
        'environments are made with the CLI, not known at deploy time). The statement covers only secrets under ' +
        'slipway/, only writing their values and tagging them on creation; it can neither read nor delete one.',
    });
  }

  /**
   * What an app's task execution role needs to start its tasks with their configuration:
   * GetSecretValue on `slipway/*` secrets whose `slipway:app` tag equals the role's own (ABAC),
   * so one managed policy serves every app and none reads another's.
   */
  private makeTaskConfigPolicy(): iam.ManagedPolicy {
    const policy = new iam.ManagedPolicy(this, 'TaskConfigPolicy', {
      description:
        "Slipway: attach to an app's task execution role tagged slipway:app=<app>; it reads that app's configuration secrets only",
      statements: [
        new iam.PolicyStatement({
          sid: 'ReadOwnAppConfigOnly',
          actions: ['secretsmanager:GetSecretValue'],
          resources: [configSecretsArn(this)],
          conditions: {
            StringEquals: { [`secretsmanager:ResourceTag/${APP_TAG_KEY}`]: `\${aws:PrincipalTag/${APP_TAG_KEY}}` },
          },
        }),
      ],
    });
    Validations.of(policy).acknowledge({
      id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:secretsmanager:<AWS::Region>:<AWS::AccountId>:secret:${CONFIG_SECRET_PREFIX}*]`,
      reason:
        "For the apps' task execution roles, which Slipway does not own: the configuration secrets are made per " +
        'app environment at run time. The condition lets a role read only the secrets tagged with the app its own ' +
        'slipway:app tag names; a role without that tag reads none.',
    });
    return policy;
  }

  /**
   * The state machine role's policies, one concern each: invoking the steps function (its
   * versions and aliases included, nothing else), log delivery and X-Ray (both `*` only).
   */
  private stateMachinePolicies(fn: SlipwayFunction): iam.Policy[] {
    const stack = Stack.of(this);
    const invoke = new iam.Policy(this, 'StateMachineInvokePolicy', {
      roles: [this.stateMachineRole],
      statements: [
        new iam.PolicyStatement({
          actions: ['lambda:InvokeFunction'],
          resources: [fn.functionArn, `${fn.functionArn}:*`],
        }),
      ],
    });
    const fnLogicalId = stack.getLogicalId(fn.node.defaultChild as lambda.CfnFunction);
    Validations.of(invoke).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${fnLogicalId}.Arn>:*]`,
      reason:
        'The wildcard is the version or alias qualifier of the release-steps function ARN and nothing else: the state ' +
        'machine may invoke that one function, qualified or not. This policy holds nothing else.',
    });

    const logDelivery = new iam.Policy(this, 'StateMachineLogDeliveryPolicy', {
      roles: [this.stateMachineRole],
      statements: [new iam.PolicyStatement({ actions: LOG_DELIVERY_ACTIONS, resources: ['*'] })],
    });
    Validations.of(logDelivery).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'Step Functions delivers execution logs through the CloudWatch Logs vended-log delivery APIs ' +
        '(CreateLogDelivery and the rest), which support no resource-level permissions; "*" is the only valid ' +
        'resource. This policy holds nothing else.',
    });

    const tracing = new iam.Policy(this, 'StateMachineTracingPolicy', {
      roles: [this.stateMachineRole],
      statements: [new iam.PolicyStatement({ actions: STATE_MACHINE_TRACING_ACTIONS, resources: ['*'] })],
    });
    Validations.of(tracing).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'xray:PutTraceSegments, PutTelemetryRecords, GetSamplingRules and GetSamplingTargets support no ' +
        'resource-level permissions; "*" is the only valid resource. This policy holds nothing else.',
    });
    return [invoke, logDelivery, tracing];
  }
}

/**
 * The definition, as one line of JSON (checked to be JSON at synth), after checking that every
 * `${…}` placeholder in it has a substitution: an unknown one would reach Step Functions as text.
 */
export function loadDefinition(file: string, substitutions: Readonly<Record<string, string>>): string {
  const text = readFileSync(file, 'utf8');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new Error(`${file} is not JSON: ${(error as Error).message}`);
  }
  const placeholders = new Set([...text.matchAll(/\$\{([^}]*)\}/g)].map((m) => m[1] ?? ''));
  const missing = [...placeholders].filter((name) => !(name in substitutions));
  if (missing.length > 0) throw new Error(`${file}: no substitution for ${missing.map((m) => `\${${m}}`).join(', ')}`);
  return JSON.stringify(parsed);
}

/** `arn:<partition>:secretsmanager:<region>:<account>:secret:slipway/*`: every app environment's configuration secret. */
function configSecretsArn(scope: Construct): string {
  return Stack.of(scope).formatArn({
    service: 'secretsmanager',
    resource: 'secret',
    resourceName: `${CONFIG_SECRET_PREFIX}*`,
    arnFormat: ArnFormat.COLON_RESOURCE_NAME,
  });
}

/** How cdk-nag writes a resource in a finding id: tokens become `<AWS::Partition>`, `<AWS::AccountId>`… */
function nagResource(arn: string): string {
  return arn
    .replace(/\$\{Token\[AWS\.Partition\.\d+\]\}/g, '<AWS::Partition>')
    .replace(/\$\{Token\[AWS\.AccountId\.\d+\]\}/g, '<AWS::AccountId>')
    .replace(/\$\{Token\[AWS\.Region\.\d+\]\}/g, '<AWS::Region>');
}
