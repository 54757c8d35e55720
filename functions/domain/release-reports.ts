import { firstEnvironment } from './environments';
import { openGitlabToken } from './gitlab-link';
import type { App, Build, Release, ReleaseOutcome, ReportRecord } from './model';
import type { GitlabApi, GitlabApiFactory, Notifier, Store, Vault } from './ports';
import { type ReportEvent, type ReportOutcome, type ReportRetry, type ReportTarget, report } from './reporting';
import { rollbackOf as rollbackSource } from './rollbacks';

/**
 * How the release workflow tells people (PRODUCT.md step 6): the glue between the workflow's
 * steps and `reporting.ts`. Each step that moves a commit along reports the matching event;
 * GitLab is reached through the stored connection (token decrypted per report, never kept),
 * Slack through the notifier. Nothing here throws: reporting never fails a release.
 */
export interface ReleaseReporting {
  vault: Vault;
  gitlab: GitlabApiFactory;
  notifier: Notifier;
  retry?: ReportRetry;
  /** Where a commit status links to for a build (the CodeBuild console on AWS, the admin API locally). */
  targetUrl?: (build: Build) => string | undefined;
  /** Told about each failed step (never a secret). */
  log?: (message: string, detail: Record<string, unknown>) => void;
}

interface Subject {
  app: App;
  build: Build;
  gitlab?: GitlabApi;
  gitlabUrl?: string;
}

async function subject(store: Store, reporting: ReleaseReporting, appName: string, buildId: string) {
  const [app, build, connection] = await Promise.all([
    store.getApp(appName),
    store.getBuild(appName, buildId),
    store.getGitlabConnection(),
  ]);
  if (!app || !build) return undefined;
  const found: Subject = { app, build };
  if (connection && app.projectId !== undefined) {
    try {
      const token = await openGitlabToken(reporting.vault, connection);
      found.gitlab = reporting.gitlab({ url: connection.url, token });
      found.gitlabUrl = connection.url;
    } catch (error) {
      reporting.log?.('GitLab token not readable: reporting to Slack only', {
        app: appName,
        error: error instanceof Error ? error.message : String(error),
      });
    }
  }
  return found;
}

function targetOf(
  reporting: ReleaseReporting,
  { app, build, gitlabUrl }: Subject,
  environment: string | undefined,
): ReportTarget {
  let targetUrl: string | undefined;
  try {
    targetUrl = reporting.targetUrl?.(build);
  } catch {
    targetUrl = undefined;
  }
  return {
    app: app.name,
    environment: environment ?? firstEnvironment(app),
    ...(app.projectId !== undefined ? { projectId: app.projectId } : {}),
    commit: build.commit,
    ref: build.ref,
    title: build.message.split('\n')[0] ?? '',
    author: build.author,
    ...(targetUrl ? { targetUrl } : {}),
    ...(gitlabUrl ? { commitUrl: `${gitlabUrl.replace(/\/+$/, '')}/${app.project}/-/commit/${build.commit}` } : {}),
  };
}

/**
 * Reports events about one build, in order, reading the app, build and GitLab connection once
 * (the token decrypted once). Returns the last event's outcome.
 */
async function send(
  store: Store,
  reporting: ReleaseReporting | undefined,
  appName: string,
  buildId: string,
  /** The release's environment; the app's first when absent. */
  environment: string | undefined,
  ...events: Array<(target: ReportTarget, build: Build) => ReportEvent | undefined>
): Promise<ReportOutcome | undefined> {
  if (!reporting) return undefined;
  try {
    const found = await subject(store, reporting, appName, buildId);
    if (!found) return undefined;
    const target = targetOf(reporting, found, environment);
    const deps = { gitlab: found.gitlab, notifier: reporting.notifier, retry: reporting.retry, log: reporting.log };
    let outcome: ReportOutcome | undefined;
    for (const event of events) {
      const chosen = event(target, found.build);
      if (chosen) outcome = await report(deps, chosen);
    }
    return outcome;
  } catch (error) {
    reporting.log?.('report not sent', {
      app: appName,
      build: buildId,
      error: error instanceof Error ? error.message : String(error),
    });
    return undefined;
  }
}

