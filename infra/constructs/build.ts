import { cpSync } from 'node:fs';
import * as path from 'node:path';
import { Aws, DockerImage, Duration, Fn, Stack, Validations } from 'aws-cdk-lib';
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
import { BUILD_ROLE_APP_TAG, BUILD_ROLE_PATH } from '../../functions/adapters/builder/build-roles';
import { ECR_REPOSITORY_PREFIX } from '../../functions/adapters/registry/ecr-registry';
import { bundleToolsSync } from '../../functions/build/bundle-tools';
import { ENV } from '../../functions/commons/env-names';
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

/** The app a build role is for, as IAM reads it while the build runs: the role's `slipway-app` tag. */
export const APP_TAG_VARIABLE = `\${aws:PrincipalTag/${BUILD_ROLE_APP_TAG}}`;

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
  /**
   * The project's default role: reads the buildspecs and writes logs, nothing else. Builds run
   * with their app's role instead (`serviceRoleOverride`).
   */
  public readonly role: iam.Role;
  /** What a per-app build role may do, for the app it is tagged with; attached to each at run time. */
  public readonly appBuildPolicy: iam.ManagedPolicy;
  /** `ecr:GetAuthorizationToken` (only `*` is valid), attached to each per-app build role. */
  public readonly ecrLoginPolicy: iam.ManagedPolicy;
  /** The permissions boundary every per-app build role must carry. */
  public readonly appBuildBoundary: iam.ManagedPolicy;
  /** `slipway-build-<8 hex of the stack id>-`: a per-app role is `<path><prefix><app>`. */
  public readonly appRoleNamePrefix: string;
  /** `arn:…:role/slipway/builds/<prefix>`: an app's role ARN is this plus the app name. */
  public readonly appRoleArnPrefix: string;
  /** `<appRoleArnPrefix>*`: every per-app build role of this stack, and nothing else. */
  public readonly appRolesArn: string;
  /** {@link appRolesArn} as cdk-nag names it in a finding id. */
  public readonly appRolesNagResource: string;
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

    // The project's own role. CodeBuild needs one, but every build runs with its app's role
    // (StartBuild's serviceRoleOverride, see grantStartBuild): this one only reads the buildspecs
    // and writes logs, so a build started without an override decrypts no key and pushes nowhere.
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('codebuild.amazonaws.com'),
      description: 'Slipway build project default role: reads the buildspecs, writes build logs; no key, no repository',
    });
    const sourceStatements = (): iam.PolicyStatement[] => [
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
      new iam.PolicyStatement({
        sid: 'WriteBuildLogs',
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        resources: [this.logGroup.logGroupArn],
      }),
    ];
    const policy = new iam.Policy(this, 'RolePolicy', { roles: [this.role], statements: sourceStatements() });

    // What one app's build may do, written once for every app: the app is the build role's own
    // tag (`slipway-app`), read as a policy variable. A role without the tag matches nothing.
    const appStatements = (): iam.PolicyStatement[] => [
      new iam.PolicyStatement({
        sid: 'DecryptOwnDeployKeyOnly',
        actions: ['kms:Decrypt'],
        resources: [props.secretsKey.keyArn],
        conditions: {
          StringEquals: {
            'kms:EncryptionContext:purpose': 'deploy-key',
            'kms:EncryptionContext:app': APP_TAG_VARIABLE,
          },
        },
      }),
      new iam.PolicyStatement({
        sid: 'PushPullOwnRepositoryOnly',
        actions: [...PUSH_PULL_ACTIONS],
        resources: [appRepositoryArn(this, APP_TAG_VARIABLE, this.repositoryPrefix)],
      }),
      ...sourceStatements(),
    ];
    const ecrLoginStatement = () =>
      new iam.PolicyStatement({ sid: 'EcrLogin', actions: ['ecr:GetAuthorizationToken'], resources: ['*'] });
    this.appBuildPolicy = new iam.ManagedPolicy(this, 'AppBuildPolicy', {
      description: 'Slipway: what a build may do for the app its role is tagged with (slipway-app)',
      statements: appStatements(),
    });
    // A new id on purpose: `EcrLoginPolicy` was an AWS::IAM::Policy, and CloudFormation cannot change a resource's type.
    this.ecrLoginPolicy = new iam.ManagedPolicy(this, 'AppEcrLoginPolicy', {
      description: 'Slipway builds: log in to ECR (the token alone grants no repository)',
      statements: [ecrLoginStatement()],
    });
    Validations.of(this.ecrLoginPolicy).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'ecr:GetAuthorizationToken supports no resource-level permissions; "*" is the only valid resource. ' +
        "The token alone grants nothing: a build may pull and push only its own app's repository (AppBuildPolicy).",
    });
    this.appBuildBoundary = new iam.ManagedPolicy(this, 'AppBuildBoundary', {
      description: 'Slipway: permissions boundary of every per-app build role (the most any of them can ever do)',
      statements: [...appStatements(), ecrLoginStatement()],
    });
    Validations.of(this.appBuildBoundary).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'This is a permissions boundary, a ceiling that grants nothing itself: the union of AppBuildPolicy and ' +
        'EcrLoginPolicy. Its one "*" is ecr:GetAuthorizationToken, which supports no resource-level permissions.',
    });

    // Per-app roles are made at run time (apps link) as <path><prefix><app>. The prefix carries
    // the stack id's first 8 hex digits, so stacks side by side in one account never share a role.
    const stackUnique = Fn.select(0, Fn.split('-', Fn.select(2, Fn.split('/', Aws.STACK_ID))));
    this.appRoleNamePrefix = `slipway-build-${stackUnique}-`;
    this.appRoleArnPrefix = Stack.of(this).formatArn({
      service: 'iam',
      region: '',
      resource: 'role',
      resourceName: `${BUILD_ROLE_PATH.slice(1)}${this.appRoleNamePrefix}`,
    });
    this.appRolesArn = `${this.appRoleArnPrefix}*`;
    // How cdk-nag writes that ARN in a finding id: pseudo parameters as <AWS::…>, the rest as JSON.
    this.appRolesNagResource =
      `arn:<AWS::Partition>:iam::<AWS::AccountId>:role${BUILD_ROLE_PATH}slipway-build-` +
      `${JSON.stringify(Stack.of(this).resolve(stackUnique))}-*`;

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
    this.project.node.addDependency(policy, this.role);
    Validations.of(this.project).acknowledge({
      id: 'AwsSolutions-CB3',
      reason:
        'Privileged mode runs the Docker daemon that builds the app images; a build cannot build images ' +
        "without it. Each build runs alone in its own CodeBuild container, for one app, with that app's own " +
        "role: it can decrypt only that app's deploy key and pull and push only that app's repository.",
    });

    this.eventsFunction = new SlipwayFunction(this, 'EventsFunction', {
      entry: HANDLERS.buildEvents,
      description: 'Records CodeBuild state and phase changes in the build records',
    });
    // Read and update the build, clear its start marker: no Put, no Query, no batch.
    this.eventsFunction.bindTable(props.table, ['GetItem', 'UpdateItem', 'DeleteItem']);

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
    fn.addEnvironment(ENV.buildProjectName, this.project.projectName);
    fn.addEnvironment(ENV.buildLogGroup, this.logGroup.logGroupName);
    fn.addToRolePolicy(
      // StopBuild: a build a newer push overtook is stopped (superseded mode). BatchGetBuilds:
      // the one recheck of a build whose end event was lost (docs/RELEASE.md, "Waits").
      new iam.PolicyStatement({
        actions: ['codebuild:StartBuild', 'codebuild:StopBuild', 'codebuild:BatchGetBuilds'],
        resources: [this.project.projectArn],
      }),
    );
    // Each build runs with its app's role: StartBuild's serviceRoleOverride passes it.
    fn.addEnvironment(ENV.buildRoleArnPrefix, this.appRoleArnPrefix);
    if (!fn.role) throw new Error(`${fn.node.path} has no role`);
    const passRoles = new iam.Policy(fn, 'PassAppBuildRolesPolicy', {
      roles: [fn.role],
      statements: [
        new iam.PolicyStatement({
          sid: 'PassAppBuildRolesToCodeBuildOnly',
          actions: ['iam:PassRole'],
          resources: [this.appRolesArn],
          conditions: { StringEquals: { 'iam:PassedToService': 'codebuild.amazonaws.com' } },
        }),
      ],
    });
    Validations.of(passRoles).acknowledge({
      id: `AwsSolutions-IAM5[Resource::${this.appRolesNagResource}]`,
      reason:
        'One build role per app is created at run time (apps link), so the names are not known at deploy time. ' +
        'The wildcard covers this stack’s per-app build roles (path /slipway/builds/, stack-unique name prefix) ' +
        'and nothing else, and iam:PassedToService limits passing them to CodeBuild. This policy holds nothing else.',
    });
  }

  /**
   * Lets `fn` (the admin API) create and delete the per-app build roles, and tells it how
   * (`BUILD_ROLE_*`, `BUILD_PROJECT_ARN`): only under this stack's path and name prefix, only
   * with the boundary, only the `slipway-app` tag, only this stack's two build policies attached.
   * It can neither write an inline policy, nor remove the boundary, nor pass a role.
   */
  public grantManageAppRoles(fn: SlipwayFunction): iam.Policy {
    if (!fn.role) throw new Error(`${fn.node.path} has no role`);
    fn.addEnvironment(ENV.buildRolePath, BUILD_ROLE_PATH);
    fn.addEnvironment(ENV.buildRoleNamePrefix, this.appRoleNamePrefix);
    fn.addEnvironment(ENV.buildRoleBoundaryArn, this.appBuildBoundary.managedPolicyArn);
    fn.addEnvironment(
      ENV.buildRolePolicyArns,
      Fn.join(',', [this.appBuildPolicy.managedPolicyArn, this.ecrLoginPolicy.managedPolicyArn]),
    );
    fn.addEnvironment(ENV.buildProjectArn, this.project.projectArn);
    const policy = new iam.Policy(fn, 'AppBuildRolesPolicy', {
      roles: [fn.role],
      statements: [
        new iam.PolicyStatement({
          sid: 'CreateAppBuildRolesWithBoundaryOnly',
          actions: ['iam:CreateRole'],
          resources: [this.appRolesArn],
          conditions: { StringEquals: { 'iam:PermissionsBoundary': this.appBuildBoundary.managedPolicyArn } },
        }),
        new iam.PolicyStatement({
          sid: 'TagAppBuildRolesWithTheirAppOnly',
          actions: ['iam:TagRole'],
          resources: [this.appRolesArn],
          conditions: { 'ForAllValues:StringEquals': { 'aws:TagKeys': [BUILD_ROLE_APP_TAG] } },
        }),
        new iam.PolicyStatement({
          sid: 'AttachTheBuildPoliciesOnly',
          actions: ['iam:AttachRolePolicy', 'iam:DetachRolePolicy'],
          resources: [this.appRolesArn],
          conditions: {
            ArnEquals: {
              'iam:PolicyARN': [this.appBuildPolicy.managedPolicyArn, this.ecrLoginPolicy.managedPolicyArn],
            },
          },
        }),
        new iam.PolicyStatement({
          sid: 'ReadAndDeleteAppBuildRoles',
          actions: ['iam:GetRole', 'iam:ListAttachedRolePolicies', 'iam:DeleteRole'],
          resources: [this.appRolesArn],
        }),
      ],
    });
    Validations.of(policy).acknowledge({
      id: `AwsSolutions-IAM5[Resource::${this.appRolesNagResource}]`,
      reason:
        'One build role per app is created when the app is linked, so the names are not known at deploy time. ' +
        'The wildcard covers this stack’s per-app build roles (path /slipway/builds/, stack-unique name prefix) ' +
        'and nothing else; CreateRole requires the build boundary, TagRole only the slipway-app key, and only the ' +
        "stack's two build policies can be attached. This policy holds nothing else.",
    });
    return policy;
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

/** `arn:<partition>:ecr:<region>:<account>:repository/<prefix>/<app>`: one app's repository. */
export function appRepositoryArn(scope: Construct, app: string, prefix: string = ECR_REPOSITORY_PREFIX): string {
  return Stack.of(scope).formatArn({ service: 'ecr', resource: 'repository', resourceName: `${prefix}/${app}` });
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
