import { IllegalTransitionError } from './errors';
import type { BuildStatus, ReleaseStatus } from './model';

/**
 * Build and release state machines (PRODUCT.md): every allowed transition is listed;
 * anything else is rejected. Terminal states have no way out.
 */
export const BUILD_TRANSITIONS: Readonly<Record<BuildStatus, readonly BuildStatus[]>> = {
  queued: ['running', 'superseded', 'canceled', 'failed'],
  running: ['succeeded', 'failed', 'superseded', 'canceled'],
  succeeded: [],
  failed: [],
  superseded: [],
  canceled: [],
};

export const RELEASE_TRANSITIONS: Readonly<Record<ReleaseStatus, readonly ReleaseStatus[]>> = {
  // An approval sends a waiting release back to `pending`, to take its rollout turn.
  pending: ['awaiting_approval', 'deploying', 'failed', 'superseded'],
  awaiting_approval: ['pending', 'rejected', 'expired', 'failed', 'superseded'],
  deploying: ['live', 'failed', 'rolled_back'],
  live: ['replaced'],
  replaced: [],
  failed: [],
  rolled_back: [],
  rejected: [],
  expired: [],
  superseded: [],
};

export function canTransitionBuild(from: BuildStatus, to: BuildStatus): boolean {
  return BUILD_TRANSITIONS[from].includes(to);
}

export function canTransitionRelease(from: ReleaseStatus, to: ReleaseStatus): boolean {
  return RELEASE_TRANSITIONS[from].includes(to);
}

export function assertBuildTransition(from: BuildStatus, to: BuildStatus): void {
  if (!canTransitionBuild(from, to)) throw new IllegalTransitionError('build', from, to);
}

export function assertReleaseTransition(from: ReleaseStatus, to: ReleaseStatus): void {
  if (!canTransitionRelease(from, to)) throw new IllegalTransitionError('release', from, to);
}

export function isTerminalBuild(status: BuildStatus): boolean {
  return BUILD_TRANSITIONS[status].length === 0;
}
