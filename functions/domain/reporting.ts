import { GitlabError } from './errors';
import type { GitlabApi, GitlabCommitStatus, GitlabDeploymentStatus, Notifier, ReleaseNotice } from './ports';

/**
 * Reporting a release back to people (PRODUCT.md step 6): the GitLab commit status
 * (`slipway/<app>`: pending → running → success/failed), a GitLab deployment on the app's
 * environment, and a Slack notice for the outcomes people care about. The release workflow
 * calls `report` at each step. Reporting never fails a release: every GitLab and Slack call is
 * caught, retried a bounded number of times where that is safe, and its fate returned.
 */

/** The commit and app a report is about. */
export interface ReportTarget {
  app: string;
  environment: string;
  /** GitLab's project id; without it GitLab is skipped (the app was never linked or resolved). */
  projectId?: number;
  /** 40-hex commit sha. */
  commit: string;
  /** `refs/heads/main`, `refs/tags/v1.2.0`, or a bare branch name. */
  ref: string;
  /** Whether `ref` is a tag; by default, whether it starts with `refs/tags/`. */
  tag?: boolean;
  /** Commit title (first line). */
  title: string;
  author: string;
  /** Where the commit status links to (the build or release in Slipway). http(s) only. */
  targetUrl?: string;
  /** Where the Slack notice links the commit to (its GitLab page); `targetUrl` otherwise. */
  commitUrl?: string;
}

interface Timings {
  buildSeconds?: number;
  rolloutSeconds?: number;
}

/** What happened, at each step of the release workflow. */
export type ReportEvent =
  /** The build is queued: status `pending`. */
  | { kind: 'build_pending'; target: ReportTarget }
  /** The build runs: status `running` (it stays so until the release ends). */
  | { kind: 'build_running'; target: ReportTarget }
  /** Status `failed` and a Slack notice saying why. */
  | ({ kind: 'build_failed'; target: ReportTarget; reason: string } & Pick<Timings, 'buildSeconds'>)
  /** Superseded by a newer push or canceled: status `canceled`; nobody is notified. */
  | { kind: 'build_canceled'; target: ReportTarget; reason?: string }
  /** The rollout starts: a GitLab deployment is created `running`; its id comes back in the outcome. */
  | { kind: 'release_deploying'; target: ReportTarget }
  /** Status `success`, the deployment `success`, Slack says it is live (again, for a rollback). */
  | ({ kind: 'release_live'; target: ReportTarget; deploymentId?: number; rollbackOf?: string } & Timings)
  /**
   * A release waits for approval: status `pending` saying so; Slack says what waits and who may
   * approve. No deployment yet: GitLab's deployment starts with the rollout.
   */
  | { kind: 'release_awaiting_approval'; target: ReportTarget; release: string; approvers: string }
  /** A release was rejected, or waited too long: status `canceled`; Slack says so. Not a failure. */
  | {
      kind: 'release_not_approved';
      target: ReportTarget;
      release: string;
      outcome: 'rejected' | 'expired';
      reason: string;
    }
  /** Status `failed`, the deployment `failed`, Slack says why. */
  | ({
      kind: 'rollout_failed' | 'rolled_back';
      target: ReportTarget;
      deploymentId?: number;
      reason: string;
    } & Timings);

/** `ok`, `skipped` (nothing to do, or nowhere to do it), or `failed: <why>`. */
export type StepOutcome = 'ok' | 'skipped' | `failed: ${string}`;

export interface ReportOutcome {
  gitlab: StepOutcome;
  slack: StepOutcome;
  /** The GitLab deployment created by this report (`release_deploying`, or a late creation). */
  deploymentId?: number;
}

/** How a notifier that does not throw (the Slack adapter) tells how a notice fared. */
export interface DeliveryOutcome {
  delivered: boolean;
  /** HTTP attempts made (0 when nothing was posted). */
  attempts: number;
  /** Nowhere to deliver to (no webhook configured): reported as `skipped`, not as a failure. */
  skipped?: boolean;
  /** Why it was not delivered; never holds a secret. */
  error?: string;
}

