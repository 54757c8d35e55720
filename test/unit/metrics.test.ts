import fc from 'fast-check';
import { duration, formatMetrics, sparkline } from '../../cli/commands/metrics';
import { ValidationError } from '../../functions/domain/errors';
import { computeDeliveryMetrics, type DeliveryHistory } from '../../functions/domain/metrics';
import type { Build, Release, ReleaseStatus } from '../../functions/domain/model';
import { isoUtc } from '../../functions/domain/timestamps';

/**
 * The delivery metrics over a scripted history whose figures are worked out by hand below,
 * straight from PRODUCT.md's definitions, then properties that hold for any history.
 */

const NOW = new Date('2026-03-31T12:00:00.000Z');
function release(id: string, status: ReleaseStatus, times: Partial<Release>, build = `B-${id}`): Release {
  return {
    id,
    app: 'web',
    status,
    build,
    commit: 'a'.repeat(40),
    images: { app: `sha256:${'b'.repeat(64)}` },
    createdAt: times.liveAt ?? times.endedAt ?? '2026-03-01T00:00:00.000Z',
    ...times,
  };
}

const committed = (id: string, committedAt?: string): Pick<Build, 'id' | 'committedAt'> => ({
  id: `B-${id}`,
  ...(committedAt ? { committedAt } : {}),
});

/**
 * The window is [2026-03-01T12:00Z, 2026-03-31T12:00Z] (30 days).
 *
 * | release | what happens                                                     | counts as                     |
 * |---------|------------------------------------------------------------------|-------------------------------|
 * | R0      | live 02-27 (before the window), replaced by R1                   | nothing                       |
 * | RX      | failed 03-01 11:59:59.999, a millisecond before the window       | nothing                       |
 * | R1      | push committed 03-02 08:00, live 03-02 09:10                     | deployment, lead 4200 s       |
 * | R2      | push, failed 03-05 10:20                                         | failure (ended), restore 600  |
 * | R3      | push committed 03-05 10:25, live 03-05 10:30                     | deployment, lead 300 s        |
 * | R4      | push, rolled_back 03-10 12:00 (R3 stays live)                    | failure (ended), restore 75600|
 * | R5      | push committed 03-11 06:00, live 03-11 09:00                     | deployment, lead 10800 s      |
 * | R6      | rollback of R3 created 03-11 10:00, live 10:05 (R5 was live)     | deployment, no lead; R5 fails at 10:00, restore 300 |
 * | R7      | deploy --ref committed 03-20 00:00, live 03-20 12:00             | deployment, lead 43200 s      |
 * | R8      | push without a commit time, live 03-25 12:00                     | deployment, no lead           |
 * | R9      | push, failed 03-30 08:00                                         | failure (ended), restore 99000 (R10) |
 * | R10     | old-style rollback of R7 (reason text only) created 03-31 11:00, live 11:30 (R8 was live) | deployment, no lead; R8 fails at 11:00, restore 1800 |
 * | R11     | failed 03-31 11:45, nothing live since                           | failure (ended), not restored |
 * | R12     | live 03-31 13:00, after now                                      | nothing                       |
 */
