import { execFileSync } from 'node:child_process';
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { gitlabExample } from '../support/gitlab-events';
import { type GitlabStandin, startGitlabStandin } from '../support/gitlab-standin';
import { cli, ROOT, startTestLocalMode } from '../support/local';
import { type Sshd, startSshd } from '../support/sshd';

const FAKE_DOCKER_DIR = join(ROOT, 'test/support/fake-docker');

/**
 * A push builds for real in local mode: link (deploy key into GitLab and into the git server),
 * push, the buildspec runs with git over a real sshd and a recording docker, the build record
 * ends `succeeded` with the image digests, and `builds logs --follow` shows the log.
 */
describe('local mode: a push to a linked app builds', () => {
  const TOKEN = 'glpat-localBuildE2eToken0000001';
  let gitlab: GitlabStandin;
  let sshd: Sshd;
  let local: Awaited<ReturnType<typeof startTestLocalMode>>;
  let env: Record<string, string>;
  let commit: string;
  const dockerLog = join(mkdtempSync(join(tmpdir(), 'slipway-docker-')), 'calls.jsonl');
  const savedPath = process.env.PATH;

  const slipway = async (...args: string[]) => {
    const out = await cli([...args, '--json'], env);
    if (out.code !== 0) throw new Error(`slipway ${args.join(' ')} exited ${out.code}: ${out.stderr}`);
    return JSON.parse(out.stdout);
  };

  /** Adds a commit with a compose file to the served repository; returns its sha. */
  function pushComposeCommit(): string {
    const work = mkdtempSync(join(tmpdir(), 'slipway-work-'));
    const git = (...args: string[]) => execFileSync('git', args, { cwd: work, encoding: 'utf8' }).trim();
    git('clone', '-q', sshd.repoPath, '.');
    git('config', 'user.email', 'dev@example.com');
    git('config', 'user.name', 'Dev');
    mkdirSync(join(work, 'api'));
    writeFileSync(join(work, 'api/Dockerfile'), 'FROM scratch\n');
    writeFileSync(
      join(work, 'docker-compose.yml'),
      'services:\n  api:\n    build: ./api\n  cache:\n    image: redis:7\n',
    );
    git('add', '.');
    git('commit', '-q', '-m', 'Add the api service');
    git('push', '-q', 'origin', 'HEAD:main');
    return git('rev-parse', 'HEAD');
  }

  beforeAll(async () => {
    process.env.PATH = `${FAKE_DOCKER_DIR}:${savedPath}`;
    process.env.FAKE_DOCKER_LOG = dockerLog;
    process.env.SLIPWAY_BUILD_PASS_ENV = 'FAKE_DOCKER_LOG';
    sshd = await startSshd({ authorizedKeys: [] });
    commit = pushComposeCommit();
    gitlab = await startGitlabStandin();
    gitlab.addUser({ username: 'deployer', token: TOKEN, scopes: ['api'] });
    gitlab.addProject({ path: 'mike/diaspora', id: 15, sshUrl: sshd.gitUrl });
    local = await startTestLocalMode();
    env = { SLIPWAY_HOME: local.home };
    const knownHosts = join(local.home, 'known_hosts');
    writeFileSync(knownHosts, `${sshd.hostKeyLine}\n`);
    await slipway(
      'gitlab',
      'connect',
      '--url',
      gitlab.url,
      '--token',
      TOKEN,
      '--allow-http',
      '--known-hosts',
      knownHosts,
    );
    await slipway('apps', 'create', 'diaspora', '--project', 'mike/diaspora', '--branch', 'main');
    await slipway('apps', 'link', 'diaspora');
    // The deploy key GitLab now holds opens the git server too (what GitLab does with it).
    const [key] = gitlab.deployKeys(15);
    appendFileSync(
      join(dirname(sshd.repoPath), 'authorized_keys'),
      `restrict,command="git-upload-pack '${sshd.repoPath}'" ${String(key?.key)}\n`,
    );
  }, 90_000);

  afterAll(async () => {
    process.env.PATH = savedPath;
    delete process.env.FAKE_DOCKER_LOG;
    delete process.env.SLIPWAY_BUILD_PASS_ENV;
    await local?.stop();
    await gitlab?.stop();
    await sshd?.stop();
  });

  it('builds the pushed commit and records the image digest', async () => {
    const [hook] = gitlab.hooks(15);
    const push = gitlabExample('push.json');
    const body = JSON.stringify({
      ...push.body,
      ref: 'refs/heads/main',
      after: commit,
      checkout_sha: commit,
      project: {
        ...(push.body.project as object),
        id: 15,
        path_with_namespace: 'mike/diaspora',
        git_ssh_url: sshd.gitUrl,
      },
    });

    const res = await fetch(String(hook?.url), {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'X-Gitlab-Event': 'Push Hook',
        'X-Gitlab-Token': String(hook?.token),
        'Idempotency-Key': 'local-build-1',
      },
      body,
    });
    expect(res.status).toBe(202);
    const { build } = (await res.json()) as { build: string };

    const logs = await cli(['builds', 'logs', 'diaspora', build, '--follow'], env);
    expect(logs.code).toBe(0);
    expect(logs.stdout).toContain(commit);
    expect(logs.stdout).not.toMatch(/PRIVATE KEY/);

    const shown = await slipway('builds', 'show', 'diaspora', build);
    expect(shown).toMatchObject({
      status: 'succeeded',
      commit,
      images: { api: expect.stringMatching(/^sha256:[0-9a-f]{64}$/) },
      startedAt: expect.any(String),
      endedAt: expect.any(String),
      durationSeconds: expect.any(Number),
    });
    const calls = readFileSync(dockerLog, 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { argv: string[] });
    const builds = calls.filter((c) => c.argv[0] === 'buildx' && c.argv[1] === 'build');
    expect(builds).toHaveLength(1);
    expect(builds[0]?.argv.join(' ')).toContain(`slipway/diaspora:api-${commit}`);
  }, 90_000);
});
