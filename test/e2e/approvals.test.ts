import type { Build, Release } from '../../functions/domain/model';
import { type LinkedAppWorld, startLinkedAppWorld } from '../support/linked-app';
import { cli } from '../support/local';
import { until } from '../support/until';

/**
 * Staging → production with approval, in local mode end to end over the real CLI, a real build
 * over sshd, the GitLab stand-in, the Slack receiver and the recording docker (PRODUCT.md
 * "Approval"): a promotion to production waits in `awaiting_approval` (GitLab's commit status and
 * Slack say so, and who may approve); `reject` ends it with production untouched; `approve` rolls
 * the same digests out.
 */

describe('approvals: staging → production with a Maintainer approval', () => {
  let world: LinkedAppWorld;
  let build: Build;

  beforeAll(async () => {
    world = await startLinkedAppWorld();
    await world.linkApp('shop', ['--environment', 'staging']);
    build = await world.pushAndRelease('shop', 'Add the till', 'approval-push-1');
    expect(build.outcome).toBe('live');
    await world.slipway('envs', 'create', 'shop', 'production', '--approval', 'maintainer');
  }, 180_000);

  afterAll(async () => {
    await world?.stop();
  });

  const productionRuns = () =>
    world.dockerCalls('run').filter((argv) => argv.includes('slipway.environment=production'));

  const promote = async () => {
    const out = await cli(
      ['promote', 'shop', '--from', 'staging', '--to', 'production', '--wait', '--json'],
      world.env,
    );
    expect(out.code).toBe(0);
    // The wait ends once the release waits for a person, saying how to decide.
    expect(out.stderr).toMatch(/waits for a Maintainer's approval: slipway approve shop \S+ \(or slipway reject\)/);
    return JSON.parse(out.stdout) as Release;
  };

  it('lists the rule; a promotion waits for approval, and GitLab and Slack say so', async () => {
    const envs = (await world.slipway('envs', 'shop')) as Array<{ name: string; approval: string }>;
    expect(envs.map((e) => [e.name, e.approval])).toEqual([
      ['staging', 'none'],
      ['production', 'maintainer'],
    ]);
    const waiting = await promote();
    expect(waiting).toMatchObject({ status: 'awaiting_approval', environment: 'production', requestedBy: 'admin' });
    expect(JSON.stringify(waiting)).not.toContain('waitToken');
    expect(productionRuns()).toHaveLength(0);

    const status = await until('the commit status saying it waits', async () =>
      world.gitlab
        .statuses(world.projectId, build.commit)
        .find((s) => s.status === 'pending' && String(s.description).includes('Waiting for approval')),
    );
    expect(status).toMatchObject({ name: 'slipway/shop', description: expect.stringContaining('to production') });
    // GitLab's deployment to production starts with the rollout, not before.
    expect(world.gitlab.deployments(world.projectId).filter((d) => d.environment.name === 'production')).toHaveLength(
      0,
    );
    const notice = await until('the Slack notice', async () =>
      world.slack.messages.find((m) => String(m.text).includes('waits for approval to production')),
    );
    expect(JSON.stringify(notice.blocks)).toContain(`slipway approve shop ${waiting.id}`);
    expect(JSON.stringify(notice.blocks)).toContain('a Maintainer of mike/diaspora');

    // Rejected: it ends there; production has nothing live and no container.
    const rejected = (await world.slipway(
      'reject',
      'shop',
      waiting.id,
      '--reason',
      'the till is not ready',
    )) as Release;
    expect(rejected).toMatchObject({ status: 'rejected', reason: 'rejected by admin: the till is not ready' });
    await until('the rejection reported', async () => (await world.local.store.getRelease('shop', waiting.id))?.report);
    expect(productionRuns()).toHaveLength(0);
    const production = (await world.slipway('envs', 'shop')) as Array<{ name: string; live?: string }>;
    expect(production.find((e) => e.name === 'production')?.live).toBeUndefined();
    expect(world.slack.messages.some((m) => String(m.text).includes('to production rejected'))).toBe(true);
  }, 120_000);

  it('approve rolls the same digests out to production, without a build', async () => {
    const waiting = await promote();
    const live = (await world.slipway('approve', 'shop', waiting.id, '--wait')) as Release;
    expect(live).toMatchObject({
      status: 'live',
      environment: 'production',
      approvedBy: 'admin',
      images: build.images,
      promotedFrom: build.release,
    });
    const [run] = productionRuns();
    expect(run?.join(' ')).toContain(String(Object.values(build.images ?? {})[0]).slice(0, 20));
    const deployment = await until('the production deployment', async () =>
      world.gitlab
        .deployments(world.projectId)
        .find((d) => d.environment.name === 'production' && d.status === 'success'),
    );
    expect(deployment.sha).toBe(build.commit);

    // Delivery metrics per environment: production's one approved release, staging's push;
    // the rejected release counts in neither (not a failed change).
    const metrics = async (...env: string[]) =>
      (await world.slipway('metrics', 'shop', ...env)) as { deployments: number; changeFailureRate: number | null };
    expect(await metrics('--env', 'production')).toMatchObject({ deployments: 1, changeFailureRate: 0 });
    expect(await metrics('--env', 'staging')).toMatchObject({ deployments: 1, changeFailureRate: 0 });
    expect(await metrics()).toMatchObject({ deployments: 2, changeFailureRate: 0 });
  }, 120_000);

  it('refuses, with one clear line: deciding on a release that does not wait, an unknown release', async () => {
    const [live] = (await world.slipway('releases', 'shop', '--env', 'production')) as Release[];
    for (const [args, pattern] of [
      [['approve', 'shop', String(live?.id)], /is not waiting for approval \(it is live\)/],
      [['reject', 'shop', String(live?.id)], /is not waiting for approval \(it is live\)/],
      [['approve', 'shop', '01KZZZZZZZZZZZZZZZZZZZZZZZ'], /no release 01KZZZZZZZZZZZZZZZZZZZZZZZ for app shop/],
      [['envs', 'create', 'shop', 'qa', '--approval', 'always'], /--approval must be none or maintainer/],
      [['metrics', 'shop', '--env', 'qa'], /app shop has no environment qa/],
      [['envs', 'create', 'shop', 'qa', '--self-approval'], /--self-approval only applies with --approval maintainer/],
    ] as const) {
      const out = await cli([...args], world.env);
      expect({ args, code: out.code, stderr: out.stderr.trim() }).toEqual({
        args,
        code: expect.any(Number),
        stderr: expect.stringMatching(pattern),
      });
      expect(out.code).not.toBe(0);
      expect(out.stderr.trim().split('\n')).toHaveLength(1);
    }
  }, 60_000);
});
