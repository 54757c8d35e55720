import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Vault, VaultContext } from '../../domain/ports';
import { contextMap, VaultError } from './context';

const FORMAT = 'lv1';
const IV_BYTES = 12;
const TAG_BYTES = 16;

/**
 * Local mode's vault: AES-256-GCM with a 32-byte key kept in a 0600 file in the state dir.
 * Ciphertext: `lv1:` + base64url(iv ‖ tag ‖ ciphertext); the encryption context is the
 * additional authenticated data, so a ciphertext only opens for the purpose, app and GitLab
 * instance it was sealed for.
 */
export class LocalVault implements Vault {
  private constructor(private readonly key: Buffer) {}

  /** Opens the key file, creating it (0600) when it does not exist yet. */
  static open(keyFile: string): LocalVault {
    let key: Buffer;
    try {
      key = readFileSync(keyFile);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      mkdirSync(dirname(keyFile), { recursive: true, mode: 0o700 });
      key = randomBytes(32);
      writeFileSync(keyFile, key, { mode: 0o600, flag: 'wx' });
    }
    if (key.length !== 32) throw new VaultError(`vault key file ${keyFile} is not a 32-byte key`);
    if ((statSync(keyFile).mode & 0o077) !== 0) {
      throw new VaultError(`vault key file ${keyFile} is readable by others: chmod 600 it`);
    }
    return new LocalVault(key);
  }

  static fromKey(key: Buffer): LocalVault {
    if (key.length !== 32) throw new VaultError('vault key must be 32 bytes');
    return new LocalVault(key);
  }

  async encrypt(plaintext: string, context: VaultContext): Promise<string> {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    cipher.setAAD(Buffer.from(JSON.stringify(contextMap(context))));
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return `${FORMAT}:${Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url')}`;
  }

  async decrypt(ciphertext: string, context: VaultContext): Promise<string> {
    const [format, payload] = ciphertext.split(':', 2);
    if (format !== FORMAT || !payload) throw new VaultError('not a local-vault ciphertext');
    const raw = Buffer.from(payload, 'base64url');
    if (raw.length < IV_BYTES + TAG_BYTES) throw new VaultError('ciphertext is truncated');
    const decipher = createDecipheriv('aes-256-gcm', this.key, raw.subarray(0, IV_BYTES));
    decipher.setAAD(Buffer.from(JSON.stringify(contextMap(context))));
    decipher.setAuthTag(raw.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
    try {
      return Buffer.concat([decipher.update(raw.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString('utf8');
    } catch {
      throw new VaultError('ciphertext does not open: tampered, or sealed for another purpose, app or instance');
    }
  }
}
