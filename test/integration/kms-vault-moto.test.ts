import { CreateKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { KmsVault } from '../../functions/adapters/vault/kms-vault';
import { type MotoServer, startMotoServer } from '../support/moto-server';

/**
 * The KMS vault against moto_server, which checks encryption contexts as KMS does: a GitLab
 * token opens only for the instance URL it was sealed with, a deploy key only for its app.
 */
describe('the KMS vault against moto_server (encryption context checked)', () => {
  let moto: MotoServer;
  let client: KMSClient;
  let vault: KmsVault;

  beforeAll(async () => {
    moto = await startMotoServer();
    client = new KMSClient(moto.clientConfig);
    const key = await client.send(new CreateKeyCommand({ Description: 'slipway test' }));
    vault = new KmsVault({ client, keyId: String(key.KeyMetadata?.Arn) });
  }, 30_000);

  afterAll(async () => {
    client?.destroy();
    await moto?.stop();
  });

  it('opens a GitLab token for the instance it was sealed for, and refuses it for another URL', async () => {
    const sealed = await vault.encrypt('glpat-motoTokenNeverSentElsewhere', {
      purpose: 'gitlab-token',
      instance: 'https://gitlab.example.com',
    });

    expect(await vault.decrypt(sealed, { purpose: 'gitlab-token', instance: 'https://gitlab.example.com' })).toBe(
      'glpat-motoTokenNeverSentElsewhere',
    );
    await expect(
      vault.decrypt(sealed, { purpose: 'gitlab-token', instance: 'https://gitlab.attacker.example' }),
    ).rejects.toMatchObject({ name: 'VaultError' });
  });

  it('binds the OAuth client secret to its instance too', async () => {
    const sealed = await vault.encrypt('oauth-secret', {
      purpose: 'oauth-client-secret',
      instance: 'https://a.example',
    });
    await expect(
      vault.decrypt(sealed, { purpose: 'oauth-client-secret', instance: 'https://b.example' }),
    ).rejects.toMatchObject({ name: 'VaultError' });
  });

  it('refuses to seal or open a GitLab token or OAuth secret that names no instance, before calling KMS', async () => {
    await expect(vault.encrypt('t', { purpose: 'gitlab-token' })).rejects.toThrow(/names none/);
    await expect(vault.decrypt('kms1:AAAA', { purpose: 'oauth-client-secret' })).rejects.toThrow(/names none/);
  });

  it("binds an environment's configuration to its app and environment, and refuses a context naming neither", async () => {
    const context = { purpose: 'env-config', app: 'shop', environment: 'staging' } as const;
    const sealed = await vault.encrypt('{"DATABASE_URL":"postgres://x"}', context);
    expect(await vault.decrypt(sealed, context)).toBe('{"DATABASE_URL":"postgres://x"}');
    await expect(vault.decrypt(sealed, { ...context, environment: 'production' })).rejects.toMatchObject({
      name: 'VaultError',
    });
    await expect(vault.decrypt(sealed, { ...context, app: 'other' })).rejects.toMatchObject({ name: 'VaultError' });
    await expect(vault.encrypt('x', { purpose: 'env-config', app: 'shop' })).rejects.toThrow(/no app or environment/);
  });

  it('keeps a deploy key bound to its app', async () => {
    const sealed = await vault.encrypt('key', { purpose: 'deploy-key', app: 'web' });
    expect(await vault.decrypt(sealed, { purpose: 'deploy-key', app: 'web' })).toBe('key');
    await expect(vault.decrypt(sealed, { purpose: 'deploy-key', app: 'api' })).rejects.toMatchObject({
      name: 'VaultError',
    });
  });
});
