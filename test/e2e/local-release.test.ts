import { readFileSync } from 'node:fs';
import type { Build, Release } from '../../functions/domain/model';
import { type LinkedAppWorld, startLinkedAppWorld } from '../support/linked-app';
import { cli } from '../support/local';
import { until } from '../support/until';

/**
 * Issue #5 acceptance in local mode, end to end over real HTTP: GitLab's example push → a real
 * build (buildspec, git over sshd, recording docker) → the release workflow (the ASL run by the
 * local executor) → `docker run` of the new image → release `live` → the Slack message at a
 * receiver → the GitLab stand-in's commit statuses and deployment. Then a failing build, and
 * 20 pushes within two seconds in both concurrency modes.
 */

function text(message: { text?: string; blocks?: unknown[] }): string {
  return JSON.stringify(message);
}

/** Release windows (prepared → live or ended) never overlap: one rollout at a time. */
function expectOneRolloutAtATime(releases: Release[]): void {
  const windows = releases
    .map((r) => ({ id: r.id, from: Date.parse(r.createdAt), to: Date.parse(r.liveAt ?? r.endedAt ?? '') }))
    .sort((a, b) => a.from - b.from);
  for (const w of windows) expect(Number.isFinite(w.to)).toBe(true);
  for (let i = 1; i < windows.length; i++) {
    expect(windows[i]?.from).toBeGreaterThanOrEqual(windows[i - 1]?.to ?? Number.POSITIVE_INFINITY);
  }
}

