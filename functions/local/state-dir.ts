import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { randomToken } from '../domain/ids';

/**
 * Local mode's state directory (`SLIPWAY_HOME`, default `.slipway`): everything local mode
 * keeps lives here, and the CLI finds the admin API through it.
 */
export class StateDir {
  readonly root: string;

  constructor(root = process.env.SLIPWAY_HOME ?? '.slipway') {
    this.root = resolve(root);
  }

  get dynamoDbDir(): string {
    return join(this.root, 'dynamodb');
  }
  get vaultKeyFile(): string {
    return join(this.root, 'vault.key');
  }
  get adminTokenFile(): string {
    return join(this.root, 'admin-token');
  }
  /** The console's session key: 32 random bytes (base64), 0600. */
  get sessionKeyFile(): string {
    return join(this.root, 'session.key');
  }
  /** Written while local mode runs: `{ url, pid }`. */
  get serverFile(): string {
    return join(this.root, 'server.json');
  }
  /** Build logs: `builds/<app>/<build>.log`. */
  get buildsDir(): string {
    return join(this.root, 'builds');
  }
  /**
   * Environments' configurations as the containers get them (`docker run --env-file`): 0600 env
   * files, `config/<app>.env` or `config/<app>.<env>.env`, written by the local deployer.
   */
  get configDir(): string {
    return join(this.root, 'config');
  }

  ensure(): void {
    mkdirSync(this.root, { recursive: true, mode: 0o700 });
    mkdirSync(this.dynamoDbDir, { recursive: true, mode: 0o700 });
  }

  /** The admin token, created (0600) on first start and kept across restarts. */
  adminToken(): string {
    if (!existsSync(this.adminTokenFile)) {
      writeFileSync(this.adminTokenFile, `${randomToken(32)}\n`, { mode: 0o600 });
    }
    chmodSync(this.adminTokenFile, 0o600);
    return readFileSync(this.adminTokenFile, 'utf8').trim();
  }

  /** The console's session key, created (0600) on first start and kept, so sessions survive a restart. */
  sessionKey(): Uint8Array {
    if (!existsSync(this.sessionKeyFile)) {
      writeFileSync(this.sessionKeyFile, `${randomBytes(32).toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
    }
    chmodSync(this.sessionKeyFile, 0o600);
    const key = Buffer.from(readFileSync(this.sessionKeyFile, 'utf8').trim(), 'base64');
    if (key.length !== 32) throw new Error(`${this.sessionKeyFile} is not a 32-byte key: delete it to make a new one`);
    return new Uint8Array(key);
  }

  readAdminToken(): string | undefined {
    try {
      return readFileSync(this.adminTokenFile, 'utf8').trim() || undefined;
    } catch {
      return undefined;
    }
  }

  readServer(): { url: string; pid: number } | undefined {
    try {
      return JSON.parse(readFileSync(this.serverFile, 'utf8')) as { url: string; pid: number };
    } catch {
      return undefined;
    }
  }
}
