import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import { LocalDeployer } from '../../functions/adapters/deploy/local-deployer';

const FAKE_DOCKER = resolve(__dirname, '../support/fake-docker');
const REPO = 'slipway/web';
const OLD = `sha256:${'0'.repeat(64)}`;
const NEW = `sha256:${'1'.repeat(64)}`;
const BAD = `sha256:${'bad'.repeat(21)}b`;
const target = { app: 'web' };

describe('the local deployer with the (fake) docker CLI', () => {
  let dir: string;
  let log: string;
  /** The docker CLI's environment: the fake docker first on PATH, recording to `log`. */
  let env: Record<string, string>;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'slipway-local-deployer-'));
    log = join(dir, 'docker.log');
    env = { PATH: `${FAKE_DOCKER}${delimiter}${process.env.PATH}`, FAKE_DOCKER_LOG: log };
  });

  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  const deployer = (options: ConstructorParameters<typeof LocalDeployer>[0] = {}) =>
    new LocalDeployer({ pollMs: 10, env, ...options });

  const calls = () =>
    readFileSync(log, 'utf8')
      .trim()
      .split('\n')
      .map((line) => (JSON.parse(line) as { argv: string[] }).argv);
  /** The app's containers the fake docker knows (run and not removed). */
  const running = () =>
    execFileSync('docker', ['ps', '-a', '--filter', 'label=slipway.app=web', '--format', '{{.Names}}'], {
      encoding: 'utf8',
      env,
    })
      .split('\n')
      .filter(Boolean);

  async function deploy(local: LocalDeployer, digest: string) {
    const { revision } = await local.prepare(target, { app: digest }, REPO);
    const { deployment } = await local.rollout(target, revision);
    return { revision, deployment, status: await local.waitFor(target, deployment) };
  }

  it('runs a locally loaded image by its id, and a healthy new container replaces the old one', async () => {
    const local = deployer();
    const first = await deploy(local, OLD);
    expect(first.revision).toBe(OLD);
    expect(first.status).toEqual({ state: 'completed', running: 1, desired: 1 });
    expect(first.deployment).toMatch(/^slipway-web-000000000000[0-9a-f]{6}$/);

    const second = await deploy(local, NEW);

    expect(second.status.state).toBe('completed');
    expect(running()).toEqual([second.deployment]);
    const argv = calls();
    expect(argv).toContainEqual([
      'run',
      '-d',
      '--name',
      second.deployment,
      '--label',
      'slipway.app=web',
      '--label',
      `slipway.revision=${NEW}`,
      NEW,
    ]);
    expect(argv).toContainEqual(['stop', first.deployment]);
    expect(argv).toContainEqual(['rm', '-f', first.deployment]);
  });

  it('uses the image HEALTHCHECK with a short interval when the image has one', async () => {
    env.FAKE_DOCKER_HEALTHCHECK = '1111';
    const local = deployer();
    const { status } = await deploy(local, NEW);
    expect(status.state).toBe('completed');
    expect(calls()).toContainEqual(expect.arrayContaining(['run', '--health-interval', '2s', NEW]));
  });

  it('removes an unhealthy new container and keeps the old one, saying why', async () => {
    const local = deployer();
    const old = await deploy(local, OLD);
    env.FAKE_DOCKER_UNHEALTHY = 'badbad';

    const bad = await deploy(local, BAD);

    expect(bad.status).toEqual({
      state: 'rolled_back',
      reason: 'the new container is unhealthy: curl: (7) Failed to connect to localhost port 8080',
    });
    expect(running()).toEqual([old.deployment]);
    expect(calls()).toContainEqual(['rm', '-f', bad.deployment]);
    expect(calls()).not.toContainEqual(['rm', '-f', old.deployment]);
  });

  it('rolls back a container that exits, with its exit code', async () => {
    env.FAKE_DOCKER_EXITED = 'badbad';
    const { status } = await deploy(deployer(), BAD);
    expect(status).toEqual({ state: 'rolled_back', reason: 'the new container exited with code 3' });
    expect(running()).toEqual([]);
  });

  it('rolls back a container that is not healthy in time', async () => {
    env.FAKE_DOCKER_STARTING = 'badbad';
    const { status } = await deploy(deployer({ healthTimeoutMs: 300 }), BAD);
    expect(status).toEqual({ state: 'rolled_back', reason: 'the new container was not healthy within 300 ms' });
  });

  it('counts a container without health check as healthy once it kept running for the grace period', async () => {
    env.FAKE_DOCKER_NO_HEALTH = 'slipway-web';
    const local = deployer({ graceMs: 200 });
    const { revision } = await local.prepare(target, { app: NEW }, REPO);
    const { deployment } = await local.rollout(target, revision);
    await expect(local.status(target, deployment)).resolves.toEqual({ state: 'in_progress', running: 0, desired: 1 });
    await expect(local.waitFor(target, deployment)).resolves.toMatchObject({ state: 'completed' });
  });

  it('pins a registry image by digest when the digest is no local image id', async () => {
    env.FAKE_DOCKER_FAIL_ON = 'image inspect --format {{.Id}}';
    const { revision } = await deployer().prepare(target, { api: NEW, worker: OLD }, REPO);
    expect(revision).toBe(`${REPO}@${NEW}`);
  });

  it('says clearly when the docker CLI is missing', async () => {
    await expect(deployer({ env: { PATH: dir } }).rollout(target, NEW)).rejects.toThrow(
      'the docker CLI (docker) was not found on PATH; local mode deploys with docker',
    );
  });
});
