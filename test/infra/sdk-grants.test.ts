import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { type CfnResource, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { SlipwayFunction } from '../../infra/constructs/slipway-function';
import { createSlipwayApp } from '../../infra/slipway-app';
import type { SlipwayStack } from '../../infra/stack';
import { analyseBundle, type BundleSdkUse, sdkUseOf } from '../support/sdk-calls';

/**
 * Least privilege, checked against the code: every Lambda function is bundled the way it is
 * deployed, every AWS SDK command its reachable code constructs is mapped to the IAM action AWS
 * authorizes it with, and the function's role (as the stack test synthesizes it) must allow each
 * one. The other way round, it may hold no table action, index or other grant no command needs.
 */

const CDK_CONTEXT: Record<string, unknown> = JSON.parse(
  readFileSync(path.join(__dirname, '../../cdk.json'), 'utf8'),
).context;

interface Statement {
  Effect: string;
  Action?: string | string[];
  Resource?: unknown;
  Condition?: Record<string, Record<string, unknown>>;
}

const asList = <T>(value: T | T[] | undefined): T[] =>
  value === undefined ? [] : Array.isArray(value) ? value : [value];

/** The IAM prefix of each SDK client package. */
const IAM_PREFIX: Record<string, string> = {
  '@aws-sdk/client-dynamodb': 'dynamodb',
  '@aws-sdk/lib-dynamodb': 'dynamodb',
  '@aws-sdk/client-kms': 'kms',
  '@aws-sdk/client-sfn': 'states',
  '@aws-sdk/client-codebuild': 'codebuild',
  '@aws-sdk/client-ecr': 'ecr',
  '@aws-sdk/client-ecs': 'ecs',
  '@aws-sdk/client-iam': 'iam',
  '@aws-sdk/client-secrets-manager': 'secretsmanager',
  '@aws-sdk/client-cloudwatch-logs': 'logs',
  '@aws-sdk/client-cloudwatch': 'cloudwatch',
  '@aws-sdk/client-cloudformation': 'cloudformation',
  '@aws-sdk/client-sts': 'sts',
  '@aws-sdk/client-lambda': 'lambda',
};

/** The document client's commands, named after what they wrap. */
const LIB_DYNAMODB: Record<string, string> = {
  GetCommand: 'GetItem',
  PutCommand: 'PutItem',
  UpdateCommand: 'UpdateItem',
  DeleteCommand: 'DeleteItem',
  QueryCommand: 'Query',
  ScanCommand: 'Scan',
  BatchGetCommand: 'BatchGetItem',
  BatchWriteCommand: 'BatchWriteItem',
  TransactGetCommand: 'GetItem',
};

/**
 * DynamoDB has no IAM action for transactions: each item is authorized as the single-item
 * action it performs (Put → PutItem, …).
 */
const TRANSACT_ITEM_ACTIONS: Record<string, string> = {
  Put: 'dynamodb:PutItem',
  Update: 'dynamodb:UpdateItem',
  Delete: 'dynamodb:DeleteItem',
  ConditionCheck: 'dynamodb:ConditionCheckItem',
};

/**
 * What AWS may also check for a call, depending on its input (tags, roles named in it, a secret
 * encrypted with a customer-managed key): allowed next to the call, never required by this test.
 */
const IMPLIED: Record<string, readonly string[]> = {
  'codebuild:StartBuild': ['iam:PassRole'],
  'ecs:RegisterTaskDefinition': ['iam:PassRole', 'ecs:TagResource'],
  'ecs:CreateService': ['ecs:TagResource'],
  'ecr:CreateRepository': ['ecr:TagResource'],
  'iam:CreateRole': ['iam:TagRole'],
  'secretsmanager:GetSecretValue': ['kms:Decrypt'],
  'secretsmanager:CreateSecret': ['secretsmanager:TagResource'],
};

/**
 * What the Lambda service does with the function's role, without an SDK call in the code: write
 * its logs, send its X-Ray traces, and send a failed asynchronous invocation to its on-failure
 * destination (CDK's `SqsDestination` grants SendMessage with GetQueueAttributes and GetQueueUrl).
 */
const RUNTIME_ACTIONS = [
  'logs:CreateLogStream',
  'logs:PutLogEvents',
  'xray:PutTraceSegments',
  'xray:PutTelemetryRecords',
  'sqs:SendMessage',
  'sqs:GetQueueAttributes',
  'sqs:GetQueueUrl',
];

interface NeededAction {
  readonly action: string;
  /** The command (and where it is built) that needs it. */
  readonly because: string;
}

/** The IAM actions the calls of one bundle need. */
function neededActions(use: BundleSdkUse): NeededAction[] {
  const needed: NeededAction[] = [];
  for (const call of use.calls) {
    const prefix = IAM_PREFIX[call.pkg];
    if (!prefix) throw new Error(`${call.pkg} (${call.command}): add its IAM prefix to IAM_PREFIX`);
    const because = `${call.command} in ${call.where}`;
    const transaction = call.command === 'TransactWriteCommand' || call.command === 'TransactWriteItemsCommand';
    if (transaction) {
      // Items the analysis could not see: every kind a transaction may hold.
      const kinds = use.transactItems.size > 0 ? [...use.transactItems] : Object.keys(TRANSACT_ITEM_ACTIONS);
      for (const kind of kinds) {
        const action = TRANSACT_ITEM_ACTIONS[kind];
        if (action) needed.push({ action, because: `${because} (${kind} item)` });
      }
      continue;
    }
    const name =
      call.pkg === '@aws-sdk/lib-dynamodb' ? LIB_DYNAMODB[call.command] : call.command.replace(/Command$/, '');
    if (!name) throw new Error(`${call.pkg} ${call.command}: add its IAM action to LIB_DYNAMODB`);
    needed.push({ action: `${prefix}:${name}`, because });
  }
  return needed;
}

interface GrantFinding {
  readonly missing: string[];
  readonly overGranted: string[];
}

/**
 * Compares what `use` needs with what `statements` allow. Table actions must be allowed on the
 * table (`tableId`, its logical id); an index query on an index of it. Over-grants: any allowed
 * action no call needs, none implies and the runtime does not use, and an index grant without an
 * index query.
 */
function compareGrants(fn: string, use: BundleSdkUse, statements: readonly Statement[], tableId: string): GrantFinding {
  const allows = statements.filter((s) => s.Effect === 'Allow');
  const allowed = (action: string, resource?: (json: string) => boolean): boolean =>
    allows.some(
      (s) =>
        asList(s.Action).some((pattern) => matches(pattern, action)) &&
        (!resource || asList(s.Resource).some((r) => resource(JSON.stringify(r)))),
    );
  const onTable = (json: string) => json.includes(`"${tableId}"`) && !json.includes('/index/');
  const onIndex = (json: string) => json.includes(`"${tableId}"`) && json.includes('/index/');

  const needed = neededActions(use);
  const missing = new Set<string>();
  for (const { action, because } of needed) {
    const ok = action.startsWith('dynamodb:') ? allowed(action, onTable) : allowed(action);
    if (!ok) missing.add(`${fn} lacks ${action} (${because})`);
  }
  if (use.queriesIndex && !allowed('dynamodb:Query', onIndex)) {
    missing.add(`${fn} lacks dynamodb:Query on the table's index (a query with IndexName)`);
  }

  const permitted = new Set([...needed.map((n) => n.action), ...RUNTIME_ACTIONS]);
  for (const { action } of needed) for (const implied of IMPLIED[action] ?? []) permitted.add(implied);
  const overGranted = new Set<string>();
  for (const s of allows) {
    for (const action of asList(s.Action)) {
      // A key used by DynamoDB on the function's behalf comes with the table (customer-managed table key).
      const viaDynamoDb = JSON.stringify(s.Condition ?? {}).includes('dynamodb.');
      if (action.startsWith('kms:') && viaDynamoDb && needed.some((n) => n.action.startsWith('dynamodb:'))) continue;
      if (!permitted.has(action)) overGranted.add(`${fn} holds ${action}, which no call in its bundle needs`);
    }
    if (!use.queriesIndex && asList(s.Resource).some((r) => onIndex(JSON.stringify(r)))) {
      overGranted.add(`${fn} holds a grant on the table's index, but its bundle queries no index`);
    }
  }
  return { missing: [...missing].sort(), overGranted: [...overGranted].sort() };
}

function matches(pattern: string, action: string): boolean {
  const regex = new RegExp(
    `^${pattern
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.')}$`,
    'i',
  );
  return regex.test(action);
}

// ---- the stack -------------------------------------------------------------------------------

let stack: SlipwayStack;
let template: Template;
let functions: SlipwayFunction[];
const uses = new Map<SlipwayFunction, BundleSdkUse>();

const nameOf = (fn: SlipwayFunction): string => `${fn.node.path.split('/').slice(1).join('/')}`;
const logicalId = (construct: { node: { defaultChild?: unknown } }): string =>
  Stack.of(stack).getLogicalId(construct.node.defaultChild as CfnResource);

/** Every Allow/Deny statement of a role: its policies, inline policies and customer-managed policies. */
function roleStatements(roleId: string): Statement[] {
  const resources = template.toJSON().Resources as Record<
    string,
    { Type: string; Properties?: Record<string, unknown> }
  >;
  const role = resources[roleId];
  if (!role) throw new Error(`no role ${roleId}`);
  const statements: Statement[] = [];
  const documentOf = (p: unknown) =>
    (p as { PolicyDocument: { Statement: Statement[] } }).PolicyDocument?.Statement ?? [];
  for (const inline of asList(role.Properties?.Policies as unknown[])) statements.push(...documentOf(inline));
  for (const arn of asList(role.Properties?.ManagedPolicyArns as unknown[])) {
    const ref = (arn as { Ref?: string }).Ref;
    const managed = ref ? resources[ref] : undefined;
    if (!managed) throw new Error(`${roleId}: managed policy ${JSON.stringify(arn)} cannot be read from the template`);
    statements.push(...documentOf(managed.Properties));
  }
  for (const resource of Object.values(resources)) {
    if (resource.Type !== 'AWS::IAM::Policy') continue;
    const roles = asList(resource.Properties?.Roles as unknown[]).map((r) => (r as { Ref?: string }).Ref);
    if (roles.includes(roleId)) statements.push(...documentOf(resource.Properties));
  }
  return statements;
}

function statementsOf(fn: SlipwayFunction): Statement[] {
  if (!fn.role) throw new Error(`${nameOf(fn)} has no role`);
  return roleStatements(logicalId(fn.role as unknown as { node: { defaultChild?: unknown } }));
}

/** Synthesizes the stack and bundles every function's entry (once per entry). */
async function synthesizeAndBundle(): Promise<void> {
  ({ stack } = createSlipwayApp({
    context: { ...CDK_CONTEXT, 'aws:cdk:bundling-stacks': [] },
    analyticsReporting: false,
  }));
  template = Template.fromStack(stack);
  functions = stack.node.findAll().filter((c): c is SlipwayFunction => c instanceof SlipwayFunction);
  // One bundle per entry, shared by functions that run the same handler.
  const byEntry = new Map<string, Promise<BundleSdkUse>>();
  for (const fn of functions) {
    if (!byEntry.has(fn.entry)) byEntry.set(fn.entry, sdkUseOf(fn.entry));
  }
  for (const fn of functions) uses.set(fn, await (byEntry.get(fn.entry) as Promise<BundleSdkUse>));
}

const findingsOf = (fn: SlipwayFunction) =>
  compareGrants(
    `${nameOf(fn)} (${path.relative(path.join(__dirname, '../..'), fn.entry)})`,
    uses.get(fn) as BundleSdkUse,
    statementsOf(fn),
    logicalId(stack.state.table),
  );

describe('every Lambda function of the stack', () => {
  beforeAll(synthesizeAndBundle, 180_000);

  test('is a SlipwayFunction, so its entry is known and its grants are checked here', () => {
    const lambdas = Object.keys(template.findResources('AWS::Lambda::Function'));
    const checked = new Set(functions.map((fn) => logicalId(fn)));
    expect(lambdas.filter((id) => !checked.has(id))).toEqual([]);
    expect(functions.length).toBeGreaterThanOrEqual(7);
  });

  test('may make every AWS call its bundle makes', () => {
    const missing = functions.flatMap((fn) => findingsOf(fn).missing);
    expect(missing).toEqual([]);
  });

  test('holds no grant that no call in its bundle needs', () => {
    const overGranted = functions.flatMap((fn) => findingsOf(fn).overGranted);
    expect(overGranted).toEqual([]);
  });

  test('the hooks can neither delete in bulk nor scan the table', () => {
    for (const fn of [stack.functions.projectWebhook, stack.functions.systemHook]) {
      const actions = statementsOf(fn).flatMap((s) => asList(s.Action));
      expect(actions).toEqual(expect.arrayContaining(['dynamodb:PutItem', 'dynamodb:GetItem']));
      expect(actions).not.toContain('dynamodb:BatchWriteItem');
      expect(actions).not.toContain('dynamodb:Scan');
    }
  });
});

describe('the bundle analysis', () => {
  const bundle = (body: string) =>
    `import { GetCommand, BatchWriteCommand, TransactWriteCommand } from "@aws-sdk/lib-dynamodb";\n` +
    `import { StartExecutionCommand as Start } from "@aws-sdk/client-sfn";\n${body}`;

  test('counts a command in a method only when something reachable calls that method', () => {
    const use = analyseBundle(
      bundle(`// functions/adapters/store.ts
class Store {
  constructor(client) { this.client = client; }
  get(key) { return this.read(key); }
  read(key) { return this.client.send(new GetCommand({ TableName: "t", Key: key })); }
  deleteAll() { return this.client.send(new BatchWriteCommand({ RequestItems: {} })); }
}
// functions/handlers/hook.ts
const store = new Store({});
export const handler = (event) => store.get(event.key);
`),
    );
    expect(use.calls.map((c) => `${c.command} ${c.where}`)).toEqual(['GetCommand Store#read']);
  });

  test('reads aliased imports, transaction items and index queries', () => {
    const use = analyseBundle(
      bundle(`// functions/handlers/hook.ts
export async function handler(client) {
  await client.send(new Start({ stateMachineArn: "x" }));
  await client.send(new TransactWriteCommand({ TransactItems: [{ Put: { TableName: "t", Item: {} } }] }));
  return { IndexName: "gsi" };
}
`),
    );
    expect(use.calls.map((c) => c.command).sort()).toEqual(['StartExecutionCommand', 'TransactWriteCommand']);
    expect([...use.transactItems]).toEqual(['Put']);
    expect(use.queriesIndex).toBe(true);
    expect(
      neededActions(use)
        .map((n) => n.action)
        .sort(),
    ).toEqual(['dynamodb:PutItem', 'states:StartExecution']);
  });

  test('does not take a library chain (new LibraryClass().encrypt()) for a call of our own method', () => {
    const use = analyseBundle(
      bundle(`// node_modules/jose/encrypt.js
class EncryptJWT { encrypt() { return "jwe"; } }
// functions/adapters/vault.ts
class Vault { encrypt() { return new GetCommand({}); } }
// functions/handlers/console.ts
export const handler = () => new EncryptJWT().encrypt();
`),
    );
    expect(use.calls).toEqual([]);
  });

  test('a role without the grant a call needs is reported, naming function, action and call', () => {
    const use = analyseBundle(
      bundle(`// functions/handlers/build-events.ts
export const handler = (c) => c.send(new GetCommand({ TableName: "t" }));
`),
    );
    const statements: Statement[] = [
      {
        Effect: 'Allow',
        Action: ['dynamodb:PutItem', 'dynamodb:BatchWriteItem'],
        Resource: { 'Fn::GetAtt': ['Table1', 'Arn'] },
      },
    ];
    expect(compareGrants('BuildEvents', use, statements, 'Table1')).toEqual({
      missing: ['BuildEvents lacks dynamodb:GetItem (GetCommand in (top level))'],
      overGranted: [
        'BuildEvents holds dynamodb:BatchWriteItem, which no call in its bundle needs',
        'BuildEvents holds dynamodb:PutItem, which no call in its bundle needs',
      ],
    });
  });
});
