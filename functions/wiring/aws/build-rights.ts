import { IAMClient } from '@aws-sdk/client-iam';
import { withTransientErrors } from '../../adapters/aws-errors';
import { IamBuildRights } from '../../adapters/builder/iam-build-rights';
import { requireEnv } from '../../commons/env';
import { ENV } from '../../commons/env-names';
import { once } from '../platform';

/**
 * The per-app build roles as the admin API makes them at `apps link` (IAM), from what the
 * stack tells it: `BUILD_ROLE_PATH`, `BUILD_ROLE_NAME_PREFIX`, `BUILD_ROLE_BOUNDARY_ARN`,
 * `BUILD_ROLE_POLICY_ARNS` (comma-separated) and `BUILD_PROJECT_ARN`.
 */
export const buildRights = once(
  () =>
    new IamBuildRights({
      client: withTransientErrors(new IAMClient({})),
      path: requireEnv(ENV.buildRolePath),
      namePrefix: requireEnv(ENV.buildRoleNamePrefix),
      boundaryArn: requireEnv(ENV.buildRoleBoundaryArn),
      policyArns: requireEnv(ENV.buildRolePolicyArns)
        .split(',')
        .map((arn) => arn.trim())
        .filter(Boolean),
      projectArn: requireEnv(ENV.buildProjectArn),
    }),
);
