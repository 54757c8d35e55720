import { cli, startTestLocalMode } from '../support/local';

describe('the slipway command', () => {
  let local: Awaited<ReturnType<typeof startTestLocalMode>>;
  let env: Record<string, string>;

  beforeAll(async () => {
    local = await startTestLocalMode();
    env = { SLIPWAY_HOME: local.home };
  }, 60_000);

  afterAll(async () => {
    await local?.stop();
  });

  it('creates, lists, shows and deletes an app, with contract-shaped JSON', async () => {
    const created = await cli(['apps', 'create', 'shop', '--project', 'acme/shop', '--mode', 'queued', '--json'], env);
    expect(created.code).toBe(0);
    expect(JSON.parse(created.stdout)).toMatchObject({
      name: 'shop',
      project: 'acme/shop',
      branch: 'main',
      mode: 'queued',
      status: 'active',
      linked: false,
      hookUrl: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+\/hooks\/gitlab\/[A-Za-z0-9_-]{24}$/),
    });

    const listed = JSON.parse((await cli(['apps', 'list', '--json'], env)).stdout);
    expect(listed.map((a: { name: string }) => a.name)).toContain('shop');

    const deleted = await cli(['apps', 'delete', 'shop'], env);
    expect(deleted).toMatchObject({ code: 0, stdout: 'deleted app shop\n' });

    const gone = await cli(['apps', 'show', 'shop'], env);
    expect(gone).toMatchObject({ code: 1, stderr: 'slipway: no app named shop\n' });
  });

  it('prints the webhook URL and secret once, and rotating it changes the secret', async () => {
    await cli(['apps', 'create', 'rot', '--project', 'acme/rot'], env);
    const first = JSON.parse((await cli(['apps', 'webhook', 'rot', '--json'], env)).stdout);
    const second = JSON.parse((await cli(['apps', 'webhook', 'rot', '--json'], env)).stdout);

    expect(first.url).toBe(second.url);
    expect(first.secret).not.toBe(second.secret);
    const shown = (await cli(['apps', 'show', 'rot', '--json'], env)).stdout;
    expect(shown).not.toContain(second.secret);
  });

  it('exits 1 with one clear line for a refused request', async () => {
    const out = await cli(['apps', 'create', 'Bad_Name', '--project', 'a/b'], env);
    expect(out.code).toBe(1);
    expect(out.stderr).toMatch(/^slipway: invalid app name "Bad_Name"[^\n]*\n$/);
  });

  it('exits 2 for a usage error', async () => {
    expect((await cli(['apps', 'create', 'x'], env)).code).toBe(2);
    expect((await cli(['nonsense'], env)).code).toBe(2);
    expect((await cli(['apps', 'create', 'web', '--project', 'a/b', '--mode', 'fast'], env)).code).toBe(2);
  });

  it('exits 1 with one line when the API is unreachable or the token is wrong', async () => {
    const down = await cli(['apps', 'list'], { SLIPWAY_URL: 'http://127.0.0.1:9', SLIPWAY_TOKEN: 't' });
    expect(down.code).toBe(1);
    expect(down.stderr.trim().split('\n')).toHaveLength(1);
    expect(down.stderr).toMatch(/cannot reach Slipway/);

    const refused = await cli(['apps', 'list', '--api', local.url, '--api-token', 'wrong'], {});
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/refused the credentials/);
  });
});