/** A notifier that retries by itself and returns the outcome instead of throwing. */
export interface AccountableNotifier extends Notifier {
  deliver(notice: ReleaseNotice): Promise<DeliveryOutcome>;
}

export interface ReportRetry {
  /** Tries per call, the first included. @default 3 */
  attempts?: number;
  /** First backoff, doubled per retry. @default 500 */
  baseDelayMs?: number;
  /** No retry starts once this much time has gone by in one report. @default 20000 */
  budgetMs?: number;
}

export interface ReportDeps {
  /** The GitLab connection; without it GitLab is skipped. */
  gitlab?: GitlabApi;
  notifier: Notifier;
  /** Told about each failed step (never a secret: GitLab errors are token-free, Slack's URL-free). */
  log?: (message: string, detail: Record<string, unknown>) => void;
  retry?: ReportRetry;
  /** For tests. */
  sleep?: (ms: number) => Promise<void>;
  /** Milliseconds clock, for tests. @default Date.now */
  now?: () => number;
}

/** The commit status's name in GitLab: one per app, so several apps on one project do not collide. */
export function commitStatusName(app: string): string {
  return `slipway/${app}`;
}

/** GitLab keeps at most 255 characters of a status description. */
const DESCRIPTION_MAX = 255;

/** Reports one event to GitLab and Slack, concurrently. Never throws. */
export async function report(deps: ReportDeps, event: ReportEvent): Promise<ReportOutcome> {
  const policy = retryPolicy(deps);
  const [gitlab, slack] = await Promise.all([
    settle(() => reportToGitlab(deps, policy, event)),
    settle(() => reportToSlack(deps, policy, event)),
  ]);
  const outcome: ReportOutcome = {
    gitlab: gitlab.ok ? gitlab.value.outcome : failed(gitlab.error),
    slack: slack.ok ? slack.value : failed(slack.error),
  };
  if (gitlab.ok && gitlab.value.deploymentId !== undefined) outcome.deploymentId = gitlab.value.deploymentId;
  return outcome;
}

/** The Slack notice an event warrants, if any. */
export function noticeFor(event: ReportEvent): ReleaseNotice | undefined {
  const kind = noticeKind(event);
  if (!kind) return undefined;
  const { target } = event;
  const timings = event as Partial<Timings> & { reason?: string };
  const url = target.commitUrl ?? target.targetUrl;
  const reason =
    event.kind === 'release_awaiting_approval'
      ? `Waiting for ${event.approvers}: slipway approve ${target.app} ${event.release} (or slipway reject), or Approve in the console.`
      : timings.reason;
  return {
    kind,
    app: target.app,
    environment: target.environment,
    commit: target.commit,
    title: target.title,
    author: target.author,
    ref: target.ref,
    ...(timings.buildSeconds !== undefined ? { buildSeconds: timings.buildSeconds } : {}),
    ...(timings.rolloutSeconds !== undefined ? { rolloutSeconds: timings.rolloutSeconds } : {}),
    ...(kind !== 'live' && reason ? { reason } : {}),
    ...(event.kind === 'release_live' && event.rollbackOf ? { rollbackOf: event.rollbackOf } : {}),
    ...('release' in event && event.release ? { release: event.release } : {}),
    ...(url ? { url } : {}),
  };
}

function noticeKind(event: ReportEvent): ReleaseNotice['kind'] | undefined {
  switch (event.kind) {
    case 'build_failed':
    case 'rollout_failed':
    case 'rolled_back':
      return event.kind;
    case 'release_live':
      return 'live';
    case 'release_awaiting_approval':
      return 'awaiting_approval';
    case 'release_not_approved':
      return event.outcome;
    default:
      return undefined;
  }
}

