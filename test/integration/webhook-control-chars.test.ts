import { randomBytes } from 'node:crypto';
import { Logger } from '@aws-lambda-powertools/logger';
import type { Context } from 'aws-lambda';
import { DynamoDbStore } from '../../functions/adapters/dynamodb/store';
import { LocalVault } from '../../functions/adapters/vault/local-vault';
import { issueWebhookSecret, newApp } from '../../functions/domain/apps';
import { sha256Hex } from '../../functions/domain/ids';
import type { App } from '../../functions/domain/model';
import { createProjectWebhookHandler } from '../../functions/http/project-webhook';
import type { HttpEvent, HttpResult } from '../../functions/http/responses';
import { createSystemHookHandler } from '../../functions/http/system-hook';
import { type FreshTable, freshTable } from '../support/dynamodb';
import { gitlabExample } from '../support/gitlab-events';
import { RecordingWorkflow } from '../support/recording-workflow';

/**
 * Refs and paths with control characters are 400 at the edge (issue 13, point 9c), not a build
 * that fails later: GitLab's own example payloads, mutated, through the real project-webhook and
 * system-hook handlers, against the real store on the run's DynamoDB Local.
 */

const SYSTEM_TOKEN = randomBytes(24).toString('hex');

let table: FreshTable;
let store: DynamoDbStore;
let app: App;
let secret: string;
let started: string[];
let project: (event: HttpEvent, context: Context) => Promise<HttpResult>;
let system: (event: HttpEvent, context: Context) => Promise<HttpResult>;

beforeAll(async () => {
  table = await freshTable();
  store = new DynamoDbStore({ tableName: table.tableName, client: table.client });
  const vault = LocalVault.fromKey(randomBytes(32));
  // Builds every branch and every tag of GitLab's example project: only the edge can refuse.
  app = newApp({ name: 'diaspora', project: 'mike/diaspora', branch: '*', tags: '*' });
  await store.createApp(app);
  const issued = await issueWebhookSecret(app, vault, false);
  app = await store.updateApp(app.name, app.version, issued.patch);
  secret = issued.secret;
  await store.setSystemHookTokenHash(sha256Hex(SYSTEM_TOKEN));
  started = [];
  const workflow = new RecordingWorkflow();
  const deps = {
    store,
    vault,
    logger: new Logger({ serviceName: 'control-chars', logLevel: 'SILENT' }),
    workflow: {
      startRelease: (input: { app: string; build: string }) => {
        started.push(input.build);
        return workflow.startRelease(input);
      },
    },
  };
  project = createProjectWebhookHandler(deps);
  system = createSystemHookHandler(deps);
});

afterAll(() => {
  table?.raw.destroy();
});

let seq = 0;

function request(path: string, headers: Record<string, string>, body: unknown): HttpEvent {
  const now = new Date();
  const hookId = path.startsWith('/hooks/gitlab/') ? path.slice('/hooks/gitlab/'.length) : undefined;
  return {
    version: '2.0',
    routeKey: `POST ${path}`,
    rawPath: path,
    rawQueryString: '',
    headers: { 'content-type': 'application/json', 'user-agent': 'GitLab/18.6.0', ...headers },
    ...(hookId ? { pathParameters: { hookId } } : {}),
    requestContext: {
      accountId: '000000000000',
      apiId: 'test',
      domainName: 'slipway.test',
      domainPrefix: 'slipway',
      http: { method: 'POST', path, protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'GitLab/18.6.0' },
      requestId: `r${++seq}`,
      routeKey: `POST ${path}`,
      stage: '$default',
      time: now.toUTCString(),
      timeEpoch: now.getTime(),
    },
    body: JSON.stringify(body),
    isBase64Encoded: false,
  } as HttpEvent;
}

const context = (id: string) => ({ awsRequestId: id, getRemainingTimeInMillis: () => 10_000 }) as Context;

/** A fresh `after` per delivery, so no answer is a duplicate of an earlier one. */
const fresh = () => randomBytes(20).toString('hex');

