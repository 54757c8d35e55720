import { ConflictError, NotFoundError, StaleWriteError, ValidationError } from '../../domain/errors';
import type { App } from '../../domain/model';
import {
  fromItem,
  GSI,
  HOOK_APP_COPY,
  type Item,
  isRecord,
  items,
  KEY_ATTRIBUTES,
  keys,
  PK,
  stripUndefinedDeep,
} from './keys';
import { isConditionFailure, type TableAccess } from './table-access';

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

/** Apps, each written in one transaction with its hook pointer (docs/DATA-MODEL.md). */
export class AppRecords {
  constructor(private readonly table: TableAccess) {}

  async createApp(app: App): Promise<void> {
    const item = items.app(app);
    const pointer = items.hookPointer(app);
    await this.table.transact(
      [item, pointer].map((Item) => ({
        Put: {
          TableName: this.table.tableName,
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
    return this.table.get<App>(keys.app(name));
  }

  async listApps(): Promise<App[]> {
    return this.table.queryAll<App>({
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
    const pointer = await this.table.getRaw(keys.hook(hookId));
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
      const apps = await this.table.queryAll<App>({
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
    set.updatedAt = patch.updatedAt ?? this.table.clock.now().toISOString();
    set.version = expectedVersion + 1;

    // The app as it will be: its hook pointer gets the same copy in the same transaction.
    const stored = await this.table.getRaw(keys.app(name));
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
      await this.table.transact(
        [
          {
            Update: {
              TableName: this.table.tableName,
              Key: keys.app(name),
              UpdateExpression: `SET ${setClauses.join(', ')}${removeClauses.length ? ` REMOVE ${removeClauses.join(', ')}` : ''}`,
              ConditionExpression: '#version = :expected',
              ExpressionAttributeNames: names,
              ExpressionAttributeValues: values,
            },
          },
          {
            Put: {
              TableName: this.table.tableName,
              Item: items.hookPointer(app),
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
      const now = await this.table.getRaw(keys.app(name));
      if (!now) throw new NotFoundError(`app ${name} not found`);
      throw new StaleWriteError(`app ${name} is at version ${String(now.version)}, not ${expectedVersion}`);
    }
    return app;
  }

  /**
   * Removes the app and its hook pointer in one transaction, then every item under `APP#<name>`
   * (builds, releases, the rollout lock, the live pointer).
   */
  async deleteApp(name: string): Promise<void> {
    const app = await this.getApp(name);
    if (!app) throw new NotFoundError(`app ${name} not found`);
    await this.table.transact(
      [
        {
          Delete: {
            TableName: this.table.tableName,
            Key: keys.app(name),
            ConditionExpression: 'attribute_exists(#pk)',
            ExpressionAttributeNames: { '#pk': PK },
          },
        },
        {
          Delete: {
            TableName: this.table.tableName,
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
    await this.table.deletePartition(keys.appChildren(name));
  }
}
