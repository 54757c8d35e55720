import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { type App, type CfnResource, Validations } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as sns from 'aws-cdk-lib/aws-sns';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { ENV } from '../../functions/commons/env-names';
import { RELEASE_METRICS } from '../../functions/workflow/release-metrics';
import type { SlipwayFunction } from '../../infra/constructs/slipway-function';
import { createSlipwayApp } from '../../infra/slipway-app';
import type { SlipwayStack } from '../../infra/stack';

/** The CLI's context (feature flags) from cdk.json, so the tests synthesize what `cdk synth` does, minus bundling. */
const CDK_CONTEXT: Record<string, unknown> = JSON.parse(
  readFileSync(path.join(__dirname, '../../cdk.json'), 'utf8'),
).context;

function synthesize(context: Record<string, unknown> = {}): { app: App; stack: SlipwayStack; template: Template } {
  const { app, stack } = createSlipwayApp({
    context: { ...CDK_CONTEXT, 'aws:cdk:bundling-stacks': [], ...context },
    analyticsReporting: false,
  });
  return { app, stack, template: Template.fromStack(stack) };
}

interface Statement {
  Sid?: string;
  Effect: string;
  Action: string | string[];
  Resource: unknown;
  Condition?: Record<string, Record<string, unknown>>;
}

const asList = <T>(value: T | T[]): T[] => (Array.isArray(value) ? value : [value]);

let stack: SlipwayStack;
let template: Template;

beforeAll(() => {
  ({ stack, template } = synthesize());
});

const logicalId = (construct: IConstruct): string => stack.getLogicalId(construct.node.defaultChild as CfnResource);

/** Every IAM statement attached to a function's execution role, from every policy. */
function statementsOf(fn: { role?: IConstruct }): Statement[] {
  if (!fn.role) throw new Error('function has no role');
  const roleId = logicalId(fn.role);
  const policies = template.findResources('AWS::IAM::Policy', {
    Properties: { Roles: Match.arrayWith([{ Ref: roleId }]) },
  });
  return Object.values(policies).flatMap((policy) => policy.Properties.PolicyDocument.Statement as Statement[]);
}

/** A construct's CloudFormation resource, as synthesized. */
// biome-ignore lint/suspicious/noExplicitAny: a raw CloudFormation template is untyped JSON
const resourceOf = (construct: IConstruct): any => template.toJSON().Resources[logicalId(construct)];

/**
 * The environment variables a Lambda entry requires: every `requireEnv(ENV.…)` in the entry and
 * in the AWS platform parts it imports (functions/wiring/aws/, one module per part).
 */
function requiredEnv(entry: string): string[] {
  const functions = path.join(__dirname, '../../functions');
  const source = readFileSync(path.join(functions, 'handlers', entry), 'utf8');
  const parts = [...source.matchAll(/from '\.\.\/wiring\/aws\/([a-z-]+)'/g)].map((m) => m[1] ?? '');
  const sources = [
    source,
    ...parts.map((part) => readFileSync(path.join(functions, 'wiring/aws', `${part}.ts`), 'utf8')),
  ];
  return sources.flatMap((text) =>
    [...text.matchAll(/requireEnv\(ENV\.(\w+)\)/g)].map((m) => ENV[m[1] as keyof typeof ENV]),
  );
}

const actionsOf = (statements: Statement[]): string[] => statements.flatMap((s) => asList(s.Action));
const keyArn = (): unknown => ({ 'Fn::GetAtt': [logicalId(stack.state.key), 'Arn'] });
/** The API functions, the build-events function, the release-steps function and the sweep. */
const allFunctions = () => [
  ...Object.values(stack.functions),
  stack.build.eventsFunction,
  stack.release.stepsFunction,
  stack.release.rolloutEventsFunction,
  stack.sweep.function,
];
/** The functions that start release executions. */
const starters = () => [
  stack.functions.projectWebhook,
  stack.functions.systemHook,
  stack.functions.admin,
  stack.functions.console,
];
/** `arn:<partition>:ecr:<region>:<account>:repository/slipway/*`, as synthesized. */
const appRepositoriesArn = {
  'Fn::Join': [
    '',
    [
      'arn:',
      { Ref: 'AWS::Partition' },
      ':ecr:',
      { Ref: 'AWS::Region' },
      ':',
      { Ref: 'AWS::AccountId' },
      ':repository/slipway/*',
    ],
  ],
};
/** Every statement of the policies attached to a role (by the role construct). */
function statementsOfRole(role: IConstruct): Statement[] {
  const roleId = stack.getLogicalId(role.node.defaultChild as CfnResource);
  const policies = template.findResources('AWS::IAM::Policy', {
    Properties: { Roles: Match.arrayWith([{ Ref: roleId }]) },
  });
  return Object.values(policies).flatMap((policy) => policy.Properties.PolicyDocument.Statement as Statement[]);
}

