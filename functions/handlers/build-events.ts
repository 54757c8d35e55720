import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { DynamoDbStore } from '../adapters/dynamodb/store';
import { requireEnv } from '../commons/env';
import { createLogger } from '../commons/logger';
import { createBuildEventsHandler } from '../http/build-events';

/** Lambda entry for CodeBuild state and phase changes (EventBridge). Needs only TABLE_NAME. */
const tableName = requireEnv('TABLE_NAME');
const client = DynamoDBDocumentClient.from(new DynamoDBClient({}), {
  marshallOptions: { removeUndefinedValues: true },
});

export const handler = createBuildEventsHandler({
  store: new DynamoDbStore({ tableName, client }),
  logger: createLogger(),
});
