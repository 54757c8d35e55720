import { DecryptCommand, EncryptCommand, type KMSClient } from '@aws-sdk/client-kms';
import type { Vault, VaultContext } from '../../domain/ports';
import { contextMap, VaultError } from './context';

const FORMAT = 'kms1';

/**
 * The AWS vault: KMS Encrypt/Decrypt with an encryption context naming the purpose and the
 * app (or, for a GitLab token or OAuth client secret, the GitLab instance URL), so IAM can scope
 * who may decrypt what and a ciphertext cannot be replayed for another app or instance. Ciphertext: `kms1:` + base64 of KMS's CiphertextBlob.
 */
export class KmsVault implements Vault {
  constructor(private readonly options: { client: KMSClient; keyId: string }) {}

  async encrypt(plaintext: string, context: VaultContext): Promise<string> {
    const out = await this.options.client.send(
      new EncryptCommand({
        KeyId: this.options.keyId,
        Plaintext: Buffer.from(plaintext, 'utf8'),
        EncryptionContext: contextMap(context),
      }),
    );
    if (!out.CiphertextBlob) throw new VaultError('KMS returned no ciphertext');
    return `${FORMAT}:${Buffer.from(out.CiphertextBlob).toString('base64')}`;
  }

  async decrypt(ciphertext: string, context: VaultContext): Promise<string> {
    const [format, payload] = ciphertext.split(':', 2);
    if (format !== FORMAT || !payload) throw new VaultError('not a KMS vault ciphertext');
    const out = await this.options.client
      .send(
        new DecryptCommand({
          KeyId: this.options.keyId,
          CiphertextBlob: Buffer.from(payload, 'base64'),
          EncryptionContext: contextMap(context),
        }),
      )
      .catch((error: unknown) => {
        // KMS's answer to another context (or a tampered blob): the ciphertext does not open here.
        if (error instanceof Error && error.name === 'InvalidCiphertextException') {
          throw new VaultError(`ciphertext does not open: ${error.message}`, { cause: error });
        }
        throw error;
      });
    if (!out.Plaintext) throw new VaultError('KMS returned no plaintext');
    return Buffer.from(out.Plaintext).toString('utf8');
  }
}
