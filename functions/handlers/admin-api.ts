import { CodeBuildClient } from '@aws-sdk/client-codebuild';
import { SFNClient } from '@aws-sdk/client-sfn';
import { AwsPlatformProbe } from '../adapters/platform/aws-platform';
import { requireEnv } from '../commons/env';
import { ENV } from '../commons/env-names';
import { createAdminHandler } from '../http/admin-api';
import { buildLogs } from '../wiring/aws/build-logs';
import { buildRights } from '../wiring/aws/build-rights';
import { core } from '../wiring/aws/core';
import { optionalPublicUrl } from '../wiring/aws/public-url';
import { vault } from '../wiring/aws/vault';
import { workflow } from '../wiring/aws/workflow';
import { gitlab } from '../wiring/gitlab';
import { createServices } from '../wiring/services';
import { sshKeys } from '../wiring/ssh-keys';

/** Lambda entry for the IAM-authorised `/v1` admin API. */
export const handler = createAdminHandler({
  ...createServices({
    ...core,
    vault,
    workflow,
    gitlab,
    sshKeys,
    buildRights,
    buildLogs,
    publicUrl: optionalPublicUrl,
  }).admin(),
  // `slipway doctor` (needs codebuild:BatchGetProjects and states:DescribeStateMachine on these two).
  platform: new AwsPlatformProbe({
    codebuild: new CodeBuildClient({}),
    sfn: new SFNClient({}),
    buildProject: requireEnv(ENV.buildProjectArn),
    stateMachineArn: requireEnv(ENV.stateMachineArn),
  }),
});
