import { UNKNOWN_HOOKS_MAX_ENTRIES, UnknownHookIds } from '../../functions/http/unknown-hooks';

function aCache(options: { maxEntries?: number; ttlMs?: number } = {}) {
  let now = 1_000_000;
  const cache = new UnknownHookIds({ ...options, now: () => now });
  return { cache, advance: (ms: number) => (now += ms) };
}

describe('the negative cache of hook ids', () => {
  it('remembers an unknown id for its time, and forgets it after', () => {
    const { cache, advance } = aCache({ ttlMs: 60_000 });
    cache.add('unknown-hook-id-0001');

    expect(cache.has('unknown-hook-id-0001')).toBe(true);
    expect(cache.has('never-seen-hook-id-01')).toBe(false);
    advance(59_999);
    expect(cache.has('unknown-hook-id-0001')).toBe(true);
    advance(1);
    expect(cache.has('unknown-hook-id-0001')).toBe(false);
    expect(cache.size).toBe(0);
  });

  it('holds at most maxEntries ids, dropping the oldest first', () => {
    const { cache } = aCache({ maxEntries: 3 });
    for (const id of ['id-a', 'id-b', 'id-c', 'id-d']) cache.add(id);

    expect(cache.size).toBe(3);
    expect(cache.has('id-a')).toBe(false);
    expect(['id-b', 'id-c', 'id-d'].every((id) => cache.has(id))).toBe(true);
  });

  it('counts an id added again from its newest add, for time and for eviction', () => {
    const { cache, advance } = aCache({ maxEntries: 2, ttlMs: 1_000 });
    cache.add('id-a');
    advance(600);
    cache.add('id-b');
    cache.add('id-a');
    advance(600);

    expect(cache.has('id-a')).toBe(true);
    cache.add('id-c');
    expect(cache.has('id-b')).toBe(false);
    expect(cache.has('id-a')).toBe(true);
  });

  it('drops expired ids when adding, so a quiet flood does not stay in memory', () => {
    const { cache, advance } = aCache({ ttlMs: 1_000 });
    for (let i = 0; i < 500; i++) cache.add(`flood-${i}`);
    advance(1_000);

    cache.add('later');

    expect(cache.size).toBe(1);
  });

  it('stays within its default bound under a flood of distinct ids', () => {
    const { cache } = aCache();
    for (let i = 0; i < UNKNOWN_HOOKS_MAX_ENTRIES + 5_000; i++) cache.add(`flood-id-${i}`);

    expect(cache.size).toBe(UNKNOWN_HOOKS_MAX_ENTRIES);
    expect(cache.has('flood-id-0')).toBe(false);
    expect(cache.has(`flood-id-${UNKNOWN_HOOKS_MAX_ENTRIES + 4_999}`)).toBe(true);
  });

  it('refuses a bound or a time that is not positive', () => {
    expect(() => new UnknownHookIds({ maxEntries: 0 })).toThrow(RangeError);
    expect(() => new UnknownHookIds({ ttlMs: 0 })).toThrow(RangeError);
    expect(() => new UnknownHookIds({ ttlMs: Number.NaN })).toThrow(RangeError);
  });
});
