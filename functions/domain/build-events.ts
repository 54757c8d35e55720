import { NotFoundError, StaleWriteError, ValidationError } from './errors';
import type { Build } from './model';
import type { Store } from './ports';
import { isTerminalBuild } from './states';

/**
 * Builder reports (CodeBuild state/phase events on AWS, the local runner's callbacks) applied
 * to the build record: `queued → running → succeeded | failed | canceled`, with start and end
 * times, the current phase, the image digests and, for a failure, the reason.
 *
 * Reports may come twice, late or out of order, so applying one is idempotent: a report for a
 * build that has ended is ignored, a finished report for a build still `queued` moves it through
 * `running` first, an older phase never overwrites a newer one, and a lost race (StaleWriteError)
 * is answered by reading the build again and retrying.
 */

export type BuildEventKind = 'started' | 'phase' | 'finished';
export type BuildEndStatus = 'succeeded' | 'failed' | 'canceled';

export interface BuildEvent {
  app: string;
  buildId: string;
  kind: BuildEventKind;
  /** The phase the build is in now (`phase`, optionally `started`). */
  phase?: string;
  /** How the build ended (`finished` only). */
  status?: BuildEndStatus;
  /** Image digests by compose service (or `app`), for a succeeded build. */
  images?: Record<string, string>;
  /** Why the build failed or was canceled (the failing step). */
  reason?: string;
  /** When it happened, ISO 8601 UTC. */
  at: string;
  /** When the build started, if the report knows; `at` otherwise. */
  startedAt?: string;
}

/** What applying build events needs from the store (`updateBuildRun` records the phase). */
export type BuildEventsStore = Pick<Store, 'getBuild' | 'transitionBuild' | 'updateBuildRun'>;

export type BuildEventOutcome = { outcome: 'applied'; build: Build } | { outcome: 'ignored'; reason: string };

/** CodeBuild's phases in the order a build goes through them. */
export const CODEBUILD_PHASES = [
  'SUBMITTED',
  'QUEUED',
  'PROVISIONING',
  'DOWNLOAD_SOURCE',
  'INSTALL',
  'PRE_BUILD',
  'BUILD',
  'POST_BUILD',
  'UPLOAD_ARTIFACTS',
  'FINALIZING',
  'COMPLETED',
] as const;

/** Reasons longer than this are cut (a failing command can be a whole script). */
export const MAX_REASON_LENGTH = 1000;
const MAX_ATTEMPTS = 5;

export async function applyBuildEvent(store: BuildEventsStore, event: BuildEvent): Promise<BuildEventOutcome> {
  if (event.kind === 'finished' && event.status === undefined) {
    throw new ValidationError('a finished build event needs a status');
  }
  for (let attempt = 1; ; attempt++) {
    const build = await store.getBuild(event.app, event.buildId);
    if (!build) return { outcome: 'ignored', reason: 'no such build' };
    if (isTerminalBuild(build.status)) return { outcome: 'ignored', reason: `the build is already ${build.status}` };
    try {
      return await apply(store, build, event);
    } catch (error) {
      if (error instanceof NotFoundError) return { outcome: 'ignored', reason: 'no such build' };
      if (error instanceof StaleWriteError && attempt < MAX_ATTEMPTS) continue;
      throw error;
    }
  }
}

async function apply(store: BuildEventsStore, build: Build, event: BuildEvent): Promise<BuildEventOutcome> {
  const { app, buildId } = event;
  let current = build;
  let changed = false;
  if (current.status === 'queued') {
    // Any report means the builder has the build: it is running (or ran) now.
    current = await store.transitionBuild(app, buildId, 'queued', 'running', {
      startedAt: event.startedAt ?? event.at,
    });
    changed = true;
  }

  if (event.kind === 'finished') {
    const status = event.status ?? 'failed';
    const images = event.images ?? {};
    const ended =
      status === 'succeeded' && Object.keys(images).length === 0
        ? await store.transitionBuild(app, buildId, 'running', 'failed', {
            endedAt: event.at,
            reason: 'the build succeeded but reported no image digests',
          })
        : await store.transitionBuild(app, buildId, 'running', status, {
            endedAt: event.at,
            ...(status === 'succeeded' ? { images } : {}),
            ...(status !== 'succeeded' && event.reason ? { reason: truncate(event.reason) } : {}),
          });
    return { outcome: 'applied', build: ended };
  }

  if (event.phase !== undefined && isNewerPhase(event.phase, current.phase)) {
    await store.updateBuildRun(app, buildId, { phase: event.phase });
    return { outcome: 'applied', build: { ...current, phase: event.phase } };
  }
  return changed
    ? { outcome: 'applied', build: current }
    : { outcome: 'ignored', reason: event.kind === 'started' ? 'the build is already running' : 'an older phase' };
}

/**
 * Whether `next` comes after `current`. CodeBuild phases are ordered; names the order does not
 * know (a local runner's) always count as newer.
 */
export function isNewerPhase(next: string, current: string | undefined): boolean {
  if (current === undefined) return true;
  const order: readonly string[] = CODEBUILD_PHASES;
  const a = order.indexOf(next);
  const b = order.indexOf(current);
  if (a === -1 || b === -1) return next !== current;
  return a > b;
}

function truncate(reason: string): string {
  return reason.length <= MAX_REASON_LENGTH ? reason : `${reason.slice(0, MAX_REASON_LENGTH - 1)}…`;
}
