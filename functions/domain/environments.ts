import { ConflictError, NotFoundError, StaleWriteError, ValidationError } from './errors';
import { refPatternProblem } from './filters';
import { newId } from './ids';
import type { App, ApprovalRule, Environment, EnvironmentTrigger, Release } from './model';
import type { Clock, DeployTarget, Store } from './ports';

/**
 * Environments (PRODUCT.md "Environments…", docs/ENVIRONMENTS.md). An app's first environment is
 * the app itself: its `environment` name (default `production`), its branch and tag triggers and
 * its ECS target, with the lock and live pointer it always had. Further environments are items
 * of their own with their own target, lock and live pointer; so far they receive releases by
 * promotion only (the exact image digests of a release that went live elsewhere, no rebuild).
 */

/** The first environment's name when the app names none. */
export const DEFAULT_ENVIRONMENT = 'production';
/** An environment's name: lower-case letters, digits and dashes, starting with a letter, at most 31. */
export const ENVIRONMENT_NAME = /^[a-z][a-z0-9-]{0,30}$/;
const MAX_URL_LENGTH = 2048;
/**
 * A review app's environment (domain/review-apps.ts): `review/<iid>`, made by Slipway only (the
 * slash keeps it out of ENVIRONMENT_NAME, so no user environment can take it).
 */
export const REVIEW_ENVIRONMENT = /^review\/([1-9][0-9]{0,9})$/;
/** Review apps an app keeps at most, unless `envs create … --cap N` says otherwise. */
export const DEFAULT_REVIEW_APP_CAP = 5;
const MAX_REVIEW_APP_CAP = 50;

/** An environment as the API and CLI show it: its settings, its live release, its merge request. */
export type EnvironmentView = Pick<
  Environment,
  | 'app'
  | 'name'
  | 'branch'
  | 'tags'
  | 'cluster'
  | 'service'
  | 'container'
  | 'url'
  | 'approval'
  | 'selfApproval'
  | 'reviewApps'
> & {
  /** The live release's id, if any. */
  live?: string;
  /** A review app: the iid of its merge request. */
  mergeRequest?: number;
};

/** What `envs create` asks for: the view's settings, the approval rule optional. */
export type EnvironmentSpec = Omit<EnvironmentView, 'app' | 'live' | 'approval' | 'reviewApps' | 'mergeRequest'> & {
  approval?: EnvironmentView['approval'];
  /** The template of the app's review apps (domain/review-apps.ts), with `serviceTemplate` and `cap`. */
  reviewApps?: boolean;
  serviceTemplate?: string;
  cap?: number;
};

/** The review app environment of a merge request. */
export function reviewEnvironmentName(iid: number): string {
  return `review/${iid}`;
}

/** Whether an environment is a review app's (`review/<iid>`). */
export function isReviewEnvironment(name: string | undefined): boolean {
  return name !== undefined && REVIEW_ENVIRONMENT.test(name);
}

export function firstEnvironment(app: Pick<App, 'environment'>): string {
  return app.environment ?? DEFAULT_ENVIRONMENT;
}

/** The environment a release belongs to: its own, or (made before environments) the app's first. */
export function environmentOf(app: Pick<App, 'environment'>, release: Pick<Release, 'environment'>): string {
  return release.environment ?? firstEnvironment(app);
}

/**
 * The store's lane of an environment: none for the app's first (its lock and live pointer are
 * the app's own, as before environments), the environment's name for the others.
 */
export function laneOf(app: Pick<App, 'environment'>, environment: string | undefined): string | undefined {
  return environment === undefined || environment === firstEnvironment(app) ? undefined : environment;
}

