import { randomBytes, randomUUID } from 'node:crypto';
import { Logger } from '@aws-lambda-powertools/logger';
import type { Context } from 'aws-lambda';
import fc from 'fast-check';
import { DynamoDbStore } from '../../functions/adapters/dynamodb/store';
import { LocalVault } from '../../functions/adapters/vault/local-vault';
import { issueWebhookSecret, newApp } from '../../functions/domain/apps';
import { createEnvironment, listEnvironments } from '../../functions/domain/environments';
import type { App, Build } from '../../functions/domain/model';
import type { ReviewJob, Workflow } from '../../functions/domain/ports';
import { isFromFork } from '../../functions/domain/review-apps';
import { PayloadError, parseMergeRequest } from '../../functions/http/gitlab-payloads';
import { createProjectWebhookHandler } from '../../functions/http/project-webhook';
import type { HttpEvent, HttpResult } from '../../functions/http/responses';
import { type FreshTable, freshTable } from '../support/dynamodb';
import { gitlabExample } from '../support/gitlab-events';

/**
 * Merge request events at the edge (review apps, functions/domain/review-apps.ts): GitLab's own
 * example `Merge Request Hook` payload, and variants of it, through the real project-webhook
 * handler against the real store on the run's DynamoDB Local. What is built, torn down, refused
 * or ignored, and that bad input is a 4xx or ignored, never a 5xx.
 */

// biome-ignore lint/suspicious/noExplicitAny: GitLab's example payload, edited field by field.
const example = () => structuredClone(gitlabExample('merge_request.json').body) as Record<string, any>;
const HEAD = 'da1560886d4f094c3e6c9ef40349f7d38b5d27d7';

let table: FreshTable;
let store: DynamoDbStore;
let handler: (event: HttpEvent, context: Context) => Promise<HttpResult>;
const started: Array<{ app: string; build: string }> = [];
const jobs: ReviewJob[] = [];
const logged: unknown[] = [];

/** A linked app of GitLab's example project (id 14, as the example's merge request says), with a secret. */
async function makeApp(name: string, reviewApps?: { cap?: number; url?: string }) {
  const vault = LocalVault.fromKey(randomBytes(32));
  let app: App = { ...newApp({ name, project: 'gitlabhq/gitlab-test', branch: 'master' }), projectId: 14 };
  await store.createApp(app);
  const issued = await issueWebhookSecret(app, vault, false);
  app = await store.updateApp(app.name, app.version, issued.patch);
  if (reviewApps) {
    await createEnvironment({ store }, app, {
      name: 'review',
      reviewApps: true,
      ...(reviewApps.url ? { url: reviewApps.url } : {}),
      ...(reviewApps.cap ? { cap: reviewApps.cap } : {}),
    });
  }
  return { app, secret: issued.secret, vault };
}

let seq = 0;
function request(app: App, secret: string, body: unknown, headers: Record<string, string> = {}): HttpEvent {
  const path = `/hooks/gitlab/${app.hookId}`;
  const now = new Date();
  return {
    version: '2.0',
    routeKey: 'POST /hooks/gitlab/{hookId}',
    rawPath: path,
    rawQueryString: '',
    headers: {
      'content-type': 'application/json',
      'user-agent': 'GitLab/17.8.1',
      'x-gitlab-event': 'Merge Request Hook',
      'x-gitlab-token': secret,
      'idempotency-key': randomUUID(),
      ...headers,
    },
    pathParameters: { hookId: app.hookId },
    requestContext: {
      accountId: '000000000000',
      apiId: 'test',
      domainName: 'slipway.test',
      domainPrefix: 'slipway',
      http: { method: 'POST', path, protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'GitLab/17.8.1' },
      requestId: `r${++seq}`,
      routeKey: 'POST /hooks/gitlab/{hookId}',
      stage: '$default',
      time: now.toUTCString(),
      timeEpoch: now.getTime(),
    },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    isBase64Encoded: false,
  } as HttpEvent;
}

/** GitLab's example, made to say `iid`, `action`, the head and (an update with new commits) `oldrev`. */
function mergeRequest(
  change: { iid?: number; action?: string; head?: string; oldrev?: string; sourceProjectId?: number } = {},
) {
  const body = example();
  body.project.id = 14;
  const attributes = body.object_attributes;
  attributes.iid = change.iid ?? 1;
  attributes.action = change.action ?? 'open';
  attributes.last_commit.id = change.head ?? HEAD;
  if (change.oldrev) attributes.oldrev = change.oldrev;
  if (change.sourceProjectId !== undefined) attributes.source_project_id = change.sourceProjectId;
  return body;
}

