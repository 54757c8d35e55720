import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { IAMClient } from '@aws-sdk/client-iam';
import { KMSClient } from '@aws-sdk/client-kms';
import { SFNClient } from '@aws-sdk/client-sfn';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { IamBuildRights } from '../adapters/builder/iam-build-rights';
import { DynamoDbStore } from '../adapters/dynamodb/store';
import { KmsVault } from '../adapters/vault/kms-vault';
import { StepFunctionsWorkflow } from '../adapters/workflow/sfn-workflow';
import type { BuildRights } from '../domain/gitlab-link';
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

/**
 * The per-app build roles as the admin API makes them at `apps link` (IAM), from what the
 * stack tells it: `BUILD_ROLE_PATH`, `BUILD_ROLE_NAME_PREFIX`, `BUILD_ROLE_BOUNDARY_ARN`,
 * `BUILD_ROLE_POLICY_ARNS` (comma-separated) and `BUILD_PROJECT_ARN`.
 */
export function awsBuildRights(): BuildRights {
  return new IamBuildRights({
    client: new IAMClient({}),
    path: requireEnv('BUILD_ROLE_PATH'),
    namePrefix: requireEnv('BUILD_ROLE_NAME_PREFIX'),
    boundaryArn: requireEnv('BUILD_ROLE_BOUNDARY_ARN'),
    policyArns: requireEnv('BUILD_ROLE_POLICY_ARNS')
      .split(',')
      .map((arn) => arn.trim())
      .filter(Boolean),
    projectArn: requireEnv('BUILD_PROJECT_ARN'),
  });
}