describe('local mode: a push is built, released, reported', () => {
  let world: LinkedAppWorld;

  beforeAll(async () => {
    world = await startLinkedAppWorld({
      dockerEnv: { SLIPWAY_BUILD_PASS_ENV: 'FAKE_DOCKER_LOG,FAKE_DOCKER_FAIL_ON' },
    });
    await world.linkApp('web');
  }, 120_000);

  afterAll(async () => {
    delete process.env.FAKE_DOCKER_FAIL_ON;
    await world?.stop();
  });

  it('a GitLab push goes live: docker run, Slack says so, GitLab shows running then success', async () => {
    const sha = world.commit('Ship the new homepage');
    const res = await world.push('web', sha, 'release-happy-1');
    expect(res.status).toBe(202);
    const { build: buildId } = (await res.json()) as { build: string };

    await until('the release outcome', async () => (await world.local.store.getBuild('web', buildId))?.outcome);
    const build = (await world.slipway('builds', 'show', 'web', buildId)) as Build;
    expect(build).toMatchObject({
      status: 'succeeded',
      commit: sha,
      outcome: 'live',
      report: { gitlab: 'ok', slack: 'ok' },
    });
    const releases = (await world.slipway('releases', 'web')) as Release[];
    expect(releases).toHaveLength(1);
    expect(releases[0]).toMatchObject({
      id: build.release,
      status: 'live',
      build: buildId,
      commit: sha,
      images: build.images,
      liveAt: expect.any(String),
    });

    // The image went out with docker run, pinned by digest.
    const runs = readFileSync(world.dockerLog, 'utf8')
      .trim()
      .split('\n')
      .map((line) => (JSON.parse(line) as { argv: string[] }).argv)
      .filter((argv) => argv[0] === 'run');
    expect(runs).toHaveLength(1);
    expect(runs[0]?.join(' ')).toContain(String(build.images?.api).slice(0, 20));

    // GitLab: statuses running then success on the commit, a deployment that succeeded.
    const states = world.gitlab.statuses(world.projectId, sha).map((s) => s.status);
    expect(states.indexOf('running')).toBeGreaterThanOrEqual(0);
    expect(states.at(-1)).toBe('success');
    expect(states.indexOf('running')).toBeLessThan(states.lastIndexOf('success'));
    const statuses = world.gitlab.statuses(world.projectId, sha);
    expect(statuses.at(-1)).toMatchObject({ name: 'slipway/web', ref: 'main' });
    expect(String(statuses.at(-1)?.target_url)).toContain(`/v1/apps/web/builds/${buildId}`);
    const deployments = world.gitlab.deployments(world.projectId).filter((d) => d.sha === sha);
    expect(deployments).toHaveLength(1);
    expect(deployments[0]).toMatchObject({ status: 'success', environment: { name: 'production' } });

    // Slack: one notice, with app, environment, short sha, title, author and timings.
    expect(world.slack.messages).toHaveLength(1);
    const notice = text(world.slack.messages[0] ?? {});
    for (const part of ['web', 'production', sha.slice(0, 8), 'Ship the new homepage', 'Dev']) {
      expect(notice).toContain(part);
    }
    expect(notice).toMatch(/live/i);
  }, 120_000);

  it('a failing build ends failed everywhere, and Slack says why', async () => {
    const before = world.slack.messages.length;
    const sha = world.commit('Break the build');
    process.env.FAKE_DOCKER_FAIL_ON = sha;
    try {
      const res = await world.push('web', sha, 'release-fail-1');
      expect(res.status).toBe(202);
      const { build: buildId } = (await res.json()) as { build: string };
      await until('the failed outcome', async () => (await world.local.store.getBuild('web', buildId))?.outcome);
      const build = (await world.slipway('builds', 'show', 'web', buildId)) as Build;
      expect(build).toMatchObject({ status: 'failed', outcome: 'failed', report: { gitlab: 'ok', slack: 'ok' } });
      expect(build.release).toBeUndefined();
      expect(build.reason).toMatch(/build/i);

      const releases = (await world.slipway('releases', 'web')) as Release[];
      expect(releases.filter((r) => r.commit === sha)).toEqual([]);
      expect(releases.filter((r) => r.status === 'live')).toHaveLength(1); // the earlier one stays live

      expect(
        world.gitlab
          .statuses(world.projectId, sha)
          .map((s) => s.status)
          .at(-1),
      ).toBe('failed');
      expect(world.gitlab.deployments(world.projectId).filter((d) => d.sha === sha)).toEqual([]);
      expect(world.slack.messages).toHaveLength(before + 1);
      const notice = text(world.slack.messages.at(-1) ?? {});
      expect(notice).toMatch(/fail/i);
      expect(notice).toContain(sha.slice(0, 8));
      expect(build.reason).toMatch(/^build-image api/);
      expect(notice).toContain('build-image api');
    } finally {
      delete process.env.FAKE_DOCKER_FAIL_ON;
    }
  }, 120_000);
  it('deploy --wait builds and releases the branch head by hand; an unknown ref is one clear error', async () => {
    const sha = world.commit('Deploy me by hand');
    const out = await cli(['deploy', 'web', '--wait', '--json'], world.env);
    expect(out.code).toBe(0);
    const release = JSON.parse(out.stdout) as Release;
    expect(release).toMatchObject({ status: 'live', commit: sha });
    expect(out.stderr).toMatch(/build \S+ (queued|running)/);
    const build = (await world.slipway('builds', 'show', 'web', release.build)) as Build;
    expect(build).toMatchObject({
      trigger: 'manual',
      ref: 'refs/heads/main',
      message: 'Deploy me by hand',
      outcome: 'live',
    });

    const unknown = await cli(['deploy', 'web', '--ref', 'no-such-branch'], world.env);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr.trim().split('\n')).toHaveLength(1);
    expect(unknown.stderr).toMatch(/no-such-branch/);
  }, 120_000);

  it('the admin API answers bad deploy and rollback requests with a clear 4xx', async () => {
    const call = async (method: string, path: string, body?: string) => {
      const res = await fetch(`${world.local.url}${path}`, {
        method,
        headers: { authorization: `Bearer ${world.local.adminToken}`, 'content-type': 'application/json' },
        ...(body !== undefined ? { body } : {}),
      });
      return { status: res.status, body: (await res.json()) as { error?: string } };
    };
    await world.slipway('apps', 'create', 'unlinked', '--project', 'mike/diaspora');
    const cases: Array<[string, string, string | undefined, number, RegExp]> = [
      ['POST', '/v1/apps/web/deploy', '{"ref": 5}', 400, /ref/],
      ['POST', '/v1/apps/web/deploy', '{"bogus": true}', 400, /bogus|unrecognized/i],
      ['POST', '/v1/apps/web/deploy', 'not json', 400, /json/i],
      ['POST', '/v1/apps/web/deploy', `{"ref": "${'x'.repeat(300)}"}`, 400, /ref/],
      ['POST', '/v1/apps/web/deploy', '{"ref": "a..b"}', 400, /ref/i],
      ['POST', '/v1/apps/nope/deploy', '{}', 404, /no app/],
      ['POST', '/v1/apps/unlinked/deploy', '{}', 409, /not linked/],
      ['GET', '/v1/apps/web/releases/not-an-id', undefined, 404, /no release/],
      ['POST', '/v1/apps/web/releases/01ZZZZZZZZZZZZZZZZZZZZZZZZ/rollback', '{}', 404, /no release/],
      ['POST', '/v1/apps/web/releases/01ZZZZZZZZZZZZZZZZZZZZZZZZ/rollback', '{"x":1}', 400, /x|unrecognized/i],
    ];
    for (const [method, path, body, status, message] of cases) {
      const answer = await call(method, path, body);
      expect({ path, body, status: answer.status }).toEqual({ path, body, status });
      expect(answer.body.error).toMatch(message);
    }
  }, 60_000);

  it('releases rollback --wait copies an old release forward and makes it live', async () => {
    const before = (await world.slipway('releases', 'web')) as Release[];
    const first = before.at(-1) as Release;
    const current = before.find((r) => r.status === 'live') as Release;
    expect(first.id).not.toBe(current.id);

    const out = await cli(['releases', 'rollback', 'web', first.id, '--wait', '--json'], world.env);
    expect(out.code).toBe(0);
    const copy = JSON.parse(out.stdout) as Release;
    expect(copy).toMatchObject({ status: 'live', commit: first.commit, images: first.images, build: first.build });
    expect(copy.id).not.toBe(first.id);
    expect(copy.reason).toContain(first.id);

    const after = (await world.slipway('releases', 'web')) as Release[];
    expect(after.filter((r) => r.status === 'live').map((r) => r.id)).toEqual([copy.id]);
    expect(after.find((r) => r.id === current.id)?.status).toBe('replaced');
    // Slack says it is a rollback, with no build time (no build ran).
    await until('the rollback notice', async () =>
      world.slack.messages.some((m) => text(m).includes(`rollback to release ${first.id}`)) ? true : undefined,
    );
    const notice = text(world.slack.messages.find((m) => text(m).includes(`rollback to release ${first.id}`)) ?? {});
    expect(notice).not.toContain('Build time');
    // The old build's own record is untouched by the rollback.
    expect(((await world.slipway('builds', 'show', 'web', first.build)) as Build).release).toBe(first.id);

    const missing = await cli(['releases', 'rollback', 'web', '01ZZZZZZZZZZZZZZZZZZZZZZZZ'], world.env);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/no release/);
  }, 120_000);
});

