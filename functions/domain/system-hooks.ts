import { StaleWriteError } from './errors';
import type { PushEvent, SystemEvent } from './events';
import { concernsApp, type IngestDeps, type IngestResult, ingestPush } from './ingest';
import type { App, Build } from './model';
import type { Store } from './ports';

export type SystemHookResult =
  /** `duplicate` when every build named was recorded by an earlier delivery. */
  | { outcome: 'started'; builds: Build[]; duplicate: boolean }
  | { outcome: 'updated'; apps: string[] }
  | { outcome: 'ignored'; reason: string };

/**
 * A system-hook push is delivered twice by GitLab (a `push` and a `repository_update` event,
 * each with its own Idempotency-Key). Keying the delivery on the ref update itself makes both,
 * and any redelivery, land on one build.
 */
export function systemDeliveryKey(push: PushEvent): string {
  return `${push.project.id ?? push.project.path.toLowerCase()}:${push.ref}:${push.before}:${push.after}`;
}

/** Retries an optimistic update a few times when another writer got in first. */
async function updateWithRetry(store: Store, app: App, patch: (current: App) => Partial<App>): Promise<void> {
  let current: App | undefined = app;
  for (let attempt = 0; attempt < 5 && current; attempt++) {
    try {
      await store.updateApp(current.name, current.version, patch(current));
      return;
    } catch (error) {
      if (!(error instanceof StaleWriteError)) throw error;
      current = await store.getApp(app.name);
    }
  }
  if (current) throw new StaleWriteError(`app ${app.name} kept changing; gave up updating it`);
}

async function appsFor(store: Store, project: { id?: number; path: string }): Promise<App[]> {
  const apps = await store.findAppsByProject(project);
  return apps.filter((app) => concernsApp(app, project));
}

/** Acts on the events of one system-hook delivery. */
export async function handleSystemEvents(
  deps: IngestDeps,
  events: SystemEvent[],
  receivedAt?: Date,
): Promise<SystemHookResult> {
  const started: Build[] = [];
  let fresh = 0;
  const updated: string[] = [];
  const reasons: string[] = [];

  for (const event of events) {
    switch (event.type) {
      case 'push': {
        const apps = await appsFor(deps.store, event.push.project);
        if (apps.length === 0) {
          reasons.push(`no app is linked to project ${event.push.project.path}`);
          break;
        }
        for (const app of apps) {
          const result: IngestResult = await ingestPush(deps, app, event.push, {
            source: `system:${app.name}`,
            key: systemDeliveryKey(event.push),
            trigger: 'system_hook',
            ...(receivedAt ? { receivedAt } : {}),
          });
          if (result.outcome === 'ignored') reasons.push(result.reason);
          else {
            started.push(result.build);
            if (result.outcome === 'started') fresh++;
          }
        }
        break;
      }
      case 'project_renamed': {
        const project = { ...(event.projectId !== undefined ? { id: event.projectId } : {}), path: event.oldPath };
        for (const app of await appsFor(deps.store, project)) {
          await updateWithRetry(deps.store, app, () => ({
            project: event.newPath,
            ...(event.projectId !== undefined ? { projectId: event.projectId } : {}),
          }));
          updated.push(app.name);
        }
        if (updated.length === 0) reasons.push(`no app is linked to project ${event.oldPath}`);
        break;
      }
      case 'project_destroyed': {
        const project = { ...(event.projectId !== undefined ? { id: event.projectId } : {}), path: event.path };
        for (const app of await appsFor(deps.store, project)) {
          if (app.status !== 'disabled') await updateWithRetry(deps.store, app, () => ({ status: 'disabled' }));
          updated.push(app.name);
        }
        if (updated.length === 0) reasons.push(`no app is linked to project ${event.path}`);
        break;
      }
      case 'other':
        reasons.push(`system event ${event.name} is not acted on`);
        break;
    }
  }

  if (started.length > 0) return { outcome: 'started', builds: started, duplicate: fresh === 0 };
  if (updated.length > 0) return { outcome: 'updated', apps: updated };
  return { outcome: 'ignored', reason: reasons[0] ?? 'nothing to do' };
}
