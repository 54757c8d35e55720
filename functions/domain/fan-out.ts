import { firstEnvironment } from './environments';
import { NotFoundError } from './errors';
import { shortRef } from './events';
import { newId } from './ids';
import type { Release } from './model';
import type { Clock, Store, Workflow } from './ports';

/**
 * One build, many environments (PRODUCT.md "A push that matches an environment's trigger builds
 * once and releases that build to every environment whose trigger it matches"). The webhook
 * records which further environments a push matched (`Build.alsoTo`); once the build succeeded,
 * the workflow's FanOut step makes a `pending` release of its images for each of them and starts
 * an execution for it, as a promotion does: it waits for approval where its environment asks,
 * takes that environment's lock, and superseded/queued hold per environment (domain/rollout.ts
 * `releaseTurn`). The build's own release goes on in this execution.
 *
 * Idempotent: a release this build already has for an environment is reused, and executions are
 * named after their release, so a retried step starts nothing twice.
 */

export interface FanOutDeps {
  store: Store;
  clock?: Clock;
  /** The release workflow to start executions of (on AWS, the state machine the step runs in). */
  workflow: Workflow;
}

export async function fanOut(deps: FanOutDeps, appName: string, buildId: string): Promise<{ releases: string[] }> {
  const { store } = deps;
  const build = await store.getBuild(appName, buildId);
  if (!build) throw new NotFoundError(`no build ${buildId} for app ${appName}`);
  const targets = build.alsoTo ?? [];
  if (targets.length === 0 || build.status !== 'succeeded' || !build.images) return { releases: [] };
  const app = await store.getApp(appName);
  if (!app) throw new NotFoundError(`app ${appName} no longer exists`);
  const environments = new Set([firstEnvironment(app), ...(await store.listEnvironments(appName)).map((e) => e.name)]);
  const releases = await store.listReleases(appName, { limit: 100 });
  const started: string[] = [];
  for (const environment of targets) {
    // An environment deleted since the push gets nothing.
    if (!environments.has(environment)) continue;
    let release = releases.find((r) => r.build === build.id && r.environment === environment && r.fannedOut);
    if (!release) {
      const now = deps.clock?.now() ?? new Date();
      release = {
        id: newId(now),
        app: appName,
        status: 'pending',
        build: build.id,
        commit: build.commit,
        images: build.images,
        createdAt: now.toISOString(),
        environment,
        fannedOut: true,
        ...(build.author ? { requestedBy: build.author } : {}),
        reason: `build ${build.id} of ${shortRef(build.ref)}: the push matched ${environment}'s trigger too`,
      } satisfies Release;
      await store.createRelease(release);
    }
    if (release.status !== 'pending') continue; // on its way already, or ended
    await deps.workflow.startRelease({ app: appName, build: build.id, release: release.id });
    started.push(release.id);
  }
  return { releases: started };
}
