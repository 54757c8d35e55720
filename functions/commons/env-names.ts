/**
 * The names of the environment variables the stack sets on the Lambda functions and the
 * functions read: one place for both sides (infra/constructs/*.ts and functions/wiring/aws/),
 * so a renamed variable cannot leave one side reading what the other no longer sets.
 */
export const ENV = {
  /** The state table (every function that touches state). */
  tableName: 'TABLE_NAME',
  /** The KMS key ARN the vault encrypts secrets with. */
  kmsKeyId: 'KMS_KEY_ID',
  /** The release state machine the hooks, the admin API, the console and the sweep start. */
  stateMachineArn: 'STATE_MACHINE_ARN',
  /** The CodeBuild project release-steps starts builds in. */
  buildProjectName: 'BUILD_PROJECT_NAME',
  /** The CodeBuild project's ARN (the admin API scopes per-app build roles to it). */
  buildProjectArn: 'BUILD_PROJECT_ARN',
  /** The builds' CloudWatch log group. */
  buildLogGroup: 'BUILD_LOG_GROUP',
  /** ARN prefix of the per-app build roles; an app's role is this plus a stack-unique name. */
  buildRoleArnPrefix: 'BUILD_ROLE_ARN_PREFIX',
  /** IAM path of the per-app build roles. */
  buildRolePath: 'BUILD_ROLE_PATH',
  /** Name prefix of the per-app build roles. */
  buildRoleNamePrefix: 'BUILD_ROLE_NAME_PREFIX',
  /** The permissions boundary every per-app build role gets. */
  buildRoleBoundaryArn: 'BUILD_ROLE_BOUNDARY_ARN',
  /** The managed policies every per-app build role gets, comma-separated. */
  buildRolePolicyArns: 'BUILD_ROLE_POLICY_ARNS',
  /** The Secrets Manager secret holding the Slack incoming-webhook URL. */
  slackSecretArn: 'SLACK_SECRET_ARN',
  /** The Secrets Manager secret the console's session key is derived from. */
  sessionSecretArn: 'SESSION_SECRET_ARN',
  /** The base URL people and GitLab reach Slipway at. */
  publicUrl: 'SLIPWAY_PUBLIC_URL',
  /** Powertools: the service name in every log line. */
  serviceName: 'POWERTOOLS_SERVICE_NAME',
  /** Powertools: the log level. */
  logLevel: 'LOG_LEVEL',
} as const;

export type EnvName = (typeof ENV)[keyof typeof ENV];
