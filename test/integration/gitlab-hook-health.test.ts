import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createGitlabApi } from '../../functions/adapters/gitlab/gitbeaker-client';
import { generateDeployKey } from '../../functions/adapters/ssh/deploy-key';
import { GitlabError } from '../../functions/domain/errors';
import { type GitlabStandin, startGitlabStandin } from '../support/gitlab-standin';

const TOKEN = 'glpat-hook-health-0123456789';

/** A webhook receiver answering `status`, recording what it got. */
async function startReceiver(status: number) {
  const got: Array<{ headers: IncomingHttpHeaders; body: Record<string, unknown> }> = [];
  const server: Server = createServer((req, res) => {
    let text = '';
    req.on('data', (chunk) => {
      text += chunk;
    });
    req.on('end', () => {
      got.push({ headers: req.headers, body: JSON.parse(text) as Record<string, unknown> });
      res.writeHead(receiver.status, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const receiver = {
    status,
    got,
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/gitlab/hk_health`,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
  return receiver;
}

/**
 * Hook health through @gitbeaker/rest against the stand-in: GitLab's alert_status after failed
 * deliveries, re-enabling with a test delivery, and deploy keys looked up one by one.
 */
describe('GitLab hook health through the gitbeaker adapter', () => {
  let gitlab: GitlabStandin;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  const api = () => createGitlabApi({ url: gitlab.url, token: TOKEN });

  beforeEach(async () => {
    gitlab = await startGitlabStandin();
    gitlab.addUser({ username: 'platform-bot', token: TOKEN, scopes: ['api'] });
    gitlab.addProject({ path: 'acme/web-shop', id: 42 });
    gitlab.addCommit(42, { title: 'first', branches: ['main'] });
    gitlab.addCommit(42, { title: 'second', branches: ['main'] });
    receiver = await startReceiver(200);
  });

  afterEach(async () => {
    await gitlab.stop();
    await receiver.stop();
  });

  const addHook = () =>
    api().addHook(42, {
      url: receiver.url,
      token: 'hook-secret-0123456789',
      pushEvents: true,
      tagPushEvents: false,
      branchFilter: 'main',
      enableSslVerification: true,
    });

  it('reads a new hook as executable, and as GitLab marks it after 4 and 40 failed deliveries', async () => {
    const hookId = await addHook();
    expect(await api().getHook(42, hookId)).toEqual({ id: hookId, url: receiver.url, alertStatus: 'executable' });

    gitlab.failDeliveries(hookId, 3);
    expect((await api().getHook(42, hookId))?.alertStatus).toBe('executable');

    gitlab.failDeliveries(hookId, 1);
    const temporarily = await api().getHook(42, hookId);
    expect(temporarily?.alertStatus).toBe('temporarily_disabled');
    // The first back-off is a minute.
    const until = Date.parse(temporarily?.disabledUntil ?? '');
    expect(until - Date.now()).toBeGreaterThan(50_000);
    expect(until - Date.now()).toBeLessThanOrEqual(60_000);

    gitlab.failDeliveries(hookId, 36);
    expect(await api().getHook(42, hookId)).toEqual({ id: hookId, url: receiver.url, alertStatus: 'disabled' });
  });

  it('answers undefined for a hook that is gone', async () => {
    const hookId = await addHook();
    await api().removeHook(42, hookId);
    expect(await api().getHook(42, hookId)).toBeUndefined();
  });

  it('re-enables a disabled hook with a test delivery of the default branch, sent with its secret', async () => {
    const hookId = await addHook();
    gitlab.failDeliveries(hookId, 40);

    await api().testHook(42, hookId);

    expect((await api().getHook(42, hookId))?.alertStatus).toBe('executable');
    expect(receiver.got).toHaveLength(1);
    const [delivery] = receiver.got;
    expect(delivery?.headers['x-gitlab-event']).toBe('Push Hook');
    expect(delivery?.headers['x-gitlab-token']).toBe('hook-secret-0123456789');
    expect(delivery?.body).toMatchObject({ object_kind: 'push', ref: 'refs/heads/main', total_commits_count: 2 });
  });

  it('fails the test, and keeps the hook disabled, when the receiver does not answer 2xx', async () => {
    const hookId = await addHook();
    gitlab.failDeliveries(hookId, 4);
    receiver.status = 401;

    const error = await api()
      .testHook(42, hookId)
      .then(
        () => undefined,
        (e: unknown) => e,
      );

    expect(error).toBeInstanceOf(GitlabError);
    expect(error).toMatchObject({ kind: 'invalid', status: 422 });
    expect((await api().getHook(42, hookId))?.alertStatus).toBe('temporarily_disabled');
  });

  it('tells whether a deploy key is still enabled on the project', async () => {
    const keyId = await api().addDeployKey(42, { title: 'k', key: generateDeployKey('k').publicKey });
    expect(await api().hasDeployKey(42, keyId)).toBe(true);
    await api().removeDeployKey(42, keyId);
    expect(await api().hasDeployKey(42, keyId)).toBe(false);
  });
});