const HISTORY: DeliveryHistory = {
  app: 'web',
  days: 30,
  now: NOW,
  releases: [
    release('R0', 'replaced', {
      createdAt: '2026-02-27T10:00:00.000Z',
      liveAt: '2026-02-27T10:10:00.000Z',
      endedAt: '2026-03-02T09:10:00.000Z',
    }),
    release('RX', 'failed', { createdAt: '2026-03-01T11:50:00.000Z', endedAt: '2026-03-01T11:59:59.999Z' }),
    release('R1', 'replaced', {
      createdAt: '2026-03-02T09:00:00.000Z',
      liveAt: '2026-03-02T09:10:00.000Z',
      endedAt: '2026-03-05T10:30:00.000Z',
    }),
    release('R2', 'failed', { createdAt: '2026-03-05T10:00:00.000Z', endedAt: '2026-03-05T10:20:00.000Z' }),
    release('R3', 'replaced', {
      createdAt: '2026-03-05T10:26:00.000Z',
      liveAt: '2026-03-05T10:30:00.000Z',
      endedAt: '2026-03-11T09:00:00.000Z',
    }),
    release('R4', 'rolled_back', { createdAt: '2026-03-10T11:50:00.000Z', endedAt: '2026-03-10T12:00:00.000Z' }),
    release('R5', 'replaced', {
      createdAt: '2026-03-11T08:50:00.000Z',
      liveAt: '2026-03-11T09:00:00.000Z',
      endedAt: '2026-03-11T10:05:00.000Z',
    }),
    release(
      'R6',
      'replaced',
      {
        createdAt: '2026-03-11T10:00:00.000Z',
        liveAt: '2026-03-11T10:05:00.000Z',
        endedAt: '2026-03-20T12:00:00.000Z',
        rollbackOf: 'R3',
        reason: 'rollback to release R3',
      },
      'B-R3',
    ),
    release('R7', 'replaced', {
      createdAt: '2026-03-20T11:50:00.000Z',
      liveAt: '2026-03-20T12:00:00.000Z',
      endedAt: '2026-03-25T12:00:00.000Z',
    }),
    release('R8', 'replaced', {
      createdAt: '2026-03-25T11:50:00.000Z',
      liveAt: '2026-03-25T12:00:00.000Z',
      endedAt: '2026-03-31T11:30:00.000Z',
    }),
    release('R9', 'failed', { createdAt: '2026-03-30T07:50:00.000Z', endedAt: '2026-03-30T08:00:00.000Z' }),
    release(
      'R10',
      'live',
      { createdAt: '2026-03-31T11:00:00.000Z', liveAt: '2026-03-31T11:30:00.000Z', reason: 'rollback to release R7' },
      'B-R7',
    ),
    release('R11', 'failed', { createdAt: '2026-03-31T11:40:00.000Z', endedAt: '2026-03-31T11:45:00.000Z' }),
    release('R12', 'live', { createdAt: '2026-03-31T12:50:00.000Z', liveAt: '2026-03-31T13:00:00.000Z' }),
  ],
  builds: [
    committed('R0', '2026-02-27T09:00:00.000Z'),
    committed('R1', '2026-03-02T08:00:00.000Z'),
    committed('R2', '2026-03-05T09:00:00.000Z'),
    committed('R3', '2026-03-05T10:25:00.000Z'),
    committed('R4', '2026-03-10T11:00:00.000Z'),
    committed('R5', '2026-03-11T06:00:00.000Z'),
    committed('R7', '2026-03-20T00:00:00.000Z'),
    committed('R8'),
    committed('R9', '2026-03-30T07:00:00.000Z'),
    committed('R11', '2026-03-31T11:00:00.000Z'),
    committed('R12', '2026-03-31T12:00:00.000Z'),
  ],
};

function emptyDays(from: string, count: number) {
  const start = Date.parse(`${from}T00:00:00.000Z`);
  return Array.from({ length: count }, (_, i) => ({
    date: new Date(start + i * 86_400_000).toISOString().slice(0, 10),
    deployments: 0,
    failures: 0,
  }));
}

