import { environmentOf, isReviewEnvironment, mustHaveEnvironments } from './environments';
import { NotFoundError, ValidationError } from './errors';
import type { Build, Release } from './model';
import type { Store } from './ports';
import { rollbackOf } from './rollbacks';

/**
 * Delivery (DORA-style) metrics of one app, from Slipway's own history (PRODUCT.md "Delivery
 * metrics (contract)"). Inside the window [now − N days, now], both ends included:
 *
 * - a *deployment* is a release whose `liveAt` is in the window (rollbacks included);
 * - *lead time* of a deployment that is not a rollback is its `liveAt` minus its build's
 *   `committedAt` (the pushed commit's own timestamp, or GitLab's `committed_date` for
 *   `deploy --ref`). Rollbacks have none; a deployment whose build has no `committedAt`, or
 *   whose commit claims to be newer than the deployment (a skewed clock), is not measured;
 * - a *failed change* is a release that ended `failed` or `rolled_back` (at its `endedAt`, in
 *   the window), or the live release a rollback moved away from: the release that went live
 *   last before the rollback's `createdAt` (at that `createdAt`, in the window). A release is
 *   one change, so it counts once however many rollbacks leave it; a "rollback" to the release
 *   that is live moves away from nothing;
 * - `changeFailureRate` = failed changes ÷ (deployments + releases that ended `failed` or
 *   `rolled_back` in the window), at most 1, `null` when the divisor is 0;
 * - *time to restore* of a failed change runs from the failure to the app's next `liveAt` after
 *   it (up to now); failed changes not restored yet are left out;
 * - `daily` has one entry per UTC calendar day the window touches, from the day of `from` to the
 *   day of `to` (so N + 1 entries), ascending, without gaps: deployments by the day of their
 *   `liveAt`, failed changes by the day of their failure. Their sums are the window's totals.
 *
 * Percentiles: `median` is the usual one (the middle value, or the mean of the two middle
 * values); `p90` is nearest-rank (the ⌈0.9·n⌉-th smallest value, so always an observed one).
 * Durations are in seconds (millisecond precision); rates are rounded to 4 decimals.
 */

export const DEFAULT_METRICS_DAYS = 30;
export const MAX_METRICS_DAYS = 365;

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * How far before the window the loader reads releases and builds: a release that goes live
 * (or fails) in the window was created at most one rollout earlier (hours, bounded by the
 * rollout lease), and a rollback early in the window needs the release that was live before it.
 */
export const METRICS_LOOKBACK_MS = 7 * DAY_MS;

/** The contract's figures. */
export interface DeliveryMetrics {
  app: string;
  days: number;
  /** Start of the window, ISO 8601 UTC (now − days). */
  from: string;
  /** End of the window, ISO 8601 UTC (now). */
  to: string;
  deployments: number;
  deploymentsPerDay: number;
  leadTimeSeconds: { median: number; p90: number } | null;
  changeFailureRate: number | null;
  timeToRestoreSeconds: { median: number } | null;
  daily: DailyDelivery[];
}

export interface DailyDelivery {
  /** UTC day, `YYYY-MM-DD`. */
  date: string;
  deployments: number;
  failures: number;
}

/** What the metrics are computed from. */
export interface DeliveryHistory {
  app: string;
  days: number;
  now: Date;
  /**
   * The app's releases, in any order: at least those created in the window and the few before
   * it that went live, failed or were rolled away from in it (more are harmless).
   */
  releases: readonly Release[];
  /** Builds of those releases, for `committedAt`; builds of no release are ignored. */
  builds: readonly Pick<Build, 'id' | 'committedAt'>[];
}

/** Checks a window length: an integer number of days, 1–365. ValidationError otherwise. */
export function validateMetricsDays(days: unknown): number {
  if (typeof days !== 'number' || !Number.isInteger(days) || days < 1 || days > MAX_METRICS_DAYS) {
    throw new ValidationError(`days must be a whole number from 1 to ${MAX_METRICS_DAYS}, got ${String(days)}`);
  }
  return days;
}