/** The build was handed to the builder: GitLab shows `pending`, then `running`. */
export async function reportBuildStarted(
  store: Store,
  reporting: ReleaseReporting | undefined,
  app: string,
  build: string,
): Promise<void> {
  await send(
    store,
    reporting,
    app,
    build,
    undefined,
    (target) => ({ kind: 'build_pending', target }),
    (target) => ({ kind: 'build_running', target }),
  );
}

/** A release waits for approval: GitLab's commit status and Slack say so, and who may approve. */
export async function reportAwaitingApproval(
  store: Store,
  reporting: ReleaseReporting | undefined,
  release: Release,
  approvers: string,
): Promise<void> {
  await send(store, reporting, release.app, release.build, release.environment, (target) => ({
    kind: 'release_awaiting_approval',
    target,
    release: release.id,
    approvers,
  }));
}

/** The rollout of a release starts: a GitLab deployment is created, its id kept on the release. */
export async function reportDeploying(
  store: Store,
  reporting: ReleaseReporting | undefined,
  release: Release,
): Promise<void> {
  if (release.deploymentId !== undefined) return; // an earlier attempt of this step created it
  const outcome = await send(store, reporting, release.app, release.build, release.environment, (target) => ({
    kind: 'release_deploying',
    target,
  }));
  if (outcome?.deploymentId !== undefined) {
    await store.updateRelease(release.app, release.id, { deploymentId: outcome.deploymentId });
  }
}

function seconds(from?: string, to?: string): number | undefined {
  if (!from || !to) return undefined;
  const ms = Date.parse(to) - Date.parse(from);
  return Number.isFinite(ms) && ms >= 0 ? Math.round(ms / 1000) : undefined;
}

/** The event that tells how an execution ended. */
export function finalEvent(
  outcome: ReleaseOutcome,
  target: ReportTarget,
  build: Build,
  release: Release | undefined,
): ReportEvent {
  // A rollback copies an old release forward, a promotion another environment's: no build ran for either.
  const rollbackOf = release ? rollbackSource(release) : undefined;
  const copied = rollbackOf !== undefined || release?.promotedFrom !== undefined;
  const buildSeconds = copied ? undefined : seconds(build.startedAt ?? build.createdAt, build.endedAt);
  const rolloutSeconds = release ? seconds(release.createdAt, release.liveAt ?? release.endedAt) : undefined;
  const timings = {
    ...(buildSeconds !== undefined ? { buildSeconds } : {}),
    ...(rolloutSeconds !== undefined ? { rolloutSeconds } : {}),
  };
  const deployment = release?.deploymentId !== undefined ? { deploymentId: release.deploymentId } : {};
  switch (outcome) {
    case 'live':
      return { kind: 'release_live', target, ...deployment, ...timings, ...(rollbackOf ? { rollbackOf } : {}) };
    case 'superseded':
      return { kind: 'build_canceled', target, reason: 'a newer push was released instead' };
    case 'rolled_back':
      return {
        kind: 'rolled_back',
        target,
        ...deployment,
        ...timings,
        reason: release?.reason ?? 'the rollout failed and was rolled back',
      };
    case 'rejected':
    case 'expired':
      return {
        kind: 'release_not_approved',
        target,
        release: release?.id ?? '',
        outcome,
        reason: release?.reason ?? (outcome === 'rejected' ? 'rejected' : 'not approved within 7 days'),
      };
    case 'failed':
      return release
        ? { kind: 'rollout_failed', target, ...deployment, ...timings, reason: release.reason ?? 'the release failed' }
        : {
            kind: 'build_failed',
            target,
            reason: build.reason ?? 'the build failed',
            ...(buildSeconds !== undefined ? { buildSeconds } : {}),
          };
  }
}

/** Reports how the execution ended and returns how the report fared, per channel. */
export async function reportFinal(
  store: Store,
  reporting: ReleaseReporting | undefined,
  outcome: ReleaseOutcome,
  build: Build,
  release: Release | undefined,
): Promise<ReportRecord> {
  const sent = await send(store, reporting, build.app, build.id, release?.environment, (target) =>
    finalEvent(outcome, target, build, release),
  );
  return sent ? { gitlab: sent.gitlab, slack: sent.slack } : { gitlab: 'skipped', slack: 'skipped' };
}
