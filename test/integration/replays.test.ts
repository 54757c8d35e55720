import { randomBytes, randomUUID } from 'node:crypto';
import { Logger } from '@aws-lambda-powertools/logger';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import type { Context } from 'aws-lambda';
import { Webhook } from 'standardwebhooks';
import { TABLE_SCHEMA } from '../../functions/adapters/dynamodb/schema';
import { DynamoDbStore, keys } from '../../functions/adapters/dynamodb/store';
import { LocalVault } from '../../functions/adapters/vault/local-vault';
import { issueWebhookSecret, newApp } from '../../functions/domain/apps';
import { newId, sha256Hex } from '../../functions/domain/ids';
import { pushIdentity } from '../../functions/domain/ingest';
import type { App } from '../../functions/domain/model';
import { createProjectWebhookHandler } from '../../functions/http/project-webhook';
import type { HttpEvent, HttpResult } from '../../functions/http/responses';
import { createSystemHookHandler } from '../../functions/http/system-hook';
import { type FreshTable, freshTable } from '../support/dynamodb';
import { gitlabExample } from '../support/gitlab-events';
import { RecordingWorkflow } from '../support/recording-workflow';

/**
 * Issue 13 point 4 (PRODUCT.md flow step 3): one push is one build, however it comes back —
 * a new Idempotency-Key, none at all, the same signed webhook-id, or the system hook — and
 * racing deliveries cannot both build. Point 8 (part): a system-hook delivery starts at most
 * one build per linked app, however many changes it carries.
 */

let table: FreshTable;
let store: DynamoDbStore;
const vault = LocalVault.fromKey(randomBytes(32));
const SYSTEM_TOKEN = 'a-system-hook-token-long-enough-for-the-rule-0001';
const logger = new Logger({ serviceName: 'replays', logLevel: 'SILENT' });
const context = { awsRequestId: 'test' } as Context;

beforeAll(async () => {
  table = await freshTable();
  store = new DynamoDbStore({ tableName: table.tableName, client: table.client });
  await store.setSystemHookTokenHash(sha256Hex(SYSTEM_TOKEN));
});

afterAll(() => {
  table?.raw.destroy();
});

let counter = 0;
async function anApp(
  options: { signing?: boolean; branch?: string; project?: string } = {},
): Promise<{ app: App; secret: string; signingSecret?: string }> {
  counter += 1;
  let app = newApp({
    name: `replay-${counter}-${randomUUID().slice(0, 6)}`,
    project: options.project ?? `group${counter}/diaspora`,
    branch: options.branch ?? 'master',
  });
  await store.createApp(app);
  const issued = await issueWebhookSecret(app, vault, options.signing ?? false);
  app = await store.updateApp(app.name, app.version, issued.patch);
  return { app, secret: issued.secret, ...(issued.signingSecret ? { signingSecret: issued.signingSecret } : {}) };
}

function aPush(project: string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const example = gitlabExample('push.json').body as Record<string, unknown> & { project: Record<string, unknown> };
  const after = randomBytes(20).toString('hex');
  return {
    ...example,
    after,
    checkout_sha: after,
    project_id: undefined,
    project: { ...example.project, id: undefined, path_with_namespace: project },
    ...overrides,
  };
}

function event(path: string, body: string, headers: Record<string, string>): HttpEvent {
  return {
    version: '2.0',
    routeKey: `POST ${path}`,
    rawPath: path,
    rawQueryString: '',
    headers: { 'content-type': 'application/json', ...headers },
    body,
    isBase64Encoded: false,
    requestContext: { timeEpoch: Date.now() } as HttpEvent['requestContext'],
    pathParameters: path.startsWith('/hooks/gitlab/') ? { hookId: path.slice('/hooks/gitlab/'.length) } : {},
  } as HttpEvent;
}

interface Answer {
  status: number;
  json: { build?: string; builds?: string[]; duplicate?: boolean; ignored?: string };
}

const workflow = new RecordingWorkflow();
// Made per call: `store` exists only once beforeAll has run.
const projectHandler = (e: HttpEvent) =>
  createProjectWebhookHandler({ store, vault, workflow, logger })(e, context) as Promise<HttpResult>;
const systemHandler = (e: HttpEvent) =>
  createSystemHookHandler({ store, vault, workflow, logger })(e, context) as Promise<HttpResult>;

