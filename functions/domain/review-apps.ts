import { environmentTarget, isReviewEnvironment, reviewEnvironmentName } from './environments';
import { ConflictError, NotFoundError, StaleWriteError, ValidationError } from './errors';
import { type MergeRequestEvent, shortSha } from './events';
import { openGitlabToken } from './gitlab-link';
import { newId, sha256Hex } from './ids';
import { concernsApp, type IngestDeps, type IngestResult, START_RETRY_DELAYS_MS, startRecordedBuild } from './ingest';
import type { App, Build, Delivery, Environment, Release } from './model';
import type {
  Builder,
  Clock,
  Deployer,
  GitlabApi,
  GitlabApiFactory,
  ReviewJob,
  Store,
  TaskTokens,
  Vault,
} from './ports';

/**
 * Review apps (PRODUCT.md "Review apps", docs/ENVIRONMENTS.md). An app whose environments include
 * a template made with `envs create NAME ENV --review-apps` gets, for each merge request of its
 * own project, an environment `review/<iid>`:
 *
 * - `open`, `reopen`, and an `update` that brought new commits (`oldrev`) build the merge
 *   request's head from `refs/heads/<source branch>` of the app's project (the build fails when
 *   the commit is not reachable from it) and release it to `review/<iid>`, in that environment's
 *   own lane: its own lock and live pointer, its own superseded/queued order. The environment is
 *   an item like any other (made here, with the template's target and URL, `{iid}` filled in), so
 *   `envs NAME` lists the live review apps.
 * - Once a release of it is live, GitLab's environment `review/<iid>` (made by the release's
 *   deployment) gets the URL, and the merge request one note saying where it runs (once per review
 *   app: a conditional write claims it).
 * - `merge` and `close` tear it down: the environment item goes at once (conditional), and a
 *   review job (the release workflow's one-step branch, with the rights the webhook has not)
 *   removes the container or deletes the ECS service, cancels its builds still on their way and
 *   stops GitLab's environment.
 * - A merge request from a fork is never built: its code would run in a build holding the app's
 *   deploy key and registry rights. Its `open` gets a note saying so.
 * - At most `cap` review apps per app (default 5): a new one first tears down the one idle
 *   longest (the oldest last release) and says so on its merge request.
 *
 * The webhook does only store writes and starts executions: it answers in well under a second.
 */

/** What a merge request event became. The edge maps `job` to 202 like a started build. */
export type MergeRequestResult = IngestResult | { outcome: 'job'; job: ReviewJob };

/** GitLab, as the review jobs reach it: the release steps' reporting deps fit. */
export interface ReviewGitlab {
  vault: Vault;
  gitlab: GitlabApiFactory;
  log?: (message: string, detail: Record<string, unknown>) => void;
}

/** What a review job runs with (the release steps' deps). */
export interface ReviewJobDeps {
  store: Store;
  deployer: Deployer;
  builder?: Builder;
  tasks?: TaskTokens;
  reporting?: ReviewGitlab;
  clock?: Clock;
}

/** The app's review-apps template environment, if it has one. */
export function reviewTemplate(environments: readonly Environment[]): Environment | undefined {
  return environments.find((env) => env.reviewApps !== undefined);
}

/** A review app's URL: the template's, with `{iid}` filled in. */
export function reviewUrl(template: string | undefined, iid: number): string | undefined {
  return template?.replaceAll('{iid}', String(iid));
}

/** Whether the merge request's commits come from another project than the app's (a fork). */
export function isFromFork(app: App, event: MergeRequestEvent): boolean {
  const own = app.projectId ?? event.targetProjectId ?? event.project.id;
  return event.sourceProjectId !== undefined && own !== undefined && event.sourceProjectId !== own;
}

/**
 * Accepts a merge request event for an app (its hook sent it): builds, tears down, refuses or
 * ignores it, recording before it answers. Pure decisions first, then store writes, then the
 * workflow start; nothing here calls GitLab or the platform.
 */
