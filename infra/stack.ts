import { CfnOutput, Duration, Stack, type StackProps } from 'aws-cdk-lib';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import type { Construct } from 'constructs';
import { FUNCTION_TIMEOUTS } from '../functions/commons/timeouts';
import { HANDLERS } from './bundling';
import { Api } from './constructs/api';
import { Build } from './constructs/build';
import { Monitoring } from './constructs/monitoring';
import { Release } from './constructs/release';
import { SlipwayFunction } from './constructs/slipway-function';
import { State } from './constructs/state';

export interface SlipwayStackProps extends StackProps {
  /**
   * An address subscribed to the alarm topic.
   * @default - none
   */
  readonly alarmEmail?: string;

  /**
   * The ECS clusters (names) whose services Slipway may deploy to. Either way, a service must
   * carry the tag `slipway:managed=true`.
   * @default - any cluster in the account and region
   */
  readonly ecsClusters?: readonly string[];

  /**
   * The IAM roles (an ARN pattern) Slipway may pass to ECS tasks: the task and execution roles
   * the apps' task definitions name.
   * @default `arn:<partition>:iam::<account>:role/slipway-task-*`
   */
  readonly taskRolePattern?: string;
}

/**
 * Slipway: state (table + secrets key), the three API functions with exactly the permissions
 * each needs, the HTTP API in front of them, builds (CodeBuild project, its role, and the
 * build-events function that records their progress), the release workflow (state machine,
 * release-steps function, Slack secret), and alarms.
 * Environment-agnostic: no account or region lookups.
 */
export class SlipwayStack extends Stack {
  public readonly state: State;
  public readonly api: Api;
  public readonly monitoring: Monitoring;
  public readonly build: Build;
  public readonly release: Release;
  public readonly functions: {
    readonly projectWebhook: SlipwayFunction;
    readonly systemHook: SlipwayFunction;
    readonly admin: SlipwayFunction;
  };

  constructor(scope: Construct, id: string, props: SlipwayStackProps = {}) {
    super(scope, id, props);

    this.state = new State(this, 'State');
    const { table, indexNames, key } = this.state;

    // Hooks: record deliveries and builds; open only webhook signing secrets, never encrypt.
    const projectWebhook = new SlipwayFunction(this, 'ProjectWebhook', {
      entry: HANDLERS.projectWebhook,
      description: 'Receives GitLab project webhooks',
      timeout: Duration.millis(FUNCTION_TIMEOUTS.webhook),
    });
    projectWebhook.bindTable(table, 'readWrite', { indexNames });
    projectWebhook.bindKey(key, ['Decrypt'], ['webhook-signing-secret']);

    const systemHook = new SlipwayFunction(this, 'SystemHook', {
      entry: HANDLERS.systemHook,
      description: 'Receives GitLab system hooks',
      timeout: Duration.millis(FUNCTION_TIMEOUTS.webhook),
    });
    systemHook.bindTable(table, 'readWrite', { indexNames });
    systemHook.bindKey(key, ['Decrypt'], ['webhook-signing-secret']);

    // Admin API: stores every kind of secret (connect, link, rotate) and reads them back to call GitLab.
    const admin = new SlipwayFunction(this, 'Admin', {
      entry: HANDLERS.adminApi,
      description: 'Serves the Slipway admin API (/v1)',
      timeout: Duration.millis(FUNCTION_TIMEOUTS.admin),
    });
    admin.bindTable(table, 'readWrite', { indexNames });
    admin.bindKey(key, ['Encrypt', 'Decrypt'], ['gitlab-token', 'webhook-signing-secret', 'deploy-key']);

    this.functions = { projectWebhook, systemHook, admin };

    // Builds: the release workflow starts them; the admin API reads their logs.
    this.build = new Build(this, 'Build', { table, secretsKey: key });
    this.build.grantReadLogs(admin);
    admin.addEnvironment('BUILD_LOG_GROUP', this.build.logGroup.logGroupName);

    // Releases: the hooks start one per accepted push, the admin API one per deploy or rollback.
    this.release = new Release(this, 'Release', {
      table,
      secretsKey: key,
      build: this.build,
      ecsClusters: props.ecsClusters,
      taskRolePattern: props.taskRolePattern,
    });
    for (const fn of [projectWebhook, systemHook, admin]) this.release.grantStartRelease(fn);

    this.api = new Api(this, 'Api', {
      projectWebhookHandler: projectWebhook,
      systemHookHandler: systemHook,
      adminHandler: admin,
    });

    this.monitoring = new Monitoring(this, 'Monitoring', {
      api: this.api.httpApi,
      functions: {
        ProjectWebhook: projectWebhook,
        SystemHook: systemHook,
        Admin: admin,
        BuildEvents: this.build.eventsFunction,
        ReleaseSteps: this.release.stepsFunction,
      },
      stateMachines: { Release: this.release.stateMachine },
      alarmEmail: props.alarmEmail,
    });
    this.build.deadLetterAlarm.addAlarmAction(new SnsAction(this.monitoring.alarmTopic));

    new CfnOutput(this, 'ApiUrl', { value: this.api.url, description: 'Base URL of the Slipway API' });
    new CfnOutput(this, 'TableName', { value: table.tableName, description: 'The Slipway DynamoDB table' });
    new CfnOutput(this, 'KeyArn', { value: key.keyArn, description: 'The KMS key that encrypts Slipway secrets' });
    new CfnOutput(this, 'BuildProjectName', {
      value: this.build.project.projectName,
      description: 'The CodeBuild project that builds app images',
    });
    new CfnOutput(this, 'BuildLogGroup', {
      value: this.build.logGroup.logGroupName,
      description: 'Where build logs are written',
    });
    new CfnOutput(this, 'StateMachineArn', {
      value: this.release.stateMachine.stateMachineArn,
      description: 'The release workflow (one execution per build or rollback)',
    });
    new CfnOutput(this, 'SlackSecretName', {
      value: this.release.slackSecret.secretName,
      description:
        'Put {"url": "https://hooks.slack.com/..."} here for Slack notices (aws secretsmanager put-secret-value)',
    });
  }
}
