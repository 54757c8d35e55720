import { AsyncLocalStorage } from 'node:async_hooks';
import { randomBytes } from 'node:crypto';
import { Logger } from '@aws-lambda-powertools/logger';
import type { Context } from 'aws-lambda';
import fc from 'fast-check';
import { Webhook } from 'standardwebhooks';
import { DynamoDbStore } from '../../functions/adapters/dynamodb/store';
import { LocalVault } from '../../functions/adapters/vault/local-vault';
import { issueWebhookSecret, newApp } from '../../functions/domain/apps';
import { ZERO_SHA } from '../../functions/domain/events';
import type { App } from '../../functions/domain/model';
import type { Store, Workflow } from '../../functions/domain/ports';
import { createProjectWebhookHandler } from '../../functions/http/project-webhook';
import { type HttpEvent, type HttpResult, MAX_BODY_BYTES } from '../../functions/http/responses';
import { type FreshTable, freshTable } from '../support/dynamodb';
import { gitlabExample, gitlabExamples } from '../support/gitlab-events';
import { RecordingWorkflow } from '../support/recording-workflow';

/**
 * Generated-input test of the project-webhook handler (issue 2 acceptance): well over 10,000
 * requests, called in-process with API Gateway v2 events, against the real DynamoDbStore on the
 * run's DynamoDB Local, a LocalVault and a RecordingWorkflow.
 *
 * Properties, for every request:
 *   - the handler never throws, never answers 5xx, always answers a JSON body with a status in
 *     the contract's set {200, 202, 400, 401, 404, 413, 415};
 *   - an unauthenticated request (unknown hook, wrong/missing token, bad or stale signature)
 *     never gets 202 and writes nothing: no store write, no workflow start (attributed per
 *     request through AsyncLocalStorage, so this holds under concurrency too), and the app's
 *     newest builds (store.listBuilds) are the same before and after;
 *   - every 202 names a build that is in the store, at most one 202 per (hook, Idempotency-Key),
 *     and a duplicate answer names that build (or, for a push or signed webhook-id seen before
 *     under another key or none, a build the app holds); at the end each app holds exactly as
 *     many builds as it got 202s.
 *
 * Lanes: each property runs as several fc.assert side by side (DynamoDB Local round trips
 * dominate; one lane at a time would not fit the time budget), lane i on its own four apps with
 * seed FUZZ_SEED + i, so every per-app check stays exact. Seeds are fixed: a failure prints its
 * lane's seed and path, and the same command reproduces it.
 *
 *   npx jest test/fuzz                     the full run (10,000 runs, ~15,000 requests)
 *   FUZZ_QUICK=1 npx jest test/fuzz        a tenth of it
 *   FUZZ_REASONS=1 npx jest test/fuzz      also print the mix of answers reached
 */

const SEED = Number(process.env.FUZZ_SEED ?? 0x5a1b3a7);
/** Runs per lane; lanes run side by side, each on its own apps (so per-app checks stay exact). */
const SCALE = process.env.FUZZ_QUICK ? 0.1 : 1;
const LANES = {
  mixed: { lanes: 6, runs: Math.round(1200 * SCALE) },
  signed: { lanes: 2, runs: Math.round(400 * SCALE) },
  burst: { lanes: 4, runs: Math.round(500 * SCALE) },
} as const;
const ALLOWED = new Set([200, 202, 400, 401, 404, 413, 415]);
const PUSH_EVENTS = new Set(['Push Hook', 'Tag Push Hook']);

jest.setTimeout(300_000);

// ---- fixtures -------------------------------------------------------------------------------

type AppKey = 'alpha' | 'beta' | 'gamma' | 'delta';

interface Fixture {
  app: App;
  /** The webhook secret GitLab would send as X-Gitlab-Token (none: never issued). */
  secret?: string;
  /** Standard-Webhooks signing secret (whsec_…), when the app verifies signatures. */
  signingSecret?: string;
}

const als = new AsyncLocalStorage<number>();
let table: FreshTable;
let store: DynamoDbStore;
/** Each lane's own four apps. */
const lanes: Array<Record<AppKey, Fixture>> = [];
let handler: (event: HttpEvent, context: Context) => Promise<HttpResult>;
/** Writes and workflow starts, by the request (AsyncLocalStorage id) that made them. */
const effects = new Map<number | undefined, string[]>();
/** What the handler logged as unexpected (the stack of a would-be 500), by request. */
const logged = new Map<number | undefined, unknown[][]>();
let requestSeq = 0;
const REASONS = new Map<string, number>();
afterAll(() => {
  if (process.env.FUZZ_REASONS)
    console.log(
      [...REASONS]
        .sort((a, b) => b[1] - a[1])
        .slice(0, 60)
        .map(([k, v]) => `${v}\t${k}`)
        .join('\n'),
    );
});

/** Model of what the store must hold: 202s per app, and the build each delivery key started. */
const accepted: Record<string, number> = {};
const buildOfDelivery = new Map<string, string>();
const stats = { requests: 0, byStatus: {} as Record<number, number>, signedMalformed401: 0 };

const STORE_WRITES = new Set([
  'createApp',
  'updateApp',
  'deleteApp',
  'recordBuild',
  'transitionBuild',
  'updateBuildRun',
  'clearUnstartedBuild',
  'createRelease',
  'transitionRelease',
  'putGitlabConnection',
  'setSystemHookTokenHash',
]);

function record<T>(into: Map<number | undefined, T[]>, value: T): void {
  const request = als.getStore();
  const list = into.get(request);
  if (list) list.push(value);
  else into.set(request, [value]);
}

function spiedStore(target: DynamoDbStore): Store {
  return new Proxy(target, {
    get(obj, prop, receiver) {
      const value = Reflect.get(obj, prop, receiver);
      if (typeof value !== 'function') return value;
      if (!STORE_WRITES.has(String(prop))) return value.bind(obj);
      return (...args: unknown[]) => {
        record(effects, `store.${String(prop)}`);
        return value.apply(obj, args);
      };
    },
  }) as Store;
}

function spiedWorkflow(target: Workflow): Workflow {
  return {
    startRelease(input) {
      record(effects, 'workflow.startRelease');
      return target.startRelease(input);
    },
  };
}

