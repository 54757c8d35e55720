import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { withTransientErrors } from '../../adapters/aws-errors';
import { requireEnv } from '../../commons/env';
import { ENV } from '../../commons/env-names';
import { once } from '../platform';

/**
 * The console's session key: a Secrets Manager secret generated at deploy time
 * (`SESSION_SECRET_ARN`), read when first needed in a cold start.
 */
export const sessionKey = once(() => {
  const secrets = withTransientErrors(new SecretsManagerClient({}));
  const secretId = requireEnv(ENV.sessionSecretArn);
  return async (): Promise<Uint8Array> => {
    const { SecretString } = await secrets.send(new GetSecretValueCommand({ SecretId: secretId }));
    // The secret is 64 generated characters; its SHA-256 is the 32-byte key.
    if (!SecretString || SecretString.length < 32)
      throw new Error('the console session secret is missing or too short');
    const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(SecretString));
    return new Uint8Array(digest);
  };
});
