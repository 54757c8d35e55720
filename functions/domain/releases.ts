import { awaitApproval, expire } from './approvals';
import { startBuild } from './builds';
import { environmentConfig } from './environment-config';
import { firstEnvironment, laneOf, targetOf } from './environments';
import { ConflictError, NotFoundError, StaleWriteError, TransientError, ValidationError } from './errors';
import { shortSha } from './events';
import { fanOut } from './fan-out';
import { newId } from './ids';
import type { App, Build, Release, ReleaseOutcome, RolloutMode, RolloutTurn } from './model';
import type {
  Builder,
  Clock,
  Deployer,
  DeployTarget,
  Registry,
  ReviewJob,
  RolloutState,
  Store,
  TaskTokens,
  Vault,
  Workflow,
} from './ports';
import { type ReleaseReporting, reportBuildStarted, reportDeploying, reportFinal } from './release-reports';
import { announceReviewApp, runReviewJob } from './review-apps';
import { takeRolloutTurn } from './rollout';
import { isTerminalBuild } from './states';
import { type BuildWaitOutput, recheckBuild, recordTaskCounts, rolloutWaitOutput } from './waits';

/**
 * The release workflow's steps (PRODUCT.md step 5), one action per Task of
 * `workflow/release.asl.json`. Each step is idempotent: Step Functions retries a step that
 * failed transiently, so running it twice must not record twice.
 *
 * Per app, one rollout at a time: a lock item taken with a conditional write
 * (domain/rollout.ts decides whose turn it is; `Store.takeRolloutLock` writes). In `superseded` mode a build that a newer push overtook before it
 * took the lock is skipped; in `queued` mode it waits until older builds have had their turn.
 *
 * Decision: a superseded build has already `succeeded` (a terminal build state), so it is not
 * re-labelled `superseded`; the workflow ends without creating a release for it and reports
 * `superseded`. Only builds overtaken before they finish could carry the `superseded` status.
 */

export interface ReleaseStepDeps {
  store: Store;
  builder?: Builder;
  registry?: Registry;
  deployer: Deployer;
  /** Opens the environment's configuration for the deployer (prepare); needed once an environment has one. */
  vault?: Vault;
  clock?: Clock;
  /** GitLab commit statuses and deployments, Slack notices (release-reports.ts). Never fails a release. */
  reporting?: ReleaseReporting;
  /**
   * Completes the workflow's waits (task tokens). A step that parks on a token stores it and
   * then looks once itself, completing the token when what it waits for has already happened.
   */
  tasks?: TaskTokens;
  /** The release workflow named by a step's `stateMachine` (fan-out starts executions of it). */
  releaseWorkflow?: (stateMachine: string | undefined) => Workflow;
  /** Likewise for a build told to wait for its rollout turn: resolves when the app's builds or lock changed, or after a while. */
  awaitTurn?: (app: string) => Promise<void>;
  /** Told how each execution ended, after it was recorded and reported (tests, benchmarks). */
  report?: (summary: ReleaseSummary) => Promise<void>;
}

export const RELEASE_ACTIONS = [
  'startBuild',
  'checkBuild',
  'fanOut',
  'awaitApproval',
  'recordExpired',
  'acquire',
  'recordSuperseded',
  'prepare',
  'rollout',
  'checkRollout',
  'recordLive',
  'recordRolledBack',
  'recordFailure',
  'releaseLock',
  'report',
  'reviewJob',
] as const;
export type ReleaseAction = (typeof RELEASE_ACTIONS)[number];

export interface ReleaseStepInput {
  action: ReleaseAction;
  app: string;
  build: string;
  /** The release being rolled out ('' before there is one; set from the start for a rollback). */
  release?: string;
  deployment?: string;
  revision?: string;
  /** How many times this wait loop ran so far. */
  polls?: number;
  /** The task token of a step the workflow parks on (`.waitForTaskToken`): startBuild, rollout. */
  taskToken?: string;
  /** The state machine the execution runs in (`$$.StateMachine.Id`): fan-out starts executions of it. */
  stateMachine?: string;
  /** Why the rollout failed (recordRolledBack). */
  reason?: string;
  /** The caught error (recordFailure): Step Functions' `{Error, Cause}`. */
  error?: { Error?: string; Cause?: string };
  /** A review-app job (reviewJob, domain/review-apps.ts): its `build` is the job's id. */
  review?: ReviewJob;
}

export type { RolloutMode, RolloutTurn };