async function makeApp(
  name: string,
  options: { branch: string; tags?: string; secret: boolean; signing?: boolean; disabled?: boolean },
  vault: LocalVault,
): Promise<Fixture> {
  let app = newApp({
    name,
    project: 'mike/diaspora',
    branch: options.branch,
    ...(options.tags ? { tags: options.tags } : {}),
  });
  await store.createApp(app);
  const fixture: Fixture = { app };
  if (options.secret) {
    const issued = await issueWebhookSecret(app, vault, options.signing ?? false);
    app = await store.updateApp(app.name, app.version, issued.patch);
    fixture.secret = issued.secret;
    if (issued.signingSecret) fixture.signingSecret = issued.signingSecret;
  }
  if (options.disabled) app = await store.updateApp(app.name, app.version, { status: 'disabled' });
  fixture.app = app;
  return fixture;
}

beforeAll(async () => {
  table = await freshTable();
  store = new DynamoDbStore({ tableName: table.tableName, client: table.client });
  const vault = LocalVault.fromKey(randomBytes(32));
  const total = LANES.mixed.lanes + LANES.signed.lanes + LANES.burst.lanes;
  for (let i = 0; i < total; i++) {
    lanes.push({
      // Secret only; builds master and v* tags.
      alpha: await makeApp(`alpha-${i}`, { branch: 'master', tags: 'v*', secret: true }, vault),
      // Secret and a Standard-Webhooks signing secret; builds any branch and any tag.
      beta: await makeApp(`beta-${i}`, { branch: '*', tags: '*', secret: true, signing: true }, vault),
      // Disabled: never builds.
      gamma: await makeApp(`gamma-${i}`, { branch: 'master', secret: true, disabled: true }, vault),
      // No secret issued yet: every delivery is unauthenticated.
      delta: await makeApp(`delta-${i}`, { branch: 'master', secret: false }, vault),
    });
  }
  const logger = new Logger({ serviceName: 'fuzz', logLevel: 'SILENT' });
  jest.spyOn(logger, 'error').mockImplementation((...args: unknown[]) => {
    record(logged, args);
  });
  handler = createProjectWebhookHandler({
    store: spiedStore(store),
    vault,
    workflow: spiedWorkflow(new RecordingWorkflow()),
    logger,
  });
});

afterAll(() => {
  table?.raw.destroy();
  // One line a reader can check the mix against (not an assertion).
  process.stdout.write(`webhook fuzz: ${JSON.stringify(stats)}\n`);
});

// ---- request specs (small, printable) and their materialisation -----------------------------

type Path = Array<string | number>;

type Mutation =
  | { op: 'remove'; path: Path }
  | { op: 'set'; path: Path; value: unknown }
  | { op: 'huge'; path: Path; size: number; unit: string }
  | { op: 'nest'; path: Path; depth: number; open: '[' | '{"a":' };

type BodySpec =
  | { kind: 'example'; file: string }
  | {
      kind: 'push';
      base: 'push.json' | 'tag_push.json';
      ref: string | null;
      after: string | null;
      project: string | null;
      mutations: Mutation[];
    }
  | { kind: 'json'; value: unknown }
  | { kind: 'text'; value: string }
  | { kind: 'bytes'; value: Uint8Array }
  | { kind: 'invalid-utf8'; file: string; inserts: Array<[number, readonly number[]]> }
  | { kind: 'truncated'; file: string; keep: number }
  | { kind: 'b64-garbage'; value: string }
  | { kind: 'empty' }
  | { kind: 'absent' }
  | { kind: 'huge'; variant: HugeVariant };

type HugeVariant = 'ascii-over' | 'multibyte-over' | 'b64-over' | 'exact-limit-push' | 'multibyte-under' | 'b64-under';

interface Spec {
  hook:
    | { kind: 'app'; app: AppKey }
    | { kind: 'unknown'; id: string }
    | { kind: 'raw'; id: string }
    | { kind: 'huge'; size: number }
    | { kind: 'missing' };
  token:
    | { kind: 'right' }
    | { kind: 'missing' }
    | { kind: 'other-app'; app: AppKey }
    | { kind: 'near'; how: 'append' | 'truncate' | 'flip' | 'pad' | 'upper' | 'prefix' | 'quote'; at: number }
    | { kind: 'value'; value: string };
  tokenHeader: string;
  body: BodySpec;
  contentType: string | undefined;
  event: string | undefined;
  key:
    | { kind: 'none' }
    | { kind: 'value'; header: 'Idempotency-Key' | 'X-Gitlab-Event-UUID'; value: string }
    | { kind: 'pool'; index: number };
  sig:
    | { kind: 'none' }
    | { kind: 'valid'; id: string; offset: number; extraBad: boolean }
    | { kind: 'stale'; id: string; offset: number }
    | { kind: 'wrong-secret'; id: string }
    | { kind: 'other-body'; id: string }
    | { kind: 'id-mismatch'; id: string }
    | { kind: 'partial'; id: string; missing: 'webhook-id' | 'webhook-timestamp' | 'webhook-signature' }
    | { kind: 'garbage'; id: string; timestamp: string; signature: string };
  base64: boolean;
  headerCase: 'lower' | 'canonical';
}

const EXAMPLES = () => gitlabExamples();
const EVENT_NAMES = () => [...new Set(EXAMPLES().map((e) => e.event))];

const PATHS: Path[] = [
  [],
  ['ref'],
  ['before'],
  ['after'],
  ['checkout_sha'],
  ['project'],
  ['project', 'id'],
  ['project', 'path_with_namespace'],
  ['project', 'git_ssh_url'],
  ['project_id'],
  ['commits'],
  ['commits', 0],
  ['commits', 1],
  ['commits', 1, 'id'],
  ['commits', 1, 'title'],
  ['commits', 1, 'message'],
  ['commits', 1, 'author'],
  ['commits', 1, 'author', 'name'],
  ['user_name'],
  ['user_username'],
  ['repository'],
  ['total_commits_count'],
  ['object_kind'],
  ['__proto__'],
  ['constructor'],
];

const arbPath: fc.Arbitrary<Path> = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom(...PATHS) },
  { weight: 1, arbitrary: fc.string({ maxLength: 12 }).map((k) => [k]) },
);

const arbMutation: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ op: fc.constant('remove' as const), path: arbPath }) },
  {
    weight: 4,
    arbitrary: fc.record({
      op: fc.constant('set' as const),
      path: arbPath,
      value: fc.oneof(
        fc.jsonValue({ maxDepth: 3 }),
        fc.string({ unit: 'binary', maxLength: 40 }),
        fc.constantFrom(null, true, 0, -1, 1e308, '', ZERO_SHA, 'A'.repeat(40), 'refs/heads/master', [], {}),
      ),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant('huge' as const),
      path: arbPath,
      size: fc.oneof(fc.integer({ min: 1000, max: 12_000 }), fc.integer({ min: 90_000, max: 110_000 })),
      unit: fc.constantFrom('a', '€', '😀', '\ud800', '\u0000', '\n'),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('nest' as const),
      path: arbPath,
      depth: fc.oneof(fc.integer({ min: 10, max: 1000 }), fc.integer({ min: 10_000, max: 200_000 })),
      open: fc.constantFrom('[' as const, '{"a":' as const),
    }),
  },
);

