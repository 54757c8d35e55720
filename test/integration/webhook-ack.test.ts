import { randomBytes, randomUUID } from 'node:crypto';
import { Logger } from '@aws-lambda-powertools/logger';
import { CreateStateMachineCommand, ListExecutionsCommand, SFNClient } from '@aws-sdk/client-sfn';
import { type DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import type { Context } from 'aws-lambda';
import { Webhook } from 'standardwebhooks';
import { DynamoDbStore, keys } from '../../functions/adapters/dynamodb/store';
import { LocalVault } from '../../functions/adapters/vault/local-vault';
import { executionArn, StepFunctionsWorkflow } from '../../functions/adapters/workflow/sfn-workflow';
import { issueWebhookSecret, newApp } from '../../functions/domain/apps';
import { newHookId } from '../../functions/domain/ids';
import type { App } from '../../functions/domain/model';
import { createProjectWebhookHandler } from '../../functions/http/project-webhook';
import type { HttpEvent, HttpResult } from '../../functions/http/responses';
import { UnknownHookIds } from '../../functions/http/unknown-hooks';
import { type FreshTable, freshTable } from '../support/dynamodb';
import { gitlabExample } from '../support/gitlab-events';
import { type MotoServer, startMotoServer } from '../support/moto-server';

/**
 * Issue 10, sections 3 and 4: what the webhook's answer costs in DynamoDB, counted on the
 * document client against DynamoDB Local — at most one read and one transactional write per
 * accepted push, then StartExecution (moto_server's Step Functions) named after the build, with
 * nothing written back — and nothing at all for a hook id the process already found unknown.
 */

const READS = new Set(['GetCommand', 'QueryCommand', 'BatchGetCommand', 'ScanCommand', 'TransactGetCommand']);

let table: FreshTable;
let moto: MotoServer;
let sfn: SFNClient;
let machineArn: string;
let store: DynamoDbStore;
let handler: (event: HttpEvent) => Promise<HttpResult>;
let unknownHooks: UnknownHookIds;
const sent: string[] = [];
const vault = LocalVault.fromKey(randomBytes(32));
const logger = new Logger({ serviceName: 'webhook-ack', logLevel: 'SILENT' });
const context = { awsRequestId: 'test' } as Context;

beforeAll(async () => {
  [table, moto] = await Promise.all([freshTable(), startMotoServer()]);
  // Every DynamoDB command the store sends, by name.
  const send = table.client.send.bind(table.client) as (...args: unknown[]) => Promise<unknown>;
  const counting = Object.assign(Object.create(table.client), {
    send: (command: { constructor: { name: string } }, ...rest: unknown[]) => {
      sent.push(command.constructor.name);
      return send(command, ...rest);
    },
  }) as DynamoDBDocumentClient;
  store = new DynamoDbStore({ tableName: table.tableName, client: counting });
  sfn = new SFNClient(moto.clientConfig);
  const machine = await sfn.send(
    new CreateStateMachineCommand({
      name: `release-${randomUUID().slice(0, 8)}`,
      roleArn: 'arn:aws:iam::123456789012:role/release',
      definition: JSON.stringify({ StartAt: 'Done', States: { Done: { Type: 'Pass', End: true } } }),
    }),
  );
  machineArn = machine.stateMachineArn ?? '';
  unknownHooks = new UnknownHookIds();
  const workflow = new StepFunctionsWorkflow({ client: sfn, stateMachineArn: machineArn });
  const handle = createProjectWebhookHandler({ store, vault, workflow, logger, unknownHooks });
  handler = (event) => handle(event, context) as Promise<HttpResult>;
}, 60_000);

afterAll(async () => {
  table?.raw.destroy();
  sfn?.destroy();
  await moto?.stop();
});

/** Resets the count; returns what was sent since. */
function counting(): () => { reads: number; transactions: number; other: string[] } {
  sent.length = 0;
  return () => ({
    reads: sent.filter((name) => READS.has(name)).length,
    transactions: sent.filter((name) => name === 'TransactWriteCommand').length,
    other: sent.filter((name) => !READS.has(name) && name !== 'TransactWriteCommand'),
  });
}

async function anApp(signing: boolean): Promise<{ app: App; secret: string; signingSecret?: string }> {
  let app = newApp({ name: `ack-${randomUUID().slice(0, 8)}`, project: 'mike/diaspora', branch: 'master' });
  await store.createApp(app);
  const issued = await issueWebhookSecret(app, vault, signing);
  app = await store.updateApp(app.name, app.version, issued.patch);
  return { app, secret: issued.secret, ...(issued.signingSecret ? { signingSecret: issued.signingSecret } : {}) };
}

function pushBody(): string {
  const example = gitlabExample('push.json').body as Record<string, unknown>;
  const after = randomBytes(20).toString('hex');
  return JSON.stringify({ ...example, after, checkout_sha: after });
}

async function deliver(
  hookId: string,
  fixture: { secret: string; signingSecret?: string },
  body = pushBody(),
): Promise<{ status: number; json: { build?: string; duplicate?: boolean } }> {
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'x-gitlab-event': 'Push Hook',
    'x-gitlab-token': fixture.secret,
    'idempotency-key': randomUUID(),
  };
  if (fixture.signingSecret) {
    const id = `msg_${randomUUID()}`;
    const now = new Date();
    headers['webhook-id'] = id;
    headers['webhook-timestamp'] = String(Math.floor(now.getTime() / 1000));
    headers['webhook-signature'] = new Webhook(fixture.signingSecret).sign(id, now, body);
  }
  const path = `/hooks/gitlab/${hookId}`;
  const result = await handler({
    version: '2.0',
    routeKey: 'POST /hooks/gitlab/{hookId}',
    rawPath: path,
    rawQueryString: '',
    headers,
    body,
    isBase64Encoded: false,
    requestContext: { timeEpoch: Date.now() } as HttpEvent['requestContext'],
    pathParameters: { hookId },
  } as HttpEvent);
  return { status: result.statusCode, json: JSON.parse(result.body) };
}

