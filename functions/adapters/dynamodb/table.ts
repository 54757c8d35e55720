import {
  CreateTableCommand,
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  type DynamoDBClient,
  type TableDescription,
  UpdateTimeToLiveCommand,
} from '@aws-sdk/client-dynamodb';
import { TABLE_SCHEMA } from './schema';

/** How long to wait for a new table (and its index) to become ACTIVE. */
const ACTIVE_TIMEOUT_MS = 60_000;
const POLL_MS = 200;

/**
 * Creates Slipway's table unless it exists (on-demand, the project index with ALL projection),
 * waits until it and its index are ACTIVE, and enables TTL on the delivery expiry attribute.
 * Used by local mode and tests; on AWS the CDK stack owns the table.
 */
export async function ensureTable(client: DynamoDBClient, tableName: string): Promise<void> {
  if (!(await describe(client, tableName))) {
    try {
      await client.send(
        new CreateTableCommand({
          TableName: tableName,
          BillingMode: 'PAY_PER_REQUEST',
          AttributeDefinitions: [
            { AttributeName: TABLE_SCHEMA.partitionKey, AttributeType: 'S' },
            { AttributeName: TABLE_SCHEMA.sortKey, AttributeType: 'S' },
            { AttributeName: TABLE_SCHEMA.projectIndex.partitionKey, AttributeType: 'S' },
            { AttributeName: TABLE_SCHEMA.projectIndex.sortKey, AttributeType: 'S' },
          ],
          KeySchema: [
            { AttributeName: TABLE_SCHEMA.partitionKey, KeyType: 'HASH' },
            { AttributeName: TABLE_SCHEMA.sortKey, KeyType: 'RANGE' },
          ],
          GlobalSecondaryIndexes: [
            {
              IndexName: TABLE_SCHEMA.projectIndex.name,
              KeySchema: [
                { AttributeName: TABLE_SCHEMA.projectIndex.partitionKey, KeyType: 'HASH' },
                { AttributeName: TABLE_SCHEMA.projectIndex.sortKey, KeyType: 'RANGE' },
              ],
              Projection: { ProjectionType: 'ALL' },
            },
          ],
        }),
      );
    } catch (error) {
      // Someone else created it in the meantime: fine, wait for it like for our own.
      if (!(error instanceof Error && error.name === 'ResourceInUseException')) throw error;
    }
  }
  await waitUntilActive(client, tableName);
  await enableTtl(client, tableName);
}

async function describe(client: DynamoDBClient, tableName: string): Promise<TableDescription | undefined> {
  try {
    const result = await client.send(new DescribeTableCommand({ TableName: tableName }));
    return result.Table;
  } catch (error) {
    if (error instanceof Error && error.name === 'ResourceNotFoundException') return undefined;
    throw error;
  }
}

async function waitUntilActive(client: DynamoDBClient, tableName: string): Promise<void> {
  const deadline = Date.now() + ACTIVE_TIMEOUT_MS;
  for (;;) {
    const table = await describe(client, tableName);
    const indexesActive = (table?.GlobalSecondaryIndexes ?? []).every((index) => index.IndexStatus === 'ACTIVE');
    if (table?.TableStatus === 'ACTIVE' && indexesActive) return;
    if (Date.now() > deadline) {
      throw new Error(`DynamoDB table ${tableName} did not become ACTIVE within ${ACTIVE_TIMEOUT_MS / 1000} s`);
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

async function enableTtl(client: DynamoDBClient, tableName: string): Promise<void> {
  const current = await client.send(new DescribeTimeToLiveCommand({ TableName: tableName }));
  const ttl = current.TimeToLiveDescription;
  if (
    ttl?.AttributeName === TABLE_SCHEMA.ttlAttribute &&
    (ttl.TimeToLiveStatus === 'ENABLED' || ttl.TimeToLiveStatus === 'ENABLING')
  ) {
    return;
  }
  try {
    await client.send(
      new UpdateTimeToLiveCommand({
        TableName: tableName,
        TimeToLiveSpecification: { AttributeName: TABLE_SCHEMA.ttlAttribute, Enabled: true },
      }),
    );
  } catch (error) {
    // DynamoDB (Local) answers a repeated enable with "TimeToLive is already enabled".
    if (error instanceof Error && error.name === 'ValidationException' && /already enabled/i.test(error.message)) {
      return;
    }
    throw error;
  }
}
