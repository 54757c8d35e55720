import { createServer } from 'node:net';
import { inspect } from 'node:util';
import { ProjectHooks } from '@gitbeaker/rest';
import { createGitlabApi, gitlabApiFactory } from '../../functions/adapters/gitlab/gitbeaker-client';
import { generateDeployKey } from '../../functions/adapters/ssh/deploy-key';
import { GitlabError, ValidationError } from '../../functions/domain/errors';
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

  describe('resolving a ref to a commit', () => {
    const MAIN = 'a1b2c3d4e5f60718293a4b5c6d7e8f9012345678';
    const FEATURE = 'b2c3d4e5f60718293a4b5c6d7e8f901234567890';
    const RELEASE = 'c3d4e5f60718293a4b5c6d7e8f90123456789012';
    const SAME_NAME_TAG = 'd4e5f60718293a4b5c6d7e8f9012345678901234';
    const LOOSE = 'e5f60718293a4b5c6d7e8f901234567890123456';

    beforeEach(() => {
      gitlab.addCommit(projectId, {
        sha: MAIN,
        title: 'Add checkout',
        message: 'Add checkout\n\nWith a body.',
        authorName: 'Ada Lovelace',
        authorEmail: 'ada@example.com',
        branches: ['main', 'both'],
        committedDate: '2026-03-01T10:00:00.000+02:00',
      });
      gitlab.addCommit(projectId, {
        sha: FEATURE,
        title: 'Try a thing',
        branches: ['feature/x'],
        committedDate: '2026-03-02T09:30:00Z',
      });
      gitlab.addCommit(projectId, { sha: RELEASE, title: 'Release 1.0', tags: ['v1.0', 'release/1.0'] });
      gitlab.addCommit(projectId, { sha: SAME_NAME_TAG, title: 'Tagged, not branched', tags: ['both'] });
      gitlab.addCommit(projectId, {
        sha: LOOSE,
        title: 'On no branch',
        committedDate: '2026-03-03T01:00:00.000-05:00',
      });
    });

    const paths = () => gitlab.requests.map((r) => `${r.method} ${r.path} ${r.status}`);

    it('resolves a branch name with a single request', async () => {
      const found = await api().resolveRef(projectId, 'main');

      expect(found).toEqual({
        ref: 'refs/heads/main',
        sha: MAIN,
        title: 'Add checkout',
        authorName: 'Ada Lovelace',
        authorEmail: 'ada@example.com',
        webUrl: `${gitlab.url}/acme/web-shop/-/commit/${MAIN}`,
        committedAt: '2026-03-01T08:00:00.000Z',
      });
      expect(paths()).toEqual(['GET /api/v4/projects/42/repository/branches/main 200']);
      expect(gitlab.requests[0]?.headers['private-token']).toBe(TOKEN);
    });

    it('resolves a tag name after the branch lookup misses', async () => {
      const found = await api().resolveRef(projectId, 'v1.0');

      expect(found).toMatchObject({ ref: 'refs/tags/v1.0', sha: RELEASE, title: 'Release 1.0' });
      // GitLab's committed_date, in UTC (the stand-in dates a commit when it was added).
      expect(Math.abs(Date.parse(found.committedAt ?? '') - Date.now())).toBeLessThan(60_000);
      expect(paths()).toEqual([
        'GET /api/v4/projects/42/repository/branches/v1.0 404',
        'GET /api/v4/projects/42/repository/tags/v1.0 200',
      ]);
    });

    it('looks a full ref up only as what it says it is', async () => {
      expect(await api().resolveRef(projectId, 'refs/heads/main')).toMatchObject({
        ref: 'refs/heads/main',
        sha: MAIN,
      });
      expect(await api().resolveRef(projectId, 'refs/tags/v1.0')).toMatchObject({
        ref: 'refs/tags/v1.0',
        sha: RELEASE,
      });
      expect(paths()).toEqual([
        'GET /api/v4/projects/42/repository/branches/main 200',
        'GET /api/v4/projects/42/repository/tags/v1.0 200',
      ]);

      const notATag = await failureOf(api().resolveRef(projectId, 'refs/tags/main'));
      const notABranch = await failureOf(api().resolveRef(projectId, 'refs/heads/v1.0'));

      expect([notATag.kind, notABranch.kind]).toEqual(['not_found', 'not_found']);
      expect(paths().slice(2)).toEqual([
        'GET /api/v4/projects/42/repository/tags/main 404',
        'GET /api/v4/projects/42/repository/branches/v1.0 404',
      ]);
    });

    it('encodes names with slashes as one path segment', async () => {
      const branch = await api().resolveRef(projectId, 'feature/x');
      const fullBranch = await api().resolveRef(projectId, 'refs/heads/feature/x');
      const tag = await api().resolveRef(projectId, 'refs/tags/release/1.0');

      expect(branch).toEqual({
        ref: 'refs/heads/feature/x',
        sha: FEATURE,
        title: 'Try a thing',
        authorName: 'Test Author',
        authorEmail: 'test-author@example.com',
        webUrl: `${gitlab.url}/acme/web-shop/-/commit/${FEATURE}`,
        committedAt: '2026-03-02T09:30:00.000Z',
      });
      expect(fullBranch).toEqual(branch);
      expect(tag).toMatchObject({ ref: 'refs/tags/release/1.0', sha: RELEASE });
      expect(paths()).toEqual([
        'GET /api/v4/projects/42/repository/branches/feature%2Fx 200',
        'GET /api/v4/projects/42/repository/branches/feature%2Fx 200',
        'GET /api/v4/projects/42/repository/tags/release%2F1.0 200',
      ]);
    });

    it('resolves a full and a short sha as a commit, after branch and tag miss', async () => {
      const full = await api().resolveRef(projectId, LOOSE);
      const short = await api().resolveRef(projectId, LOOSE.slice(0, 8).toUpperCase());

      expect(full).toEqual({
        ref: LOOSE,
        sha: LOOSE,
        title: 'On no branch',
        authorName: 'Test Author',
        authorEmail: 'test-author@example.com',
        webUrl: `${gitlab.url}/acme/web-shop/-/commit/${LOOSE}`,
        committedAt: '2026-03-03T06:00:00.000Z',
      });
      expect(short).toEqual(full);
      expect(paths()).toEqual([
        `GET /api/v4/projects/42/repository/branches/${LOOSE} 404`,
        `GET /api/v4/projects/42/repository/tags/${LOOSE} 404`,
        `GET /api/v4/projects/42/repository/commits/${LOOSE} 200`,
        'GET /api/v4/projects/42/repository/branches/E5F60718 404',
        'GET /api/v4/projects/42/repository/tags/E5F60718 404',
        'GET /api/v4/projects/42/repository/commits/E5F60718 200',
      ]);
    });

    it('prefers the branch for a bare name that is both, and gives the tag for refs/tags/', async () => {
      expect(await api().resolveRef(projectId, 'both')).toMatchObject({ ref: 'refs/heads/both', sha: MAIN });
      expect(await api().resolveRef(projectId, 'refs/tags/both')).toMatchObject({
        ref: 'refs/tags/both',
        sha: SAME_NAME_TAG,
        title: 'Tagged, not branched',
      });
    });

    it('reports a ref that names nothing as not found, trying a commit only for a sha-like name', async () => {
      const unknown = await failureOf(api().resolveRef(projectId, 'nope'));
      const unknownSha = await failureOf(api().resolveRef(projectId, 'f00dfacef00dface'));

      expect(unknown.kind).toBe('not_found');
      expect(unknown.status).toBe(404);
      expect(unknown.message).toMatch(/"nope"/);
      expect(unknownSha.kind).toBe('not_found');
      expect(paths()).toEqual([
        'GET /api/v4/projects/42/repository/branches/nope 404',
        'GET /api/v4/projects/42/repository/tags/nope 404',
        'GET /api/v4/projects/42/repository/branches/f00dfacef00dface 404',
        'GET /api/v4/projects/42/repository/tags/f00dfacef00dface 404',
        'GET /api/v4/projects/42/repository/commits/f00dfacef00dface 404',
      ]);
    });

    it('reports an unknown project as such, without trying further', async () => {
      const error = await failureOf(api().resolveRef(4242, 'main'));

      expect(error.kind).toBe('not_found');
      expect(error.message).toMatch(/project 4242 not found/);
      expect(paths()).toEqual(['GET /api/v4/projects/4242/repository/branches/main 404']);
    });

    it('does not take a failing lookup for a miss', async () => {
      gitlab.failNext({ method: 'GET', pathPattern: /\/repository\/branches\// }, 500);

      const error = await failureOf(api().resolveRef(projectId, 'v1.0'));

      expect(error.kind).toBe('failed');
      expect(paths()).toEqual(['GET /api/v4/projects/42/repository/branches/v1.0 500']);
    });

    it.each([
      ['empty', ''],
      ['too long', 'a'.repeat(256)],
      ['a parent step', 'main..other'],
      ['a control character', 'main\u0007'],
      ['a newline', 'main\n'],
      ['a space', 'my branch'],
      ['a tab', 'my\tbranch'],
      ['a tilde', 'main~1'],
      ['a caret', 'main^'],
      ['a colon', 'main:x'],
      ['a question mark', 'ma?n'],
      ['an asterisk', 'release/*'],
      ['a bracket', 'ma[i]n'],
      ['a backslash', 'feature\\x'],
      ['a leading dash', '-main'],
      ['a full ref naming nothing', 'refs/heads/'],
      ['a full ref naming an option', 'refs/tags/-v1'],
    ])('refuses a ref with %s before any request', async (_why, ref) => {
      const error = await api()
        .resolveRef(projectId, ref)
        .then(
          () => undefined,
          (e: unknown) => e,
        );

      expect(error).toBeInstanceOf(ValidationError);
      expect((error as ValidationError).message.length).toBeLessThan(120);
      expect(gitlab.requests).toEqual([]);
    });

    it('takes the longest ref it allows', async () => {
      const long = `refs/heads/${'b'.repeat(244)}`;
      gitlab.addCommit(projectId, { sha: 'f'.repeat(40), title: 'Long', branches: ['b'.repeat(244)] });

      expect(long).toHaveLength(255);
      expect(await api().resolveRef(projectId, long)).toMatchObject({ ref: long, sha: 'f'.repeat(40) });
    });

    it('is refused to a token without an API scope, and to a guest', async () => {
      gitlab.addUser({ username: 'repo-only', token: 'glpat-repo-only-0123456789', scopes: ['read_repository'] });
      const guarded = gitlab.addProject({ path: 'acme/payments', members: { 'platform-bot': 'guest' } });
      gitlab.addCommit(guarded.id, { title: 'x', branches: ['main'] });

      const scope = await failureOf(api('glpat-repo-only-0123456789').resolveRef(projectId, 'main'));
      const guest = await failureOf(api().resolveRef(guarded.id, 'main'));

      expect([scope.kind, scope.status]).toEqual(['forbidden', 403]);
      expect([guest.kind, guest.status]).toEqual(['forbidden', 403]);
      expect(scope.message).toMatch(/api scope/);
      expect(guest.message).toMatch(/Reporter role/);
    });
  });

  describe("reading a user's role on a project", () => {
    let teamId: number;
    let alice: number;
    let outsider: number;

    beforeEach(() => {
      alice = gitlab.addUser({ username: 'alice' }).id;
      outsider = gitlab.addUser({ username: 'outsider' }).id;
      teamId = gitlab.addProject({
        path: 'acme/team-app',
        members: { 'platform-bot': 'maintainer', reader: 'reporter', alice: 'developer' },
      }).id;
    });

    it("gives a direct member's access level, by project id or path, through members/all", async () => {
      expect(await api().memberAccessLevel(teamId, alice)).toBe(30);
      expect(await api().memberAccessLevel('acme/team-app', alice)).toBe(30);
      // A Reporter's read-only token may ask too.
      expect(await api(READ_ONLY).memberAccessLevel(teamId, alice)).toBe(30);

      const paths = gitlab.requests.map((r) => `${r.method} ${r.path}`);
      expect(paths).toEqual([
        `GET /api/v4/projects/${teamId}/members/all/${alice}`,
        `GET /api/v4/projects/acme%2Fteam-app/members/all/${alice}`,
        `GET /api/v4/projects/${teamId}/members/all/${alice}`,
      ]);
    });

    it('answers undefined for a user who is no member, and for no user at all', async () => {
      expect(await api().memberAccessLevel(teamId, outsider)).toBeUndefined();
      expect(await api().memberAccessLevel(teamId, 9999)).toBeUndefined();
      expect(gitlab.requests.map((r) => r.status)).toEqual([404, 404]);
    });

    it('follows membership changes, every level from planner to owner', async () => {
      gitlab.setMember(teamId, 'outsider', 'planner');
      expect(await api().memberAccessLevel(teamId, outsider)).toBe(15);

      const seen: Array<number | undefined> = [];
      for (const level of ['guest', 'reporter', 'maintainer', 'owner'] as const) {
        gitlab.setMember(teamId, 'alice', level);
        seen.push(await api().memberAccessLevel(teamId, alice));
      }
      gitlab.setMember(teamId, 'alice', undefined);
      seen.push(await api().memberAccessLevel(teamId, alice));

      expect(seen).toEqual([10, 20, 40, 50, undefined]);
    });

    it('takes a project the token cannot see, or a token without an API scope, for an error, not for "no member"', async () => {
      gitlab.setMember(teamId, 'platform-bot', undefined);
      gitlab.addUser({ username: 'repo-only', token: 'glpat-repo-only-0123456789', scopes: ['read_repository'] });

      const hidden = await failureOf(api().memberAccessLevel(teamId, alice));
      const scope = await failureOf(api('glpat-repo-only-0123456789').memberAccessLevel(projectId, alice));
      gitlab.revoke(TOKEN);
      const revoked = await failureOf(api().memberAccessLevel(projectId, alice));

      expect([hidden.kind, hidden.status]).toEqual(['not_found', 404]);
      expect(hidden.message).toMatch(/project .*not found/);
      expect([scope.kind, scope.status]).toEqual(['forbidden', 403]);
      expect([revoked.kind, revoked.status]).toEqual(['unauthorized', 401]);
    });
  });

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

  it('answers repository lookups as GitLab does, a raw slash in a name being another route', async () => {
    const sha = '0123456789abcdef0123456789abcdef01234567';
    gitlab.addCommit(42, { sha, title: 'Fix it', message: 'Fix it\n\nFor good.', branches: ['fix/it'], tags: ['v2'] });
    const get = async (path: string) => {
      const response = await fetch(`${gitlab.url}/api/v4/projects/42/repository/${path}`, {
        headers: { 'PRIVATE-TOKEN': TOKEN },
      });
      return { status: response.status, body: (await response.json()) as Record<string, unknown> };
    };

    const branch = await get('branches/fix%2Fit');
    const tag = await get('tags/v2');
    const byBranchName = await get('commits/fix%2Fit');
    const byShortSha = await get('commits/0123456');

    expect(branch.status).toBe(200);
    expect(branch.body).toMatchObject({
      name: 'fix/it',
      commit: { id: sha, short_id: '01234567', title: 'Fix it', message: 'Fix it\n\nFor good.' },
    });
    expect(tag.body).toMatchObject({ name: 'v2', target: sha, commit: { id: sha } });
    expect(byBranchName.body).toMatchObject({ id: sha, project_id: 42 });
    expect(byShortSha.body).toMatchObject({ id: sha });
    expect(await get('branches/fix/it')).toEqual({ status: 404, body: { error: '404 Not Found' } });
    expect(await get('branches/nope')).toEqual({ status: 404, body: { message: '404 Branch Not Found' } });
    expect(await get('tags/nope')).toEqual({ status: 404, body: { message: '404 Tag Not Found' } });
    expect(await get('commits/fedcba9')).toEqual({ status: 404, body: { message: '404 Commit Not Found' } });
  });

  it('hides a private project from a request without a token', async () => {
    const response = await fetch(`${gitlab.url}/api/v4/projects/42`);

    expect(response.status).toBe(404);
    expect(await response.json()).toEqual({ message: '404 Project Not Found' });
  });
});
