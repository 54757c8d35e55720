import { JavaNotFoundError, startDynamoDbLocal } from '../../functions/adapters/dynamodb/local-server';

/**
 * Starts one in-memory DynamoDB Local for the whole jest run; tests find it through
 * SLIPWAY_TEST_DYNAMODB_ENDPOINT (test/support/dynamodb.ts). An endpoint already set in the
 * environment is used as it is. Without Java, unit tests still run and integration tests fail
 * with the reason (SLIPWAY_TEST_DYNAMODB_UNAVAILABLE).
 */
export default async function globalSetup(): Promise<void> {
  // Handlers log every delivery at INFO; tests keep warnings and errors only.
  process.env.POWERTOOLS_LOG_LEVEL ??= 'WARN';
  if (process.env.SLIPWAY_TEST_DYNAMODB_ENDPOINT) return;
  try {
    const server = await startDynamoDbLocal({});
    process.env.SLIPWAY_TEST_DYNAMODB_ENDPOINT = server.endpoint;
    (globalThis as { __slipwayDynamoDbLocal?: typeof server }).__slipwayDynamoDbLocal = server;
  } catch (error) {
    if (!(error instanceof JavaNotFoundError)) throw error;
    process.env.SLIPWAY_TEST_DYNAMODB_UNAVAILABLE = error.message;
  }
}
