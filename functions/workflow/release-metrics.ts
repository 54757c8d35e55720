/**
 * The metric the release-steps function emits (CloudWatch Embedded Metric Format, through
 * Powertools Metrics) each time it records a release that did not go live: a failed build or
 * rollout, a rollout ECS rolled back, a step that failed beyond its retries. The execution itself
 * still ends `Succeeded` (it recorded the outcome), so the state machine's ExecutionsFailed alarm
 * never sees these; infra/constructs/monitoring.ts alarms on this metric instead, with the same
 * namespace, name and dimension.
 */
export const RELEASE_METRICS = {
  namespace: 'Slipway',
  /** The `service` dimension Powertools adds to every metric. */
  service: 'slipway',
  /** Count, one per release recorded `failed` or `rolled_back`. */
  releasesFailed: 'ReleasesFailed',
} as const;

/** The step results that record a release that did not go live. */
export function isFailedRelease(action: unknown, result: Record<string, unknown>): boolean {
  return (
    (action === 'recordFailure' && result.outcome === 'failed') ||
    (action === 'recordRolledBack' && result.outcome === 'rolled_back')
  );
}