/** Every environment of the app, the first one first, each with its live release. */
export async function listEnvironments(store: Store, app: App): Promise<EnvironmentView[]> {
  const others = (await store.listEnvironments(app.name)).sort((a, b) => a.name.localeCompare(b.name));
  const first: EnvironmentView = {
    app: app.name,
    name: firstEnvironment(app),
    branch: app.branch,
    ...(app.tags ? { tags: app.tags } : {}),
    ...(app.cluster ? { cluster: app.cluster } : {}),
    ...(app.service ? { service: app.service } : {}),
    ...(app.container ? { container: app.container } : {}),
    approval: 'none',
  };
  const views: EnvironmentView[] = [first, ...others.map((env) => view(env))];
  const live = await Promise.all(views.map((env) => store.liveReleaseId(app.name, laneOf(app, env.name))));
  return views.map((env, i) => (live[i] ? { ...env, live: live[i] } : env));
}

function view(env: Environment): EnvironmentView {
  return {
    app: env.app,
    name: env.name,
    ...(env.branch ? { branch: env.branch } : {}),
    ...(env.tags ? { tags: env.tags } : {}),
    ...(env.cluster ? { cluster: env.cluster } : {}),
    ...(env.service ? { service: env.service } : {}),
    ...(env.container ? { container: env.container } : {}),
    ...(env.url ? { url: env.url } : {}),
    approval: env.approval,
    ...(env.selfApproval ? { selfApproval: true } : {}),
    ...(env.reviewApps ? { reviewApps: env.reviewApps } : {}),
    ...(env.review ? { mergeRequest: env.review.iid } : {}),
  };
}

/** The approval rule of the app's environment `name`: the first environment asks for none. */
export async function approvalRuleOf(
  store: Pick<Store, 'listEnvironments'>,
  app: App,
  name: string,
): Promise<{ approval: ApprovalRule; selfApproval: boolean }> {
  const lane = laneOf(app, name);
  const env = lane ? (await store.listEnvironments(app.name)).find((e) => e.name === lane) : undefined;
  return { approval: env?.approval ?? 'none', selfApproval: env?.selfApproval ?? false };
}

/**
 * Checks that the app has each of `names`: NotFoundError naming the ones it has. One read of the
 * app's environments, no live pointers.
 */
export async function mustHaveEnvironments(
  store: Pick<Store, 'listEnvironments'>,
  app: App,
  ...names: string[]
): Promise<void> {
  const all = [firstEnvironment(app), ...(await store.listEnvironments(app.name)).map((env) => env.name)];
  const missing = names.find((name) => !all.includes(name));
  if (missing !== undefined) {
    throw new NotFoundError(`app ${app.name} has no environment ${missing} (it has ${all.join(', ')})`);
  }
}

/** Records a further environment of the app, receiving releases by promotion. */
export async function createEnvironment(
  deps: { store: Store; clock?: Clock },
  app: App,
  spec: EnvironmentSpec,
): Promise<EnvironmentView> {
  if (!ENVIRONMENT_NAME.test(spec.name)) {
    throw new ValidationError(
      `environment name must be lower-case letters, digits and dashes, starting with a letter, at most 31: ${spec.name}`,
    );
  }
  if (spec.name === firstEnvironment(app)) {
    throw new ConflictError(`app ${app.name} already has an environment ${spec.name} (its first)`);
  }
  if (spec.reviewApps || spec.serviceTemplate !== undefined || spec.cap !== undefined) {
    return createReviewAppsTemplate(deps, app, spec);
  }
  for (const [what, pattern] of [
    ['branch filter', spec.branch],
    ['tag pattern', spec.tags],
  ] as const) {
    const problem = pattern === undefined ? undefined : refPatternProblem(pattern);
    if (problem) throw new ValidationError(`invalid ${what} ${JSON.stringify(pattern?.slice(0, 64))}: ${problem}`);
  }
  if (spec.selfApproval && spec.approval !== 'maintainer') {
    throw new ValidationError('--self-approval only applies with --approval maintainer');
  }
  if (spec.url !== undefined && !isHttpUrl(spec.url)) {
    throw new ValidationError(`url must be an http(s) URL of at most ${MAX_URL_LENGTH} characters`);
  }
  for (const field of ['cluster', 'service', 'container'] as const) {
    const value = spec[field];
    if (value !== undefined && !/^[A-Za-z0-9][A-Za-z0-9_:/.-]{0,254}$/.test(value)) {
      throw new ValidationError(`${field} is not an ECS ${field} name or ARN: ${value.slice(0, 80)}`);
    }
  }
  if ((spec.cluster === undefined) !== (spec.service === undefined)) {
    throw new ValidationError('give both --cluster and --service, or neither (local mode runs a container)');
  }
  const environment: Environment = {
    app: app.name,
    name: spec.name,
    ...(spec.branch ? { branch: spec.branch } : {}),
    ...(spec.tags ? { tags: spec.tags } : {}),
    ...(spec.cluster ? { cluster: spec.cluster } : {}),
    ...(spec.service ? { service: spec.service } : {}),
    ...(spec.container ? { container: spec.container } : {}),
    ...(spec.url ? { url: spec.url } : {}),
    approval: spec.approval ?? 'none',
    ...(spec.selfApproval ? { selfApproval: true } : {}),
    createdAt: (deps.clock?.now() ?? new Date()).toISOString(),
  };
  await deps.store.createEnvironment(environment);
  if (environment.branch || environment.tags) {
    const trigger: EnvironmentTrigger = {
      name: environment.name,
      ...(environment.branch ? { branch: environment.branch } : {}),
      ...(environment.tags ? { tags: environment.tags } : {}),
    };
    await setTriggers(deps.store, app.name, (triggers) => [
      ...triggers.filter((t) => t.name !== trigger.name),
      trigger,
    ]);
  }
  return view(environment);
}

