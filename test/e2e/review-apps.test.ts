import { existsSync, readFileSync } from 'node:fs';
import type { EnvironmentView } from '../../functions/domain/environments';
import type { Build, Release } from '../../functions/domain/model';
import { type LinkedAppWorld, startLinkedAppWorld } from '../support/linked-app';
import { cli } from '../support/local';
import { until } from '../support/until';

/**
 * Review apps in local mode, end to end (PRODUCT.md "Review apps", docs/ENVIRONMENTS.md): the
 * real CLI, a real build over sshd of the merge request's source branch, the recording docker
 * keeping containers like a daemon, and the GitLab stand-in delivering its `Merge Request Hook`
 * to the hook `apps link` made, as GitLab would. A merge request gets a container of its own and
 * one note with its URL; a push to main in between supersedes nothing and never takes the review
 * app's lock (nor the reverse); merge tears it down; a fork is refused with a note; at the cap the
 * review app idle longest goes, and its merge request is told.
 */

const URL_TEMPLATE = 'http://review-{iid}.shop.localhost';

describe('review apps: a merge request gets its own running app, until it is merged', () => {
  let world: LinkedAppWorld;
  let projectId: number;
  /** Every rollout lock taken: by which build, in which lane (undefined: production's). */
  const locks: Array<{ build: string; lane: string | undefined }> = [];

  beforeAll(async () => {
    world = await startLinkedAppWorld();
    projectId = world.projectId;
    await world.linkApp('shop');
    const store = world.local.store;
    const take = store.takeRolloutLock.bind(store);
    store.takeRolloutLock = async (app, build, at, previous, lane) => {
      const taken = await take(app, build, at, previous, lane);
      if (taken) locks.push({ build, lane });
      return taken;
    };
  }, 120_000);

  afterAll(async () => {
    await world?.stop();
  });

  /** The containers the recording docker keeps, by name, with their labels. */
  const containers = () => {
    const file = `${world.dockerLog}.containers`;
    if (!existsSync(file)) return [];
    return readFileSync(file, 'utf8')
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((line) => {
        const [name = '', status = '', labels = ''] = line.split('\t');
        return { name, status, labels: labels.split(',') };
      });
  };
  /** The build a delivery started (its 202 answer names it). */
  const builtBy = (delivery: { body: unknown } | undefined): string =>
    String((delivery?.body as { build?: string } | undefined)?.build);
  const reviewContainers = (iid: number) =>
    containers().filter((c) => c.labels.includes(`slipway.environment=review/${iid}`) && c.status === 'running');
  const gitlabEnvironment = (name: string) => world.gitlab.environments(projectId).find((e) => e.name === name);
  const outcomeOf = (build: string) =>
    until(`build ${build}'s outcome`, async () => (await world.local.store.getBuild('shop', build))?.outcome, 120_000);
  const envs = async () => (await world.slipway('envs', 'shop')) as EnvironmentView[];

  it('links the hook to merge request events and takes review apps with a URL per merge request', async () => {
    expect(world.gitlab.hooks(projectId).map((h) => h.merge_requests_events)).toEqual([true]);
    const template = (await world.slipway(
      'envs',
      'create',
      'shop',
      'review',
      '--review-apps',
      '--url',
      URL_TEMPLATE,
      '--cap',
      '1',
    )) as EnvironmentView;
    expect(template).toMatchObject({ name: 'review', url: URL_TEMPLATE, reviewApps: { cap: 1 } });
  });

  it('builds an opened merge request and runs it at review/<iid>: GitLab environment with its URL, one note', async () => {
    world.gitlab.addMergeRequest(projectId, { iid: 12, sourceBranch: 'feature/basket', title: 'Basket' });
    const head = world.commit('Add the basket', undefined, 'feature/basket');
    const [delivery] = await world.gitlab.deliverMergeRequestEvent(projectId, { iid: 12, action: 'open' });
    expect(delivery?.status).toBe(202);
    const buildId = builtBy(delivery);
    expect(await outcomeOf(buildId)).toBe('live');

    const build = (await world.slipway('builds', 'show', 'shop', buildId)) as Build;
    expect(build).toMatchObject({
      trigger: 'merge_request',
      environment: 'review/12',
      ref: 'refs/heads/feature/basket',
      commit: head,
    });
    // A container of its own, next to nothing of production's.
    const running = reviewContainers(12);
    expect(running).toHaveLength(1);
    expect(running[0]?.name).toMatch(/^slipway-shop\.review\.12-/);
    // `envs` lists it, live, with its own URL.
    expect((await envs()).find((e) => e.name === 'review/12')).toMatchObject({
      url: 'http://review-12.shop.localhost',
      mergeRequest: 12,
      live: build.release,
    });
    // GitLab: the environment (made by the release's deployment) has the URL; one note says where.
    expect(gitlabEnvironment('review/12')).toMatchObject({
      external_url: 'http://review-12.shop.localhost',
      state: 'available',
    });
    const deployments = world.gitlab.deployments(projectId).filter((d) => d.environment.name === 'review/12');
    expect(deployments.map((d) => [d.ref, d.sha, d.status])).toEqual([['feature/basket', head, 'success']]);
    const notes = world.gitlab.notes(projectId, 12);
    expect(notes).toHaveLength(1);
    expect(notes[0]?.body).toContain('http://review-12.shop.localhost');
    // Its lock is its own: production's was never taken for it.
    expect(locks.filter((l) => l.build === buildId).map((l) => l.lane)).toEqual(['review/12']);
  }, 180_000);

  it('releases new commits again, beside a push to main: neither supersedes the other; still one note', async () => {
    const [before] = (await world.slipway('releases', 'shop', '--env', 'review/12')) as Release[];
    const oldrev = String(before?.commit);
    const next = world.commit('Basket: totals', undefined, 'feature/basket');
    const main = world.commit('Main: faster checkout');
    // Both in flight at once: the merge request's update, then a newer push to main.
    const [update] = await world.gitlab.deliverMergeRequestEvent(projectId, { iid: 12, action: 'update', oldrev });
    const pushed = await world.push('shop', main, 'main-push-during-review');
    expect([update?.status, pushed.status]).toEqual([202, 202]);
    const reviewBuild = builtBy(update);
    const mainBuild = String(((await pushed.json()) as { build: string }).build);
    expect(await outcomeOf(reviewBuild)).toBe('live');
    expect(await outcomeOf(mainBuild)).toBe('live');

    const review = (await world.slipway('releases', 'shop', '--env', 'review/12')) as Release[];
    expect(review.map((r) => [r.commit, r.status])).toEqual([
      [next, 'live'],
      [oldrev, 'replaced'],
    ]);
    const production = (await world.slipway('releases', 'shop', '--env', 'production')) as Release[];
    expect(production.map((r) => [r.commit, r.status])).toEqual([[main, 'live']]);
    // Each build took its own environment's lock only.
    expect(locks.filter((l) => l.build === reviewBuild).map((l) => l.lane)).toEqual(['review/12']);
    expect(locks.filter((l) => l.build === mainBuild).map((l) => l.lane)).toEqual([undefined]);
    expect(locks.filter((l) => l.lane === undefined).map((l) => l.build)).toEqual([mainBuild]);
    // Still one container, the new one, and still one note.
    expect(reviewContainers(12)).toHaveLength(1);
    expect(world.gitlab.notes(projectId, 12)).toHaveLength(1);
    // An edit of the title (no new commits) builds nothing.
    const [edit] = await world.gitlab.deliverMergeRequestEvent(projectId, { iid: 12, action: 'update' });
    expect(edit).toMatchObject({ status: 200, body: { ignored: 'an update of !12 without new commits' } });
  }, 240_000);

  it('tears the review app down when its merge request is merged: container gone, GitLab environment stopped', async () => {
    const [merged] = await world.gitlab.deliverMergeRequestEvent(projectId, { iid: 12, action: 'merge' });
    expect(merged).toMatchObject({ status: 202, body: { kind: 'teardown' } });
    await until('the review container to go', async () => (reviewContainers(12).length === 0 ? true : undefined));
    await until('GitLab to show review/12 stopped', async () =>
      gitlabEnvironment('review/12')?.state === 'stopped' ? true : undefined,
    );
    expect((await envs()).map((e) => e.name)).toEqual(['production', 'review']);
    // Production runs on, untouched.
    expect(containers().filter((c) => c.name.startsWith('slipway-shop-') && c.status === 'running')).toHaveLength(1);
    // Nothing more is said on the merge request.
    expect(world.gitlab.notes(projectId, 12)).toHaveLength(1);
  }, 120_000);

  it('never builds a merge request from a fork, and says why on it, once', async () => {
    world.gitlab.addMergeRequest(projectId, { iid: 13, sourceBranch: 'main', sourceProjectId: 99 });
    const head = world.commit('Fork: sneaky change');
    const before = ((await world.slipway('builds', 'shop')) as Build[]).length;
    const [opened] = await world.gitlab.deliverMergeRequestEvent(projectId, {
      iid: 13,
      action: 'open',
      lastCommit: head,
    });
    expect(opened).toMatchObject({ status: 202, body: { kind: 'refuse_fork' } });
    const [updated] = await world.gitlab.deliverMergeRequestEvent(projectId, {
      iid: 13,
      action: 'update',
      lastCommit: head,
      oldrev: head,
    });
    expect(updated).toMatchObject({ status: 200, body: { ignored: 'merge request !13 comes from a fork: not built' } });
    const notes = await until('the note on !13', async () => {
      const found = world.gitlab.notes(projectId, 13);
      return found.length > 0 ? found : undefined;
    });
    expect(notes).toHaveLength(1);
    expect(notes[0]?.body).toMatch(/does not build merge requests from forks/);
    expect(((await world.slipway('builds', 'shop')) as Build[]).length).toBe(before);
    expect((await envs()).map((e) => e.name)).not.toContain('review/13');
  }, 60_000);

  it('at the cap (1), a new merge request tears down the one idle longest and says so on it', async () => {
    world.gitlab.addMergeRequest(projectId, { iid: 14, sourceBranch: 'feature/search' });
    world.commit('Add search', undefined, 'feature/search');
    const [first] = await world.gitlab.deliverMergeRequestEvent(projectId, { iid: 14, action: 'open' });
    expect(await outcomeOf(builtBy(first))).toBe('live');
    expect(reviewContainers(14)).toHaveLength(1);

    world.gitlab.addMergeRequest(projectId, { iid: 15, sourceBranch: 'feature/wishlist' });
    world.commit('Add the wishlist', undefined, 'feature/wishlist');
    const [second] = await world.gitlab.deliverMergeRequestEvent(projectId, { iid: 15, action: 'open' });
    expect(second?.status).toBe(202);
    expect(await outcomeOf(builtBy(second))).toBe('live');

    await until('review/14 to go', async () => (reviewContainers(14).length === 0 ? true : undefined));
    expect(reviewContainers(15)).toHaveLength(1);
    expect((await envs()).map((e) => e.name)).toEqual(['production', 'review', 'review/15']);
    const told = await until('the note on !14 saying it was torn down', async () => {
      const found = world.gitlab.notes(projectId, 14).filter((n) => /removed the review app/.test(n.body));
      return found.length > 0 ? found : undefined;
    });
    expect(told[0]?.body).toContain('!15');
    expect(world.gitlab.notes(projectId, 14)).toHaveLength(2); // its URL, then why it went
    expect(gitlabEnvironment('review/14')?.state).toBe('stopped');
  }, 240_000);

  it('refuses, with one clear line: deleting a review app, promoting to or from one', async () => {
    const failing = async (args: string[], pattern: RegExp) => {
      const out = await cli(args, world.env);
      expect({ code: out.code, stderr: out.stderr.trim() }).toEqual({
        code: 1,
        stderr: expect.stringMatching(pattern),
      });
    };
    await failing(['promote', 'shop', '--from', 'review/15', '--to', 'production'], /review app/);
    await failing(['promote', 'shop', '--from', 'production', '--to', 'review'], /template of the review apps/);
    await failing(['envs', 'create', 'shop', 'previews', '--review-apps'], /has review apps already/);
    await failing(['envs', 'delete', 'shop', 'review'], /has review apps running \(review\/15\)/);
  }, 60_000);
});
