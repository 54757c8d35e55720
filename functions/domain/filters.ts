/** Longest branch filter or tag pattern, and most `*` in one. */
export const MAX_PATTERN_LENGTH = 255;
export const MAX_PATTERN_WILDCARDS = 16;

const STAR = 0x2a;

/**
 * Branch and tag filters. A pattern is an exact name or contains `*` wildcards
 * (`*` matches any run of characters, `/` included, as GitLab's wildcard branch filter); no
 * other character is special, and every character is matched alike.
 *
 * Linear in the name for a given pattern: the two-pointer greedy wildcard match, which on a
 * mismatch only moves the last `*` one character on (never back to earlier ones), so at most
 * O(name × pattern) steps, with no backtracking RegExp (`*-*-*-*-rc` against a long ref took
 * tens of seconds with one).
 */
export function matchesPattern(pattern: string, name: string): boolean {
  if (!pattern.includes('*')) return pattern === name;
  let p = 0;
  let n = 0;
  /** Position of the last `*` seen, and where in the name its run currently ends. */
  let star = -1;
  let resume = 0;
  while (n < name.length) {
    const c = pattern.charCodeAt(p);
    if (c === STAR) {
      star = p++;
      resume = n;
    } else if (p < pattern.length && c === name.charCodeAt(n)) {
      p++;
      n++;
    } else if (star >= 0) {
      // Let the last `*` take one more character and retry what follows it.
      p = star + 1;
      n = ++resume;
    } else return false;
  }
  while (pattern.charCodeAt(p) === STAR) p++;
  return p === pattern.length;
}

const REF_NAME = /^(?!\/)(?!.*\/\/)(?!.*\.\.)(?!.*@\{)[^\0-\x20\x7f~^:?[\\]+(?<!\/)(?<!\.lock)(?<!\.)$/;

/**
 * Why a branch filter or tag pattern is refused, or undefined when it is fine: a plausible git
 * ref name (git check-ref-format rules, simplified: no control characters, spaces, `~^:?[\\`,
 * `..`, `@{`, `//`, leading or trailing `/`, trailing `.` or `.lock`) of at most 255
 * characters, with at most 16 `*` wildcards.
 */
export function refPatternProblem(pattern: string): string | undefined {
  if (pattern.length === 0) return 'it is empty';
  if (pattern.length > MAX_PATTERN_LENGTH) return `it is longer than ${MAX_PATTERN_LENGTH} characters`;
  let wildcards = 0;
  for (let i = 0; i < pattern.length; i++) if (pattern.charCodeAt(i) === STAR) wildcards++;
  if (wildcards > MAX_PATTERN_WILDCARDS) return `it has more than ${MAX_PATTERN_WILDCARDS} "*" wildcards`;
  if (!REF_NAME.test(pattern.replaceAll('*', 'x'))) {
    return 'it is not a git ref name (no spaces, control characters, ~ ^ : ? [ \\, "..", "@{", "//", leading or trailing "/", trailing "." or ".lock")';
  }
  return undefined;
}

/** A plausible git ref name pattern (see `refPatternProblem`). */
export function isValidRefPattern(pattern: string): boolean {
  return refPatternProblem(pattern) === undefined;
}