async function deliver(app: App, secret: string, body: unknown, headers: Record<string, string> = {}) {
  const result = await handler(request(app, secret, body, headers), {} as Context);
  return { status: result.statusCode, body: JSON.parse(String(result.body ?? '{}')) as Record<string, unknown> };
}

const sha = (n: number) => n.toString(16).padStart(40, 'a');

beforeAll(async () => {
  table = await freshTable();
  store = new DynamoDbStore({ tableName: table.tableName, client: table.client });
  const workflow: Workflow = {
    startRelease: async (input) => {
      started.push(input);
      return `requested:${input.build}`;
    },
    startReviewJob: async (job) => {
      jobs.push(job);
      return `requested:${job.id}`;
    },
  };
  const logger = new Logger({ serviceName: 'review-apps-webhook', logLevel: 'SILENT' });
  logger.error = (...args: unknown[]) => {
    logged.push(args);
  };
  handler = createProjectWebhookHandler({ store, vault: LocalVault.fromKey(randomBytes(32)), logger, workflow });
});

afterAll(() => {
  table?.raw.destroy();
});

describe('parsing GitLab’s Merge Request Hook', () => {
  it('reads GitLab’s example as an open of !1 whose head is its last commit, from branch ms-viewport', () => {
    const event = parseMergeRequest(gitlabExample('merge_request.json').body);
    expect(event).toEqual({
      action: 'open',
      iid: 1,
      project: { id: 1, path: 'gitlabhq/gitlab-test' },
      sourceProjectId: 14,
      targetProjectId: 14,
      sourceBranch: 'ms-viewport',
      title: 'MS-Viewport',
      head: {
        sha: HEAD,
        title: 'Update file README.md',
        author: 'GitLab dev user',
        committedAt: '2012-01-03T21:36:29.000Z',
      },
      user: 'root',
    });
  });

  it('ignores the actions that neither build nor tear down', () => {
    for (const action of ['approved', 'unapproved', 'approval', 'unapproval', undefined]) {
      const body = example();
      if (action === undefined) delete body.object_attributes.action;
      else body.object_attributes.action = action;
      expect(parseMergeRequest(body)).toEqual({ ignored: expect.stringMatching(/is not acted on/) });
    }
  });

  it('reads oldrev on an update with new commits, and none without', () => {
    expect(parseMergeRequest(mergeRequest({ action: 'update', oldrev: sha(1) }))).toMatchObject({ oldrev: sha(1) });
    expect(parseMergeRequest(mergeRequest({ action: 'update' }))).not.toHaveProperty('oldrev');
  });

  it('refuses a malformed merge request it would act on, naming the field', () => {
    const noHead = mergeRequest();
    delete noHead.object_attributes.last_commit;
    expect(() => parseMergeRequest(noHead)).toThrow(new PayloadError('object_attributes.last_commit: missing'));
    const badBranch = mergeRequest();
    badBranch.object_attributes.source_branch = 'x\n--upload-pack=evil';
    expect(() => parseMergeRequest(badBranch)).toThrow(PayloadError);
    const dots = mergeRequest();
    dots.object_attributes.source_branch = 'a..b';
    expect(() => parseMergeRequest(dots)).toThrow(/source_branch/);
    // A close needs no head.
    const close = mergeRequest({ action: 'close' });
    delete close.object_attributes.last_commit;
    expect(parseMergeRequest(close)).toMatchObject({ action: 'close', iid: 1 });
  });

  it('tells a fork by its source project: another project than the app’s', () => {
    const app = { ...newApp({ name: 'xapp', project: 'gitlabhq/gitlab-test', branch: 'master' }), projectId: 14 };
    const own = parseMergeRequest(mergeRequest());
    const fork = parseMergeRequest(mergeRequest({ sourceProjectId: 99 }));
    if ('ignored' in own || 'ignored' in fork) throw new Error('not acted on');
    expect(isFromFork(app, own)).toBe(false);
    expect(isFromFork(app, fork)).toBe(true);
  });
});

