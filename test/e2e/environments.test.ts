import type { Build, Release } from '../../functions/domain/model';
import { type LinkedAppWorld, startLinkedAppWorld } from '../support/linked-app';
import { cli } from '../support/local';
import { until } from '../support/until';

/**
 * Environments in local mode, end to end over the real CLI, a real build over sshd and the
 * recording docker (docs/ENVIRONMENTS.md, slice: promotion-only environments): a push goes live
 * in the app's first environment (`staging`); `promote` puts exactly its image digests live in
 * `production`, in a container of its own, without a build; each environment keeps its own live
 * release; and the refusals say why.
 */

interface EnvironmentView {
  name: string;
  branch?: string;
  approval: string;
  live?: string;
}

describe('environments: build once in staging, promote the same images to production', () => {
  let world: LinkedAppWorld;

  beforeAll(async () => {
    world = await startLinkedAppWorld();
    await world.linkApp('shop', ['--environment', 'staging']);
  }, 120_000);

  afterAll(async () => {
    await world?.stop();
  });

  const dockerRuns = () => world.dockerCalls('run');
  const imageBuilds = () => world.dockerCalls('buildx');

  it('a push goes live in the first environment; promote puts the same digests live in production, no rebuild', async () => {
    const sha = world.commit('Add the basket');
    const res = await world.push('shop', sha, 'env-push-1');
    expect(res.status).toBe(202);
    const { build: buildId } = (await res.json()) as { build: string };
    await until('the release outcome', async () => (await world.local.store.getBuild('shop', buildId))?.outcome);
    const build = (await world.slipway('builds', 'show', 'shop', buildId)) as Build;
    expect(build.outcome).toBe('live');

    await world.slipway('envs', 'create', 'shop', 'production', '--url', 'https://shop.example.com');
    let envs = (await world.slipway('envs', 'shop')) as EnvironmentView[];
    expect(envs.map((e) => [e.name, e.branch, e.live])).toEqual([
      ['staging', 'main', build.release],
      ['production', undefined, undefined],
    ]);

    const buildsBefore = imageBuilds().length;
    const promoted = (await world.slipway(
      'promote',
      'shop',
      '--from',
      'staging',
      '--to',
      'production',
      '--wait',
    )) as Release;
    expect(promoted).toMatchObject({
      status: 'live',
      environment: 'production',
      promotedFrom: build.release,
      build: buildId,
      commit: sha,
      images: build.images,
    });
    // No build ran for it: the same digests, a container of production's own.
    expect(imageBuilds().length).toBe(buildsBefore);
    const last = dockerRuns().at(-1) ?? [];
    expect(last).toContain('slipway.environment=production');
    expect(last.join(' ')).toContain(String(Object.values(build.images ?? {})[0]).slice(0, 20));
    expect(last[last.indexOf('--name') + 1]).toMatch(/^slipway-shop\.production-/);

    // Each environment has its own live release; staging's was not replaced by the promotion.
    envs = (await world.slipway('envs', 'shop')) as EnvironmentView[];
    expect(envs.map((e) => [e.name, e.live])).toEqual([
      ['staging', build.release],
      ['production', promoted.id],
    ]);
    const staging = (await world.slipway('releases', 'shop', '--env', 'staging')) as Release[];
    const production = (await world.slipway('releases', 'shop', '--env', 'production')) as Release[];
    expect(staging.map((r) => [r.id, r.status, r.environment])).toEqual([[build.release, 'live', 'staging']]);
    expect(production.map((r) => [r.id, r.status])).toEqual([[promoted.id, 'live']]);
    // The tokens the workflow waited on are not shown.
    expect(JSON.stringify(production)).not.toContain('waitToken');

    // Promoting again replaces production's live release with a copy of the same images.
    const again = (await world.slipway(
      'promote',
      'shop',
      '--from',
      'staging',
      '--to',
      'production',
      '--wait',
    )) as Release;
    expect(again).toMatchObject({ status: 'live', images: build.images });
    const productionNow = (await world.slipway('releases', 'shop', '--env', 'production')) as Release[];
    expect(productionNow.map((r) => r.status)).toEqual(['live', 'replaced']);
    expect(((await world.slipway('releases', 'shop', '--env', 'staging')) as Release[])[0]?.status).toBe('live');
  }, 180_000);

  it('refuses, with one clear line: self-promotion, unknown environments, a release that never went live', async () => {
    const failing = async (args: string[], pattern: RegExp) => {
      const out = await cli(args, world.env);
      expect({ code: out.code, stderr: out.stderr.trim() }).toEqual({
        code: 1,
        stderr: expect.stringMatching(pattern),
      });
      expect(out.stderr.trim().split('\n')).toHaveLength(1);
    };
    await failing(['promote', 'shop', '--from', 'staging', '--to', 'staging'], /cannot promote staging to itself/);
    await failing(['promote', 'shop', '--from', 'staging', '--to', 'qa'], /has no environment qa/);
    await failing(['releases', 'shop', '--env', 'qa'], /has no environment qa/);
    // A release whose rollout failed never went live: it cannot be promoted.
    const [live] = (await world.slipway('releases', 'shop', '--env', 'staging')) as Release[];
    const failed: Release = {
      ...(live as Release),
      id: '01KZZZZZZZZZZZZZZZZZZZZZZZ',
      status: 'failed',
      reason: 'the rollout failed',
      createdAt: new Date().toISOString(),
    };
    delete failed.liveAt;
    await world.local.store.createRelease(failed);
    await failing(
      ['promote', 'shop', '--from', 'staging', '--to', 'production', '--release', failed.id],
      /never went live \(failed\)/,
    );
    await failing(
      ['promote', 'shop', '--from', 'production', '--to', 'staging', '--release', failed.id],
      /not production/,
    );
    await failing(['envs', 'create', 'shop', 'qa', '--branch', 'a..b'], /invalid branch filter "a..b"/);
    await failing(['envs', 'create', 'shop', 'Bad_Name'], /environment name must be/);
    await failing(['envs', 'create', 'shop', 'production'], /already has an environment production/);
    await failing(['envs', 'delete', 'shop', 'staging'], /first environment/);
  }, 60_000);

  it('a push matching further environments builds once and goes live in each of them', async () => {
    await world.slipway('envs', 'create', 'shop', 'qa', '--branch', 'main');
    const buildsBefore = imageBuilds().length;
    const sha = world.commit('Add the receipt');
    const res = await world.push('shop', sha, 'env-push-fan-out');
    expect(res.status).toBe(202);
    const { build: buildId } = (await res.json()) as { build: string };
    const fanned = await until('the release to qa live', async () => {
      const [latest] = (await world.slipway('releases', 'shop', '--env', 'qa')) as Release[];
      return latest?.build === buildId && latest.status === 'live' ? latest : undefined;
    });
    await until('the build released', async () => (await world.local.store.getBuild('shop', buildId))?.outcome);
    const [staging] = (await world.slipway('releases', 'shop', '--env', 'staging')) as Release[];
    expect(staging).toMatchObject({ build: buildId, status: 'live', images: fanned.images });
    expect(fanned).toMatchObject({ environment: 'qa', fannedOut: true, commit: sha });
    // One build for both.
    expect(imageBuilds().length).toBe(buildsBefore + 1);
    const qaRun = dockerRuns().find((argv) => argv.includes('slipway.environment=qa'));
    expect(qaRun?.[qaRun.indexOf('--name') + 1]).toMatch(/^slipway-shop\.qa-/);
    await world.slipway('envs', 'delete', 'shop', 'qa');
  }, 180_000);

  it('deletes an environment beyond the first; its releases stay as history', async () => {
    await world.slipway('envs', 'create', 'shop', 'qa');
    expect(((await world.slipway('envs', 'shop')) as EnvironmentView[]).map((e) => e.name)).toContain('qa');
    await world.slipway('envs', 'delete', 'shop', 'qa');
    expect(((await world.slipway('envs', 'shop')) as EnvironmentView[]).map((e) => e.name)).toEqual([
      'staging',
      'production',
    ]);
    const out = await cli(['envs', 'delete', 'shop', 'qa'], world.env);
    expect(out.code).toBe(1);
    expect(out.stderr).toMatch(/has no environment qa/);
  }, 60_000);
});
