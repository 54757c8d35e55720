import type {
  App,
  Build,
  Delivery,
  Environment,
  EnvironmentConfig,
  GitlabConnection,
  Release,
} from '../../domain/model';
import type { Clock } from '../../domain/ports';
import { TABLE_SCHEMA } from './schema';

/**
 * Every key shape and item of the one table (single-table design, docs/DATA-MODEL.md), and the
 * conversions between items and the domain's objects. Nothing here talks to DynamoDB.
 */

export const PK = TABLE_SCHEMA.partitionKey;
export const SK = TABLE_SCHEMA.sortKey;
export const GSI = TABLE_SCHEMA.projectIndex;
export const TTL = TABLE_SCHEMA.ttlAttribute;
/** Marks what an item is, for people reading the table; never returned to callers. */
export const ENTITY = 'entity';
export const KEY_ATTRIBUTES: ReadonlySet<string> = new Set([PK, SK, GSI.partitionKey, GSI.sortKey, TTL, ENTITY]);

/**
 * How long a delivery is remembered for de-duplication: at least 30 days (PRODUCT.md step 3;
 * DynamoDB's TTL deletes an item only after its expiry, never before).
 */
export const DELIVERY_TTL_SECONDS = 30 * 24 * 60 * 60;
/** How long a rollout's event id leads to its release: longer than any rollout is waited for. */
export const ROLLOUT_WATCH_TTL_SECONDS = 3 * 24 * 60 * 60;
/** The hook pointer's attribute holding a copy of its app (docs/DATA-MODEL.md). */
export const HOOK_APP_COPY = 'appCopy';
/** The partition of start markers: one small item per build recorded and not yet started. */
export const UNSTARTED_PARTITION = 'UNSTARTED';

export type Item = Record<string, unknown>;
export type Key = { [PK]: string; [SK]: string };

export const keys = {
  app: (name: string): Key => ({ [PK]: 'APPS', [SK]: `APP#${name}` }),
  hook: (hookId: string): Key => ({ [PK]: `HOOK#${hookId}`, [SK]: 'HOOK' }),
  build: (app: string, id: string): Key => ({ [PK]: `APP#${app}`, [SK]: `BUILD#${id}` }),
  release: (app: string, id: string): Key => ({ [PK]: `APP#${app}`, [SK]: `RELEASE#${id}` }),
  appChildren: (app: string): string => `APP#${app}`,
  /** The app's rollout lock, one of its children (removed with them). */
  /** The app's rollout lock: its first environment's at `ROLLOUT` (as before environments), another's at `ROLLOUT#<env>`. */
  rolloutLock: (app: string, lane?: string): Key => ({
    [PK]: `APP#${app}`,
    [SK]: lane ? `ROLLOUT#${lane}` : 'ROLLOUT',
  }),
  /** The app's live pointer, one of its children (removed with them). */
  /** Which release is live: the first environment's at `LIVE` (as before environments), another's at `LIVE#<env>`. */
  livePointer: (app: string, lane?: string): Key => ({ [PK]: `APP#${app}`, [SK]: lane ? `LIVE#${lane}` : 'LIVE' }),
  /** An environment of the app beyond its first (which the app item itself describes). */
  environment: (app: string, name: string): Key => ({ [PK]: `APP#${app}`, [SK]: `ENV#${name}` }),
  /** An app environment's configuration (the first environment's too, by its name). */
  environmentConfig: (app: string, environment: string): Key => ({
    [PK]: `APP#${app}`,
    [SK]: `CONFIG#${environment}`,
  }),
  delivery: (source: string, key: string): Key => ({ [PK]: `DELIVERY#${source}#${key}`, [SK]: 'DELIVERY' }),
  /** A rollout's events name it by the platform's id (ECS deployment id, local container). */
  rolloutWatch: (watch: string): Key => ({ [PK]: `WATCH#${watch}`, [SK]: 'WATCH' }),
  /** A build's start marker: the ULID first, so the partition's key order is creation order. */
  unstarted: (app: string, id: string): Key => ({ [PK]: UNSTARTED_PARTITION, [SK]: `BUILD#${id}#${app}` }),
  gitlab: (): Key => ({ [PK]: 'CONFIG', [SK]: 'GITLAB' }),
  systemHook: (): Key => ({ [PK]: 'CONFIG', [SK]: 'SYSTEM_HOOK' }),
  /** The project index's partition: by GitLab project id once known, else by lower-case path. */
  project: (project: { projectId?: number; project: string }): string =>
    project.projectId !== undefined ? `PROJID#${project.projectId}` : `PROJ#${project.project.toLowerCase()}`,
};

/** A key nothing is ever stored under: what the commit barrier reads. */
export const BARRIER_KEY: Key = { [PK]: 'CONFIG', [SK]: 'COMMIT_BARRIER' };

// ---- items ----------------------------------------------------------------------------------------

