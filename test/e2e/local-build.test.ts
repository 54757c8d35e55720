import { readFileSync } from 'node:fs';
import { type LinkedAppWorld, startLinkedAppWorld } from '../support/linked-app';
import { cli } from '../support/local';

/**
 * A push builds for real in local mode: link (deploy key into GitLab and into the git server),
 * push, the buildspec runs with git over a real sshd and a recording docker, the build record
 * ends `succeeded` with the image digests, and `builds logs --follow` shows the log.
 */
describe('local mode: a push to a linked app builds', () => {
  let world: LinkedAppWorld;
  let commit: string;

  beforeAll(async () => {
    world = await startLinkedAppWorld();
    await world.linkApp('diaspora');
    commit = world.commit('Add the api service', {
      'api/Dockerfile': 'FROM scratch\n',
      'docker-compose.yml': 'services:\n  api:\n    build: ./api\n  cache:\n    image: redis:7\n',
    });
  }, 90_000);

  afterAll(async () => {
    await world?.stop();
  });

  it('builds the pushed commit and records the image digest', async () => {
    const res = await world.push('diaspora', commit, 'local-build-1');
    expect(res.status).toBe(202);
    const { build } = (await res.json()) as { build: string };

    const logs = await cli(['builds', 'logs', 'diaspora', build, '--follow'], world.env);
    expect(logs.code).toBe(0);
    expect(logs.stdout).toContain(commit);
    expect(logs.stdout).not.toMatch(/PRIVATE KEY/);

    const shown = await world.slipway('builds', 'show', 'diaspora', build);
    expect(shown).toMatchObject({
      status: 'succeeded',
      commit,
      images: { api: expect.stringMatching(/^sha256:[0-9a-f]{64}$/) },
      startedAt: expect.any(String),
      endedAt: expect.any(String),
      durationSeconds: expect.any(Number),
    });
    const calls = readFileSync(world.dockerLog, 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { argv: string[] });
    const builds = calls.filter((c) => c.argv[0] === 'buildx' && c.argv[1] === 'build');
    expect(builds).toHaveLength(1);
    expect(builds[0]?.argv.join(' ')).toContain(`slipway/diaspora:api-${commit}`);
  }, 90_000);
});
