import * as path from 'node:path';
import { Duration, Stack, Validations } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type { Construct } from 'constructs';
import { ENV } from '../../functions/commons/env-names';
import type { VaultContext } from '../../functions/domain/ports';
import { nodejsBundlingOptions, PROJECT_ROOT } from '../bundling';

/** The item-level DynamoDB actions a function may be granted on the table. */
export type TableAction =
  | 'GetItem'
  | 'BatchGetItem'
  | 'Query'
  | 'ConditionCheckItem'
  | 'PutItem'
  | 'UpdateItem'
  | 'DeleteItem'
  | 'BatchWriteItem';

/**
 * How much of a table a function may touch: a preset, or exactly the actions its code calls
 * (a transaction needs the single-item action of each of its items: DynamoDB has no IAM action
 * for TransactWriteItems). test/infra/sdk-grants.test.ts checks the list against the bundle.
 */
export type TableAccess = 'read' | 'readWrite' | readonly TableAction[];

/** The KMS operations the vault performs. */
export type KeyAction = 'Encrypt' | 'Decrypt';

/** The `purpose` a ciphertext is bound to (its KMS encryption context). */
export type KeyPurpose = VaultContext['purpose'];

/** Powertools log levels. */
export type LogLevel = 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';

const TABLE_ACTIONS: Record<'read' | 'readWrite', readonly string[]> = {
  read: ['dynamodb:GetItem', 'dynamodb:BatchGetItem', 'dynamodb:Query', 'dynamodb:ConditionCheckItem'],
  readWrite: [
    'dynamodb:GetItem',
    'dynamodb:BatchGetItem',
    'dynamodb:Query',
    'dynamodb:ConditionCheckItem',
    'dynamodb:PutItem',
    'dynamodb:UpdateItem',
    'dynamodb:DeleteItem',
    'dynamodb:BatchWriteItem',
  ],
};

const WRITE_ACTIONS: readonly TableAction[] = ['PutItem', 'UpdateItem', 'DeleteItem', 'BatchWriteItem'];

function writesTable(access: TableAccess): boolean {
  if (typeof access === 'string') return access === 'readWrite';
  return access.some((action) => WRITE_ACTIONS.includes(action));
}

/** X-Ray's write actions accept no resource but `*`. */
const TRACING_ACTIONS = ['xray:PutTraceSegments', 'xray:PutTelemetryRecords'];

export interface SlipwayFunctionProps {
  /** Absolute path of the handler's entry file, which exports `handler`. */
  readonly entry: string;

  /**
   * What the function does, shown in the console.
   * @default - no description
   */
  readonly description?: string;

  /**
   * How long one invocation may run.
   * @default Duration.seconds(10) - inside GitLab's 10 s webhook timeout
   */
  readonly timeout?: Duration;

  /**
   * Memory in MB (CPU scales with it).
   * @default 512
   */
  readonly memorySize?: number;

  /**
   * How long the function's log group keeps events.
   * @default logs.RetentionDays.ONE_MONTH
   */
  readonly logRetention?: logs.RetentionDays;

  /**
   * `POWERTOOLS_SERVICE_NAME`, the `service` field of every log line.
   * @default 'slipway'
   */
  readonly serviceName?: string;

  /**
   * `LOG_LEVEL` for the Powertools logger.
   * @default 'INFO'
   */
  readonly logLevel?: LogLevel;
}

/** Options for {@link SlipwayFunction.bindTable}. */
export interface BindTableOptions {
  /**
   * Global secondary indexes the function may query, by name.
   * @default - none: only the base table
   */
  readonly indexNames?: readonly string[];
}

/**
 * The house Lambda function: Node.js 22 on arm64, an ESM bundle (minified, source-mapped,
 * AWS SDK from the runtime), X-Ray tracing, and its own log group with a retention period.
 *
 * It starts with no permissions beyond writing its own logs and traces. Access is added with
 * the binder methods, which set the environment variable the handler reads and grant exactly
 * the IAM it needs in one call, so configuration and permission cannot drift apart.
 *
 * The execution role is created next to the function (`<id>Role`), not inside it: the role
 * must exist before `super()`, and passing our own role is what keeps the broad
 * `AWSLambdaBasicExecutionRole` managed policy off it.
 */
export class SlipwayFunction extends NodejsFunction {
  /** The handler's entry file (what test/infra/sdk-grants.test.ts bundles to check the grants). */
  public readonly entry: string;
  private readonly bound = new Map<string, string>();

  constructor(scope: Construct, id: string, props: SlipwayFunctionProps) {
    const role = new iam.Role(scope, `${id}Role`, {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `Execution role of the ${id} function`,
    });
    const logGroup = new logs.LogGroup(scope, `${id}Logs`, {
      retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
    });

    super(scope, id, {
      entry: props.entry,
      handler: 'handler',
      description: props.description,
      runtime: lambda.Runtime.NODEJS_22_X,
      architecture: lambda.Architecture.ARM_64,
      memorySize: props.memorySize ?? 512,
      timeout: props.timeout ?? Duration.seconds(10),
      role,
      logGroup,
      projectRoot: PROJECT_ROOT,
      depsLockFilePath: path.join(PROJECT_ROOT, 'package-lock.json'),
      bundling: nodejsBundlingOptions(),
      environment: {
        [ENV.serviceName]: props.serviceName ?? 'slipway',
        [ENV.logLevel]: props.logLevel ?? 'INFO',
        NODE_OPTIONS: '--enable-source-maps',
      },
    });
    this.entry = props.entry;
    logGroup.grantWrite(role);
    this.enableTracing(role);
    Validations.of(this).acknowledge({
      id: 'AwsSolutions-L1',
      reason:
        'nodejs22.x on purpose: the same Node.js major as local mode and the test suite (the node@22 ' +
        'devDependency), so what is tested is what runs. Runtime, esbuild target and that dependency move together.',
    });
  }

