import { createServer } from 'node:net';
import { inspect } from 'node:util';
import { ProjectHooks } from '@gitbeaker/rest';
import { createGitlabApi, gitlabApiFactory } from '../../functions/adapters/gitlab/gitbeaker-client';
import { generateDeployKey } from '../../functions/adapters/ssh/deploy-key';
import { GitlabError } from '../../functions/domain/errors';
import type { GitlabHookSpec } from '../../functions/domain/ports';
import { type GitlabStandin, startGitlabStandin } from '../support/gitlab-standin';

const TOKEN = 'glpat-standin-owner-0123456789';
const READ_ONLY = 'glpat-standin-readonly-0123456789';

const hookSpec: GitlabHookSpec = {
  url: 'https://slipway.example/hooks/gitlab/hk_123',
  token: 'whsec-hook-secret-abcdef',
  pushEvents: true,
  tagPushEvents: true,
  branchFilter: 'release/*',
  enableSslVerification: true,
};

/** The GitlabError a call failed with, checked to carry neither token in message, stack or cause. */
async function failureOf(call: Promise<unknown>): Promise<GitlabError> {
  const error = await call.then(
    () => {
      throw new Error('expected the call to fail');
    },
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(GitlabError);
  const everything = inspect(error, { depth: 10, showHidden: true });
  expect(everything).not.toContain(TOKEN);
  expect(everything).not.toContain(READ_ONLY);
  return error as GitlabError;
}

async function closedPort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as { port: number };
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

describe('the gitbeaker GitLab adapter against the stand-in, over real HTTP', () => {
  let gitlab: GitlabStandin;
  let projectId: number;

  beforeEach(async () => {
    gitlab = await startGitlabStandin();
    gitlab.addUser({
      username: 'platform-bot',
      token: TOKEN,
      scopes: ['api', 'read_repository'],
      expiresAt: '2099-12-31',
    });
    gitlab.addUser({ username: 'reader', token: READ_ONLY, scopes: ['read_api', 'read_user'] });
    projectId = gitlab.addProject({ path: 'acme/web-shop', id: 42 }).id;
  });

  afterEach(async () => {
    await gitlab.stop();
  });

  const api = (token = TOKEN) => createGitlabApi({ url: gitlab.url, token });

  it('tells who the token belongs to, its scopes and its expiry', async () => {
    const info = await api().inspectToken();

    expect(info).toEqual({ username: 'platform-bot', scopes: ['api', 'read_repository'], expiresAt: '2099-12-31' });
    const paths = gitlab.requests.map((r) => `${r.method} ${r.path}`).sort();
    expect(paths).toEqual(['GET /api/v4/personal_access_tokens/self', 'GET /api/v4/user']);
    expect(gitlab.requests.every((r) => r.headers['private-token'] === TOKEN)).toBe(true);
  });

  it('leaves out the expiry of a token that never expires', async () => {
    expect(await api(READ_ONLY).inspectToken()).toEqual({ username: 'reader', scopes: ['read_api', 'read_user'] });
  });

  it('reports a revoked token as unauthorized', async () => {
    gitlab.revoke(TOKEN);

    const error = await failureOf(api().inspectToken());

    expect(error.kind).toBe('unauthorized');
    expect(error.status).toBe(401);
    expect(error.message).toBe('GitLab refused the token (401): revoked, expired or wrong');
  });

  it('reports an unknown token and an expired one as unauthorized', async () => {
    gitlab.addUser({ username: 'old', token: 'glpat-expired-000000000000', scopes: ['api'], expiresAt: '2020-01-01' });

    expect((await failureOf(api('glpat-wrong-00000000000').inspectToken())).kind).toBe('unauthorized');
    expect((await failureOf(api('glpat-expired-000000000000').getProject('acme/web-shop'))).kind).toBe('unauthorized');
  });

  it('reports a token without the api scope as forbidden when it tries to write', async () => {
    const error = await failureOf(api(READ_ONLY).addHook(projectId, hookSpec));

    expect(error.kind).toBe('forbidden');
    expect(error.status).toBe(403);
    expect(error.message).toMatch(/api scope/);
    expect(gitlab.hooks(projectId)).toEqual([]);
  });

  it('reports a user below the Maintainer role as forbidden, naming the role', async () => {
    const guarded = gitlab.addProject({ path: 'acme/payments', members: { 'platform-bot': 'developer' } });

    const error = await failureOf(
      api().addDeployKey(guarded.id, { title: 't', key: generateDeployKey('x').publicKey }),
    );

    expect(error.kind).toBe('forbidden');
    expect(error.message).toMatch(/Maintainer/);
  });

  it('resolves a project by its path', async () => {
    const project = await api().getProject('acme/web-shop');

    expect(project).toEqual({ id: 42, path: 'acme/web-shop', sshUrl: 'git@127.0.0.1:acme/web-shop.git' });
    expect(gitlab.requests[0]?.path).toBe('/api/v4/projects/acme%2Fweb-shop');
  });

  it('reports an unknown project as not found, naming it', async () => {
    const error = await failureOf(api().getProject('acme/nope'));

    expect(error.kind).toBe('not_found');
    expect(error.status).toBe(404);
    expect(error.message).toMatch(/acme\/nope/);
  });

  it('adds a project hook with the secret token, push and tag events, branch filter and SSL verification', async () => {
    const hookId = await api().addHook(projectId, hookSpec);

    const [hook, ...others] = gitlab.hooks(projectId);
    expect(others).toEqual([]);
    expect(hook).toMatchObject({
      id: hookId,
      project_id: 42,
      url: hookSpec.url,
      token: hookSpec.token,
      push_events: true,
      tag_push_events: true,
      push_events_branch_filter: 'release/*',
      enable_ssl_verification: true,
      merge_requests_events: false,
    });
    const post = gitlab.requests.find((r) => r.method === 'POST');
    expect(post?.path).toBe('/api/v4/projects/42/hooks');
    expect(post?.status).toBe(201);
  });

  it('reports a hook URL GitLab refuses as invalid, with what GitLab said', async () => {
    const error = await failureOf(api().addHook(projectId, { ...hookSpec, url: 'ftp://slipway.example/x' }));

    expect(error.kind).toBe('invalid');
    expect(error.status).toBe(422);
    expect(error.message).toMatch(/Invalid url given/);
  });

  it('adds a read-only deploy key', async () => {
    const key = generateDeployKey('slipway web-shop');

    const keyId = await api().addDeployKey(projectId, { title: 'slipway: web-shop', key: key.publicKey });

    expect(gitlab.deployKeys(projectId)).toEqual([
      expect.objectContaining({
        id: keyId,
        title: 'slipway: web-shop',
        key: key.publicKey,
        can_push: false,
        fingerprint_sha256: key.fingerprint,
      }),
    ]);
    expect(gitlab.requests.find((r) => r.method === 'POST')?.body).toMatchObject({ can_push: false });
  });

  it('reports a malformed deploy key as invalid, with what GitLab said', async () => {
    const error = await failureOf(api().addDeployKey(projectId, { title: 't', key: 'ssh-ed25519 AAAAnot-a-key' }));

    expect(error.kind).toBe('invalid');
    expect(error.status).toBe(400);
    expect(error.message).toMatch(/deploy_key\.key is invalid/);
  });

  it('removes hook and key, and takes them already being gone in its stride', async () => {
    const hookId = await api().addHook(projectId, hookSpec);
    const keyId = await api().addDeployKey(projectId, { title: 'k', key: generateDeployKey('k').publicKey });

    await api().removeHook(projectId, hookId);
    await api().removeDeployKey(projectId, keyId);
    await api().removeHook(projectId, hookId);
    await api().removeDeployKey(projectId, keyId);

    expect(gitlab.hooks(projectId)).toEqual([]);
    expect(gitlab.deployKeys(projectId)).toEqual([]);
    const deletes = gitlab.requests.filter((r) => r.method === 'DELETE').map((r) => r.status);
    expect(deletes).toEqual([204, 204, 404, 404]);
  });

  it('does not take a refused removal for success', async () => {
    const hookId = await api().addHook(projectId, hookSpec);
    gitlab.failNext({ method: 'DELETE', pathPattern: /\/hooks\// }, 500);

    const error = await failureOf(api().removeHook(projectId, hookId));

    expect(error.kind).toBe('failed');
    expect(gitlab.hooks(projectId)).toHaveLength(1);
  });

  it('reports a closed port as unreachable at once, naming the URL', async () => {
    const url = `http://127.0.0.1:${await closedPort()}`;

    const error = await failureOf(createGitlabApi({ url, token: TOKEN }).getProject('acme/web-shop'));

    expect(error.kind).toBe('unreachable');
    expect(error.message).toContain(url);
    expect(error.message).toMatch(/ECONNREFUSED/);
  });

  it('reports a GitLab that drops connections as unreachable', async () => {
    gitlab.setDown(true);

    const error = await failureOf(api().inspectToken());

    expect(error.kind).toBe('unreachable');
    expect(error.message).toContain(gitlab.url);
  });

  it('gives up on a GitLab that never answers within the bounded timeout', async () => {
    gitlab.setDown('hang');
    const started = Date.now();

    const error = await failureOf(api().inspectToken());

    const elapsed = Date.now() - started;
    expect(error.kind).toBe('unreachable');
    expect(error.message).toMatch(/did not answer .* within 10 s/);
    expect(error.message).toContain(gitlab.url);
    expect(elapsed).toBeGreaterThanOrEqual(9_000);
    expect(elapsed).toBeLessThan(12_000);
  }, 20_000);

  it('honours a shorter timeout when given one', async () => {
    gitlab.setDown('hang');
    const started = Date.now();

    const error = await failureOf(
      gitlabApiFactory({ timeoutMs: 500 })({ url: gitlab.url, token: TOKEN }).getProject('x'),
    );

    expect(error.kind).toBe('unreachable');
    expect(Date.now() - started).toBeLessThan(3_000);
  });
});

describe('the GitLab stand-in itself', () => {
  let gitlab: GitlabStandin;

  beforeAll(async () => {
    gitlab = await startGitlabStandin({ allowLocalWebhooks: false });
    gitlab.addUser({ username: 'platform-bot', token: TOKEN, scopes: ['api'] });
    gitlab.addProject({ path: 'acme/web-shop', id: 42 });
  });

  afterAll(async () => {
    await gitlab.stop();
  });

  it('paginates lists with GitLab headers, which gitbeaker follows to the end', async () => {
    const api = createGitlabApi({ url: gitlab.url, token: TOKEN });
    for (let i = 0; i < 23; i += 1) await api.addHook(42, { ...hookSpec, url: `https://slipway.example/h/${i}` });

    const page = await fetch(`${gitlab.url}/api/v4/projects/42/hooks?per_page=10&page=2`, {
      headers: { Authorization: `Bearer ${TOKEN}` },
    });
    const all = await new ProjectHooks({ host: gitlab.url, token: TOKEN }).all(42, { perPage: 10 });

    expect(page.status).toBe(200);
    expect(
      Object.fromEntries(
        ['x-total', 'x-total-pages', 'x-page', 'x-per-page', 'x-next-page', 'x-prev-page'].map((h) => [
          h,
          page.headers.get(h),
        ]),
      ),
    ).toEqual({
      'x-total': '23',
      'x-total-pages': '3',
      'x-page': '2',
      'x-per-page': '10',
      'x-next-page': '3',
      'x-prev-page': '1',
    });
    expect(page.headers.get('link')).toContain(
      `<${gitlab.url}/api/v4/projects/42/hooks?page=3&per_page=10>; rel="next"`,
    );
    expect(((await page.json()) as unknown[]).length).toBe(10);
    expect(all).toHaveLength(23);
    expect(all.every((hook) => !('token' in hook))).toBe(true);
  });

  it('asks for a missing parameter before it looks for the project, as Grape does', async () => {
    const response = await fetch(`${gitlab.url}/api/v4/projects/999/hooks`, {
      method: 'POST',
      headers: { 'PRIVATE-TOKEN': TOKEN, 'content-type': 'application/json' },
      body: '{}',
    });

    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({ error: 'url is missing' });
  });

  it('refuses hooks on the local network unless told to allow them', async () => {
    const api = createGitlabApi({ url: gitlab.url, token: TOKEN });

    const error = await failureOf(api.addHook(42, { ...hookSpec, url: 'http://127.0.0.1:8080/hooks/gitlab/x' }));

    expect(error.kind).toBe('invalid');
  });

  it('answers a deploy key it already has with that key, and refuses its twin under another comment', async () => {
    const api = createGitlabApi({ url: gitlab.url, token: TOKEN });
    const key = generateDeployKey('first');

    const first = await api.addDeployKey(42, { title: 'a', key: key.publicKey });
    const again = await api.addDeployKey(42, { title: 'b', key: key.publicKey });
    const twin = await failureOf(
      api.addDeployKey(42, { title: 'c', key: key.publicKey.replace(/ first$/, ' second') }),
    );

    expect(again).toBe(first);
    expect(twin.kind).toBe('invalid');
    expect(twin.message).toMatch(/fingerprint_sha256 has already been taken/);
    expect(gitlab.deployKeys(42)).toHaveLength(1);
  });

  it('hides a private project from a request without a token', async () => {
    const response = await fetch(`${gitlab.url}/api/v4/projects/42`);

    expect(response.status).toBe(404);
    expect(await response.json()).toEqual({ message: '404 Project Not Found' });
  });
});
