import type { Build, Release } from '../../functions/domain/model';
import { finalEvent } from '../../functions/domain/release-reports';
import type { ReportTarget } from '../../functions/domain/reporting';

/** How an execution's end is told: a build's time only when a build ran for the release. */
describe('finalEvent', () => {
  const target: ReportTarget = {
    app: 'shop',
    environment: 'production',
    commit: 'a'.repeat(40),
    ref: 'refs/heads/main',
    title: 'Add the basket',
    author: 'Ada',
  };
  const build: Build = {
    id: '01B',
    app: 'shop',
    status: 'succeeded',
    commit: 'a'.repeat(40),
    ref: 'refs/heads/main',
    message: 'Add the basket',
    author: 'Ada',
    trigger: 'push',
    createdAt: '2026-12-04T10:00:00.000Z',
    startedAt: '2026-12-04T10:00:00.000Z',
    endedAt: '2026-12-04T10:03:00.000Z',
  };
  const release: Release = {
    id: '01R',
    app: 'shop',
    status: 'live',
    build: '01B',
    commit: 'a'.repeat(40),
    images: { app: `sha256:${'b'.repeat(64)}` },
    createdAt: '2026-12-04T10:03:00.000Z',
    liveAt: '2026-12-04T10:04:00.000Z',
  };

  it('a release of its own build says how long the build and the rollout took', () => {
    expect(finalEvent('live', target, build, release)).toMatchObject({ buildSeconds: 180, rolloutSeconds: 60 });
  });

  it('a promotion ran no build: only the rollout is timed', () => {
    const promoted = { ...release, environment: 'production', promotedFrom: '01S' };
    const event = finalEvent('live', target, build, promoted);
    expect(event).toMatchObject({ kind: 'release_live', rolloutSeconds: 60 });
    expect(event).not.toHaveProperty('buildSeconds');
  });

  it('a rollback ran no build either, and says what it rolled back to', () => {
    const rollback = { ...release, rollbackOf: '01OLD' };
    const event = finalEvent('live', target, build, rollback);
    expect(event).toMatchObject({ rollbackOf: '01OLD' });
    expect(event).not.toHaveProperty('buildSeconds');
  });
});