describe('the Slipway stack', () => {
  describe('state', () => {
    it('keeps the table: deletion protection, point-in-time recovery, retained when the stack goes', () => {
      template.hasResource('AWS::DynamoDB::Table', {
        DeletionPolicy: 'Retain',
        UpdateReplacePolicy: 'Retain',
        Properties: Match.objectLike({
          DeletionProtectionEnabled: true,
          PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        }),
      });
    });

    it('encrypts the table at rest with KMS under the AWS-managed key, not the secrets key', () => {
      template.hasResourceProperties('AWS::DynamoDB::Table', {
        SSESpecification: { SSEEnabled: true, KMSMasterKeyId: Match.absent() },
      });
    });

    it('uses the key schema shared with the adapter and local mode, on demand, with TTL', () => {
      template.hasResourceProperties('AWS::DynamoDB::Table', {
        BillingMode: 'PAY_PER_REQUEST',
        KeySchema: [
          { AttributeName: 'pk', KeyType: 'HASH' },
          { AttributeName: 'sk', KeyType: 'RANGE' },
        ],
        GlobalSecondaryIndexes: [
          Match.objectLike({
            IndexName: 'byProject',
            KeySchema: [
              { AttributeName: 'gsi1pk', KeyType: 'HASH' },
              { AttributeName: 'gsi1sk', KeyType: 'RANGE' },
            ],
          }),
        ],
        TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
      });
    });

    it('rotates the secrets key and keeps it when the stack goes', () => {
      template.hasResource('AWS::KMS::Key', {
        DeletionPolicy: 'Retain',
        Properties: Match.objectLike({
          EnableKeyRotation: true,
          Description: Match.stringLikeRegexp('secrets|tokens'),
        }),
      });
    });

    it('hard-codes no physical names', () => {
      template.allResourcesProperties('AWS::DynamoDB::Table', { TableName: Match.absent() });
      template.allResourcesProperties('AWS::Lambda::Function', { FunctionName: Match.absent() });
      template.allResourcesProperties('AWS::Logs::LogGroup', { LogGroupName: Match.absent() });
      template.allResourcesProperties('AWS::CodeBuild::Project', { Name: Match.absent() });
      template.allResourcesProperties('AWS::SQS::Queue', { QueueName: Match.absent() });
      template.allResourcesProperties('AWS::Events::Rule', { Name: Match.absent() });
      template.allResourcesProperties('AWS::StepFunctions::StateMachine', { StateMachineName: Match.absent() });
      template.allResourcesProperties('AWS::SecretsManager::Secret', { Name: Match.absent() });
      expect(template.findResources('AWS::KMS::Alias')).toEqual({});
    });
  });

  describe('functions', () => {
    it('runs every function on nodejs22.x, arm64, with active tracing and source maps', () => {
      template.resourceCountIs('AWS::Lambda::Function', 8);
      template.allResourcesProperties('AWS::Lambda::Function', {
        Runtime: 'nodejs22.x',
        Architectures: ['arm64'],
        Handler: 'index.handler',
        MemorySize: 512,
        TracingConfig: { Mode: 'Active' },
        Environment: { Variables: Match.objectLike({ NODE_OPTIONS: '--enable-source-maps' }) },
      });
    });

    it('gives the hook functions 10 s, inside GitLab’s timeout, the admin API and console 29 s and a release step a minute', () => {
      const timeoutOf = (fn: IConstruct) => resourceOf(fn).Properties.Timeout;
      expect(timeoutOf(stack.functions.projectWebhook)).toBe(10);
      expect(timeoutOf(stack.functions.systemHook)).toBe(10);
      expect(timeoutOf(stack.functions.admin)).toBe(29);
      expect(timeoutOf(stack.functions.console)).toBe(29);
      expect(timeoutOf(stack.release.stepsFunction)).toBe(60);
    });

    it('writes each function’s logs to its own log group, kept for a month', () => {
      for (const fn of allFunctions()) {
        expect(resourceOf(fn).Properties.LoggingConfig).toEqual({ LogGroup: { Ref: logicalId(fn.logGroup) } });
        expect(resourceOf(fn.logGroup).Properties.RetentionInDays).toBe(30);
      }
    });

    it('tells every function its table, service name and log level', () => {
      template.allResourcesProperties('AWS::Lambda::Function', {
        Environment: {
          Variables: Match.objectLike({
            TABLE_NAME: { Ref: logicalId(stack.state.table) },
            POWERTOOLS_SERVICE_NAME: 'slipway',
            LOG_LEVEL: 'INFO',
          }),
        },
      });
    });

    it('tells the API and release-steps functions the secrets key, and the build-events function and the sweep nothing of it', () => {
      for (const fn of [...Object.values(stack.functions), stack.release.stepsFunction]) {
        expect(resourceOf(fn).Properties.Environment.Variables.KMS_KEY_ID).toEqual(keyArn());
      }
      for (const fn of [stack.build.eventsFunction, stack.sweep.function]) {
        expect(resourceOf(fn).Properties.Environment.Variables).not.toHaveProperty('KMS_KEY_ID');
        expect(actionsOf(statementsOf(fn)).filter((a) => a.startsWith('kms:'))).toEqual([]);
      }
    });
  });

  describe('IAM', () => {
    it('lets the hook functions decrypt only webhook signing secrets', () => {
      for (const fn of [stack.functions.projectWebhook, stack.functions.systemHook]) {
        const kmsStatements = statementsOf(fn).filter((s) => actionsOf([s]).some((a) => a.startsWith('kms:')));
        expect(kmsStatements).toEqual([
          {
            Effect: 'Allow',
            Action: 'kms:Decrypt',
            Resource: keyArn(),
            Condition: { StringEquals: { 'kms:EncryptionContext:purpose': ['webhook-signing-secret'] } },
          },
        ]);
      }
    });

    it('never lets a hook function encrypt', () => {
      for (const fn of [stack.functions.projectWebhook, stack.functions.systemHook]) {
        const actions = actionsOf(statementsOf(fn));
        expect(actions).not.toContain('kms:Encrypt');
        expect(actions.filter((a) => a.includes('*') && !a.startsWith('xray:'))).toEqual([]);
      }
    });

    it('lets the admin API open only the GitLab token and configurations, and seal (never open) deploy keys, signing secrets and the OAuth client secret', () => {
      const kmsStatements = statementsOf(stack.functions.admin).filter((s) =>
        actionsOf([s]).some((a) => a.startsWith('kms:')),
      );
      expect(kmsStatements).toEqual([
        {
          Effect: 'Allow',
          Action: ['kms:Decrypt', 'kms:Encrypt'],
          Resource: keyArn(),
          Condition: { StringEquals: { 'kms:EncryptionContext:purpose': ['gitlab-token', 'env-config'] } },
        },
        {
          Effect: 'Allow',
          Action: 'kms:Encrypt',
          Resource: keyArn(),
          Condition: {
            StringEquals: {
              'kms:EncryptionContext:purpose': ['webhook-signing-secret', 'deploy-key', 'oauth-client-secret'],
            },
          },
        },
      ]);
    });

    it('lets no one but the builds open deploy keys, and no one but the hooks open webhook signing secrets', () => {
      /** Every IAM policy of the template, function roles, build policies and boundary alike, by logical id. */
      const policies = {
        ...template.findResources('AWS::IAM::Policy'),
        ...template.findResources('AWS::IAM::ManagedPolicy'),
      };
      const decryptersOf = (purpose: string) =>
        Object.entries(policies)
          .filter(([, policy]) =>
            (policy.Properties.PolicyDocument.Statement as Statement[]).some(
              (s) =>
                actionsOf([s]).includes('kms:Decrypt') &&
                asList(s.Condition?.StringEquals?.['kms:EncryptionContext:purpose']).includes(purpose),
            ),
          )
          .map(([id]) => id.replace(/[0-9A-F]{8}$/, ''))
          .sort();
      expect(decryptersOf('deploy-key')).toEqual(['BuildAppBuildBoundary', 'BuildAppBuildPolicy']);
      expect(decryptersOf('webhook-signing-secret')).toEqual([
        'ProjectWebhookRoleDefaultPolicy',
        'SystemHookRoleDefaultPolicy',
      ]);
    });

    it('lets only the console decrypt the OAuth client secret', () => {
      const principals: [string, Statement[]][] = [
        ...allFunctions().map((fn): [string, Statement[]] => [fn.node.path, statementsOf(fn)]),
        [stack.build.role.node.path, statementsOfRole(stack.build.role)],
        [stack.release.stateMachineRole.node.path, statementsOfRole(stack.release.stateMachineRole)],
      ];
      const decrypters = principals
        .filter(([, statements]) =>
          statements.some(
            (s) =>
              actionsOf([s]).includes('kms:Decrypt') &&
              asList(s.Condition?.StringEquals?.['kms:EncryptionContext:purpose']).includes('oauth-client-secret'),
          ),
        )
        .map(([name]) => name);
      expect(decrypters).toEqual([stack.functions.console.node.path]);
    });

    it('grants each API function the item actions it calls, the index to the system hook only: no Scan, no table management', () => {
      // test/infra/sdk-grants.test.ts derives these from the bundles; here they are spelled out.
      const tableArn = { 'Fn::GetAtt': [logicalId(stack.state.table), 'Arn'] };
      const expected: Array<[SlipwayFunction, unknown[], string[]]> = [
        [stack.functions.projectWebhook, [tableArn], ['DeleteItem', 'GetItem', 'PutItem', 'Query']],
        [
          stack.functions.systemHook,
          [tableArn, { 'Fn::Join': ['', [tableArn, '/index/byProject']] }],
          ['DeleteItem', 'GetItem', 'PutItem', 'Query', 'UpdateItem'],
        ],
        [
          stack.functions.admin,
          [tableArn],
          ['BatchWriteItem', 'DeleteItem', 'GetItem', 'PutItem', 'Query', 'UpdateItem'],
        ],
      ];
      for (const [fn, resources, actions] of expected) {
        const dynamo = statementsOf(fn).filter((s) => actionsOf([s]).some((a) => a.startsWith('dynamodb:')));
        expect(dynamo).toHaveLength(1);
        expect(asList(dynamo[0]?.Resource)).toEqual(resources);
        expect(actionsOf(dynamo).sort()).toEqual(actions.map((a) => `dynamodb:${a}`));
      }
    });

    it('uses a "*" resource only for actions that accept nothing else, each in a policy of its own', () => {
      /** The policies allowed a "*" statement, by logical id prefix, with exactly what they may hold. */
      const ecrLogin: Statement = {
        Sid: 'EcrLogin',
        Effect: 'Allow',
        Action: 'ecr:GetAuthorizationToken',
        Resource: '*',
      };
      const allowed: Record<string, Statement[]> = {
        BuildAppEcrLoginPolicy: [ecrLogin],
        // The per-app build roles' boundary: a ceiling, the union of the two build policies.
        BuildAppBuildBoundary: [ecrLogin],
        ReleaseStateMachineLogDeliveryPolicy: [
          {
            Effect: 'Allow',
            Action: [
              'logs:CreateLogDelivery',
              'logs:DeleteLogDelivery',
              'logs:DescribeLogGroups',
              'logs:DescribeResourcePolicies',
              'logs:GetLogDelivery',
              'logs:ListLogDeliveries',
              'logs:PutResourcePolicy',
              'logs:UpdateLogDelivery',
            ],
            Resource: '*',
          },
        ],
        ReleaseStateMachineTracingPolicy: [
          {
            Effect: 'Allow',
            Action: [
              'xray:GetSamplingRules',
              'xray:GetSamplingTargets',
              'xray:PutTelemetryRecords',
              'xray:PutTraceSegments',
            ],
            Resource: '*',
          },
        ],
        ReleaseStepsFunctionEcsTaskDefinitionsPolicy: [
          {
            Sid: 'RegisterRevisions',
            Effect: 'Allow',
            Action: ['ecs:DescribeTaskDefinition', 'ecs:RegisterTaskDefinition'],
            Resource: '*',
          },
        ],
      };
      const seen: string[] = [];
      const policies = {
        ...template.findResources('AWS::IAM::Policy'),
        ...template.findResources('AWS::IAM::ManagedPolicy'),
      };
      for (const [id, policy] of Object.entries(policies)) {
        const statements = policy.Properties.PolicyDocument.Statement as Statement[];
        const wildcard = statements.filter((s) => asList(s.Resource).includes('*'));
        if (wildcard.length === 0) continue;
        const prefix = Object.keys(allowed).find((p) => new RegExp(`^${p}[0-9A-F]{8}$`).test(id));
        if (prefix) {
          seen.push(prefix);
          expect({ id, wildcard }).toEqual({ id, wildcard: allowed[prefix] });
          continue;
        }
        expect({ id, statements }).toEqual({
          id: expect.stringMatching(/TracingPolicy/),
          statements: [
            { Effect: 'Allow', Action: ['xray:PutTelemetryRecords', 'xray:PutTraceSegments'], Resource: '*' },
          ],
        });
      }
      expect(seen.sort()).toEqual(Object.keys(allowed).sort());
    });

    it('attaches no AWS-managed policy to any role', () => {
      template.allResourcesProperties('AWS::IAM::Role', { ManagedPolicyArns: Match.absent() });
    });

    it('lets each function write only to its own log group', () => {
      for (const fn of allFunctions()) {
        const logStatements = statementsOf(fn).filter((s) =>
          actionsOf([s]).some((a) => a.startsWith('logs:') && a !== 'logs:GetLogEvents'),
        );
        expect(logStatements).toEqual([
          {
            Effect: 'Allow',
            Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
            Resource: { 'Fn::GetAtt': [logicalId(fn.logGroup), 'Arn'] },
          },
        ]);
      }
    });
  });

  describe('API', () => {
    const routes = () =>
      Object.values(template.findResources('AWS::ApiGatewayV2::Route')).map((r) => ({
        routeKey: r.Properties.RouteKey as string,
        authorization: r.Properties.AuthorizationType as string,
      }));

    it('lets GitLab call the hook routes and browsers the console without AWS authorization, and puts /v1 behind IAM', () => {
      expect(routes().sort((a, b) => a.routeKey.localeCompare(b.routeKey))).toEqual([
        { routeKey: 'ANY /auth/{proxy+}', authorization: 'NONE' },
        { routeKey: 'ANY /console/{proxy+}', authorization: 'NONE' },
        { routeKey: 'ANY /v1/{proxy+}', authorization: 'AWS_IAM' },
        { routeKey: 'GET /console', authorization: 'NONE' },
        { routeKey: 'POST /hooks/gitlab-system', authorization: 'NONE' },
        { routeKey: 'POST /hooks/gitlab/{hookId}', authorization: 'NONE' },
      ]);
    });

    it('sends each route to its own function, with the v2 payload', () => {
      const integrationTargets = Object.values(template.findResources('AWS::ApiGatewayV2::Integration')).map(
        (i) => i.Properties.IntegrationUri['Fn::GetAtt'][0],
      );
      expect(integrationTargets.sort()).toEqual(Object.values(stack.functions).map(logicalId).sort());
      template.allResourcesProperties('AWS::ApiGatewayV2::Integration', {
        IntegrationType: 'AWS_PROXY',
        PayloadFormatVersion: '2.0',
      });
    });

    it('logs every request as JSON to a log group kept for a month, and throttles the stage', () => {
      template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
        StageName: '$default',
        AutoDeploy: true,
        AccessLogSettings: {
          DestinationArn: { 'Fn::GetAtt': [logicalId(stack.api.accessLogs), 'Arn'] },
          Format: Match.stringLikeRegexp('"requestId":"\\$context.requestId"'),
        },
        DefaultRouteSettings: { ThrottlingRateLimit: 50, ThrottlingBurstLimit: 100 },
      });
      expect(resourceOf(stack.api.accessLogs).Properties.RetentionInDays).toBe(30);
    });

    it('throttles each GitLab hook route on its own, apart from /v1 and the console', () => {
      const stage = resourceOf(stack.api.stage);
      expect(stage.Properties.RouteSettings).toEqual({
        'POST /hooks/gitlab/{hookId}': { ThrottlingRateLimit: 20, ThrottlingBurstLimit: 100 },
        'POST /hooks/gitlab-system': { ThrottlingRateLimit: 50, ThrottlingBurstLimit: 200 },
      });
      // The keys name routes that exist, made before the stage refers to them.
      const routes = template.findResources('AWS::ApiGatewayV2::Route');
      for (const key of Object.keys(stage.Properties.RouteSettings)) {
        const [id] = Object.entries(routes).find(([, route]) => route.Properties.RouteKey === key) ?? [];
        expect(id).toBeDefined();
        expect(stage.DependsOn).toContain(id);
      }
    });

    it('logs the route template, never the request path that carries the hook id', () => {
      const format = resourceOf(stack.api.stage).Properties.AccessLogSettings.Format;
      expect(format).toContain('$context.routeKey');
      expect(format).not.toMatch(/\$context\.(path|resourcePath)\b/);
    });
  });

  describe('console', () => {
    const consoleFn = () => stack.functions.console;
    const statements = () => statementsOf(consoleFn());
    const secretRef = () => ({ Ref: logicalId(stack.consoleSessionSecret) });
    const apiEndpoint = () => ({ 'Fn::GetAtt': [logicalId(stack.api.httpApi), 'ApiEndpoint'] });

    it('runs functions/handlers/console.ts and tells it everything the handler requires', () => {
      expect(resourceOf(consoleFn()).Properties.Environment.Variables).toMatchObject({
        TABLE_NAME: { Ref: logicalId(stack.state.table) },
        KMS_KEY_ID: keyArn(),
        STATE_MACHINE_ARN: { Ref: logicalId(stack.release.stateMachine) },
        BUILD_LOG_GROUP: { Ref: logicalId(stack.build.logGroup) },
        SLIPWAY_PUBLIC_URL: apiEndpoint(),
        SESSION_SECRET_ARN: secretRef(),
      });
      const required = requiredEnv('console.ts');
      expect(required.length).toBeGreaterThan(0);
      for (const name of required)
        expect(resourceOf(consoleFn()).Properties.Environment.Variables).toHaveProperty(name);
    });

    it('serves GET /console, ANY /console/{proxy+} and ANY /auth/{proxy+} with no authorizer, from the console only', () => {
      const fnId = logicalId(consoleFn());
      const integrations = template.findResources('AWS::ApiGatewayV2::Integration');
      const consoleRoutes = Object.values(template.findResources('AWS::ApiGatewayV2::Route'))
        .map((r) => r.Properties)
        .filter((p) => {
          const integrationId = (p.Target['Fn::Join'][1] as unknown[])[1] as { Ref: string };
          return integrations[integrationId.Ref]?.Properties.IntegrationUri['Fn::GetAtt'][0] === fnId;
        });
      expect(consoleRoutes.map((p) => [p.RouteKey, p.AuthorizationType, p.AuthorizerId]).sort()).toEqual([
        ['ANY /auth/{proxy+}', 'NONE', undefined],
        ['ANY /console/{proxy+}', 'NONE', undefined],
        ['GET /console', 'NONE', undefined],
      ]);
    });

    it('generates the session key at deploy time, encrypted with the secrets key, never a value in the template', () => {
      const secret = resourceOf(stack.consoleSessionSecret).Properties;
      expect(secret.GenerateSecretString).toEqual({ PasswordLength: 64, ExcludePunctuation: true });
      expect(secret.SecretString).toBeUndefined();
      expect(secret.KmsKeyId).toEqual(keyArn());
    });

    it('lets the console read the session secret, and that secret only, decrypting it only through Secrets Manager', () => {
      const secretsStatements = statements().filter((s) => actionsOf([s]).some((a) => a.startsWith('secretsmanager:')));
      expect(secretsStatements).toEqual([
        { Sid: 'ReadSessionSecret', Effect: 'Allow', Action: 'secretsmanager:GetSecretValue', Resource: secretRef() },
      ]);
      expect(statements().filter((s) => s.Sid === 'DecryptSessionSecretOnly')).toEqual([
        {
          Sid: 'DecryptSessionSecretOnly',
          Effect: 'Allow',
          Action: 'kms:Decrypt',
          Resource: keyArn(),
          Condition: {
            StringEquals: {
              'kms:ViaService': { 'Fn::Join': ['', ['secretsmanager.', { Ref: 'AWS::Region' }, '.amazonaws.com']] },
              'kms:EncryptionContext:SecretARN': secretRef(),
            },
          },
        },
      ]);
      const others = allFunctions().filter((fn) => fn !== consoleFn());
      for (const fn of others)
        expect(JSON.stringify(statementsOf(fn))).not.toContain(logicalId(stack.consoleSessionSecret));
    });

    it('lets the console decrypt GitLab tokens and the OAuth client secret only, and encrypt nothing', () => {
      const kmsStatements = statements().filter(
        (s) => actionsOf([s]).some((a) => a.startsWith('kms:')) && s.Sid !== 'DecryptSessionSecretOnly',
      );
      expect(kmsStatements).toEqual([
        {
          Effect: 'Allow',
          Action: 'kms:Decrypt',
          Resource: keyArn(),
          Condition: { StringEquals: { 'kms:EncryptionContext:purpose': ['gitlab-token', 'oauth-client-secret'] } },
        },
      ]);
      expect(actionsOf(statements()).filter((a) => a.startsWith('kms:') && a !== 'kms:Decrypt')).toEqual([]);
    });

    it('gives the console item access on the table (no index), build log reads and release starts, nothing else', () => {
      const tableArn = { 'Fn::GetAtt': [logicalId(stack.state.table), 'Arn'] };
      const dynamo = statements().filter((s) => actionsOf([s]).some((a) => a.startsWith('dynamodb:')));
      expect(dynamo.map((s) => s.Resource)).toEqual([tableArn]);
      const reads = statements().filter((s) => actionsOf([s]).includes('logs:GetLogEvents'));
      expect(reads.map((s) => actionsOf([s]))).toEqual([['logs:GetLogEvents']]);
      expect(JSON.stringify(reads[0]?.Resource)).toContain(logicalId(stack.build.logGroup));
      expect([...new Set(actionsOf(statements()))].sort()).toEqual([
        'dynamodb:DeleteItem',
        'dynamodb:GetItem',
        'dynamodb:PutItem',
        'dynamodb:Query',
        'dynamodb:UpdateItem',
        'kms:Decrypt',
        'logs:CreateLogStream',
        'logs:GetLogEvents',
        'logs:PutLogEvents',
        'secretsmanager:GetSecretValue',
        'states:SendTaskSuccess',
        'states:StartExecution',
        'xray:PutTelemetryRecords',
        'xray:PutTraceSegments',
      ]);
    });

    it('outputs the console URL and names the OAuth redirect URI', () => {
      template.hasOutput('ConsoleUrl', {
        Value: { 'Fn::Join': ['', [apiEndpoint(), '/console']] },
        Description: Match.stringLikeRegexp('/auth/gitlab/callback'),
      });
    });
  });

  describe('builds', () => {
    const project = () => resourceOf(stack.build.project).Properties;

    it('runs a privileged (Docker) CodeBuild project on the standard x86_64 image, SMALL by default', () => {
      expect(project().Environment).toMatchObject({
        Type: 'LINUX_CONTAINER',
        Image: 'aws/codebuild/standard:7.0',
        ComputeType: 'BUILD_GENERAL1_SMALL',
        PrivilegedMode: true,
        ImagePullCredentialsType: 'CODEBUILD',
      });
    });

    it('bounds a build to 30 minutes and its wait in the queue to an hour', () => {
      expect(project().TimeoutInMinutes).toBe(30);
      expect(project().QueuedTimeoutInMinutes).toBe(60);
    });

    it('gets buildspecs/ as an S3 asset and runs build.yml from it, with no artifacts', () => {
      expect(project().Source).toMatchObject({ Type: 'S3', BuildSpec: 'build.yml' });
      expect(JSON.stringify(project().Source.Location)).toMatch(/cdk-hnb659fds-assets-.*\.zip/);
      expect(project().Artifacts).toEqual({ Type: 'NO_ARTIFACTS' });
    });

    it('logs builds to its own log group, kept for a month', () => {
      expect(project().LogsConfig).toEqual({
        CloudWatchLogs: { Status: 'ENABLED', GroupName: { Ref: logicalId(stack.build.logGroup) } },
      });
      expect(resourceOf(stack.build.logGroup).Properties.RetentionInDays).toBe(30);
    });

    it('tells the build the secrets key ARN (not a secret) and nothing else in the project itself', () => {
      expect(project().Environment.EnvironmentVariables).toEqual([
        { Name: 'SLIPWAY_KMS_KEY_ID', Type: 'PLAINTEXT', Value: keyArn() },
      ]);
    });

    const policyStatements = (construct: IConstruct): Statement[] =>
      resourceOf(construct).Properties.PolicyDocument.Statement as Statement[];
    const appBuild = () => policyStatements(stack.build.appBuildPolicy);
    const ecrLogin = () => policyStatements(stack.build.ecrLoginPolicy);
    const boundary = () => policyStatements(stack.build.appBuildBoundary);
    /** The IAM policy variable (not a template placeholder): the build role's own `slipway-app` tag. */
    const APP_TAG = ['${', 'aws:PrincipalTag/slipway-app}'].join('');

    it('gives the project’s own role only its source and its logs: it opens no key and reaches no repository', () => {
      expect(actionsOf(statementsOfRole(stack.build.role)).sort()).toEqual([
        'logs:CreateLogStream',
        'logs:PutLogEvents',
        's3:GetBucketAcl',
        's3:GetBucketLocation',
        's3:GetObject',
        's3:GetObjectVersion',
      ]);
      expect(resourceOf(stack.build.role).Properties.ManagedPolicyArns).toBeUndefined();
      expect(project().ServiceRole).toEqual({ 'Fn::GetAtt': [logicalId(stack.build.role), 'Arn'] });
    });

    it('lets a build role decrypt with the secrets key only deploy keys of the app it is tagged with', () => {
      expect(appBuild().filter((s) => actionsOf([s]).some((a) => a.startsWith('kms:')))).toEqual([
        {
          Sid: 'DecryptOwnDeployKeyOnly',
          Effect: 'Allow',
          Action: 'kms:Decrypt',
          Resource: keyArn(),
          Condition: {
            StringEquals: { 'kms:EncryptionContext:purpose': 'deploy-key', 'kms:EncryptionContext:app': APP_TAG },
          },
        },
      ]);
    });

    it('lets a build role pull and push only the repository of the app it is tagged with, and log in to ECR', () => {
      expect(appBuild().filter((s) => actionsOf([s]).some((a) => a.startsWith('ecr:')))).toEqual([
        {
          Sid: 'PushPullOwnRepositoryOnly',
          Effect: 'Allow',
          Action: [
            'ecr:BatchCheckLayerAvailability',
            'ecr:BatchGetImage',
            'ecr:CompleteLayerUpload',
            'ecr:DescribeImages',
            'ecr:GetDownloadUrlForLayer',
            'ecr:InitiateLayerUpload',
            'ecr:PutImage',
            'ecr:UploadLayerPart',
          ],
          Resource: {
            'Fn::Join': [
              '',
              [
                'arn:',
                { Ref: 'AWS::Partition' },
                ':ecr:',
                { Ref: 'AWS::Region' },
                ':',
                { Ref: 'AWS::AccountId' },
                `:repository/slipway/${APP_TAG}`,
              ],
            ],
          },
        },
      ]);
      expect(ecrLogin()).toEqual([
        { Sid: 'EcrLogin', Effect: 'Allow', Action: 'ecr:GetAuthorizationToken', Resource: '*' },
      ]);
    });

    it('gives a build role nothing beyond its key, its source object, its repository, its logs and the ECR login; its boundary no more', () => {
      expect([...new Set(actionsOf([...appBuild(), ...ecrLogin()]))].sort()).toEqual([
        'ecr:BatchCheckLayerAvailability',
        'ecr:BatchGetImage',
        'ecr:CompleteLayerUpload',
        'ecr:DescribeImages',
        'ecr:GetAuthorizationToken',
        'ecr:GetDownloadUrlForLayer',
        'ecr:InitiateLayerUpload',
        'ecr:PutImage',
        'ecr:UploadLayerPart',
        'kms:Decrypt',
        'logs:CreateLogStream',
        'logs:PutLogEvents',
        's3:GetBucketAcl',
        's3:GetBucketLocation',
        's3:GetObject',
        's3:GetObjectVersion',
      ]);
      expect(boundary()).toEqual([...appBuild(), ...ecrLogin()]);
      expect(JSON.stringify(appBuild().find((s) => s.Sid === 'ReadBuildspecs')?.Resource)).toMatch(
        /\/[0-9a-f]{64}\.zip"/,
      );
      expect(appBuild().filter((s) => actionsOf([s]).includes('logs:PutLogEvents'))).toEqual([
        expect.objectContaining({ Resource: { 'Fn::GetAtt': [logicalId(stack.build.logGroup), 'Arn'] } }),
      ]);
    });

    it('an app’s build role cannot decrypt another app’s deploy key nor pull or push another app’s repository (the synthesized policies, evaluated)', () => {
      const asRole =
        (tags: Record<string, string>) =>
        (request: IamRequest): boolean =>
          allows([...appBuild(), ...ecrLogin()], request, tags) && allows(boundary(), request, tags);
      const web = asRole({ 'slipway-app': 'web' });
      const untagged = asRole({});
      const key = `<${logicalId(stack.state.key)}.Arn>`;
      const decrypt = (context: Record<string, string>): IamRequest => ({
        action: 'kms:Decrypt',
        resource: key,
        context: Object.fromEntries(Object.entries(context).map(([k, v]) => [`kms:EncryptionContext:${k}`, v])),
      });
      const ecr = (action: string, repository: string): IamRequest => ({
        action,
        resource: `arn:aws:ecr:eu-west-1:123456789012:repository/${repository}`,
      });

      expect(web(decrypt({ purpose: 'deploy-key', app: 'web' }))).toBe(true);
      expect(web(decrypt({ purpose: 'deploy-key', app: 'api' }))).toBe(false);
      expect(web(decrypt({ purpose: 'deploy-key' }))).toBe(false);
      expect(web(decrypt({ purpose: 'webhook-signing-secret', app: 'web' }))).toBe(false);
      expect(web(decrypt({ purpose: 'gitlab-token', instance: 'https://gitlab.example.com' }))).toBe(false);
      for (const action of ['ecr:PutImage', 'ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer']) {
        expect(web(ecr(action, 'slipway/web'))).toBe(true);
        for (const other of ['slipway/api', 'slipway/web2', 'slipway/web/x', 'other/web']) {
          expect({ action, other, allowed: web(ecr(action, other)) }).toEqual({ action, other, allowed: false });
        }
      }
      expect(web({ action: 'ecr:GetAuthorizationToken', resource: '*' })).toBe(true);
      expect(
        web({ action: 'ecr:CreateRepository', resource: 'arn:aws:ecr:eu-west-1:123456789012:repository/slipway/web' }),
      ).toBe(false);

      // A role without the tag (the project's own, or one made by hand under the path) matches nothing app-bound.
      expect(untagged(decrypt({ purpose: 'deploy-key', app: 'web' }))).toBe(false);
      expect(untagged(ecr('ecr:PutImage', 'slipway/web'))).toBe(false);
      // The evaluator itself tells allowed from denied (it is not "false" for everything).
      expect(asRole({ 'slipway-app': 'api' })(decrypt({ purpose: 'deploy-key', app: 'api' }))).toBe(true);
    });

    it('sends the project’s state and phase changes to the build-events function', () => {
      template.hasResourceProperties('AWS::Events::Rule', {
        EventPattern: {
          source: ['aws.codebuild'],
          'detail-type': ['CodeBuild Build State Change', 'CodeBuild Build Phase Change'],
          detail: { 'project-name': [{ Ref: logicalId(stack.build.project) }] },
        },
        Targets: [
          Match.objectLike({
            Arn: { 'Fn::GetAtt': [logicalId(stack.build.eventsFunction), 'Arn'] },
            DeadLetterConfig: { Arn: { 'Fn::GetAtt': [logicalId(stack.build.deadLetterQueue), 'Arn'] } },
          }),
        ],
      });
      template.hasResourceProperties('AWS::Lambda::Permission', {
        Action: 'lambda:InvokeFunction',
        Principal: 'events.amazonaws.com',
        FunctionName: { 'Fn::GetAtt': [logicalId(stack.build.eventsFunction), 'Arn'] },
        SourceArn: { 'Fn::GetAtt': [logicalId(stack.build.rule), 'Arn'] },
      });
    });

    it('lets the build-events function update items of the table only, complete release waits, and park failures in the dead-letter queue', () => {
      const statements = statementsOf(stack.build.eventsFunction);
      const dynamo = statements.filter((s) => actionsOf([s]).some((a) => a.startsWith('dynamodb:')));
      expect(dynamo.map((s) => s.Resource)).toEqual([{ 'Fn::GetAtt': [logicalId(stack.state.table), 'Arn'] }]);
      const services = new Set(actionsOf(statements).map((a) => a.split(':')[0]));
      expect([...services].sort()).toEqual(['dynamodb', 'logs', 'sqs', 'states', 'xray']);
      // A build's end completes the release's wait: SendTaskSuccess on this state machine, nothing else of Step Functions.
      expect(statements.filter((s) => actionsOf([s]).some((a) => a.startsWith('states:')))).toEqual([
        { Effect: 'Allow', Action: 'states:SendTaskSuccess', Resource: { Ref: logicalId(stack.release.stateMachine) } },
      ]);
      template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
        FunctionName: { Ref: logicalId(stack.build.eventsFunction) },
        DestinationConfig: {
          OnFailure: { Destination: { 'Fn::GetAtt': [logicalId(stack.build.deadLetterQueue), 'Arn'] } },
        },
      });
      template.hasResourceProperties('AWS::SQS::Queue', { SqsManagedSseEnabled: true });
    });

    it('raises an alarm when the dead-letter queue holds an event', () => {
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Namespace: 'AWS/SQS',
        MetricName: 'ApproximateNumberOfMessagesVisible',
        Dimensions: [
          { Name: 'QueueName', Value: { 'Fn::GetAtt': [logicalId(stack.build.deadLetterQueue), 'QueueName'] } },
        ],
        AlarmActions: [{ Ref: logicalId(stack.monitoring.alarmTopic) }],
      });
    });

    it.each(['projectWebhook', 'systemHook'] as const)(
      'gives the %s function no build, registry or log-reading permission: the release workflow starts builds',
      (name) => {
        const statements = statementsOf(stack.functions[name]);
        expect(actionsOf(statements).filter((a) => /^(codebuild|ecr|ecs|iam|s3|secretsmanager):/.test(a))).toEqual([]);
        expect(statements.filter((s) => actionsOf([s]).includes('logs:GetLogEvents'))).toEqual([]);
        expect(resourceOf(stack.functions[name]).Properties.Environment.Variables).not.toHaveProperty(
          'BUILD_PROJECT_NAME',
        );
      },
    );

    it('lets the admin API read build logs, and neither start builds nor touch repositories', () => {
      const statements = statementsOf(stack.functions.admin);
      // `slipway doctor` only checks that the project is there.
      expect(actionsOf(statements).filter((a) => a.startsWith('codebuild:') || a.startsWith('ecr:'))).toEqual([
        'codebuild:BatchGetProjects',
      ]);
      const reads = statements.filter((s) => actionsOf([s]).includes('logs:GetLogEvents'));
      expect(reads).toHaveLength(1);
      expect(actionsOf(reads)).toEqual(['logs:GetLogEvents']);
      expect(JSON.stringify(reads[0]?.Resource)).toContain(logicalId(stack.build.logGroup));
      expect(resourceOf(stack.functions.admin).Properties.Environment.Variables).toMatchObject({
        BUILD_LOG_GROUP: { Ref: logicalId(stack.build.logGroup) },
      });
    });

    it('lets the release-steps function start and stop builds of this project and make slipway/* repositories', () => {
      const fn = stack.release.stepsFunction;
      const statements = statementsOf(fn);
      const byService = (prefix: string) => statements.filter((s) => actionsOf([s]).some((a) => a.startsWith(prefix)));
      expect(byService('codebuild:')).toEqual([
        {
          Effect: 'Allow',
          Action: ['codebuild:BatchGetBuilds', 'codebuild:StartBuild', 'codebuild:StopBuild'],
          Resource: { 'Fn::GetAtt': [logicalId(stack.build.project), 'Arn'] },
        },
      ]);
      expect(byService('ecr:')).toEqual([
        {
          Effect: 'Allow',
          Action: ['ecr:CreateRepository', 'ecr:DescribeRepositories', 'ecr:PutLifecyclePolicy', 'ecr:TagResource'],
          Resource: appRepositoriesArn,
        },
      ]);
      expect(resourceOf(fn).Properties.Environment.Variables).toMatchObject({
        BUILD_PROJECT_NAME: { Ref: logicalId(stack.build.project) },
        BUILD_LOG_GROUP: { Ref: logicalId(stack.build.logGroup) },
      });
      expect(actionsOf(statements).filter((a) => /^s3:/.test(a) || a === 'logs:GetLogEvents')).toEqual([]);
    });

    /** `arn:<partition>:iam::<account>:role/slipway/builds/slipway-build-<8 hex of the stack id>-`, as synthesized. */
    const stackUnique = {
      'Fn::Select': [0, { 'Fn::Split': ['-', { 'Fn::Select': [2, { 'Fn::Split': ['/', { Ref: 'AWS::StackId' }] }] }] }],
    };
    const roleArnPrefix = (tail: string) => ({
      'Fn::Join': [
        '',
        [
          'arn:',
          { Ref: 'AWS::Partition' },
          ':iam::',
          { Ref: 'AWS::AccountId' },
          ':role/slipway/builds/slipway-build-',
          stackUnique,
          `-${tail}`,
        ],
      ],
    });
    const appRoles = roleArnPrefix('*');
    const managedArn = (construct: IConstruct) => ({ Ref: logicalId(construct) });

    it('runs each build with its app’s role: the release steps pass only this stack’s per-app build roles, to CodeBuild only', () => {
      const fn = stack.release.stepsFunction;
      expect(statementsOf(fn).filter((s) => s.Sid === 'PassAppBuildRolesToCodeBuildOnly')).toEqual([
        {
          Sid: 'PassAppBuildRolesToCodeBuildOnly',
          Effect: 'Allow',
          Action: 'iam:PassRole',
          Resource: appRoles,
          Condition: { StringEquals: { 'iam:PassedToService': 'codebuild.amazonaws.com' } },
        },
      ]);
      expect(resourceOf(fn).Properties.Environment.Variables.BUILD_ROLE_ARN_PREFIX).toEqual(roleArnPrefix(''));
    });

    it('lets the admin API make and remove per-app build roles only under the path, with the boundary, the app tag and the two build policies', () => {
      const iamStatements = statementsOf(stack.functions.admin).filter((s) =>
        actionsOf([s]).some((a) => a.startsWith('iam:')),
      );
      expect(iamStatements).toEqual([
        {
          Sid: 'CreateAppBuildRolesWithBoundaryOnly',
          Effect: 'Allow',
          Action: 'iam:CreateRole',
          Resource: appRoles,
          Condition: { StringEquals: { 'iam:PermissionsBoundary': managedArn(stack.build.appBuildBoundary) } },
        },
        {
          Sid: 'TagAppBuildRolesWithTheirAppOnly',
          Effect: 'Allow',
          Action: 'iam:TagRole',
          Resource: appRoles,
          Condition: { 'ForAllValues:StringEquals': { 'aws:TagKeys': ['slipway-app'] } },
        },
        {
          Sid: 'AttachTheBuildPoliciesOnly',
          Effect: 'Allow',
          Action: ['iam:AttachRolePolicy', 'iam:DetachRolePolicy'],
          Resource: appRoles,
          Condition: {
            ArnEquals: {
              'iam:PolicyARN': [managedArn(stack.build.appBuildPolicy), managedArn(stack.build.ecrLoginPolicy)],
            },
          },
        },
        {
          Sid: 'ReadAndDeleteAppBuildRoles',
          Effect: 'Allow',
          Action: ['iam:DeleteRole', 'iam:GetRole', 'iam:ListAttachedRolePolicies'],
          Resource: appRoles,
        },
      ]);
      // No inline policy, no boundary removal, no trust rewrite, no PassRole.
      for (const action of [
        'iam:PutRolePolicy',
        'iam:DeleteRolePermissionsBoundary',
        'iam:PutRolePermissionsBoundary',
        'iam:UpdateAssumeRolePolicy',
        'iam:PassRole',
      ]) {
        expect(actionsOf(iamStatements)).not.toContain(action);
      }
      expect(resourceOf(stack.functions.admin).Properties.Environment.Variables).toMatchObject({
        BUILD_ROLE_PATH: '/slipway/builds/',
        BUILD_ROLE_NAME_PREFIX: { 'Fn::Join': ['', ['slipway-build-', stackUnique, '-']] },
        BUILD_ROLE_BOUNDARY_ARN: managedArn(stack.build.appBuildBoundary),
        BUILD_ROLE_POLICY_ARNS: {
          'Fn::Join': [',', [managedArn(stack.build.appBuildPolicy), managedArn(stack.build.ecrLoginPolicy)]],
        },
        BUILD_PROJECT_ARN: { 'Fn::GetAtt': [logicalId(stack.build.project), 'Arn'] },
      });
    });

    it('gives no other function any IAM action', () => {
      const others = allFunctions().filter((fn) => fn !== stack.functions.admin && fn !== stack.release.stepsFunction);
      for (const fn of others) expect(actionsOf(statementsOf(fn)).filter((a) => a.startsWith('iam:'))).toEqual([]);
      expect([
        ...new Set(actionsOf(statementsOf(stack.release.stepsFunction)).filter((a) => a.startsWith('iam:'))),
      ]).toEqual(['iam:PassRole']);
    });
  });

  describe('release workflow', () => {
    it('completes rollout waits from ECS deployment and service-task events, parking what fails in a dead-letter queue with an alarm', () => {
      const fn = stack.release.rolloutEventsFunction;
      const target = {
        Arn: { 'Fn::GetAtt': [logicalId(fn), 'Arn'] },
        DeadLetterConfig: { Arn: { 'Fn::GetAtt': [logicalId(stack.release.rolloutEventsDeadLetters), 'Arn'] } },
        RetryPolicy: { MaximumRetryAttempts: 8, MaximumEventAgeInSeconds: 7200 },
      };
      template.hasResourceProperties('AWS::Events::Rule', {
        EventPattern: {
          source: ['aws.ecs'],
          'detail-type': ['ECS Deployment State Change'],
          detail: {
            eventName: ['SERVICE_DEPLOYMENT_IN_PROGRESS', 'SERVICE_DEPLOYMENT_COMPLETED', 'SERVICE_DEPLOYMENT_FAILED'],
          },
        },
        Targets: [Match.objectLike(target)],
      });
      template.hasResourceProperties('AWS::Events::Rule', {
        EventPattern: {
          source: ['aws.ecs'],
          'detail-type': ['ECS Task State Change'],
          detail: { startedBy: [{ prefix: 'ecs-svc/' }], lastStatus: ['RUNNING'] },
        },
        Targets: [Match.objectLike(target)],
      });
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Namespace: 'AWS/SQS',
        MetricName: 'ApproximateNumberOfMessagesVisible',
        Dimensions: [
          {
            Name: 'QueueName',
            Value: { 'Fn::GetAtt': [logicalId(stack.release.rolloutEventsDeadLetters), 'QueueName'] },
          },
        ],
        AlarmActions: [Match.anyValue()],
      });
      // It reads and updates items, reads tagged services, completes waits: nothing more.
      const actions = [...new Set(actionsOf(statementsOf(fn)))].sort();
      expect(actions).toEqual([
        'dynamodb:GetItem',
        'dynamodb:Query',
        'dynamodb:UpdateItem',
        'ecs:DescribeServices',
        'logs:CreateLogStream',
        'logs:PutLogEvents',
        'sqs:GetQueueAttributes',
        'sqs:GetQueueUrl',
        'sqs:SendMessage',
        'states:SendTaskSuccess',
        'xray:PutTelemetryRecords',
        'xray:PutTraceSegments',
      ]);
    });

    const machine = () => resourceOf(stack.release.stateMachine).Properties;
    const stepsArn = () => ({ 'Fn::GetAtt': [logicalId(stack.release.stepsFunction), 'Arn'] });
    const machineRef = () => ({ Ref: logicalId(stack.release.stateMachine) });
    const steps = () => statementsOf(stack.release.stepsFunction);
    const withAction = (statements: Statement[], action: string) =>
      statements.filter((s) => actionsOf([s]).includes(action));
    const arnOf = (tail: string) => ({
      'Fn::Join': [
        '',
        ['arn:', { Ref: 'AWS::Partition' }, ':ecs:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, tail],
      ],
    });

    it('runs workflow/release.asl.json as it is, its one placeholder substituted with the release-steps function', () => {
      const definition = machine().DefinitionString as string;
      expect(typeof definition).toBe('string');
      const asl = readFileSync(path.join(__dirname, '../../workflow/release.asl.json'), 'utf8');
      expect(JSON.parse(definition)).toEqual(JSON.parse(asl));
      const placeholders = new Set([...definition.matchAll(/\$\{([^}]*)\}/g)].map((m) => m[1]));
      expect([...placeholders]).toEqual(['ReleaseStepsFunctionArn']);
      expect(machine().DefinitionSubstitutions).toEqual({ ReleaseStepsFunctionArn: stepsArn() });
      expect(machine().StateMachineType).toBe('STANDARD');
    });

    it('invokes the release-steps function, and only it, from every Task', () => {
      const states = Object.values(JSON.parse(machine().DefinitionString).States) as {
        Type: string;
        Resource?: string;
        Parameters?: { FunctionName?: string };
      }[];
      const tasks = states.filter((s) => s.Type === 'Task');
      expect(tasks.length).toBeGreaterThan(8);
      // StartBuild and Rollout park on a task token until their end event completes it;
      // AwaitApproval until a person decides.
      const parked = ['arn:aws:states:::lambda:invoke.waitForTaskToken'];
      expect(tasks.filter((t) => parked.includes(t.Resource ?? ''))).toHaveLength(3);
      for (const task of tasks) {
        expect(['arn:aws:states:::lambda:invoke', ...parked]).toContain(task.Resource);
        expect(task.Parameters?.FunctionName).toBe(['${', 'ReleaseStepsFunctionArn}'].join(''));
      }
    });

    it('logs every event, without execution data, to a log group kept for a month, and traces with X-Ray', () => {
      expect(machine().LoggingConfiguration).toEqual({
        Destinations: [
          { CloudWatchLogsLogGroup: { LogGroupArn: { 'Fn::GetAtt': [logicalId(stack.release.logGroup), 'Arn'] } } },
        ],
        IncludeExecutionData: false,
        Level: 'ALL',
      });
      expect(machine().TracingConfiguration).toEqual({ Enabled: true });
      expect(resourceOf(stack.release.logGroup).Properties.RetentionInDays).toBe(30);
    });

    it('lets the state machine invoke the release-steps function (and its versions and aliases) and nothing else', () => {
      const statements = statementsOfRole(stack.release.stateMachineRole);
      expect(statements.filter((s) => actionsOf([s]).some((a) => a.startsWith('lambda:')))).toEqual([
        {
          Effect: 'Allow',
          Action: 'lambda:InvokeFunction',
          Resource: [stepsArn(), { 'Fn::Join': ['', [stepsArn(), ':*']] }],
        },
      ]);
      // Besides invoking: vended log delivery and X-Ray, each "*" only (checked with the other wildcards).
      const services = new Set(actionsOf(statements).map((a) => a.split(':')[0]));
      expect([...services].sort()).toEqual(['lambda', 'logs', 'xray']);
      const role = resourceOf(stack.release.stateMachineRole).Properties;
      expect(role.AssumeRolePolicyDocument.Statement).toEqual([
        expect.objectContaining({ Principal: { Service: 'states.amazonaws.com' } }),
      ]);
      expect(role.ManagedPolicyArns).toBeUndefined();
      expect(machine().RoleArn).toEqual({ 'Fn::GetAtt': [logicalId(stack.release.stateMachineRole), 'Arn'] });
    });

    it('lets hooks, admin API and console start executions of this state machine only, and tells them which', () => {
      for (const fn of starters()) {
        const states = statementsOf(fn).filter((s) => actionsOf([s]).some((a) => a.startsWith('states:')));
        // The admin API also reads the state machine (`slipway doctor`); it and the console
        // complete approval waits (approve, reject); nothing more.
        const actions =
          fn === stack.functions.admin
            ? ['states:DescribeStateMachine', 'states:SendTaskSuccess', 'states:StartExecution']
            : fn === stack.functions.console
              ? ['states:SendTaskSuccess', 'states:StartExecution']
              : ['states:StartExecution'];
        expect([...new Set(actionsOf(states))].sort()).toEqual(actions);
        for (const statement of states) expect(statement.Resource).toEqual(machineRef());
        expect(resourceOf(fn).Properties.Environment.Variables.STATE_MACHINE_ARN).toEqual(machineRef());
      }
      // The event functions complete waits, and do nothing else with Step Functions; the steps
      // also start the executions of a build's fan-out.
      const others = [stack.build.eventsFunction, stack.release.rolloutEventsFunction];
      for (const fn of others) {
        expect(actionsOf(statementsOf(fn)).filter((a) => a.startsWith('states:'))).toEqual(['states:SendTaskSuccess']);
      }
      expect(actionsOf(statementsOf(stack.release.stepsFunction)).filter((a) => a.startsWith('states:'))).toEqual([
        'states:SendTaskSuccess',
        'states:StartExecution',
      ]);
    });

    it('lets the release-steps function decrypt GitLab tokens and configurations only, and the Slack secret only through Secrets Manager', () => {
      expect(withAction(steps(), 'kms:Decrypt')).toEqual([
        {
          Effect: 'Allow',
          Action: 'kms:Decrypt',
          Resource: keyArn(),
          Condition: { StringEquals: { 'kms:EncryptionContext:purpose': ['gitlab-token', 'env-config'] } },
        },
        {
          Sid: 'DecryptSlackSecretOnly',
          Effect: 'Allow',
          Action: 'kms:Decrypt',
          Resource: keyArn(),
          Condition: {
            StringEquals: {
              'kms:ViaService': { 'Fn::Join': ['', ['secretsmanager.', { Ref: 'AWS::Region' }, '.amazonaws.com']] },
              'kms:EncryptionContext:SecretARN': { Ref: logicalId(stack.release.slackSecret) },
            },
          },
        },
      ]);
      expect(actionsOf(steps()).filter((a) => a.startsWith('kms:') && a !== 'kms:Decrypt')).toEqual([]);
    });

    it('updates only ECS services tagged slipway:managed=true, in any cluster by default', () => {
      expect(withAction(steps(), 'ecs:UpdateService')).toEqual([
        {
          Sid: 'DeployTaggedServicesOnly',
          Effect: 'Allow',
          Action: ['ecs:DescribeServices', 'ecs:UpdateService'],
          Resource: arnOf(':service/*/*'),
          Condition: { StringEquals: { 'aws:ResourceTag/slipway:managed': 'true' } },
        },
      ]);
    });

    it('scopes ECS services to the clusters given as context, and refuses what is not a cluster name', () => {
      const { stack: scoped, template: scopedTemplate } = synthesize({ 'slipway:ecsClusters': 'prod, staging' });
      const roleId = scoped.getLogicalId(scoped.release.stepsFunction.role?.node.defaultChild as CfnResource);
      const policies = scopedTemplate.findResources('AWS::IAM::Policy', {
        Properties: { Roles: [{ Ref: roleId }] },
      });
      const statements = Object.values(policies).flatMap((p) => p.Properties.PolicyDocument.Statement as Statement[]);
      expect(withAction(statements, 'ecs:UpdateService').map((s) => [s.Resource, s.Condition])).toEqual([
        [
          [arnOf(':service/prod/*'), arnOf(':service/staging/*')],
          { StringEquals: { 'aws:ResourceTag/slipway:managed': 'true' } },
        ],
      ]);
      expect(() => synthesize({ 'slipway:ecsClusters': 'arn:aws:ecs:eu-west-1:123456789012:cluster/prod' })).toThrow(
        /not an ECS cluster name/,
      );
    });

    it('registers task definition revisions ("*" only: no resource-level permissions) and tags them only on creation', () => {
      expect(withAction(steps(), 'ecs:RegisterTaskDefinition')).toEqual([
        {
          Sid: 'RegisterRevisions',
          Effect: 'Allow',
          Action: ['ecs:DescribeTaskDefinition', 'ecs:RegisterTaskDefinition'],
          Resource: '*',
        },
      ]);
      expect(withAction(steps(), 'ecs:TagResource').filter((s) => s.Sid !== 'TagNewReviewServicesOnly')).toEqual([
        {
          Sid: 'TagNewRevisionsOnly',
          Effect: 'Allow',
          Action: 'ecs:TagResource',
          Resource: arnOf(':task-definition/*'),
          Condition: { StringEquals: { 'ecs:CreateAction': 'RegisterTaskDefinition' } },
        },
      ]);
    });

    it("creates and deletes review apps' services (*-review-*) only by their slipway:review tag", () => {
      const reviewServices = arnOf(':service/*/*-review-*');
      const created = { Null: { 'aws:RequestTag/slipway:review': 'false' } };
      expect(withAction(steps(), 'ecs:CreateService')).toEqual([
        {
          Sid: 'CreateTaggedReviewServicesOnly',
          Effect: 'Allow',
          Action: 'ecs:CreateService',
          Resource: reviewServices,
          Condition: { ...created, StringEquals: { 'aws:RequestTag/slipway:managed': 'true' } },
        },
      ]);
      expect(withAction(steps(), 'ecs:TagResource').filter((s) => s.Sid === 'TagNewReviewServicesOnly')).toEqual([
        {
          Sid: 'TagNewReviewServicesOnly',
          Effect: 'Allow',
          Action: 'ecs:TagResource',
          Resource: reviewServices,
          Condition: { ...created, StringEquals: { 'ecs:CreateAction': 'CreateService' } },
        },
      ]);
      expect(withAction(steps(), 'ecs:DeleteService')).toEqual([
        {
          Sid: 'DeleteTaggedReviewServicesOnly',
          Effect: 'Allow',
          Action: 'ecs:DeleteService',
          Resource: reviewServices,
          Condition: { Null: { 'aws:ResourceTag/slipway:review': 'false' } },
        },
      ]);
      // Whether a review app's service exists yet: read-only, and of *-review-* services only.
      expect(withAction(steps(), 'ecs:DescribeServices').filter((s) => s.Condition === undefined)).toEqual([
        { Sid: 'DescribeReviewServices', Effect: 'Allow', Action: 'ecs:DescribeServices', Resource: reviewServices },
      ]);
    });

    it('passes only slipway-task-* roles, and only to ECS tasks', () => {
      expect(withAction(steps(), 'iam:PassRole').filter((s) => s.Sid !== 'PassAppBuildRolesToCodeBuildOnly')).toEqual([
        {
          Sid: 'PassTaskRolesToEcsTasksOnly',
          Effect: 'Allow',
          Action: 'iam:PassRole',
          Resource: {
            'Fn::Join': [
              '',
              ['arn:', { Ref: 'AWS::Partition' }, ':iam::', { Ref: 'AWS::AccountId' }, ':role/slipway-task-*'],
            ],
          },
          Condition: { StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' } },
        },
      ]);
      const pattern = 'arn:aws:iam::123456789012:role/apps/*';
      const { stack: custom, template: customTemplate } = synthesize({ 'slipway:taskRolePattern': pattern });
      const roleId = custom.getLogicalId(custom.release.stepsFunction.role?.node.defaultChild as CfnResource);
      const passRole = Object.values(
        customTemplate.findResources('AWS::IAM::Policy', { Properties: { Roles: [{ Ref: roleId }] } }),
      )
        .flatMap((p) => p.Properties.PolicyDocument.Statement as Statement[])
        .filter((s) => actionsOf([s]).includes('iam:PassRole') && s.Sid === 'PassTaskRolesToEcsTasksOnly');
      expect(passRole.map((s) => [s.Resource, s.Condition])).toEqual([
        [pattern, { StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' } }],
      ]);
    });

    it('gives the release-steps function exactly the actions its steps call, and no index', () => {
      expect([...new Set(actionsOf(steps()))].sort()).toEqual([
        'codebuild:BatchGetBuilds',
        'codebuild:StartBuild',
        'codebuild:StopBuild',
        'dynamodb:DeleteItem',
        'dynamodb:GetItem',
        'dynamodb:PutItem',
        'dynamodb:Query',
        'dynamodb:UpdateItem',
        'ecr:CreateRepository',
        'ecr:DescribeRepositories',
        'ecr:PutLifecyclePolicy',
        'ecr:TagResource',
        'ecs:CreateService',
        'ecs:DeleteService',
        'ecs:DescribeServices',
        'ecs:DescribeTaskDefinition',
        'ecs:RegisterTaskDefinition',
        'ecs:TagResource',
        'ecs:UpdateService',
        'iam:PassRole',
        'kms:Decrypt',
        'logs:CreateLogStream',
        'logs:PutLogEvents',
        'secretsmanager:CreateSecret',
        'secretsmanager:GetSecretValue',
        'secretsmanager:PutSecretValue',
        'secretsmanager:TagResource',
        'states:SendTaskSuccess',
        'states:StartExecution',
        'xray:PutTelemetryRecords',
        'xray:PutTraceSegments',
      ]);
      const dynamo = steps().filter((s) => actionsOf([s]).some((a) => a.startsWith('dynamodb:')));
      expect(dynamo.map((s) => s.Resource)).toEqual([{ 'Fn::GetAtt': [logicalId(stack.state.table), 'Arn'] }]);
    });

    it('keeps the Slack webhook URL in a secret encrypted with the secrets key, readable by the release steps only', () => {
      const secret = resourceOf(stack.release.slackSecret).Properties;
      expect(secret.SecretString).toBe('{}');
      expect(secret.KmsKeyId).toEqual(keyArn());
      expect(secret.GenerateSecretString).toBeUndefined();
      const secretRef = { Ref: logicalId(stack.release.slackSecret) };
      expect(resourceOf(stack.release.stepsFunction).Properties.Environment.Variables.SLACK_SECRET_ARN).toEqual(
        secretRef,
      );
      expect(withAction(steps(), 'secretsmanager:GetSecretValue')).toEqual([
        { Sid: 'ReadSlackSecret', Effect: 'Allow', Action: 'secretsmanager:GetSecretValue', Resource: secretRef },
      ]);
      for (const fn of [
        stack.functions.projectWebhook,
        stack.functions.systemHook,
        stack.functions.admin,
        stack.build.eventsFunction,
      ]) {
        expect(actionsOf(statementsOf(fn)).filter((a) => a.startsWith('secretsmanager:'))).toEqual([]);
      }
      expect(actionsOf(statementsOfRole(stack.build.role)).filter((a) => a.startsWith('secretsmanager:'))).toEqual([]);
    });

    it("writes environments' configurations to slipway/* secrets only, and can neither read nor delete them", () => {
      const configSecrets = {
        'Fn::Join': [
          '',
          [
            'arn:',
            { Ref: 'AWS::Partition' },
            ':secretsmanager:',
            { Ref: 'AWS::Region' },
            ':',
            { Ref: 'AWS::AccountId' },
            ':secret:slipway/*',
          ],
        ],
      };
      expect(steps().filter((s) => actionsOf([s]).some((a) => /^secretsmanager:(Create|Put|Tag)/.test(a)))).toEqual([
        {
          Sid: 'WriteConfigSecretsOnly',
          Effect: 'Allow',
          Action: ['secretsmanager:CreateSecret', 'secretsmanager:PutSecretValue', 'secretsmanager:TagResource'],
          Resource: configSecrets,
        },
      ]);
      // The apps' task execution roles read them, each its own app's only (by its slipway:app tag).
      const policy = resourceOf(stack.release.taskConfigPolicy).Properties;
      expect(policy.PolicyDocument.Statement).toEqual([
        {
          Sid: 'ReadOwnAppConfigOnly',
          Effect: 'Allow',
          Action: 'secretsmanager:GetSecretValue',
          Resource: configSecrets,
          Condition: {
            // biome-ignore lint/suspicious/noTemplateCurlyInString: an IAM policy variable, not a template
            StringEquals: { 'secretsmanager:ResourceTag/slipway:app': '${aws:PrincipalTag/slipway:app}' },
          },
        },
      ]);
      expect(policy.Roles ?? []).toEqual([]);
      template.hasOutput('TaskConfigPolicyArn', { Value: { Ref: logicalId(stack.release.taskConfigPolicy) } });
    });

    it('raises alarms on failed, timed-out and throttled executions', () => {
      for (const metric of ['ExecutionsFailed', 'ExecutionsTimedOut', 'ExecutionThrottled']) {
        template.hasResourceProperties('AWS::CloudWatch::Alarm', {
          Namespace: 'AWS/States',
          MetricName: metric,
          Dimensions: [{ Name: 'StateMachineArn', Value: machineRef() }],
          Statistic: 'Sum',
          Threshold: 1,
          ComparisonOperator: 'GreaterThanOrEqualToThreshold',
          TreatMissingData: 'notBreaching',
          AlarmActions: [{ Ref: logicalId(stack.monitoring.alarmTopic) }],
        });
      }
    });
  });

  describe('sweep', () => {
    const fn = () => stack.sweep.function;

    it('runs functions/handlers/sweep.ts every 5 minutes, with 2 minutes to finish', () => {
      expect(resourceOf(stack.sweep.rule).Properties).toMatchObject({
        ScheduleExpression: 'rate(5 minutes)',
        State: 'ENABLED',
        Targets: [
          expect.objectContaining({
            Arn: { 'Fn::GetAtt': [logicalId(fn()), 'Arn'] },
            RetryPolicy: { MaximumEventAgeInSeconds: 300, MaximumRetryAttempts: 2 },
          }),
        ],
      });
      template.hasResourceProperties('AWS::Lambda::Permission', {
        Action: 'lambda:InvokeFunction',
        Principal: 'events.amazonaws.com',
        FunctionName: { 'Fn::GetAtt': [logicalId(fn()), 'Arn'] },
        SourceArn: { 'Fn::GetAtt': [logicalId(stack.sweep.rule), 'Arn'] },
      });
      expect(resourceOf(fn()).Properties.Timeout).toBe(120);
    });

    it('tells the sweep everything its handler requires, and no key', () => {
      const variables = resourceOf(fn()).Properties.Environment.Variables;
      expect(variables).toMatchObject({
        TABLE_NAME: { Ref: logicalId(stack.state.table) },
        STATE_MACHINE_ARN: { Ref: logicalId(stack.release.stateMachine) },
      });
      expect(variables).not.toHaveProperty('KMS_KEY_ID');
      const required = requiredEnv('sweep.ts');
      expect(required.length).toBeGreaterThan(0);
      for (const name of required) expect(variables).toHaveProperty(name);
    });

    it('lets the sweep touch items of the table (no index), start executions and complete approval waits of the release state machine, nothing else', () => {
      const statements = statementsOf(fn());
      const dynamo = statements.filter((s) => actionsOf([s]).some((a) => a.startsWith('dynamodb:')));
      expect(dynamo.map((s) => s.Resource)).toEqual([{ 'Fn::GetAtt': [logicalId(stack.state.table), 'Arn'] }]);
      expect(statements.filter((s) => actionsOf([s]).some((a) => a.startsWith('states:')))).toEqual([
        {
          Effect: 'Allow',
          Action: ['states:SendTaskSuccess', 'states:StartExecution'],
          Resource: { Ref: logicalId(stack.release.stateMachine) },
        },
      ]);
      expect([...new Set(actionsOf(statements).map((a) => a.split(':')[0]))].sort()).toEqual([
        'dynamodb',
        'logs',
        'states',
        'xray',
      ]);
    });
  });

  describe('alarms', () => {
    const alarms = () => Object.values(template.findResources('AWS::CloudWatch::Alarm')).map((a) => a.Properties);

    it('raises an alarm when the HTTP API answers 5xx', () => {
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Namespace: 'AWS/ApiGateway',
        MetricName: '5xx',
        Dimensions: [{ Name: 'ApiId', Value: { Ref: logicalId(stack.api.httpApi) } }],
        Statistic: 'Sum',
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      });
    });

    it('raises an alarm when any function errors or is throttled', () => {
      for (const fn of allFunctions()) {
        for (const metric of ['Errors', 'Throttles']) {
          expect(alarms()).toContainEqual(
            expect.objectContaining({
              Namespace: 'AWS/Lambda',
              MetricName: metric,
              Dimensions: [{ Name: 'FunctionName', Value: { Ref: logicalId(fn) } }],
            }),
          );
        }
      }
      expect(alarms()).toHaveLength(1 + 2 * 8 + 3 + 1 + 1 + 1);
    });

    it('raises an alarm on every release recorded failed or rolled back, on the metric the steps function emits', () => {
      // The same namespace, name and dimension as the EMF line test/unit/release-steps-handler.test.ts captures.
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Namespace: RELEASE_METRICS.namespace,
        MetricName: RELEASE_METRICS.releasesFailed,
        Dimensions: [{ Name: 'service', Value: RELEASE_METRICS.service }],
        Statistic: 'Sum',
        Period: 300,
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        TreatMissingData: 'notBreaching',
        AlarmActions: [{ Ref: logicalId(stack.monitoring.alarmTopic) }],
      });
      // Powertools takes the service dimension from this variable unless told; the steps function is told, and agrees.
      expect(resourceOf(stack.release.stepsFunction).Properties.Environment.Variables.POWERTOOLS_SERVICE_NAME).toBe(
        RELEASE_METRICS.service,
      );
    });

    it('sends every alarm to one KMS-encrypted topic that only accepts TLS', () => {
      const topicId = logicalId(stack.monitoring.alarmTopic);
      for (const alarm of alarms()) expect(alarm.AlarmActions).toEqual([{ Ref: topicId }]);
      template.hasResourceProperties('AWS::SNS::Topic', {
        KmsMasterKeyId: { 'Fn::GetAtt': [Match.anyValue(), 'Arn'] },
      });
      template.hasResourceProperties('AWS::SNS::TopicPolicy', {
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
          ]),
        },
      });
    });

    it('lets CloudWatch use the topic key, which rotates', () => {
      template.hasResourceProperties('AWS::KMS::Key', {
        EnableKeyRotation: true,
        KeyPolicy: {
          Statement: Match.arrayWith([
            Match.objectLike({
              Principal: { Service: 'cloudwatch.amazonaws.com' },
              Action: ['kms:Decrypt', 'kms:GenerateDataKey*'],
            }),
          ]),
        },
      });
    });

    it('subscribes the alarm e-mail address given as context', () => {
      const { template: withEmail } = synthesize({ 'slipway:alarmEmail': 'ops@example.com' });
      withEmail.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'ops@example.com' });
      template.resourceCountIs('AWS::SNS::Subscription', 0);
    });
  });

  it('outputs the API URL, the table name and the key ARN', () => {
    template.hasOutput('ApiUrl', { Value: { 'Fn::GetAtt': [logicalId(stack.api.httpApi), 'ApiEndpoint'] } });
    template.hasOutput('TableName', { Value: { Ref: logicalId(stack.state.table) } });
    template.hasOutput('KeyArn', { Value: keyArn() });
  });

  it('outputs the build project and its log group', () => {
    template.hasOutput('BuildProjectName', { Value: { Ref: logicalId(stack.build.project) } });
    template.hasOutput('BuildLogGroup', { Value: { Ref: logicalId(stack.build.logGroup) } });
  });

  it('outputs the state machine and the name of the Slack secret', () => {
    template.hasOutput('StateMachineArn', { Value: { Ref: logicalId(stack.release.stateMachine) } });
    const name = JSON.stringify(template.toJSON().Outputs.SlackSecretName.Value);
    expect(name).toContain(`"Ref":"${logicalId(stack.release.slackSecret)}"`);
  });

  it('holds no plaintext secret anywhere in the template', () => {
    expect(secretsIn(template.toJSON())).toEqual([]);
  });

  it('would notice a plaintext secret in the template (the scan itself works)', () => {
    const planted = {
      Resources: {
        Leaky: {
          Properties: {
            Key: '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjE=\n-----END OPENSSH PRIVATE KEY-----',
            Signing: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
            Token: 'glpat-xxxxxxxxxxxxxxxxxxxx',
            AccessKeyId: 'AKIAIOSFODNN7EXAMPLE',
            SecretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
          },
        },
      },
    };
    expect(secretsIn(planted).map((finding) => finding.kind)).toEqual([
      'private key',
      'webhook signing secret',
      'GitLab token',
      'AWS access key id',
      'AWS secret access key',
    ]);
  });

  it('is environment-agnostic: no account or region baked in', () => {
    expect(stack.environment).toBe('aws://unknown-account/unknown-region');
  });

  it('matches the snapshot (asset hashes stripped)', () => {
    const json = JSON.stringify(template.toJSON(), null, 2).replace(/[0-9a-f]{64}/g, '<asset hash>');
    expect(JSON.parse(json)).toMatchSnapshot();
  });
});