async function executionsNamed(name: string): Promise<string[]> {
  const listed = await sfn.send(new ListExecutionsCommand({ stateMachineArn: machineArn }));
  return (listed.executions ?? []).filter((e) => e.name === name).map((e) => e.executionArn ?? '');
}

describe('an accepted push', () => {
  it.each([
    ['a token-checked hook', false],
    ['a signed hook', true],
  ])(
    'through %s costs one read and one transactional write, then StartExecution named after the build',
    async (_, signing) => {
      const fixture = await anApp(signing);

      const calls = counting();
      const answer = await deliver(fixture.app.hookId, fixture);

      expect(answer.status).toBe(202);
      expect(calls()).toEqual({ reads: 1, transactions: 1, other: [] });
      const build = answer.json.build ?? '';
      expect(await executionsNamed(build)).toEqual([executionArn(machineArn, build)]);
      // Nothing written back: the build holds no execution reference, and it derives from the name.
      expect(await store.getBuild(fixture.app.name, build)).not.toHaveProperty('execution');
    },
  );

  it('answers its redelivery as a duplicate, starting the same execution rather than a second', async () => {
    const fixture = await anApp(false);
    const body = pushBody();
    const first = await deliver(fixture.app.hookId, fixture, body);

    const again = await deliver(fixture.app.hookId, fixture, body);

    expect(again).toEqual({ status: 200, json: { duplicate: true, build: first.json.build } });
    expect(await executionsNamed(first.json.build ?? '')).toHaveLength(1);
  });

  it('through a hook pointer written before it carried the app still works, reading the app too', async () => {
    const fixture = await anApp(false);
    await table.client.send(
      new PutCommand({
        TableName: table.tableName,
        Item: { ...keys.hook(fixture.app.hookId), app: fixture.app.name, entity: 'hook' },
      }),
    );

    const calls = counting();
    const answer = await deliver(fixture.app.hookId, fixture);

    expect(answer.status).toBe(202);
    expect(calls()).toEqual({ reads: 2, transactions: 1, other: [] });
  });
});

describe('an unknown hook id', () => {
  it('costs one read the first time, then no DynamoDB call while the process remembers it', async () => {
    const hookId = newHookId();
    const fixture = { secret: 'whatever-secret' };

    const first = counting();
    expect((await deliver(hookId, fixture)).status).toBe(404);
    expect(first()).toEqual({ reads: 1, transactions: 0, other: [] });

    const again = counting();
    for (let i = 0; i < 20; i++) expect((await deliver(hookId, fixture)).status).toBe(404);
    expect(again()).toEqual({ reads: 0, transactions: 0, other: [] });
    expect(unknownHooks.has(hookId)).toBe(true);
  });

  it('that is malformed costs no DynamoDB call at all', async () => {
    const calls = counting();
    expect((await deliver('not valid!', { secret: 'x' })).status).toBe(404);
    expect(calls()).toEqual({ reads: 0, transactions: 0, other: [] });
  });
});