export async function ingestMergeRequest(
  deps: IngestDeps,
  app: App,
  event: MergeRequestEvent,
  delivery: { source: string; key?: string; signedId?: string; receivedAt?: Date },
): Promise<MergeRequestResult> {
  if (!concernsApp(app, event.project)) {
    const which =
      event.project.id !== undefined ? `${event.project.path} (id ${event.project.id})` : event.project.path;
    return { outcome: 'ignored', reason: `event is for project ${which}, not ${app.name}'s` };
  }
  if (app.status !== 'active') return { outcome: 'ignored', reason: `app ${app.name} is disabled` };
  const environments = await deps.store.listEnvironments(app.name);
  const template = reviewTemplate(environments);
  if (!template?.reviewApps) {
    return {
      outcome: 'ignored',
      reason: `app ${app.name} has no review apps (slipway envs create ${app.name} review --review-apps)`,
    };
  }
  const name = reviewEnvironmentName(event.iid);
  const at = delivery.receivedAt ?? deps.clock?.now() ?? new Date();

  if (event.action === 'merge' || event.action === 'close') {
    const env = environments.find((e) => e.name === name);
    if (!env) return { outcome: 'ignored', reason: `merge request !${event.iid} has no review app` };
    const job = await tearDown(deps, env, event.action === 'merge' ? 'merged' : 'closed', at);
    return job ? { outcome: 'job', job } : { outcome: 'ignored', reason: `the review app of !${event.iid} is gone` };
  }
  if (event.action === 'update' && !event.oldrev) {
    return { outcome: 'ignored', reason: `an update of !${event.iid} without new commits` };
  }
  if (isFromFork(app, event)) {
    if (event.action !== 'open') {
      return { outcome: 'ignored', reason: `merge request !${event.iid} comes from a fork: not built` };
    }
    // Named after the delivery: GitLab sending it again is the same job, one note.
    const id = `fork-${sha256Hex(`${app.name}\n${event.iid}\n${delivery.key ?? delivery.signedId ?? newId(at)}`).slice(0, 40)}`;
    const job: ReviewJob = {
      id,
      app: app.name,
      iid: event.iid,
      kind: 'refuse_fork',
      sourceProjectId: event.sourceProjectId ?? 0,
    };
    await startJob(deps, job);
    return { outcome: 'job', job };
  }

  const env =
    environments.find((e) => e.name === name) ?? (await makeReviewApp(deps, app, template, environments, event, at));
  const received = at.toISOString();
  const candidate: Build = {
    id: newId(at),
    app: app.name,
    status: 'queued',
    commit: event.head.sha,
    ref: `refs/heads/${event.sourceBranch}`,
    message: event.head.title ?? '',
    author: event.head.author ?? event.user ?? '',
    trigger: 'merge_request',
    environment: name,
    createdAt: received,
    ...(event.head.committedAt ? { committedAt: event.head.committedAt } : {}),
    ...(delivery.key ? { deliveryId: delivery.key } : {}),
  };
  const keys: Array<Omit<Delivery, 'app' | 'build'>> = [];
  if (delivery.key) keys.push({ source: delivery.source, key: delivery.key, receivedAt: received });
  if (delivery.signedId) {
    keys.push({ source: `signed:${delivery.source}`, key: delivery.signedId, receivedAt: received });
  }
  // The head itself, for this review app (a reopened merge request gets a new one, and a new build).
  keys.push({
    source: `mr:${app.name}`,
    key: sha256Hex(`${event.iid}\n${event.head.sha}\n${env.createdAt}`),
    receivedAt: received,
  });
  const recorded = await deps.store.recordBuild(candidate, keys);
  await startRecordedBuild(deps, recorded.build);
  return { outcome: recorded.duplicate ? 'duplicate' : 'started', build: recorded.build };
}

/**
 * Makes the review app's environment from the template, first tearing down the review apps
 * idle longest while the app has `cap` of them. A racing delivery that made it first wins.
 */