async function deliverProject(
  file: 'push.json' | 'tag_push.json',
  mutate: (body: Record<string, unknown>) => void,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const example = gitlabExample(file);
  const body = structuredClone(example.body);
  body.after = fresh();
  body.checkout_sha = body.after;
  mutate(body);
  const result = await project(
    request(`/hooks/gitlab/${app.hookId}`, { 'x-gitlab-event': example.event, 'x-gitlab-token': secret }, body),
    context(`p${seq}`),
  );
  return { status: result.statusCode, body: JSON.parse(result.body) };
}

async function deliverSystem(
  file: string,
  mutate: (body: Record<string, unknown>) => void,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const body = structuredClone(gitlabExample(file).body);
  mutate(body);
  const result = await system(
    request('/hooks/gitlab-system', { 'x-gitlab-event': 'System Hook', 'x-gitlab-token': SYSTEM_TOKEN }, body),
    context(`s${seq}`),
  );
  return { status: result.statusCode, body: JSON.parse(result.body) };
}

const CONTROL = /control character/;

describe('control characters in refs and paths are 400 at the edge', () => {
  it('builds the untouched examples (the app takes every branch and tag)', async () => {
    await expect(deliverProject('push.json', () => undefined)).resolves.toMatchObject({ status: 202 });
    await expect(
      // GitLab's tag example is another project's: made this app's (matched by path until linked).
      deliverProject('tag_push.json', (b) => {
        (b.project as Record<string, unknown>).path_with_namespace = 'mike/diaspora';
      }),
    ).resolves.toMatchObject({ status: 202 });
  });

  it.each([
    ['NUL', 'refs/heads/master\u0000'],
    ['a line break', 'refs/heads/master\nrefs/heads/evil'],
    ['a carriage return', 'refs/heads/ma\rster'],
    ['ESC (a terminal escape)', 'refs/heads/\u001b]0;pwned\u0007main'],
    ['DEL', 'refs/heads/main\u007f'],
    ['C1 CSI', 'refs/heads/main\u009b2J'],
  ])('a push whose ref holds %s: 400 naming the field, no build', async (_what, ref) => {
    const before = started.length;
    const answer = await deliverProject('push.json', (b) => {
      b.ref = ref;
    });
    expect(answer).toEqual({
      status: 400,
      body: { error: expect.stringMatching(/^ref: contains a control character/) },
    });
    expect(started.length).toBe(before);
  });

  it('a tag push, a project path or a clone URL with one: 400 too', async () => {
    const tag = await deliverProject('tag_push.json', (b) => {
      b.ref = 'refs/tags/v1.0.0\u0000';
    });
    const path = await deliverProject('push.json', (b) => {
      (b.project as Record<string, unknown>).path_with_namespace = 'mike/diaspora\n';
    });
    const url = await deliverProject('push.json', (b) => {
      (b.project as Record<string, unknown>).git_ssh_url = 'git@example.com:mike/diaspora.git\n-oProxyCommand=x';
    });

    expect(tag).toMatchObject({ status: 400, body: { error: expect.stringMatching(CONTROL) } });
    expect(path).toMatchObject({
      status: 400,
      body: { error: expect.stringMatching(/^project\.path_with_namespace: contains a control character/) },
    });
    expect(url).toMatchObject({
      status: 400,
      body: { error: expect.stringMatching(/^project\.git_ssh_url: contains a control character/) },
    });
  });

  it('a system hook push, repository_update, rename or destroy with one: 400', async () => {
    const before = started.length;
    const push = await deliverSystem('system_push.json', (b) => {
      b.ref = 'refs/heads/master\u0000';
    });
    const update = await deliverSystem('system_repository_update.json', (b) => {
      const changes = b.changes as Array<Record<string, unknown>>;
      changes[0] = { ...changes[0], ref: 'refs/heads/master\u001b[2K' };
    });
    const rename = await deliverSystem('system_project_rename.json', (b) => {
      b.path_with_namespace = 'jsmith/under\u0085score';
    });
    const destroy = await deliverSystem('system_project_destroy.json', (b) => {
      b.path_with_namespace = 'jsmith/underscore\u0000';
    });

    expect([push, update, rename, destroy].map((a) => a.status)).toEqual([400, 400, 400, 400]);
    for (const answer of [push, update, rename, destroy]) expect(String(answer.body.error)).toMatch(CONTROL);
    expect(started.length).toBe(before);
  });
});