describe('cdk-nag (AwsSolutions)', () => {
  it('finds nothing unacknowledged, warnings included', () => {
    const { app } = synthesize();
    app.synth();
    const report = new AwsSolutionsChecks().validateScope(app);
    expect(report.violations.map((v) => `${v.ruleName}: ${v.violatingResources.map((r) => r.constructPath)}`)).toEqual(
      [],
    );
  });

  it('acknowledges each finding where it arises, with a specific reason', () => {
    const acknowledged: { path: string; id: string; reason: string }[] = [];
    const visit = (construct: IConstruct): void => {
      for (const entry of construct.node.metadata) {
        if (entry.type !== Validations.ACKNOWLEDGED_RULES_METADATA_KEY) continue;
        for (const [id, reason] of Object.entries(entry.data as Record<string, string>)) {
          acknowledged.push({ path: construct.node.path, id: id.replace(/^annotation::/i, ''), reason });
        }
      }
      for (const child of construct.node.children) visit(child);
    };
    visit(stack);

    /** How cdk-nag names this stack's per-app build roles (`role/slipway/builds/slipway-build-<stack id part>-*`). */
    const appRoles =
      'arn:<AWS::Partition>:iam::<AWS::AccountId>:role/slipway/builds/slipway-build-' +
      '{"Fn::Select":[0,{"Fn::Split":["-",{"Fn::Select":[2,{"Fn::Split":["/",{"Ref":"AWS::StackId"}]}]}]}]}-*';
    expect(acknowledged.map(({ path: p, id }) => `${p} ${id}`).sort()).toEqual([
      'Slipway/Admin AwsSolutions-L1',
      `Slipway/Admin/AppBuildRolesPolicy AwsSolutions-IAM5[Resource::${appRoles}]`,
      'Slipway/Admin/TracingPolicy AwsSolutions-IAM5[Resource::*]',
      'Slipway/Api/ConsoleAuthRoute AwsSolutions-APIG4',
      'Slipway/Api/ConsolePagesRoute AwsSolutions-APIG4',
      'Slipway/Api/ConsoleRoute AwsSolutions-APIG4',
      'Slipway/Api/ProjectWebhookRoute AwsSolutions-APIG4',
      'Slipway/Api/SystemHookRoute AwsSolutions-APIG4',
      'Slipway/Build/AppBuildBoundary AwsSolutions-IAM5[Resource::*]',
      'Slipway/Build/AppEcrLoginPolicy AwsSolutions-IAM5[Resource::*]',
      'Slipway/Build/DeadLetters AwsSolutions-SQS3',
      'Slipway/Build/EventsFunction AwsSolutions-L1',
      'Slipway/Build/EventsFunction/TracingPolicy AwsSolutions-IAM5[Resource::*]',
      'Slipway/Build/Project AwsSolutions-CB3',
      'Slipway/Console AwsSolutions-L1',
      'Slipway/Console/TracingPolicy AwsSolutions-IAM5[Resource::*]',
      'Slipway/ConsoleSessionSecret AwsSolutions-SMG4',
      'Slipway/ProjectWebhook AwsSolutions-L1',
      'Slipway/ProjectWebhook/TracingPolicy AwsSolutions-IAM5[Resource::*]',
      'Slipway/Release/RolloutEventsDeadLetters AwsSolutions-SQS3',
      'Slipway/Release/RolloutEventsFunction AwsSolutions-L1',
      'Slipway/Release/RolloutEventsFunction/EcsServicesPolicy AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ecs:<AWS::Region>:<AWS::AccountId>:service/*/*]',
      'Slipway/Release/RolloutEventsFunction/TracingPolicy AwsSolutions-IAM5[Resource::*]',
      'Slipway/Release/SlackWebhook AwsSolutions-SMG4',
      `Slipway/Release/StateMachineInvokePolicy AwsSolutions-IAM5[Resource::<${logicalId(stack.release.stepsFunction)}.Arn>:*]`,
      'Slipway/Release/StateMachineLogDeliveryPolicy AwsSolutions-IAM5[Resource::*]',
      'Slipway/Release/StateMachineTracingPolicy AwsSolutions-IAM5[Resource::*]',
      'Slipway/Release/StepsFunction AwsSolutions-L1',
      'Slipway/Release/StepsFunction/ConfigSecretsPolicy AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:secretsmanager:<AWS::Region>:<AWS::AccountId>:secret:slipway/*]',
      'Slipway/Release/StepsFunction/EcrRepositoriesPolicy AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ecr:<AWS::Region>:<AWS::AccountId>:repository/slipway/*]',
      'Slipway/Release/StepsFunction/EcsReviewServicesPolicy AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ecs:<AWS::Region>:<AWS::AccountId>:service/*/*-review-*]',
      'Slipway/Release/StepsFunction/EcsServicesPolicy AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ecs:<AWS::Region>:<AWS::AccountId>:service/*/*]',
      'Slipway/Release/StepsFunction/EcsTaskDefinitionsPolicy AwsSolutions-IAM5[Resource::*]',
      'Slipway/Release/StepsFunction/EcsTaskDefinitionsPolicy AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ecs:<AWS::Region>:<AWS::AccountId>:task-definition/*]',
      `Slipway/Release/StepsFunction/PassAppBuildRolesPolicy AwsSolutions-IAM5[Resource::${appRoles}]`,
      'Slipway/Release/StepsFunction/PassTaskRolesPolicy AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:iam::<AWS::AccountId>:role/slipway-task-*]',
      'Slipway/Release/StepsFunction/TracingPolicy AwsSolutions-IAM5[Resource::*]',
      'Slipway/Release/TaskConfigPolicy AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:secretsmanager:<AWS::Region>:<AWS::AccountId>:secret:slipway/*]',
      'Slipway/Sweep/Function AwsSolutions-L1',
      'Slipway/Sweep/Function/TracingPolicy AwsSolutions-IAM5[Resource::*]',
      'Slipway/SystemHook AwsSolutions-L1',
      'Slipway/SystemHook/TracingPolicy AwsSolutions-IAM5[Resource::*]',
    ]);
    for (const { reason } of acknowledged) expect(reason.length).toBeGreaterThan(60);
  });

  it('fails synthesis on a finding nobody acknowledged', () => {
    const { app, stack: slipway } = createSlipwayApp({
      context: { ...CDK_CONTEXT, 'aws:cdk:bundling-stacks': [] },
      analyticsReporting: false,
    });
    new sns.Topic(slipway, 'UnencryptedTopic');
    expect(() => app.synth()).toThrow(/AwsSolutions-SNS3/);
  });
});

