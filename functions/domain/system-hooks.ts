import { StaleWriteError } from './errors';
import type { PushEvent, SystemEvent } from './events';
import { concernsApp, type IngestDeps, type IngestResult, ingestPush, pushIdentity, whyIgnored } from './ingest';
import type { App, Build } from './model';
import type { Store } from './ports';

export type SystemHookResult =
  /** `duplicate` when every build named was recorded by an earlier delivery. */
  | { outcome: 'started'; builds: Build[]; duplicate: boolean }
  | { outcome: 'updated'; apps: string[] }
  | { outcome: 'ignored'; reason: string };

/**
 * A system-hook push is delivered twice by GitLab (a `push` and a `repository_update` event,
 * each with its own Idempotency-Key), and may reach an app through its project hook too. All of
 * them are keyed on the push itself (`pushIdentity`: app, ref, before, after), the key every
 * hook records, so they land on one build. This is that key for one app, without the source.
 */
export function systemDeliveryKey(push: PushEvent, app = ''): string {
  return pushIdentity(app, push).key;
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

/**
 * The pushes of one delivery each app builds: per app, only the newest change its filters
 * accept (the last one GitLab lists: a repository_update lists one `git push`'s changes in
 * order), so a delivery starts at most one build per app however many changes it carries.
 * Apps are looked up once per project, not once per change.
 */
async function newestPushPerApp(
  store: Store,
  pushes: PushEvent[],
  reasons: string[],
): Promise<Array<{ app: App; push: PushEvent }>> {
  const appsOfProject = new Map<string, Promise<App[]>>();
  const chosen = new Map<string, { app: App; push: PushEvent }>();
  const ignored = new Map<string, string>();
  for (const push of pushes) {
    const project = `${push.project.id ?? ''}\n${push.project.path.toLowerCase()}`;
    let apps = appsOfProject.get(project);
    if (!apps) {
      apps = appsFor(store, push.project);
      appsOfProject.set(project, apps);
      if ((await apps).length === 0) reasons.push(`no app is linked to project ${push.project.path}`);
    }
    for (const app of await apps) {
      const reason = whyIgnored(app, push);
      if (reason === undefined) chosen.set(app.name, { app, push });
      else if (!ignored.has(app.name)) ignored.set(app.name, reason);
    }
  }
  for (const [app, reason] of ignored) if (!chosen.has(app)) reasons.push(reason);
  return [...chosen.values()];
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
  const pushes: PushEvent[] = [];

  for (const event of events) {
    switch (event.type) {
      case 'push':
        pushes.push(event.push);
        break;
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

  for (const { app, push } of await newestPushPerApp(deps.store, pushes, reasons)) {
    const result: IngestResult = await ingestPush(deps, app, push, {
      source: `system:${app.name}`,
      trigger: 'system_hook',
      ...(receivedAt ? { receivedAt } : {}),
    });
    if (result.outcome === 'ignored') reasons.push(result.reason);
    else {
      started.push(result.build);
      if (result.outcome === 'started') fresh++;
    }
  }

  if (started.length > 0) return { outcome: 'started', builds: started, duplicate: fresh === 0 };
  if (updated.length > 0) return { outcome: 'updated', apps: updated };
  return { outcome: 'ignored', reason: reasons[0] ?? 'nothing to do' };
}
