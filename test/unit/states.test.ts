import { IllegalTransitionError } from '../../functions/domain/errors';
import { BUILD_STATUSES, type BuildStatus, RELEASE_STATUSES, type ReleaseStatus } from '../../functions/domain/model';
import {
  assertBuildTransition,
  assertReleaseTransition,
  canTransitionBuild,
  canTransitionRelease,
  isTerminalBuild,
} from '../../functions/domain/states';

/** The state machines as PRODUCT.md describes them, written out independently of states.ts. */
const BUILD_ALLOWED: ReadonlyArray<[BuildStatus, BuildStatus]> = [
  ['queued', 'running'],
  ['queued', 'superseded'],
  ['queued', 'canceled'],
  ['queued', 'failed'],
  ['running', 'succeeded'],
  ['running', 'failed'],
  ['running', 'superseded'],
  ['running', 'canceled'],
];

const RELEASE_ALLOWED: ReadonlyArray<[ReleaseStatus, ReleaseStatus]> = [
  ['pending', 'deploying'],
  ['pending', 'failed'],
  // Approvals: waiting, then approved (back to pending, to take its turn), rejected or expired.
  ['pending', 'awaiting_approval'],
  ['awaiting_approval', 'pending'],
  ['awaiting_approval', 'rejected'],
  ['awaiting_approval', 'expired'],
  ['awaiting_approval', 'failed'],
  // A release made by fan-out, overtaken in its environment before its rollout.
  ['pending', 'superseded'],
  ['awaiting_approval', 'superseded'],
  ['deploying', 'live'],
  ['deploying', 'failed'],
  ['deploying', 'rolled_back'],
  ['live', 'replaced'],
];

function allPairs<S extends string>(statuses: readonly S[]): Array<[S, S]> {
  return statuses.flatMap((from) => statuses.map((to): [S, S] => [from, to]));
}

const isListed = <S>(allowed: ReadonlyArray<[S, S]>, from: S, to: S): boolean =>
  allowed.some(([f, t]) => f === from && t === to);

const buildRejected = allPairs(BUILD_STATUSES).filter(([from, to]) => !isListed(BUILD_ALLOWED, from, to));
const releaseRejected = allPairs(RELEASE_STATUSES).filter(([from, to]) => !isListed(RELEASE_ALLOWED, from, to));

describe('build state machine', () => {
  it.each(BUILD_ALLOWED)('allows %s → %s', (from, to) => {
    expect(canTransitionBuild(from, to)).toBe(true);
    expect(() => assertBuildTransition(from, to)).not.toThrow();
  });

  it.each(buildRejected)('rejects %s → %s with IllegalTransitionError', (from, to) => {
    expect(canTransitionBuild(from, to)).toBe(false);
    expect(() => assertBuildTransition(from, to)).toThrow(IllegalTransitionError);
  });

  it('rejects every self-transition', () => {
    const selfAllowed = BUILD_STATUSES.filter((status) => canTransitionBuild(status, status));
    expect(selfAllowed).toEqual([]);
  });

  it('treats exactly succeeded, failed, superseded and canceled as terminal', () => {
    const terminal = BUILD_STATUSES.filter(isTerminalBuild);
    expect(terminal.sort()).toEqual(['canceled', 'failed', 'succeeded', 'superseded']);
  });

  it('describes a rejected transition in the error', () => {
    let caught: unknown;
    try {
      assertBuildTransition('succeeded', 'running');
    } catch (error) {
      caught = error;
    }

    expect(caught).toBeInstanceOf(IllegalTransitionError);
    expect(caught).toMatchObject({ name: 'IllegalTransitionError', kind: 'build', from: 'succeeded', to: 'running' });
    expect((caught as Error).message).toBe('illegal build transition succeeded → running');
  });
});

describe('release state machine', () => {
  it.each(RELEASE_ALLOWED)('allows %s → %s', (from, to) => {
    expect(canTransitionRelease(from, to)).toBe(true);
    expect(() => assertReleaseTransition(from, to)).not.toThrow();
  });

  it.each(releaseRejected)('rejects %s → %s with IllegalTransitionError', (from, to) => {
    expect(canTransitionRelease(from, to)).toBe(false);
    expect(() => assertReleaseTransition(from, to)).toThrow(IllegalTransitionError);
  });

  it('leaves replaced, failed, rolled_back, rejected, expired and superseded with no way out', () => {
    const terminal = RELEASE_STATUSES.filter((from) => RELEASE_STATUSES.every((to) => !canTransitionRelease(from, to)));
    expect(terminal.sort()).toEqual(['expired', 'failed', 'rejected', 'replaced', 'rolled_back', 'superseded']);
  });

  it('reaches live only through deploying', () => {
    const intoLive = RELEASE_STATUSES.filter((from) => canTransitionRelease(from, 'live'));
    expect(intoLive).toEqual(['deploying']);
  });

  it('names the release kind in the error', () => {
    expect(() => assertReleaseTransition('failed', 'live')).toThrow('illegal release transition failed → live');
  });
});
