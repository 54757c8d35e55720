import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fingerprintOf, generateDeployKey } from '../../functions/adapters/ssh/deploy-key';
import { knownHostsFor, parseKnownHosts, scanHostKeys } from '../../functions/adapters/ssh/known-hosts';
import { type Sshd, sshdUnavailable, startSshd } from '../support/sshd';

const unavailable = sshdUnavailable();
if (unavailable) console.warn(unavailable);

/** Runs `git clone` the way a build does: this key only, pinned host keys, no prompts. */
function gitClone(url: string, target: string, key: string, knownHosts: string) {
  const ssh = [
    'ssh -F /dev/null',
    `-i ${key}`,
    '-o IdentitiesOnly=yes',
    '-o IdentityAgent=none',
    `-o UserKnownHostsFile=${knownHosts}`,
    '-o GlobalKnownHostsFile=/dev/null',
    '-o StrictHostKeyChecking=yes',
    '-o BatchMode=yes',
    '-o ConnectTimeout=5',
  ].join(' ');
  return new Promise<{ code: number; stderr: string }>((resolve) => {
    execFile(
      'git',
      ['clone', '--quiet', url, target],
      { env: { ...process.env, GIT_SSH_COMMAND: ssh, GIT_TERMINAL_PROMPT: '0' }, timeout: 20_000 },
      (error, _stdout, stderr) => resolve({ code: error ? Number(error.code ?? 1) : 0, stderr }),
    );
  });
}

(unavailable ? describe.skip : describe)('an ed25519 deploy key against a real sshd serving git', () => {
  const dir = mkdtempSync(join(tmpdir(), 'slipway-ssh-'));
  const deployKey = generateDeployKey('slipway: web-shop');
  const keyFile = join(dir, 'deploy_key');
  let sshd: Sshd;

  beforeAll(async () => {
    writeFileSync(keyFile, deployKey.privateKey, { mode: 0o600 });
    sshd = await startSshd({ authorizedKeys: [deployKey.publicKey] });
  });

  afterAll(async () => {
    await sshd?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('is a private key ssh-keygen reads, giving back the same public key and fingerprint', () => {
    const derived = execFileSync('ssh-keygen', ['-y', '-f', keyFile], { encoding: 'utf8' }).trim();
    const listed = execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', keyFile], { encoding: 'utf8' });

    expect(derived).toBe(deployKey.publicKey);
    expect(deployKey.publicKey).toMatch(/^ssh-ed25519 AAAA\S+ slipway: web-shop$/);
    expect(listed).toContain(deployKey.fingerprint);
    expect(fingerprintOf(deployKey.publicKey)).toBe(deployKey.fingerprint);
  });

  it('clones the repository with the pinned host key', async () => {
    const knownHosts = join(dir, 'known_hosts.pinned');
    writeFileSync(knownHosts, `${sshd.hostKeyLine}\n`);
    const target = join(dir, 'clone-ok');

    const result = await gitClone(sshd.gitUrl, target, keyFile, knownHosts);

    expect(result).toEqual({ code: 0, stderr: '' });
    const head = execFileSync('git', ['-C', target, 'rev-parse', 'HEAD'], { encoding: 'utf8' }).trim();
    expect(head).toBe(sshd.commit);
    expect(readFileSync(join(target, 'README.md'), 'utf8')).toContain('served by the test sshd');
  });

  it('refuses to clone when the pinned host key is another one', async () => {
    const impostor = generateDeployKey('not the server').publicKey.split(' ');
    const knownHosts = join(dir, 'known_hosts.wrong');
    writeFileSync(
      knownHosts,
      knownHostsFor('127.0.0.1', sshd.port, [{ keyType: impostor[0] ?? '', key: impostor[1] ?? '' }]),
    );
    const target = join(dir, 'clone-wrong-key');

    const result = await gitClone(sshd.gitUrl, target, keyFile, knownHosts);

    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/Host key verification failed/);
    expect(existsSync(target)).toBe(false);
  });

  it('refuses to clone with a key the server does not know', async () => {
    const stranger = generateDeployKey('stranger');
    const strangerFile = join(dir, 'stranger_key');
    writeFileSync(strangerFile, stranger.privateKey, { mode: 0o600 });
    const knownHosts = join(dir, 'known_hosts.pinned');
    writeFileSync(knownHosts, `${sshd.hostKeyLine}\n`);
    const target = join(dir, 'clone-stranger');

    const result = await gitClone(sshd.gitUrl, target, strangerFile, knownHosts);

    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/Permission denied \(publickey\)/);
    expect(existsSync(target)).toBe(false);
  });

  it("finds the server's real host key with ssh-keyscan", async () => {
    const scanned = await scanHostKeys('127.0.0.1', sshd.port);

    const entries = parseKnownHosts(scanned);
    const [pinned] = parseKnownHosts(sshd.hostKeyLine);
    expect(entries.map((e) => e.fingerprint)).toEqual([pinned?.fingerprint]);
    expect(entries[0]?.hosts).toEqual([`[127.0.0.1]:${sshd.port}`]);
  });

  it('says so when nothing answers ssh-keyscan', async () => {
    const stopped = await startSshd({ authorizedKeys: [] });
    await stopped.stop();

    await expect(scanHostKeys('127.0.0.1', stopped.port, 2)).rejects.toThrow(/found no host key at 127\.0\.0\.1:\d+/);
  });
});
