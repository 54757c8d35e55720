import { CfnOutput, Duration, Stack, type StackProps } from 'aws-cdk-lib';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import type { Construct } from 'constructs';
import { FUNCTION_TIMEOUTS } from '../functions/commons/timeouts';
import { HANDLERS } from './bundling';
import { Api } from './constructs/api';
import { Build } from './constructs/build';
import { Monitoring } from './constructs/monitoring';
import { SlipwayFunction } from './constructs/slipway-function';
import { State } from './constructs/state';

export interface SlipwayStackProps extends StackProps {
  /**
   * An address subscribed to the alarm topic.
   * @default - none
   */
  readonly alarmEmail?: string;
}

/**
 * Slipway: state (table + secrets key), the three API functions with exactly the permissions
 * each needs, the HTTP API in front of them, builds (CodeBuild project, its role, and the
 * build-events function that records their progress), and alarms.
 * Environment-agnostic: no account or region lookups.
 */
export class SlipwayStack extends Stack {
  public readonly state: State;
  public readonly api: Api;
  public readonly monitoring: Monitoring;
  public readonly build: Build;
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

    // Builds: the hooks start them for accepted pushes (making the app's repository on first
    // use); the admin API reads their logs.
    this.build = new Build(this, 'Build', { table, secretsKey: key });
    for (const hook of [projectWebhook, systemHook]) {
      this.build.grantStartBuild(hook);
      this.build.grantRepositoryAdmin(hook);
    }
    this.build.grantReadLogs(admin);
    admin.addEnvironment('BUILD_LOG_GROUP', this.build.logGroup.logGroupName);

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
      },
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
  }
}