export interface ReleaseSummary {
  app: string;
  build: string;
  outcome: ReleaseOutcome;
  release?: Release;
  reason?: string;
}

export { QUEUE_WINDOW_MS, ROLLOUT_LEASE_MS, rolloutPolicy } from './rollout';
export { TransientError };

const MAX_REASON_LENGTH = 1000;

/** Runs one step of the release workflow. Transient failures are thrown as TransientError. */
export async function runReleaseStep(deps: ReleaseStepDeps, input: ReleaseStepInput): Promise<Record<string, unknown>> {
  if (!input || typeof input.app !== 'string' || typeof input.build !== 'string') {
    throw new ValidationError('a release step needs an app and a build');
  }
  try {
    return await step(deps, input);
  } catch (error) {
    if (isTransient(error)) {
      const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      throw new TransientError(message, { cause: error });
    }
    throw error;
  }
}

async function step(deps: ReleaseStepDeps, input: ReleaseStepInput): Promise<Record<string, unknown>> {
  const { store } = deps;
  const { app, build: buildId } = input;
  const now = () => (deps.clock?.now() ?? new Date()).toISOString();
  switch (input.action) {
    case 'startBuild': {
      if (!deps.builder || !deps.registry) throw new ValidationError('starting a build needs a builder and a registry');
      const overtaken = await supersedeIfOvertaken(deps, app, buildId, now());
      if (overtaken) return completeNow(deps, input, { status: overtaken.status });
      // The token first: the build's end event, whenever it comes, finds it (domain/waits.ts).
      if (input.taskToken) await parkOnBuild(store, app, buildId, input.taskToken);
      const started = await startBuild(
        { store, builder: deps.builder, registry: deps.registry, clock: deps.clock },
        app,
        buildId,
      );
      if (!isTerminalBuild(started.status)) {
        await reportBuildStarted(store, deps.reporting, app, buildId);
        await supersedeOlder(deps, app, buildId, now());
      }
      // A build that ended before its token was stored (or could not start) completes the wait here.
      const build = isTerminalBuild(started.status) ? started : await mustGetBuild(store, app, buildId);
      if (isTerminalBuild(build.status)) return completeNow(deps, input, { status: build.status });
      return { status: build.status, polls: 0 };
    }
    case 'checkBuild': {
      // Only after the build wait timed out (its end event was lost): one look at the builder.
      let build = await mustGetBuild(store, app, buildId);
      if (!isTerminalBuild(build.status)) build = await recheckBuild(deps, build);
      if (!isTerminalBuild(build.status)) build = (await supersedeIfOvertaken(deps, app, buildId, now())) ?? build;
      return { status: build.status, polls: (input.polls ?? 0) + 1 };
    }
    case 'awaitApproval':
      // A release given from the start (promotion, rollback) waits here if its environment asks.
      return awaitApproval(deps, app, mustRelease(input), input.taskToken);
    case 'recordExpired':
      await expire(deps, app, mustRelease(input));
      return { outcome: 'expired' };
    case 'acquire': {
      // A release given from the start (rollback, promotion) takes its own environment's lock,
      // whenever it is free; one made by fan-out competes there as its build would (the app's mode).
      const [settings, given] = await Promise.all([
        store.getApp(app),
        input.release ? store.getRelease(app, input.release) : undefined,
      ]);
      const mode: RolloutMode = input.release && !given?.fannedOut ? 'immediate' : (settings?.mode ?? 'superseded');
      const target = given?.fannedOut ? given.environment : undefined;
      const environment = input.release ? given?.environment : (await store.getBuild(app, buildId))?.environment;
      const lane =
        environment === undefined ? undefined : laneOf(settings ?? (await mustGetApp(store, app)), environment);
      let outcome = await takeRolloutTurn(deps, app, buildId, mode, lane, target);
      if (outcome === 'wait' && deps.awaitTurn) {
        await deps.awaitTurn(app);
        outcome = await takeRolloutTurn(deps, app, buildId, mode, lane, target);
      }
      return { outcome, polls: (input.polls ?? 0) + 1 };
    }
    case 'recordSuperseded':
      // A release made by fan-out ends superseded itself; its build's outcome is its own release's.
      if (input.release) await supersedeRelease(store, app, input.release, now());
      else await store.recordBuildOutcome(app, buildId, { outcome: 'superseded' });
      return { outcome: 'superseded' };
    case 'fanOut': {
      if (!deps.releaseWorkflow) throw new ValidationError('fan-out needs the release workflow');
      return fanOut({ store, clock: deps.clock, workflow: deps.releaseWorkflow(input.stateMachine) }, app, buildId);
    }
    case 'prepare': {
      const release = await pendingRelease(deps, input, now());
      const target = await releaseTarget(store, app, release);
      const repository = deps.registry ? await deps.registry.ensureRepository(app) : '';
      // The environment's configuration, opened here and handed on: never in the step's output.
      const config = await environmentConfig(deps, app, release);
      const { revision } = await deps.deployer.prepare(target, release.images, repository, config);
      const deploying =
        release.status === 'pending' ? await store.transitionRelease(app, release.id, 'pending', 'deploying') : release;
      await reportDeploying(store, deps.reporting, deploying);
      return { release: release.id, revision };
    }
    case 'rollout': {
      if (!input.revision) throw new ValidationError('rollout needs the prepared revision');
      const target = await targetOfRelease(store, app, input.release);
      const { deployment, watch } = await deps.deployer.rollout(target, input.revision);
      if (input.taskToken) {
        const release = mustRelease(input);
        // Where the rollout's events will look, then the token; then one look of our own, for a
        // rollout that ended before the token was stored.
        if (watch) await store.watchRollout(watch, { app, release });
        await store.updateRelease(app, release, { rolloutRef: deployment, waitToken: input.taskToken });
        const status = await deps.deployer.status(target, deployment);
        await recordTaskCounts(store, app, release, status);
        if (status.state !== 'in_progress') return completeNow(deps, input, rolloutWaitOutput(deployment, status));
      }
      return { deployment, state: 'in_progress', polls: 0, reason: '' };
    }
    case 'checkRollout': {
      // Only after the rollout wait timed out (its end event was lost): one look at the deployer.
      const deployment =
        input.deployment || (input.release ? (await store.getRelease(app, input.release))?.rolloutRef : undefined);
      if (!deployment) throw new ValidationError('checkRollout needs the deployment');
      const target = await targetOfRelease(store, app, input.release);
      const status = await deps.deployer.status(target, deployment);
      const polls = (input.polls ?? 0) + 1;
      if (input.release) await recordTaskCounts(store, app, input.release, status);
      return {
        deployment,
        state: status.state satisfies RolloutState,
        polls,
        reason: status.reason ?? '',
      };
    }
    case 'recordLive':
      return { outcome: await recordLive(deps, app, mustRelease(input), now()) };
    case 'recordRolledBack': {
      const id = mustRelease(input);
      const release = await store.getRelease(app, id);
      if (release?.status === 'deploying') {
        await store.transitionRelease(app, id, 'deploying', 'rolled_back', {
          endedAt: now(),
          reason: truncate(input.reason || 'the rollout failed and ECS rolled the service back'),
        });
      }
      return { outcome: 'rolled_back' };
    }
    case 'recordFailure':
      return { outcome: await recordFailure(deps, input, now()) };
    case 'releaseLock':
      await store.releaseRollout(app, buildId, await laneOfRelease(store, app, input.release, buildId));
      return { released: true };
    case 'report':
      await report(deps, input);
      return { reported: true };
    case 'reviewJob':
      if (!input.review) throw new ValidationError('reviewJob needs the job');
      return runReviewJob(deps, input.review);
    default:
      throw new ValidationError(`unknown release step ${String((input as { action?: unknown }).action)}`);
  }
}

