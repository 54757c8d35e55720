import { randomBytes } from 'node:crypto';
import { gitlabExample, systemEventsNotActedOn } from '../support/gitlab-events';
import { cli, startTestLocalMode } from '../support/local';

/**
 * The foundation's acceptance, end to end: local mode on real HTTP, the real CLI, real
 * DynamoDB Local, and GitLab's own example payloads and headers.
 */
describe('local mode: GitLab webhooks end to end', () => {
  let local: Awaited<ReturnType<typeof startTestLocalMode>>;
  let env: Record<string, string>;
  let hook: { url: string; secret: string };
  const SYSTEM_TOKEN = 'system-hook-token-for-tests';

  const slipway = async (...args: string[]) => {
    const out = await cli([...args, '--json'], env);
    if (out.code !== 0) throw new Error(`slipway ${args.join(' ')} exited ${out.code}: ${out.stderr}`);
    return JSON.parse(out.stdout);
  };

  const deliver = (
    url: string,
    body: string,
    headers: Record<string, string>,
  ): Promise<{ status: number; json: Record<string, unknown> }> =>
    fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body }).then(
      async (r) => ({ status: r.status, json: (await r.json()) as Record<string, unknown> }),
    );

  const push = gitlabExample('push.json');
  /** GitLab's example push as another push (its own `after`): one push is one build, however often it comes. */
  const anotherPush = () => {
    const after = randomBytes(20).toString('hex');
    return JSON.stringify({ ...push.body, after, checkout_sha: after });
  };
  const pushHeaders = (key: string, token = hook.secret) => ({
    'X-Gitlab-Event': 'Push Hook',
    'X-Gitlab-Token': token,
    'Idempotency-Key': key,
    'User-Agent': 'GitLab/18.6.0',
  });
  const builds = async () => (await slipway('builds', 'diaspora')) as Array<Record<string, unknown>>;

  beforeAll(async () => {
    local = await startTestLocalMode({ systemHookToken: SYSTEM_TOKEN });
    env = { SLIPWAY_HOME: local.home, SLIPWAY_URL: '', SLIPWAY_TOKEN: '' };
    delete env.SLIPWAY_URL;
    delete env.SLIPWAY_TOKEN;
    await slipway('apps', 'create', 'diaspora', '--project', 'mike/diaspora', '--branch', 'master', '--tags', 'v*');
    hook = await slipway('apps', 'webhook', 'diaspora');
  }, 60_000);

  afterAll(async () => {
    await local?.stop();
  });

  it('answers a valid push with 202 and shows the build in `slipway builds --json`', async () => {
    // The app's hook was added by hand (`apps webhook`): without a deploy key the build is
    // recorded and then fails at once, saying why. Linked apps build (test/e2e/local-build).
    const res = await deliver(hook.url, push.raw, pushHeaders('valid-push-1'));

    expect(res.status).toBe(202);
    let listed = await builds();
    for (let i = 0; i < 20 && listed[0]?.status === 'queued'; i++) {
      await new Promise((r) => setTimeout(r, 250));
      listed = await builds();
    }
    expect(listed[0]).toMatchObject({
      id: res.json.build,
      app: 'diaspora',
      status: 'failed',
      reason: expect.stringMatching(/^app diaspora is not linked/),
      commit: 'da1560886d4f094c3e6c9ef40349f7d38b5d27d7',
      ref: 'refs/heads/master',
      message: 'fixed readme',
      author: 'GitLab dev user',
      trigger: 'push',
      createdAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
    });
  });

  it('answers the same push resent with a new Idempotency-Key, or none, as a duplicate of its build', async () => {
    const before = (await builds()).length;
    const body = anotherPush();
    const first = await deliver(hook.url, body, pushHeaders('resent-1'));
    const { 'Idempotency-Key': _none, ...noKey } = pushHeaders('unused');

    const resent = await deliver(hook.url, body, pushHeaders('resent-2'));
    const keyless = await deliver(hook.url, body, noKey);

    expect(first.status).toBe(202);
    expect(resent).toEqual({ status: 200, json: { duplicate: true, build: first.json.build } });
    expect(keyless).toEqual({ status: 200, json: { duplicate: true, build: first.json.build } });
    expect((await builds()).length).toBe(before + 1);
  });

  it('refuses a wrong or missing secret with 401 and writes nothing', async () => {
    const before = (await builds()).length;

    const wrong = await deliver(hook.url, push.raw, pushHeaders('bad-secret-1', `${hook.secret}x`));
    const { 'X-Gitlab-Token': _omit, ...noToken } = pushHeaders('bad-secret-2');
    const missing = await deliver(hook.url, push.raw, noToken);

    expect(wrong.status).toBe(401);
    expect(missing.status).toBe(401);
    expect((await builds()).length).toBe(before);
  });

  it('turns 50 concurrent deliveries with one Idempotency-Key into exactly one build', async () => {
    const before = (await builds()).length;
    const body = anotherPush();

    const answers = await Promise.all(
      Array.from({ length: 50 }, () => deliver(hook.url, body, pushHeaders('same-key-50'))),
    );

    const ids = new Set(answers.map((a) => a.json.build));
    expect(ids.size).toBe(1);
    expect(answers.filter((a) => a.status === 202)).toHaveLength(1);
    expect(answers.filter((a) => a.status === 200 && a.json.duplicate === true)).toHaveLength(49);
    expect((await builds()).length).toBe(before + 1);
  });

  it('acknowledges with 200 and ignores: another branch, a branch deletion, an event it does not act on', async () => {
    const before = (await builds()).length;
    const otherBranch = JSON.stringify({ ...push.body, ref: 'refs/heads/feature' });
    const deletion = JSON.stringify({ ...push.body, after: '0'.repeat(40), checkout_sha: null });
    const issue = gitlabExample('issue.json');

    const answers = [
      await deliver(hook.url, otherBranch, pushHeaders('ignored-1')),
      await deliver(hook.url, deletion, pushHeaders('ignored-2')),
      await deliver(hook.url, issue.raw, { ...pushHeaders('ignored-3'), 'X-Gitlab-Event': issue.event }),
    ];

    expect(answers.map((a) => a.status)).toEqual([200, 200, 200]);
    expect(answers.map((a) => a.json.ignored)).toEqual([
      'branch feature does not match master',
      'branch deleted',
      'event Issue Hook is not acted on',
    ]);
    expect((await builds()).length).toBe(before);
  });

  it('builds a tag push matching the tag pattern, recorded with trigger tag', async () => {
    const tag = gitlabExample('tag_push.json');
    const body = JSON.stringify({
      ...tag.body,
      project: { ...(tag.body.project as object), path_with_namespace: 'mike/diaspora', id: 15 },
    });

    const res = await deliver(hook.url, body, { ...pushHeaders('tag-1'), 'X-Gitlab-Event': 'Tag Push Hook' });

    expect(res.status).toBe(202);
    expect((await builds())[0]).toMatchObject({ id: res.json.build, trigger: 'tag', ref: 'refs/tags/v1.0.0' });
  });

  it('answers malformed JSON 400, a non-JSON body 415, an unknown hook 404 and an oversized body 413', async () => {
    const before = (await builds()).length;
    const malformed = await deliver(hook.url, '{"object_kind": "push",', pushHeaders('bad-1'));
    const notJson = await fetch(hook.url, {
      method: 'POST',
      headers: { ...pushHeaders('bad-2'), 'content-type': 'text/plain' },
      body: 'hi',
    });
    const unknown = await deliver(`${local.url}/hooks/gitlab/AAAAAAAAAAAAAAAAAAAAAAAA`, push.raw, pushHeaders('bad-3'));
    const huge = await fetch(hook.url, {
      method: 'POST',
      headers: { ...pushHeaders('bad-4'), 'content-type': 'application/json' },
      body: `{"pad":"${'x'.repeat(6 * 1024 * 1024)}"}`,
    });

    expect(malformed.status).toBe(400);
    expect(notJson.status).toBe(415);
    expect(unknown.status).toBe(404);
    expect(huge.status).toBe(413);
    expect((await builds()).length).toBe(before);
  });

  it('answers a warm webhook well within a second', async () => {
    const started = performance.now();
    const res = await deliver(hook.url, anotherPush(), pushHeaders('timing-1'));
    expect(res.status).toBe(202);
    expect(performance.now() - started).toBeLessThan(1000);
  });

  describe('system hooks', () => {
    const system = (file: string, token = SYSTEM_TOKEN, key = `sys-${file}-${Math.random()}`) => {
      const example = gitlabExample(file);
      return deliver(`${local.url}/hooks/gitlab-system`, example.raw, {
        'X-Gitlab-Event': example.event,
        'X-Gitlab-Token': token,
        'Idempotency-Key': key,
      });
    };

    it('refuses a wrong system-hook token with 401', async () => {
      expect((await system('system_push.json', 'nope')).status).toBe(401);
    });

    it('builds a push of a linked project once per app, though GitLab sends it again as repository_update', async () => {
      await slipway('apps', 'create', 'example', '--project', 'jsmith/example', '--branch', 'master');
      await slipway('apps', 'create', 'example-worker', '--project', 'jsmith/example', '--branch', 'master');
      const before = (await slipway('builds', 'example')).length;
      const update = gitlabExample('system_repository_update.json');
      // The same ref update seen as both events GitLab sends for one push.
      const asPush = JSON.stringify({
        ...gitlabExample('system_push.json').body,
        project_id: 1,
        project: update.body.project,
        before: '8205ea8d81ce0c6b90fbe8280d118cc9fdad6130',
        after: '4045ea7a3df38697b3730a20fb73c8bed8a3e69e',
        checkout_sha: '4045ea7a3df38697b3730a20fb73c8bed8a3e69e',
      });

      const first = await system('system_repository_update.json');
      const second = await deliver(`${local.url}/hooks/gitlab-system`, asPush, {
        'X-Gitlab-Event': 'System Hook',
        'X-Gitlab-Token': SYSTEM_TOKEN,
        'Idempotency-Key': 'another-key',
      });

      expect(first.status).toBe(202);
      expect(first.json.builds).toHaveLength(2);
      expect(second).toMatchObject({ status: 200, json: { duplicate: true, builds: first.json.builds } });
      expect(await slipway('builds', 'example-worker')).toHaveLength(1);
      const listed = await slipway('builds', 'example');
      expect(listed).toHaveLength(before + 1);
      expect(listed[0]).toMatchObject({ trigger: 'system_hook', commit: '4045ea7a3df38697b3730a20fb73c8bed8a3e69e' });
    });

    it('follows a rename and a transfer, then disables the app when the project is destroyed', async () => {
      await slipway('apps', 'create', 'underscore', '--project', 'jsmith/overscore');

      expect((await system('system_project_rename.json')).status).toBe(200);
      expect(await slipway('apps', 'show', 'underscore')).toMatchObject({
        project: 'jsmith/underscore',
        projectId: 73,
      });

      const transfer = gitlabExample('system_project_transfer.json');
      const moved = await deliver(
        `${local.url}/hooks/gitlab-system`,
        JSON.stringify({ ...transfer.body, old_path_with_namespace: 'jsmith/underscore' }),
        {
          'X-Gitlab-Event': 'System Hook',
          'X-Gitlab-Token': SYSTEM_TOKEN,
        },
      );
      expect(moved.status).toBe(200);
      expect(await slipway('apps', 'show', 'underscore')).toMatchObject({
        project: 'scores/underscore',
        status: 'active',
      });

      expect((await system('system_project_destroy.json')).status).toBe(200);
      expect(await slipway('apps', 'show', 'underscore')).toMatchObject({ status: 'disabled' });
    });

    it('acknowledges every other documented system event with 200 and ignores it', async () => {
      const others = systemEventsNotActedOn();

      for (const example of others) {
        const res = await system(example.file);
        expect({ file: example.file, status: res.status, ignored: typeof res.json.ignored }).toEqual({
          file: example.file,
          status: 200,
          ignored: 'string',
        });
      }
    });
  });
});
