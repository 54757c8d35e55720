import type { Build, Release, RolloutLock } from '../../functions/domain/model';
import { ROLLOUT_LEASE_MS, type RolloutTurnDeps, takeRolloutTurn } from '../../functions/domain/rollout';

const NOW = new Date('2026-12-01T10:00:00.000Z');

/** A store that only holds a lock and answers lists: the domain decides, the store writes. */
function world(builds: Partial<Build>[] = [], lock?: RolloutLock) {
  const takes: { build: string; at: string; previous?: RolloutLock }[] = [];
  let held = lock;
  const deps: RolloutTurnDeps = {
    clock: { now: () => NOW },
    store: {
      getRolloutLock: async () => held,
      takeRolloutLock: async (_app, build, at, previous) => {
        takes.push({ build, at, ...(previous ? { previous } : {}) });
        if (held && held.holder !== build && held !== previous) return false;
        held = { holder: build, acquiredAt: at };
        return true;
      },
      listBuilds: async () => builds.map((b) => ({ createdAt: NOW.toISOString(), ...b }) as Build),
      listReleases: async () => [] as Release[],
    },
  };
  return { deps, takes };
}

describe('whose rollout turn it is (the domain decides, the store only writes)', () => {
  it('skips a build a newer push overtook in superseded mode, without touching the lock', async () => {
    const { deps, takes } = world([{ id: 'b2', status: 'running' }]);
    expect(await takeRolloutTurn(deps, 'app', 'b1', 'superseded')).toBe('superseded');
    expect(takes).toEqual([]);
  });

  it('makes a build wait behind an older one still on its way in queued mode', async () => {
    const { deps, takes } = world([{ id: 'b0', status: 'running' }]);
    expect(await takeRolloutTurn(deps, 'app', 'b1', 'queued')).toBe('wait');
    expect(takes).toEqual([]);
  });

  it('takes a free lock, and waits while another build holds a live lease', async () => {
    const free = world();
    expect(await takeRolloutTurn(free.deps, 'app', 'b1', 'immediate')).toBe('acquired');
    expect(free.takes).toEqual([{ build: 'b1', at: NOW.toISOString() }]);

    const held = world([], { holder: 'b0', acquiredAt: new Date(NOW.getTime() - 1000).toISOString() });
    expect(await takeRolloutTurn(held.deps, 'app', 'b1', 'immediate')).toBe('wait');
    expect(held.takes).toEqual([]);
  });

  it('takes over a lock older than its lease, conditionally on the lock it read', async () => {
    const stale = { holder: 'b0', acquiredAt: new Date(NOW.getTime() - ROLLOUT_LEASE_MS - 1).toISOString() };
    const { deps, takes } = world([], stale);
    expect(await takeRolloutTurn(deps, 'app', 'b1', 'immediate')).toBe('acquired');
    expect(takes).toEqual([{ build: 'b1', at: NOW.toISOString(), previous: stale }]);
  });
});
