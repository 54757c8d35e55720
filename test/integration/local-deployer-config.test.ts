import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import { LocalDeployer } from '../../functions/adapters/deploy/local-deployer';
import type { DeployConfig, DeployTarget } from '../../functions/domain/ports';

/**
 * Local mode hands an environment's configuration to its container through a 0600 env file that
 * `docker run --env-file` reads (the recording fake docker reads it the way the real CLI does):
 * the container sees the values, docker's argv holds the file's path only, and an environment
 * without values gets no file.
 */

const FAKE_DOCKER = resolve(__dirname, '../support/fake-docker');
const REPO = 'slipway/web';
const IMAGE = `sha256:${'1'.repeat(64)}`;
const SECRET = 'postgres://web:s3cr3t-local@db/web?sslmode=require#x';

describe('the local deployer with configuration', () => {
  let dir: string;
  let configDir: string;
  let log: string;
  let env: Record<string, string>;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'slipway-local-config-'));
    configDir = join(dir, 'state', 'config');
    log = join(dir, 'docker.log');
    env = { PATH: `${FAKE_DOCKER}${delimiter}${process.env.PATH}`, FAKE_DOCKER_LOG: log };
  });

  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  const docker = (...args: string[]) => execFileSync('docker', args, { encoding: 'utf8', env });
  const runs = () =>
    readFileSync(log, 'utf8')
      .trim()
      .split('\n')
      .map((line) => (JSON.parse(line) as { argv: string[] }).argv)
      .filter((argv) => argv[0] === 'run');

  async function deploy(local: LocalDeployer, target: DeployTarget, config?: DeployConfig) {
    const { revision } = await local.prepare(target, { app: IMAGE }, REPO, config);
    const { deployment } = await local.rollout(target, revision);
    expect(await local.waitFor(target, deployment)).toMatchObject({ state: 'completed' });
    return deployment;
  }

  it('writes the values to a 0600 env file the container is run with; argv holds only its path', async () => {
    const local = new LocalDeployer({ pollMs: 10, env, configDir });
    const target = { app: 'web', environment: 'staging' };

    const name = await deploy(local, target, {
      environment: 'staging',
      version: 1,
      values: { DATABASE_URL: SECRET, GREETING: 'hello world' },
    });

    const file = join(configDir, 'web.staging.env');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(configDir).mode & 0o777).toBe(0o700);
    expect(readFileSync(file, 'utf8')).toBe(`DATABASE_URL=${SECRET}\nGREETING=hello world\n`);
    expect(readdirSync(configDir)).toEqual(['web.staging.env']);
    const argv = runs().at(-1) ?? [];
    expect(argv[argv.indexOf('--env-file') + 1]).toBe(file);
    expect(JSON.stringify(runs())).not.toContain('s3cr3t');
    // The container sees the values exactly, as docker inspect and a process in it show them.
    expect(JSON.parse(docker('inspect', '--format', '{{json .Config.Env}}', name))).toEqual(
      expect.arrayContaining([`DATABASE_URL=${SECRET}`, 'GREETING=hello world']),
    );
    expect(docker('exec', name, 'printenv', 'GREETING')).toBe('hello world\n');
  });

  it('keeps the first environment and another apart, and drops the file when the values are gone', async () => {
    const local = new LocalDeployer({ pollMs: 10, env, configDir });
    await deploy(local, { app: 'web' }, { environment: 'production', version: 1, values: { A: '1' } });
    await deploy(
      local,
      { app: 'web', environment: 'staging' },
      { environment: 'staging', version: 1, values: { A: '2' } },
    );
    expect(readFileSync(join(configDir, 'web.env'), 'utf8')).toBe('A=1\n');
    expect(readFileSync(join(configDir, 'web.staging.env'), 'utf8')).toBe('A=2\n');

    const emptied = await deploy(local, { app: 'web' }, { environment: 'production', version: 2, values: {} });
    expect(existsSync(join(configDir, 'web.env'))).toBe(false);
    expect(runs().at(-1)).not.toContain('--env-file');
    expect(() => docker('exec', emptied, 'printenv', 'A')).toThrow();
    const none = await deploy(local, { app: 'web', environment: 'staging' });
    expect(existsSync(join(configDir, 'web.staging.env'))).toBe(false);
    expect(() => docker('exec', none, 'printenv', 'A')).toThrow();
  });

  it('refuses values it cannot put in an env file, and values without a directory for one', async () => {
    const local = new LocalDeployer({ pollMs: 10, env, configDir });
    await expect(
      local.prepare({ app: 'web' }, { app: IMAGE }, REPO, { environment: 'p', version: 1, values: { A: 'x\ny' } }),
    ).rejects.toThrow(/cannot go in an env file/);
    await expect(
      new LocalDeployer({ env }).prepare({ app: 'web' }, { app: IMAGE }, REPO, {
        environment: 'p',
        version: 1,
        values: { A: 'x' },
      }),
    ).rejects.toThrow(/no directory for configuration env files/);
  });
});
