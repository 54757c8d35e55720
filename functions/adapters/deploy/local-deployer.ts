import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { APP_NAME } from '../../domain/apps';
import { ENVIRONMENT_NAME, REVIEW_ENVIRONMENT } from '../../domain/environments';
import type { DeployConfig, Deployer, DeployTarget, RolloutStatus } from '../../domain/ports';

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface LocalDeployerOptions {
  /** The docker CLI. @default 'docker' (from PATH) */
  docker?: string;
  /** Container names are `<prefix>-<app>-<short>`. @default 'slipway' */
  namePrefix?: string;
  /** How long a new container may take to become healthy before it is removed again. @default 60000 */
  healthTimeoutMs?: number;
  /** How long a container without a HEALTHCHECK must keep running to count as healthy. @default 2000 */
  graceMs?: number;
  /** Polling interval of `waitFor`. @default 500 */
  pollMs?: number;
  /** Environment of the docker CLI (e.g. DOCKER_HOST). @default this process's environment */
  env?: NodeJS.ProcessEnv;
  /** Runs the docker CLI with these arguments; `execFile` by default. */
  run?(args: string[]): Promise<CommandResult>;
  /**
   * Told when a rollout has ended (healthy, or rolled back), naming it by its `watch` id: local
   * mode's stand-in for ECS's deployment state change events. Without it nobody watches: the
   * workflow's own look after parking, or its recheck after the wait's timeout, sees the end.
   */
  onRolloutEvent?(watch: string): void | Promise<void>;
  /** Where a failing watcher or callback is reported. */
  log?(message: string): void;
  /**
   * Where environments' configurations are written for `docker run --env-file`: one 0600 file
   * per environment, `<configDir>/<app>.env` (the first environment) or `<app>.<env>.env`.
   * Without it, releasing an environment that has configuration values fails.
   */
  configDir?: string;
}

/** The label every container this deployer starts carries, with the app's name. */
export const APP_LABEL = 'slipway.app';
/** The label of a container of an environment beyond the app's first, with its name. */
export const ENVIRONMENT_LABEL = 'slipway.environment';
/** The single-image key in a build's images (a Dockerfile build); compose builds key by service. */
const SINGLE_IMAGE = 'app';
const DIGEST = /^sha256:[0-9a-f]{64}$/;

interface ContainerState {
  Status?: string;
  Running?: boolean;
  ExitCode?: number;
  Error?: string;
  StartedAt?: string;
  Health?: { Status?: string; Log?: { ExitCode?: number; Output?: string }[] };
}

/**
 * Local mode's deployer: one container per app, run with the `docker` CLI.
 *
 * - `prepare` picks the image: the single image (`app`), or for a compose app the `app` service
 *   when there is one, else the first service listed (local mode runs one container per app, not
 *   the whole compose project). The revision is the image reference: the image id itself when the
 *   digest is a local image id (local builds load images instead of pushing them), else
 *   `<repository>@<digest>`. Never a tag.
 * - `rollout` starts a new container next to the old one (labelled `slipway.app=<app>`); its
 *   deployment reference is the container's name.
 * - `status` waits for it to be healthy (the image's HEALTHCHECK, or running for `graceMs` when
 *   the image has none); then the app's other containers are stopped and removed. A new container
 *   that turns unhealthy, exits or is not healthy in time is removed and the old one keeps running.
 */
export class LocalDeployer implements Deployer {
  private readonly docker: string;
  private readonly prefix: string;
  private readonly healthTimeoutMs: number;
  private readonly graceMs: number;
  private readonly pollMs: number;
  /** When this process started each container (ms), and how each finished rollout ended. */
  private readonly started = new Map<string, number>();
  private readonly finished = new Map<string, RolloutStatus>();
  private readonly watchers = new Set<Promise<void>>();
  private readonly looking = new Map<string, Promise<RolloutStatus>>();
  private stopped = false;

  constructor(private readonly options: LocalDeployerOptions = {}) {
    this.docker = options.docker ?? 'docker';
    this.prefix = options.namePrefix ?? 'slipway';
    this.healthTimeoutMs = options.healthTimeoutMs ?? 60_000;
    this.graceMs = options.graceMs ?? 2_000;
    this.pollMs = options.pollMs ?? 500;
  }