/**
 * Superseded mode: a build that a newer push of the app overtook while it was still queued or
 * running is not worth finishing. It is recorded `superseded` (conditional on its status, so a
 * build that just ended keeps its end) and its run stopped; the workflow then ends without a
 * release. Returns the superseded build, or undefined when it goes on.
 */
async function supersedeIfOvertaken(
  deps: ReleaseStepDeps,
  app: string,
  buildId: string,
  at: string,
): Promise<Build | undefined> {
  const { store } = deps;
  const settings = await store.getApp(app);
  if (settings?.mode !== 'superseded') return undefined;
  const builds = await store.listBuilds(app, { limit: 20 });
  const build = builds.find((b) => b.id === buildId) ?? (await store.getBuild(app, buildId));
  if (!build || (build.status !== 'queued' && build.status !== 'running')) return undefined;
  // Only a newer build of the same environment overtakes it: a push does not supersede a merge
  // request's review build, nor the reverse.
  const newer = builds.find(
    (b) =>
      b.id > buildId &&
      b.environment === build.environment &&
      (b.status === 'queued' || b.status === 'running' || b.status === 'succeeded'),
  );
  if (!newer) return undefined;
  return supersede(deps, build, newer, at);
}

/**
 * Superseded mode, from the newer side: a build that has just started supersedes the app's
 * older builds still queued or running (their workflows wait on them, so nobody else would
 * look), stops their runs and completes their waits with `superseded`.
 */