describe('delivery metrics of a scripted history', () => {
  const metrics = computeDeliveryMetrics(HISTORY);

  it('names the app and the window [now − 30 days, now]', () => {
    expect(metrics).toMatchObject({
      app: 'web',
      days: 30,
      from: '2026-03-01T12:00:00.000Z',
      to: '2026-03-31T12:00:00.000Z',
    });
  });

  it('counts the releases that went live in the window, rollbacks included', () => {
    // R1, R3, R5, R6 (rollback), R7, R8, R10 (rollback); not R0 (before), not R12 (after now).
    expect(metrics.deployments).toBe(7);
    expect(metrics.deploymentsPerDay).toBe(0.2333); // 7 / 30
  });

  it('measures lead time from the commit to live for deployments that are not rollbacks', () => {
    // R1 4200, R3 300, R5 10800, R7 43200 (R6 and R10 are rollbacks, R8 has no commit time).
    // Sorted 300, 4200, 10800, 43200: median (4200 + 10800) / 2; p90 is rank ⌈0.9 · 4⌉ = 4.
    expect(metrics.leadTimeSeconds).toEqual({ median: 7500, p90: 43200 });
  });

  it('rates failed changes against deployments plus releases that ended failed or rolled back', () => {
    // Failed changes: R2, R4, R9, R11 (ended) + R5 (left by R6) + R8 (left by R10) = 6.
    // Divisor: 7 deployments + 4 ended (R2, R4, R9, R11) = 11.
    expect(metrics.changeFailureRate).toBe(0.5455);
  });

  it('measures time to restore to the next live release, leaving out failures not restored yet', () => {
    // R2 600, R4 75600, R5 300, R9 99000, R8 1800; R11 not restored. Median of five: 1800.
    expect(metrics.timeToRestoreSeconds).toEqual({ median: 1800 });
  });

  it('lays the window out day by day in UTC, from the first to the last day it touches', () => {
    const expected = emptyDays('2026-03-01', 31);
    const day = (date: string) => expected.find((d) => d.date === date) as (typeof expected)[number];
    day('2026-03-02').deployments = 1; // R1
    day('2026-03-05').deployments = 1; // R3
    day('2026-03-05').failures = 1; // R2
    day('2026-03-10').failures = 1; // R4
    day('2026-03-11').deployments = 2; // R5, R6
    day('2026-03-11').failures = 1; // R5 left by R6
    day('2026-03-20').deployments = 1; // R7
    day('2026-03-25').deployments = 1; // R8
    day('2026-03-30').failures = 1; // R9
    day('2026-03-31').deployments = 1; // R10
    day('2026-03-31').failures = 2; // R8 left by R10, R11

    expect(metrics.daily).toEqual(expected);
  });

  it('has exactly the contract keys', () => {
    expect(Object.keys(metrics).sort()).toEqual(
      [
        'app',
        'changeFailureRate',
        'daily',
        'days',
        'deployments',
        'deploymentsPerDay',
        'from',
        'leadTimeSeconds',
        'timeToRestoreSeconds',
        'to',
      ].sort(),
    );
  });
});

describe('delivery metrics at the edges', () => {
  const base = { app: 'web', days: 1, now: NOW, builds: [] };

  it('gives zeros and nulls for an app without history', () => {
    const metrics = computeDeliveryMetrics({ ...base, days: 7, releases: [] });

    expect(metrics).toEqual({
      app: 'web',
      days: 7,
      from: '2026-03-24T12:00:00.000Z',
      to: '2026-03-31T12:00:00.000Z',
      deployments: 0,
      deploymentsPerDay: 0,
      leadTimeSeconds: null,
      changeFailureRate: null,
      timeToRestoreSeconds: null,
      daily: emptyDays('2026-03-24', 8),
    });
  });

  it('includes both ends of the window', () => {
    const metrics = computeDeliveryMetrics({
      ...base,
      releases: [
        release('A', 'replaced', { liveAt: '2026-03-30T12:00:00.000Z', endedAt: '2026-03-31T12:00:00.000Z' }),
        release('B', 'live', { liveAt: '2026-03-31T12:00:00.000Z' }),
      ],
    });

    expect(metrics.deployments).toBe(2);
    expect(metrics.daily).toEqual([
      { date: '2026-03-30', deployments: 1, failures: 0 },
      { date: '2026-03-31', deployments: 1, failures: 0 },
    ]);
  });

  it('does not count a rollback to the release that is live as moving away from it', () => {
    const metrics = computeDeliveryMetrics({
      ...base,
      releases: [
        release('A', 'replaced', { liveAt: '2026-03-30T10:00:00.000Z', endedAt: '2026-03-31T10:05:00.000Z' }),
        release('B', 'live', {
          createdAt: '2026-03-31T10:00:00.000Z',
          liveAt: '2026-03-31T10:05:00.000Z',
          rollbackOf: 'A',
        }),
      ],
    });

    expect(metrics).toMatchObject({ deployments: 1, changeFailureRate: 0, timeToRestoreSeconds: null });
  });

  it('counts a release left by two rollbacks once, at the first', () => {
    const metrics = computeDeliveryMetrics({
      ...base,
      releases: [
        release('OLD', 'replaced', { liveAt: '2026-03-20T10:00:00.000Z', endedAt: '2026-03-30T13:00:00.000Z' }),
        release('BAD', 'replaced', { liveAt: '2026-03-30T13:00:00.000Z', endedAt: '2026-03-31T10:00:00.000Z' }),
        release('RB1', 'failed', {
          createdAt: '2026-03-31T09:00:00.000Z',
          endedAt: '2026-03-31T09:30:00.000Z',
          rollbackOf: 'OLD',
        }),
        release('RB2', 'live', {
          createdAt: '2026-03-31T09:50:00.000Z',
          liveAt: '2026-03-31T10:00:00.000Z',
          rollbackOf: 'OLD',
        }),
      ],
    });

    // Deployments: BAD, RB2 (OLD went live before the window). Failed changes: BAD (left at 09:00
    // by RB1, not again by RB2) and RB1 (ended failed), over 2 deployments + 1 ended = 3.
    // Restores: 3600 (BAD, by RB2 at 10:00) and 1800 (RB1). Median (1800 + 3600) / 2.
    expect(metrics).toMatchObject({
      deployments: 2,
      changeFailureRate: 0.6667,
      timeToRestoreSeconds: { median: 2700 },
    });
    expect(metrics.daily).toEqual([
      { date: '2026-03-30', deployments: 1, failures: 0 },
      { date: '2026-03-31', deployments: 1, failures: 2 },
    ]);
  });

  it('leaves out a lead time whose commit claims to be newer than the deployment (a skewed clock)', () => {
    const metrics = computeDeliveryMetrics({
      ...base,
      releases: [
        release('A', 'replaced', { liveAt: '2026-03-31T08:00:00.000Z', endedAt: '2026-03-31T09:00:00.000Z' }),
        release('B', 'live', { liveAt: '2026-03-31T09:00:00.000Z' }),
      ],
      builds: [committed('A', '2026-03-31T08:30:00.000Z'), committed('B', '2026-03-31T08:59:59.500Z')],
    });

    expect(metrics.leadTimeSeconds).toEqual({ median: 0.5, p90: 0.5 });
  });

  it.each([0, 366, 1.5, Number.NaN])('refuses a window of %s days', (days) => {
    expect(() => computeDeliveryMetrics({ ...base, days, releases: [] })).toThrow(ValidationError);
  });
});

