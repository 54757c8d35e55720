import { ValidationError } from './errors';

/** A system hook token guards every linked project's builds: at least this many characters. */
export const MIN_SYSTEM_HOOK_TOKEN_LENGTH = 32;

/**
 * Refuses a system hook secret token too short to resist guessing (fewer than 32 characters).
 * `slipway local` checks SLIPWAY_SYSTEM_HOOK_TOKEN with it before starting; whatever sets the
 * token's hash (local mode, or an AWS-side setter) calls it too. The message never holds the token.
 */
export function validateSystemHookToken(token: string, name = 'the system hook token'): void {
  if (token.length < MIN_SYSTEM_HOOK_TOKEN_LENGTH) {
    throw new ValidationError(
      `${name} is ${token.length} characters long; it must have at least ${MIN_SYSTEM_HOOK_TOKEN_LENGTH} ` +
        '(e.g. openssl rand -hex 32)',
    );
  }
}