async function supersedeOlder(deps: ReleaseStepDeps, app: string, buildId: string, at: string): Promise<void> {
  const settings = await deps.store.getApp(app);
  if (settings?.mode !== 'superseded') return;
  const builds = await deps.store.listBuilds(app, { limit: 20 });
  const newer = builds.find((b) => b.id === buildId);
  if (!newer) return;
  for (const older of builds) {
    if (older.id >= buildId || (older.status !== 'queued' && older.status !== 'running')) continue;
    if (older.environment !== newer.environment) continue; // another environment's order
    await supersede(deps, older, newer, at);
  }
}

/** Records `build` superseded by `newer` (conditional on its status), stops its run, completes its wait. */
async function supersede(deps: ReleaseStepDeps, build: Build, newer: Build, at: string): Promise<Build | undefined> {
  let superseded: Build;
  try {
    superseded = await deps.store.transitionBuild(build.app, build.id, build.status, 'superseded', {
      endedAt: at,
      reason: `superseded by build ${newer.id}, a newer push of ${shortSha(newer.commit)}`,
    });
  } catch (error) {
    if (error instanceof StaleWriteError) return undefined; // it moved on meanwhile: look again next time
    throw error;
  }
  if (superseded.builderRef && deps.builder?.cancel) {
    try {
      await deps.builder.cancel(superseded.builderRef, `superseded by build ${newer.id}`);
    } catch {
      // Stopping is a saving, not a duty: the build's late end is ignored (it is superseded).
    }
  }
  if (superseded.waitToken && deps.tasks) {
    const output: BuildWaitOutput = { status: 'superseded' };
    await deps.tasks.succeed(superseded.waitToken, output);
  }
  return superseded;
}

/** Stores the task token the workflow waits on for this build; a build that already ended keeps none. */
async function parkOnBuild(store: Store, app: string, buildId: string, token: string): Promise<void> {
  try {
    await store.updateBuildRun(app, buildId, { waitToken: token });
  } catch (error) {
    if (!(error instanceof StaleWriteError)) throw error; // ended meanwhile: the step completes the wait itself
  }
}

/** Completes the step's own wait at once (what it waits for has already happened) and returns the output. */
async function completeNow<T extends Record<string, unknown>>(
  deps: ReleaseStepDeps,
  input: ReleaseStepInput,
  output: T,
): Promise<T> {
  if (input.taskToken) {
    if (!deps.tasks) throw new ValidationError(`${input.action} waits on a task token but nothing can complete it`);
    await deps.tasks.succeed(input.taskToken, output);
  }
  return output;
}

async function mustGetBuild(store: Store, app: string, id: string): Promise<Build> {
  const build = await store.getBuild(app, id);
  if (!build) throw new NotFoundError(`no build ${id} for app ${app}`);
  return build;
}

function mustRelease(input: ReleaseStepInput): string {
  if (!input.release) throw new ValidationError(`${input.action} needs the release`);
  return input.release;
}

async function mustGetApp(store: Store, appName: string): Promise<App> {
  const app = await store.getApp(appName);
  if (!app) throw new NotFoundError(`app ${appName} no longer exists`);
  return app;
}

/** Where a release runs: its environment's target (the app's own for the first environment). */
async function releaseTarget(store: Store, appName: string, release?: Release): Promise<DeployTarget> {
  return targetOf(store, await mustGetApp(store, appName), release?.environment);
}

/** Where the release with this id runs (the app's first environment without one). */
async function targetOfRelease(store: Store, appName: string, releaseId: string | undefined): Promise<DeployTarget> {
  const release = releaseId ? await store.getRelease(appName, releaseId) : undefined;
  return releaseTarget(store, appName, release);
}

/**
 * The lock and live-pointer lane of the release with this id (none for the app's first
 * environment); before there is a release, of the environment the build goes to.
 */
