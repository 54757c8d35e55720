import type { AttributeValue, CancellationReason } from '@aws-sdk/client-dynamodb';
import {
  BatchWriteCommand,
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  type QueryCommandInput,
  TransactWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { ConflictError, NotFoundError, StaleWriteError, ValidationError } from '../../domain/errors';
import { idTimePrefix } from '../../domain/ids';
import type {
  App,
  Build,
  BuildStatus,
  Delivery,
  GitlabConnection,
  Release,
  ReleaseOutcome,
  ReleaseStatus,
  ReportRecord,
  RolloutLock,
} from '../../domain/model';
import type { Clock, Store } from '../../domain/ports';
import { assertBuildTransition, assertReleaseTransition } from '../../domain/states';
import { TABLE_SCHEMA } from './schema';

/**
 * The state store on one DynamoDB table (single-table design, docs/DATA-MODEL.md).
 * Every state change is a conditional write; nothing here scans the table.
 */

const PK = TABLE_SCHEMA.partitionKey;
const SK = TABLE_SCHEMA.sortKey;
const GSI = TABLE_SCHEMA.projectIndex;
const TTL = TABLE_SCHEMA.ttlAttribute;
/** Marks what an item is, for people reading the table; never returned to callers. */
const ENTITY = 'entity';
const KEY_ATTRIBUTES: ReadonlySet<string> = new Set([PK, SK, GSI.partitionKey, GSI.sortKey, TTL, ENTITY]);

/**
 * How long a delivery is remembered for de-duplication: at least 30 days (PRODUCT.md step 3;
 * DynamoDB's TTL deletes an item only after its expiry, never before).
 */
export const DELIVERY_TTL_SECONDS = 30 * 24 * 60 * 60;
/** How long a rollout's event id leads to its release: longer than any rollout is waited for. */
export const ROLLOUT_WATCH_TTL_SECONDS = 3 * 24 * 60 * 60;
/** The hook pointer's attribute holding a copy of its app (docs/DATA-MODEL.md). */
const HOOK_APP_COPY = 'appCopy';
/** The partition of start markers: one small item per build recorded and not yet started. */
const UNSTARTED_PARTITION = 'UNSTARTED';
/** Bound on retries of a transaction that lost to a concurrent one (TransactionConflict). */
const MAX_TRANSACTION_ATTEMPTS = 10;
const BATCH_WRITE_LIMIT = 25;
const MAX_BATCH_ATTEMPTS = 8;

/** App attributes a patch may not touch (identity, bookkeeping) or that are the table's own. */
const UNPATCHABLE_APP_KEYS: ReadonlySet<string> = new Set([
  'name',
  'hookId',
  'createdAt',
  'version',
  ...KEY_ATTRIBUTES,
]);
/** Required app attributes: `undefined` in a patch leaves them unchanged instead of removing them. */
const REQUIRED_APP_KEYS: ReadonlySet<string> = new Set(['project', 'branch', 'mode', 'status', 'linked', 'updatedAt']);
const BUILD_PATCH_KEYS = ['startedAt', 'endedAt', 'images', 'reason'] as const;
const RELEASE_PATCH_KEYS = ['liveAt', 'endedAt', 'reason'] as const;

type Item = Record<string, unknown>;
type Key = { [PK]: string; [SK]: string };

export const keys = {
  app: (name: string): Key => ({ [PK]: 'APPS', [SK]: `APP#${name}` }),
  hook: (hookId: string): Key => ({ [PK]: `HOOK#${hookId}`, [SK]: 'HOOK' }),
  build: (app: string, id: string): Key => ({ [PK]: `APP#${app}`, [SK]: `BUILD#${id}` }),
  release: (app: string, id: string): Key => ({ [PK]: `APP#${app}`, [SK]: `RELEASE#${id}` }),
  appChildren: (app: string): string => `APP#${app}`,
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

export interface DynamoDbStoreOptions {
  tableName: string;
  client: DynamoDBDocumentClient;
  /** Source of `updatedAt` and delivery expiry; the wall clock by default. */
  clock?: Clock;
  /**
   * Wait, after each TransactWriteItems, until it is durable. DynamoDB Local answers a
   * transaction before its SQLite commit has run (it queues the commit), so a DynamoDB Local
   * killed at that moment loses a transaction it acknowledged; a consistent read queued behind
   * the commit waits for it. Local mode sets this; DynamoDB itself needs nothing of the kind.
   */
  awaitTransactionCommit?: boolean;
}

/** A key nothing is ever stored under: what the commit barrier reads. */
const BARRIER_KEY = { [PK]: 'CONFIG', [SK]: 'COMMIT_BARRIER' };

export class DynamoDbStore implements Store {
  private readonly tableName: string;
  private readonly client: DynamoDBDocumentClient;
  private readonly clock: Clock;
  private readonly awaitTransactionCommit: boolean;

  constructor(options: DynamoDbStoreOptions) {
    this.tableName = options.tableName;
    this.client = options.client;
    this.clock = options.clock ?? { now: () => new Date() };
    this.awaitTransactionCommit = options.awaitTransactionCommit ?? false;
  }

  /** Runs one TransactWriteItems and, where asked to (DynamoDB Local), waits for its commit. */
  private async sendTransaction(
    items: NonNullable<ConstructorParameters<typeof TransactWriteCommand>[0]['TransactItems']>,
  ): Promise<void> {
    await this.client.send(new TransactWriteCommand({ TransactItems: items }));
    if (this.awaitTransactionCommit) {
      await this.client.send(new GetCommand({ TableName: this.tableName, Key: BARRIER_KEY, ConsistentRead: true }));
    }
  }

  // ---- apps ---------------------------------------------------------------------------------

  async createApp(app: App): Promise<void> {
    const item = {
      ...withoutUndefined(app),
      ...keys.app(app.name),
      [GSI.partitionKey]: keys.project(app),
      [GSI.sortKey]: `APP#${app.name}`,
      [ENTITY]: 'app',
    };
    const pointer = hookPointer(app);
    await this.transact(
      [item, pointer].map((Item) => ({
        Put: {
          TableName: this.tableName,
          Item,
          ConditionExpression: 'attribute_not_exists(#pk)',
          ExpressionAttributeNames: { '#pk': PK },
        },
      })),
      (reasons) => {
        if (isConditionFailure(reasons[0])) return new ConflictError(`app ${app.name} already exists`);
        if (isConditionFailure(reasons[1])) return new ConflictError(`hook id of app ${app.name} is already in use`);
        return undefined;
      },
    );
  }

  async getApp(name: string): Promise<App | undefined> {
    return this.get<App>(keys.app(name));
  }

  async listApps(): Promise<App[]> {
    return this.queryAll<App>({
      KeyConditionExpression: '#pk = :pk',
      ExpressionAttributeNames: { '#pk': PK },
      ExpressionAttributeValues: { ':pk': 'APPS' },
      ConsistentRead: true,
    });
  }

  /**
   * One consistent GetItem: the hook pointer carries a copy of its app, written in the same
   * transaction as every change of the app. A pointer without the copy (written before it
   * existed) falls back to reading the app; the app's next update adds the copy.
   */
  async findAppByHookId(hookId: string): Promise<App | undefined> {
    const pointer = await this.getRaw(keys.hook(hookId));
    if (!pointer || typeof pointer.app !== 'string') return undefined;
    const copy = pointer[HOOK_APP_COPY];
    const app = isRecord(copy) && copy.name === pointer.app ? fromItem<App>(copy) : await this.getApp(pointer.app);
    // A pointer always names the app it was created with; guard against a stale one anyway.
    return app?.hookId === hookId ? app : undefined;
  }

  async findAppsByProject(project: { id?: number; path?: string }): Promise<App[]> {
    const partitions: string[] = [];
    if (project.id !== undefined) partitions.push(keys.project({ projectId: project.id, project: '' }));
    if (project.path !== undefined && project.path !== '') partitions.push(keys.project({ project: project.path }));
    const found = new Map<string, App>();
    for (const partition of partitions) {
      const apps = await this.queryAll<App>({
        IndexName: GSI.name,
        KeyConditionExpression: '#gpk = :gpk',
        ExpressionAttributeNames: { '#gpk': GSI.partitionKey },
        ExpressionAttributeValues: { ':gpk': partition },
      });
      for (const app of apps) found.set(app.name, app);
    }
    return [...found.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  async updateApp(
    name: string,
    expectedVersion: number,
    patch: Partial<Omit<App, 'name' | 'hookId' | 'createdAt' | 'version'>>,
  ): Promise<App> {
    const set: Item = {};
    const remove: string[] = [];
    for (const [key, value] of Object.entries(patch)) {
      if (UNPATCHABLE_APP_KEYS.has(key)) throw new ValidationError(`app attribute ${key} cannot be changed`);
      if (value !== undefined) set[key] = value;
      else if (!REQUIRED_APP_KEYS.has(key)) remove.push(key);
    }
    set.updatedAt = patch.updatedAt ?? this.clock.now().toISOString();
    set.version = expectedVersion + 1;

    // The app as it will be: its hook pointer gets the same copy in the same transaction.
    const stored = await this.getRaw(keys.app(name));
    if (!stored) throw new NotFoundError(`app ${name} not found`);
    if (stored.version !== expectedVersion) {
      throw new StaleWriteError(`app ${name} is at version ${String(stored.version)}, not ${expectedVersion}`);
    }
    const next: Item = { ...stored, ...set };
    for (const key of remove) delete next[key];
    const app = fromItem<App>(next);
    if (Object.hasOwn(patch, 'project') || Object.hasOwn(patch, 'projectId')) {
      // The update is conditional on the version read, so what was read still holds then.
      set[GSI.partitionKey] = keys.project(app);
    }

    const names: Record<string, string> = { '#version': 'version' };
    const values: Record<string, unknown> = { ':expected': expectedVersion };
    const setClauses = Object.entries(set).map(([key, value], i) => {
      names[`#s${i}`] = key;
      values[`:s${i}`] = stripUndefinedDeep(value);
      return `#s${i} = :s${i}`;
    });
    const removeClauses = remove.map((key, i) => {
      names[`#r${i}`] = key;
      return `#r${i}`;
    });
    // The app's condition failed: read again below to tell a stale version from a deleted app.
    const changed = new StaleWriteError(`app ${name} changed meanwhile`);
    try {
      await this.transact(
        [
          {
            Update: {
              TableName: this.tableName,
              Key: keys.app(name),
              UpdateExpression: `SET ${setClauses.join(', ')}${removeClauses.length ? ` REMOVE ${removeClauses.join(', ')}` : ''}`,
              ConditionExpression: '#version = :expected',
              ExpressionAttributeNames: names,
              ExpressionAttributeValues: values,
            },
          },
          {
            Put: {
              TableName: this.tableName,
              Item: hookPointer(app),
              // Never take over a pointer that (against all odds) belongs to another app.
              ConditionExpression: 'attribute_not_exists(#pk) OR #app = :app',
              ExpressionAttributeNames: { '#pk': PK, '#app': 'app' },
              ExpressionAttributeValues: { ':app': name },
            },
          },
        ],
        (reasons) => {
          if (isConditionFailure(reasons[0])) return changed;
          if (isConditionFailure(reasons[1])) return new ConflictError(`hook pointer of app ${name} names another app`);
          return undefined;
        },
      );
    } catch (error) {
      if (error !== changed) throw error;
      const now = await this.getRaw(keys.app(name));
      if (!now) throw new NotFoundError(`app ${name} not found`);
      throw new StaleWriteError(`app ${name} is at version ${String(now.version)}, not ${expectedVersion}`);
    }
    return app;
  }

  async deleteApp(name: string): Promise<void> {
    const app = await this.getApp(name);
    if (!app) throw new NotFoundError(`app ${name} not found`);
    await this.transact(
      [
        {
          Delete: {
            TableName: this.tableName,
            Key: keys.app(name),
            ConditionExpression: 'attribute_exists(#pk)',
            ExpressionAttributeNames: { '#pk': PK },
          },
        },
        {
          Delete: {
            TableName: this.tableName,
            Key: keys.hook(app.hookId),
            // Never remove a pointer that (against all odds) belongs to another app.
            ConditionExpression: 'attribute_not_exists(#pk) OR #app = :app',
            ExpressionAttributeNames: { '#pk': PK, '#app': 'app' },
            ExpressionAttributeValues: { ':app': name },
          },
        },
      ],
      (reasons) => {
        if (isConditionFailure(reasons[0])) return new NotFoundError(`app ${name} not found`);
        if (isConditionFailure(reasons[1])) return new ConflictError(`hook pointer of app ${name} names another app`);
        return undefined;
      },
    );
    await this.deleteChildren(name);
  }

  // ---- builds -------------------------------------------------------------------------------

  async recordBuild(
    build: Build,
    delivery?: Omit<Delivery, 'build' | 'app'> | ReadonlyArray<Omit<Delivery, 'build' | 'app'>>,
  ): Promise<{ build: Build; duplicate: boolean }> {
    const deliveries: Array<Omit<Delivery, 'build' | 'app'>> =
      delivery === undefined
        ? []
        : Array.isArray(delivery)
          ? [...(delivery as ReadonlyArray<Omit<Delivery, 'build' | 'app'>>)]
          : [delivery as Omit<Delivery, 'build' | 'app'>];
    const buildPut = {
      Put: {
        TableName: this.tableName,
        Item: { ...withoutUndefined(build), ...keys.build(build.app, build.id), [ENTITY]: 'build' },
        ConditionExpression: 'attribute_not_exists(#pk)',
        ExpressionAttributeNames: { '#pk': PK },
      },
    };
    // Written with the build, removed once it is handed to the builder or leaves `queued`: what the sweep finds.
    const markerPut = {
      Put: {
        TableName: this.tableName,
        Item: {
          ...keys.unstarted(build.app, build.id),
          app: build.app,
          build: build.id,
          createdAt: build.createdAt,
          [ENTITY]: 'unstarted',
        },
      },
    };
    const deliveryKeys = deliveries.map((d) => keys.delivery(d.source, d.key));
    const deliveryPuts = deliveries.map((d) => {
      const receivedAt = Date.parse(d.receivedAt);
      const expiresAt =
        Math.floor((Number.isNaN(receivedAt) ? this.clock.now().getTime() : receivedAt) / 1000) + DELIVERY_TTL_SECONDS;
      return {
        Put: {
          TableName: this.tableName,
          Item: {
            ...keys.delivery(d.source, d.key),
            source: d.source,
            key: d.key,
            app: build.app,
            build: build.id,
            receivedAt: d.receivedAt,
            [TTL]: expiresAt,
            [ENTITY]: 'delivery',
          },
          ConditionExpression: 'attribute_not_exists(#pk)',
          ExpressionAttributeNames: { '#pk': PK },
        },
      };
    });
    const what =
      deliveries.length === 0
        ? `build ${build.app}/${build.id}`
        : `delivery ${deliveries.map((d) => d.source).join(', ')}`;

    for (let attempt = 1; ; attempt++) {
      if (attempt > 1 && deliveryKeys.length > 0) {
        // Someone else may have won meanwhile: answer from their record instead of racing again.
        const earlier = await this.duplicateAnswer(deliveryPuts, () => true);
        if (earlier) return { build: earlier, duplicate: true };
      }
      try {
        await this.sendTransaction([...deliveryPuts, buildPut, markerPut]);
        return { build, duplicate: false };
      } catch (error) {
        if (!isTransactionCanceled(error)) throw error;
        const reasons = error.CancellationReasons ?? [];
        if (deliveryKeys.some((_, i) => isConditionFailure(reasons[i]))) {
          const earlier = await this.duplicateAnswer(deliveryPuts, (i) => isConditionFailure(reasons[i]));
          if (earlier) return { build: earlier, duplicate: true };
          // The deliveries vanished (expired) or named a deleted build: try again.
        } else if (isConditionFailure(reasons[deliveryKeys.length])) {
          throw new ConflictError(`build ${build.id} of app ${build.app} already exists`);
        } else if (!reasons.some(isTransactionConflict)) {
          throw error;
        }
        if (attempt >= MAX_TRANSACTION_ATTEMPTS) {
          throw new StaleWriteError(`could not record ${what} after ${attempt} attempts (contention)`);
        }
        await backoff(attempt);
      }
    }
  }

  async getBuild(app: string, id: string): Promise<Build | undefined> {
    return this.get<Build>(keys.build(app, id));
  }

  async listBuilds(app: string, options?: { limit?: number }): Promise<Build[]> {
    return this.listChildren<Build>(app, 'BUILD#', options?.limit);
  }

  async listBuildsSince(app: string, since: string): Promise<Build[]> {
    return this.listChildrenSince<Build>(app, 'BUILD#', since);
  }

  async transitionBuild(
    app: string,
    id: string,
    from: BuildStatus,
    to: BuildStatus,
    patch?: Partial<Pick<Build, 'startedAt' | 'endedAt' | 'images' | 'reason'>>,
  ): Promise<Build> {
    assertBuildTransition(from, to);
    const build = await this.transition<Build>(
      keys.build(app, id),
      `build ${app}/${id}`,
      from,
      to,
      pick(patch, BUILD_PATCH_KEYS),
    );
    // No longer queued: its workflow ran (or it ended), so the sweep has nothing to start.
    if (from === 'queued') await this.clearStartMarker(app, id);
    return build;
  }

  async listUnstartedBuilds(createdBefore: string): Promise<Array<{ app: string; build: string }>> {
    const at = Date.parse(createdBefore);
    if (!Number.isFinite(at)) throw new ValidationError(`createdBefore must be an ISO 8601 time, got ${createdBefore}`);
    const markers = await this.queryAll<{ app?: unknown; build?: unknown }>({
      KeyConditionExpression: '#pk = :pk AND #sk BETWEEN :from AND :to',
      ExpressionAttributeNames: { '#pk': PK, '#sk': SK },
      // Ids made before `at` sort before its time prefix (`#` sorts before every id character).
      ExpressionAttributeValues: {
        ':pk': UNSTARTED_PARTITION,
        ':from': 'BUILD#',
        ':to': `BUILD#${idTimePrefix(new Date(at - 1))}~`,
      },
      ConsistentRead: true,
    });
    return markers.flatMap((m) =>
      typeof m.app === 'string' && typeof m.build === 'string' ? [{ app: m.app, build: m.build }] : [],
    );
  }

  async clearUnstartedBuild(app: string, id: string): Promise<void> {
    await this.client.send(new DeleteCommand({ TableName: this.tableName, Key: keys.unstarted(app, id) }));
  }

  /**
   * Removes a start marker once its build is seen started, after the write that shows it. A
   * failure here is not the caller's: the write it follows stands, and the sweep, which reads
   * the build first, removes a marker whose build started.
   */
  private async clearStartMarker(app: string, id: string): Promise<void> {
    try {
      await this.clearUnstartedBuild(app, id);
    } catch {
      // Left for the sweep (above).
    }
  }

  // ---- releases -----------------------------------------------------------------------------

  async updateBuildRun(
    app: string,
    id: string,
    patch: Partial<Pick<Build, 'builderRef' | 'logLocation' | 'phase' | 'waitToken'>>,
  ): Promise<void> {
    await this.setFields(
      keys.build(app, id),
      `build ${app}/${id}`,
      pick(patch, ['builderRef', 'logLocation', 'phase', 'waitToken']),
      {
        expression: '#status IN (:queued, :running)',
        values: { ':queued': 'queued', ':running': 'running' },
        stale: (old) => `build ${app}/${id} has ended (${String(old.status)})`,
      },
    );
    // Handed to the builder: its workflow runs, so the sweep has nothing to start.
    if (patch.builderRef !== undefined) await this.clearStartMarker(app, id);
  }

  async recordBuildOutcome(
    app: string,
    id: string,
    patch: { outcome: ReleaseOutcome; release?: string; report?: ReportRecord },
  ): Promise<void> {
    await this.setFields(keys.build(app, id), `build ${app}/${id}`, pick(patch, ['outcome', 'release', 'report']));
  }

  async updateRelease(
    app: string,
    id: string,
    patch: Partial<Pick<Release, 'running' | 'desired' | 'deploymentId' | 'report' | 'rolloutRef' | 'waitToken'>>,
  ): Promise<void> {
    await this.setFields(
      keys.release(app, id),
      `release ${app}/${id}`,
      pick(patch, ['running', 'desired', 'deploymentId', 'report', 'rolloutRef', 'waitToken']),
    );
  }

  async watchRollout(watch: string, release: { app: string; release: string }): Promise<void> {
    const expiresAt = Math.floor(this.clock.now().getTime() / 1000) + ROLLOUT_WATCH_TTL_SECONDS;
    await this.client.send(
      new PutCommand({
        TableName: this.tableName,
        Item: {
          ...keys.rolloutWatch(watch),
          app: release.app,
          release: release.release,
          [TTL]: expiresAt,
          [ENTITY]: 'rollout-watch',
        },
      }),
    );
  }

  async findRolloutWatch(watch: string): Promise<{ app: string; release: string } | undefined> {
    const item = await this.getRaw(keys.rolloutWatch(watch));
    return typeof item?.app === 'string' && typeof item.release === 'string'
      ? { app: item.app, release: item.release }
      : undefined;
  }

  /**
   * Sets non-status fields of an existing item, optionally only while `guard` holds (on the
   * stored status). NotFoundError when the item is gone, StaleWriteError when the guard failed.
   */
  private async setFields(
    key: Key,
    what: string,
    fields: Item,
    guard?: { expression: string; values: Record<string, unknown>; stale: (old: Item) => string },
  ): Promise<void> {
    const entries = Object.entries(fields);
    if (entries.length === 0) return;
    const names: Record<string, string> = { '#pk': PK, ...(guard ? { '#status': 'status' } : {}) };
    const values: Record<string, unknown> = { ...guard?.values };
    const clauses = entries.map(([name, value], i) => {
      names[`#f${i}`] = name;
      values[`:f${i}`] = value;
      return `#f${i} = :f${i}`;
    });
    try {
      await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: key,
          UpdateExpression: `SET ${clauses.join(', ')}`,
          ConditionExpression: guard ? `attribute_exists(#pk) AND ${guard.expression}` : 'attribute_exists(#pk)',
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
    } catch (error) {
      const old = conditionFailureItem(error);
      if (old === null) throw error;
      if (old === undefined || !guard) throw new NotFoundError(`${what} not found`);
      throw new StaleWriteError(guard.stale(old));
    }
  }

  async createRelease(release: Release): Promise<void> {
    try {
      await this.client.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { ...withoutUndefined(release), ...keys.release(release.app, release.id), [ENTITY]: 'release' },
          ConditionExpression: 'attribute_not_exists(#pk)',
          ExpressionAttributeNames: { '#pk': PK },
        }),
      );
    } catch (error) {
      if (conditionFailureItem(error) === null) throw error;
      throw new ConflictError(`release ${release.id} of app ${release.app} already exists`);
    }
  }

  async getRelease(app: string, id: string): Promise<Release | undefined> {
    return this.get<Release>(keys.release(app, id));
  }

  async listReleases(app: string, options?: { limit?: number }): Promise<Release[]> {
    return this.listChildren<Release>(app, 'RELEASE#', options?.limit);
  }

  async listReleasesSince(app: string, since: string): Promise<Release[]> {
    return this.listChildrenSince<Release>(app, 'RELEASE#', since);
  }

  async transitionRelease(
    app: string,
    id: string,
    from: ReleaseStatus,
    to: ReleaseStatus,
    patch?: Partial<Pick<Release, 'liveAt' | 'endedAt' | 'reason'>>,
  ): Promise<Release> {
    assertReleaseTransition(from, to);
    return this.transition<Release>(
      keys.release(app, id),
      `release ${app}/${id}`,
      from,
      to,
      pick(patch, RELEASE_PATCH_KEYS),
    );
  }

  // ---- rollouts (release workflow) ----------------------------------------------------------

  async getRolloutLock(app: string): Promise<RolloutLock | undefined> {
    const lock = await this.getRaw({ [PK]: keys.appChildren(app), [SK]: 'ROLLOUT' });
    if (!lock) return undefined;
    return { holder: String(lock.holder ?? ''), acquiredAt: String(lock.acquiredAt ?? '') };
  }

  async takeRolloutLock(app: string, build: string, at: string, previous?: RolloutLock): Promise<boolean> {
    const lockKey = { [PK]: keys.appChildren(app), [SK]: 'ROLLOUT' };
    try {
      await this.client.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { ...lockKey, holder: build, acquiredAt: at, [ENTITY]: 'rollout-lock' },
          ConditionExpression: previous
            ? '#holder = :build OR (#holder = :stale AND #acquiredAt = :staleAt)'
            : 'attribute_not_exists(#pk) OR #holder = :build',
          ExpressionAttributeNames: previous
            ? { '#holder': 'holder', '#acquiredAt': 'acquiredAt' }
            : { '#pk': PK, '#holder': 'holder' },
          ExpressionAttributeValues: previous
            ? { ':build': build, ':stale': previous.holder, ':staleAt': previous.acquiredAt }
            : { ':build': build },
        }),
      );
      return true;
    } catch (error) {
      if (conditionFailureItem(error) === null) throw error;
      return false;
    }
  }

  async releaseRollout(app: string, build: string): Promise<void> {
    try {
      await this.client.send(
        new DeleteCommand({
          TableName: this.tableName,
          Key: { [PK]: keys.appChildren(app), [SK]: 'ROLLOUT' },
          ConditionExpression: '#holder = :build',
          ExpressionAttributeNames: { '#holder': 'holder' },
          ExpressionAttributeValues: { ':build': build },
        }),
      );
    } catch (error) {
      if (conditionFailureItem(error) === null) throw error;
    }
  }

  async liveReleaseId(app: string): Promise<string | undefined> {
    const pointer = await this.getRaw({ [PK]: keys.appChildren(app), [SK]: 'LIVE' });
    return typeof pointer?.release === 'string' ? pointer.release : undefined;
  }

  async promoteRelease(app: string, id: string, previousLiveId?: string, at?: string): Promise<Release> {
    const when = at ?? this.clock.now().toISOString();
    const pointer = { [PK]: keys.appChildren(app), [SK]: 'LIVE' };
    const items: NonNullable<ConstructorParameters<typeof TransactWriteCommand>[0]['TransactItems']> = [
      {
        Update: {
          TableName: this.tableName,
          Key: keys.release(app, id),
          UpdateExpression: 'SET #status = :live, #liveAt = :at',
          ConditionExpression: '#status = :deploying',
          ExpressionAttributeNames: { '#status': 'status', '#liveAt': 'liveAt' },
          ExpressionAttributeValues: { ':live': 'live', ':deploying': 'deploying', ':at': when },
        },
      },
      {
        Put: {
          TableName: this.tableName,
          Item: { ...pointer, release: id, [ENTITY]: 'live-pointer' },
          ConditionExpression: previousLiveId
            ? 'attribute_not_exists(#pk) OR #release = :previous'
            : 'attribute_not_exists(#pk)',
          ExpressionAttributeNames: previousLiveId ? { '#pk': PK, '#release': 'release' } : { '#pk': PK },
          ...(previousLiveId ? { ExpressionAttributeValues: { ':previous': previousLiveId } } : {}),
        },
      },
    ];
    if (previousLiveId) {
      items.push({
        Update: {
          TableName: this.tableName,
          Key: keys.release(app, previousLiveId),
          UpdateExpression: 'SET #status = :replaced, #endedAt = :at',
          ConditionExpression: '#status = :live',
          ExpressionAttributeNames: { '#status': 'status', '#endedAt': 'endedAt' },
          ExpressionAttributeValues: { ':replaced': 'replaced', ':live': 'live', ':at': when },
        },
      });
    }
    await this.transact(items, (reasons) => {
      if (isConditionFailure(reasons[0])) return new StaleWriteError(`release ${app}/${id} is no longer deploying`);
      if (isConditionFailure(reasons[1]) || isConditionFailure(reasons[2])) {
        return new StaleWriteError(`the live release of app ${app} changed meanwhile`);
      }
      return undefined;
    });
    const promoted = await this.getRelease(app, id);
    if (!promoted) throw new NotFoundError(`release ${app}/${id} not found`);
    return promoted;
  }

  // ---- configuration ------------------------------------------------------------------------

  async getGitlabConnection(): Promise<GitlabConnection | undefined> {
    return this.get<GitlabConnection>(keys.gitlab());
  }

  async putGitlabConnection(connection: GitlabConnection): Promise<void> {
    await this.client.send(
      new PutCommand({
        TableName: this.tableName,
        Item: { ...withoutUndefined(connection), ...keys.gitlab(), [ENTITY]: 'config' },
      }),
    );
  }

  async getSystemHookTokenHash(): Promise<string | undefined> {
    const item = await this.getRaw(keys.systemHook());
    return typeof item?.hash === 'string' ? item.hash : undefined;
  }

  async setSystemHookTokenHash(hash: string | undefined): Promise<void> {
    if (hash === undefined) {
      await this.client.send(new DeleteCommand({ TableName: this.tableName, Key: keys.systemHook() }));
      return;
    }
    await this.client.send(
      new PutCommand({ TableName: this.tableName, Item: { ...keys.systemHook(), hash, [ENTITY]: 'config' } }),
    );
  }

  // ---- helpers ------------------------------------------------------------------------------

  private async getRaw(key: Key): Promise<Item | undefined> {
    const result = await this.client.send(
      new GetCommand({ TableName: this.tableName, Key: key, ConsistentRead: true }),
    );
    return result.Item;
  }

  private async get<T>(key: Key): Promise<T | undefined> {
    const item = await this.getRaw(key);
    return item ? fromItem<T>(item) : undefined;
  }

  /** Runs a Query to the end (or to `limit` items), following LastEvaluatedKey. */
  private async queryAll<T>(input: Omit<QueryCommandInput, 'TableName'>, limit?: number): Promise<T[]> {
    const items: T[] = [];
    let startKey: Record<string, unknown> | undefined;
    do {
      const remaining = limit === undefined ? undefined : limit - items.length;
      const page = await this.client.send(
        new QueryCommand({
          ...input,
          TableName: this.tableName,
          ...(remaining !== undefined ? { Limit: remaining } : {}),
          ...(startKey ? { ExclusiveStartKey: startKey } : {}),
        }),
      );
      for (const item of page.Items ?? []) items.push(fromItem<T>(item));
      startKey = page.LastEvaluatedKey;
    } while (startKey && (limit === undefined || items.length < limit));
    return items;
  }

  /** Builds or releases of an app, newest first (ids are ULIDs, so key order is time order). */
  private async listChildren<T>(app: string, prefix: string, limit: number | undefined): Promise<T[]> {
    if (limit !== undefined && (!Number.isInteger(limit) || limit < 1)) {
      throw new ValidationError(`limit must be a positive integer, got ${limit}`);
    }
    return this.queryAll<T>(
      {
        KeyConditionExpression: '#pk = :pk AND begins_with(#sk, :prefix)',
        ExpressionAttributeNames: { '#pk': PK, '#sk': SK },
        ExpressionAttributeValues: { ':pk': keys.appChildren(app), ':prefix': prefix },
        ScanIndexForward: false,
        ConsistentRead: true,
      },
      limit,
    );
  }

  /**
   * Builds or releases of an app created at or after `since`, oldest first: one key range, from
   * the ULID time prefix of `since` to the end of the prefix (`~` sorts after every id character).
   */
  private async listChildrenSince<T>(app: string, prefix: string, since: string): Promise<T[]> {
    const at = Date.parse(since);
    if (!Number.isFinite(at)) throw new ValidationError(`since must be an ISO 8601 time, got ${since}`);
    return this.queryAll<T>({
      KeyConditionExpression: '#pk = :pk AND #sk BETWEEN :from AND :to',
      ExpressionAttributeNames: { '#pk': PK, '#sk': SK },
      ExpressionAttributeValues: {
        ':pk': keys.appChildren(app),
        ':from': `${prefix}${idTimePrefix(new Date(at))}`,
        ':to': `${prefix}~`,
      },
      ScanIndexForward: true,
      ConsistentRead: true,
    });
  }

  /**
   * The answer to a delivery some of whose keys were recorded before: the build named by the
   * first key (in the order given, of those `recorded` says to look at) that names one. The keys
   * ranked above it were new: they are recorded now as naming that build too, so a redelivery
   * under any of them gets this same answer — unless one was recorded meanwhile, whose build is
   * then the answer (a key always answers with the build it first named).
   */
  private async duplicateAnswer(
    deliveryPuts: Array<{ Put: { Item: Item & Key } }>,
    recorded: (index: number) => boolean,
  ): Promise<Build | undefined> {
    for (let i = 0; i < deliveryPuts.length; i++) {
      const put = deliveryPuts[i]?.Put;
      if (!put || !recorded(i)) continue;
      const earlier = await this.duplicateOf({ [PK]: put.Item[PK], [SK]: put.Item[SK] });
      if (!earlier) continue;
      for (const above of deliveryPuts.slice(0, i)) {
        const key = { [PK]: above.Put.Item[PK], [SK]: above.Put.Item[SK] };
        try {
          await this.client.send(
            new PutCommand({
              TableName: this.tableName,
              Item: { ...above.Put.Item, app: earlier.app, build: earlier.id },
              ConditionExpression: 'attribute_not_exists(#pk)',
              ExpressionAttributeNames: { '#pk': PK },
            }),
          );
        } catch (error) {
          if (conditionFailureItem(error) === null) throw error;
          const first = await this.duplicateOf(key);
          if (first) return first;
        }
      }
      return earlier;
    }
    return undefined;
  }

  /** The build an earlier delivery recorded, or undefined when there is none (any more). */
  private async duplicateOf(deliveryKey: Key): Promise<Build | undefined> {
    const delivery = await this.getRaw(deliveryKey);
    if (!delivery || typeof delivery.app !== 'string' || typeof delivery.build !== 'string') return undefined;
    const build = await this.getBuild(delivery.app, delivery.build);
    if (build) return build;
    // The delivery outlived its build (the app was deleted): forget it so this push is recorded afresh.
    try {
      await this.client.send(
        new DeleteCommand({
          TableName: this.tableName,
          Key: deliveryKey,
          ConditionExpression: '#build = :build',
          ExpressionAttributeNames: { '#build': 'build' },
          ExpressionAttributeValues: { ':build': delivery.build },
        }),
      );
    } catch (error) {
      if (conditionFailureItem(error) === null) throw error;
    }
    return undefined;
  }

  private async transition<T>(
    key: Key,
    what: string,
    from: string,
    to: string,
    patch: Record<string, unknown>,
  ): Promise<T> {
    const names: Record<string, string> = { '#status': 'status' };
    const values: Record<string, unknown> = { ':from': from, ':to': to };
    const clauses = ['#status = :to'];
    Object.entries(patch).forEach(([name, value], i) => {
      names[`#p${i}`] = name;
      values[`:p${i}`] = stripUndefinedDeep(value);
      clauses.push(`#p${i} = :p${i}`);
    });
    try {
      const result = await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: key,
          UpdateExpression: `SET ${clauses.join(', ')}`,
          ConditionExpression: '#status = :from',
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
          ReturnValues: 'ALL_NEW',
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return fromItem<T>(result.Attributes ?? {});
    } catch (error) {
      const old = conditionFailureItem(error);
      if (old === null) throw error;
      if (old === undefined) throw new NotFoundError(`${what} not found`);
      throw new StaleWriteError(`${what} is ${String(old.status)}, not ${from}`);
    }
  }

  /** Deletes every item under `APP#<name>` (builds, releases), 25 per BatchWriteItem. */
  private async deleteChildren(name: string): Promise<void> {
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await this.client.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: '#pk = :pk',
          ExpressionAttributeNames: { '#pk': PK, '#sk': SK },
          ExpressionAttributeValues: { ':pk': keys.appChildren(name) },
          ProjectionExpression: '#pk, #sk',
          ConsistentRead: true,
          ...(startKey ? { ExclusiveStartKey: startKey } : {}),
        }),
      );
      const itemKeys = (page.Items ?? []).map((item) => ({ [PK]: item[PK], [SK]: item[SK] }));
      for (let i = 0; i < itemKeys.length; i += BATCH_WRITE_LIMIT) {
        await this.batchDelete(itemKeys.slice(i, i + BATCH_WRITE_LIMIT));
      }
      startKey = page.LastEvaluatedKey;
    } while (startKey);
  }

  private async batchDelete(itemKeys: Item[]): Promise<void> {
    let requests = itemKeys.map((key) => ({ DeleteRequest: { Key: key } }));
    for (let attempt = 1; requests.length > 0; attempt++) {
      const result = await this.client.send(new BatchWriteCommand({ RequestItems: { [this.tableName]: requests } }));
      requests = (result.UnprocessedItems?.[this.tableName] ?? []).flatMap((request) =>
        request.DeleteRequest?.Key ? [{ DeleteRequest: { Key: request.DeleteRequest.Key } }] : [],
      );
      if (requests.length === 0) return;
      if (attempt >= MAX_BATCH_ATTEMPTS) {
        throw new Error(`DynamoDB left ${requests.length} deletions unprocessed after ${attempt} attempts`);
      }
      await backoff(attempt);
    }
  }

  /**
   * Runs a TransactWriteItems, retrying when it lost to a concurrent transaction.
   * `explain` turns cancellation reasons into a domain error (or undefined to rethrow).
   */
  private async transact(
    items: NonNullable<ConstructorParameters<typeof TransactWriteCommand>[0]['TransactItems']>,
    explain: (reasons: CancellationReason[]) => Error | undefined,
  ): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.sendTransaction(items);
        return;
      } catch (error) {
        if (!isTransactionCanceled(error)) throw error;
        const reasons = error.CancellationReasons ?? [];
        const domainError = explain(reasons);
        if (domainError) throw domainError;
        if (!reasons.some(isTransactionConflict) || attempt >= MAX_TRANSACTION_ATTEMPTS) throw error;
        await backoff(attempt);
      }
    }
  }
}