async function deliver(
  fixture: { app: App; secret: string; signingSecret?: string },
  body: Record<string, unknown>,
  options: { key?: string; webhookId?: string } = {},
): Promise<Answer> {
  const raw = JSON.stringify(body);
  const headers: Record<string, string> = { 'x-gitlab-event': 'Push Hook', 'x-gitlab-token': fixture.secret };
  if (options.key) headers['idempotency-key'] = options.key;
  if (fixture.signingSecret) {
    const id = options.webhookId ?? `msg_${randomUUID()}`;
    const now = new Date();
    headers['webhook-id'] = id;
    headers['webhook-timestamp'] = String(Math.floor(now.getTime() / 1000));
    headers['webhook-signature'] = new Webhook(fixture.signingSecret).sign(id, now, raw);
  }
  const result = await projectHandler(event(`/hooks/gitlab/${fixture.app.hookId}`, raw, headers));
  return { status: result.statusCode, json: JSON.parse(result.body) };
}

async function deliverSystem(body: Record<string, unknown>, key = randomUUID()): Promise<Answer> {
  const result = await systemHandler(
    event('/hooks/gitlab-system', JSON.stringify(body), {
      'x-gitlab-event': 'System Hook',
      'x-gitlab-token': SYSTEM_TOKEN,
      'idempotency-key': key,
    }),
  );
  return { status: result.statusCode, json: JSON.parse(result.body) };
}

describe('one push is one build', () => {
  it('answers a push resent with a new Idempotency-Key, or none, as a duplicate of the first build', async () => {
    const fixture = await anApp();
    const push = aPush(fixture.app.project);

    const first = await deliver(fixture, push, { key: 'first-key' });
    const newKey = await deliver(fixture, push, { key: 'a-new-key' });
    const noKey = await deliver(fixture, push);
    const sameKey = await deliver(fixture, push, { key: 'first-key' });

    expect(first).toEqual({ status: 202, json: { build: expect.any(String) } });
    for (const again of [newKey, noKey, sameKey]) {
      expect(again).toEqual({ status: 200, json: { duplicate: true, build: first.json.build } });
    }
    expect(await store.listBuilds(fixture.app.name)).toHaveLength(1);
    // The new key now names that build too: its own redelivery gets the same answer.
    const newKeyRecord = await table.client.send(
      new GetCommand({ TableName: table.tableName, Key: keys.delivery(fixture.app.hookId, 'a-new-key') }),
    );
    expect(newKeyRecord.Item?.build).toBe(first.json.build);

    // Another push of the same ref (another `after`) is another build.
    const next = await deliver(fixture, aPush(fixture.app.project), { key: 'a-third-key' });
    expect(next.status).toBe(202);
    expect(await store.listBuilds(fixture.app.name)).toHaveLength(2);
  });

  it('answers a signed delivery whose webhook-id was seen as a duplicate, whatever else changed', async () => {
    const fixture = await anApp({ signing: true });

    const first = await deliver(fixture, aPush(fixture.app.project), { webhookId: 'msg_2KWPBgLlAfxdpx2AI54pPJ85f4W' });
    // Same signed id, another key and another body (signed anew): the id alone makes it a duplicate.
    const replay = await deliver(fixture, aPush(fixture.app.project), {
      webhookId: 'msg_2KWPBgLlAfxdpx2AI54pPJ85f4W',
      key: 'unrelated-key',
    });

    expect(first.status).toBe(202);
    expect(replay).toEqual({ status: 200, json: { duplicate: true, build: first.json.build } });
    expect(await store.listBuilds(fixture.app.name)).toHaveLength(1);
  });

  it('keeps every kind of delivery record at least 30 days (TTL attribute)', async () => {
    const fixture = await anApp({ signing: true });
    const push = aPush(fixture.app.project);
    const before = Math.floor(Date.now() / 1000);
    const answer = await deliver(fixture, push, { key: 'ttl-key', webhookId: 'msg_ttl' });
    expect(answer.status).toBe(202);

    const identity = pushIdentity(fixture.app.name, {
      ref: String(push.ref),
      before: String(push.before),
      after: String(push.after),
    });
    const thirtyDays = 30 * 24 * 60 * 60;
    for (const [source, key] of [
      [fixture.app.hookId, 'ttl-key'],
      [`signed:${fixture.app.hookId}`, 'msg_ttl'],
      [identity.source, identity.key],
    ] as const) {
      const item = (
        await table.client.send(new GetCommand({ TableName: table.tableName, Key: keys.delivery(source, key) }))
      ).Item;
      expect({ source, build: item?.build }).toEqual({ source, build: answer.json.build });
      expect(Number(item?.[TABLE_SCHEMA.ttlAttribute])).toBeGreaterThanOrEqual(before + thirtyDays);
    }
  });

  it('records one build for 30 concurrent deliveries of one push, each with its own Idempotency-Key', async () => {
    const fixture = await anApp();
    const push = aPush(fixture.app.project);

    const answers = await Promise.all(
      Array.from({ length: 30 }, (_, i) => deliver(fixture, push, i % 3 === 0 ? {} : { key: `race-${i}` })),
    );

    expect(answers.filter((a) => a.status === 202)).toHaveLength(1);
    expect(answers.filter((a) => a.status === 200 && a.json.duplicate === true)).toHaveLength(29);
    expect(new Set(answers.map((a) => a.json.build)).size).toBe(1);
    expect(await store.listBuilds(fixture.app.name)).toHaveLength(1);
  });

  it('builds a push once when it arrives through both the project hook and the system hook, even at once', async () => {
    const fixture = await anApp();
    const push = aPush(fixture.app.project);

    const answers = await Promise.all([
      deliver(fixture, push, { key: 'project-delivery' }),
      deliverSystem(push),
      deliverSystem(push),
      deliver(fixture, push),
    ]);

    const builds = await store.listBuilds(fixture.app.name);
    expect(builds).toHaveLength(1);
    expect(answers.filter((a) => a.status === 202)).toHaveLength(1);
    for (const answer of answers) {
      expect(answer.json.build).toBe(builds[0]?.id);
      if (answer.status === 200) expect(answer.json.duplicate).toBe(true);
    }
  });

  it('leaves manual builds alone: recording the same commit twice without a delivery makes two builds', async () => {
    const fixture = await anApp();
    const build = {
      app: fixture.app.name,
      status: 'queued' as const,
      commit: 'a'.repeat(40),
      ref: 'refs/heads/master',
      message: 'm',
      author: 'a',
      trigger: 'manual' as const,
      createdAt: new Date().toISOString(),
    };
    await store.recordBuild({ ...build, id: newId() });
    await store.recordBuild({ ...build, id: newId() });
    expect(await store.listBuilds(fixture.app.name)).toHaveLength(2);
  });
});

