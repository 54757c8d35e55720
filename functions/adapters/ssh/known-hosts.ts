import { execFile } from 'node:child_process';
import sshpk from 'sshpk';

/** One validated known_hosts entry. */
export interface KnownHostEntry {
  /** Host patterns as written: `gitlab.com`, `[gitlab.example]:2222`, hashed `|1|salt|hash`, wildcards. */
  hosts: string[];
  /** SSH key type name: `ssh-ed25519`, `ecdsa-sha2-nistp256`, `ssh-rsa`, … */
  keyType: string;
  /** Base64 key blob. */
  key: string;
  /** `SHA256:…` of the key. */
  fingerprint: string;
}

export interface HostKey {
  keyType: string;
  key: string;
}

/**
 * Parses known_hosts text, validating every key. Blank lines and `#` comments are skipped;
 * a trailing comment after the key is dropped. Hashed host names are kept as they are.
 * Marker lines (`@cert-authority`, `@revoked`) are refused: a pin is a plain host key.
 * Throws an Error naming the first bad line.
 */
export function parseKnownHosts(text: string): KnownHostEntry[] {
  const entries: KnownHostEntry[] = [];
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const where = `known_hosts line ${index + 1}`;
    if (line.startsWith('@')) {
      throw new Error(`${where}: markers such as ${line.split(/\s+/)[0]} are not supported; pin plain host keys`);
    }
    const [hostField, keyType, key] = line.split(/\s+/);
    if (!hostField || !keyType || !key) {
      throw new Error(`${where}: expected "hosts keytype base64-key"`);
    }
    const hosts = hostField.split(',');
    if (hosts.some((host) => !isHostPattern(host))) {
      throw new Error(`${where}: malformed host list "${hostField}"`);
    }
    entries.push({ hosts, ...validateKey(keyType, key, where) });
  });
  return entries;
}

/**
 * known_hosts text pinning `keys` for one host: `host` on port 22, `[host]:port` otherwise
 * (the form ssh looks up). Every key is validated.
 */
export function knownHostsFor(host: string, port: number, keys: HostKey[]): string {
  if (!isHostName(host)) throw new Error(`not a host name: "${host}"`);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`not a TCP port: ${port}`);
  if (keys.length === 0) throw new Error(`no host key to pin for ${host}`);
  const name = port === 22 ? host : `[${host}]:${port}`;
  return keys
    .map(({ keyType, key }, index) => {
      const valid = validateKey(keyType, key, `host key ${index + 1}`);
      return `${name} ${valid.keyType} ${valid.key}\n`;
    })
    .join('');
}

/**
 * Asks the SSH server at host:port for its ed25519, ecdsa and rsa host keys with `ssh-keyscan`
 * (no shell) and returns them as validated known_hosts text.
 *
 * This is trust on first use: whoever sits between here and the host answers the scan. Compare
 * the fingerprints with what the GitLab instance publishes before relying on them.
 */
export async function scanHostKeys(host: string, port: number, timeoutSec = 5): Promise<string> {
  if (!isHostName(host)) throw new Error(`not a host name: "${host}"`);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`not a TCP port: ${port}`);
  if (!Number.isInteger(timeoutSec) || timeoutSec < 1) throw new Error(`not a timeout in seconds: ${timeoutSec}`);
  const args = ['-T', String(timeoutSec), '-p', String(port), '-t', 'ed25519,ecdsa,rsa', host];
  const scan = await new Promise<{ out: string; err: string; timedOut: boolean }>((resolve, reject) => {
    execFile('ssh-keyscan', args, { timeout: (timeoutSec + 5) * 1000, encoding: 'utf8' }, (error, out, err) => {
      if (error && (error as NodeJS.ErrnoException).code === 'ENOENT') {
        reject(new Error('ssh-keyscan is not installed (Debian: apt-get install openssh-client)', { cause: error }));
      } else {
        // ssh-keyscan exits 1 when a host does not answer; what it printed is what counts.
        resolve({ out, err, timedOut: Boolean(error?.killed) });
      }
    });
  });
  const entries = parseKnownHosts(scan.out);
  if (entries.length === 0) {
    // stderr carries `# host:port SSH-2.0-…` banners and, when it went wrong, the reason.
    const reason = scan.err
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line !== '' && !line.startsWith('#'))
      .join('; ');
    throw new Error(
      `ssh-keyscan found no host key at ${host}:${port} within ${timeoutSec} s` +
        (scan.timedOut ? ' (it timed out)' : reason ? ` (${reason})` : ' (unreachable, or not SSH)'),
    );
  }
  return entries.map((entry) => `${entry.hosts.join(',')} ${entry.keyType} ${entry.key}\n`).join('');
}

function validateKey(
  keyType: string,
  key: string,
  where: string,
): { keyType: string; key: string; fingerprint: string } {
  let parsed: sshpk.Key;
  try {
    parsed = sshpk.parseKey(`${keyType} ${key}`, 'ssh');
  } catch (error) {
    throw new Error(`${where}: not a valid ${keyType} key`, { cause: error });
  }
  // sshpk reads the type from the blob; the name in front of it must say the same.
  const [actualType, actualKey] = parsed.toString('ssh').split(' ');
  if (actualType !== keyType || actualKey !== key) {
    throw new Error(`${where}: key type ${keyType} does not match the key (${actualType})`);
  }
  return { keyType, key, fingerprint: parsed.fingerprint('sha256').toString() };
}

/** A host name or IP literal that cannot be mistaken for an option or break a known_hosts line. */
function isHostName(host: string): boolean {
  return /^[A-Za-z0-9_.:-]+$/.test(host) && !host.startsWith('-');
}

function isHostPattern(pattern: string): boolean {
  if (pattern.startsWith('|1|')) return /^\|1\|[A-Za-z0-9+/=]+\|[A-Za-z0-9+/=]+$/.test(pattern);
  return /^!?(\[[A-Za-z0-9_.:*?-]+\]:\d{1,5}|[A-Za-z0-9_.:*?-]+)$/.test(pattern);
}
