import { rollOut } from './deploys';
import {
  checkKey,
  checkTotals,
  checkValue,
  MAX_CONFIG_KEYS,
  openConfig,
  sealConfig,
  shownKey,
  sortedValues,
} from './environment-config';
import { laneOf, mustHaveEnvironments } from './environments';
import { NotFoundError, ValidationError } from './errors';
import { newId } from './ids';
import type { IngestDeps } from './ingest';
import type { App, Release } from './model';
import type { Store, Vault } from './ports';

/**
 * `slipway config` (PRODUCT.md "Configuration", docs/ENVIRONMENTS.md): an app environment's
 * configuration, shown (keys; values only when asked) and changed (set merges, unset removes).
 * A change to an environment with a live release releases its images again, so the containers
 * get the new values: a new release, like a rollback copies one forward, whose `reason` and
 * `configChange` name the keys, never the values. With nothing live, the configuration is
 * stored and the next release to the environment takes it.
 *
 * Unsetting a key that is not set is refused (400, naming it) rather than ignored: a mistyped
 * key would otherwise look removed.
 */

/** A configuration as the API and CLI show it. */
export interface ConfigurationView {
  app: string;
  environment: string;
  /** Names only, sorted. */
  keys: string[];
  /** Its writes so far (0: never set). */
  version: number;
  updatedAt?: string;
  /** Only when asked for (`--show`). */
  values?: Record<string, string>;
  /** The release that takes the change live (changes to an environment with a live release). */
  release?: string;
}

export interface ConfigChange {
  set?: Record<string, string>;
  unset?: string[];
  /** Who asks: on the release it makes (as for promotions). */
  requestedBy?: string;
}

/** What a reason may name before it says how many more keys there are. */
const MAX_REASON_KEYS_LENGTH = 600;

/** Shows an environment's configuration: its keys, and its values with `show`. */
export async function showConfiguration(
  deps: { store: Store; vault: Vault },
  appName: string,
  environment: string,
  options: { show?: boolean } = {},
): Promise<ConfigurationView> {
  const app = await mustGetApp(deps.store, appName);
  await mustHaveEnvironments(deps.store, app, environment);
  const stored = await deps.store.getEnvironmentConfig(app.name, environment);
  const view: ConfigurationView = {
    app: app.name,
    environment,
    keys: stored?.keys ?? [],
    version: stored?.version ?? 0,
    ...(stored ? { updatedAt: stored.updatedAt } : {}),
  };
  if (options.show) view.values = stored ? sortedValues(await openConfig(deps.vault, stored)) : {};
  return view;
}

/**
 * Sets and unsets keys of an environment's configuration (one conditional write: of two
 * concurrent changes, the later one is refused with StaleWriteError rather than lost), then, if
 * something changed and a release is live there, releases its images again with the new values.
 */
export async function changeConfiguration(
  deps: IngestDeps & { vault: Vault },
  appName: string,
  environment: string,
  change: ConfigChange,
): Promise<ConfigurationView & { released?: Release }> {
  const set = change.set ?? {};
  const unset = [...new Set(change.unset ?? [])];
  if (Object.keys(set).length === 0 && unset.length === 0) {
    throw new ValidationError('nothing to change: give KEY=VALUE to set, or KEY to unset');
  }
  if (Object.keys(set).length > MAX_CONFIG_KEYS || unset.length > MAX_CONFIG_KEYS) {
    throw new ValidationError(`a configuration holds at most ${MAX_CONFIG_KEYS} keys`);
  }
  for (const [key, value] of Object.entries(set)) {
    checkKey(key);
    checkValue(key, value);
  }
  for (const key of unset) {
    checkKey(key);
    if (Object.hasOwn(set, key)) throw new ValidationError(`${key} is both set and unset: say one`);
  }

  const { store } = deps;
  const app = await mustGetApp(store, appName);
  await mustHaveEnvironments(store, app, environment);
  const stored = await store.getEnvironmentConfig(app.name, environment);
  const before = stored ? await openConfig(deps.vault, stored) : {};

  const missing = unset.filter((key) => !Object.hasOwn(before, key));
  if (missing.length > 0) {
    throw new ValidationError(
      `not set in ${environment} (app ${app.name}), so not unset: ${missing.map(shownKey).join(', ')}`,
    );
  }
  const after: Record<string, string> = { ...before, ...set };
  for (const key of unset) delete after[key];
  checkTotals(after);

  const setKeys = Object.keys(set)
    .filter((key) => before[key] !== set[key])
    .sort();
  const unsetKeys = [...unset].sort();
  const version = stored?.version ?? 0;
  const unchanged: ConfigurationView = {
    app: app.name,
    environment,
    keys: stored?.keys ?? [],
    version,
    ...(stored ? { updatedAt: stored.updatedAt } : {}),
  };
  if (setKeys.length === 0 && unsetKeys.length === 0) return unchanged;

  const now = deps.clock?.now() ?? new Date();
  const next = {
    app: app.name,
    environment,
    ciphertext: await sealConfig(deps.vault, app.name, environment, after),
    keys: Object.keys(sortedValues(after)),
    version: version + 1,
    updatedAt: now.toISOString(),
  };
  await store.putEnvironmentConfig(next, version);
  const view: ConfigurationView = {
    app: app.name,
    environment,
    keys: next.keys,
    version: next.version,
    updatedAt: next.updatedAt,
  };

  const liveId = await store.liveReleaseId(app.name, laneOf(app, environment));
  const live = liveId ? await store.getRelease(app.name, liveId) : undefined;
  if (!live || Object.keys(live.images).length === 0) return view;
  const release: Release = {
    id: newId(now),
    app: app.name,
    status: 'pending',
    build: live.build,
    commit: live.commit,
    images: live.images,
    createdAt: now.toISOString(),
    environment,
    configChange: { version: next.version, set: setKeys, unset: unsetKeys },
    reason: configReason(setKeys, unsetKeys),
    ...(change.requestedBy ? { requestedBy: change.requestedBy } : {}),
  };
  await store.createRelease(release);
  const released = await rollOut(deps, app, {
    input: { app: app.name, build: live.build, release: release.id },
    release,
  });
  return { ...view, release: released.id, released };
}

/** `configuration changed: set A, B, unset C`: key names only, shortened past a few hundred characters. */
export function configReason(set: readonly string[], unset: readonly string[]): string {
  const parts: string[] = [];
  let length = 0;
  let left = set.length + unset.length;
  const named = (verb: string, keys: readonly string[]) => {
    const shown: string[] = [];
    for (const key of keys) {
      if (length + key.length > MAX_REASON_KEYS_LENGTH) break;
      shown.push(key);
      length += key.length + 2;
      left -= 1;
    }
    if (shown.length > 0) parts.push(`${verb} ${shown.join(', ')}`);
  };
  named('set', set);
  named('unset', unset);
  return `configuration changed: ${parts.join(', ')}${left > 0 ? ` and ${left} more` : ''}`;
}

async function mustGetApp(store: Store, name: string): Promise<App> {
  const app = await store.getApp(name);
  if (!app) throw new NotFoundError(`no app named ${name}`);
  return app;
}
