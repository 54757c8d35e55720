import { CodeBuildClient } from '@aws-sdk/client-codebuild';
import { SFNClient } from '@aws-sdk/client-sfn';
import { withTransientErrors } from '../../adapters/aws-errors';
import { AwsPlatformProbe } from '../../adapters/platform/aws-platform';
import { requireEnv } from '../../commons/env';
import { ENV } from '../../commons/env-names';
import { once } from '../platform';

/**
 * What `slipway doctor` checks on AWS: the build project (`BUILD_PROJECT_ARN`,
 * codebuild:BatchGetProjects) and the state machine (`STATE_MACHINE_ARN`,
 * states:DescribeStateMachine). The admin function only.
 */
export const platformProbe = once(
  () =>
    new AwsPlatformProbe({
      codebuild: withTransientErrors(new CodeBuildClient({})),
      sfn: withTransientErrors(new SFNClient({})),
      buildProject: requireEnv(ENV.buildProjectArn),
      stateMachineArn: requireEnv(ENV.stateMachineArn),
    }),
);
