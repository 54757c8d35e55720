import type { Release } from './model';

/** The reason `rollbackRelease` gives a release it copies forward (for people; the fact is `rollbackOf`). */
export const ROLLBACK_REASON = /^rollback to release (\S+)$/;

/**
 * The release a rollback copied forward, or undefined when `release` is not a rollback.
 * `rollbackOf` is the fact. Releases recorded before the field existed said it only in their
 * `reason` text, so for those (and only those) the reason is read back as a fallback.
 */
export function rollbackOf(release: Pick<Release, 'rollbackOf' | 'reason'>): string | undefined {
  if (release.rollbackOf !== undefined) return release.rollbackOf;
  return release.reason?.match(ROLLBACK_REASON)?.[1];
}
