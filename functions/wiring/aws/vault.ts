import { KMSClient } from '@aws-sdk/client-kms';
import { withTransientErrors } from '../../adapters/aws-errors';
import { KmsVault } from '../../adapters/vault/kms-vault';
import { requireEnv } from '../../commons/env';
import { ENV } from '../../commons/env-names';
import { once } from '../platform';

/** The vault: KMS with the key the stack binds (`KMS_KEY_ID`). */
export const vault = once(
  () => new KmsVault({ client: withTransientErrors(new KMSClient({})), keyId: requireEnv(ENV.kmsKeyId) }),
);
