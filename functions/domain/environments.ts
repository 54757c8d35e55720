import { ConflictError, NotFoundError, ValidationError } from './errors';
import { newId } from './ids';
import type { App, Environment, Release } from './model';
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

/** An environment as the API and CLI show it. */
export interface EnvironmentView {
  app: string;
  name: string;
  branch?: string;
  tags?: string;
  cluster?: string;
  service?: string;
  container?: string;
  url?: string;
  approval: 'none' | 'maintainer';
  /** The live release's id, if any. */
  live?: string;
}

/** What `envs create` asks for: the view's settings, the approval rule optional. */
export type EnvironmentSpec = Omit<EnvironmentView, 'app' | 'live' | 'approval'> & {
  approval?: EnvironmentView['approval'];
};

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
    ...(env.cluster ? { cluster: env.cluster } : {}),
    ...(env.service ? { service: env.service } : {}),
    ...(env.container ? { container: env.container } : {}),
    ...(env.url ? { url: env.url } : {}),
    approval: env.approval,
  };
}

/**
 * Checks that the app has each of `names`: NotFoundError naming the ones it has. One read of the
 * app's environments, no live pointers.
 */
export async function mustHaveEnvironments(store: Store, app: App, ...names: string[]): Promise<void> {
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
  if (spec.branch !== undefined || spec.tags !== undefined) {
    throw new ValidationError(
      `only the first environment (${firstEnvironment(app)}) builds on push so far: ${spec.name} receives ` +
        'releases with slipway promote; create it without --branch and --tags',
    );
  }
  if (spec.approval === 'maintainer') {
    throw new ValidationError('approvals (--approval maintainer) are not built yet: create it with --approval none');
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
    ...(spec.cluster ? { cluster: spec.cluster } : {}),
    ...(spec.service ? { service: spec.service } : {}),
    ...(spec.container ? { container: spec.container } : {}),
    ...(spec.url ? { url: spec.url } : {}),
    approval: 'none',
    createdAt: (deps.clock?.now() ?? new Date()).toISOString(),
  };
  await deps.store.createEnvironment(environment);
  return view(environment);
}

/** Removes an environment beyond the first; refused while a release to it is in flight. */
export async function deleteEnvironment(store: Store, app: App, name: string): Promise<void> {
  if (name === firstEnvironment(app)) {
    throw new ConflictError(`${name} is the first environment of app ${app.name}: delete the app instead`);
  }
  await mustHaveEnvironments(store, app, name);
  const releases = await store.listReleases(app.name, { limit: 50 });
  const inFlight = releases.find(
    (r) => environmentOf(app, r) === name && (r.status === 'pending' || r.status === 'deploying'),
  );
  if (inFlight) {
    throw new ConflictError(
      `release ${inFlight.id} to ${name} is still ${inFlight.status}: delete it once it has ended`,
    );
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
  return { app: app.name, environment: lane, cluster: env.cluster, service: env.service, container: env.container };
}

/**
 * Promotion: a new `pending` release to `to` with exactly the images (digests) of the source
 * release, which must have gone live in `from`: the one given, or `from`'s live release. No
 * build runs. Returns the release and the workflow input that rolls it out.
 */
export async function promoteRelease(
  deps: { store: Store; clock?: Clock },
  app: App,
  request: { from: string; to: string; release?: string },
): Promise<{ input: { app: string; build: string; release: string }; release: Release }> {
  const { store } = deps;
  if (request.from === request.to) {
    throw new ValidationError(`cannot promote ${request.from} to itself: name another environment with --to`);
  }
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