const arbBody: fc.Arbitrary<BodySpec> = fc.oneof(
  {
    // What GitLab sends most: its example push, untouched but for the commit (and, for the
    // tag example, the project, so that it concerns the apps).
    weight: 25,
    arbitrary: fc.record({
      kind: fc.constant('push' as const),
      base: fc.constantFrom('push.json' as const, 'tag_push.json' as const),
      ref: fc.constant(null),
      after: fc.oneof(fc.constant(null), fc.stringMatching(/^[0-9a-f]{40}$/)),
      project: fc.constant('mike/diaspora'),
      mutations: fc.constant<Mutation[]>([]),
    }),
  },
  {
    weight: 60,
    arbitrary: fc.record({
      kind: fc.constant('push' as const),
      base: fc.constantFrom('push.json' as const, 'tag_push.json' as const),
      ref: fc.oneof(
        { weight: 6, arbitrary: fc.constant(null) },
        {
          weight: 4,
          arbitrary: fc.constantFrom(
            'refs/heads/master',
            'refs/heads/feature/x',
            'refs/tags/v1.0.0',
            'refs/tags/release-1',
            'refs/heads/',
            'refs/tags/',
            'master',
            'refs/heads/master\u0000',
          ),
        },
        { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 30 }).map((s) => `refs/heads/${s}`) },
        { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 30 }) },
      ),
      after: fc.oneof(
        { weight: 6, arbitrary: fc.constant(null) },
        { weight: 1, arbitrary: fc.constant(ZERO_SHA) },
        { weight: 1, arbitrary: fc.stringMatching(/^[0-9a-f]{40}$/) },
        { weight: 1, arbitrary: fc.string({ maxLength: 45 }) },
      ),
      project: fc.oneof(
        { weight: 8, arbitrary: fc.constant('mike/diaspora') },
        { weight: 2, arbitrary: fc.constant(null) },
        { weight: 1, arbitrary: fc.constantFrom('MIKE/Diaspora', 'other/project', '', 'mike/diaspora/') },
      ),
      mutations: fc.oneof(
        { weight: 5, arbitrary: fc.constant<Mutation[]>([]) },
        { weight: 2, arbitrary: fc.array(arbMutation, { minLength: 1, maxLength: 4 }) },
      ),
    }),
  },
  {
    weight: 15,
    arbitrary: fc.record({
      kind: fc.constant('example' as const),
      file: fc.constantFrom(...EXAMPLES().map((e) => e.file)),
    }),
  },
  { weight: 8, arbitrary: fc.record({ kind: fc.constant('json' as const), value: fc.jsonValue({ maxDepth: 4 }) }) },
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('text' as const), value: fc.string({ unit: 'binary' }) }) },
  {
    weight: 5,
    arbitrary: fc.record({ kind: fc.constant('bytes' as const), value: fc.uint8Array({ maxLength: 300 }) }),
  },
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('invalid-utf8' as const),
      file: fc.constantFrom('push.json', 'tag_push.json', 'issue.json'),
      inserts: fc.array(
        fc.tuple(
          fc.nat(),
          fc.constantFrom(
            [0x80],
            [0xc3],
            [0xff],
            [0xfe, 0xff],
            [0xed, 0xa0, 0x80],
            [0xf5, 0x80, 0x80, 0x80],
            [0xc0, 0xaf],
          ),
        ),
        { minLength: 1, maxLength: 3 },
      ),
    }),
  },
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('truncated' as const),
      file: fc.constantFrom('push.json', 'tag_push.json'),
      keep: fc.nat(),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('b64-garbage' as const), value: fc.string() }) },
  { weight: 2, arbitrary: fc.constant({ kind: 'empty' as const }) },
  { weight: 2, arbitrary: fc.constant({ kind: 'absent' as const }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('huge' as const),
      variant: fc.constantFrom<HugeVariant>(
        'ascii-over',
        'multibyte-over',
        'b64-over',
        'exact-limit-push',
        'multibyte-under',
        'b64-under',
      ),
    }),
  },
);

const printable = fc.stringMatching(/^[\x21-\x7e]{1,40}$/);

const APP_WEIGHT: Record<AppKey, number> = { alpha: 4, beta: 3, gamma: 1, delta: 1 };