describe('the project webhook with merge request events', () => {
  it('builds an opened merge request’s head from its source branch, for review/<iid>, once per delivery', async () => {
    const { app, secret } = await makeApp('shop', { url: 'http://review-{iid}.shop.localhost' });
    const key = randomUUID();
    const first = await deliver(app, secret, mergeRequest({ iid: 7 }), { 'idempotency-key': key });
    expect(first).toEqual({ status: 202, body: { build: expect.any(String) } });
    const build = (await store.getBuild('shop', String(first.body.build))) as Build;
    expect(build).toMatchObject({
      status: 'queued',
      trigger: 'merge_request',
      environment: 'review/7',
      ref: 'refs/heads/ms-viewport',
      commit: HEAD,
      message: 'Update file README.md',
      author: 'GitLab dev user',
    });
    expect(started.at(-1)).toEqual({ app: 'shop', build: build.id });
    // Its review app is an environment of the app, with the template's URL made its own.
    const envs = await listEnvironments(store, (await store.getApp('shop')) as App);
    expect(envs.map((e) => [e.name, e.url, e.mergeRequest])).toEqual([
      ['production', undefined, undefined],
      ['review', 'http://review-{iid}.shop.localhost', undefined],
      ['review/7', 'http://review-7.shop.localhost', 7],
    ]);
    // GitLab sending it again starts nothing new.
    const again = await deliver(app, secret, mergeRequest({ iid: 7 }), { 'idempotency-key': key });
    expect(again).toEqual({ status: 200, body: { duplicate: true, build: build.id } });

    // An update without new commits is no build; one with new commits is.
    const edit = await deliver(app, secret, mergeRequest({ iid: 7, action: 'update' }));
    expect(edit).toEqual({ status: 200, body: { ignored: 'an update of !7 without new commits' } });
    const pushed = await deliver(app, secret, mergeRequest({ iid: 7, action: 'update', head: sha(2), oldrev: HEAD }));
    expect(pushed.status).toBe(202);
    expect(await store.getBuild('shop', String(pushed.body.build))).toMatchObject({
      commit: sha(2),
      environment: 'review/7',
    });
    // Other actions are acknowledged and ignored (GitLab disables hooks that fail).
    expect(await deliver(app, secret, mergeRequest({ iid: 7, action: 'approved' }))).toEqual({
      status: 200,
      body: { ignored: 'merge request action approved is not acted on' },
    });
  });

  it('tears a review app down on merge or close: its environment goes at once, a job removes what runs', async () => {
    const { app, secret } = await makeApp('blog', {});
    expect((await deliver(app, secret, mergeRequest({ iid: 3 }))).status).toBe(202);
    const merged = await deliver(app, secret, mergeRequest({ iid: 3, action: 'merge' }));
    expect(merged).toEqual({ status: 202, body: { job: expect.stringMatching(/^teardown-/), kind: 'teardown' } });
    expect(jobs.at(-1)).toMatchObject({
      kind: 'teardown',
      app: 'blog',
      iid: 3,
      environment: 'review/3',
      reason: 'merged',
      target: { app: 'blog', environment: 'review/3', review: { tag: 'blog/3' } },
    });
    expect((await store.listEnvironments('blog')).map((e) => e.name)).toEqual(['review']);
    // Closing after (or GitLab sending it twice) finds nothing left.
    expect(await deliver(app, secret, mergeRequest({ iid: 3, action: 'close' }))).toEqual({
      status: 200,
      body: { ignored: 'merge request !3 has no review app' },
    });
    // Reopened: a review app again, and a new build of the same head (a new review app's).
    const reopened = await deliver(app, secret, mergeRequest({ iid: 3, action: 'reopen' }));
    expect(reopened.status).toBe(202);
    expect(reopened.body.build).toEqual(expect.any(String));
  });

  it('never builds a merge request from a fork: its open starts a job that says why, once per delivery', async () => {
    const { app, secret } = await makeApp('wiki', {});
    const builds = started.length;
    const key = randomUUID();
    const opened = await deliver(app, secret, mergeRequest({ iid: 5, sourceProjectId: 99 }), {
      'idempotency-key': key,
    });
    expect(opened).toEqual({ status: 202, body: { job: expect.stringMatching(/^fork-/), kind: 'refuse_fork' } });
    const again = await deliver(app, secret, mergeRequest({ iid: 5, sourceProjectId: 99 }), {
      'idempotency-key': key,
    });
    expect(again.body.job).toBe(opened.body.job);
    const update = await deliver(
      app,
      secret,
      mergeRequest({ iid: 5, sourceProjectId: 99, action: 'update', head: sha(9), oldrev: HEAD }),
    );
    expect(update).toEqual({ status: 200, body: { ignored: 'merge request !5 comes from a fork: not built' } });
    expect(started.length).toBe(builds);
    expect(await store.listEnvironments('wiki')).toHaveLength(1);
  });

  it('at the cap, tears down the review app idle longest first, naming who needed the slot', async () => {
    const { app, secret } = await makeApp('docs', { cap: 2 });
    for (const iid of [1, 2]) expect((await deliver(app, secret, mergeRequest({ iid }))).status).toBe(202);
    // !1 released more recently than !2: !2 is the one idle longest.
    await store.createRelease({
      id: '01KZZZZZZZZZZZZZZZZZZZZZZZ',
      app: 'docs',
      status: 'live',
      build: 'b',
      commit: HEAD,
      images: {},
      createdAt: new Date(Date.now() + 1000).toISOString(),
      environment: 'review/1',
    });
    expect((await deliver(app, secret, mergeRequest({ iid: 3 }))).status).toBe(202);
    expect(jobs.at(-1)).toMatchObject({ kind: 'teardown', iid: 2, reason: 'capped', by: 3, cap: 2 });
    expect((await store.listEnvironments('docs')).map((e) => e.name).sort()).toEqual([
      'review',
      'review/1',
      'review/3',
    ]);
  });

  it('ignores merge request events of an app without review apps, or of another project', async () => {
    const { app, secret } = await makeApp('plain');
    expect(await deliver(app, secret, mergeRequest())).toEqual({
      status: 200,
      body: { ignored: 'app plain has no review apps' },
    });
    // Whatever they hold: its hook sends them since `apps link`, and GitLab counts a 4xx as a failure.
    expect(await deliver(app, secret, { object_kind: 'merge_request' })).toMatchObject({ status: 200 });
    const { app: shop, secret: shopSecret } = await makeApp('other-project', {});
    const other = mergeRequest();
    other.project.id = 15;
    expect(await deliver(shop, shopSecret, other)).toEqual({
      status: 200,
      body: { ignored: "event is for project gitlabhq/gitlab-test (id 15), not other-project's" },
    });
  });

  it('answers GitLab’s example mutated at random with a 2xx or a 4xx, never a 5xx', async () => {
    const { app, secret } = await makeApp('fuzzed', { cap: 50 });
    const paths = [
      ['object_attributes'],
      ['object_attributes', 'action'],
      ['object_attributes', 'iid'],
      ['object_attributes', 'source_branch'],
      ['object_attributes', 'source_project_id'],
      ['object_attributes', 'target_project_id'],
      ['object_attributes', 'oldrev'],
      ['object_attributes', 'last_commit'],
      ['object_attributes', 'last_commit', 'id'],
      ['object_attributes', 'last_commit', 'timestamp'],
      ['object_attributes', 'last_commit', 'author'],
      ['project'],
      ['project', 'id'],
      ['project', 'path_with_namespace'],
      ['user'],
      ['__proto__'],
    ];
    const value = fc.oneof(
      fc.jsonValue({ maxDepth: 2 }),
      fc.constantFrom(null, '', 0, -1, 2 ** 53, 'a'.repeat(5000), 'update', 'close', 'open', 'x\u0000y', '../..'),
    );
    const mutation = fc.record({ path: fc.constantFrom(...paths), value, remove: fc.boolean() });
    await fc.assert(
      fc.asyncProperty(fc.array(mutation, { maxLength: 4 }), fc.integer({ min: 1, max: 40 }), async (changes, iid) => {
        const body = mergeRequest({
          iid,
          action: iid % 3 === 0 ? 'close' : iid % 3 === 1 ? 'update' : 'open',
          oldrev: HEAD,
        });
        for (const change of changes) {
          let at: Record<string, unknown> = body;
          for (const key of change.path.slice(0, -1)) {
            const next = at[key];
            if (!next || typeof next !== 'object') break;
            at = next as Record<string, unknown>;
          }
          const last = change.path.at(-1) as string;
          if (change.remove) delete at[last];
          else at[last] = change.value;
        }
        const { status } = await deliver(app, secret, body);
        expect([200, 202, 400]).toContain(status);
      }),
      { numRuns: 150 },
    );
    // Not JSON at all, or not an object.
    for (const raw of ['{', '[]', 'null', '"x"']) {
      expect((await handler(request(app, secret, raw), {} as Context)).statusCode).toBeLessThan(500);
    }
    expect(logged).toEqual([]);
  }, 60_000);
});
