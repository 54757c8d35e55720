import { generateKeyPairSync } from 'node:crypto';
import sshpk from 'sshpk';

/** An SSH keypair for one app's read-only deploy key. Only `privateKey` is secret. */
export interface DeployKey {
  /** One OpenSSH public-key line: `ssh-ed25519 AAAA… comment`. */
  publicKey: string;
  /** OpenSSH private key (`-----BEGIN OPENSSH PRIVATE KEY-----`), unencrypted, newline-terminated. */
  privateKey: string;
  /** `SHA256:…`, as `ssh-keygen -l` and GitLab's `fingerprint_sha256` show it. */
  fingerprint: string;
}

/**
 * Generates an ed25519 keypair in OpenSSH formats (`ssh-keygen -y` accepts the private half).
 * The comment ends up in the public line; it must be printable and on one line.
 */
export function generateDeployKey(comment: string): DeployKey {
  if (!/^[\x20-\x7e]*$/.test(comment)) {
    throw new Error('deploy key comment must be printable ASCII on one line');
  }
  const { privateKey } = generateKeyPairSync('ed25519');
  const key = sshpk.parsePrivateKey(privateKey.export({ type: 'pkcs8', format: 'pem' }), 'pkcs8');
  key.comment = comment;
  const publicKey = key.toPublic().toString('ssh').trim();
  return {
    publicKey,
    privateKey: key.toString('ssh-private'),
    fingerprint: key.fingerprint('sha256').toString(),
  };
}

/** The `SHA256:…` fingerprint of one OpenSSH public-key line; throws on anything else. */
export function fingerprintOf(publicKeyLine: string): string {
  let key: sshpk.Key;
  try {
    key = sshpk.parseKey(publicKeyLine.trim(), 'ssh');
  } catch (error) {
    throw new Error('not an OpenSSH public key line', { cause: error });
  }
  return key.fingerprint('sha256').toString();
}
