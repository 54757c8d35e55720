import { CodeBuildClient } from '@aws-sdk/client-codebuild';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ECRClient } from '@aws-sdk/client-ecr';
import { KMSClient } from '@aws-sdk/client-kms';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { CodeBuildBuilder } from '../adapters/builder/codebuild-builder';
import { DynamoDbStore } from '../adapters/dynamodb/store';
import { EcrRegistry } from '../adapters/registry/ecr-registry';
import { KmsVault } from '../adapters/vault/kms-vault';
import { BuildOnlyWorkflow } from '../adapters/workflow/build-workflow';
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
  const store = new DynamoDbStore({ tableName, client: documentClient });
  deps = {
    store,
    vault: new KmsVault({ client: new KMSClient({}), keyId }),
    logger: createLogger(),
  };
  return deps;
}

/**
 * The workflow of the hook functions: until the release workflow lands, an accepted push
 * starts its CodeBuild build (creating the app's ECR repository on first use), and stops there.
 */
export function buildOnlyWorkflow(base: AwsDeps): Workflow {
  const builder = new CodeBuildBuilder({
    client: new CodeBuildClient({}),
    projectName: requireEnv('BUILD_PROJECT_NAME'),
    logGroupName: requireEnv('BUILD_LOG_GROUP'),
  });
  return new BuildOnlyWorkflow(
    { store: base.store, builder, registry: new EcrRegistry({ client: new ECRClient({}) }) },
    (error, input) => base.logger.error('build not started', { error: error as Error, ...input }),
    { waitForStart: true },
  );
}
