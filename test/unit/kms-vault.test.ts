import { DecryptCommand, EncryptCommand, KMSClient } from '@aws-sdk/client-kms';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import { KmsVault } from '../../functions/adapters/vault/kms-vault';

describe('the KMS vault', () => {
  const kms = mockClient(KMSClient);
  const vault = new KmsVault({
    client: new KMSClient({ region: 'eu-west-1' }),
    keyId: 'arn:aws:kms:eu-west-1:1:key/k',
  });

  beforeEach(() => kms.reset());

  it('encrypts with an encryption context naming the purpose and the app', async () => {
    kms.on(EncryptCommand).resolves({ CiphertextBlob: Buffer.from('sealed') });

    const ciphertext = await vault.encrypt('-----BEGIN OPENSSH PRIVATE KEY-----', {
      purpose: 'deploy-key',
      app: 'web',
    });

    expect(ciphertext).toBe(`kms1:${Buffer.from('sealed').toString('base64')}`);
    expect(kms).toHaveReceivedCommandWith(EncryptCommand, {
      KeyId: 'arn:aws:kms:eu-west-1:1:key/k',
      EncryptionContext: { purpose: 'deploy-key', app: 'web' },
    });
  });

  it('decrypts with the same context, so KMS refuses a ciphertext replayed for another app', async () => {
    kms
      .on(DecryptCommand, { EncryptionContext: { purpose: 'deploy-key', app: 'web' } })
      .resolves({ Plaintext: Buffer.from('key') })
      .on(DecryptCommand, { EncryptionContext: { purpose: 'deploy-key', app: 'api' } })
      .rejects(Object.assign(new Error('InvalidCiphertextException'), { name: 'InvalidCiphertextException' }));
    const sealed = `kms1:${Buffer.from('sealed').toString('base64')}`;

    expect(await vault.decrypt(sealed, { purpose: 'deploy-key', app: 'web' })).toBe('key');
    await expect(vault.decrypt(sealed, { purpose: 'deploy-key', app: 'api' })).rejects.toThrow(/InvalidCiphertext/);
    expect(kms).toHaveReceivedCommandWith(DecryptCommand, { CiphertextBlob: Buffer.from('sealed') });
  });

  it('refuses a ciphertext of another format without calling KMS', async () => {
    await expect(vault.decrypt('lv1:abc', { purpose: 'gitlab-token' })).rejects.toThrow(/not a KMS vault ciphertext/);
    expect(kms).not.toHaveReceivedCommand(DecryptCommand);
  });
});
