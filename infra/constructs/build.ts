import { cpSync } from 'node:fs';
import * as path from 'node:path';
import { DockerImage, Duration, Stack, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as codebuild from 'aws-cdk-lib/aws-codebuild';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as destinations from 'aws-cdk-lib/aws-lambda-destinations';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3assets from 'aws-cdk-lib/aws-s3-assets';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { ECR_REPOSITORY_PREFIX } from '../../functions/adapters/registry/ecr-registry';
import { bundleToolsSync } from '../../functions/build/bundle-tools';
import { HANDLERS, PROJECT_ROOT } from '../bundling';
import { SlipwayFunction } from './slipway-function';

/** What a build pushes and pulls: layers, manifests, and reading back what it pushed. */
const PUSH_PULL_ACTIONS = [
  'ecr:BatchCheckLayerAvailability',
  'ecr:BatchGetImage',
  'ecr:GetDownloadUrlForLayer',
  'ecr:InitiateLayerUpload',
  'ecr:UploadLayerPart',
  'ecr:CompleteLayerUpload',
  'ecr:PutImage',
  'ecr:DescribeImages',
];

/** What the admin API does to make an app's repository (EcrRegistry.ensureRepository). */
const REPOSITORY_ADMIN_ACTIONS = [
  'ecr:CreateRepository',
  'ecr:DescribeRepositories',
  'ecr:PutLifecyclePolicy',
  'ecr:TagResource',
];

export interface BuildProps {
  /** The state table; the build-events function updates build records in it. */
  readonly table: dynamodb.ITable;

  /** The secrets key. The build may decrypt with it only deploy keys (encryption context `purpose=deploy-key`). */
  readonly secretsKey: kms.IKey;

  /**
   * The build machine size.
   * @default codebuild.ComputeType.SMALL - 2 vCPU, 3 GB
   */
  readonly computeType?: codebuild.ComputeType;

  /**
   * The build image. Images are built natively for the architecture of this image.
   * @default codebuild.LinuxBuildImage.STANDARD_7_0 - x86_64, the default architecture of ECS task definitions
   */
  readonly buildImage?: codebuild.IBuildImage;

  /**
   * How long one build may run.
   * @default Duration.minutes(30)
   */
  readonly timeout?: Duration;

  /**
   * How long a build may wait in CodeBuild's queue before it is dropped.
   * @default Duration.hours(1)
   */
  readonly queuedTimeout?: Duration;

  /**
   * How long build logs are kept.
   * @default logs.RetentionDays.ONE_MONTH
   */
  readonly logRetention?: logs.RetentionDays;

  /**
   * The folder CodeBuild gets as its source; `build.yml` in it is the buildspec.
   * @default - `buildspecs/` of this repository
   */
  readonly buildspecsPath?: string;

  /**
   * The prefix of the apps' ECR repositories (`<prefix>/<app>`); pushes are allowed under it only.
   * @default 'slipway' (ECR_REPOSITORY_PREFIX, the registry adapter's default)
   */
  readonly repositoryPrefix?: string;
}

/**
 * Builds: the CodeBuild project that runs `buildspecs/build.yml` (privileged Docker, one build
 * per container, single tenant), its log group, its least-privilege role, and the path back:
 * CodeBuild state and phase changes → EventBridge rule → the build-events function → the build
 * record. Events the function could not take end up in a dead-letter queue with an alarm.
 *
 * The role is built here and handed to the project as immutable, so nothing CDK would add by
 * default (`/aws/codebuild/*` log groups, report groups, the S3 source's wildcard read actions)
 * reaches it: it holds exactly the statements below.
 */
export class Build extends Construct {
  public readonly project: codebuild.Project;
  /** Where builds log; a build's stream is named after its CodeBuild build UUID. */
  public readonly logGroup: logs.LogGroup;
  /** The build role (used by CodeBuild while a build runs). */
  public readonly role: iam.Role;
  /** Receives CodeBuild events and updates build records. */
  public readonly eventsFunction: SlipwayFunction;
  public readonly rule: events.Rule;
  /** Events that could not be delivered or processed. */
  public readonly deadLetterQueue: sqs.Queue;
  /** Fires when the dead-letter queue holds a message; the stack adds the action. */
  public readonly deadLetterAlarm: cloudwatch.Alarm;
  /** The repository prefix builds may push under. */
  public readonly repositoryPrefix: string;

  constructor(scope: Construct, id: string, props: BuildProps) {
    super(scope, id);
    this.repositoryPrefix = props.repositoryPrefix ?? ECR_REPOSITORY_PREFIX;

    this.logGroup = new logs.LogGroup(this, 'Logs', {
      retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
    });

    // The build's source: buildspecs/ plus the image planner bundled into tools/ (the
    // buildspec's default $SLIPWAY_TOOLS), so the build needs nothing but node to plan images.
    const buildspecsDir = props.buildspecsPath ?? path.join(PROJECT_ROOT, 'buildspecs');
    const source = new s3assets.Asset(this, 'Buildspecs', {
      path: buildspecsDir,
      bundling: {
        image: DockerImage.fromRegistry('public.ecr.aws/docker/library/node:22-slim'),
        local: {
          tryBundle(outputDir: string): boolean {
            cpSync(buildspecsDir, outputDir, { recursive: true });
            bundleToolsSync(path.join(outputDir, 'tools'), ['plan-images.mjs']);
            return true;
          },
        },
      },
    });

    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('codebuild.amazonaws.com'),
      description: 'Slipway build role: decrypts deploy keys, pushes to slipway/* repositories, writes build logs',
    });
    const policy = new iam.Policy(this, 'RolePolicy', {
      roles: [this.role],
      statements: [
        new iam.PolicyStatement({
          sid: 'DecryptDeployKeysOnly',
          actions: ['kms:Decrypt'],
          resources: [props.secretsKey.keyArn],
          conditions: { StringEquals: { 'kms:EncryptionContext:purpose': 'deploy-key' } },
        }),
        new iam.PolicyStatement({
          sid: 'ReadBuildspecs',
          actions: ['s3:GetObject', 's3:GetObjectVersion'],
          resources: [source.bucket.arnForObjects(source.s3ObjectKey)],
        }),
        new iam.PolicyStatement({
          sid: 'LocateBuildspecsBucket',
          actions: ['s3:GetBucketAcl', 's3:GetBucketLocation'],
          resources: [source.bucket.bucketArn],
        }),
      ],
    });
    this.logGroup.grantWrite(this.role);

    const ecrLogin = new iam.Policy(this, 'EcrLoginPolicy', {
      roles: [this.role],
      statements: [new iam.PolicyStatement({ actions: ['ecr:GetAuthorizationToken'], resources: ['*'] })],
    });
    Validations.of(ecrLogin).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'ecr:GetAuthorizationToken supports no resource-level permissions; "*" is the only valid resource. ' +
        'The token alone grants nothing: pushes are limited to slipway/* repositories by the push policy.',
    });
    const push = grantAppRepositories(this, 'EcrPushPolicy', this.role, PUSH_PULL_ACTIONS, this.repositoryPrefix);

    this.project = new codebuild.Project(this, 'Project', {
      description: 'Slipway: builds an app commit into images and pushes them to the app repository',
      source: codebuild.Source.s3({ bucket: source.bucket, path: source.s3ObjectKey }),
      buildSpec: codebuild.BuildSpec.fromSourceFilename('build.yml'),
      environment: {
        buildImage: props.buildImage ?? codebuild.LinuxBuildImage.STANDARD_7_0,
        computeType: props.computeType ?? codebuild.ComputeType.SMALL,
        privileged: true,
        environmentVariables: {
          // Not secret: lets the buildspec name the key it decrypts deploy keys with.
          SLIPWAY_KMS_KEY_ID: { value: props.secretsKey.keyArn },
        },
      },
      timeout: props.timeout ?? Duration.minutes(30),
      queuedTimeout: props.queuedTimeout ?? Duration.hours(1),
      logging: { cloudWatch: { logGroup: this.logGroup } },
      role: this.role.withoutPolicyUpdates(),
      // CodeBuild's own default, named so the choice is visible: there are no artifacts to encrypt.
      encryptionKey: kms.Alias.fromAliasName(this, 'S3ManagedKey', 'alias/aws/s3'),
    });
    this.project.node.addDependency(policy, ecrLogin, push, this.role);
    Validations.of(this.project).acknowledge({
      id: 'AwsSolutions-CB3',
      reason:
        'Privileged mode runs the Docker daemon that builds the app images; a build cannot build images ' +
        'without it. Each build runs alone in its own CodeBuild container, for one app, and its role can ' +
        'only decrypt deploy keys and push to slipway/* repositories.',
    });

    this.eventsFunction = new SlipwayFunction(this, 'EventsFunction', {
      entry: HANDLERS.buildEvents,
      description: 'Records CodeBuild state and phase changes in the build records',
    });
    this.eventsFunction.bindTable(props.table, 'readWrite');

    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetters', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    Validations.of(this.deadLetterQueue).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason:
        'This queue is itself the dead-letter queue: of the build-event rule target and of the build-events ' +
        "function's asynchronous invocations. Its messages are inspected by hand; the alarm says when there are any.",
    });
    this.eventsFunction.configureAsyncInvoke({
      retryAttempts: 2,
      onFailure: new destinations.SqsDestination(this.deadLetterQueue),
    });

    this.rule = new events.Rule(this, 'StateChanges', {
      description: 'CodeBuild state and phase changes of the Slipway build project',
      eventPattern: {
        source: ['aws.codebuild'],
        detailType: ['CodeBuild Build State Change', 'CodeBuild Build Phase Change'],
        detail: { 'project-name': [this.project.projectName] },
      },
      targets: [
        new targets.LambdaFunction(this.eventsFunction, {
          deadLetterQueue: this.deadLetterQueue,
          retryAttempts: 8,
          maxEventAge: Duration.hours(2),
        }),
      ],
    });

    this.deadLetterAlarm = new cloudwatch.Alarm(this, 'DeadLettersAlarm', {
      metric: this.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(5) }),
      alarmDescription: 'A CodeBuild event could not be recorded in its build (see the dead-letter queue)',
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
  }

  /** Lets `fn` start builds (`codebuild:StartBuild` on this project) and tells it the project and log group. */
  public grantStartBuild(fn: SlipwayFunction): void {
    fn.addEnvironment('BUILD_PROJECT_NAME', this.project.projectName);
    fn.addEnvironment('BUILD_LOG_GROUP', this.logGroup.logGroupName);
    fn.addToRolePolicy(
      // StopBuild: a build a newer push overtook is stopped (superseded mode).
      new iam.PolicyStatement({
        actions: ['codebuild:StartBuild', 'codebuild:StopBuild'],
        resources: [this.project.projectArn],
      }),
    );
  }

  /** Lets `grantee` read build logs (`logs:GetLogEvents` on this log group's streams only). */
  public grantReadLogs(grantee: iam.IGrantable): iam.Grant {
    return this.logGroup.grant(grantee, 'logs:GetLogEvents');
  }

  /** Lets `fn` create and configure app repositories (`<prefix>/*`), in a policy of its own. */
  public grantRepositoryAdmin(fn: SlipwayFunction): iam.Policy {
    if (!fn.role) throw new Error(`${fn.node.path} has no role`);
    return grantAppRepositories(fn, 'EcrRepositoriesPolicy', fn.role, REPOSITORY_ADMIN_ACTIONS, this.repositoryPrefix);
  }
}

