import type { Logger } from '@aws-lambda-powertools/logger';
import type { Build } from '../domain/model';

/**
 * What the edge does when the release workflow could not be started for a recorded build: the
 * build stays recorded (`queued`, no execution), the answer stays 2xx, and this error line says
 * so. The start was already retried; the sweep (`functions/domain/sweep.ts`) starts it later.
 */
export function logWorkflowFailure(logger: Logger) {
  return (error: unknown, build: Build) =>
    logger.error('release workflow not started', { error: error as Error, app: build.app, build: build.id });
}
