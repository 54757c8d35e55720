import type { AttributeValue, CancellationReason } from '@aws-sdk/client-dynamodb';
import {
  BatchWriteCommand,
  DeleteCommand,
  type DeleteCommandInput,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  type PutCommandInput,
  QueryCommand,
  type QueryCommandInput,
  TransactWriteCommand,
  UpdateCommand,
  type UpdateCommandInput,
} from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { NotFoundError, StaleWriteError, ValidationError } from '../../domain/errors';
import { idTimePrefix } from '../../domain/ids';
import type { Clock } from '../../domain/ports';
import { BARRIER_KEY, fromItem, type Item, type Key, keys, PK, SK, stripUndefinedDeep } from './keys';

/**
 * The low-level access to the one table that every entity module shares: reads, writes,
 * transactions (retried when they lost to a concurrent one) and the generic updates. Every state
 * change is a conditional write; nothing here scans the table.
 */

/** Bound on retries of a transaction that lost to a concurrent one (TransactionConflict). */
export const MAX_TRANSACTION_ATTEMPTS = 10;
const BATCH_WRITE_LIMIT = 25;
const MAX_BATCH_ATTEMPTS = 8;

export type TransactItems = NonNullable<ConstructorParameters<typeof TransactWriteCommand>[0]['TransactItems']>;

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

export class TableAccess {
  readonly tableName: string;
  readonly client: DynamoDBDocumentClient;
  readonly clock: Clock;
  private readonly awaitTransactionCommit: boolean;

  constructor(options: DynamoDbStoreOptions) {
    this.tableName = options.tableName;
    this.client = options.client;
    this.clock = options.clock ?? { now: () => new Date() };
    this.awaitTransactionCommit = options.awaitTransactionCommit ?? false;
  }

  /** Runs one TransactWriteItems and, where asked to (DynamoDB Local), waits for its commit. */
  async sendTransaction(items: TransactItems): Promise<void> {
    await this.client.send(new TransactWriteCommand({ TransactItems: items }));
    if (this.awaitTransactionCommit) {
      await this.client.send(new GetCommand({ TableName: this.tableName, Key: BARRIER_KEY, ConsistentRead: true }));
    }
  }

  /**
   * Runs a TransactWriteItems, retrying when it lost to a concurrent transaction.
   * `explain` turns cancellation reasons into a domain error (or undefined to rethrow).
   */
  async transact(items: TransactItems, explain: (reasons: CancellationReason[]) => Error | undefined): Promise<void> {
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

  async getRaw(key: Key): Promise<Item | undefined> {
    const result = await this.client.send(
      new GetCommand({ TableName: this.tableName, Key: key, ConsistentRead: true }),
    );
    return result.Item;
  }

  async get<T>(key: Key): Promise<T | undefined> {
    const item = await this.getRaw(key);
    return item ? fromItem<T>(item) : undefined;
  }

  /** One PutItem on the table. */
  async put(input: Omit<PutCommandInput, 'TableName'>): Promise<void> {
    await this.client.send(new PutCommand({ TableName: this.tableName, ...input }));
  }

  /** One UpdateItem on the table with a condition: false when the condition does not hold. */
  async updateIf(input: Omit<UpdateCommandInput, 'TableName'> & { ConditionExpression: string }): Promise<boolean> {
    try {
      await this.client.send(new UpdateCommand({ TableName: this.tableName, ...input }));
      return true;
    } catch (error) {
      if (conditionFailureItem(error) === null) throw error;
      return false;
    }
  }

  /** One DeleteItem on the table. */
  async delete(input: Omit<DeleteCommandInput, 'TableName'>): Promise<void> {
    await this.client.send(new DeleteCommand({ TableName: this.tableName, ...input }));
  }

  /** Runs a Query to the end (or to `limit` items), following LastEvaluatedKey. */
  async queryAll<T>(input: Omit<QueryCommandInput, 'TableName'>, limit?: number): Promise<T[]> {
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
  async listChildren<T>(app: string, prefix: string, limit: number | undefined): Promise<T[]> {
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
  async listChildrenSince<T>(app: string, prefix: string, since: string): Promise<T[]> {
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
   * Moves an item's `status` from `from` to `to`, setting `patch` with it, and returns the item
   * as it is then. NotFoundError when the item is gone, StaleWriteError when it is not at `from`.
   */
  async transition<T>(key: Key, what: string, from: string, to: string, patch: Record<string, unknown>): Promise<T> {
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

  /**
   * Sets non-status fields of an existing item, optionally only while `guard` holds (on the
   * stored status). NotFoundError when the item is gone, StaleWriteError when the guard failed.
   */
  async setFields(
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

  /** Deletes every item of a partition, 25 per BatchWriteItem. */
  async deletePartition(partition: string): Promise<void> {
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await this.client.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: '#pk = :pk',
          ExpressionAttributeNames: { '#pk': PK, '#sk': SK },
          ExpressionAttributeValues: { ':pk': partition },
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
}

// ---- DynamoDB's errors ------------------------------------------------------------------------

interface TransactionCanceled extends Error {
  CancellationReasons?: CancellationReason[];
}

export function isTransactionCanceled(error: unknown): error is TransactionCanceled {
  return error instanceof Error && error.name === 'TransactionCanceledException';
}

export function isConditionFailure(reason: CancellationReason | undefined): boolean {
  return reason?.Code === 'ConditionalCheckFailed';
}

export function isTransactionConflict(reason: CancellationReason | undefined): boolean {
  return reason?.Code === 'TransactionConflict';
}

/**
 * For a ConditionalCheckFailedException: the item as it was (undefined when there was none).
 * For any other error: null.
 */
export function conditionFailureItem(error: unknown): Item | undefined | null {
  if (!(error instanceof Error) || error.name !== 'ConditionalCheckFailedException') return null;
  const raw = (error as Error & { Item?: Record<string, AttributeValue> }).Item;
  return raw && Object.keys(raw).length > 0 ? unmarshall(raw) : undefined;
}

/** Full-jitter exponential backoff: up to 25 ms, 50 ms, … capped at 500 ms. */
export function backoff(attempt: number): Promise<void> {
  const ceiling = Math.min(500, 25 * 2 ** (attempt - 1));
  return new Promise((resolve) => setTimeout(resolve, Math.random() * ceiling));
}
