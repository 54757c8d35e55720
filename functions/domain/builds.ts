import { NotFoundError, StaleWriteError } from './errors';
import type { Build } from './model';
import type { Builder, Clock, Registry, Store } from './ports';

export interface BuildDeps {
  store: Store;
  builder: Builder;
  registry: Registry;
  clock?: Clock;
}

/** Fails a queued build with a reason a user can act on. */
async function failQueued(deps: BuildDeps, build: Build, reason: string): Promise<Build> {
  const endedAt = (deps.clock?.now() ?? new Date()).toISOString();
  try {
    return await deps.store.transitionBuild(build.app, build.id, 'queued', 'failed', { endedAt, reason });
  } catch (error) {
    if (error instanceof StaleWriteError) return (await deps.store.getBuild(build.app, build.id)) ?? build;
    throw error;
  }
}

/**
 * Starts a queued build: everything the build needs is gathered here (the deploy key as vault
 * ciphertext, the pinned host keys, the app's image repository) and handed to the builder.
 * A build that cannot start (app not linked, GitLab not connected) fails with the reason.
 * Its progress then comes back as build events (see build-events.ts).
 */
export async function startBuild(deps: BuildDeps, appName: string, buildId: string): Promise<Build> {
  const build = await deps.store.getBuild(appName, buildId);
  if (!build) throw new NotFoundError(`no build ${buildId} for app ${appName}`);
  if (build.status !== 'queued' || build.builderRef) return build;
  const app = await deps.store.getApp(appName);
  if (!app) return failQueued(deps, build, `app ${appName} no longer exists`);
  const repoUrl = app.repoUrl ?? build.repoUrl;
  if (!app.linked || !app.deployKeyCiphertext || !repoUrl) {
    return failQueued(
      deps,
      build,
      `app ${appName} is not linked: no deploy key to fetch with (slipway apps link ${appName})`,
    );
  }
  const connection = await deps.store.getGitlabConnection();
  if (!connection)
    return failQueued(deps, build, 'GitLab is not connected: no pinned host key (slipway gitlab connect)');

  const imageRepository = await deps.registry.ensureRepository(app.name);
  const run = await deps.builder.start({
    buildId: build.id,
    app: app.name,
    commit: build.commit,
    ref: build.ref,
    repoUrl,
    deployKeyCiphertext: app.deployKeyCiphertext,
    knownHosts: connection.knownHosts,
    imageRepository,
    dockerfile: app.dockerfile ?? 'Dockerfile',
  });
  try {
    await deps.store.updateBuildRun(app.name, build.id, { builderRef: run.ref, logLocation: run.logLocation });
  } catch (error) {
    // A very fast build may already have ended; its record is complete without these fields.
    if (!(error instanceof StaleWriteError)) throw error;
  }
  return (await deps.store.getBuild(app.name, build.id)) ?? build;
}
