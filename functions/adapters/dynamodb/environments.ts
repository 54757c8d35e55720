import { ConflictError, NotFoundError } from '../../domain/errors';
import type { Environment } from '../../domain/model';
import { items, keys, PK } from './keys';
import { conditionFailureItem, isConditionFailure, type TableAccess } from './table-access';

/**
 * An app's environments beyond its first (the app item describes its first, as before
 * environments). Deleting one removes its live pointer, rollout lock and configuration with it,
 * in one transaction; its releases stay, as history.
 */
export class EnvironmentRecords {
  constructor(private readonly table: TableAccess) {}

  async listEnvironments(app: string): Promise<Environment[]> {
    return this.table.listChildren<Environment>(app, 'ENV#', undefined);
  }

  async createEnvironment(environment: Environment): Promise<void> {
    try {
      await this.table.put({
        Item: items.environment(environment),
        ConditionExpression: 'attribute_not_exists(#pk)',
        ExpressionAttributeNames: { '#pk': PK },
      });
    } catch (error) {
      if (conditionFailureItem(error) === null) throw error;
      throw new ConflictError(`app ${environment.app} already has an environment ${environment.name}`);
    }
  }

  async deleteEnvironment(app: string, name: string): Promise<void> {
    const { tableName } = this.table;
    await this.table.transact(
      [
        {
          Delete: {
            TableName: tableName,
            Key: keys.environment(app, name),
            ConditionExpression: 'attribute_exists(#pk)',
            ExpressionAttributeNames: { '#pk': PK },
          },
        },
        { Delete: { TableName: tableName, Key: keys.livePointer(app, name) } },
        { Delete: { TableName: tableName, Key: keys.rolloutLock(app, name) } },
        { Delete: { TableName: tableName, Key: keys.environmentConfig(app, name) } },
      ],
      (reasons) =>
        isConditionFailure(reasons[0]) ? new NotFoundError(`app ${app} has no environment ${name}`) : undefined,
    );
  }

  async claimReviewAnnouncement(app: string, name: string, release: string): Promise<boolean> {
    return this.table.updateIf({
      Key: keys.environment(app, name),
      UpdateExpression: 'SET #review.#announced = :release',
      ConditionExpression: 'attribute_exists(#review) AND attribute_not_exists(#review.#announced)',
      ExpressionAttributeNames: { '#review': 'review', '#announced': 'announcedBy' },
      ExpressionAttributeValues: { ':release': release },
    });
  }

  async dropReviewAnnouncement(app: string, name: string, release: string): Promise<void> {
    await this.table.updateIf({
      Key: keys.environment(app, name),
      UpdateExpression: 'REMOVE #review.#announced',
      ConditionExpression: '#review.#announced = :release',
      ExpressionAttributeNames: { '#review': 'review', '#announced': 'announcedBy' },
      ExpressionAttributeValues: { ':release': release },
    });
  }
}
