import { approvalRuleOf, environmentOf } from './environments';
import { ConflictError, ForbiddenError, NotFoundError, StaleWriteError } from './errors';
import type { App, Release } from './model';
import type { Clock, Store, TaskTokens } from './ports';
import { type ReleaseReporting, reportAwaitingApproval } from './release-reports';

/**
 * Approvals (PRODUCT.md "Environments…", docs/ENVIRONMENTS.md). A release to an environment with
 * `approval: maintainer` waits in `awaiting_approval` before it takes its rollout turn: the
 * release workflow parks on a task token stored on the release (`awaitApproval`), and
 * `approve` or `reject` complete it. Nobody polls. Seven days without a decision end it
 * `expired`: the workflow state's own timeout on AWS and the local executor's timer locally,
 * with the scheduled sweep as a backstop for a wait whose execution is gone. Neither `rejected`
 * nor `expired` counts as a failed change.
 */

/** How long a release may wait for a decision. */
export const APPROVAL_WINDOW_MS = 7 * 24 * 3600 * 1000;

/** What the workflow's approval wait is completed with. */
export type ApprovalDecision = 'approved' | 'rejected' | 'expired';

/** Who decides: a person signed in with GitLab (console), or the holder of the admin token (CLI). */
export interface Actor {
  kind: 'user' | 'admin';
  /** The GitLab username, or `admin`. */
  name: string;
}

export const ADMIN_ACTOR: Actor = { kind: 'admin', name: 'admin' };

export interface ApprovalDeps {
  store: Store;
  tasks?: TaskTokens;
  clock?: Clock;
  reporting?: ReleaseReporting;
}

/**
 * The workflow's approval step. Without a rule the release goes on at once (`approved`).
 * Otherwise the release moves to `awaiting_approval` with the token, in one conditional write
 * (so an approval, which needs that status, always finds the token), and people are told.
 * Idempotent: a repeat (a retry, or local mode resuming) stores the new token, and a decision
 * already taken completes the wait at once.
 */
export async function awaitApproval(
  deps: ApprovalDeps,
  appName: string,
  releaseId: string,
  token: string | undefined,
): Promise<{ decision: ApprovalDecision | 'waiting' }> {
  const { store } = deps;
  const now = deps.clock?.now() ?? new Date();
  const app = await mustGetApp(store, appName);
  const release = await mustGetRelease(store, appName, releaseId);
  const decided = decisionOf(release);
  if (decided) return complete(deps, token, decided);
  // A rollback is an operator's way back to what ran before: it does not wait for approval.
  const rule = await approvalRuleOf(store, app, environmentOf(app, release));
  if (rule.approval === 'none' || release.rollbackOf !== undefined) return complete(deps, token, 'approved');
  if (release.status === 'pending') {
    try {
      const waiting = await store.transitionRelease(appName, releaseId, 'pending', 'awaiting_approval', {
        awaitingSince: now.toISOString(),
        ...(token ? { waitToken: token } : {}),
      });
      await reportAwaitingApproval(store, deps.reporting, waiting, approversOf(app, rule.selfApproval));
      return { decision: 'waiting' };
    } catch (error) {
      if (!(error instanceof StaleWriteError)) throw error;
      // Decided or failed meanwhile: look again.
      return awaitApproval(deps, appName, releaseId, token);
    }
  }
  // Already waiting (a repeated step): past the window it expires now; else the new token waits.
  const since = Date.parse(release.awaitingSince ?? release.createdAt);
  if (now.getTime() - since >= APPROVAL_WINDOW_MS) {
    await expire(deps, appName, releaseId);
    return complete(deps, token, 'expired');
  }
  if (token) await store.updateRelease(appName, releaseId, { waitToken: token });
  return { decision: 'waiting' };
}

/** `approve NAME RELEASE`: the release goes on to its rollout turn. */
export async function approveRelease(
  deps: ApprovalDeps,
  appName: string,
  releaseId: string,
  actor: Actor,
): Promise<Release> {
  const { store } = deps;
  const app = await mustGetApp(store, appName);
  const release = await mustBeWaiting(store, appName, releaseId);
  const rule = await approvalRuleOf(store, app, environmentOf(app, release));
  if (actor.kind === 'user' && !rule.selfApproval && release.requestedBy === actor.name) {
    throw new ForbiddenError(
      `you asked for release ${release.id}: ${environmentOf(app, release)} needs another Maintainer's approval`,
    );
  }
  const at = (deps.clock?.now() ?? new Date()).toISOString();
  const approved = await decide(store, release, 'pending', { approvedBy: actor.name, approvedAt: at });
  await wake(deps, approved, 'approved');
  return approved;
}

