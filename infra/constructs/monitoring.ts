import { Duration } from 'aws-cdk-lib';
import type * as apigw from 'aws-cdk-lib/aws-apigatewayv2';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';

export interface MonitoringProps {
  /** The API whose server errors (`5xx`) raise an alarm. */
  readonly api: apigw.IHttpApi;

  /** The functions whose errors and throttles raise alarms, by a short name used in alarm ids. */
  readonly functions: Readonly<Record<string, lambda.IFunction>>;

  /**
   * State machines whose failed, timed-out or throttled executions raise alarms, by a short name
   * used in alarm ids.
   * @default - none
   */
  readonly stateMachines?: Readonly<Record<string, sfn.IStateMachine>>;

  /**
   * Metrics the functions emit themselves (CloudWatch Embedded Metric Format) whose every
   * occurrence raises an alarm, by a short name used in alarm ids (`<name>Alarm`).
   * @default - none
   */
  readonly emittedMetrics?: Readonly<Record<string, EmittedMetric>>;

  /**
   * An address subscribed to the alarm topic (it must confirm the subscription).
   * @default - no subscription; subscribe to `alarmTopic` yourself
   */
  readonly alarmEmail?: string;

  /**
   * How long each alarm looks at its metric.
   * @default Duration.minutes(5)
   */
  readonly period?: Duration;
}

/** A metric a function emits, and what its alarm says. */
export interface EmittedMetric {
  /** The metric, with the period and statistic the alarm asks for. */
  readonly metric: (options: cloudwatch.MetricOptions) => cloudwatch.IMetric;
  readonly description: string;
}

/**
 * Alarms that tell an operator Slipway is failing: the API answering 5xx (the contract says
 * bad input never does), any function erroring or being throttled, and any release execution
 * failing, timing out or being throttled, and any release recorded failed or rolled back (a metric
 * the release-steps function emits: those executions end Succeeded). Every alarm notifies
 * one SNS topic, encrypted with a key of its own whose policy lets CloudWatch publish to it.
 * (CloudWatch cannot publish to a topic encrypted with the AWS-managed `aws/sns` key, and the
 * secrets key stays reserved for secrets.)
 */
export class Monitoring extends Construct {
  /** Where alarms are sent. */
  public readonly alarmTopic: sns.Topic;
  public readonly alarms: readonly cloudwatch.Alarm[];

  constructor(scope: Construct, id: string, props: MonitoringProps) {
    super(scope, id);
    const period = props.period ?? Duration.minutes(5);

    const topicKey = new kms.Key(this, 'AlarmTopicKey', {
      description: 'Slipway: encrypts the alarm topic',
      enableKeyRotation: true,
    });
    topicKey.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'AllowCloudWatchAlarmsToPublish',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
      }),
    );
    this.alarmTopic = new sns.Topic(this, 'AlarmTopic', {
      displayName: 'Slipway alarms',
      masterKey: topicKey,
      enforceSSL: true,
    });
    if (props.alarmEmail !== undefined) {
      this.alarmTopic.addSubscription(new subscriptions.EmailSubscription(props.alarmEmail));
    }

    const alarms: cloudwatch.Alarm[] = [
      this.alarm('Api5xxAlarm', props.api.metricServerError({ period }), 'The API answered with a 5xx'),
    ];
    for (const [name, fn] of Object.entries(props.functions)) {
      alarms.push(
        this.alarm(`${name}ErrorsAlarm`, fn.metricErrors({ period }), `The ${name} function failed`),
        this.alarm(`${name}ThrottlesAlarm`, fn.metricThrottles({ period }), `The ${name} function was throttled`),
      );
    }
    for (const [name, machine] of Object.entries(props.stateMachines ?? {})) {
      alarms.push(
        this.alarm(
          `${name}ExecutionsFailedAlarm`,
          machine.metricFailed({ period }),
          `A ${name} execution ended failed: it could not record how its release ended (see the execution's history and the release-steps function's logs)`,
        ),
        this.alarm(
          `${name}ExecutionsTimedOutAlarm`,
          machine.metricTimedOut({ period }),
          `A ${name} execution timed out`,
        ),
        this.alarm(
          `${name}ExecutionsThrottledAlarm`,
          machine.metricThrottled({ period }),
          `${name} executions were throttled by Step Functions`,
        ),
      );
    }
    for (const [name, emitted] of Object.entries(props.emittedMetrics ?? {})) {
      alarms.push(this.alarm(`${name}Alarm`, emitted.metric({ period, statistic: 'Sum' }), emitted.description));
    }
    this.alarms = alarms;
  }

  /** Fires on any occurrence in one period; no data (no traffic) is fine. */
  private alarm(id: string, metric: cloudwatch.IMetric, description: string): cloudwatch.Alarm {
    const alarm = new cloudwatch.Alarm(this, id, {
      metric,
      alarmDescription: description,
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    alarm.addAlarmAction(new SnsAction(this.alarmTopic));
    return alarm;
  }
}
