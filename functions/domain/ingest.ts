import { type PushEvent, shortRef, ZERO_SHA } from './events';
import { matchesPattern } from './filters';
import { newId } from './ids';
import type { App, Build, Trigger } from './model';
import type { Clock, Store, Workflow } from './ports';

/** What became of a delivery. The edge maps it to 202 / 200. */
export type IngestResult =
  | { outcome: 'started'; build: Build }
  | { outcome: 'duplicate'; build: Build }
  | { outcome: 'ignored'; reason: string };

export interface IngestDeps {
  store: Store;
  workflow: Workflow;
  clock?: Clock;
  /** Called when the workflow could not be started; the build stays recorded and a redelivery retries. */
  onWorkflowError?: (error: unknown, build: Build) => void;
}

/** Why a push is not built for an app, or undefined when it is. Pure. */
export function whyIgnored(app: App, push: PushEvent): string | undefined {
  if (app.status !== 'active') return `app ${app.name} is disabled`;
  if (push.after === ZERO_SHA) return push.kind === 'tag' ? 'tag deleted' : 'branch deleted';
  const name = shortRef(push.ref);
  if (push.kind === 'tag') {
    if (!app.tags) return `tag pushes are not built for app ${app.name}`;
    if (!matchesPattern(app.tags, name)) return `tag ${name} does not match ${app.tags}`;
    return undefined;
  }
  if (!matchesPattern(app.branch, name)) return `branch ${name} does not match ${app.branch}`;
  return undefined;
}

/** Whether an event about `project` concerns `app` (by id once known, else by path). */
export function concernsApp(app: App, project: { id?: number; path?: string }): boolean {
  if (app.projectId !== undefined && project.id !== undefined) return app.projectId === project.id;
  return project.path !== undefined && app.project.toLowerCase() === project.path.toLowerCase();
}

/**
 * Accepts a push for an app: filters it, records the build (de-duplicated on the delivery key)
 * before anything else, then asks the workflow to start. A duplicate whose workflow never
 * started (a crash between the two) is started now, so redeliveries heal.
 */
export async function ingestPush(
  deps: IngestDeps,
  app: App,
  push: PushEvent,
  delivery: { source: string; key?: string; trigger: Trigger; receivedAt?: Date },
): Promise<IngestResult> {
  if (!concernsApp(app, push.project)) {
    return { outcome: 'ignored', reason: `event is for project ${push.project.path}, not ${app.project}` };
  }
  const reason = whyIgnored(app, push);
  if (reason) return { outcome: 'ignored', reason };

  // Pushes are ordered by when the edge received them, not by when this handler got to them:
  // "newer push" (superseded mode, queued order) must not depend on how requests interleave.
  const received = delivery.receivedAt ?? deps.clock?.now() ?? new Date();
  const now = received.toISOString();
  const candidate: Build = {
    id: newId(received),
    app: app.name,
    status: 'queued',
    commit: push.sha,
    ref: push.ref,
    message: push.title ?? '',
    author: push.author ?? push.pusher ?? '',
    trigger: delivery.trigger,
    createdAt: now,
    ...(push.committedAt ? { committedAt: push.committedAt } : {}),
    ...(delivery.key ? { deliveryId: delivery.key } : {}),
    ...(push.repoUrl ? { repoUrl: push.repoUrl } : {}),
  };
  const recorded = await deps.store.recordBuild(
    candidate,
    delivery.key ? { source: delivery.source, key: delivery.key, receivedAt: now } : undefined,
  );
  const build = recorded.build;
  await startRecordedBuild(deps, build);
  return { outcome: recorded.duplicate ? 'duplicate' : 'started', build };
}

/**
 * Starts the release workflow for a recorded build that has none yet, and records the
 * execution on the build. A failure to start is told to `onWorkflowError`, not thrown: the
 * build stays recorded and a redelivery (or the next attempt) starts it.
 */
export async function startRecordedBuild(deps: IngestDeps, build: Build): Promise<void> {
  if (build.execution !== undefined || build.status !== 'queued') return;
  try {
    const execution = await deps.workflow.startRelease({ app: build.app, build: build.id });
    await deps.store.setBuildExecution(build.app, build.id, execution);
    build.execution = execution;
  } catch (error) {
    deps.onWorkflowError?.(error, build);
  }
}

/** The trigger recorded for a push arriving through a project hook or the system hook. */
export function triggerOf(push: PushEvent, via: 'project' | 'system'): Trigger {
  if (via === 'system') return 'system_hook';
  return push.kind === 'tag' ? 'tag' : 'push';
}
