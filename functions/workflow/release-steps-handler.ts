import type { Logger } from '@aws-lambda-powertools/logger';
import { type Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Context } from 'aws-lambda';
import { type ReleaseStepDeps, type ReleaseStepInput, runReleaseStep } from '../domain/releases';
import { isFailedRelease, RELEASE_METRICS } from './release-metrics';

export interface ReleaseStepsHandlerDeps {
  /** What the steps run against (DynamoDB, CodeBuild, ECR, ECS, reporting on AWS). */
  steps: ReleaseStepDeps;
  logger: Logger;
  /**
   * Where a failed or rolled-back release is counted (`ReleasesFailed`, release-metrics.ts).
   * @default - not counted (local mode)
   */
  metrics?: Pick<Metrics, 'addMetric' | 'addMetadata' | 'publishStoredMetrics'>;
}

/**
 * The release-steps Lambda: one Task of `workflow/release.asl.json` per invocation. The event is
 * the Task's Payload (`{action, app, build, …}`), handed to `runReleaseStep` as it is; the result
 * goes back to the state machine as the Task's `Payload`.
 *
 * Errors are rethrown as they are, never wrapped: the Lambda runtime reports `error.name` as the
 * invocation's `errorType`, which is the error Step Functions matches in `Retry`/`Catch`, so a
 * `TransientError` is retried with backoff and anything else is caught into RecordFailure. A
 * thrown non-Error becomes an `Error` (its errorType would otherwise say nothing).
 *
 * Every step is logged with its action, app, build and outcome; never a secret (the steps'
 * inputs and results hold ids, states and reasons only).
 */
export function createReleaseStepsHandler({ steps, logger, metrics }: ReleaseStepsHandlerDeps) {
  return async (event: ReleaseStepInput, context?: Context): Promise<Record<string, unknown>> => {
    if (context) logger.addContext(context);
    const keys = stepKeys(event);
    const started = Date.now();
    try {
      const result = await runReleaseStep(steps, event);
      logger.info('release step done', { ...keys, ms: Date.now() - started, result });
      if (metrics && isFailedRelease(event?.action, result)) countFailedRelease(metrics, event, result);
      return result;
    } catch (thrown) {
      const error = thrown instanceof Error ? thrown : new Error(String(thrown));
      const detail = { ...keys, ms: Date.now() - started, error };
      if (error.name === 'TransientError') logger.warn('release step failed, to be retried', detail);
      else logger.error('release step failed', detail);
      throw error;
    }
  };
}

/** One EMF line: `ReleasesFailed` = 1, with the app, build, release and outcome as metadata (not dimensions). */
function countFailedRelease(
  metrics: NonNullable<ReleaseStepsHandlerDeps['metrics']>,
  event: ReleaseStepInput,
  result: Record<string, unknown>,
): void {
  metrics.addMetric(RELEASE_METRICS.releasesFailed, MetricUnit.Count, 1);
  metrics.addMetadata('app', String(event.app));
  metrics.addMetadata('build', String(event.build));
  if (event.release) metrics.addMetadata('release', String(event.release));
  metrics.addMetadata('outcome', String(result.outcome));
  metrics.publishStoredMetrics();
}

/** What identifies a step in the logs (the caught error only by its name: its cause can be long). */
function stepKeys(event: ReleaseStepInput | undefined): Record<string, unknown> {
  if (!event || typeof event !== 'object') return { action: undefined };
  const { action, app, build, release, deployment, revision, polls, error } = event;
  return {
    action,
    app,
    build,
    ...(release ? { release } : {}),
    ...(deployment ? { deployment } : {}),
    ...(revision ? { revision } : {}),
    ...(polls !== undefined ? { polls } : {}),
    ...(error?.Error ? { caught: error.Error } : {}),
  };
}
