/**
 * What a GitLab access level on an app's project allows in Slipway's console (PRODUCT.md,
 * "Rights from GitLab"). Levels are GitLab's: 10 guest, 15 planner, 20 reporter,
 * 30 developer, 40 maintainer, 50 owner; undefined = not a member.
 */

export const REPORTER = 20;
export const MAINTAINER = 40;

export interface Rights {
  /** The app is listed and its pages can be seen. Without it the app does not exist (404). */
  see: boolean;
  /** Deploy, roll back (and later promote, approve). */
  operate: boolean;
}

export function rightsFor(level: number | undefined): Rights {
  const known = level ?? 0;
  return { see: known >= REPORTER, operate: known >= MAINTAINER };
}