/** Patterns of secrets that must never be in a template, with what each one is. */
const SECRET_PATTERNS: { kind: string; pattern: RegExp }[] = [
  { kind: 'private key', pattern: /PRIVATE KEY/ },
  { kind: 'webhook signing secret', pattern: /whsec_[A-Za-z0-9+/=]{8,}/ },
  { kind: 'GitLab token', pattern: /glpat-[A-Za-z0-9_-]{10,}/ },
  { kind: 'AWS access key id', pattern: /\b(AKIA|ASIA)[A-Z0-9]{16}\b/ },
  // 40 characters of base64 standing alone, with at least one lower, upper, digit or / +: an AWS secret key.
  {
    kind: 'AWS secret access key',
    pattern:
      /(?<![A-Za-z0-9/+=])(?=[A-Za-z0-9/+]{0,39}[a-z])(?=[A-Za-z0-9/+]{0,39}[A-Z])(?=[A-Za-z0-9/+]{0,39}[0-9/+])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])/,
  },
];

/**
 * Every string (value or key) of a template that looks like a secret, with its JSON path.
 * The template's own logical ids (which also name policies and dependencies) are not secrets:
 * some are 40 letters and digits long, like an AWS secret key.
 */
function secretsIn(template: unknown): { kind: string; at: string }[] {
  const resources = (template as { Resources?: Record<string, unknown> }).Resources ?? {};
  const logicalIds = new Set(Object.keys(resources));
  const scan = (value: unknown, at: string): { kind: string; at: string }[] => {
    if (typeof value === 'string') {
      if (logicalIds.has(value)) return [];
      return SECRET_PATTERNS.filter(({ pattern }) => pattern.test(value)).map(({ kind }) => ({ kind, at }));
    }
    if (Array.isArray(value)) return value.flatMap((item, i) => scan(item, `${at}[${i}]`));
    if (value !== null && typeof value === 'object') {
      return Object.entries(value).flatMap(([key, inner]) => [
        ...scan(key, `${at}.<key>`),
        ...scan(inner, `${at}.${key}`),
      ]);
    }
    return [];
  };
  return scan(template, '$');
}