describe('local mode: 20 pushes to one app within two seconds', () => {
  let world: LinkedAppWorld;

  beforeAll(async () => {
    world = await startLinkedAppWorld({ projectId: 16 });
  }, 120_000);

  afterAll(async () => {
    await world?.stop();
  });

  async function burst(app: string): Promise<{ shas: string[]; builds: Build[]; elapsedMs: number }> {
    const shas = Array.from({ length: 20 }, (_, i) => world.commit(`${app} change ${i + 1}`));
    // 20 deliveries within two seconds, each on its own (not waiting for the one before to be
    // answered): they are ordered by when the server received them, however they interleave.
    const started = Date.now();
    const answers: Array<Promise<Response>> = [];
    for (const [i, sha] of shas.entries()) {
      // On a 50 ms schedule from the start (a late timer does not push the rest back), one send per turn.
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, started + i * 50 - Date.now())));
      answers.push(world.push(app, sha, `${app}-burst-${i}`));
    }
    const elapsedMs = Date.now() - started;
    const responses = await Promise.all(answers);
    expect(responses.map((r) => r.status)).toEqual(Array(20).fill(202));
    const ids = await Promise.all(responses.map(async (r) => ((await r.json()) as { build: string }).build));
    expect([...ids].sort()).toEqual(ids);
    await until(
      'every execution to end',
      async () => {
        const all = await world.local.store.listBuilds(app, { limit: 100 });
        return all.length === 20 && all.every((b) => b.outcome) ? all : undefined;
      },
      240_000,
    );
    const builds = (await world.slipway('builds', app, '--limit', '100')) as Build[];
    expect(new Set(builds.map((b) => b.id))).toEqual(new Set(ids));
    return { shas, builds, elapsedMs };
  }

  it('superseded mode: every push recorded, one rollout at a time, the last pushed commit is live', async () => {
    await world.linkApp('burst');
    const { shas, builds, elapsedMs } = await burst('burst');
    expect(elapsedMs).toBeLessThan(2000);
    expect(builds.map((b) => b.commit).sort()).toEqual([...shas].sort());
    for (const b of builds) expect(['live', 'superseded']).toContain(b.outcome);

    const releases = (await world.slipway('releases', 'burst', '--limit', '100')) as Release[];
    const live = releases.filter((r) => r.status === 'live');
    expect(live).toHaveLength(1);
    expect(live[0]?.commit).toBe(shas.at(-1));
    expectOneRolloutAtATime(releases);
    // Builds overtaken before they finished were stopped (or never started): status superseded.
    const skipped = builds.filter((b) => b.outcome === 'superseded');
    expect(skipped.filter((b) => b.status === 'superseded').length).toBeGreaterThan(0);
    for (const b of skipped) expect(['superseded', 'succeeded']).toContain(b.status);
    const imageBuilds = readFileSync(world.dockerLog, 'utf8')
      .trim()
      .split('\n')
      .map((line) => (JSON.parse(line) as { argv: string[] }).argv)
      .filter((argv) => argv[0] === 'buildx' && argv.some((a) => a.startsWith('slipway/burst:')));
    expect(imageBuilds.length).toBeLessThan(20);
    // Skipped builds tell GitLab they were not released.
    expect(skipped.length).toBeGreaterThan(0);
    for (const b of skipped) {
      expect(world.gitlab.statuses(world.projectId, b.commit).at(-1)?.status).toBe('canceled');
    }
  }, 300_000);

  it('queued mode: every push deploys, in push order, one rollout at a time', async () => {
    await world.linkApp('queue', ['--mode', 'queued']);
    const { shas, builds, elapsedMs } = await burst('queue');
    expect(elapsedMs).toBeLessThan(2000);
    for (const b of builds) expect(b.outcome).toBe('live');

    const releases = (await world.slipway('releases', 'queue', '--limit', '100')) as Release[];
    expect(releases).toHaveLength(20);
    const oldestFirst = [...releases].reverse();
    expect(oldestFirst.map((r) => r.commit)).toEqual(shas);
    expect(oldestFirst.slice(0, -1).every((r) => r.status === 'replaced')).toBe(true);
    expect(oldestFirst.at(-1)?.status).toBe('live');
    expectOneRolloutAtATime(releases);
  }, 300_000);
});
