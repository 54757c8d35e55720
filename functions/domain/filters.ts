/**
 * Branch and tag filters. A pattern is an exact name or contains `*` wildcards
 * (`*` matches any run of characters, `/` included), as GitLab's wildcard branch filter.
 */
export function matchesPattern(pattern: string, name: string): boolean {
  if (!pattern.includes('*')) return pattern === name;
  const source = pattern
    .split('*')
    .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
    .join('.*');
  return new RegExp(`^${source}$`).test(name);
}

const REF_NAME = /^(?!\/)(?!.*\/\/)(?!.*\.\.)(?!.*@\{)[^\0-\x20\x7f~^:?[\\]+(?<!\/)(?<!\.lock)(?<!\.)$/;

/** A plausible git ref name (git check-ref-format rules, simplified); patterns may add `*`. */
export function isValidRefPattern(pattern: string): boolean {
  return pattern.length > 0 && pattern.length <= 255 && REF_NAME.test(pattern.replaceAll('*', 'x'));
}