/**
 * Rewrites the app's copy of its environments' push triggers (App.environmentTriggers), which
 * the webhook matches pushes against with the one read it makes. Conditional on the app's
 * version, read again when another write came first.
 */
async function setTriggers(
  store: Store,
  appName: string,
  change: (triggers: EnvironmentTrigger[]) => EnvironmentTrigger[],
): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    const current = await store.getApp(appName);
    if (!current) return;
    const triggers = change(current.environmentTriggers ?? []).sort((a, b) => a.name.localeCompare(b.name));
    try {
      await store.updateApp(appName, current.version, { environmentTriggers: triggers });
      return;
    } catch (error) {
      if (!(error instanceof StaleWriteError) || attempt >= 5) throw error;
    }
  }
}

/** Removes an environment beyond the first; refused while a release to it is in flight. */
export async function deleteEnvironment(store: Store, app: App, name: string): Promise<void> {
  if (name === firstEnvironment(app)) {
    throw new ConflictError(`${name} is the first environment of app ${app.name}: delete the app instead`);
  }
  await mustHaveEnvironments(store, app, name);
  await mayDeleteReviewEnvironment(store, app, name);
  const releases = await store.listReleases(app.name, { limit: 50 });
  const inFlight = releases.find(
    (r) =>
      environmentOf(app, r) === name &&
      (r.status === 'pending' || r.status === 'awaiting_approval' || r.status === 'deploying'),
  );
  if (inFlight) {
    throw new ConflictError(
      `release ${inFlight.id} to ${name} is still ${inFlight.status}: delete it once it has ended`,
    );
  }
  // Pushes stop going there first; then the environment goes.
  if (app.environmentTriggers?.some((t) => t.name === name)) {
    await setTriggers(store, app.name, (triggers) => triggers.filter((t) => t.name !== name));
  }
  await store.deleteEnvironment(app.name, name);
}

/** Where a release of the app to `environment` runs: the app's own target, or the environment's. */
export async function targetOf(
  store: Pick<Store, 'listEnvironments'>,
  app: App,
  environment: string | undefined,
): Promise<DeployTarget> {
  const lane = laneOf(app, environment);
  if (!lane) return { app: app.name, cluster: app.cluster, service: app.service, container: app.container };
  const env = (await store.listEnvironments(app.name)).find((e) => e.name === lane);
  if (!env) throw new NotFoundError(`app ${app.name} has no environment ${lane}`);
  if (env.reviewApps) {
    throw new ValidationError(`${lane} is the template of the review apps of ${app.name}: it runs nothing itself`);
  }
  return environmentTarget(env);
}

