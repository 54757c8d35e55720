import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { withTransientErrors } from '../../adapters/aws-errors';
import { CloudWatchBuildLogs } from '../../adapters/logs/cloudwatch-build-logs';
import { once } from '../platform';

/** Build logs from CloudWatch Logs (the admin API and the console read them). */
export const buildLogs = once(
  () => new CloudWatchBuildLogs({ client: withTransientErrors(new CloudWatchLogsClient({})) }),
);
