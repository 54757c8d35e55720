import type { DynamoDbLocal } from '../../functions/adapters/dynamodb/local-server';

/** Stops the DynamoDB Local that global-setup.ts started (if it started one). */
export default async function globalTeardown(): Promise<void> {
  const holder = globalThis as { __slipwayDynamoDbLocal?: DynamoDbLocal };
  const server = holder.__slipwayDynamoDbLocal;
  if (!server) return;
  holder.__slipwayDynamoDbLocal = undefined;
  await server.stop();
}