function specArbitrary(options: { apps?: AppKey[]; signed?: boolean } = {}): fc.Arbitrary<Spec> {
  const apps: AppKey[] = options.apps ?? ['alpha', 'beta', 'gamma', 'delta'];
  // Mostly the apps that can build, so that the deeper paths are reached often.
  const weighted = apps.flatMap((app) => Array<AppKey>(APP_WEIGHT[app]).fill(app));
  const hook: fc.Arbitrary<Spec['hook']> = options.apps
    ? fc.record({ kind: fc.constant('app' as const), app: fc.constantFrom(...weighted) })
    : fc.oneof(
        { weight: 70, arbitrary: fc.record({ kind: fc.constant('app' as const), app: fc.constantFrom(...weighted) }) },
        {
          weight: 7,
          arbitrary: fc.record({
            kind: fc.constant('unknown' as const),
            id: fc.stringMatching(/^[A-Za-z0-9_-]{16,64}$/),
          }),
        },
        {
          weight: 5,
          arbitrary: fc.record({
            kind: fc.constant('raw' as const),
            id: fc.oneof(
              fc.string({ unit: 'binary', maxLength: 80 }),
              fc.constantFrom('', '..', '../../v1/apps', 'AAAAAAAAAAAAAAA', 'A'.repeat(65), '%00', 'a/b'),
            ),
          }),
        },
        {
          weight: 2,
          arbitrary: fc.record({ kind: fc.constant('huge' as const), size: fc.integer({ min: 65, max: 100_000 }) }),
        },
        { weight: 2, arbitrary: fc.constant({ kind: 'missing' as const }) },
      );
  const token: fc.Arbitrary<Spec['token']> = fc.oneof(
    { weight: options.signed ? 80 : 90, arbitrary: fc.constant({ kind: 'right' as const }) },
    { weight: 10, arbitrary: fc.constant({ kind: 'missing' as const }) },
    { weight: 8, arbitrary: fc.record({ kind: fc.constant('other-app' as const), app: fc.constantFrom(...apps) }) },
    {
      weight: 15,
      arbitrary: fc.record({
        kind: fc.constant('near' as const),
        how: fc.constantFrom(
          'append' as const,
          'truncate' as const,
          'flip' as const,
          'pad' as const,
          'upper' as const,
          'prefix' as const,
          'quote' as const,
        ),
        at: fc.nat(),
      }),
    },
    {
      weight: 10,
      arbitrary: fc.record({
        kind: fc.constant('value' as const),
        value: fc.oneof(
          fc.string({ unit: 'binary', maxLength: 64 }),
          fc.constantFrom('', ' ', 'null', 'undefined', '0'.repeat(64), 'x'.repeat(10_000)),
        ),
      }),
    },
  );
  const sig: fc.Arbitrary<Spec['sig']> = fc.oneof(
    { weight: options.signed ? 3 : 5, arbitrary: fc.constant({ kind: 'none' as const }) },
    {
      weight: 16,
      arbitrary: fc.record({
        kind: fc.constant('valid' as const),
        id: fc.oneof(fc.stringMatching(/^msg_[A-Za-z0-9]{1,30}$/), fc.string({ unit: 'binary', maxLength: 20 })),
        offset: fc.integer({ min: -200, max: 200 }),
        extraBad: fc.boolean(),
      }),
    },
    {
      weight: 2,
      arbitrary: fc.record({
        kind: fc.constant('stale' as const),
        id: printable,
        offset: fc.oneof(fc.integer({ min: -10_000_000, max: -400 }), fc.integer({ min: 400, max: 10_000_000 })),
      }),
    },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('wrong-secret' as const), id: printable }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('other-body' as const), id: printable }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('id-mismatch' as const), id: printable }) },
    {
      weight: 1,
      arbitrary: fc.record({
        kind: fc.constant('partial' as const),
        id: printable,
        missing: fc.constantFrom('webhook-id' as const, 'webhook-timestamp' as const, 'webhook-signature' as const),
      }),
    },
    {
      weight: 2,
      arbitrary: fc.record({
        kind: fc.constant('garbage' as const),
        id: fc.string({ maxLength: 20 }),
        timestamp: fc.oneof(
          fc.string({ maxLength: 20 }),
          fc.constantFrom('', '-1', '1e10', 'NaN', '9'.repeat(400), '0x10', `${Math.floor(Date.now() / 1000)}abc`),
        ),
        signature: fc.oneof(
          fc.string({ unit: 'binary', maxLength: 120 }),
          fc.constantFrom('v1,', 'v1', ',', 'v1,AAAA', ' '.repeat(10), 'v1,x '.repeat(2000)),
        ),
      }),
    },
  );
  return fc.record({
    hook,
    token,
    tokenHeader: fc.constantFrom('x-gitlab-token', 'x-gitlab-token', 'X-Gitlab-Token', 'X-GITLAB-TOKEN'),
    body: arbBody,
    contentType: fc.oneof(
      { weight: 24, arbitrary: fc.constant('application/json') },
      {
        weight: 6,
        arbitrary: fc.constantFrom(
          'application/json; charset=utf-8',
          'Application/JSON',
          'application/vnd.gitlab+json',
          'text/plain',
          'application/x-www-form-urlencoded',
          'multipart/form-data; boundary=x',
          'application/jsonx',
          ';application/json',
          '',
          undefined,
        ),
      },
      { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
    ),
    // null: the header that matches the body (what GitLab does), resolved at materialisation.
    event: fc.oneof(
      { weight: 16, arbitrary: fc.constant<string | undefined>('<matching>') },
      { weight: 6, arbitrary: fc.constantFrom<string | undefined>(...EVENT_NAMES(), 'Push Hook', 'Tag Push Hook') },
      {
        weight: 2,
        arbitrary: fc.constantFrom<string | undefined>(
          undefined,
          '',
          'push hook',
          ' Push Hook',
          'Push Hook ',
          'PUSH HOOK',
          // Names every plain object answers to.
          'toString',
          'constructor',
          '__proto__',
          'hasOwnProperty',
        ),
      },
      { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 30 }) },
    ),
    key: fc.oneof(
      { weight: 3, arbitrary: fc.constant({ kind: 'none' as const }) },
      {
        weight: 8,
        arbitrary: fc.record({ kind: fc.constant('pool' as const), index: fc.integer({ min: 0, max: 7 }) }),
      },
      {
        weight: 12,
        arbitrary: fc.record({
          kind: fc.constant('value' as const),
          header: fc.constantFrom('Idempotency-Key' as const, 'X-Gitlab-Event-UUID' as const),
          value: fc.oneof(
            { weight: 8, arbitrary: fc.uuid() },
            { weight: 3, arbitrary: printable },
            { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
            { weight: 1, arbitrary: printable.map((s) => `  ${s}\t`) },
            { weight: 1, arbitrary: fc.integer({ min: 199, max: 5000 }).map((n) => 'k'.repeat(n)) },
            { weight: 1, arbitrary: fc.constantFrom('', ' ', 'ключ', 'key with spaces', 'a\u0000b', '\u00e9') },
          ),
        }),
      },
    ),
    sig,
    base64: fc.integer({ min: 0, max: 3 }).map((n) => n === 0),
    headerCase: fc.constantFrom('lower' as const, 'lower' as const, 'canonical' as const),
  });
}

// Materialisation ----------------------------------------------------------------------------

function clone<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

function applyMutation(root: Record<string, unknown>, m: Mutation, markers: Map<string, string>): void {
  if (m.path.length === 0) {
    if (m.op === 'set' && m.value !== null && typeof m.value === 'object' && !Array.isArray(m.value)) {
      Object.assign(root, m.value);
    }
    return;
  }
  let parent: unknown = root;
  for (const step of m.path.slice(0, -1)) {
    if (parent === null || typeof parent !== 'object') return;
    parent = (parent as Record<string | number, unknown>)[step];
  }
  if (parent === null || typeof parent !== 'object') return;
  const last = m.path[m.path.length - 1] as string | number;
  const target = parent as Record<string | number, unknown>;
  switch (m.op) {
    case 'remove':
      delete target[last];
      return;
    case 'set':
      Object.defineProperty(target, last, { value: m.value, enumerable: true, writable: true, configurable: true });
      return;
    case 'huge':
      target[last] = m.unit.repeat(Math.ceil(m.size / m.unit.length));
      return;
    case 'nest': {
      // Built as text: serialising a 200,000-deep value would overflow this test's own stack.
      const marker = `__nest_${markers.size}__`;
      const close = m.open === '[' ? ']' : '}';
      markers.set(JSON.stringify(marker), `${m.open.repeat(m.depth)}1${close.repeat(m.depth)}`);
      target[last] = marker;
      return;
    }
  }
}