  /**
   * Sets `TABLE_NAME` and grants item-level access to the table (and to the named indexes),
   * nothing table-wide: no Scan, no DescribeTable, no table management.
   * If the table is encrypted with a customer-managed key, the key may be used only by
   * DynamoDB on the function's behalf.
   */
  public bindTable(table: dynamodb.ITable, access: TableAccess, options: BindTableOptions = {}): void {
    if (typeof access !== 'string' && access.length === 0) {
      throw new Error(`${this.node.path}: bindTable needs at least one action`);
    }
    this.bindEnvironment(ENV.tableName, table.tableName);
    const indexArns = (options.indexNames ?? []).map((name) => `${table.tableArn}/index/${name}`);
    this.addToRolePolicy(
      new iam.PolicyStatement({
        actions: typeof access === 'string' ? [...TABLE_ACTIONS[access]] : access.map((a) => `dynamodb:${a}`),
        resources: [table.tableArn, ...indexArns],
      }),
    );
    if (table.encryptionKey) {
      this.addToRolePolicy(
        new iam.PolicyStatement({
          actions: writesTable(access) ? ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey'] : ['kms:Decrypt'],
          resources: [table.encryptionKey.keyArn],
          conditions: { StringEquals: { 'kms:ViaService': `dynamodb.${Stack.of(this).region}.amazonaws.com` } },
        }),
      );
    }
  }

  /**
   * Sets `KMS_KEY_ID` (the key ARN) and allows the given operations on that key only for
   * ciphertexts whose encryption context names one of the given purposes. A request without
   * a `purpose`, or with another one, is denied.
   */
  public bindKey(key: kms.IKey, actions: readonly KeyAction[], purposes: readonly KeyPurpose[]): void {
    if (actions.length === 0) throw new Error(`${this.node.path}: bindKey needs at least one action`);
    if (purposes.length === 0) throw new Error(`${this.node.path}: bindKey needs at least one purpose`);
    this.bindEnvironment(ENV.kmsKeyId, key.keyArn);
    this.addToRolePolicy(
      new iam.PolicyStatement({
        actions: actions.map((action) => `kms:${action}`),
        resources: [key.keyArn],
        conditions: { StringEquals: { 'kms:EncryptionContext:purpose': [...purposes] } },
      }),
    );
  }

  /**
   * Sets `variable` to the secret's ARN and lets the function read that one secret:
   * `secretsmanager:GetSecretValue` on it (no DescribeSecret, no other secret) and, when the
   * secret is encrypted with a customer-managed key, `kms:Decrypt` on that key only through
   * Secrets Manager and only for this secret (encryption context `SecretARN`). CDK's
   * `secret.grantRead` would let the function decrypt any secret under that key through
   * Secrets Manager. The statements are named `Read<sid>` and `Decrypt<sid>Only`.
   */
  public bindSecret(variable: string, secret: secretsmanager.ISecret, sid: string): void {
    this.bindEnvironment(variable, secret.secretArn);
    this.addToRolePolicy(
      new iam.PolicyStatement({
        sid: `Read${sid}`,
        actions: ['secretsmanager:GetSecretValue'],
        resources: [secret.secretArn],
      }),
    );
    if (secret.encryptionKey) {
      this.addToRolePolicy(
        new iam.PolicyStatement({
          sid: `Decrypt${sid}Only`,
          actions: ['kms:Decrypt'],
          resources: [secret.encryptionKey.keyArn],
          conditions: {
            StringEquals: {
              'kms:ViaService': `secretsmanager.${Stack.of(this).region}.amazonaws.com`,
              'kms:EncryptionContext:SecretARN': secret.secretArn,
            },
          },
        }),
      );
    }
  }

  /** One function, one table, one key: binding a second, different one is a mistake. */
  private bindEnvironment(name: string, value: string): void {
    const previous = this.bound.get(name);
    if (previous !== undefined && previous !== value) {
      throw new Error(`${this.node.path}: ${name} is already bound to another resource`);
    }
    this.bound.set(name, value);
    this.addEnvironment(name, value);
  }

  /**
   * Active X-Ray tracing. Set on the L1 rather than through the `tracing` prop so that the
   * `Resource: *` statement X-Ray requires lands in a policy of its own, acknowledged there,
   * instead of in the role's default policy next to the data permissions, where an
   * acknowledgement of `Resource::*` would hide a real mistake.
   */
  private enableTracing(role: iam.IRole): void {
    const cfnFunction = this.node.defaultChild as lambda.CfnFunction;
    cfnFunction.tracingConfig = { mode: lambda.Tracing.ACTIVE };
    const policy = new iam.Policy(this, 'TracingPolicy', {
      statements: [new iam.PolicyStatement({ actions: TRACING_ACTIONS, resources: ['*'] })],
      roles: [role],
    });
    cfnFunction.node.addDependency(policy);
    Validations.of(policy).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'xray:PutTraceSegments and xray:PutTelemetryRecords support no resource-level permissions; ' +
        '"*" is the only valid resource. This policy holds nothing else.',
    });
  }
}
