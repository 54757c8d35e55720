import type { Build, BuildStatus, Release, RolloutLock, RolloutMode, RolloutTurn } from './model';
import type { Clock, Store } from './ports';

/**
 * Whose turn it is to roll out, per app: the policy lives here, the store only reads the lock
 * and takes it with a conditional write (`Store.getRolloutLock`, `Store.takeRolloutLock`), so two
 * executions never both win.
 */

/**
 * How long the rollout lock holds without being given back. Longer than any rollout the
 * workflow waits for (the Rollout state's two-hour timeout and one recheck); a lock older than
 * this belongs to an execution that died holding it, and the next build takes it over.
 */
export const ROLLOUT_LEASE_MS = 3 * 60 * 60 * 1000;

/** How long an older build keeps its place in the queue (queued mode); older ones are history. */
export const QUEUE_WINDOW_MS = 3 * 60 * 60 * 1000;

/** How many of the app's newest builds and releases the policy looks at. */
const POLICY_WINDOW = 100;

/**
 * The rollout-turn policy, decided over the app's recent builds and releases (newest first), of
 * the environment the build goes to (its `environment`; absent: the app's first):
 * `superseded` when (superseded mode) a newer build of the app is queued, running or succeeded;
 * `wait` when (queued mode) an older build is still on its way (queued, running, or succeeded
 * without a release yet, within QUEUE_WINDOW_MS); `go` otherwise: the lock alone decides.
 */
export function rolloutPolicy(
  buildId: string,
  mode: RolloutMode,
  all: readonly Build[],
  releases: readonly Release[],
  now: Date,
  /**
   * The environment the turn is for, when it is not the build's own: a release made by fan-out
   * (domain/fan-out.ts), competing with every build that goes there too.
   */
  target?: string,
): 'go' | 'superseded' | 'wait' {
  if (mode === 'immediate') return 'go';
  // Concurrency holds per environment: only the builds going where this one goes count (as their
  // own environment, or as one the push matched too).
  const environment = target ?? all.find((b) => b.id === buildId)?.environment;
  const builds = all.filter(
    (b) => b.environment === environment || (environment !== undefined && b.alsoTo?.includes(environment)),
  );
  const live: ReadonlySet<BuildStatus> = new Set(['queued', 'running', 'succeeded']);
  if (mode === 'superseded') {
    return builds.some((b) => b.id > buildId && live.has(b.status)) ? 'superseded' : 'go';
  }
  const released = new Set(
    releases.filter((r) => target === undefined || r.environment === target).map((r) => r.build),
  );
  const since = now.getTime() - QUEUE_WINDOW_MS;
  const waiting = builds.some(
    (b) =>
      b.id < buildId &&
      Date.parse(b.createdAt) >= since &&
      (b.status === 'queued' || b.status === 'running' || (b.status === 'succeeded' && !released.has(b.id))),
  );
  return waiting ? 'wait' : 'go';
}

/** Whether a lock has outlived its lease (its holder died without giving it back). */
export function leaseExpired(lock: RolloutLock, now: Date): boolean {
  return now.getTime() - Date.parse(lock.acquiredAt) > ROLLOUT_LEASE_MS;
}

export interface RolloutTurnDeps {
  store: Pick<Store, 'getRolloutLock' | 'takeRolloutLock' | 'listBuilds' | 'listReleases'>;
  clock?: Clock | undefined;
}

/**
 * Takes the app's rollout turn for a build (idempotent for the holder): `superseded` or `wait`
 * as the policy says, `wait` while another build holds a live lease, else the lock, taken with
 * a conditional write. A lock older than its lease is taken over conditionally on it being
 * exactly the lock that was read, so two takers cannot both win; a lost race is `wait`.
 */
export async function takeRolloutTurn(
  deps: RolloutTurnDeps,
  app: string,
  build: string,
  mode: RolloutMode,
  /** The environment's lane (domain/environments.ts): its own lock; the app's first has none. */
  lane?: string,
  /** The environment, for a release made by fan-out (see rolloutPolicy). */
  target?: string,
): Promise<RolloutTurn> {
  const { store } = deps;
  const lock = await store.getRolloutLock(app, lane);
  if (lock?.holder === build) return 'acquired';
  if (mode !== 'immediate') {
    const [builds, releases] = await Promise.all([
      store.listBuilds(app, { limit: POLICY_WINDOW }),
      store.listReleases(app, { limit: POLICY_WINDOW }),
    ]);
    const policy = rolloutPolicy(build, mode, builds, releases, deps.clock?.now() ?? new Date(), target);
    if (policy !== 'go') return policy;
  }
  const now = deps.clock?.now() ?? new Date();
  if (lock && !leaseExpired(lock, now)) return 'wait';
  return (await store.takeRolloutLock(app, build, now.toISOString(), lock, lane)) ? 'acquired' : 'wait';
}
