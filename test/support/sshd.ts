import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { freePort, sshdListening, stopChild } from './processes';

export const SSHD = '/usr/sbin/sshd';

/**
 * Why the real-sshd tests cannot run here, or undefined when they can. Only a missing sshd
 * binary is a reason, and not on CI (`CI` set), which installs openssh-server: there the tests
 * run and fail loudly instead.
 */
export function sshdUnavailable(): string | undefined {
  if (existsSync(SSHD) || process.env.CI) return undefined;
  return `${SSHD} is missing (apt-get install -y openssh-server): skipping the git-over-SSH tests`;
}

export interface Sshd {
  port: number;
  /** known_hosts line pinning this server's ed25519 host key: `[127.0.0.1]:port ssh-ed25519 AAAA…`. */
  hostKeyLine: string;
  /** The bare repository served (one commit on `main`, a README). */
  repoPath: string;
  /** The commit `main` points at. */
  commit: string;
  /** `ssh://user@127.0.0.1:port/…/repo.git`. */
  gitUrl: string;
  stop(): Promise<void>;
}

export interface SshdOptions {
  /**
   * OpenSSH public-key lines allowed in. Each is installed as
   * `restrict,command="git-upload-pack '<repo>'"`: read-only access to the one repository,
   * no shell, no forwarding (what a GitLab read-only deploy key grants).
   */
  authorizedKeys: string[];
}

/**
 * Starts a real sshd as the current user on a free loopback port with its own config, host key
 * and authorized_keys in a temp dir, serving a fresh bare git repository. `stop()` ends it and
 * removes the dir.
 */
export async function startSshd(options: SshdOptions): Promise<Sshd> {
  if (!existsSync(SSHD)) throw new Error(`${SSHD} is missing: apt-get install -y openssh-server`);
  const dir = mkdtempSync(join(tmpdir(), 'slipway-sshd-'));
  try {
    const repoPath = join(dir, 'repo.git');
    const commit = createRepository(dir, repoPath);
    const hostKey = join(dir, 'ssh_host_ed25519_key');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'slipway-test-sshd', '-f', hostKey]);
    const authorizedKeys = join(dir, 'authorized_keys');
    writeFileSync(
      authorizedKeys,
      options.authorizedKeys.map((key) => `restrict,command="git-upload-pack '${repoPath}'" ${key.trim()}\n`).join(''),
      { mode: 0o600 },
    );
    // sshd (Debian) insists on its privilege separation directory, even when run like this.
    try {
      mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
    } catch {
      // Not root: sshd says for itself whether it can do without.
    }

    const { child, port } = await listen(dir, hostKey, authorizedKeys);
    const [keyType, key] = readFileSync(`${hostKey}.pub`, 'utf8').trim().split(/\s+/);
    const user = userInfo().username;
    return {
      port,
      hostKeyLine: `[127.0.0.1]:${port} ${keyType} ${key}`,
      repoPath,
      commit,
      gitUrl: `ssh://${user}@127.0.0.1:${port}${repoPath}`,
      async stop() {
        await stopChild(child);
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}

/** Starts sshd on a free port, retrying when another process takes the port first. */
async function listen(
  dir: string,
  hostKey: string,
  authorizedKeys: string,
): Promise<{ child: ChildProcess; port: number }> {
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt += 1) {
    const port = await freePort();
    const serverHome = join(dir, 'home');
    mkdirSync(serverHome, { recursive: true, mode: 0o700 });
    const config = join(dir, 'sshd_config');
    writeFileSync(config, sshdConfig({ port, dir, hostKey, authorizedKeys, serverHome, logLevel: 'VERBOSE' }));
    const child = spawn(SSHD, ['-D', '-e', '-f', config], { stdio: ['ignore', 'ignore', 'pipe'] });
    try {
      await sshdListening(child, port);
      return { child, port };
    } catch (error) {
      lastError = error;
      await stopChild(child);
    }
  }
  throw lastError;
}

/** A bare repository with one commit on main; returns the commit id. */
function createRepository(dir: string, repoPath: string): string {
  const env = {
    ...process.env,
    HOME: dir,
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_AUTHOR_NAME: 'Slipway Test',
    GIT_AUTHOR_EMAIL: 'test@slipway.invalid',
    GIT_COMMITTER_NAME: 'Slipway Test',
    GIT_COMMITTER_EMAIL: 'test@slipway.invalid',
  };
  const git = (cwd: string, ...args: string[]) =>
    execFileSync('git', args, { cwd, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  const work = join(dir, 'work');
  mkdirSync(work);
  git(dir, 'init', '--quiet', '--bare', '--initial-branch=main', repoPath);
  git(work, 'init', '--quiet', '--initial-branch=main');
  writeFileSync(join(work, 'README.md'), '# served by the test sshd\n');
  git(work, 'add', 'README.md');
  git(work, 'commit', '--quiet', '-m', 'first commit');
  git(work, 'push', '--quiet', repoPath, 'main');
  const commit = git(work, 'rev-parse', 'HEAD');
  rmSync(work, { recursive: true, force: true });
  return commit;
}

/**
 * An sshd_config for a loopback git server run as the current user: key auth only, no
 * forwarding. The forced command runs through the user's shell, so HOME points at an empty
 * dir (the machine's rc files cost seconds per connection); GIT_PROTOCOL lets git speak v2,
 * as GitLab does. Shared by the tests' sshd and bench/fetch.
 */
export function sshdConfig(options: {
  port: number;
  dir: string;
  hostKey: string;
  authorizedKeys: string;
  serverHome: string;
  logLevel: 'INFO' | 'VERBOSE';
}): string {
  return [
    `Port ${options.port}`,
    'ListenAddress 127.0.0.1',
    `HostKey ${options.hostKey}`,
    `PidFile ${join(options.dir, 'sshd.pid')}`,
    `AuthorizedKeysFile ${options.authorizedKeys}`,
    `AllowUsers ${userInfo().username}`,
    'PermitRootLogin prohibit-password',
    'PubkeyAuthentication yes',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'StrictModes no',
    'UsePAM no',
    // Builds in a test run fetch in parallel: sshd's default (10:30:100) drops unauthenticated
    // connections at random beyond 10, which reads as a flaky failed fetch.
    'MaxStartups 100',
    'AllowTcpForwarding no',
    'X11Forwarding no',
    'PrintMotd no',
    `SetEnv HOME=${options.serverHome}`,
    'AcceptEnv GIT_PROTOCOL',
    `LogLevel ${options.logLevel}`,
    '',
  ].join('\n');
}
