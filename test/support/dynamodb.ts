import { randomBytes } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { LOCAL_CREDENTIALS, LOCAL_REGION } from '../../functions/adapters/dynamodb/local-server';
import { ensureTable } from '../../functions/adapters/dynamodb/table';

export interface FreshTable {
  client: DynamoDBDocumentClient;
  raw: DynamoDBClient;
  tableName: string;
}

/**
 * A new, empty, uniquely named table in the run's DynamoDB Local (test/support/global-setup.ts).
 * Call `raw.destroy()` when done so no sockets stay open.
 */
export async function freshTable(): Promise<FreshTable> {
  const endpoint = process.env.SLIPWAY_TEST_DYNAMODB_ENDPOINT;
  if (!endpoint) {
    throw new Error(
      process.env.SLIPWAY_TEST_DYNAMODB_UNAVAILABLE ??
        'SLIPWAY_TEST_DYNAMODB_ENDPOINT is not set: run through jest (globalSetup starts DynamoDB Local)',
    );
  }
  const raw = new DynamoDBClient({ endpoint, region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS });
  // Deliberately without removeUndefinedValues: the store must not depend on it.
  const client = DynamoDBDocumentClient.from(raw);
  const tableName = `slipway-test-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
  await ensureTable(raw, tableName);
  return { client, raw, tableName };
}