/** `reject NAME RELEASE [--reason R]`: the release ends `rejected`; nothing rolls out. */
export async function rejectRelease(
  deps: ApprovalDeps,
  appName: string,
  releaseId: string,
  actor: Actor,
  why?: string,
): Promise<Release> {
  const { store } = deps;
  const release = await mustBeWaiting(store, appName, releaseId);
  const at = (deps.clock?.now() ?? new Date()).toISOString();
  const reason = `rejected by ${actor.name}${why ? `: ${why}` : ''}`.slice(0, 1000);
  const rejected = await decide(store, release, 'rejected', { rejectedBy: actor.name, endedAt: at, reason });
  await wake(deps, rejected, 'rejected');
  return rejected;
}

/** The workflow's approval wait timed out: the release ends `expired` (if nobody decided). */
export async function expire(deps: Pick<ApprovalDeps, 'store' | 'clock'>, appName: string, releaseId: string) {
  const release = await deps.store.getRelease(appName, releaseId);
  if (release?.status !== 'awaiting_approval') return;
  try {
    await deps.store.transitionRelease(appName, releaseId, 'awaiting_approval', 'expired', {
      endedAt: (deps.clock?.now() ?? new Date()).toISOString(),
      reason: 'nobody approved it within 7 days',
    });
  } catch (error) {
    if (!(error instanceof StaleWriteError)) throw error; // decided at the last moment
  }
}

/**
 * The sweep's backstop: releases that have waited past the window (their wait's execution gone,
 * or a timer lost with a restart) end `expired`, and any wait still parked is told. Returns the
 * ids it expired.
 */
export async function expireStaleApprovals(deps: ApprovalDeps): Promise<string[]> {
  const now = (deps.clock?.now() ?? new Date()).getTime();
  const expired: string[] = [];
  for (const app of await deps.store.listApps()) {
    for (const release of await deps.store.listReleases(app.name, { limit: 100 })) {
      if (release.status !== 'awaiting_approval') continue;
      if (now - Date.parse(release.awaitingSince ?? release.createdAt) < APPROVAL_WINDOW_MS) continue;
      await expire(deps, app.name, release.id);
      if (release.waitToken && deps.tasks) await deps.tasks.succeed(release.waitToken, { decision: 'expired' });
      expired.push(release.id);
    }
  }
  return expired;
}

/** Who may approve, as people read it in Slack and GitLab. */
export function approversOf(app: Pick<App, 'project'>, selfApproval: boolean): string {
  return `a Maintainer of ${app.project}${selfApproval ? '' : ', other than whoever asked for it'}`;
}

function decisionOf(release: Release): ApprovalDecision | undefined {
  if (release.status === 'rejected') return 'rejected';
  if (release.status === 'expired') return 'expired';
  if (release.status === 'pending' && release.approvedBy) return 'approved';
  return undefined;
}

async function complete(
  deps: ApprovalDeps,
  token: string | undefined,
  decision: ApprovalDecision,
): Promise<{ decision: ApprovalDecision }> {
  if (token && deps.tasks) await deps.tasks.succeed(token, { decision });
  return { decision };
}

async function decide(
  store: Store,
  release: Release,
  to: 'pending' | 'rejected',
  patch: Parameters<Store['transitionRelease']>[4],
): Promise<Release> {
  try {
    return await store.transitionRelease(release.app, release.id, 'awaiting_approval', to, patch);
  } catch (error) {
    if (!(error instanceof StaleWriteError)) throw error;
    const now = await store.getRelease(release.app, release.id);
    throw new ConflictError(`release ${release.id} is no longer waiting for approval (${now?.status ?? 'gone'})`);
  }
}

/**
 * Completes the workflow's wait. When nobody waits on the token any more (its execution ended)
 * an approved release would never roll out: it ends `failed`, saying so, and the caller hears it.
 */
async function wake(deps: ApprovalDeps, release: Release, decision: 'approved' | 'rejected'): Promise<void> {
  const woke = release.waitToken && deps.tasks ? await deps.tasks.succeed(release.waitToken, { decision }) : false;
  if (woke || decision === 'rejected') return;
  await deps.store.transitionRelease(release.app, release.id, 'pending', 'failed', {
    endedAt: (deps.clock?.now() ?? new Date()).toISOString(),
    reason: 'approved, but its release workflow was no longer waiting',
  });
  throw new ConflictError(
    `release ${release.id} was approved, but its release workflow was no longer waiting: promote it again`,
  );
}

async function mustBeWaiting(store: Store, appName: string, releaseId: string): Promise<Release> {
  const release = await mustGetRelease(store, appName, releaseId);
  if (release.status !== 'awaiting_approval') {
    throw new ConflictError(`release ${release.id} is not waiting for approval (it is ${release.status})`);
  }
  return release;
}

async function mustGetApp(store: Store, name: string): Promise<App> {
  const app = await store.getApp(name);
  if (!app) throw new NotFoundError(`no app named ${name}`);
  return app;
}

async function mustGetRelease(store: Store, app: string, id: string): Promise<Release> {
  const release = await store.getRelease(app, id);
  if (!release) throw new NotFoundError(`no release ${id} for app ${app}`);
  return release;
}