/** `arn:<partition>:ecr:<region>:<account>:repository/<prefix>/*`: every app repository, and only those. */
export function appRepositoriesArn(scope: Construct, prefix: string = ECR_REPOSITORY_PREFIX): string {
  return Stack.of(scope).formatArn({ service: 'ecr', resource: 'repository', resourceName: `${prefix}/*` });
}

/**
 * Grants `actions` on the app repositories in a policy of its own (`<scope>/<id>`), where the
 * one wildcard finding this must raise (repositories are made per app at run time, so their
 * names are not known at deploy time) is acknowledged, and nothing else could hide behind it.
 */
export function grantAppRepositories(
  scope: Construct,
  id: string,
  role: iam.IRole,
  actions: readonly string[],
  prefix: string = ECR_REPOSITORY_PREFIX,
): iam.Policy {
  const policy = new iam.Policy(scope, id, {
    roles: [role],
    statements: [new iam.PolicyStatement({ actions: [...actions], resources: [appRepositoriesArn(scope, prefix)] })],
  });
  Validations.of(policy).acknowledge({
    id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ecr:<AWS::Region>:<AWS::AccountId>:repository/${prefix}/*]`,
    reason:
      `One ECR repository per app, named ${prefix}/<app>, is created at run time when an app is linked, so ` +
      `the names are not known at deploy time. The wildcard covers Slipway's own repositories and nothing else; ` +
      'this policy holds only the ECR actions listed.',
  });
  return policy;
}
