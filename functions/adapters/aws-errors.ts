import type { Pluggable } from '@smithy/types';
import { TransientError } from '../domain/errors';

/**
 * What of AWS's failures is worth trying again later, decided here, at the edge: the domain
 * knows `TransientError` (which the release workflow's Retry matches), not AWS's error names.
 *
 * Every AWS SDK client Slipway makes (functions/wiring/, local mode's DynamoDB client) carries
 * `transientErrors`: once the SDK's own retries are spent, a throttled, timed-out or 5xx call
 * reaches its caller as a TransientError whose cause is the SDK's error. Everything else keeps its
 * own name, so adapters still tell a failed condition or a missing resource apart.
 */

/** AWS error names (and Node network error codes) that mean "try again later". */
export const TRANSIENT_AWS_ERRORS: ReadonlySet<string> = new Set([
  'ThrottlingException',
  'Throttling',
  'ThrottledException',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'ProvisionedThroughputExceededException',
  'TransactionConflictException',
  'ServerException',
  'ServiceUnavailable',
  'ServiceUnavailableException',
  'InternalFailure',
  'InternalServerError',
  'RequestTimeout',
  'RequestTimeoutException',
  'TimeoutError',
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
]);

/** Whether an AWS SDK error is transient: by name or code, the SDK's own `$retryable`, or a 5xx. */
export function isTransientAwsError(error: unknown): boolean {
  if (!(error instanceof Error) || error instanceof TransientError) return false;
  const err = error as Error & { code?: string; $retryable?: unknown; $metadata?: { httpStatusCode?: number } };
  if (TRANSIENT_AWS_ERRORS.has(err.name) || TRANSIENT_AWS_ERRORS.has(err.code ?? '')) return true;
  if (err.$retryable) return true;
  const status = err.$metadata?.httpStatusCode;
  return typeof status === 'number' && status >= 500;
}

/** The error a caller sees: a TransientError for a transient one (named, with the SDK's error as cause). */
export function classifyAwsError(error: unknown): unknown {
  if (!isTransientAwsError(error)) return error;
  const err = error as Error;
  return new TransientError(`${err.name}: ${err.message}`, { cause: error });
}

/**
 * The client plugin. In the `initialize` step, so it sees the error after the SDK's retry
 * middleware (a later step) has given up.
 */
// biome-ignore lint/suspicious/noExplicitAny: every client's stack has its own input and output types
type AnyPluggable = Pluggable<any, any>;

export const transientErrors: AnyPluggable = {
  applyToStack(stack) {
    stack.add(
      (next) => async (args) => {
        try {
          return await next(args);
        } catch (error) {
          throw classifyAwsError(error);
        }
      },
      { step: 'initialize', name: 'slipwayTransientErrors', override: true },
    );
  },
};

/** `client`, with `transientErrors` on its middleware stack. */
export function withTransientErrors<C extends { middlewareStack: { use(plugin: AnyPluggable): void } }>(client: C): C {
  client.middlewareStack.use(transientErrors);
  return client;
}
