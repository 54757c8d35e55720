import { mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalVault } from '../../functions/adapters/vault/local-vault';

const INSTANCE = 'https://gitlab.example.com';

describe('the local AES-256-GCM vault', () => {
  const dir = mkdtempSync(join(tmpdir(), 'slipway-vault-'));
  const keyFile = join(dir, 'vault.key');
  const vault = LocalVault.open(keyFile);

  it('creates its key file readable by the owner only', () => {
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
  });

  it('round-trips a secret, with a fresh IV each time', async () => {
    const a = await vault.encrypt('whsec_abc', { purpose: 'webhook-signing-secret', app: 'web' });
    const b = await vault.encrypt('whsec_abc', { purpose: 'webhook-signing-secret', app: 'web' });
    expect(a).not.toBe(b);
    expect(a).not.toContain('whsec_abc');
    expect(await vault.decrypt(a, { purpose: 'webhook-signing-secret', app: 'web' })).toBe('whsec_abc');
  });

  it('refuses a ciphertext sealed for another app or purpose', async () => {
    const sealed = await vault.encrypt('x', { purpose: 'deploy-key', app: 'web' });
    await expect(vault.decrypt(sealed, { purpose: 'deploy-key', app: 'api' })).rejects.toThrow(/does not open/);
    await expect(vault.decrypt(sealed, { purpose: 'gitlab-token', instance: INSTANCE })).rejects.toThrow(
      /does not open/,
    );
  });

  it('refuses a GitLab token or OAuth client secret opened for another instance URL', async () => {
    const token = await vault.encrypt('glpat-x', { purpose: 'gitlab-token', instance: 'https://gitlab.example.com' });
    expect(await vault.decrypt(token, { purpose: 'gitlab-token', instance: 'https://gitlab.example.com' })).toBe(
      'glpat-x',
    );
    await expect(
      vault.decrypt(token, { purpose: 'gitlab-token', instance: 'https://gitlab.attacker.example' }),
    ).rejects.toThrow(/does not open/);
    const secret = await vault.encrypt('s', { purpose: 'oauth-client-secret', instance: 'https://a.example' });
    await expect(
      vault.decrypt(secret, { purpose: 'oauth-client-secret', instance: 'https://b.example' }),
    ).rejects.toThrow(/does not open/);
  });

  it('refuses to seal or open a GitLab token or OAuth client secret that names no instance', async () => {
    await expect(vault.encrypt('glpat-x', { purpose: 'gitlab-token' })).rejects.toThrow(/names none/);
    const sealed = await vault.encrypt('s', { purpose: 'oauth-client-secret', instance: 'https://a.example' });
    await expect(vault.decrypt(sealed, { purpose: 'oauth-client-secret' })).rejects.toThrow(/names none/);
  });

  it('refuses a tampered ciphertext', async () => {
    const sealed = await vault.encrypt('secret', { purpose: 'gitlab-token', instance: INSTANCE });
    const raw = Buffer.from(sealed.slice(4), 'base64url');
    raw[raw.length - 1] = (raw[raw.length - 1] ?? 0) ^ 1;
    await expect(
      vault.decrypt(`lv1:${raw.toString('base64url')}`, { purpose: 'gitlab-token', instance: INSTANCE }),
    ).rejects.toThrow();
  });

  it('opens the same key again, and refuses a key file others can read', async () => {
    const sealed = await vault.encrypt('again', { purpose: 'gitlab-token', instance: INSTANCE });
    expect(await LocalVault.open(keyFile).decrypt(sealed, { purpose: 'gitlab-token', instance: INSTANCE })).toBe(
      'again',
    );
    const loose = join(dir, 'loose.key');
    writeFileSync(loose, Buffer.alloc(32, 1), { mode: 0o644 });
    expect(() => LocalVault.open(loose)).toThrow(/chmod 600/);
  });
});