// ---- module helpers -----------------------------------------------------------------------------

/** A stored item as the domain object it holds: the table's own attributes removed. */
function fromItem<T>(item: Item): T {
  const result: Item = {};
  for (const [key, value] of Object.entries(item)) {
    if (!KEY_ATTRIBUTES.has(key)) result[key] = value;
  }
  return result as T;
}

/** The hook pointer: names its app and carries a copy of it, so one read serves a webhook. */
function hookPointer(app: App): Item {
  return { ...keys.hook(app.hookId), app: app.name, [HOOK_APP_COPY]: withoutUndefined(app), [ENTITY]: 'hook' };
}

function isRecord(value: unknown): value is Item {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function withoutUndefined<T extends object>(value: T): Item {
  return stripUndefinedDeep(value) as Item;
}

/** Drops undefined properties (at any depth) so items marshal whatever the client's options. */
function stripUndefinedDeep(value: unknown): unknown {
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

function pick<K extends string>(patch: Partial<Record<K, unknown>> | undefined, allowed: readonly K[]): Item {
  const result: Item = {};
  if (!patch) return result;
  for (const key of allowed) {
    if (patch[key] !== undefined) result[key] = patch[key];
  }
  return result;
}

interface TransactionCanceled extends Error {
  CancellationReasons?: CancellationReason[];
}

function isTransactionCanceled(error: unknown): error is TransactionCanceled {
  return error instanceof Error && error.name === 'TransactionCanceledException';
}

function isConditionFailure(reason: CancellationReason | undefined): boolean {
  return reason?.Code === 'ConditionalCheckFailed';
}

function isTransactionConflict(reason: CancellationReason | undefined): boolean {
  return reason?.Code === 'TransactionConflict';
}

/**
 * For a ConditionalCheckFailedException: the item as it was (undefined when there was none).
 * For any other error: null.
 */
function conditionFailureItem(error: unknown): Item | undefined | null {
  if (!(error instanceof Error) || error.name !== 'ConditionalCheckFailedException') return null;
  const raw = (error as Error & { Item?: Record<string, AttributeValue> }).Item;
  return raw && Object.keys(raw).length > 0 ? unmarshall(raw) : undefined;
}

/** Full-jitter exponential backoff: up to 25 ms, 50 ms, … capped at 500 ms. */
function backoff(attempt: number): Promise<void> {
  const ceiling = Math.min(500, 25 * 2 ** (attempt - 1));
  return new Promise((resolve) => setTimeout(resolve, Math.random() * ceiling));
}
