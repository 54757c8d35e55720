import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { createGitlabApi } from '../adapters/gitlab/gitbeaker-client';
import { CloudWatchBuildLogs } from '../adapters/logs/cloudwatch-build-logs';
import { awsDeps, releaseWorkflow } from '../commons/aws';
import { requireEnv } from '../commons/env';
import { createConsoleHandler } from '../console/handler';

/**
 * Lambda entry for the web console (`/console…`, `/auth/gitlab/*`): no authorizer at API
 * Gateway, the session cookie authenticates. The session key is a Secrets Manager secret
 * generated at deploy time (SESSION_SECRET_ARN), read once per cold start.
 */
const deps = awsDeps();
const secrets = new SecretsManagerClient({});
const sessionSecretArn = requireEnv('SESSION_SECRET_ARN');

async function sessionKey(): Promise<Uint8Array> {
  const { SecretString } = await secrets.send(new GetSecretValueCommand({ SecretId: sessionSecretArn }));
  // The secret is 64 generated characters; its SHA-256 is the 32-byte key.
  if (!SecretString || SecretString.length < 32) throw new Error('the console session secret is missing or too short');
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(SecretString));
  return new Uint8Array(digest);
}

export const handler = createConsoleHandler({
  ...deps,
  gitlab: createGitlabApi,
  workflow: releaseWorkflow(),
  logs: new CloudWatchBuildLogs({ client: new CloudWatchLogsClient({}) }),
  publicUrl: requireEnv('SLIPWAY_PUBLIC_URL'),
  sessionKey,
});