describe('delivery metrics of any history', () => {
  const START = Date.parse('2026-01-01T00:00:00.000Z');
  const SPAN = 120 * 86_400_000;
  const moment = fc.integer({ min: START, max: START + SPAN }).map((ms) => new Date(ms).toISOString());
  const arbitraryRelease = fc.record({
    status: fc.constantFrom<ReleaseStatus>('live', 'replaced', 'failed', 'rolled_back', 'deploying'),
    createdAt: moment,
    liveAt: fc.option(moment, { nil: undefined }),
    endedAt: fc.option(moment, { nil: undefined }),
    rollback: fc.boolean(),
    committedAt: fc.option(moment, { nil: undefined }),
  });
  const history = fc
    .record({
      days: fc.integer({ min: 1, max: 90 }),
      now: fc.integer({ min: START, max: START + SPAN }).map((ms) => new Date(ms)),
      releases: fc.array(arbitraryRelease, { maxLength: 40 }),
    })
    .map(({ days, now, releases }): DeliveryHistory => {
      const built = releases.map((r, i) => ({
        release: release(
          `R${i}`,
          r.status,
          {
            createdAt: r.createdAt,
            ...(r.liveAt ? { liveAt: r.liveAt } : {}),
            ...(r.endedAt ? { endedAt: r.endedAt } : {}),
            ...(r.rollback && i > 0 ? { rollbackOf: `R${i - 1}` } : {}),
          },
          `B${i}`,
        ),
        build: { id: `B${i}`, ...(r.committedAt ? { committedAt: r.committedAt } : {}) },
      }));
      return {
        app: 'web',
        days,
        now,
        releases: built.map((b) => b.release),
        builds: built.map((b) => b.build),
      };
    });

  it('adds the daily deployments up to the deployments, one day after another', () => {
    fc.assert(
      fc.property(history, (h) => {
        const m = computeDeliveryMetrics(h);
        const sum = m.daily.reduce((n, d) => n + d.deployments, 0);
        expect(sum).toBe(m.deployments);
        expect(m.daily).toHaveLength(h.days + 1);
        for (let i = 1; i < m.daily.length; i++) {
          const gap = Date.parse(m.daily[i]?.date ?? '') - Date.parse(m.daily[i - 1]?.date ?? '');
          expect(gap).toBe(86_400_000);
        }
        expect(m.deploymentsPerDay).toBe(Math.round((m.deployments / h.days) * 10_000) / 10_000);
      }),
    );
  });

  it('keeps the rate between 0 and 1, null only without deployments or ended failures', () => {
    fc.assert(
      fc.property(history, (h) => {
        const m = computeDeliveryMetrics(h);
        const failures = m.daily.reduce((n, d) => n + d.failures, 0);
        if (m.changeFailureRate === null) {
          expect(m.deployments).toBe(0);
        } else {
          expect(m.changeFailureRate).toBeGreaterThanOrEqual(0);
          expect(m.changeFailureRate).toBeLessThanOrEqual(1);
          expect(m.changeFailureRate === 0).toBe(failures === 0);
        }
        if (failures === 0) expect(m.timeToRestoreSeconds).toBeNull();
      }),
    );
  });

  it('orders the lead-time percentiles and never measures a rollback', () => {
    fc.assert(
      fc.property(history, (h) => {
        const m = computeDeliveryMetrics(h);
        if (m.leadTimeSeconds) {
          expect(m.leadTimeSeconds.median).toBeGreaterThanOrEqual(0);
          expect(m.leadTimeSeconds.p90).toBeGreaterThanOrEqual(m.leadTimeSeconds.median);
        }
        const rollbacksOnly = {
          ...h,
          releases: h.releases.map((r) => ({ ...r, rollbackOf: r.rollbackOf ?? 'R0' })),
        };
        expect(computeDeliveryMetrics(rollbacksOnly).leadTimeSeconds).toBeNull();
      }),
    );
  });
});