async function laneOfRelease(
  store: Store,
  appName: string,
  releaseId: string | undefined,
  buildId?: string,
): Promise<string | undefined> {
  if (!releaseId) {
    const build = buildId ? await store.getBuild(appName, buildId) : undefined;
    return build?.environment ? laneOf(await mustGetApp(store, appName), build.environment) : undefined;
  }
  const release = await store.getRelease(appName, releaseId);
  if (!release?.environment) return undefined;
  return laneOf(await mustGetApp(store, appName), release.environment);
}

/**
 * The release this execution rolls out: the one given (a rollback copied it forward), the one
 * an earlier attempt of this step created, or a new `pending` one with the build's images.
 */
async function pendingRelease(deps: ReleaseStepDeps, input: ReleaseStepInput, at: string): Promise<Release> {
  const { store } = deps;
  if (input.release) {
    const given = await store.getRelease(input.app, input.release);
    if (!given) throw new NotFoundError(`no release ${input.release} for app ${input.app}`);
    return given;
  }
  const existing = await inFlightRelease(store, input.app, input.build);
  if (existing) return existing;
  const build = await mustGetBuild(store, input.app, input.build);
  if (build.status !== 'succeeded' || !build.images || Object.keys(build.images).length === 0) {
    throw new ValidationError(`build ${build.id} has no images to release (${build.status})`);
  }
  const release: Release = {
    id: newId(deps.clock?.now()),
    app: input.app,
    status: 'pending',
    build: build.id,
    commit: build.commit,
    images: build.images,
    createdAt: at,
    // A push releases to the app's first environment (the one with the triggers); a merge
    // request's build to its review app.
    environment: build.environment ?? firstEnvironment(await mustGetApp(store, input.app)),
  };
  await store.createRelease(release);
  return release;
}

/** The app's release of this build that has not ended (at most one: the rollout lock holder's). */
async function inFlightRelease(store: Store, app: string, build: string): Promise<Release | undefined> {
  const releases = await store.listReleases(app, { limit: 50 });
  // Releases of the build made by fan-out have executions of their own.
  return releases.find(
    (r) => r.build === build && !r.fannedOut && (r.status === 'pending' || r.status === 'deploying'),
  );
}

async function recordLive(deps: ReleaseStepDeps, app: string, id: string, at: string): Promise<'live'> {
  for (let attempt = 1; ; attempt++) {
    const release = await deps.store.getRelease(app, id);
    if (!release) throw new NotFoundError(`no release ${id} for app ${app}`);
    if (release.status === 'live') return 'live';
    const lane = release.environment ? laneOf(await mustGetApp(deps.store, app), release.environment) : undefined;
    const live = await deps.store.liveReleaseId(app, lane);
    const previous = live && live !== id ? live : undefined;
    try {
      await deps.store.promoteRelease(app, id, previous, at, lane);
      return 'live';
    } catch (error) {
      if (!(error instanceof StaleWriteError) || attempt >= 3) throw error;
    }
  }
}

/** A release made by fan-out, overtaken by a newer push's release to its environment. */
async function supersedeRelease(store: Store, app: string, id: string, at: string): Promise<void> {
  const release = await store.getRelease(app, id);
  if (release?.status !== 'pending' && release?.status !== 'awaiting_approval') return;
  try {
    await store.transitionRelease(app, id, release.status, 'superseded', {
      endedAt: at,
      reason: `superseded: a newer push to ${release.environment ?? 'its environment'} was released instead`,
    });
  } catch (error) {
    if (!(error instanceof StaleWriteError)) throw error;
  }
}

/** Records why the execution failed: the release (if any) and the build (if still going) `failed`. */
async function recordFailure(deps: ReleaseStepDeps, input: ReleaseStepInput, at: string): Promise<'failed'> {
  const { store } = deps;
  const reason = truncate(explainError(input.error));
  const release = input.release
    ? await store.getRelease(input.app, input.release)
    : await inFlightRelease(store, input.app, input.build);
  if (
    release &&
    (release.status === 'pending' || release.status === 'awaiting_approval' || release.status === 'deploying')
  ) {
    await store.transitionRelease(input.app, release.id, release.status, 'failed', { endedAt: at, reason });
  }
  const build = await store.getBuild(input.app, input.build);
  if (build && (build.status === 'queued' || build.status === 'running') && !input.release) {
    await store.transitionBuild(input.app, build.id, build.status, 'failed', { endedAt: at, reason });
  }
  return 'failed';
}

