import { gitlabApiFactory } from '../../functions/adapters/gitlab/gitbeaker-client';
import { GitlabError } from '../../functions/domain/errors';
import type { GitlabApi, Notifier, ReleaseNotice } from '../../functions/domain/ports';
import { type ReportDeps, type ReportTarget, report } from '../../functions/domain/reporting';
import { type GitlabStandin, startGitlabStandin } from '../support/gitlab-standin';

const TOKEN = 'glpat-reporting-owner-0123456789';
const SHA = '8f3c2a1b9d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a';

class RecordingNotifier implements Notifier {
  readonly notices: ReleaseNotice[] = [];
  async notify(notice: ReleaseNotice): Promise<void> {
    this.notices.push(notice);
  }
}

describe('reporting a release to GitLab through the gitbeaker adapter, over real HTTP', () => {
  let gitlab: GitlabStandin;
  let api: GitlabApi;
  let notifier: RecordingNotifier;
  let target: ReportTarget;

  const deps = (overrides: Partial<ReportDeps> = {}): ReportDeps => ({
    gitlab: api,
    notifier,
    retry: { baseDelayMs: 20 },
    ...overrides,
  });

  beforeEach(async () => {
    gitlab = await startGitlabStandin();
    gitlab.addUser({ username: 'platform-bot', token: TOKEN, scopes: ['api'] });
    const projectId = gitlab.addProject({ path: 'acme/web-shop', id: 42 }).id;
    api = gitlabApiFactory({ timeoutMs: 2_000 })({ url: gitlab.url, token: TOKEN });
    notifier = new RecordingNotifier();
    target = {
      app: 'web',
      environment: 'production',
      projectId,
      commit: SHA,
      ref: 'refs/heads/main',
      title: 'Speed up checkout',
      author: 'Ada Lovelace',
      targetUrl: 'https://slipway.example/apps/web/builds/b-1',
    };
  });

  afterEach(async () => {
    await gitlab.stop();
  });

  it('marks the commit running, then success once live, with name, target URL and description', async () => {
    const running = await report(deps(), { kind: 'build_running', target });
    const deploying = await report(deps(), { kind: 'release_deploying', target });
    const live = await report(deps(), {
      kind: 'release_live',
      target,
      deploymentId: deploying.deploymentId,
      buildSeconds: 95,
      rolloutSeconds: 41,
    });

    expect(running).toEqual({ gitlab: 'ok', slack: 'skipped' });
    expect(deploying).toEqual({ gitlab: 'ok', slack: 'skipped', deploymentId: expect.any(Number) });
    expect(live).toEqual({ gitlab: 'ok', slack: 'ok' });
    const posted = gitlab.statuses(42, SHA);
    expect(posted.map((s) => s.status)).toEqual(['running', 'success']);
    // GitLab moves the same status (job) on: the one found pending or running by name and ref.
    expect(posted[1]?.id).toBe(posted[0]?.id);
    for (const status of posted) {
      expect(status).toMatchObject({
        name: 'slipway/web',
        ref: 'main',
        target_url: 'https://slipway.example/apps/web/builds/b-1',
      });
    }
    expect(posted[0]?.description).toBe('Building and releasing to production');
    expect(posted[1]?.description).toBe('Live on production');
  });

  it('creates a deployment on the environment, running, then updates it to success', async () => {
    const deploying = await report(deps(), { kind: 'release_deploying', target });
    await report(deps(), { kind: 'release_live', target, deploymentId: deploying.deploymentId });

    const [deployment, ...others] = gitlab.deployments(42);
    expect(others).toEqual([]);
    expect(deployment).toMatchObject({
      id: deploying.deploymentId,
      iid: 1,
      sha: SHA,
      ref: 'main',
      tag: false,
      status: 'success',
      environment: { name: 'production' },
      status_history: ['created', 'running', 'success'],
    });
  });

  it('tells Slack a release is live, with the commit, author and timings', async () => {
    await report(deps(), { kind: 'release_live', target, buildSeconds: 95, rolloutSeconds: 41 });

    expect(notifier.notices).toEqual([
      {
        kind: 'live',
        app: 'web',
        environment: 'production',
        commit: SHA,
        title: 'Speed up checkout',
        author: 'Ada Lovelace',
        ref: 'refs/heads/main',
        buildSeconds: 95,
        rolloutSeconds: 41,
        url: 'https://slipway.example/apps/web/builds/b-1',
      },
    ]);
  });

  it('marks a failed build failed, with the reason, and tells Slack why', async () => {
    await report(deps(), { kind: 'build_pending', target });
    await report(deps(), { kind: 'build_running', target });
    const outcome = await report(deps(), {
      kind: 'build_failed',
      target,
      reason: 'build: docker build exited 1',
      buildSeconds: 12,
    });

    expect(outcome).toEqual({ gitlab: 'ok', slack: 'ok' });
    expect(gitlab.statuses(42, SHA).map((s) => [s.status, s.description])).toEqual([
      ['pending', 'Build queued'],
      ['running', 'Building and releasing to production'],
      ['failed', 'Build failed: build: docker build exited 1'],
    ]);
    expect(gitlab.deployments(42)).toEqual([]);
    expect(notifier.notices).toMatchObject([{ kind: 'build_failed', reason: 'build: docker build exited 1' }]);
  });

  it('marks a rolled-back release failed, in the commit status and the deployment', async () => {
    await report(deps(), { kind: 'build_running', target });
    const { deploymentId } = await report(deps(), { kind: 'release_deploying', target });

    const outcome = await report(deps(), {
      kind: 'rolled_back',
      target,
      deploymentId,
      reason: 'circuit breaker: tasks failed to start',
    });

    expect(outcome).toEqual({ gitlab: 'ok', slack: 'ok' });
    expect(gitlab.statuses(42, SHA).at(-1)).toMatchObject({
      status: 'failed',
      description: 'Rolled back on production: circuit breaker: tasks failed to start',
    });
    expect(gitlab.deployments(42)[0]?.status_history).toEqual(['created', 'running', 'failed']);
    expect(notifier.notices[0]?.kind).toBe('rolled_back');
  });

  it('creates the deployment at the end when it could not be created at the start', async () => {
    const outcome = await report(deps(), { kind: 'release_live', target });

    expect(outcome.deploymentId).toEqual(expect.any(Number));
    expect(gitlab.deployments(42)[0]).toMatchObject({ status: 'success', status_history: ['created', 'success'] });
  });

  it('reports a tag push as a deployment of the tag', async () => {
    await report(deps(), { kind: 'release_deploying', target: { ...target, ref: 'refs/tags/v1.4.0' } });

    expect(gitlab.deployments(42)[0]).toMatchObject({ ref: 'v1.4.0', tag: true });
  });

  it('takes a repeated step in its stride: GitLab refusing running → running means it is running', async () => {
    await report(deps(), { kind: 'build_running', target });

    const again = await report(deps(), { kind: 'build_running', target });

    expect(again.gitlab).toBe('ok');
    expect(gitlab.statuses(42, SHA).map((s) => s.status)).toEqual(['running']);
    const refused = gitlab.requests.filter((r) => r.method === 'POST' && r.status === 400);
    expect(refused).toHaveLength(1);
  });

  it('retries a GitLab that answers 503 once, and records the status once', async () => {
    gitlab.failNext({ method: 'POST', pathPattern: /\/statuses\// }, 503);

    const outcome = await report(deps(), { kind: 'build_running', target });

    expect(outcome.gitlab).toBe('ok');
    expect(gitlab.requests.filter((r) => r.path.includes('/statuses/')).map((r) => r.status)).toEqual([503, 201]);
    expect(gitlab.statuses(42, SHA)).toHaveLength(1);
  });

  it('does not retry a refusal, and says what GitLab wants', async () => {
    const guarded = gitlab.addProject({ path: 'acme/payments', members: { 'platform-bot': 'reporter' } });

    const outcome = await report(deps(), { kind: 'build_running', target: { ...target, projectId: guarded.id } });

    expect(outcome.gitlab).toMatch(/^failed: commit status: GitLab refused .*403.*Developer role/);
    expect(gitlab.requests.filter((r) => r.path.includes('/statuses/'))).toHaveLength(1);
  });

  it('resolves with a failed GitLab outcome, within a bounded time, when GitLab is down', async () => {
    gitlab.setDown(true);
    const logged: Array<Record<string, unknown>> = [];
    const calls: string[] = [];
    const counted: GitlabApi = Object.assign(Object.create(api) as GitlabApi, {
      setCommitStatus: (...args: Parameters<GitlabApi['setCommitStatus']>) => {
        calls.push('status');
        return api.setCommitStatus(...args);
      },
      updateDeployment: (...args: Parameters<GitlabApi['updateDeployment']>) => {
        calls.push('deployment');
        return api.updateDeployment(...args);
      },
    });
    const started = Date.now();

    const outcome = await report(deps({ gitlab: counted, log: (_message, detail) => logged.push(detail) }), {
      kind: 'release_live',
      target,
      deploymentId: 7,
    });

    expect(Date.now() - started).toBeLessThan(3_000);
    expect(outcome.gitlab).toMatch(/^failed: commit status: cannot reach GitLab .*; deployment: cannot reach GitLab/);
    expect(outcome.slack).toBe('ok');
    // Three tries for the status, then three for the deployment update.
    expect(calls).toEqual(['status', 'status', 'status', 'deployment', 'deployment', 'deployment']);
    expect(logged.map((d) => d.step)).toEqual(['commit status', 'deployment']);
    expect(JSON.stringify({ outcome, logged })).not.toContain(TOKEN);
  });

  it('gives up on a GitLab that never answers, within the retry budget', async () => {
    gitlab.setDown('hang');
    const slow = gitlabApiFactory({ timeoutMs: 300 })({ url: gitlab.url, token: TOKEN });
    const started = Date.now();

    const outcome = await report(deps({ gitlab: slow, retry: { baseDelayMs: 20, budgetMs: 1_000 } }), {
      kind: 'build_running',
      target,
    });

    expect(Date.now() - started).toBeLessThan(2_500);
    expect(outcome.gitlab).toMatch(/^failed: commit status: GitLab at .* did not answer/);
  });

  it('does not retry creating a deployment when GitLab may have acted on it', async () => {
    gitlab.failNext({ method: 'POST', pathPattern: /\/deployments$/ }, 500);

    const outcome = await report(deps(), { kind: 'release_deploying', target });

    expect(outcome.gitlab).toMatch(/^failed: deployment: GitLab failed POST \/projects\/:id\/deployments \(500\)/);
    expect(outcome.deploymentId).toBeUndefined();
    expect(gitlab.requests.filter((r) => r.path.endsWith('/deployments'))).toHaveLength(1);
  });

  it('retries a notifier that throws a bounded number of times, then records why', async () => {
    let calls = 0;
    const flaky: Notifier = {
      notify: async () => {
        calls += 1;
        throw new Error('chat service down');
      },
    };

    const outcome = await report(deps({ notifier: flaky }), { kind: 'build_failed', target, reason: 'test failed' });

    expect(outcome).toEqual({ gitlab: 'ok', slack: 'failed: chat service down' });
    expect(calls).toBe(3);
  });

  it('skips GitLab for an app without a GitLab project', async () => {
    const outcome = await report(deps(), { kind: 'build_running', target: { ...target, projectId: undefined } });

    expect(outcome).toEqual({ gitlab: 'skipped', slack: 'skipped' });
    expect(gitlab.requests).toEqual([]);
  });
});

describe('the GitLab stand-in, on commit statuses and deployments as GitLab has them', () => {
  let gitlab: GitlabStandin;
  let api: GitlabApi;

  beforeEach(async () => {
    gitlab = await startGitlabStandin();
    gitlab.addUser({ username: 'platform-bot', token: TOKEN, scopes: ['api'] });
    gitlab.addProject({ path: 'acme/web-shop', id: 42 });
    api = gitlabApiFactory({ timeoutMs: 2_000 })({ url: gitlab.url, token: TOKEN });
  });

  afterEach(async () => {
    await gitlab.stop();
  });

  const post = (path: string, body: unknown, method = 'POST') =>
    fetch(`${gitlab.url}/api/v4/projects/42${path}`, {
      method,
      headers: { 'private-token': TOKEN, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });

  async function refusal(call: Promise<unknown>): Promise<GitlabError> {
    const error = await call.then(
      () => new Error('expected GitLab to refuse'),
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(GitlabError);
    return error as GitlabError;
  }

  it.each([
    [
      'running',
      'running',
      'Cannot transition status via :run from :running (Reason(s): Status cannot transition via "run")',
    ],
    [
      'pending',
      'pending',
      'Cannot transition status via :enqueue from :pending (Reason(s): Status cannot transition via "enqueue")',
    ],
    [
      'running',
      'pending',
      'Cannot transition status via :enqueue from :running (Reason(s): Status cannot transition via "enqueue")',
    ],
  ] as const)('refuses %s → %s with 400 and GitLab’s message', async (first, second, message) => {
    await api.setCommitStatus(42, SHA, { state: first, name: 'ci' });

    const error = await refusal(api.setCommitStatus(42, SHA, { state: second, name: 'ci' }));

    expect(error.kind).toBe('invalid');
    expect(error.status).toBe(400);
    expect(error.message).toBe(`GitLab rejected POST /projects/:id/statuses/:sha (400): ${message}`);
  });

  it('refuses skipping a running status, which only a created or pending one can be', async () => {
    await api.setCommitStatus(42, SHA, { state: 'running', name: 'ci' });

    const skipped = await post(`/statuses/${SHA}`, { state: 'skipped', name: 'ci' });
    const fresh = await post(`/statuses/${SHA}`, { state: 'skipped', name: 'lint' });

    expect(skipped.status).toBe(400);
    expect(await skipped.json()).toEqual({
      message: 'Cannot transition status via :skip from :running (Reason(s): Status cannot transition via "skip")',
    });
    expect(fresh.status).toBe(201);
    expect(await fresh.json()).toMatchObject({ name: 'lint', status: 'skipped' });
  });

  it('moves pending to running to success on one status, and starts a new one after a final state', async () => {
    await api.setCommitStatus(42, SHA, { state: 'pending', name: 'ci' });
    await api.setCommitStatus(42, SHA, { state: 'running', name: 'ci' });
    await api.setCommitStatus(42, SHA, { state: 'success', name: 'ci' });
    await api.setCommitStatus(42, SHA, { state: 'success', name: 'ci', description: 'again' });

    const ids = gitlab.statuses(42, SHA).map((s) => s.id);
    expect(new Set(ids.slice(0, 3)).size).toBe(1);
    expect(ids[3]).not.toBe(ids[0]);
    const latest = await (
      await fetch(`${gitlab.url}/api/v4/projects/42/repository/commits/${SHA}/statuses`, {
        headers: { 'private-token': TOKEN },
      })
    ).json();
    expect(latest).toMatchObject([{ id: ids[3], status: 'success', description: 'again', ref: 'main', name: 'ci' }]);
    const all = await (
      await fetch(`${gitlab.url}/api/v4/projects/42/repository/commits/${SHA}/statuses?all=true`, {
        headers: { 'private-token': TOKEN },
      })
    ).json();
    expect(all).toHaveLength(2);
  });

  it('keeps statuses of different names, refs and commits apart', async () => {
    await api.setCommitStatus(42, SHA, { state: 'running', name: 'slipway/web' });
    await api.setCommitStatus(42, SHA, { state: 'running', name: 'slipway/api' });
    await api.setCommitStatus(42, SHA, { state: 'running', name: 'slipway/web', ref: 'release' });
    await api.setCommitStatus(42, 'abcdef1234567', { state: 'running', name: 'slipway/web' });

    expect(gitlab.statuses(42, SHA)).toHaveLength(3);
    expect(gitlab.statuses(42)).toHaveLength(4);
  });

  it('checks parameters as Grape does: state required and one of GitLab’s states', async () => {
    expect(await (await post(`/statuses/${SHA}`, { name: 'ci' })).json()).toEqual({ error: 'state is missing' });
    const wrong = await post(`/statuses/${SHA}`, { state: 'done' });
    expect(wrong.status).toBe(400);
    expect(await wrong.json()).toEqual({ error: 'state does not have a valid value' });
    const long = await post(`/statuses/${SHA}`, { state: 'running', description: 'x'.repeat(256) });
    expect(await long.json()).toEqual({ message: { description: ['is too long (maximum is 255 characters)'] } });
    expect((await post('/statuses/not-a-commit', { state: 'running' })).status).toBe(404);
    expect(gitlab.statuses(42)).toEqual([]);
  });

  it('wants at least the Developer role for statuses and deployments', async () => {
    gitlab.addProject({ path: 'acme/payments', id: 43, members: { 'platform-bot': 'reporter' } });

    const status = await refusal(api.setCommitStatus(43, SHA, { state: 'running', name: 'ci' }));
    const deployment = await refusal(
      api.createDeployment(43, { environment: 'production', sha: SHA, ref: 'main', tag: false, status: 'running' }),
    );

    expect([status.status, deployment.status]).toEqual([403, 403]);
    expect(deployment.message).toMatch(/Developer role/);
  });

  it('requires every deployment parameter and one of the statuses GitLab accepts', async () => {
    const missing = await post('/deployments', { environment: '', tag: 'maybe' });

    expect(missing.status).toBe(400);
    expect(await missing.json()).toEqual({
      error: 'environment is empty, sha is missing, ref is missing, tag is invalid, status is missing',
    });
    const created = await refusal(
      api.createDeployment(42, { environment: 'production', sha: SHA, ref: 'main', tag: false, status: 'created' }),
    );
    expect(created.kind).toBe('invalid');
    expect(gitlab.requests.filter((r) => r.path.endsWith('/deployments'))).toHaveLength(1);
  });

  it('answers a deployment set to the status it has with an empty 200, leaving it as it was', async () => {
    const id = await api.createDeployment(42, {
      environment: 'production',
      sha: SHA,
      ref: 'main',
      tag: false,
      status: 'running',
    });
    await api.updateDeployment(42, id, 'success');

    await api.updateDeployment(42, id, 'success');
    const rerun = await post(`/deployments/${id}`, { status: 'running' }, 'PUT');

    expect(rerun.status).toBe(200);
    expect(await rerun.text()).toBe('null');
    expect(gitlab.deployments(42)[0]?.status_history).toEqual(['created', 'running', 'success']);
  });

  it('answers a creation equal to the environment’s last successful deployment with that deployment', async () => {
    const spec = { environment: 'production', sha: SHA, ref: 'main', tag: false, status: 'success' } as const;

    const first = await api.createDeployment(42, spec);
    const second = await api.createDeployment(42, spec);
    const third = await api.createDeployment(42, { ...spec, status: 'running' });

    expect(second).toBe(first);
    expect(third).not.toBe(first);
    const listed = (await (
      await fetch(`${gitlab.url}/api/v4/projects/42/deployments?environment=production&sort=desc`, {
        headers: { 'private-token': TOKEN },
      })
    ).json()) as Array<Record<string, unknown>>;
    expect(listed).toMatchObject([
      { id: third, iid: 2, status: 'running', environment: { name: 'production' } },
      { id: first, iid: 1, status: 'success' },
    ]);
    expect(listed[0]).not.toHaveProperty('status_history');
  });

  it('reports an unknown deployment as not found', async () => {
    const error = await refusal(api.updateDeployment(42, 99999, 'success'));

    expect(error.kind).toBe('not_found');
  });
});