/** The commit status an event sets, if any. */
export function commitStatusFor(event: ReportEvent): GitlabCommitStatus | undefined {
  const { target } = event;
  const status = (state: GitlabCommitStatus['state'], description: string): GitlabCommitStatus => ({
    state,
    name: commitStatusName(target.app),
    ref: shortRef(target.ref),
    ...(isHttpUrl(target.targetUrl) ? { targetUrl: target.targetUrl } : {}),
    description: clip(oneLine(description), DESCRIPTION_MAX),
  });
  switch (event.kind) {
    case 'build_pending':
      return status('pending', 'Build queued');
    case 'build_running':
      return status('running', `Building and releasing to ${target.environment}`);
    case 'build_failed':
      return status('failed', `Build failed: ${event.reason}`);
    case 'build_canceled':
      return status('canceled', event.reason ? `Not released: ${event.reason}` : 'Not released: canceled');
    case 'release_deploying':
      // Still `running` since the build started; GitLab refuses running → running.
      return undefined;
    case 'release_live':
      return status('success', `Live on ${target.environment}`);
    case 'rollout_failed':
      return status('failed', `Rollout to ${target.environment} failed: ${event.reason}`);
    case 'rolled_back':
      return status('failed', `Rolled back on ${target.environment}: ${event.reason}`);
    case 'release_awaiting_approval':
      return status('pending', `Waiting for approval to release to ${target.environment} (${event.approvers})`);
    case 'release_not_approved':
      return status('canceled', `Not released to ${target.environment}: ${event.reason}`);
  }
}

type RetryPolicy = Required<ReportRetry> & { sleep: (ms: number) => Promise<void>; now: () => number; started: number };

function retryPolicy(deps: ReportDeps): RetryPolicy {
  const now = deps.now ?? Date.now;
  return {
    attempts: Math.max(1, Math.floor(deps.retry?.attempts ?? 3)),
    baseDelayMs: deps.retry?.baseDelayMs ?? 500,
    budgetMs: deps.retry?.budgetMs ?? 20_000,
    sleep: deps.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms))),
    now,
    started: now(),
  };
}

async function reportToGitlab(
  deps: ReportDeps,
  policy: RetryPolicy,
  event: ReportEvent,
): Promise<{ outcome: StepOutcome; deploymentId?: number }> {
  const { gitlab } = deps;
  const { target } = event;
  const status = commitStatusFor(event);
  const deployment = deploymentStepFor(event);
  if (!gitlab || target.projectId === undefined || (!status && !deployment)) return { outcome: 'skipped' };
  const projectId = target.projectId;
  const problems: string[] = [];
  let deploymentId: number | undefined;

  const step = async (name: string, call: () => Promise<void>) => {
    try {
      await call();
    } catch (error) {
      const message = messageOf(error);
      problems.push(`${name}: ${message}`);
      safeLog(deps, 'reporting to GitLab failed', {
        event: event.kind,
        app: target.app,
        commit: target.commit,
        step: name,
        error: message,
      });
    }
  };

  if (status) {
    await step('commit status', () =>
      withRetry(policy, isRetryableGitlab, async () => {
        try {
          await gitlab.setCommitStatus(projectId, target.commit, status);
        } catch (error) {
          // A retry after a lost answer (or a repeated workflow step) finds the status already there.
          if (!alreadyInState(error, status.state)) throw error;
        }
      }),
    );
  }
  if (deployment) {
    if (deployment.id !== undefined) {
      const id = deployment.id;
      await step('deployment', () =>
        withRetry(policy, isRetryableGitlab, () => gitlab.updateDeployment(projectId, id, deployment.status)),
      );
    } else {
      // Creating is not idempotent: retried only when GitLab cannot have acted on the request.
      await step('deployment', async () => {
        deploymentId = await withRetry(policy, isRetryableCreate, () =>
          gitlab.createDeployment(projectId, {
            environment: target.environment,
            sha: target.commit,
            ref: shortRef(target.ref),
            tag: target.tag ?? target.ref.startsWith('refs/tags/'),
            status: deployment.status,
          }),
        );
      });
    }
  }
  return {
    outcome: problems.length === 0 ? 'ok' : failed(problems.join('; ')),
    ...(deploymentId !== undefined ? { deploymentId } : {}),
  };
}

/** The deployment an event creates (no id) or updates. */
function deploymentStepFor(event: ReportEvent): { id?: number; status: GitlabDeploymentStatus } | undefined {
  switch (event.kind) {
    case 'release_deploying':
      return { status: 'running' };
    case 'release_live':
      return { ...(event.deploymentId !== undefined ? { id: event.deploymentId } : {}), status: 'success' };
    case 'rollout_failed':
    case 'rolled_back':
      return { ...(event.deploymentId !== undefined ? { id: event.deploymentId } : {}), status: 'failed' };
    default:
      return undefined;
  }
}

