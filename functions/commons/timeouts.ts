/**
 * Function timeouts in milliseconds, one place for the stack and local mode: webhooks answer
 * well inside GitLab's 10 s; the admin API may make a few GitLab calls of up to 10 s each and
 * stays under API Gateway's 30 s integration limit.
 */
export const FUNCTION_TIMEOUTS = {
  webhook: 10_000,
  admin: 29_000,
} as const;
