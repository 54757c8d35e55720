import { appendFileSync, existsSync, mkdirSync, rmSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { buildspecInputs } from '../../build/buildspec-env';
import { bundleTools } from '../../build/bundle-tools';
import { APP_NAME } from '../../domain/apps';
import type { Builder, BuildJob, BuildOutcome, BuildRunState } from '../../domain/ports';
import { type BuildspecResult, runBuildspec } from './buildspec-runner';

export interface LocalBuilderOptions {
  /** The state dir: logs go to `<root>/builds/<app>/<build>.log`, work dirs under `<root>/work/`. */
  root: string;
  /** The local vault's key file (the deploy key is decrypted inside the build with it). */
  vaultKeyFile: string;
  /** The repository's `buildspecs/` folder (build.yml and bin/). */
  buildspecDir: string;
  /** A phase started (CodeBuild phase type: INSTALL, PRE_BUILD, BUILD, POST_BUILD). */
  onRunning?(buildId: string, app: string, phase: string): void | Promise<void>;
  /** The build ended. Called exactly once per started build. */
  onFinished?(buildId: string, app: string, outcome: BuildOutcome): void | Promise<void>;
  /**
   * Environment for builds, over a few variables passed through from this process (PATH, HOME,
   * locale, proxies, DOCKER_*, BUILDKIT_* and BUILDX_* settings, and the names listed in
   * SLIPWAY_BUILD_PASS_ENV). Nothing else of this process's environment reaches a build.
   */
  env?: Record<string, string>;
  /** Total time a build may take (default 60 minutes, CodeBuild's default). */
  timeoutMs?: number;
  /** Keep each build's work dir (checkout, temp files) after it ends; for tests. */
  keepWorkDirs?: boolean;
  /** Where Slipway's sources are (to bundle the build tools); found from the working directory when absent. */
  projectRoot?: string;
  /** Where a failing callback is reported. */
  log?(message: string): void;
  /**
   * Builds run at once; more wait their turn, in order, and stay `queued` meanwhile.
   * @default the number of CPUs
   */
  maxConcurrent?: number;
}

const BUILD_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const PASS_THROUGH = [
  'PATH',
  'HOME',
  'USER',
  'LOGNAME',
  'LANG',
  'LC_ALL',
  'LC_CTYPE',
  'TZ',
  'HTTP_PROXY',
  'HTTPS_PROXY',
  'NO_PROXY',
  'http_proxy',
  'https_proxy',
  'no_proxy',
];
const PASS_THROUGH_PREFIXES = ['DOCKER_', 'BUILDKIT_', 'BUILDX_'];
/** Names of further variables of this process to pass into builds, comma-separated. */
export const PASS_ENV_VARIABLE = 'SLIPWAY_BUILD_PASS_ENV';

/**
 * Local mode's builder: runs buildspecs/build.yml on this machine with the buildspec runner and
 * the machine's git, ssh and docker (images are loaded into the local Docker, not pushed).
 * `start` returns at once; the build runs in the background and reports through the callbacks.
 */
export class LocalBuilder implements Builder {
  private readonly running = new Set<Promise<void>>();
  private tools?: Promise<{ planner: string; localDecrypt: string }>;
  private readonly slots: number;
  private active = 0;
  private readonly waiting: Array<() => void> = [];
  private readonly controllers = new Map<string, AbortController>();
  /** How the last builds ended, for `describe` (bounded: the oldest are forgotten). */
  private readonly outcomes = new Map<string, BuildOutcome>();

  constructor(private readonly options: LocalBuilderOptions) {
    this.slots = Math.max(1, Math.floor(options.maxConcurrent ?? availableParallelism()));
  }

  /** Waits for a free build slot (FIFO). */
  private async acquireSlot(): Promise<void> {
    if (this.active < this.slots) {
      this.active += 1;
      return;
    }
    await new Promise<void>((resolve) => this.waiting.push(resolve));
  }

  private releaseSlot(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.active -= 1;
  }

  async start(job: BuildJob): Promise<{ ref: string; logLocation: string }> {
    if (!APP_NAME.test(job.app)) throw new Error(`not an app name: ${job.app}`);
    if (!BUILD_ID.test(job.buildId)) throw new Error(`not a build id: ${job.buildId}`);
    const root = resolve(this.options.root);
    const logDir = join(root, 'builds', job.app);
    mkdirSync(logDir, { recursive: true, mode: 0o700 });
    const logFile = join(logDir, `${job.buildId}.log`);
    const controller = new AbortController();
    this.controllers.set(job.buildId, controller);
    const run = this.acquireSlot()
      .then(() => this.run(job, root, logFile, controller.signal).finally(() => this.releaseSlot()))
      .finally(() => {
        this.running.delete(run);
        if (this.controllers.get(job.buildId) === controller) this.controllers.delete(job.buildId);
      });
    this.running.add(run);
    return { ref: `local:${job.buildId}`, logLocation: logFile };
  }

  /** Stops a build (`local:<id>`): killed if running, never started if still waiting for a slot. */
  async cancel(ref: string, reason: string): Promise<void> {
    this.controllers.get(ref.replace(/^local:/, ''))?.abort(reason);
  }

  /** How a run stands: from memory; a run this process does not know was lost with an earlier process. */
  async describe(ref: string): Promise<BuildRunState> {
    const id = ref.replace(/^local:/, '');
    const outcome = this.outcomes.get(id);
    if (outcome) return { ...outcome };
    if (this.controllers.has(id)) return { status: 'running' };
    return { status: 'failed', reason: 'the local build is gone: local mode stopped while it ran' };
  }

  /** Resolves when no build is running (and every callback has returned). */
  async whenIdle(): Promise<void> {
    while (this.running.size > 0) await Promise.allSettled([...this.running]);
  }

  /** The work dir a build uses: `<root>/work/<buildId>` (checkout in `checkout/`, TMPDIR in `tmp/`). */
  workDir(buildId: string): string {
    return join(resolve(this.options.root), 'work', buildId);
  }

  private async run(job: BuildJob, root: string, logFile: string, signal: AbortSignal): Promise<void> {
    const work = this.workDir(job.buildId);
    let outcome: BuildOutcome;
    try {
      rmSync(work, { recursive: true, force: true });
      mkdirSync(join(work, 'tmp'), { recursive: true, mode: 0o700 });
      const tools = await this.bundle(root);
      const result = await runBuildspec({
        buildspec: join(this.options.buildspecDir, 'build.yml'),
        cwd: work,
        logFile,
        timeoutMs: this.options.timeoutMs ?? 60 * 60_000,
        signal,
        env: this.environment(job, work, tools),
        onPhase: (phase) => this.notify(() => this.options.onRunning?.(job.buildId, job.app, phase)),
      });
      outcome = outcomeOf(result);
    } catch (error) {
      outcome = { status: 'failed', images: {}, reason: `the build could not run: ${(error as Error).message}` };
      try {
        appendFileSync(logFile, `[Container] ${outcome.reason}\n`, { mode: 0o600 });
      } catch {
        // The outcome carries the reason all the same.
      }
    } finally {
      if (!this.options.keepWorkDirs) rmSync(work, { recursive: true, force: true });
    }
    this.outcomes.set(job.buildId, outcome);
    if (this.outcomes.size > 1000) this.outcomes.delete(this.outcomes.keys().next().value as string);
    await this.notify(() => this.options.onFinished?.(job.buildId, job.app, outcome));
  }

  private environment(job: BuildJob, work: string, tools: { planner: string; localDecrypt: string }) {
    const env: Record<string, string> = {};
    const extra = (process.env[PASS_ENV_VARIABLE] ?? '').split(',').map((name) => name.trim());
    for (const [name, value] of Object.entries(process.env)) {
      if (value === undefined || name.startsWith('SLIPWAY_')) continue;
      if (
        PASS_THROUGH.includes(name) ||
        extra.includes(name) ||
        PASS_THROUGH_PREFIXES.some((prefix) => name.startsWith(prefix))
      ) {
        env[name] = value;
      }
    }
    return {
      ...env,
      ...this.options.env,
      ...buildspecInputs(job, { push: false, registry: '' }),
      SLIPWAY_NODE: process.execPath,
      SLIPWAY_TOOLS: resolve(tools.planner, '..'),
      SLIPWAY_LOCAL_DECRYPT: `${shellQuote(process.execPath)} ${shellQuote(tools.localDecrypt)}`,
      SLIPWAY_VAULT_KEY_FILE: resolve(this.options.vaultKeyFile),
      CODEBUILD_SRC_DIR: resolve(this.options.buildspecDir),
      CODEBUILD_BUILD_ID: `local:${job.buildId}`,
      TMPDIR: join(work, 'tmp'),
    };
  }

  /** Bundles the planner and the local decrypter once per builder, into `<root>/tools/`. */
  private bundle(root: string): Promise<{ planner: string; localDecrypt: string }> {
    this.tools ??= bundleTools(join(root, 'tools'), ['plan-images.mjs', 'local-decrypt.mjs'], {
      ...(this.options.projectRoot ? { projectRoot: this.options.projectRoot } : {}),
    }).then(([planner, localDecrypt]) => {
      if (!planner || !localDecrypt || !existsSync(planner) || !existsSync(localDecrypt)) {
        throw new Error('bundling the build tools produced no files');
      }
      return { planner, localDecrypt };
    });
    this.tools.catch(() => {
      this.tools = undefined;
    });
    return this.tools;
  }

  private async notify(callback: () => void | Promise<void>): Promise<void> {
    try {
      await callback();
    } catch (error) {
      this.options.log?.(`local builder: a build callback failed: ${(error as Error).message}`);
    }
  }
}

/** The build's outcome from the runner's result: digests from SLIPWAY_IMAGES, or why it failed. */
export function outcomeOf(result: BuildspecResult): BuildOutcome {
  if (result.status === 'FAILED') {
    const where = result.failedStep ?? result.failedPhase?.toLowerCase() ?? 'build';
    const command = result.failedSimpleCommand ?? (result.failedCommand ? summarize(result.failedCommand) : undefined);
    let reason: string;
    if (result.failedMessage) reason = `${where}: ${result.failedMessage}`;
    else if (command) reason = `${where}: ${command}${result.error ? ` (${result.error})` : ''}`;
    else reason = result.error ?? `${where} failed`;
    return { status: 'failed', images: {}, reason };
  }
  const images = parseImages(result.exportedVariables.SLIPWAY_IMAGES);
  if (!images) return { status: 'failed', images: {}, reason: 'the build exported no image digests (SLIPWAY_IMAGES)' };
  return { status: 'succeeded', images };
}

function parseImages(value: string | undefined): Record<string, string> | undefined {
  if (!value) return undefined;
  try {
    const parsed = JSON.parse(value) as unknown;
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return undefined;
    const entries = Object.entries(parsed);
    if (entries.length === 0) return undefined;
    if (!entries.every(([, digest]) => typeof digest === 'string' && /^sha256:[0-9a-f]{64}$/.test(digest))) {
      return undefined;
    }
    return Object.fromEntries(entries) as Record<string, string>;
  } catch {
    return undefined;
  }
}

/** A command's first meaningful line (not a comment, `set -…` or blank), shortened. */
function summarize(command: string): string {
  const lines = command.split('\n').map((line) => line.trim());
  const meaningful = lines.filter((line) => line !== '' && !line.startsWith('#') && !/^set [-+]/.test(line));
  const first = meaningful[0] ?? lines[0] ?? '';
  const text = first.length > 160 ? `${first.slice(0, 159)}…` : first;
  return meaningful.length > 1 ? `${text} …` : text;
}

function shellQuote(text: string): string {
  return `'${text.replaceAll("'", "'\\''")}'`;
}
