import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { CloudWatchBuildLogs } from '../adapters/logs/cloudwatch-build-logs';
import { awsBuildRights, awsDeps, releaseWorkflow } from '../commons/aws';
import { gitlabDeps } from '../commons/gitlab-deps';
import { createAdminHandler } from '../http/admin-api';

/** Lambda entry for the IAM-authorised `/v1` admin API. */
const deps = awsDeps();
export const handler = createAdminHandler({
  ...deps,
  ...gitlabDeps(),
  workflow: releaseWorkflow(),
  buildRights: awsBuildRights(),
  logs: new CloudWatchBuildLogs({ client: new CloudWatchLogsClient({}) }),
  warn: (message, detail) => deps.logger.warn(message, { ...detail }),
  ...(process.env.SLIPWAY_PUBLIC_URL ? { publicUrl: process.env.SLIPWAY_PUBLIC_URL } : {}),
});