describe('commit timestamps from GitLab', () => {
  it.each([
    ['2011-12-12T14:27:31+02:00', '2011-12-12T12:27:31.000Z'],
    ['2012-09-20T09:06:12.000+03:00', '2012-09-20T06:06:12.000Z'],
    ['2026-03-01T10:00:00Z', '2026-03-01T10:00:00.000Z'],
    ['2026-03-01T10:00:00-0130', '2026-03-01T11:30:00.000Z'],
  ])('reads %s as %s', (given, expected) => {
    expect(isoUtc(given)).toBe(expected);
  });

  it.each([
    ['no offset', '2026-03-01T10:00:00'],
    ['a bare date', '2026-03-01'],
    ['a typo', '2015-04-08T21: 00:25-07:00'],
    ['a day that does not exist', '2026-02-30T10:00:00Z'],
    ['a month that does not exist', '2026-13-01T10:00:00Z'],
    ['not a string', 1700000000],
  ])('does not record %s', (_why, given) => {
    expect(isoUtc(given)).toBeUndefined();
  });
});

describe('the metrics for people (slipway metrics without --json)', () => {
  it('says durations in their two largest units', () => {
    expect([0, 42, 300, 4200, 7500, 43200, 90061, 99000].map(duration)).toEqual([
      '0s',
      '42s',
      '5m',
      '1h 10m',
      '2h 5m',
      '12h',
      '1d 1h',
      '1d 3h',
    ]);
  });

  it('draws a day per character, nothing as a dot', () => {
    expect(sparkline([0, 1, 2, 4, 0])).toBe('·▂▄█·');
    expect(sparkline([0, 0])).toBe('··');
  });

  it('prints the figures of the scripted history as a small table', () => {
    const text = formatMetrics(computeDeliveryMetrics(HISTORY));

    expect(text.split('\n')).toEqual([
      'app                  web',
      'window               30 days (2026-03-01T12:00:00.000Z to 2026-03-31T12:00:00.000Z)',
      'deployments          7 (0.2333 per day)',
      'lead time            median 2h 5m, p90 12h',
      'change failure rate  54.55%',
      'time to restore      median 30m',
      // One deployment is half the busiest day (03-11: R5 and R6).
      'deployments/day      ·▄··▄·····█········▄····▄·····▄  2026-03-01 .. 2026-03-31',
      'failures/day         ····▄····▄▄··················▄█',
      '',
    ]);
  });
});