/** Step Functions' caught error as a sentence: a Lambda's Cause is JSON with `errorMessage`. */
export function explainError(error: ReleaseStepInput['error']): string {
  const cause = error?.Cause ?? '';
  try {
    const parsed = JSON.parse(cause) as { errorMessage?: unknown };
    if (typeof parsed?.errorMessage === 'string') return parsed.errorMessage;
  } catch {
    // Not JSON: the cause is the message itself.
  }
  return cause || error?.Error || 'the release failed';
}

/**
 * The execution's last step: works out how it ended, tells GitLab and Slack, and records the
 * outcome and how the report fared — on the build (its `outcome` marks the end of the workflow
 * for `deploy --wait`) and on the release. A rollback reuses an old build, so it records on its
 * release only. A retry after the report was recorded does not report twice.
 */
async function report(deps: ReleaseStepDeps, input: ReleaseStepInput): Promise<void> {
  const { store } = deps;
  const build = await store.getBuild(input.app, input.build);
  if (!build) return; // the app was deleted meanwhile: nothing to report on
  const rollback = Boolean(input.release);
  const releases = await store.listReleases(input.app, { limit: 50 });
  const release = rollback
    ? releases.find((r) => r.id === input.release)
    : releases.find((r) => r.build === input.build && !r.fannedOut);
  const outcome = outcomeOf(build, release, rollback);
  const already = rollback ? release?.report : build.report;
  const record = already ?? (await reportFinal(store, deps.reporting, outcome, build, release));
  // A review app that went live: its URL to the merge request (once; never fails the release).
  if (outcome === 'live' && release && !already) await announceReviewApp(deps, release);
  if (release) await store.updateRelease(input.app, release.id, { report: record });
  if (!rollback) {
    await store.recordBuildOutcome(input.app, build.id, {
      outcome,
      ...(release ? { release: release.id } : {}),
      report: record,
    });
  }
  if (deps.report && !already) {
    try {
      await deps.report({
        app: input.app,
        build: input.build,
        outcome,
        release,
        reason: release?.reason ?? build.reason,
      });
    } catch {
      // An observer's failure is not the release's.
    }
  }
}

/** How the execution ended: from its release when it made one, else as its steps recorded it. */
function outcomeOf(build: Build, release: Release | undefined, rollback: boolean): ReleaseOutcome {
  if (release?.status === 'live' || release?.status === 'replaced') return 'live';
  if (release?.status === 'rolled_back') return 'rolled_back';
  if (release?.status === 'rejected' || release?.status === 'expired' || release?.status === 'superseded') {
    return release.status;
  }
  if (!release && !rollback && build.outcome === 'superseded') return 'superseded';
  return 'failed';
}

function truncate(reason: string): string {
  return reason.length <= MAX_REASON_LENGTH ? reason : `${reason.slice(0, MAX_REASON_LENGTH - 1)}…`;
}

/**
 * Whether a step's failure is worth retrying: a lost race on a conditional write. What of the
 * platform's failures is transient the adapters decide, and throw as TransientError
 * (functions/adapters/aws-errors.ts), which reaches the Retry as it is.
 */
function isTransient(error: unknown): boolean {
  return error instanceof StaleWriteError;
}

/**
 * Rollback (PRODUCT.md step 7): copies an earlier release forward as a new `pending` release
 * with the same images and returns the workflow input that rolls it out (the workflow starts it
 * at AcquireRollout, skipping the build).
 */
export async function rollbackRelease(
  deps: Pick<ReleaseStepDeps, 'store' | 'clock'>,
  app: string,
  releaseId: string,
): Promise<{ input: { app: string; build: string; release: string }; release: Release }> {
  const old = await deps.store.getRelease(app, releaseId);
  if (!old) throw new NotFoundError(`no release ${releaseId} for app ${app}`);
  if (old.status === 'pending' || old.status === 'deploying') {
    throw new ConflictError(
      `release ${old.id} is still rolling out (${old.status}); roll back to a release that ended`,
    );
  }
  if (Object.keys(old.images).length === 0) throw new ValidationError(`release ${old.id} has no images`);
  const now = deps.clock?.now() ?? new Date();
  const release: Release = {
    id: newId(now),
    app,
    status: 'pending',
    build: old.build,
    commit: old.commit,
    images: old.images,
    createdAt: now.toISOString(),
    // The fact is `rollbackOf`; the reason repeats it for people reading the history.
    rollbackOf: old.id,
    // Back in the environment the old release ran in.
    ...(old.environment ? { environment: old.environment } : {}),
    reason: `rollback to release ${old.id}`,
  };
  await deps.store.createRelease(release);
  return { input: { app, build: old.build, release: release.id }, release };
}