function pushText(spec: Extract<BodySpec, { kind: 'push' }>): string {
  const body = clone(gitlabExample(spec.base).body);
  if (spec.ref !== null) body.ref = spec.ref;
  if (spec.after !== null) {
    body.after = spec.after;
    body.checkout_sha = spec.after === ZERO_SHA ? null : spec.after;
  }
  if (spec.project !== null && body.project && typeof body.project === 'object') {
    (body.project as Record<string, unknown>).path_with_namespace = spec.project;
  }
  const markers = new Map<string, string>();
  for (const m of spec.mutations) applyMutation(body, m, markers);
  let text = JSON.stringify(body);
  for (const [marker, nested] of markers) text = text.replace(marker, nested);
  return text;
}

const hugeCache = new Map<HugeVariant, { body: string; base64: boolean }>();

function huge(variant: HugeVariant): { body: string; base64: boolean } {
  const cached = hugeCache.get(variant);
  if (cached) return cached;
  let made: { body: string; base64: boolean };
  switch (variant) {
    case 'ascii-over':
      made = { body: `{"pad":"${'x'.repeat(MAX_BODY_BYTES)}"}`, base64: false };
      break;
    case 'multibyte-over':
      // Fewer UTF-16 units than the limit, more UTF-8 bytes.
      made = { body: `{"pad":"${'€'.repeat(1_800_000)}"}`, base64: false };
      break;
    case 'b64-over':
      made = { body: Buffer.alloc(MAX_BODY_BYTES + 1, 0x7b).toString('base64'), base64: true };
      break;
    case 'exact-limit-push': {
      const base = JSON.stringify({ ...gitlabExample('push.json').body, pad: '' });
      made = {
        body: JSON.stringify({ ...gitlabExample('push.json').body, pad: 'x'.repeat(MAX_BODY_BYTES - base.length) }),
        base64: false,
      };
      break;
    }
    case 'multibyte-under':
      made = { body: `{"pad":"${'€'.repeat(1_700_000)}"}`, base64: false };
      break;
    case 'b64-under':
      made = { body: Buffer.from(`{"pad":"${'y'.repeat(MAX_BODY_BYTES - 4000)}"}`).toString('base64'), base64: true };
      break;
  }
  hugeCache.set(variant, made);
  return made;
}

/** The body as API Gateway would pass it: text, or base64 with the flag. */
function materialiseBody(spec: BodySpec, base64: boolean): { body: string | undefined; isBase64Encoded: boolean } {
  const text = (value: string) =>
    base64
      ? { body: Buffer.from(value, 'utf8').toString('base64'), isBase64Encoded: true }
      : { body: value, isBase64Encoded: false };
  const bytes = (value: Uint8Array) => ({ body: Buffer.from(value).toString('base64'), isBase64Encoded: true });
  switch (spec.kind) {
    case 'example':
      return text(gitlabExample(spec.file).raw);
    case 'push':
      return text(pushText(spec));
    case 'json':
      return text(JSON.stringify(spec.value) ?? 'null');
    case 'text':
      return text(spec.value);
    case 'bytes':
      return bytes(spec.value);
    case 'invalid-utf8': {
      let raw = Buffer.from(gitlabExample(spec.file).raw, 'utf8');
      for (const [at, inserted] of spec.inserts) {
        const i = at % (raw.length + 1);
        raw = Buffer.concat([raw.subarray(0, i), Buffer.from(inserted), raw.subarray(i)]);
      }
      return bytes(raw);
    }
    case 'truncated': {
      const raw = gitlabExample(spec.file).raw;
      return text(raw.slice(0, spec.keep % raw.length));
    }
    case 'b64-garbage':
      return { body: `${spec.value}!*~`, isBase64Encoded: true };
    case 'empty':
      return text('');
    case 'absent':
      return { body: undefined, isBase64Encoded: base64 };
    case 'huge':
      return (({ body, base64: flagged }) => ({ body, isBase64Encoded: flagged }))(huge(spec.variant));
  }
}

function exampleEventFor(spec: BodySpec): string | undefined {
  switch (spec.kind) {
    case 'example':
    case 'invalid-utf8':
    case 'truncated':
      return gitlabExample(spec.file).event;
    case 'push':
      return gitlabExample(spec.base).event;
    default:
      return 'Push Hook';
  }
}

function nearMiss(secret: string, how: Extract<Spec['token'], { kind: 'near' }>['how'], at: number): string {
  const i = at % secret.length;
  switch (how) {
    case 'append':
      return `${secret}x`;
    case 'truncate':
      return secret.slice(0, -1 - (at % 4));
    case 'flip': {
      const c = secret[i] === 'A' ? 'B' : 'A';
      return secret.slice(0, i) + c + secret.slice(i + 1);
    }
    case 'pad':
      return ` ${secret}\n`;
    case 'upper':
      return secret.toUpperCase();
    case 'prefix':
      return `Bearer ${secret}`;
    case 'quote':
      return `"${secret}"`;
  }
}

const CANONICAL: Record<string, string> = {
  'content-type': 'Content-Type',
  'x-gitlab-event': 'X-Gitlab-Event',
  'idempotency-key': 'Idempotency-Key',
  'x-gitlab-event-uuid': 'X-Gitlab-Event-UUID',
  'webhook-id': 'Webhook-Id',
  'webhook-timestamp': 'Webhook-Timestamp',
  'webhook-signature': 'Webhook-Signature',
  'user-agent': 'User-Agent',
};

interface Materialised {
  event: HttpEvent;
  fixture: Fixture | undefined;
  authenticated: boolean;
  /** Decoded body size (what rawBody gives) and the size checkSize estimates from the string. */
  bodyBytes: Buffer;
  approxSize: number;
  /** The delivery key the handler will use, when valid; 'invalid' when it must be refused. */
  deliveryKey: string | undefined | 'invalid';
  eventName: string | undefined;
  contentType: string | undefined;
}

