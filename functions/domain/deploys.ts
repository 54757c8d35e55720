import { promoteRelease } from './environments';
import { ConflictError, NotFoundError } from './errors';
import { connected, type GitlabDeps } from './gitlab-link';
import { newId } from './ids';
import { type IngestDeps, startRecordedBuild } from './ingest';
import type { App, Build, Release } from './model';
import { rollbackRelease } from './releases';

/**
 * Releases by hand (PRODUCT.md step 7): `deploy NAME [--ref REF]` builds and releases a ref
 * the way a push would, and `releases rollback` copies an earlier release forward and rolls it
 * out. Both go through the one release workflow.
 */

/** Deploying only reads GitLab (the ref): no deploy keys or host keys. */
export type DeployDeps = Pick<GitlabDeps, 'store' | 'vault' | 'gitlab' | 'clock'> & IngestDeps;

/**
 * Resolves `ref` (the app's branch by default) to a commit through GitLab, records a `manual`
 * build of it and starts the release workflow. Returns the build as recorded.
 */
export async function deployRef(deps: DeployDeps, appName: string, ref?: string): Promise<Build> {
  const app = await deps.store.getApp(appName);
  if (!app) throw new NotFoundError(`no app named ${appName}`);
  if (app.status !== 'active') throw new ConflictError(`app ${app.name} is disabled`);
  if (!app.linked || app.projectId === undefined || !app.repoUrl) {
    throw new ConflictError(`app ${app.name} is not linked: run slipway apps link ${app.name} first`);
  }
  const wanted = ref ?? (/[*?[]/.test(app.branch) ? undefined : app.branch);
  if (!wanted) throw new ConflictError(`app ${app.name} builds branches matching ${app.branch}: give --ref`);
  const { api } = await connected(deps);
  const commit = await api.resolveRef(app.projectId, wanted);
  const build: Build = {
    id: newId(deps.clock?.now()),
    app: app.name,
    status: 'queued',
    commit: commit.sha,
    ref: commit.ref,
    message: commit.title,
    author: commit.authorName,
    trigger: 'manual',
    createdAt: (deps.clock?.now() ?? new Date()).toISOString(),
    ...(commit.committedAt ? { committedAt: commit.committedAt } : {}),
    repoUrl: app.repoUrl,
  };
  const { build: recorded } = await deps.store.recordBuild(build);
  await startRecordedBuild(deps, recorded);
  return recorded;
}

/** Copies release `releaseId` forward as a new release and starts rolling it out. */
export async function rollbackTo(deps: IngestDeps, appName: string, releaseId: string): Promise<Release> {
  const app = await deps.store.getApp(appName);
  if (!app) throw new NotFoundError(`no app named ${appName}`);
  return rollOut(deps, app, await rollbackRelease(deps, app.name, releaseId));
}

/**
 * Promotes to environment `to` exactly the images of `from`'s live release (or of `release`),
 * no rebuild, and starts rolling it out (domain/environments.ts).
 */
export async function promoteTo(
  deps: IngestDeps,
  appName: string,
  request: { from: string; to: string; release?: string; requestedBy?: string },
): Promise<Release> {
  const app = await deps.store.getApp(appName);
  if (!app) throw new NotFoundError(`no app named ${appName}`);
  return rollOut(deps, app, await promoteRelease(deps, app, request));
}

/** Starts the workflow that rolls out a release made by hand (a rollback, a promotion, a configuration change). */
export async function rollOut(
  deps: IngestDeps,
  app: App,
  { input, release }: { input: { app: string; build: string; release: string }; release: Release },
): Promise<Release> {
  try {
    await deps.workflow.startRelease(input);
  } catch (error) {
    // Nothing will roll it out: it ends now, saying why, rather than staying pending.
    const why = error instanceof Error ? error.message : String(error);
    await deps.store.transitionRelease(app.name, release.id, 'pending', 'failed', {
      endedAt: new Date().toISOString(),
      reason: `the release workflow could not be started: ${why}`.slice(0, 1000),
    });
    throw error;
  }
  return release;
}