/** Where an environment beyond the first runs; a review app's target says how to make its service. */
export function environmentTarget(env: Environment): DeployTarget {
  return {
    app: env.app,
    environment: env.name,
    cluster: env.cluster,
    service: env.service,
    container: env.container,
    ...(env.review
      ? {
          review: {
            ...(env.review.serviceTemplate ? { serviceTemplate: env.review.serviceTemplate } : {}),
            tag: `${env.app}/${env.review.iid}`,
          },
        }
      : {}),
  };
}

/**
 * Promotion: a new `pending` release to `to` with exactly the images (digests) of the source
 * release, which must have gone live in `from`: the one given, or `from`'s live release. No
 * build runs. Returns the release and the workflow input that rolls it out.
 */
export async function promoteRelease(
  deps: { store: Store; clock?: Clock },
  app: App,
  request: { from: string; to: string; release?: string; requestedBy?: string },
): Promise<{ input: { app: string; build: string; release: string }; release: Release }> {
  const { store } = deps;
  if (request.from === request.to) {
    throw new ValidationError(`cannot promote ${request.from} to itself: name another environment with --to`);
  }
  await mayPromoteBetween(store, app, request.from, request.to);
  await mustHaveEnvironments(store, app, request.from, request.to);
  const sourceId = request.release ?? (await store.liveReleaseId(app.name, laneOf(app, request.from)));
  if (!sourceId) throw new ConflictError(`nothing is live in ${request.from} to promote`);
  const source = await store.getRelease(app.name, sourceId);
  if (!source) throw new NotFoundError(`no release ${sourceId} for app ${app.name}`);
  if (environmentOf(app, source) !== request.from) {
    throw new ValidationError(
      `release ${source.id} is a release to ${environmentOf(app, source)}, not ${request.from}`,
    );
  }
  if (source.status !== 'live' && source.status !== 'replaced') {
    throw new ConflictError(`release ${source.id} never went live (${source.status}): only what ran can be promoted`);
  }
  if (Object.keys(source.images).length === 0) throw new ValidationError(`release ${source.id} has no images`);
  const now = deps.clock?.now() ?? new Date();
  const release: Release = {
    id: newId(now),
    app: app.name,
    status: 'pending',
    build: source.build,
    commit: source.commit,
    images: source.images,
    createdAt: now.toISOString(),
    environment: request.to,
    promotedFrom: source.id,
    ...(request.requestedBy ? { requestedBy: request.requestedBy } : {}),
    reason: `promoted from ${request.from} (release ${source.id})`,
  };
  await store.createRelease(release);
  return { input: { app: app.name, build: source.build, release: release.id }, release };
}

function isHttpUrl(value: string): boolean {
  if (value.length > MAX_URL_LENGTH) return false;
  try {
    const url = new URL(value);
    return url.protocol === 'https:' || url.protocol === 'http:';
  } catch {
    return false;
  }
}

/**
 * Records the template of the app's review apps (`envs create NAME ENV --review-apps
 * [--cluster C --service-template S] [--container N] [--url U] [--cap N]`): it receives no
 * releases itself; each merge request gets an environment `review/<iid>` made from it
 * (domain/review-apps.ts). One per app. On ECS each review app is a service cloned from S; locally
 * a container. `--url` may hold `{iid}` (e.g. `http://review-{iid}.shop.localhost`).
 */