describe('a system-hook delivery starts at most one build per linked app', () => {
  it('builds only the newest change of a repository_update carrying many', async () => {
    const path = `sys${randomUUID().slice(0, 6)}/example`;
    const first = await anApp({ project: path, branch: '*' });
    const second = await anApp({ project: path, branch: 'master' });
    const example = gitlabExample('system_repository_update.json').body as Record<string, unknown> & {
      project: Record<string, unknown>;
      changes: Array<{ before: string; after: string; ref: string }>;
    };
    const changes = Array.from({ length: 400 }, (_, i) => ({
      before: randomBytes(20).toString('hex'),
      after: randomBytes(20).toString('hex'),
      ref: i % 2 === 0 ? `refs/heads/feature-${i}` : 'refs/heads/master',
    }));
    const body = {
      ...example,
      project_id: undefined,
      project: { ...example.project, path_with_namespace: path },
      changes,
      refs: changes.map((c) => c.ref),
    };
    const started = workflowStarts();

    const answer = await deliverSystem(body);

    expect(answer.status).toBe(202);
    expect(answer.json.builds).toHaveLength(2);
    const [a] = await store.listBuilds(first.app.name);
    const [b] = await store.listBuilds(second.app.name);
    expect(await store.listBuilds(first.app.name)).toHaveLength(1);
    expect(await store.listBuilds(second.app.name)).toHaveLength(1);
    // The newest change each app builds: the last one its filter accepts.
    expect(a?.commit).toBe(changes[399]?.after);
    expect(b?.commit).toBe(changes[399]?.after);
    expect(workflowStarts() - started).toBe(2);

    // The last change matches only the first app: the second builds the newest one it matches.
    const last = {
      before: randomBytes(20).toString('hex'),
      after: randomBytes(20).toString('hex'),
      ref: 'refs/heads/x',
    };
    const again = await deliverSystem({ ...body, changes: [...changes.slice(0, 10), last] });
    expect(again.json.builds).toHaveLength(2);
    expect((await store.listBuilds(first.app.name))[0]?.commit).toBe(last.after);
    expect((await store.listBuilds(second.app.name))[0]?.commit).toBe(changes[9]?.after);
    expect(workflowStarts() - started).toBe(4);
  });
});

let starts = 0;
const originalStart = workflow.startRelease.bind(workflow);
workflow.startRelease = async (input) => {
  starts += 1;
  return originalStart(input);
};
function workflowStarts(): number {
  return starts;
}