async function makeReviewApp(
  deps: IngestDeps,
  app: App,
  template: Environment,
  environments: readonly Environment[],
  event: MergeRequestEvent,
  at: Date,
): Promise<Environment> {
  const cap = template.reviewApps?.cap ?? 1;
  const running = environments.filter((e) => e.review !== undefined);
  if (running.length >= cap) {
    const idle = await byIdleness(deps.store, app.name, running);
    for (const victim of idle.slice(0, running.length - cap + 1)) {
      await tearDown(deps, victim, 'capped', at, { by: event.iid, cap });
    }
  }
  const name = reviewEnvironmentName(event.iid);
  const serviceTemplate = template.reviewApps?.serviceTemplate;
  const url = reviewUrl(template.url, event.iid);
  const env: Environment = {
    app: app.name,
    name,
    ...(template.cluster ? { cluster: template.cluster } : {}),
    ...(serviceTemplate ? { service: `${serviceTemplate}-review-${event.iid}` } : {}),
    ...(template.container ? { container: template.container } : {}),
    ...(url ? { url } : {}),
    approval: 'none',
    review: {
      iid: event.iid,
      template: template.name,
      sourceBranch: event.sourceBranch,
      ...(serviceTemplate ? { serviceTemplate } : {}),
    },
    createdAt: at.toISOString(),
  };
  try {
    await deps.store.createEnvironment(env);
    return env;
  } catch (error) {
    if (!(error instanceof ConflictError)) throw error;
    const made = (await deps.store.listEnvironments(app.name)).find((e) => e.name === name);
    if (!made) throw error;
    return made;
  }
}

/** Review apps, the one idle longest first: by their newest release, else since they were made. */
async function byIdleness(store: Store, app: string, running: readonly Environment[]): Promise<Environment[]> {
  const names = new Set(running.map((e) => e.name));
  const lastActive = new Map<string, string>(running.map((e) => [e.name, e.createdAt]));
  for (const release of await store.listReleases(app, { limit: 200 })) {
    const env = release.environment;
    if (env === undefined || !names.has(env)) continue;
    if (release.createdAt > (lastActive.get(env) ?? '')) lastActive.set(env, release.createdAt);
  }
  return [...running].sort(
    (a, b) =>
      (lastActive.get(a.name) ?? '').localeCompare(lastActive.get(b.name) ?? '') || a.name.localeCompare(b.name),
  );
}

/**
 * Forgets the review app (its item, live pointer and lock, in one conditional transaction) and
 * starts the job that removes what runs. Undefined when it was gone already (a racing delivery).
 */
async function tearDown(
  deps: IngestDeps,
  env: Environment,
  reason: 'merged' | 'closed' | 'capped',
  at: Date,
  capped?: { by: number; cap: number },
): Promise<ReviewJob | undefined> {
  const iid = env.review?.iid;
  if (iid === undefined) throw new ValidationError(`${env.name} is not a review app`);
  try {
    await deps.store.deleteEnvironment(env.app, env.name);
  } catch (error) {
    if (error instanceof NotFoundError) return undefined;
    throw error;
  }
  const job: ReviewJob = {
    id: `teardown-${newId(at)}`,
    app: env.app,
    iid,
    kind: 'teardown',
    environment: env.name,
    target: environmentTarget(env),
    reason,
    ...(capped ? { by: capped.by, cap: capped.cap } : {}),
  };
  await startJob(deps, job);
  return job;
}

/** Starts a review job, retrying a failed start a couple of times at once (as builds are started). */
async function startJob(deps: IngestDeps, job: ReviewJob): Promise<void> {
  const start = deps.workflow.startReviewJob?.bind(deps.workflow);
  if (!start) throw new ValidationError('this workflow runs no review-app jobs');
  const delays = deps.startRetryDelaysMs ?? START_RETRY_DELAYS_MS;
  for (let attempt = 0; ; attempt++) {
    try {
      await start(job);
      return;
    } catch (error) {
      const delay = delays[attempt];
      if (delay === undefined) throw error;
      await new Promise((resolve) => setTimeout(resolve, delay * (0.5 + Math.random() / 2)));
    }
  }
}

// ---- the jobs (release-steps side) --------------------------------------------------------------

