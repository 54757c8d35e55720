import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { withTransientErrors } from '../../adapters/aws-errors';
import { DynamoDbStore } from '../../adapters/dynamodb/store';
import { requireEnv } from '../../commons/env';
import { ENV } from '../../commons/env-names';
import { createLogger } from '../../commons/logger';
import { once } from '../platform';

/** Every function's parts: the logger and the state table (`TABLE_NAME`). */
export const logger = once(() => createLogger());

export const store = once(
  () =>
    new DynamoDbStore({
      tableName: requireEnv(ENV.tableName),
      client: DynamoDBDocumentClient.from(withTransientErrors(new DynamoDBClient({})), {
        marshallOptions: { removeUndefinedValues: true },
      }),
    }),
);

export const core = { logger, store };
