import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { generateDeployKey } from '../../functions/adapters/ssh/deploy-key';
import { type GitlabStandin, startGitlabStandin } from '../support/gitlab-standin';
import { FAKE_DOCKER_DIR } from '../support/linked-app';
import { cli, startTestLocalMode } from '../support/local';

/**
 * `slipway doctor` against local mode over real HTTP: the real CLI, the GitLab stand-in through
 * gitbeaker, DynamoDB Local, the fake docker on PATH.
 */
describe('slipway doctor in local mode', () => {
  const TOKEN = 'glpat-doctorTokenThatWorks000001';
  const SHORT_LIVED = 'glpat-doctorTokenExpiringSoon01';
  let gitlab: GitlabStandin;
  let local: Awaited<ReturnType<typeof startTestLocalMode>>;
  let env: Record<string, string>;
  let knownHosts: string;
  const savedPath = process.env.PATH;
  const inDays = (days: number) => new Date(Date.now() + days * 86_400_000).toISOString().slice(0, 10);
  const run = (...args: string[]) => cli(args, env);
  const connect = async (token: string) => {
    const out = await run(
      'gitlab',
      'connect',
      '--url',
      gitlab.url,
      '--token',
      token,
      '--allow-http',
      '--known-hosts',
      knownHosts,
    );
    expect(out.code).toBe(0);
  };
  const hook = () => gitlab.hooks(15)[0];

  beforeAll(async () => {
    // The docker check asks the docker CLI on PATH, as local builds do.
    process.env.PATH = `${FAKE_DOCKER_DIR}:${savedPath}`;
    gitlab = await startGitlabStandin();
    gitlab.addUser({ username: 'deployer', token: TOKEN, scopes: ['api'], expiresAt: inDays(200) });
    gitlab.addUser({ username: 'deployer', token: SHORT_LIVED, scopes: ['api'], expiresAt: inDays(3) });
    gitlab.addProject({ path: 'mike/diaspora', id: 15 });
    gitlab.addCommit(15, { title: 'first', branches: ['main'] });
    local = await startTestLocalMode();
    env = { SLIPWAY_HOME: local.home };
    knownHosts = join(local.home, 'known_hosts');
    await writeFile(knownHosts, `127.0.0.1 ${generateDeployKey('host').publicKey.split(' ').slice(0, 2).join(' ')}\n`);
    await connect(TOKEN);
    // The app follows another branch: the test push GitLab sends of main is acknowledged, not built.
    expect((await run('apps', 'create', 'web', '--project', 'mike/diaspora', '--branch', 'release')).code).toBe(0);
    expect((await run('apps', 'link', 'web')).code).toBe(0);
  }, 60_000);

  afterAll(async () => {
    process.env.PATH = savedPath;
    await local?.stop();
    await gitlab?.stop();
  });

  it('says all is well, check by check, and exits 0', async () => {
    const out = await run('doctor');

    // (The whole answer in the failure message, should it fail.)
    expect({ ...out, stdout: out.code === 0 ? '' : out.stdout }).toEqual({ code: 0, stderr: '', stdout: '' });
    for (const line of [
      /✓ admin API\s+reachable at http:\/\/127\.0\.0\.1/,
      /✓ GitLab token\s+deployer at .*, api scope, expires/,
      /✓ web: GitLab hook\s+hook \d+ on mike\/diaspora is enabled/,
      /✓ web: deploy key\s+deploy key \d+ is enabled/,
      /✓ release workflow\s+workflow\/release\.asl\.json loads/,
      /✓ docker\s+the docker engine answers/,
      /· Slack notices\s+no incoming webhook set/,
    ]) {
      expect(out.stdout).toMatch(line);
    }
    const json = JSON.parse((await run('doctor', '--json')).stdout);
    expect(json).toMatchObject({
      ok: true,
      checks: expect.arrayContaining([{ id: 'api', status: 'ok', title: 'admin API', detail: expect.any(String) }]),
    });
  });

  it('finds a hook GitLab disabled after 4 failed deliveries, and --fix re-enables it', async () => {
    gitlab.failDeliveries(Number(hook()?.id), 4);

    const broken = await run('doctor');
    expect(broken.code).toBe(1);
    expect(broken.stdout).toMatch(/✗ web: GitLab hook\s+GitLab disabled hook \d+ after failed deliveries, until /);
    expect(broken.stdout).toMatch(/→ run slipway doctor --fix .* or run slipway apps link web/);
    expect(broken.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^slipway: doctor found 1 problem/)]);

    const fixed = await run('doctor', '--fix');
    expect(fixed.code).toBe(0);
    expect(fixed.stdout).toMatch(/✓ web: GitLab hook\s+.*re-enabled it with a test delivery.*\(fixed\)/);
    expect(hook()?.alert_status).toBe('executable');
    // GitLab's test push reached Slipway's hook route and got a 2xx (ignored: another branch).
    expect(gitlab.testDeliveries.at(-1)?.status).toBe(200);
    expect((await run('doctor')).code).toBe(0);
  });

  it('finds a hook disabled for good, and relinking replaces it and says so', async () => {
    gitlab.failDeliveries(Number(hook()?.id), 40);
    const broken = await run('doctor', '--json');
    expect(broken.code).toBe(1);
    expect(JSON.parse(broken.stdout)).toMatchObject({
      ok: false,
      checks: expect.arrayContaining([expect.objectContaining({ id: 'app.web.hook', status: 'fail', app: 'web' })]),
    });

    const relinked = await run('apps', 'link', 'web');
    expect(relinked.code).toBe(0);
    expect(relinked.stdout).toMatch(/GitLab had disabled the previous hook \d+ \(disabled\): replaced by hook \d+/);
    expect(gitlab.hooks(15)).toEqual([expect.objectContaining({ alert_status: 'executable' })]);
    expect((await run('doctor')).code).toBe(0);
  });

  it('fails when the GitLab token expires within 14 days', async () => {
    await connect(SHORT_LIVED);
    try {
      const out = await run('doctor');
      expect(out.code).toBe(1);
      expect(out.stdout).toMatch(
        /✗ GitLab token\s+the token of deployer at .* expires on \d{4}-\d\d-\d\d \(in 3 day\(s\)\)/,
      );
      expect(out.stdout).toMatch(/→ create a new token with the api scope and run slipway gitlab connect/);
    } finally {
      await connect(TOKEN);
    }
  });

  it('says in one line on stderr, exit 1, when the API cannot be reached or the input is bad', async () => {
    const unreachable = await cli(['doctor', '--api', 'http://127.0.0.1:1', '--api-token', 'x'], {});
    expect(unreachable.code).toBe(1);
    expect(unreachable.stdout).toBe('');
    expect(unreachable.stderr.trim().split('\n')).toHaveLength(1);

    const body = await fetch(`${local.url}/v1/doctor/fix`, {
      method: 'POST',
      headers: { authorization: `Bearer ${local.adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ everything: true }),
    });
    expect(body.status).toBe(400);
  });
});