/** The app's delivery metrics over the `days` before `now`. Pure. */
export function computeDeliveryMetrics(history: DeliveryHistory): DeliveryMetrics {
  const days = validateMetricsDays(history.days);
  const toMs = history.now.getTime();
  if (!Number.isFinite(toMs)) throw new ValidationError('now must be a valid date');
  const fromMs = toMs - days * DAY_MS;
  const inWindow = (ms: number) => inRange(ms, fromMs, toMs);

  const committed = new Map(history.builds.map((b) => [b.id, time(b.committedAt)]));
  // Everything that went live up to now, in order: deployments, "live before", "next live".
  const wentLive = history.releases
    .map((release) => ({ release, at: time(release.liveAt) }))
    .filter(({ at }) => at <= toMs)
    .sort((a, b) => a.at - b.at);

  const deployments = wentLive.filter(({ at }) => inWindow(at));
  const leadTimesMs = deployments
    .filter(({ release }) => rollbackOf(release) === undefined)
    .map(({ release, at }) => at - (committed.get(release.build) ?? Number.NaN))
    .filter((ms) => ms >= 0);

  const failures: Array<{ release: string; at: number }> = [];
  const failed = new Set<string>();
  let ended = 0;
  for (const release of history.releases) {
    const at = time(release.endedAt);
    if ((release.status === 'failed' || release.status === 'rolled_back') && inWindow(at)) {
      ended++;
      failures.push({ release: release.id, at });
      failed.add(release.id);
    }
  }
  const rollbacks = history.releases
    .map((release) => ({ release, copied: rollbackOf(release), at: time(release.createdAt) }))
    .filter(({ copied, at }) => copied !== undefined && inWindow(at))
    .sort((a, b) => a.at - b.at);
  for (const { release, copied, at } of rollbacks) {
    const before = lastBefore(wentLive, at, release.id);
    if (!before || before.id === copied || failed.has(before.id)) continue;
    failures.push({ release: before.id, at });
    failed.add(before.id);
  }

  const restoreMs = failures.flatMap(({ at }) => {
    const next = wentLive.find((live) => live.at > at);
    return next ? [next.at - at] : [];
  });

  const divisor = deployments.length + ended;
  const lead = leadTimesMs.sort(ascending);
  const restore = restoreMs.sort(ascending);
  return {
    app: history.app,
    days,
    from: new Date(fromMs).toISOString(),
    to: new Date(toMs).toISOString(),
    deployments: deployments.length,
    deploymentsPerDay: round4(deployments.length / days),
    leadTimeSeconds: lead.length ? { median: median(lead) / 1000, p90: nearestRank(lead, 0.9) / 1000 } : null,
    changeFailureRate: divisor > 0 ? round4(Math.min(1, failures.length / divisor)) : null,
    timeToRestoreSeconds: restore.length ? { median: median(restore) / 1000 } : null,
    daily: dailyOf(
      fromMs,
      toMs,
      deployments.map(({ at }) => at),
      failures.map(({ at }) => at),
    ),
  };
}

/**
 * Reads what the metrics need from the store and computes them: the app's releases and builds
 * created since the window's start minus METRICS_LOOKBACK_MS (two key-range Queries), the
 * releases just before that only when a rollback in the window needs the release live before
 * it, and any deployment's build created before that. NotFoundError for an unknown app,
 * ValidationError for a bad `days`.
 */
