import { StaleWriteError } from './errors';
import type { Store, Workflow } from './ports';
import { rollbackOf } from './rollbacks';

/**
 * After a restart of a world whose executions live in its own process (local mode), picks up
 * what was in flight: every build of the last `recent` that has no outcome yet, and every
 * rollback or promotion still pending or deploying, gets its execution again. The workflow's steps
 * are idempotent, so an execution started again continues where the records stand: a queued
 * build is built, a built one takes its turn, a release half rolled out is checked again. A
 * build that was running when the process stopped ran in that process and is gone: it is
 * recorded `failed`, saying so, and its execution reports that.
 *
 * This reads the newest `recent` builds per app: builds that never started at all, however
 * old, are the sweep's (functions/domain/sweep.ts, which local mode runs right after this).
 * Nothing is recorded about the execution started: it is named after the build. A build still
 * queued keeps its start marker until the builder has it (or the sweep, starting the same
 * execution, removes it).
 *
 * Returns what was resumed. Errors on one app do not stop the others; they are told to `onError`.
 */
export async function resumeInFlight(
  deps: { store: Store; workflow: Workflow; clock?: { now(): Date } },
  options: { recent?: number; onError?: (error: unknown, app: string) => void } = {},
): Promise<{ builds: string[]; releases: string[] }> {
  const resumed = { builds: [] as string[], releases: [] as string[] };
  const recent = options.recent ?? 50;
  for (const app of await deps.store.listApps()) {
    try {
      for (const build of await deps.store.listBuilds(app.name, { limit: recent })) {
        if (build.outcome) continue;
        if (build.status === 'running') {
          try {
            await deps.store.transitionBuild(app.name, build.id, 'running', 'failed', {
              endedAt: (deps.clock?.now() ?? new Date()).toISOString(),
              reason: 'local mode stopped while the build was running; push again or slipway deploy',
            });
          } catch (error) {
            if (!(error instanceof StaleWriteError)) throw error;
          }
        }
        await deps.workflow.startRelease({ app: app.name, build: build.id });
        resumed.builds.push(build.id);
      }
      for (const release of await deps.store.listReleases(app.name, { limit: recent })) {
        if (!['pending', 'awaiting_approval', 'deploying'].includes(release.status)) continue;
        // A build's own execution resumes its release; rollbacks, promotions, configuration
        // changes and releases made by fan-out have their own.
        const own =
          rollbackOf(release) !== undefined ||
          release.promotedFrom !== undefined ||
          release.fannedOut === true ||
          release.configChange !== undefined;
        if (!own) continue;
        await deps.workflow.startRelease({ app: app.name, build: release.build, release: release.id });
        resumed.releases.push(release.id);
      }
    } catch (error) {
      options.onError?.(error, app.name);
    }
  }
  return resumed;
}