async function createReviewAppsTemplate(
  deps: { store: Store; clock?: Clock },
  app: App,
  spec: EnvironmentSpec,
): Promise<EnvironmentView> {
  if (!spec.reviewApps) throw new ValidationError('--service-template and --cap go with --review-apps');
  if (spec.branch !== undefined || spec.tags !== undefined) {
    throw new ValidationError(
      "review apps build their merge request's source branch: create it without --branch and --tags",
    );
  }
  if (spec.approval !== undefined && spec.approval !== 'none') {
    throw new ValidationError('review apps are released without approval: create it with --approval none');
  }
  if (spec.service !== undefined) {
    throw new ValidationError(
      'review apps get a service each: name the one they copy with --service-template, not --service',
    );
  }
  if ((spec.cluster === undefined) !== (spec.serviceTemplate === undefined)) {
    throw new ValidationError('give both --cluster and --service-template, or neither (local mode runs containers)');
  }
  if (spec.cluster !== undefined && !/^[A-Za-z0-9][A-Za-z0-9_:/.-]{0,254}$/.test(spec.cluster)) {
    throw new ValidationError(`cluster is not an ECS cluster name or ARN: ${spec.cluster.slice(0, 80)}`);
  }
  // A name, not an ARN: each review app's service is named after it (`<template>-review-<iid>`).
  if (spec.serviceTemplate !== undefined && !/^[A-Za-z0-9][A-Za-z0-9_-]{0,199}$/.test(spec.serviceTemplate)) {
    throw new ValidationError(`service template is not an ECS service name: ${spec.serviceTemplate.slice(0, 80)}`);
  }
  if (spec.container !== undefined && !/^[A-Za-z0-9][A-Za-z0-9_-]{0,254}$/.test(spec.container)) {
    throw new ValidationError(`container is not a container name: ${spec.container.slice(0, 80)}`);
  }
  if (spec.url !== undefined && !isHttpUrl(spec.url.replaceAll('{iid}', '1'))) {
    throw new ValidationError(`url must be an http(s) URL (it may hold {iid}) of at most ${MAX_URL_LENGTH} characters`);
  }
  const cap = spec.cap ?? DEFAULT_REVIEW_APP_CAP;
  if (!Number.isInteger(cap) || cap < 1 || cap > MAX_REVIEW_APP_CAP) {
    throw new ValidationError(`cap must be a whole number from 1 to ${MAX_REVIEW_APP_CAP}`);
  }
  const existing = (await deps.store.listEnvironments(app.name)).find((e) => e.reviewApps);
  if (existing) throw new ConflictError(`app ${app.name} has review apps already (from ${existing.name})`);
  const environment: Environment = {
    app: app.name,
    name: spec.name,
    ...(spec.cluster ? { cluster: spec.cluster } : {}),
    ...(spec.container ? { container: spec.container } : {}),
    ...(spec.url ? { url: spec.url } : {}),
    approval: 'none',
    reviewApps: { ...(spec.serviceTemplate ? { serviceTemplate: spec.serviceTemplate } : {}), cap },
    createdAt: (deps.clock?.now() ?? new Date()).toISOString(),
  };
  await deps.store.createEnvironment(environment);
  return view(environment);
}

/** A review app goes when its merge request is merged or closed; their template while none runs. */
async function mayDeleteReviewEnvironment(store: Pick<Store, 'listEnvironments'>, app: App, name: string) {
  if (isReviewEnvironment(name)) {
    throw new ConflictError(
      `${name} is a review app: it is torn down when its merge request is merged or closed ` +
        "(resend that event from the hook's recent deliveries in GitLab if Slipway missed it)",
    );
  }
  const envs = await store.listEnvironments(app.name);
  const running = envs.filter((e) => e.review?.template === name).map((e) => e.name);
  if (envs.some((e) => e.name === name && e.reviewApps) && running.length > 0) {
    throw new ConflictError(
      `${name} has review apps running (${running.join(', ')}): close their merge requests first`,
    );
  }
}

/**
 * Review apps run merge requests: none of their releases is promoted elsewhere (a merge request's
 * commit never becomes a release of a branch), nothing is promoted to them or to their template.
 */
async function mayPromoteBetween(store: Pick<Store, 'listEnvironments'>, app: App, from: string, to: string) {
  for (const name of [from, to]) {
    if (isReviewEnvironment(name)) {
      throw new ValidationError(`${name} is a review app: it runs its merge request's builds only`);
    }
  }
  const template = (await store.listEnvironments(app.name)).find((e) => e.reviewApps);
  if (template && (template.name === from || template.name === to)) {
    throw new ValidationError(
      `${template.name} is the template of the review apps of ${app.name}: it runs nothing itself`,
    );
  }
}
