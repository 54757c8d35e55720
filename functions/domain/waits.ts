import { applyBuildEvent } from './build-events';
import { targetOf } from './environments';
import type { Build } from './model';
import type { Builder, Deployer, RolloutStatus, Store, TaskTokens } from './ports';
import { isTerminalBuild } from './states';

/**
 * The release workflow waits to be told, not by polling (docs/RELEASE.md, "Waits"): it parks
 * on a task token while a build runs and while a rollout runs, and the end of each, reported
 * as an event, completes the token. The same functions serve AWS (CodeBuild and ECS events
 * through EventBridge, SendTaskSuccess) and local mode (the local builder's and deployer's
 * events, the local executor's waits).
 *
 * Events may come twice, late, before the token is stored, or not at all:
 * - the step that parks stores its token first and then looks once itself, so an end that came
 *   before the token was stored still completes the wait;
 * - completing a token twice is harmless (`TaskTokens.succeed` answers false);
 * - a lost event ends in the wait's timeout, after which the workflow looks once (checkBuild,
 *   checkRollout) and goes on or fails, so no release hangs.
 */

/** What a build wait is completed with: the Choice after it reads `status`. */
export interface BuildWaitOutput extends Record<string, unknown> {
  status: Build['status'];
}

/** What a rollout wait is completed with: the Choice after it reads `state`. */
export interface RolloutWaitOutput extends Record<string, unknown> {
  deployment: string;
  state: RolloutStatus['state'];
  reason: string;
}

/**
 * Completes the build's wait if the build has ended and a workflow waits on it. `known` is the
 * build as the write that ended it returned it (no need to read it again).
 */
export async function wakeBuildWait(
  deps: { store: Pick<Store, 'getBuild'>; tasks: TaskTokens },
  app: string,
  buildId: string,
  known?: Build,
): Promise<'woken' | 'not_ended' | 'no_wait' | 'gone'> {
  const build = known ?? (await deps.store.getBuild(app, buildId));
  if (!build) return 'gone';
  if (!isTerminalBuild(build.status)) return 'not_ended';
  if (!build.waitToken) return 'no_wait';
  const output: BuildWaitOutput = { status: build.status };
  return (await deps.tasks.succeed(build.waitToken, output)) ? 'woken' : 'no_wait';
}

/**
 * The one recheck after a build wait timed out (its end event was lost): asks the builder how
 * the run stands and, if it ended, records that as its event would have. Returns the build.
 */
export async function recheckBuild(
  deps: { store: Store; builder?: Builder; clock?: { now(): Date } },
  build: Build,
): Promise<Build> {
  if (isTerminalBuild(build.status) || !build.builderRef || !deps.builder?.describe) return build;
  const run = await deps.builder.describe(build.builderRef);
  if (run.status === 'running') return build;
  const at = (deps.clock?.now() ?? new Date()).toISOString();
  const applied = await applyBuildEvent(deps.store, {
    app: build.app,
    buildId: build.id,
    kind: 'finished',
    status: run.status,
    ...(run.images ? { images: run.images } : {}),
    ...(run.reason ? { reason: run.reason } : {}),
    at,
  });
  return applied.outcome === 'applied' ? applied.build : ((await deps.store.getBuild(build.app, build.id)) ?? build);
}

export interface RolloutEventDeps {
  store: Pick<Store, 'findRolloutWatch' | 'getRelease' | 'getApp' | 'updateRelease' | 'listEnvironments'>;
  deployer: Deployer;
  tasks: TaskTokens;
}

export type RolloutEventOutcome =
  | { outcome: 'woken' | 'progress' | 'already_completed'; app: string; release: string; state: RolloutStatus['state'] }
  | { outcome: 'ignored'; reason: string };

/**
 * A rollout event (ECS deployment or task state change; the local deployer's report) for the
 * rollout `watch` names: looks at the rollout through the deployer (the event only says that
 * something changed), records its task counts for `deploy --wait`, and completes the
 * release's wait once the rollout has ended.
 */
export async function onRolloutEvent(deps: RolloutEventDeps, watch: string): Promise<RolloutEventOutcome> {
  const found = await deps.store.findRolloutWatch(watch);
  if (!found) return { outcome: 'ignored', reason: 'not a rollout of Slipway' };
  const release = await deps.store.getRelease(found.app, found.release);
  if (!release?.rolloutRef) return { outcome: 'ignored', reason: 'the release is gone or has no rollout yet' };
  if (release.status !== 'deploying') return { outcome: 'ignored', reason: `the release is ${release.status}` };
  const app = await deps.store.getApp(found.app);
  if (!app) return { outcome: 'ignored', reason: 'the app is gone' };
  const target = await targetOf(deps.store, app, release.environment);
  const status = await deps.deployer.status(target, release.rolloutRef);
  await recordTaskCounts(deps.store, found.app, release.id, status);
  const base = { app: found.app, release: release.id, state: status.state };
  if (status.state === 'in_progress') return { outcome: 'progress', ...base };
  if (!release.waitToken) return { outcome: 'ignored', reason: 'no workflow waits on this rollout' };
  const woken = await deps.tasks.succeed(release.waitToken, rolloutWaitOutput(release.rolloutRef, status));
  return { outcome: woken ? 'woken' : 'already_completed', ...base };
}

/** Records the rollout's tasks running and desired on the release, when the deployer knows them (`deploy --wait` shows them). */
export async function recordTaskCounts(
  store: Pick<Store, 'updateRelease'>,
  app: string,
  release: string,
  status: RolloutStatus,
): Promise<void> {
  if (status.running === undefined && status.desired === undefined) return;
  await store.updateRelease(app, release, { running: status.running, desired: status.desired });
}

export function rolloutWaitOutput(deployment: string, status: RolloutStatus): RolloutWaitOutput {
  return { deployment, state: status.state, reason: status.reason ?? '' };
}