/** Runs a review job (the workflow's `reviewJob` step). Idempotent: run again, it finds nothing left to do. */
export async function runReviewJob(deps: ReviewJobDeps, job: ReviewJob): Promise<{ outcome: string }> {
  if (!job || typeof job !== 'object' || typeof job.iid !== 'number' || typeof job.app !== 'string') {
    throw new ValidationError('a review job needs an app, a merge request iid and a kind');
  }
  switch (job.kind) {
    case 'teardown':
      return tearDownNow(deps, job);
    case 'refuse_fork': {
      await note(deps, job.app, job.iid, forkNote(job.app));
      return { outcome: 'refused' };
    }
    default:
      throw new ValidationError(`unknown review job ${String((job as { kind?: unknown }).kind)}`);
  }
}

async function tearDownNow(
  deps: ReviewJobDeps,
  job: Extract<ReviewJob, { kind: 'teardown' }>,
): Promise<{ outcome: string }> {
  if (!isReviewEnvironment(job.environment) || job.target.environment !== job.environment) {
    throw new ValidationError(`${job.environment} is not a review app`);
  }
  await cancelBuilds(deps, job);
  if (!deps.deployer.remove) throw new ValidationError('this deployer cannot tear review apps down');
  await deps.deployer.remove(job.target);
  const gitlab = await gitlabOf(deps.store, deps.reporting, job.app);
  if (gitlab) {
    await attempt(deps.reporting, 'GitLab environment not stopped', job, async () => {
      const env = await gitlab.api.findEnvironment(gitlab.projectId, job.environment);
      if (env && env.state !== 'stopped') await gitlab.api.stopEnvironment(gitlab.projectId, env.id);
    });
    if (job.reason === 'capped') {
      await attempt(deps.reporting, 'merge request note not posted', job, () =>
        gitlab.api.createMergeRequestNote(gitlab.projectId, job.iid, cappedNote(job.app, job.cap, job.by)),
      );
    }
  }
  return { outcome: 'torn_down' };
}

/**
 * The review app's builds still on their way end `superseded` (nothing will run them): their runs
 * are stopped and the workflows waiting on them go on, to end without a release.
 */
async function cancelBuilds(deps: ReviewJobDeps, job: Extract<ReviewJob, { kind: 'teardown' }>): Promise<void> {
  const at = (deps.clock?.now() ?? new Date()).toISOString();
  const why = {
    merged: `merge request !${job.iid} was merged`,
    closed: `merge request !${job.iid} was closed`,
    capped: `the review app of !${job.iid} was torn down for !${job.by ?? '?'}`,
  }[job.reason];
  const builds = await deps.store.listBuilds(job.app, { limit: 50 });
  for (const build of builds) {
    if (build.environment !== job.environment || (build.status !== 'queued' && build.status !== 'running')) continue;
    let ended: Build;
    try {
      ended = await deps.store.transitionBuild(job.app, build.id, build.status, 'superseded', {
        endedAt: at,
        reason: why,
      });
    } catch (error) {
      if (error instanceof StaleWriteError) continue; // it ended meanwhile
      throw error;
    }
    if (ended.builderRef && deps.builder?.cancel) {
      try {
        await deps.builder.cancel(ended.builderRef, why);
      } catch {
        // Stopping is a saving: a late end of a superseded build is ignored.
      }
    }
    if (ended.waitToken && deps.tasks) await deps.tasks.succeed(ended.waitToken, { status: 'superseded' });
  }
}

/**
 * A review app's release went live: GitLab's environment `review/<iid>` gets the URL, and the
 * merge request, once per review app, a note saying where it runs. Never throws.
 */