function materialise(spec: Spec, fixtures: Record<AppKey, Fixture>, poolPrefix: string): Materialised {
  const fixture = spec.hook.kind === 'app' ? fixtures[spec.hook.app] : undefined;
  const hookId =
    spec.hook.kind === 'app'
      ? fixtures[spec.hook.app].app.hookId
      : spec.hook.kind === 'unknown' || spec.hook.kind === 'raw'
        ? spec.hook.id
        : spec.hook.kind === 'huge'
          ? 'A'.repeat(spec.hook.size)
          : undefined;
  const rightSecret = (fixture ?? fixtures.alpha).secret ?? fixtures.alpha.secret ?? '';

  let token: string | undefined;
  switch (spec.token.kind) {
    case 'right':
      token = rightSecret;
      break;
    case 'missing':
      token = undefined;
      break;
    case 'other-app':
      token = fixtures[spec.token.app].secret;
      break;
    case 'near':
      token = nearMiss(rightSecret, spec.token.how, spec.token.at);
      break;
    case 'value':
      token = spec.token.value;
      break;
  }

  const { body, isBase64Encoded } = materialiseBody(spec.body, spec.base64);
  const bodyBytes =
    body === undefined ? Buffer.alloc(0) : isBase64Encoded ? Buffer.from(body, 'base64') : Buffer.from(body, 'utf8');
  const approxSize = body === undefined ? 0 : isBase64Encoded ? Math.floor((body.length * 3) / 4) : body.length;
  const eventName = spec.event === '<matching>' ? exampleEventFor(spec.body) : spec.event;

  const headers: Record<string, string> = {};
  const put = (name: string, value: string | undefined) => {
    if (value === undefined) return;
    headers[spec.headerCase === 'canonical' ? (CANONICAL[name] ?? name) : name] = value;
  };
  put('user-agent', 'GitLab/18.6.0');
  put('content-type', spec.contentType);
  put('x-gitlab-event', eventName);
  if (token !== undefined) headers[spec.tokenHeader] = token;

  let keyValue: string | undefined;
  if (spec.key.kind === 'pool') {
    keyValue = `${poolPrefix}-${spec.key.index}`;
    put('idempotency-key', keyValue);
  } else if (spec.key.kind === 'value') {
    keyValue = spec.key.value;
    put(spec.key.header.toLowerCase(), keyValue);
  }
  const trimmed = keyValue?.trim();
  const deliveryKey =
    trimmed === undefined
      ? undefined
      : trimmed.length >= 1 && trimmed.length <= 200 && /^[\x21-\x7e]+$/.test(trimmed)
        ? trimmed
        : 'invalid';

  // Standard-Webhooks headers, signed (or not) over the bytes the handler will see.
  let signatureOk = false;
  const signingSecret = fixture?.signingSecret ?? fixtures.beta.signingSecret ?? '';
  const nowSeconds = Math.floor(Date.now() / 1000);
  const sign = (secret: string, id: string, seconds: number, payload: Buffer) =>
    new Webhook(secret).sign(id, new Date(seconds * 1000), payload);
  const sig = spec.sig;
  switch (sig.kind) {
    case 'none':
      break;
    case 'valid': {
      const seconds = nowSeconds + sig.offset;
      const good = sign(signingSecret, sig.id, seconds, bodyBytes);
      put('webhook-id', sig.id);
      put('webhook-timestamp', String(seconds));
      put('webhook-signature', sig.extraBad ? `v1,${Buffer.alloc(32).toString('base64')} ${good}` : good);
      signatureOk = sig.id.length > 0;
      break;
    }
    case 'stale': {
      const seconds = nowSeconds + sig.offset;
      put('webhook-id', sig.id);
      put('webhook-timestamp', String(seconds));
      put('webhook-signature', sign(signingSecret, sig.id, seconds, bodyBytes));
      break;
    }
    case 'wrong-secret':
      put('webhook-id', sig.id);
      put('webhook-timestamp', String(nowSeconds));
      put('webhook-signature', sign(`whsec_${randomBytes(32).toString('base64')}`, sig.id, nowSeconds, bodyBytes));
      break;
    case 'other-body':
      put('webhook-id', sig.id);
      put('webhook-timestamp', String(nowSeconds));
      put('webhook-signature', sign(signingSecret, sig.id, nowSeconds, Buffer.concat([bodyBytes, Buffer.from(' ')])));
      break;
    case 'id-mismatch':
      put('webhook-id', `${sig.id}x`);
      put('webhook-timestamp', String(nowSeconds));
      put('webhook-signature', sign(signingSecret, sig.id, nowSeconds, bodyBytes));
      break;
    case 'partial': {
      put('webhook-id', sig.id);
      put('webhook-timestamp', String(nowSeconds));
      put('webhook-signature', sign(signingSecret, sig.id, nowSeconds, bodyBytes));
      const name = spec.headerCase === 'canonical' ? (CANONICAL[sig.missing] ?? sig.missing) : sig.missing;
      delete headers[name];
      break;
    }
    case 'garbage':
      put('webhook-id', sig.id);
      put('webhook-timestamp', sig.timestamp);
      put('webhook-signature', sig.signature);
      break;
  }

  const tokenOk = fixture?.secret !== undefined && token === fixture.secret;
  const authenticated = tokenOk && (fixture?.signingSecret === undefined || signatureOk);

  const path = `/hooks/gitlab/${hookId ?? ''}`;
  const now = new Date();
  const requestId = `fuzz-${requestSeq + 1}`;
  const event: HttpEvent = {
    version: '2.0',
    routeKey: 'POST /hooks/gitlab/{hookId}',
    rawPath: path,
    rawQueryString: '',
    headers,
    ...(hookId !== undefined ? { pathParameters: { hookId } } : {}),
    requestContext: {
      accountId: '000000000000',
      apiId: 'fuzz',
      domainName: 'fuzz.local',
      domainPrefix: 'fuzz',
      http: { method: 'POST', path, protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'GitLab/18.6.0' },
      requestId,
      routeKey: 'POST /hooks/gitlab/{hookId}',
      stage: '$default',
      time: now.toUTCString(),
      timeEpoch: now.getTime(),
    },
    ...(body !== undefined ? { body } : {}),
    isBase64Encoded,
  };
  return {
    event,
    fixture,
    authenticated,
    bodyBytes,
    approxSize,
    deliveryKey,
    eventName,
    contentType: spec.contentType,
  };
}