/** One request, as IAM sees it: the action, the resource ARN and the request's condition keys. */
interface IamRequest {
  action: string;
  resource: string;
  context?: Record<string, string>;
}

/**
 * A small IAM evaluator for the statements this stack writes: Allow/Deny, Action and Resource
 * with `*`/`?` wildcards, the condition operators used here (StringEquals, StringLike,
 * ArnEquals, ArnLike), and `${aws:PrincipalTag/…}` policy variables, which make their statement
 * match nothing when the principal has no such tag (as IAM does). Anything else throws, so it
 * cannot silently allow. CloudFormation references resolve to `aws`/`eu-west-1`/`123456789012`
 * and `<LogicalId.Attr>`.
 */
function allows(statements: Statement[], request: IamRequest, tags: Record<string, string>): boolean {
  const matching = statements.filter((s) => statementMatches(s, request, tags));
  return matching.some((s) => s.Effect === 'Allow') && !matching.some((s) => s.Effect === 'Deny');
}

function statementMatches(statement: Statement, request: IamRequest, tags: Record<string, string>): boolean {
  const known = new Set(['Sid', 'Effect', 'Action', 'Resource', 'Condition']);
  for (const key of Object.keys(statement)) if (!known.has(key)) throw new Error(`evaluator: ${key} not supported`);
  const substitute = (value: string): string | undefined => {
    let missing = false;
    const out = value.replace(/\$\{([^}]+)\}/g, (_, name: string) => {
      const tag = /^aws:PrincipalTag\/(.+)$/.exec(name);
      if (!tag?.[1]) throw new Error(`evaluator: policy variable ${name} not supported`);
      const found = tags[tag[1]];
      if (found === undefined) missing = true;
      return found ?? '';
    });
    return missing ? undefined : out;
  };
  const glob = (pattern: string, value: string, ignoreCase: boolean): boolean => {
    const source = pattern
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.');
    return new RegExp(`^${source}$`, ignoreCase ? 'i' : '').test(value);
  };
  const actionOk = asList(statement.Action).some((a) => glob(a, request.action, true));
  const resourceOk = asList(statement.Resource).some((r) => {
    const pattern = substitute(cfnValue(r));
    return pattern !== undefined && glob(pattern, request.resource, false);
  });
  if (!actionOk || !resourceOk) return false;
  for (const [operator, entries] of Object.entries(statement.Condition ?? {})) {
    for (const [key, expected] of Object.entries(entries)) {
      const actual = request.context?.[key];
      if (actual === undefined) return false;
      const patterns = asList(expected as unknown).map((v) => substitute(cfnValue(v)));
      const ok = patterns.some((pattern) => {
        if (pattern === undefined) return false;
        if (operator === 'StringEquals' || operator === 'ArnEquals') return pattern === actual;
        if (operator === 'StringLike' || operator === 'ArnLike') return glob(pattern, actual, false);
        throw new Error(`evaluator: condition operator ${operator} not supported`);
      });
      if (!ok) return false;
    }
  }
  return true;
}

