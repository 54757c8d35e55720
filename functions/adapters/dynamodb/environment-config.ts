import type { PutCommandInput } from '@aws-sdk/lib-dynamodb';
import { StaleWriteError } from '../../domain/errors';
import type { EnvironmentConfig } from '../../domain/model';
import { items, keys, PK } from './keys';
import { conditionFailureItem, type TableAccess } from './table-access';

/**
 * App environments' configurations: one item per environment (`APP#<app>` / `CONFIG#<env>`),
 * its values vault ciphertext. Writes are conditional on the version read before them, so of two
 * concurrent changes one wins and the other is told (StaleWriteError), never silently lost. The
 * item goes with its environment (environments.ts) and with its app (the app's partition).
 */
export class EnvironmentConfigRecords {
  constructor(private readonly table: TableAccess) {}

  async getEnvironmentConfig(app: string, environment: string): Promise<EnvironmentConfig | undefined> {
    return this.table.get<EnvironmentConfig>(keys.environmentConfig(app, environment));
  }

  async putEnvironmentConfig(config: EnvironmentConfig, expectedVersion: number): Promise<void> {
    const condition: Pick<
      PutCommandInput,
      'ConditionExpression' | 'ExpressionAttributeNames' | 'ExpressionAttributeValues'
    > =
      expectedVersion === 0
        ? { ConditionExpression: 'attribute_not_exists(#pk)', ExpressionAttributeNames: { '#pk': PK } }
        : {
            ConditionExpression: '#version = :expected',
            ExpressionAttributeNames: { '#version': 'version' },
            ExpressionAttributeValues: { ':expected': expectedVersion },
          };
    try {
      await this.table.put({
        Item: items.environmentConfig(config),
        ...condition,
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      });
    } catch (error) {
      const old = conditionFailureItem(error);
      if (old === null) throw error;
      const now = typeof old?.version === 'number' ? `version ${old.version}` : 'none';
      throw new StaleWriteError(
        `the configuration of ${config.environment} (app ${config.app}) changed meanwhile (expected ` +
          `${expectedVersion === 0 ? 'none' : `version ${expectedVersion}`}, found ${now}): try again`,
      );
    }
  }
}