export const items = {
  /** An app, in the project index under its project. */
  app: (app: App): Item => ({
    ...withoutUndefined(app),
    ...keys.app(app.name),
    [GSI.partitionKey]: keys.project(app),
    [GSI.sortKey]: `APP#${app.name}`,
    [ENTITY]: 'app',
  }),

  /** The hook pointer: names its app and carries a copy of it, so one read serves a webhook. */
  hookPointer: (app: App): Item => ({
    ...keys.hook(app.hookId),
    app: app.name,
    [HOOK_APP_COPY]: withoutUndefined(app),
    [ENTITY]: 'hook',
  }),

  build: (build: Build): Item => ({
    ...withoutUndefined(build),
    ...keys.build(build.app, build.id),
    [ENTITY]: 'build',
  }),

  /** A build's start marker: names the build, so the sweep needs no other read to find it. */
  startMarker: (build: Build): Item => ({
    ...keys.unstarted(build.app, build.id),
    app: build.app,
    build: build.id,
    createdAt: build.createdAt,
    [ENTITY]: 'unstarted',
  }),

  /** A delivery naming its build; it expires DELIVERY_TTL_SECONDS after it was received (or now). */
  delivery: (build: Build, delivery: Omit<Delivery, 'build' | 'app'>, clock: Clock): Item & Key => {
    const receivedAt = Date.parse(delivery.receivedAt);
    const expiresAt =
      Math.floor((Number.isNaN(receivedAt) ? clock.now().getTime() : receivedAt) / 1000) + DELIVERY_TTL_SECONDS;
    return {
      ...keys.delivery(delivery.source, delivery.key),
      source: delivery.source,
      key: delivery.key,
      app: build.app,
      build: build.id,
      receivedAt: delivery.receivedAt,
      [TTL]: expiresAt,
      [ENTITY]: 'delivery',
    };
  },

  release: (release: Release): Item => ({
    ...withoutUndefined(release),
    ...keys.release(release.app, release.id),
    [ENTITY]: 'release',
  }),

  /** Leads a rollout's events to its release until ROLLOUT_WATCH_TTL_SECONDS after `now`. */
  rolloutWatch: (watch: string, release: { app: string; release: string }, now: Date): Item => ({
    ...keys.rolloutWatch(watch),
    app: release.app,
    release: release.release,
    [TTL]: Math.floor(now.getTime() / 1000) + ROLLOUT_WATCH_TTL_SECONDS,
    [ENTITY]: 'rollout-watch',
  }),

  rolloutLock: (app: string, holder: string, acquiredAt: string, lane?: string): Item => ({
    ...keys.rolloutLock(app, lane),
    holder,
    acquiredAt,
    [ENTITY]: 'rollout-lock',
  }),

  environment: (environment: Environment): Item => ({
    ...withoutUndefined(environment),
    ...keys.environment(environment.app, environment.name),
    [ENTITY]: 'environment',
  }),

  environmentConfig: (config: EnvironmentConfig): Item => ({
    ...withoutUndefined(config),
    ...keys.environmentConfig(config.app, config.environment),
    [ENTITY]: 'environment-config',
  }),

  livePointer: (app: string, release: string, lane?: string): Item => ({
    ...keys.livePointer(app, lane),
    release,
    [ENTITY]: 'live-pointer',
  }),

  gitlab: (connection: GitlabConnection): Item => ({
    ...withoutUndefined(connection),
    ...keys.gitlab(),
    [ENTITY]: 'config',
  }),

  systemHook: (hash: string): Item => ({ ...keys.systemHook(), hash, [ENTITY]: 'config' }),
};

// ---- conversions ----------------------------------------------------------------------------------

/** A stored item as the domain object it holds: the table's own attributes removed. */
export function fromItem<T>(item: Item): T {
  const result: Item = {};
  for (const [key, value] of Object.entries(item)) {
    if (!KEY_ATTRIBUTES.has(key)) result[key] = value;
  }
  return result as T;
}

/** The key attributes of a stored item (or of an item about to be). */
export function keyOf(item: Item): Key {
  return { [PK]: item[PK], [SK]: item[SK] } as Key;
}

export function isRecord(value: unknown): value is Item {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

export function withoutUndefined<T extends object>(value: T): Item {
  return stripUndefinedDeep(value) as Item;
}

/** Drops undefined properties (at any depth) so items marshal whatever the client's options. */
export function stripUndefinedDeep(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(stripUndefinedDeep);
  if (value !== null && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    const result: Item = {};
    for (const [key, inner] of Object.entries(value)) {
      if (inner !== undefined) result[key] = stripUndefinedDeep(inner);
    }
    return result;
  }
  return value;
}

/** The attributes of `patch` a write may set: those `allowed` that are defined. */
export function pick<K extends string>(patch: Partial<Record<K, unknown>> | undefined, allowed: readonly K[]): Item {
  const result: Item = {};
  if (!patch) return result;
  for (const key of allowed) {
    if (patch[key] !== undefined) result[key] = patch[key];
  }
  return result;
}
