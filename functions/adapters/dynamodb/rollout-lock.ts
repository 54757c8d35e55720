import type { RolloutLock } from '../../domain/model';
import { items, keys, PK } from './keys';
import { conditionFailureItem, type TableAccess } from './table-access';

/**
 * Each app's rollout lock: one conditional write takes or frees it; whose turn it is is decided
 * before, in domain/rollout.ts.
 */
export class RolloutLockRecords {
  constructor(private readonly table: TableAccess) {}

  async getRolloutLock(app: string, lane?: string): Promise<RolloutLock | undefined> {
    const lock = await this.table.getRaw(keys.rolloutLock(app, lane));
    if (!lock) return undefined;
    return { holder: String(lock.holder ?? ''), acquiredAt: String(lock.acquiredAt ?? '') };
  }

  async takeRolloutLock(
    app: string,
    build: string,
    at: string,
    previous?: RolloutLock,
    lane?: string,
  ): Promise<boolean> {
    try {
      await this.table.put({
        Item: items.rolloutLock(app, build, at, lane),
        ConditionExpression: previous
          ? '#holder = :build OR (#holder = :stale AND #acquiredAt = :staleAt)'
          : 'attribute_not_exists(#pk) OR #holder = :build',
        ExpressionAttributeNames: previous
          ? { '#holder': 'holder', '#acquiredAt': 'acquiredAt' }
          : { '#pk': PK, '#holder': 'holder' },
        ExpressionAttributeValues: previous
          ? { ':build': build, ':stale': previous.holder, ':staleAt': previous.acquiredAt }
          : { ':build': build },
      });
      return true;
    } catch (error) {
      if (conditionFailureItem(error) === null) throw error;
      return false;
    }
  }

  async releaseRollout(app: string, build: string, lane?: string): Promise<void> {
    try {
      await this.table.delete({
        Key: keys.rolloutLock(app, lane),
        ConditionExpression: '#holder = :build',
        ExpressionAttributeNames: { '#holder': 'holder' },
        ExpressionAttributeValues: { ':build': build },
      });
    } catch (error) {
      if (conditionFailureItem(error) === null) throw error;
    }
  }
}