  async prepare(target: DeployTarget, images: Record<string, string>, imageRepository: string, config?: DeployConfig) {
    appName(target);
    const key = SINGLE_IMAGE in images ? SINGLE_IMAGE : Object.keys(images)[0];
    const digest = key === undefined ? undefined : images[key];
    if (key === undefined || digest === undefined) throw new Error(`no image to deploy for app ${target.app}`);
    if (!DIGEST.test(digest)) throw new Error(`image ${key} has no sha256 digest (${digest}); not deploying by tag`);
    const local = await this.exec(['image', 'inspect', '--format', '{{.Id}}', digest]);
    await this.writeEnvFile(target, config);
    return { revision: local.code === 0 ? digest : `${imageRepository}@${digest}` };
  }

  /** The environment's env file: where its configuration's values are while it has any. */
  private envFile(target: DeployTarget): string | undefined {
    return this.options.configDir ? join(this.options.configDir, `${placeOf(target).base}.env`) : undefined;
  }

  /**
   * Writes the configuration's values as an env file (`KEY=VALUE` a line), 0600 from the first
   * byte and replaced whole (a file of its own, renamed over the old one), so no container ever
   * reads half of one; without values there is no file. The values never reach docker's argv.
   */
  private async writeEnvFile(target: DeployTarget, config: DeployConfig | undefined): Promise<void> {
    const file = this.envFile(target);
    const entries = Object.entries(config?.values ?? {});
    if (entries.length === 0) {
      if (file) await rm(file, { force: true });
      return;
    }
    if (!file) throw new Error(`app ${target.app}: this deployer has no directory for configuration env files`);
    for (const [key, value] of entries) {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key) || /[\r\n\0]/.test(value)) {
        throw new Error(`configuration key ${key.slice(0, 64)} cannot go in an env file (one line per variable)`);
      }
    }
    const dir = this.options.configDir as string;
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const temporary = join(dir, `.${placeOf(target).base}.${randomBytes(6).toString('hex')}.tmp`);
    try {
      await writeFile(temporary, entries.map(([key, value]) => `${key}=${value}\n`).join(''), {
        mode: 0o600,
        flag: 'wx',
      });
      await rename(temporary, file);
    } catch (error) {
      await rm(temporary, { force: true });
      throw error;
    }
  }

  async rollout(target: DeployTarget, revision: string) {
    const { app, base, environment } = placeOf(target);
    const healthcheck = await this.healthcheck(revision);
    const short = (revision.match(/sha256:([0-9a-f]{12})/)?.[1] ?? 'img') + randomBytes(3).toString('hex');
    const name = `${this.prefix}-${base}-${short}`;
    const args = [
      'run',
      '-d',
      '--name',
      name,
      '--label',
      `${APP_LABEL}=${app}`,
      '--label',
      `slipway.revision=${revision}`,
      ...(environment ? ['--label', `${ENVIRONMENT_LABEL}=${environment}`] : []),
    ];
    // The environment's configuration, by file: docker reads the values, its argv holds the path only.
    const envFile = this.envFile(target);
    if (envFile && existsSync(envFile)) args.push('--env-file', envFile);
    // The image's HEALTHCHECK applies by itself; Docker's default interval (30 s) is too slow to
    // see health within the timeout, so a check without its own interval runs every 2 s here.
    if (healthcheck && !healthcheck.Interval) args.push('--health-interval', '2s');
    args.push(revision);
    const out = await this.exec(args);
    if (out.code !== 0) {
      throw new Error(
        `docker run of ${revision} for app ${app} failed: ${firstLine(out.stderr) || `exit ${out.code}`}`,
      );
    }
    this.started.set(name, Date.now());
    if (this.options.onRolloutEvent) this.watch(target, name);
    return { deployment: name, watch: name };
  }

  /** Follows a rollout in the background, as ECS does, and reports its end once. */
  private watch(target: DeployTarget, name: string): void {
    const watcher = (async () => {
      const status = await this.waitFor(target, name);
      if (status.state !== 'in_progress') await this.options.onRolloutEvent?.(name);
    })()
      .catch((error: unknown) => {
        this.options.log?.(`rollout ${name}: ${error instanceof Error ? error.message : String(error)}`);
      })
      .finally(() => this.watchers.delete(watcher));
    this.watchers.add(watcher);
  }

  /** Resolves when every rollout being watched has ended and been reported. */
  async whenIdle(): Promise<void> {
    while (this.watchers.size > 0) await Promise.all([...this.watchers]);
  }

  /** Stops watching (local mode shutting down); rollouts in flight are left as they are. */
  stop(): void {
    this.stopped = true;
  }

  /**
   * One look at a time per rollout: the watcher, the workflow's own look and a rollout event may
   * ask at once, and a look that finds the new container healthy removes the old ones.
   */
  status(target: DeployTarget, deployment: string): Promise<RolloutStatus> {
    const done = this.finished.get(deployment);
    if (done) return Promise.resolve(done);
    const current = this.looking.get(deployment);
    if (current) return current;
    const look = this.look(target, deployment).finally(() => this.looking.delete(deployment));
    this.looking.set(deployment, look);
    return look;
  }

  private async look(target: DeployTarget, deployment: string): Promise<RolloutStatus> {
    const { app, base } = placeOf(target);
    const out = await this.exec(['inspect', '--format', '{{json .State}}', deployment]);
    if (out.code !== 0) {
      return this.finish(deployment, { state: 'rolled_back', reason: `the new container ${deployment} is gone` });
    }
    let state: ContainerState;
    try {
      state = JSON.parse(out.stdout) as ContainerState;
    } catch {
      throw new Error(`docker inspect of ${deployment} printed no container state: ${firstLine(out.stdout)}`);
    }
    const started = this.startedAt(deployment, state);
    const elapsed = Date.now() - started;

    const health = state.Health?.Status;
    if (
      state.Status === 'exited' ||
      state.Status === 'dead' ||
      (state.Running === false && state.Status !== 'created')
    ) {
      const why = state.Error ? `: ${state.Error}` : '';
      return this.rollBack(deployment, `the new container exited with code ${state.ExitCode ?? '?'}${why}`);
    }
    if (health === 'unhealthy') {
      const last = state.Health?.Log?.at(-1);
      const output = last?.Output?.trim();
      return this.rollBack(deployment, `the new container is unhealthy${output ? `: ${output}` : ''}`);
    }
    const healthy = health === 'healthy' || (health === undefined && state.Running === true && elapsed >= this.graceMs);
    if (healthy) {
      await this.removeOthers(app, base, deployment);
      return this.finish(deployment, { state: 'completed', running: 1, desired: 1 });
    }
    if (elapsed > this.healthTimeoutMs) {
      return this.rollBack(deployment, `the new container was not healthy within ${duration(this.healthTimeoutMs)}`);
    }
    return { state: 'in_progress', running: 0, desired: 1 };
  }

  /** Polls `status` every `pollMs` until the rollout has ended, or the deployer was stopped. */
  async waitFor(target: DeployTarget, deployment: string): Promise<RolloutStatus> {
    for (;;) {
      const status = await this.status(target, deployment);
      if (status.state !== 'in_progress' || this.stopped) return status;
      await new Promise((resolve) => setTimeout(resolve, this.pollMs));
    }
  }

  private startedAt(name: string, state: ContainerState): number {
    let started = this.started.get(name);
    if (started === undefined) {
      const parsed = state.StartedAt ? Date.parse(state.StartedAt) : Number.NaN;
      // Docker reports 0001-01-01 for a container that never started.
      started = Number.isFinite(parsed) && parsed > 0 ? parsed : Date.now();
      this.started.set(name, started);
    }
    return started;
  }

  /**
   * Tears an environment's containers down (a review app whose merge request was merged or
   * closed): every container of it this deployer started, stopped and removed.
   */
  async remove(target: DeployTarget): Promise<void> {
    const { app, base } = placeOf(target);
    await this.removeOthers(app, base, '');
  }

  private async rollBack(name: string, reason: string): Promise<RolloutStatus> {
    const out = await this.exec(['rm', '-f', name]);
    const status: RolloutStatus = { state: 'rolled_back', reason };
    if (out.code !== 0) status.reason = `${reason} (and removing it failed: ${firstLine(out.stderr)})`;
    return this.finish(name, status);
  }

  /** Stops and removes the app's other containers (those this deployer started before). */
  private async removeOthers(app: string, base: string, keep: string): Promise<void> {
    const listed = await this.exec(['ps', '-a', '--filter', `label=${APP_LABEL}=${app}`, '--format', '{{.Names}}']);
    if (listed.code !== 0) throw new Error(`docker ps for app ${app} failed: ${firstLine(listed.stderr)}`);
    // This environment's containers only: `<prefix>-<app>-…` for the first, `<prefix>-<app>.<env>-…` for another.
    const mine = `${this.prefix}-${base}-`;
    const others = listed.stdout
      .split('\n')
      .map((line) => line.trim())
      .filter((name) => name !== '' && name !== keep && name.startsWith(mine));
    for (const name of others) {
      await this.exec(['stop', name]);
      const removed = await this.exec(['rm', '-f', name]);
      // Gone already (removed meanwhile) is what was wanted.
      if (removed.code !== 0 && !/no such container/i.test(removed.stderr))
        throw new Error(`removing the old container ${name} failed: ${firstLine(removed.stderr)}`);
    }
  }

  private finish(name: string, status: RolloutStatus): RolloutStatus {
    this.started.delete(name);
    this.finished.set(name, status);
    return status;
  }

  private async healthcheck(image: string): Promise<{ Test?: string[]; Interval?: number } | null> {
    const out = await this.exec(['image', 'inspect', '--format', '{{json .Config.Healthcheck}}', image]);
    if (out.code !== 0) throw new Error(`docker image inspect ${image} failed: ${firstLine(out.stderr)}`);
    try {
      const parsed = JSON.parse(out.stdout) as { Test?: string[]; Interval?: number } | null;
      if (!parsed?.Test || parsed.Test.length === 0 || parsed.Test[0] === 'NONE') return null;
      return parsed;
    } catch {
      return null;
    }
  }

  private async exec(args: string[]): Promise<CommandResult> {
    if (this.options.run) return this.options.run(args);
    return new Promise((resolve, reject) => {
      execFile(
        this.docker,
        args,
        { encoding: 'utf8', maxBuffer: 16 * 1024 * 1024, env: this.options.env ?? process.env },
        (error, stdout, stderr) => {
          if (error && (error as NodeJS.ErrnoException).code === 'ENOENT') {
            reject(new Error(`the docker CLI (${this.docker}) was not found on PATH; local mode deploys with docker`));
            return;
          }
          const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
          resolve({ code, stdout, stderr });
        },
      );
    });
  }
}

function appName(target: DeployTarget): string {
  if (!APP_NAME.test(target.app)) throw new Error(`not an app name: ${target.app}`);
  return target.app;
}

/**
 * Where a target's containers live: the app's first environment as `<prefix>-<app>-…`, another
 * as `<prefix>-<app>.<env>-…` (a dot is in no app name, so the two never overlap), a review app
 * `review/<iid>` as `<prefix>-<app>.review.<iid>-…` (a dot is in no environment name either),
 * labelled with the app and, for another environment, `slipway.environment`.
 */
function placeOf(target: DeployTarget): { app: string; base: string; environment?: string } {
  const app = appName(target);
  if (!target.environment) return { app, base: app };
  const review = REVIEW_ENVIRONMENT.exec(target.environment);
  if (review) return { app, base: `${app}.review.${review[1]}`, environment: target.environment };
  if (!ENVIRONMENT_NAME.test(target.environment)) throw new Error(`not an environment name: ${target.environment}`);
  return { app, base: `${app}.${target.environment}`, environment: target.environment };
}

function firstLine(text: string): string {
  return text.trim().split('\n')[0] ?? '';
}

function duration(ms: number): string {
  return ms >= 1000 ? `${Math.round(ms / 100) / 10} s` : `${ms} ms`;
}
