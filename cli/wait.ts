import type { Command } from 'commander';
import type { BuildStatus, ReleaseOutcome, ReleaseStatus } from '../functions/domain/model';
import { type ApiTarget, CliError, callApi } from './api-client';
import { printable } from './output';

/**
 * `--wait` for `deploy` and `releases rollback`: polls the build, then its release, printing a
 * progress line on stderr whenever something changes, until the release is live (resolves with
 * it) or the build or release ended otherwise (a CliError: one line on stderr, exit 1).
 */

const enc = encodeURIComponent;

/** A build as the admin API returns it (the fields the wait reads; the rest passes through). */
export type BuildView = Record<string, unknown> & {
  id: string;
  app: string;
  status: BuildStatus;
  commit: string;
  phase?: string;
  reason?: string;
  outcome?: ReleaseOutcome;
  release?: string;
};

/** A release as the admin API returns it. */
export type ReleaseView = Record<string, unknown> & {
  id: string;
  app: string;
  status: ReleaseStatus;
  build: string;
  commit: string;
  liveAt?: string;
  reason?: string;
  running?: number;
  desired?: number;
};

export interface WaitOptions {
  /** Stop waiting (exit 1; the release goes on) after this many minutes. */
  timeoutMinutes: number;
  /** Poll interval; default `SLIPWAY_POLL_MS`, else 1 s. */
  pollMs?: number;
  /** Where progress lines go; default stderr, prefixed `slipway: `. */
  progress?: (line: string) => void;
  /**
   * Resolve (with the release) once it waits for approval, instead of waiting for a person for
   * days: `promote --wait` to an environment that asks for approval.
   */
  stopAtApproval?: boolean;
}

const DEFAULT_POLL_MS = 1000;

function pollInterval(env: NodeJS.ProcessEnv = process.env): number {
  const ms = Number(env.SLIPWAY_POLL_MS);
  return Number.isFinite(ms) && ms > 0 ? ms : DEFAULT_POLL_MS;
}

/** `--timeout <minutes>`: a positive number, else a usage error (exit 2). */
export function parseTimeout(value: string, command: Command): number {
  const minutes = Number(value);
  if (!Number.isFinite(minutes) || minutes <= 0) {
    command.error(`error: --timeout must be a positive number of minutes, not "${value}"`, { exitCode: 2 });
  }
  return minutes;
}

const why = (reason: string | undefined) => (reason ? `: ${reason}` : '');

type Check<R> = { done: R } | { progress: string };

/** One wait: a deadline shared by the build and release phases, and the last line printed. */
class Wait {
  private readonly deadline: number;
  private readonly pollMs: number;
  private readonly progress: (line: string) => void;
  private last: string | undefined;

  constructor(
    private readonly api: ApiTarget,
    private readonly app: string,
    private readonly options: WaitOptions,
  ) {
    this.deadline = Date.now() + options.timeoutMinutes * 60_000;
    this.pollMs = options.pollMs ?? pollInterval();
    this.progress = options.progress ?? ((line) => process.stderr.write(`slipway: ${printable(line)}\n`));
  }

  say(line: string): void {
    if (line === this.last) return;
    this.last = line;
    this.progress(line);
  }

  /** Polls `load` until `check` says done (or throws); `goesOn` tells where to look after a timeout. */
  async until<T, R>(load: () => Promise<T>, check: (value: T) => Check<R>, goesOn: string): Promise<R> {
    for (;;) {
      const result = check(await load());
      if ('done' in result) return result.done;
      this.say(result.progress);
      const left = this.deadline - Date.now();
      if (left <= 0) {
        const minutes = this.options.timeoutMinutes;
        throw new CliError(
          `stopped waiting after ${minutes} minute${minutes === 1 ? '' : 's'} (${result.progress}); ${goesOn}`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, Math.min(this.pollMs, left)));
    }
  }

  async build(id: string): Promise<ReleaseView> {
    const releaseId = await this.until(
      () => callApi<BuildView>(this.api, 'GET', `/v1/apps/${enc(this.app)}/builds/${enc(id)}`),
      checkBuild,
      `it goes on: see slipway builds ${this.app}`,
    );
    return this.release(releaseId);
  }

  async release(id: string): Promise<ReleaseView> {
    const release = await this.until(
      () => callApi<ReleaseView>(this.api, 'GET', `/v1/apps/${enc(this.app)}/releases/${enc(id)}`),
      (release) => checkRelease(release, this.options.stopAtApproval ?? false),
      `the release goes on: see slipway releases ${this.app}`,
    );
    if (release.status === 'awaiting_approval') {
      this.say(
        `release ${release.id} waits for a Maintainer's approval: slipway approve ${this.app} ${release.id} (or slipway reject)`,
      );
    }
    if (release.status === 'replaced') {
      this.say(`release ${release.id} went live at ${release.liveAt} and has since been replaced by a newer release`);
    }
    return release;
  }
}

/** A build is followed until it names its release; it may end before (failed, overtaken). */
function checkBuild(build: BuildView): Check<string> {
  if (build.release) return { done: build.release };
  if (build.status === 'failed' || build.status === 'canceled') {
    throw new CliError(`build ${build.id} ${build.status}${why(build.reason)}`);
  }
  if (build.status === 'superseded' || build.outcome === 'superseded') {
    throw new CliError(`build ${build.id} superseded: a newer build overtook it before it was released`);
  }
  if (build.outcome === 'live') throw new CliError(`build ${build.id} went live but names no release`);
  if (build.outcome) throw new CliError(`build ${build.id} ${build.outcome}${why(build.reason)}`);
  // Built, but the workflow has not ended: it waits for the app's rollout lock.
  if (build.status === 'succeeded')
    return { progress: `build ${build.id} succeeded, waiting for its turn to roll out` };
  return { progress: `build ${build.id} ${build.status}${build.phase ? ` (${build.phase})` : ''}` };
}

function checkRelease(release: ReleaseView, stopAtApproval: boolean): Check<ReleaseView> {
  switch (release.status) {
    case 'live':
      return { done: release };
    case 'awaiting_approval':
      if (stopAtApproval) return { done: release };
      return { progress: `release ${release.id} waits for approval` };
    case 'failed':
    case 'rolled_back':
    case 'rejected':
    case 'expired':
      throw new CliError(`release ${release.id} ${release.status}${why(release.reason)}`);
    case 'replaced':
      // It went live, and a newer release went live after it while we were not looking.
      if (release.liveAt) return { done: release };
      throw new CliError(`release ${release.id} replaced by a newer release before it went live`);
  }
  const tasks =
    typeof release.running === 'number' && typeof release.desired === 'number'
      ? `: ${release.running}/${release.desired} tasks running`
      : '';
  return { progress: `release ${release.id} ${release.status}${tasks}` };
}

/** Waits for a build's release to go live (deploy --wait). */
export function waitForBuild(api: ApiTarget, app: string, buildId: string, options: WaitOptions): Promise<ReleaseView> {
  return new Wait(api, app, options).build(buildId);
}

/** Waits for a release to go live (releases rollback --wait). */
export function waitForRelease(
  api: ApiTarget,
  app: string,
  releaseId: string,
  options: WaitOptions,
): Promise<ReleaseView> {
  return new Wait(api, app, options).release(releaseId);
}
