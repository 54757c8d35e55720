import { createServer } from 'node:http';
import { createGitlabApi } from '../../functions/adapters/gitlab/gitbeaker-client';
import { GitlabError } from '../../functions/domain/errors';
import type { GitlabHookSpec } from '../../functions/domain/ports';
import { type GitlabStandin, startGitlabStandin } from '../support/gitlab-standin';

/**
 * What review apps ask of GitLab, through the gitbeaker adapter over real HTTP to the stand-in,
 * which answers as GitLab's API does: a hook updated in place (PUT), notes on a merge request
 * (404 for one the project has not), environments made, found by name, given a URL and stopped
 * (a name taken is refused; stopping a stopped environment leaves it so).
 */

const TOKEN = 'glpat-standin-review-0123456789';
const REPORTER = 'glpat-standin-reporter-0123456789';

const hook: GitlabHookSpec = {
  url: 'https://slipway.example/hooks/gitlab/hk_123',
  token: 'hook-secret-one',
  pushEvents: true,
  tagPushEvents: false,
  branchFilter: 'main',
  enableSslVerification: true,
};

describe('review apps’ GitLab calls, against the stand-in', () => {
  let gitlab: GitlabStandin;
  let projectId: number;
  const api = (token = TOKEN) => createGitlabApi({ url: gitlab.url, token });

  beforeEach(async () => {
    gitlab = await startGitlabStandin();
    gitlab.addUser({ username: 'platform-bot', token: TOKEN, scopes: ['api'] });
    gitlab.addUser({ username: 'watcher', token: REPORTER, scopes: ['api'] });
    projectId = gitlab.addProject({
      path: 'acme/web-shop',
      id: 42,
      members: { 'platform-bot': 'maintainer', watcher: 'reporter' },
    }).id;
  });

  afterEach(async () => {
    await gitlab.stop();
  });

  it('updates a hook in place: new secret and merge request events, same id', async () => {
    const id = await api().addHook(projectId, hook);
    expect(gitlab.hooks(projectId)[0]).toMatchObject({ id, token: 'hook-secret-one', merge_requests_events: false });

    await api().editHook(projectId, id, { ...hook, token: 'hook-secret-two', mergeRequestsEvents: true });

    expect(gitlab.hooks(projectId)).toEqual([
      expect.objectContaining({ id, token: 'hook-secret-two', merge_requests_events: true, push_events: true }),
    ]);
    const gone = await api()
      .editHook(projectId, id + 1, hook)
      .catch((e: unknown) => e);
    expect(gone).toBeInstanceOf(GitlabError);
    expect(gone).toMatchObject({ kind: 'not_found' });
  });

  it('posts a note on a merge request of the project, and 404s one it has not', async () => {
    gitlab.addMergeRequest(projectId, { iid: 7, sourceBranch: 'feature/x' });
    const id = await api().createMergeRequestNote(projectId, 7, 'Review app at https://review-7.example');
    expect(gitlab.notes(projectId, 7)).toEqual([
      expect.objectContaining({ id, body: 'Review app at https://review-7.example', noteable_iid: 7 }),
    ]);
    const missing = await api()
      .createMergeRequestNote(projectId, 8, 'nobody reads this')
      .catch((e: unknown) => e);
    expect(missing).toMatchObject({ kind: 'not_found', status: 404 });
    expect(gitlab.notes(projectId)).toHaveLength(1);
  });

  it('makes an environment with its URL, finds it by name, refuses the name twice, edits and stops it', async () => {
    const made = await api().createEnvironment(projectId, {
      name: 'review/7',
      externalUrl: 'https://review-7.example',
      tier: 'development',
    });
    expect(made).toEqual({
      id: made.id,
      name: 'review/7',
      state: 'available',
      externalUrl: 'https://review-7.example',
    });
    expect(await api().findEnvironment(projectId, 'review/7')).toEqual(made);
    expect(await api().findEnvironment(projectId, 'review/8')).toBeUndefined();

    const taken = await api()
      .createEnvironment(projectId, { name: 'review/7' })
      .catch((e: unknown) => e);
    expect(taken).toMatchObject({
      kind: 'invalid',
      status: 400,
      message: expect.stringMatching(/has already been taken/),
    });
    const badUrl = await api()
      .createEnvironment(projectId, { name: 'review/9', externalUrl: 'javascript:alert(1)' })
      .catch((e: unknown) => e);
    expect(badUrl).toMatchObject({ kind: 'invalid', message: expect.stringMatching(/external_url/) });

    await api().editEnvironment(projectId, made.id, { externalUrl: 'https://review-7b.example' });
    expect(await api().findEnvironment(projectId, 'review/7')).toMatchObject({
      externalUrl: 'https://review-7b.example',
    });

    // A Reporter's stop leaves it available (GitLab's StopService checks the Developer role).
    await api(REPORTER).stopEnvironment(projectId, made.id);
    expect(gitlab.environments(projectId)[0]?.state).toBe('available');
    await api().stopEnvironment(projectId, made.id);
    expect(gitlab.environments(projectId)[0]?.state).toBe('stopped');
    await expect(api().stopEnvironment(projectId, made.id)).resolves.toBeUndefined();
    expect(gitlab.environments(projectId)[0]?.state).toBe('stopped');
    const unknown = await api()
      .stopEnvironment(projectId, made.id + 100)
      .catch((e: unknown) => e);
    expect(unknown).toMatchObject({ kind: 'not_found' });
  });

  it('a deployment to a stopped environment makes it available again (a reopened merge request)', async () => {
    const sha = 'a'.repeat(40);
    await api().createDeployment(projectId, {
      environment: 'review/3',
      sha,
      ref: 'feature/x',
      tag: false,
      status: 'running',
    });
    const env = await api().findEnvironment(projectId, 'review/3');
    expect(env).toMatchObject({ state: 'available' });
    await api().stopEnvironment(projectId, env?.id ?? 0);
    await api().createDeployment(projectId, {
      environment: 'review/3',
      sha,
      ref: 'feature/x',
      tag: false,
      status: 'running',
    });
    expect(await api().findEnvironment(projectId, 'review/3')).toMatchObject({ state: 'available' });
  });

  it('delivers a Merge Request Hook only to hooks subscribed to merge request events, with their secret', async () => {
    const received: Array<{ event?: string; token?: string; body: Record<string, unknown> }> = [];
    const server = createServer((req, res) => {
      let text = '';
      req.on('data', (chunk) => {
        text += chunk;
      });
      req.on('end', () => {
        received.push({
          event: req.headers['x-gitlab-event'] as string,
          token: req.headers['x-gitlab-token'] as string,
          body: JSON.parse(text),
        });
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{"ok":true}');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/hook`;
    try {
      await api().addHook(projectId, { ...hook, url, token: 'pushes-only' });
      await api().addHook(projectId, { ...hook, url, token: 'with-mrs', mergeRequestsEvents: true });
      gitlab.addMergeRequest(projectId, { iid: 4, sourceBranch: 'feature/y' });
      gitlab.addCommit(projectId, { title: 'Y', branches: ['feature/y'], sha: 'b'.repeat(40) });

      const answers = await gitlab.deliverMergeRequestEvent(projectId, {
        iid: 4,
        action: 'update',
        oldrev: 'c'.repeat(40),
      });

      expect(answers).toEqual([{ hookId: expect.any(Number), status: 200, body: { ok: true } }]);
      expect(received).toHaveLength(1);
      expect(received[0]).toMatchObject({
        event: 'Merge Request Hook',
        token: 'with-mrs',
        body: {
          object_kind: 'merge_request',
          project: { id: projectId, path_with_namespace: 'acme/web-shop' },
          object_attributes: {
            iid: 4,
            action: 'update',
            source_branch: 'feature/y',
            source_project_id: projectId,
            target_project_id: projectId,
            oldrev: 'c'.repeat(40),
            last_commit: { id: 'b'.repeat(40), title: 'Y' },
          },
        },
      });
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
