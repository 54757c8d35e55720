import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { KMSClient } from '@aws-sdk/client-kms';
import { SFNClient } from '@aws-sdk/client-sfn';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { DynamoDbStore } from '../adapters/dynamodb/store';
import { KmsVault } from '../adapters/vault/kms-vault';
import { StepFunctionsWorkflow } from '../adapters/workflow/sfn-workflow';
import type { Store, Vault, Workflow } from '../domain/ports';
import { requireEnv } from './env';
import { createLogger } from './logger';

/**
 * The Lambda functions' collaborators, created once per cold start from the environment the
 * stack sets (TABLE_NAME, KMS_KEY_ID). One client per AWS service, shared by every handler
 * in the bundle.
 *
 * What only the release-steps function needs (CodeBuild, ECR, ECS, GitLab, Slack) lives in
 * `aws-release.ts`: esbuild keeps every module a bundle imports, used or not, so importing it
 * from here would put @gitbeaker into the webhook bundles, which must stay small (cold starts
 * inside GitLab's 10 s).
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
 * The release workflow as the hook and admin functions start it: the Step Functions state
 * machine the stack deploys (`STATE_MACHINE_ARN`), one execution per build (or per rollback).
 */
export function releaseWorkflow(): Workflow {
  return new StepFunctionsWorkflow({ client: new SFNClient({}), stateMachineArn: requireEnv('STATE_MACHINE_ARN') });
}