const PSEUDO_PARAMETERS: Record<string, string> = {
  'AWS::Partition': 'aws',
  'AWS::Region': 'eu-west-1',
  'AWS::AccountId': '123456789012',
};

/** A CloudFormation value as a string: Fn::Join, Fn::Sub and Ref of pseudo parameters, `<Id.Attr>` for GetAtt. */
function cfnValue(value: unknown): string {
  if (typeof value === 'string') return value;
  const v = value as Record<string, unknown>;
  if (typeof v.Ref === 'string') return PSEUDO_PARAMETERS[v.Ref] ?? `<${v.Ref}>`;
  if (typeof v['Fn::Sub'] === 'string') {
    return (v['Fn::Sub'] as string).replace(
      /\$\{(AWS::\w+)\}/g,
      (whole, name: string) => PSEUDO_PARAMETERS[name] ?? whole,
    );
  }
  if (Array.isArray(v['Fn::GetAtt'])) return `<${(v['Fn::GetAtt'] as string[]).join('.')}>`;
  if (Array.isArray(v['Fn::Join'])) {
    const [separator, parts] = v['Fn::Join'] as [string, unknown[]];
    return parts.map(cfnValue).join(separator);
  }
  throw new Error(`evaluator: cannot resolve ${JSON.stringify(value)}`);
}