export async function loadDeliveryMetrics(
  deps: {
    store: Pick<
      Store,
      'getApp' | 'listReleasesSince' | 'listBuildsSince' | 'listReleases' | 'getBuild' | 'listEnvironments'
    >;
  },
  app: string,
  /** `environment`: count that environment's releases only (default: every environment's but review apps'). */
  options: { days: number; now?: Date; environment?: string },
): Promise<DeliveryMetrics> {
  const { store } = deps;
  const days = validateMetricsDays(options.days);
  const now = options.now ?? new Date();
  const toMs = now.getTime();
  if (!Number.isFinite(toMs)) throw new ValidationError('now must be a valid date');
  const fromMs = toMs - days * DAY_MS;
  const since = new Date(fromMs - METRICS_LOOKBACK_MS).toISOString();

  const [found, recent, builds] = await Promise.all([
    store.getApp(app),
    store.listReleasesSince(app, since),
    store.listBuildsSince(app, since),
  ]);
  if (!found) throw new NotFoundError(`no app named ${app}`);
  const only = options.environment;
  if (only !== undefined) await mustHaveEnvironments(store, found, only);
  // Review apps (`review/<iid>`) preview merge requests: they are no delivery, unless asked for by name.
  const inScope = (r: Release) =>
    only === undefined ? !isReviewEnvironment(r.environment) : environmentOf(found, r) === only;

  let releases: Release[] = recent.filter(inScope);
  if (needsEarlierReleases(recent, fromMs, toMs)) {
    // The release live before an early rollback went live before `since`: it is among the last
    // few releases created before then (releases are created in rollout order).
    const older = await store.listReleases(app, { limit: recent.length + 25 });
    const byId = new Map([...older, ...recent].filter(inScope).map((r) => [r.id, r]));
    releases = [...byId.values()];
  }

  const known = new Set(builds.map((b) => b.id));
  const missing = new Set(
    releases
      .filter((r) => inRange(time(r.liveAt), fromMs, toMs) && rollbackOf(r) === undefined && !known.has(r.build))
      .map((r) => r.build),
  );
  const fetched = await Promise.all([...missing].map((id) => store.getBuild(app, id)));
  const all = [...builds, ...fetched.filter((b): b is Build => b !== undefined)];

  return computeDeliveryMetrics({ app: found.name, days, now, releases, builds: all });
}

/** Whether a rollback in the window has no loaded release that went live before it. */
function needsEarlierReleases(releases: readonly Release[], fromMs: number, toMs: number): boolean {
  let firstLive = Number.POSITIVE_INFINITY;
  for (const r of releases) {
    const at = time(r.liveAt);
    if (at < firstLive) firstLive = at;
  }
  return releases.some((r) => {
    const at = time(r.createdAt);
    return rollbackOf(r) !== undefined && inRange(at, fromMs, toMs) && !(firstLive <= at);
  });
}

/** The release that went live last at or before `at` (other than `except`), if any. */
function lastBefore(
  wentLive: ReadonlyArray<{ release: Release; at: number }>,
  at: number,
  except: string,
): Release | undefined {
  for (let i = wentLive.length - 1; i >= 0; i--) {
    const live = wentLive[i];
    if (live && live.at <= at && live.release.id !== except) return live.release;
  }
  return undefined;
}

function dailyOf(fromMs: number, toMs: number, deployments: number[], failures: number[]): DailyDelivery[] {
  const daily: DailyDelivery[] = [];
  const index = new Map<string, DailyDelivery>();
  const last = dayOf(toMs);
  for (let ms = Date.parse(`${dayOf(fromMs)}T00:00:00.000Z`); ; ms += DAY_MS) {
    const date = dayOf(ms);
    const entry = { date, deployments: 0, failures: 0 };
    daily.push(entry);
    index.set(date, entry);
    if (date >= last) break;
  }
  for (const at of deployments) {
    const entry = index.get(dayOf(at));
    if (entry) entry.deployments++;
  }
  for (const at of failures) {
    const entry = index.get(dayOf(at));
    if (entry) entry.failures++;
  }
  return daily;
}

/** Milliseconds of an ISO time, NaN when absent or unreadable (NaN fails every comparison). */
function time(iso: string | undefined): number {
  return iso === undefined ? Number.NaN : Date.parse(iso);
}

function inRange(ms: number, fromMs: number, toMs: number): boolean {
  return ms >= fromMs && ms <= toMs;
}

function dayOf(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

function ascending(a: number, b: number): number {
  return a - b;
}

/** The middle value of sorted, non-empty values (the mean of the two middle ones for an even count). */
function median(sorted: readonly number[]): number {
  const mid = Math.floor(sorted.length / 2);
  const upper = sorted[mid] ?? 0;
  return sorted.length % 2 === 1 ? upper : ((sorted[mid - 1] ?? 0) + upper) / 2;
}

/** Nearest-rank percentile of sorted, non-empty values: the ⌈p·n⌉-th smallest. */
function nearestRank(sorted: readonly number[], p: number): number {
  const rank = Math.max(1, Math.ceil(p * sorted.length));
  return sorted[rank - 1] ?? 0;
}

function round4(value: number): number {
  return Math.round(value * 10_000) / 10_000;
}