async function reportToSlack(deps: ReportDeps, policy: RetryPolicy, event: ReportEvent): Promise<StepOutcome> {
  const notice = noticeFor(event);
  if (!notice) return 'skipped';
  const { notifier } = deps;
  let error: string | undefined;
  if (isAccountable(notifier)) {
    // It retries by itself; retrying here too would multiply the attempts.
    const delivery = await notifier.deliver(notice);
    if (delivery.skipped) return 'skipped';
    if (!delivery.delivered) error = delivery.error ?? 'not delivered';
  } else {
    try {
      await withRetry(
        policy,
        () => true,
        () => notifier.notify(notice),
      );
    } catch (thrown) {
      error = messageOf(thrown);
    }
  }
  if (error === undefined) return 'ok';
  safeLog(deps, 'notifying Slack failed', {
    event: event.kind,
    app: event.target.app,
    commit: event.target.commit,
    error,
  });
  return failed(error);
}

/** A failing logger must not turn a report into an exception. */
function safeLog(deps: ReportDeps, message: string, detail: Record<string, unknown>): void {
  try {
    deps.log?.(message, detail);
  } catch {
    // Nothing more to do: the outcome still says what failed.
  }
}

function isAccountable(notifier: Notifier): notifier is AccountableNotifier {
  return typeof (notifier as Partial<AccountableNotifier>).deliver === 'function';
}

async function withRetry<T>(policy: RetryPolicy, retryable: (error: unknown) => boolean, call: () => Promise<T>) {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await call();
    } catch (error) {
      const delay = policy.baseDelayMs * 2 ** (attempt - 1);
      const inBudget = policy.now() - policy.started + delay < policy.budgetMs;
      if (attempt >= policy.attempts || !retryable(error) || !inBudget) throw error;
      await policy.sleep(delay);
    }
  }
}

/** Worth another try: GitLab unreachable or timing out, rate limiting, 5xx. Not: refusals (4xx). */
function isRetryableGitlab(error: unknown): boolean {
  if (!(error instanceof GitlabError)) return true;
  if (error.kind === 'unreachable') return true;
  return error.kind === 'failed' && error.status !== undefined && (error.status === 429 || error.status >= 500);
}

/** For creations: only when the request cannot have been acted on (no connection; 429, 502–504). */
function isRetryableCreate(error: unknown): boolean {
  if (!(error instanceof GitlabError)) return false;
  if (error.kind === 'unreachable') {
    const code = (error.cause as { code?: string } | undefined)?.code;
    return code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EAI_AGAIN';
  }
  return error.kind === 'failed' && [429, 502, 503, 504].includes(error.status ?? 0);
}

/** GitLab's 400 "Cannot transition status via :run from :running": the status already is what was asked. */
function alreadyInState(error: unknown, state: GitlabCommitStatus['state']): boolean {
  if (!(error instanceof GitlabError) || error.kind !== 'invalid') return false;
  const from = /Cannot transition status via :\w+ from :(\w+)/.exec(error.message)?.[1];
  return from === state;
}

async function settle<T>(fn: () => Promise<T>): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
  try {
    return { ok: true, value: await fn() };
  } catch (error) {
    return { ok: false, error };
  }
}

function failed(error: unknown): StepOutcome {
  return `failed: ${typeof error === 'string' ? error : messageOf(error)}`;
}

function messageOf(error: unknown): string {
  if (typeof error === 'object' && error !== null && typeof (error as Error).message === 'string') {
    return (error as Error).message || (error as Error).name || 'unknown error';
  }
  return String(error);
}

function shortRef(ref: string): string {
  return ref.replace(/^refs\/(heads|tags)\//, '');
}

function isHttpUrl(value: string | undefined): value is string {
  if (!value) return false;
  try {
    const url = new URL(value);
    return url.protocol === 'https:' || url.protocol === 'http:';
  } catch {
    return false;
  }
}

function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

function clip(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}
