/** How many unknown hook ids a process remembers. */
export const UNKNOWN_HOOKS_MAX_ENTRIES = 10_000;
/** How long a process remembers that a hook id is unknown. */
export const UNKNOWN_HOOKS_TTL_MS = 60_000;

export interface UnknownHookIdsOptions {
  /** Most ids remembered; beyond it the oldest goes first. @default 10,000 */
  maxEntries?: number;
  /** How long an id is remembered. @default 60 s */
  ttlMs?: number;
  /** Milliseconds now (tests move it). @default Date.now */
  now?: () => number;
}

/**
 * Hook ids known not to exist, per process (one Lambda container, or local mode): a flood of
 * well-formed but random hook ids costs one DynamoDB read per id, then none while it is
 * remembered. Bounded in size and in time. An id is remembered only after a strongly consistent
 * read found no hook under it; ids are 144 random bits made when the app is created, before
 * anyone knows them, so a remembered id becomes valid only if someone sent it before it existed
 * (a guess), and then answers 404 for at most `ttlMs` longer in that process.
 *
 * A Map keeps insertion order, and every entry lives the same time, so the oldest entry is both
 * the next to expire and the first to evict: each `add` drops expired entries from the front
 * and, past `maxEntries`, the oldest. About 10,000 × 100 bytes at most.
 */
export class UnknownHookIds {
  private readonly expiries = new Map<string, number>();
  private readonly maxEntries: number;
  private readonly ttlMs: number;
  private readonly now: () => number;

  constructor(options: UnknownHookIdsOptions = {}) {
    this.maxEntries = options.maxEntries ?? UNKNOWN_HOOKS_MAX_ENTRIES;
    this.ttlMs = options.ttlMs ?? UNKNOWN_HOOKS_TTL_MS;
    this.now = options.now ?? Date.now;
    if (!Number.isInteger(this.maxEntries) || this.maxEntries < 1) {
      throw new RangeError(`maxEntries must be a positive integer, got ${this.maxEntries}`);
    }
    if (!(this.ttlMs > 0)) throw new RangeError(`ttlMs must be positive, got ${this.ttlMs}`);
  }

  /** Whether `hookId` was found unknown less than `ttlMs` ago. */
  has(hookId: string): boolean {
    const expires = this.expiries.get(hookId);
    if (expires === undefined) return false;
    if (expires > this.now()) return true;
    this.expiries.delete(hookId);
    return false;
  }

  /** Remembers that no hook has this id (from now, for `ttlMs`). */
  add(hookId: string): void {
    const now = this.now();
    this.expiries.delete(hookId);
    this.expiries.set(hookId, now + this.ttlMs);
    for (const [id, expires] of this.expiries) {
      if (expires > now && this.expiries.size <= this.maxEntries) break;
      this.expiries.delete(id);
    }
  }

  /** How many ids are remembered (expired ones included until the next `add` drops them). */
  get size(): number {
    return this.expiries.size;
  }
}