function lambdaContext(requestId: string): Context {
  return {
    awsRequestId: requestId,
    functionName: 'project-webhook',
    functionVersion: '$LATEST',
    invokedFunctionArn: 'arn:aws:lambda:local:000000000000:function:project-webhook',
    memoryLimitInMB: '512',
    logGroupName: '/aws/lambda/project-webhook',
    logStreamName: 'fuzz',
    callbackWaitsForEmptyEventLoop: false,
    getRemainingTimeInMillis: () => 10_000,
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

// ---- the checks -----------------------------------------------------------------------------

function fail(message: string, m: Materialised, extra: unknown = ''): never {
  const headers = Object.fromEntries(
    Object.entries(m.event.headers ?? {}).map(([k, v]) => [
      k,
      v && v.length > 120 ? `${v.slice(0, 120)}…(${v.length})` : v,
    ]),
  );
  const body = m.event.body ?? '';
  throw new Error(
    `${message}\n  hook: ${String(m.event.pathParameters?.hookId).slice(0, 80)} (app ${m.fixture?.app.name ?? 'none'})` +
      `\n  authenticated: ${m.authenticated}\n  headers: ${JSON.stringify(headers)}` +
      `\n  body (${body.length} chars, base64 ${m.event.isBase64Encoded}): ${JSON.stringify(body.slice(0, 300))}` +
      `${extra ? `\n  ${typeof extra === 'string' ? extra : JSON.stringify(extra)}` : ''}`,
  );
}

function isJsonContentType(value: string | undefined): 'yes' | 'no' | 'unknown' {
  if (
    value === undefined ||
    value === '' ||
    /^(text\/plain|application\/x-www-form-urlencoded|multipart\/)/.test(value)
  )
    return 'no';
  if (value === 'application/jsonx' || value === ';application/json') return 'no';
  if (/^application\/(json|vnd\.gitlab\+json)(;.*)?$/i.test(value)) return 'yes';
  return 'unknown';
}

function parsesAsJson(bytes: Buffer): boolean {
  try {
    JSON.parse(bytes.toString('utf8'));
    return true;
  } catch {
    return false;
  }
}

/** The app's newest builds, as ids: a build written meanwhile shows up here. */
async function newestBuilds(app: string): Promise<string> {
  return (await store.listBuilds(app, { limit: 3 })).map((b) => b.id).join(',');
}

/**
 * Last `newestBuilds` seen per app. A lane sends one request at a time to apps no other lane
 * uses, so an entry stays true until an authenticated request to that app (which drops it).
 */
const newestSeen = new Map<string, string>();

/** Sends one request through the handler and checks every per-request property. */
async function send(m: Materialised, options: { compareBuilds: boolean }): Promise<HttpResult> {
  const request = ++requestSeq;
  const appName = m.fixture?.app.name;
  const compare = options.compareBuilds && !m.authenticated && appName !== undefined;
  const before = compare ? (newestSeen.get(appName) ?? (await newestBuilds(appName))) : undefined;
  if (appName !== undefined && m.authenticated) newestSeen.delete(appName);

  let result: HttpResult;
  try {
    result = await als.run(request, () => handler(m.event, lambdaContext(`fuzz-${request}`)));
  } catch (error) {
    fail('the handler threw', m, (error as Error)?.stack ?? String(error));
  }
  stats.requests += 1;
  const status = result?.statusCode;
  stats.byStatus[status] = (stats.byStatus[status] ?? 0) + 1;
  if (process.env.FUZZ_REASONS) {
    const r = `${status} ${m.fixture?.app.name.split('-')[0]} ${String(result?.body)
      .replace(/[0-9A-Z]{26}/g, '…')
      .slice(0, 70)}`;
    REASONS.set(r, (REASONS.get(r) ?? 0) + 1);
  }

  // Never a 5xx, never a status outside the contract, always a JSON body.
  const errors = logged.get(request) ?? [];
  if (typeof status !== 'number' || status >= 500) {
    fail(`answered ${status}`, m, { body: result?.body, logged: errors.map((a) => stackOf(a)) });
  }
  if (!ALLOWED.has(status)) fail(`answered ${status}, outside the contract's set`, m, result.body);
  let answer: Record<string, unknown>;
  try {
    answer = JSON.parse(result.body) as Record<string, unknown>;
  } catch {
    fail(`answered ${status} with a body that is not JSON`, m, result.body);
  }
  if (answer === null || typeof answer !== 'object' || Array.isArray(answer)) fail('answer is not a JSON object', m);
  const contentType = Object.entries(result.headers ?? {}).find(([k]) => k.toLowerCase() === 'content-type')?.[1];
  if (!String(contentType).startsWith('application/json')) fail(`answered content-type ${contentType}`, m);

  // Size first: over the limit is 413 whatever else is wrong.
  const over = m.bodyBytes.length > MAX_BODY_BYTES;
  if (over && status !== 413) fail(`a ${m.bodyBytes.length}-byte body got ${status}, not 413`, m);
  if (status === 413 && !over && m.approxSize <= MAX_BODY_BYTES && m.bodyBytes.length < MAX_BODY_BYTES - 3) {
    fail(`a ${m.bodyBytes.length}-byte body got 413`, m);
  }

  // Unauthenticated: 404 (unknown hook) or 401, and no effect at all.
  const mine = effects.get(request) ?? [];
  if (!m.authenticated) {
    if (status === 202) fail('an unauthenticated request got 202', m, result.body);
    if (mine.length > 0) fail(`an unauthenticated request had effects: ${mine.join(', ')}`, m);
    if (status !== 413) {
      const expected = m.fixture ? 401 : 404;
      if (status !== expected) fail(`an unauthenticated request got ${status}, not ${expected}`, m, result.body);
    }
    if (before !== undefined && appName) {
      const after = await newestBuilds(appName);
      if (after !== before) fail(`builds of ${appName} changed on an unauthenticated request`, m, { before, after });
      newestSeen.set(appName, after);
    }
    return result;
  }

  // Authenticated: the edge's own 4xx where the input says so, else 200/202.
  const signedApp = m.fixture?.signingSecret !== undefined;
  const json = parsesAsJson(m.bodyBytes);
  if (status === 401) {
    // standardwebhooks' verify() JSON-parses the payload once the signature matches and throws
    // on a non-JSON body, which the handler maps to 401 (not 400/415). Allowed, counted.
    if (!(signedApp && !json && m.bodyBytes.length > 0)) fail('an authenticated request got 401', m, result.body);
    stats.signedMalformed401 += 1;
    return result;
  }
  if (status === 404) fail('an authenticated request to a known hook got 404', m, result.body);
  if (status !== 413) {
    const jsonType = isJsonContentType(m.contentType);
    if (jsonType === 'no' && status !== 415) fail(`content-type ${m.contentType} got ${status}, not 415`, m);
    if (jsonType === 'yes') {
      if (status === 415) fail(`content-type ${m.contentType} got 415`, m);
      if (!json && status !== 400) fail(`a body that is not JSON got ${status}, not 400`, m, result.body);
      if (json && m.deliveryKey === 'invalid' && status !== 400) fail(`an invalid key got ${status}, not 400`, m);
      if (json && m.deliveryKey !== 'invalid' && !PUSH_EVENTS.has(m.eventName ?? '')) {
        if (status !== 200 || typeof answer.ignored !== 'string') {
          fail(`event ${m.eventName} got ${status} ${result.body}, not 200 ignored`, m);
        }
      }
    }
  }
  const app = m.fixture?.app as App;
  const deliveryId = m.deliveryKey && m.deliveryKey !== 'invalid' ? `${app.hookId}|${m.deliveryKey}` : undefined;
  if (status === 202) {
    if (app.status !== 'active') fail('a disabled app started a build', m, result.body);
    if (!PUSH_EVENTS.has(m.eventName ?? '')) fail(`event ${m.eventName} started a build`, m, result.body);
    const build = typeof answer.build === 'string' ? await store.getBuild(app.name, answer.build) : undefined;
    if (!build) fail('a 202 named a build that is not in the store', m, result.body);
    if (deliveryId) {
      const earlier = buildOfDelivery.get(deliveryId);
      if (earlier !== undefined) fail(`a second build for one delivery key (first ${earlier})`, m, result.body);
      buildOfDelivery.set(deliveryId, build.id);
    }
    accepted[app.name] = (accepted[app.name] ?? 0) + 1;
  } else if (answer.duplicate === true) {
    // A duplicate of the push itself (or of a signed webhook-id) needs no delivery key: it names
    // a build the app holds.
    const named = typeof answer.build === 'string' ? await store.getBuild(app.name, answer.build) : undefined;
    if (!named) fail('a duplicate answer named a build that is not in the store', m, result.body);
    if (!deliveryId) return result;
    const earlier = buildOfDelivery.get(deliveryId);
    // In a concurrent batch the first answer may not have been checked yet; checked after it.
    if (earlier !== undefined && answer.build !== earlier) fail(`duplicate names ${answer.build}, not ${earlier}`, m);
  } else if (mine.includes('store.recordBuild') && status === 200 && typeof answer.ignored === 'string') {
    fail('an ignored delivery recorded a build', m, result.body);
  }
  return result;
}

function stackOf(args: unknown[]): string {
  for (const a of args) {
    if (a && typeof a === 'object' && 'error' in a) {
      const e = (a as { error: unknown }).error;
      return e instanceof Error ? (e.stack ?? e.message) : String(e);
    }
  }
  return JSON.stringify(args).slice(0, 2000);
}

async function assertStoreMatchesModel(): Promise<void> {
  for (const f of lanes.flatMap((lane) => Object.values(lane))) {
    const builds = await store.listBuilds(f.app.name);
    expect({ app: f.app.name, builds: builds.length }).toEqual({ app: f.app.name, builds: accepted[f.app.name] ?? 0 });
  }
}

// ---- the properties -------------------------------------------------------------------------

/** Runs `lanes` copies of a property side by side, lane i on lane i's apps with seed SEED + i. */
async function inLanes<T>(
  first: number,
  count: number,
  runs: number,
  arbitrary: fc.Arbitrary<T>,
  body: (value: T, fixtures: Record<AppKey, Fixture>, lane: number) => Promise<void>,
): Promise<void> {
  await Promise.all(
    Array.from({ length: count }, (_, k) => {
      const lane = first + k;
      const fixtures = lanes[lane] as Record<AppKey, Fixture>;
      return fc.assert(
        fc.asyncProperty(arbitrary, (value) => body(value, fixtures, lane)),
        { seed: SEED + lane, numRuns: runs, endOnFailure: false },
      );
    }),
  );
}

const MIXED_FIRST = 0;
const SIGNED_FIRST = LANES.mixed.lanes;
const BURST_FIRST = SIGNED_FIRST + LANES.signed.lanes;

describe('project webhook handler under generated input', () => {
  it(`answers ${LANES.mixed.lanes * LANES.mixed.runs} mixed requests inside the contract, never building for the unauthenticated`, async () => {
    await inLanes(MIXED_FIRST, LANES.mixed.lanes, LANES.mixed.runs, specArbitrary(), async (spec, fixtures, lane) => {
      await send(materialise(spec, fixtures, `mixed-${lane}`), { compareBuilds: true });
    });
    await assertStoreMatchesModel();
  });

  it(`verifies Standard-Webhooks signatures on ${LANES.signed.lanes * LANES.signed.runs} signed deliveries`, async () => {
    await inLanes(
      SIGNED_FIRST,
      LANES.signed.lanes,
      LANES.signed.runs,
      specArbitrary({ apps: ['beta'], signed: true }),
      async (spec, fixtures, lane) => {
        await send(materialise(spec, fixtures, `signed-${lane}`), { compareBuilds: true });
      },
    );
    await assertStoreMatchesModel();
  });

  it(`holds under ${LANES.burst.lanes * LANES.burst.runs} concurrent bursts (GitLab redelivering one delivery among others)`, async () => {
    let burst = 0;
    await inLanes(
      BURST_FIRST,
      LANES.burst.lanes,
      LANES.burst.runs,
      fc.tuple(
        fc.array(specArbitrary({ apps: ['alpha', 'beta', 'gamma', 'delta'] }), { minLength: 2, maxLength: 6 }),
        fc.boolean(),
      ),
      async ([specs, sameKey], fixtures, lane) => {
        burst += 1;
        const requests = specs.map((spec) => {
          // Half the bursts: every request carries one fresh key, like a redelivery storm.
          const keyed: Spec = sameKey ? { ...spec, key: { kind: 'pool', index: 0 } } : spec;
          return materialise(keyed, fixtures, sameKey ? `burst-${burst}` : `conc-${lane}`);
        });
        const results = await Promise.all(requests.map((m) => send(m, { compareBuilds: false })));
        // At most one 202 per delivery key in the burst; every duplicate names that build.
        const started = new Set<string>();
        results.forEach((r, i) => {
          const m = requests[i] as Materialised;
          const key = m.deliveryKey;
          if (r.statusCode !== 202 || !key || key === 'invalid' || !m.fixture) return;
          const id = `${m.fixture.app.hookId}|${key}`;
          if (started.has(id)) fail('two 202s for one delivery key in a burst', m);
          started.add(id);
        });
        results.forEach((r, i) => {
          const m = requests[i] as Materialised;
          const answer = JSON.parse(r.body) as { duplicate?: boolean; build?: string };
          if (answer.duplicate !== true || !m.fixture || !m.deliveryKey) return;
          const first = buildOfDelivery.get(`${m.fixture.app.hookId}|${m.deliveryKey}`);
          // No first build for the key: a duplicate of a push (or webhook-id) seen under another key.
          if (first !== undefined && answer.build !== first) {
            fail(`duplicate names ${answer.build}, not the first build ${first}`, m);
          }
        });
      },
    );
    await assertStoreMatchesModel();
  });
});
