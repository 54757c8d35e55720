import { firstEnvironment } from './environments';
import { type PushEvent, shortRef, ZERO_SHA } from './events';
import { matchesPattern } from './filters';
import { newId, sha256Hex } from './ids';
import type { App, Build, Delivery, Trigger } from './model';
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
  /**
   * Called when the workflow could not be started even after a few quick retries; the build
   * stays recorded (with its start marker) and the sweep (functions/domain/sweep.ts) starts it.
   */
  onWorkflowError?: (error: unknown, build: Build) => void;
  /** Pauses between attempts to start the workflow (tests shorten them). */
  startRetryDelaysMs?: readonly number[];
}

/**
 * Waits between the attempts to start a build's workflow inside the request: three attempts
 * within about half a second, well inside the webhook's budget (GitLab waits 10 s).
 */
export const START_RETRY_DELAYS_MS: readonly number[] = [100, 300];

/**
 * The push itself as a delivery key: one app, ref, `before` and `after` is one push however
 * often, and through whichever hook, it arrives (PRODUCT.md step 3). Hashed: a ref may be up to
 * 1,024 characters, far more than a key should carry.
 */
export function pushIdentity(
  app: string,
  push: Pick<PushEvent, 'ref' | 'before' | 'after'>,
): { source: string; key: string } {
  return { source: `push:${app}`, key: sha256Hex(`${push.ref}\n${push.before}\n${push.after}`) };
}

/** Why a push is not built for an app, or undefined when it is. Pure. */
export function whyIgnored(app: App, push: PushEvent): string | undefined {
  if (app.status !== 'active') return `app ${app.name} is disabled`;
  if (push.after === ZERO_SHA) return push.kind === 'tag' ? 'tag deleted' : 'branch deleted';
  if (environmentsMatching(app, push).length > 0) return undefined;
  const name = shortRef(push.ref);
  if (push.kind === 'tag') {
    if (!app.tags) return `tag pushes are not built for app ${app.name}`;
    return `tag ${name} does not match ${app.tags}`;
  }
  return `branch ${name} does not match ${app.branch}`;
}

/**
 * The environments a push goes to, in order: the app's first when its own trigger matches, then
 * each further environment whose trigger matches (App.environmentTriggers). Pure.
 */
export function environmentsMatching(app: App, push: Pick<PushEvent, 'kind' | 'ref'>): string[] {
  const name = shortRef(push.ref);
  const matches = (trigger: { branch?: string; tags?: string }) =>
    push.kind === 'tag'
      ? trigger.tags !== undefined && matchesPattern(trigger.tags, name)
      : trigger.branch !== undefined && matchesPattern(trigger.branch, name);
  return [
    ...(matches(app) ? [firstEnvironment(app)] : []),
    ...(app.environmentTriggers ?? []).filter(matches).map((t) => t.name),
  ];
}

/** Whether an event about `project` concerns `app` (by id once known, else by path). */
export function concernsApp(app: App, project: { id?: number; path?: string }): boolean {
  if (app.projectId !== undefined && project.id !== undefined) return app.projectId === project.id;
  return project.path !== undefined && app.project.toLowerCase() === project.path.toLowerCase();
}

/**
 * Accepts a push for an app: filters it, records the build before anything else —
 * de-duplicated, in the same transaction, on GitLab's Idempotency-Key (`key`), on the signed
 * `webhook-id` (`signedId`, only when the signature was verified) and on the push itself — then
 * asks the workflow to start. A duplicate whose workflow never started (a crash between the
 * two) is started now, so redeliveries heal.
 */
export async function ingestPush(
  deps: IngestDeps,
  app: App,
  push: PushEvent,
  delivery: { source: string; key?: string; signedId?: string; trigger: Trigger; receivedAt?: Date },
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
  // One build, released to every environment the push matched: its own first, the rest after it.
  const [own, ...alsoTo] = environmentsMatching(app, push);
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
    ...(own !== undefined && own !== firstEnvironment(app) ? { environment: own } : {}),
    ...(alsoTo.length > 0 ? { alsoTo } : {}),
  };
  // In this order: a redelivery answers with the build its own key started.
  const keys: Array<Omit<Delivery, 'app' | 'build'>> = [];
  if (delivery.key) keys.push({ source: delivery.source, key: delivery.key, receivedAt: now });
  if (delivery.signedId) keys.push({ source: `signed:${delivery.source}`, key: delivery.signedId, receivedAt: now });
  keys.push({ ...pushIdentity(app.name, push), receivedAt: now });
  const recorded = await deps.store.recordBuild(candidate, keys);
  const build = recorded.build;
  await startRecordedBuild(deps, build);
  return { outcome: recorded.duplicate ? 'duplicate' : 'started', build };
}

/**
 * Whether a build's workflow is known to run: it was handed to the builder, it left `queued`,
 * or (items written before executions were derived from the build id) its execution is stored.
 */
export function isStarted(build: Build): boolean {
  return build.status !== 'queued' || build.builderRef !== undefined || build.execution !== undefined;
}

/**
 * Starts the release workflow for a recorded build not yet seen started; a failure is retried a
 * couple of times at once. Nothing is written: executions are named after the build, so a
 * repeated start (a retry, a redelivery, the sweep) is the same execution, and its reference
 * follows from the name. A failure that outlasts the retries is told to `onWorkflowError`, not
 * thrown: the build stays recorded with its start marker, and the sweep (or a redelivery)
 * starts it.
 */
export async function startRecordedBuild(deps: IngestDeps, build: Build): Promise<void> {
  if (isStarted(build)) return;
  const delays = deps.startRetryDelaysMs ?? START_RETRY_DELAYS_MS;
  for (let attempt = 0; ; attempt++) {
    try {
      await deps.workflow.startRelease({ app: build.app, build: build.id });
      return;
    } catch (error) {
      const delay = delays[attempt];
      if (delay === undefined) {
        deps.onWorkflowError?.(error, build);
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, delay * (0.5 + Math.random() / 2)));
    }
  }
}

/** The trigger recorded for a push arriving through a project hook or the system hook. */
export function triggerOf(push: PushEvent, via: 'project' | 'system'): Trigger {
  if (via === 'system') return 'system_hook';
  return push.kind === 'tag' ? 'tag' : 'push';
}
