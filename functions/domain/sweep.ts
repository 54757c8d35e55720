import { isStarted } from './ingest';
import type { Clock, Store, TaskTokens, Workflow } from './ports';

/** A build younger than this may still be being started by the request that recorded it. */
export const SWEEP_MIN_AGE_MS = 60_000;

export interface SweepDeps {
  store: Store;
  workflow: Workflow;
  /** Completes the approval waits of releases the sweep expires (domain/approvals.ts). */
  tasks?: TaskTokens;
  clock?: Clock;
}

export interface SweepResult {
  /** Builds whose workflow the sweep started (their start marker removed). */
  started: string[];
  /** Start markers removed because their build had started, moved on, or is gone. */
  cleared: string[];
  /** Builds it could not start this time: their marker stays for the next sweep. */
  failed: Array<{ app: string; build: string; error: unknown }>;
  /** Builds left for the next sweep because the deadline came first. */
  left: number;
}

/**
 * Every accepted build reaches a workflow (issue 13, point 9b). Finds ALL builds recorded but
 * not seen started — their start marker, written in the build's own transaction and removed
 * once the build is handed to the builder or leaves `queued`, is still there — older than
 * `olderThanMs` (a minute), across all apps and however long their history, and starts them.
 * Starting is idempotent (executions are named after the build id; local mode keeps one per
 * build), so a sweep racing a request that starts the same build at the same moment, or
 * starting a build whose execution has not reached the builder yet, does no harm.
 *
 * One build's trouble does not stop the others: it is reported in `failed` and its marker
 * stays for the next sweep.
 */
export async function sweepUnstartedBuilds(
  deps: SweepDeps,
  options: {
    /** Only builds recorded longer ago than this. @default a minute */
    olderThanMs?: number;
    /** Epoch ms (wall clock) after which no further build is started: the rest is `left`. */
    deadline?: number;
  } = {},
): Promise<SweepResult> {
  const now = deps.clock?.now() ?? new Date();
  const cutoff = new Date(now.getTime() - (options.olderThanMs ?? SWEEP_MIN_AGE_MS));
  const result: SweepResult = { started: [], cleared: [], failed: [], left: 0 };
  const unstarted = await deps.store.listUnstartedBuilds(cutoff.toISOString());
  for (const [index, { app, build: id }] of unstarted.entries()) {
    if (options.deadline !== undefined && Date.now() > options.deadline) {
      result.left = unstarted.length - index;
      break;
    }
    try {
      const build = await deps.store.getBuild(app, id);
      if (!build || isStarted(build)) {
        await deps.store.clearUnstartedBuild(app, id);
        result.cleared.push(id);
        continue;
      }
      // Still queued and not with the builder: never started, or started and not that far yet.
      // Either way one start: it is the same execution if there is one.
      await deps.workflow.startRelease({ app, build: id });
      await deps.store.clearUnstartedBuild(app, id);
      result.started.push(id);
    } catch (error) {
      result.failed.push({ app, build: id, error });
    }
  }
  return result;
}