export async function announceReviewApp(
  deps: { store: Store; reporting?: ReviewGitlab | undefined },
  release: Release,
): Promise<void> {
  if (!isReviewEnvironment(release.environment)) return;
  try {
    const env = (await deps.store.listEnvironments(release.app)).find((e) => e.name === release.environment);
    if (!env?.review) return; // torn down meanwhile
    const gitlab = await gitlabOf(deps.store, deps.reporting, release.app);
    if (!gitlab) return;
    const { api, projectId } = gitlab;
    const subject = { app: release.app, iid: env.review.iid };
    const url = env.url;
    if (url) {
      await attempt(deps.reporting, 'GitLab environment URL not set', subject, async () => {
        const found = await api.findEnvironment(projectId, env.name);
        if (!found) await api.createEnvironment(projectId, { name: env.name, externalUrl: url, tier: 'development' });
        else if (found.externalUrl !== url) await api.editEnvironment(projectId, found.id, { externalUrl: url });
      });
    }
    if (!(await deps.store.claimReviewAnnouncement(release.app, env.name, release.id))) return;
    const posted = await attempt(deps.reporting, 'merge request note not posted', subject, () =>
      api.createMergeRequestNote(projectId, env.review?.iid ?? 0, liveNote(release, url)),
    );
    if (!posted) await deps.store.dropReviewAnnouncement(release.app, env.name, release.id);
  } catch (error) {
    deps.reporting?.log?.('review app not announced', {
      app: release.app,
      release: release.id,
      error: error instanceof Error ? error.message : String(error),
    });
  }
}

// ---- GitLab ------------------------------------------------------------------------------------

/** The GitLab API for the app's project (the token opened for this job only), if it can be had. */
async function gitlabOf(
  store: Store,
  reporting: ReviewGitlab | undefined,
  appName: string,
): Promise<{ api: GitlabApi; projectId: number } | undefined> {
  if (!reporting) return undefined;
  const [app, connection] = await Promise.all([store.getApp(appName), store.getGitlabConnection()]);
  if (!app?.projectId || !connection) return undefined;
  try {
    const token = await openGitlabToken(reporting.vault, connection);
    return { api: reporting.gitlab({ url: connection.url, token }), projectId: app.projectId };
  } catch (error) {
    reporting.log?.('GitLab token not readable: review app not told to GitLab', {
      app: appName,
      error: error instanceof Error ? error.message : String(error),
    });
    return undefined;
  }
}

async function note(deps: ReviewJobDeps, app: string, iid: number, body: string): Promise<void> {
  const gitlab = await gitlabOf(deps.store, deps.reporting, app);
  if (!gitlab) return;
  await attempt(deps.reporting, 'merge request note not posted', { app, iid }, () =>
    gitlab.api.createMergeRequestNote(gitlab.projectId, iid, body),
  );
}

/** One GitLab call whose failure is logged, not thrown (GitLab is told, never depended on). */
async function attempt(
  reporting: ReviewGitlab | undefined,
  what: string,
  subject: { app: string; iid: number },
  call: () => Promise<unknown>,
): Promise<boolean> {
  try {
    await call();
    return true;
  } catch (error) {
    reporting?.log?.(what, {
      app: subject.app,
      mergeRequest: subject.iid,
      error: error instanceof Error ? error.message : String(error),
    });
    return false;
  }
}

// The notes hold nothing from the payload (titles, branch names): only what Slipway made or checked.

function liveNote(release: Release, url: string | undefined): string {
  const where = url ? `is live at ${url}` : 'is live (its environment has no URL: set one with `--url`)';
  return (
    `Slipway: the review app of this merge request ${where}, running commit ${shortSha(release.commit)} ` +
    `(release ${release.id} of ${release.app}). Each push to the merge request releases it again; it is ` +
    'removed when the merge request is merged or closed.'
  );
}

function forkNote(app: string): string {
  return (
    `Slipway does not build merge requests from forks: a build of ${app} runs with its deploy key and ` +
    'pushes to its image registry, so code from another project would get those rights. No review app ' +
    'is made for this merge request; push the branch to this project to get one.'
  );
}

function cappedNote(app: string, cap: number | undefined, by: number | undefined): string {
  const limit =
    cap === undefined ? 'its limit of review apps' : `its limit of ${cap} review app${cap === 1 ? '' : 's'}`;
  const who = by === undefined ? 'another merge request' : `!${by}`;
  return (
    `Slipway removed the review app of this merge request: ${app} is at ${limit}, and ${who} needed ` +
    'one (this one had been idle longest). A new push to this merge request brings it back.'
  );
}
