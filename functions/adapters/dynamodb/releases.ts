import { ConflictError, NotFoundError, StaleWriteError } from '../../domain/errors';
import type { Release, ReleaseStatus } from '../../domain/model';
import type { ReleaseTransitionField } from '../../domain/ports';
import { assertReleaseTransition } from '../../domain/states';
import { items, keys, PK, pick } from './keys';
import { conditionFailureItem, isConditionFailure, type TableAccess, type TransactItems } from './table-access';

const RELEASE_PATCH_KEYS = [
  'liveAt',
  'endedAt',
  'reason',
  'waitToken',
  'awaitingSince',
  'approvedBy',
  'approvedAt',
  'rejectedBy',
] as const satisfies readonly ReleaseTransitionField[];

/** Releases, with each app's live pointer and the rollout watches that lead events to a release. */
export class ReleaseRecords {
  constructor(private readonly table: TableAccess) {}

  async createRelease(release: Release): Promise<void> {
    try {
      await this.table.put({
        Item: items.release(release),
        ConditionExpression: 'attribute_not_exists(#pk)',
        ExpressionAttributeNames: { '#pk': PK },
      });
    } catch (error) {
      if (conditionFailureItem(error) === null) throw error;
      throw new ConflictError(`release ${release.id} of app ${release.app} already exists`);
    }
  }

  async getRelease(app: string, id: string): Promise<Release | undefined> {
    return this.table.get<Release>(keys.release(app, id));
  }

  async listReleases(app: string, options?: { limit?: number }): Promise<Release[]> {
    return this.table.listChildren<Release>(app, 'RELEASE#', options?.limit);
  }

  async listReleasesSince(app: string, since: string): Promise<Release[]> {
    return this.table.listChildrenSince<Release>(app, 'RELEASE#', since);
  }

  async transitionRelease(
    app: string,
    id: string,
    from: ReleaseStatus,
    to: ReleaseStatus,
    patch?: Partial<Pick<Release, ReleaseTransitionField>>,
  ): Promise<Release> {
    assertReleaseTransition(from, to);
    return this.table.transition<Release>(
      keys.release(app, id),
      `release ${app}/${id}`,
      from,
      to,
      pick(patch, RELEASE_PATCH_KEYS),
    );
  }

  async updateRelease(
    app: string,
    id: string,
    patch: Partial<Pick<Release, 'running' | 'desired' | 'deploymentId' | 'report' | 'rolloutRef' | 'waitToken'>>,
  ): Promise<void> {
    await this.table.setFields(
      keys.release(app, id),
      `release ${app}/${id}`,
      pick(patch, ['running', 'desired', 'deploymentId', 'report', 'rolloutRef', 'waitToken']),
    );
  }

  async watchRollout(watch: string, release: { app: string; release: string }): Promise<void> {
    await this.table.put({ Item: items.rolloutWatch(watch, release, this.table.clock.now()) });
  }

  async findRolloutWatch(watch: string): Promise<{ app: string; release: string } | undefined> {
    const item = await this.table.getRaw(keys.rolloutWatch(watch));
    return typeof item?.app === 'string' && typeof item.release === 'string'
      ? { app: item.app, release: item.release }
      : undefined;
  }

  async liveReleaseId(app: string, lane?: string): Promise<string | undefined> {
    const pointer = await this.table.getRaw(keys.livePointer(app, lane));
    return typeof pointer?.release === 'string' ? pointer.release : undefined;
  }

  async promoteRelease(app: string, id: string, previousLiveId?: string, at?: string, lane?: string): Promise<Release> {
    const when = at ?? this.table.clock.now().toISOString();
    const transactItems: TransactItems = [
      {
        Update: {
          TableName: this.table.tableName,
          Key: keys.release(app, id),
          UpdateExpression: 'SET #status = :live, #liveAt = :at',
          ConditionExpression: '#status = :deploying',
          ExpressionAttributeNames: { '#status': 'status', '#liveAt': 'liveAt' },
          ExpressionAttributeValues: { ':live': 'live', ':deploying': 'deploying', ':at': when },
        },
      },
      {
        Put: {
          TableName: this.table.tableName,
          Item: items.livePointer(app, id, lane),
          ConditionExpression: previousLiveId
            ? 'attribute_not_exists(#pk) OR #release = :previous'
            : 'attribute_not_exists(#pk)',
          ExpressionAttributeNames: previousLiveId ? { '#pk': PK, '#release': 'release' } : { '#pk': PK },
          ...(previousLiveId ? { ExpressionAttributeValues: { ':previous': previousLiveId } } : {}),
        },
      },
    ];
    if (previousLiveId) {
      transactItems.push({
        Update: {
          TableName: this.table.tableName,
          Key: keys.release(app, previousLiveId),
          UpdateExpression: 'SET #status = :replaced, #endedAt = :at',
          ConditionExpression: '#status = :live',
          ExpressionAttributeNames: { '#status': 'status', '#endedAt': 'endedAt' },
          ExpressionAttributeValues: { ':replaced': 'replaced', ':live': 'live', ':at': when },
        },
      });
    }
    await this.table.transact(transactItems, (reasons) => {
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
}
