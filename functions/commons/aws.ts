import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { KMSClient } from '@aws-sdk/client-kms';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { DynamoDbStore } from '../adapters/dynamodb/store';
import { KmsVault } from '../adapters/vault/kms-vault';
import { RecordingWorkflow } from '../adapters/workflow/recording-workflow';
import type { Store, Vault, Workflow } from '../domain/ports';
import { requireEnv } from './env';
import { createLogger } from './logger';

/**
 * The Lambda functions' collaborators, created once per cold start from the environment the
 * stack sets (TABLE_NAME, KMS_KEY_ID). One client per AWS service, shared by every handler
 * in the bundle.
 */
export interface AwsDeps {
  store: Store;
  vault: Vault;
  workflow: Workflow;
  logger: ReturnType<typeof createLogger>;
}

let deps: AwsDeps | undefined;

export function awsDeps(): AwsDeps {
  if (deps) return deps;
  const tableName = requireEnv('TABLE_NAME');
  const keyId = requireEnv('KMS_KEY_ID');
  const documentClient = DynamoDBDocumentClient.from(new DynamoDBClient({}), {
    marshallOptions: { removeUndefinedValues: true },
  });
  deps = {
    store: new DynamoDbStore({ tableName, client: documentClient }),
    vault: new KmsVault({ client: new KMSClient({}), keyId }),
    // Until the release workflow exists, AWS records the request just as local mode does.
    workflow: new RecordingWorkflow(),
    logger: createLogger(),
  };
  return deps;
}
