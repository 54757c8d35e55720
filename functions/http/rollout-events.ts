import * as z from 'zod';
import { onRolloutEvent, type RolloutEventDeps } from '../domain/waits';

/**
 * EventBridge → the release waiting on a rollout: ECS's `ECS Deployment State Change` events
 * (SERVICE_DEPLOYMENT_IN_PROGRESS / _COMPLETED / _FAILED, the circuit breaker's too) and
 * `ECS Task State Change` events of service tasks (their `startedBy` is the deployment id),
 * both naming the deployment Slipway watches. The event only says that something changed:
 * domain/waits.ts looks at the rollout through the deployer, records its task counts, and
 * completes the release's wait once the rollout has ended.
 *
 * Events of deployments Slipway did not start (other services in the account) cost one read and
 * are dropped. A malformed event is logged and dropped; a failure to read or write is thrown, so
 * Lambda retries the event.
 */

export interface RolloutEventsDeps extends RolloutEventDeps {
  logger: {
    info(message: string, attributes: Record<string, unknown>): void;
    warn(message: string, attributes: Record<string, unknown>): void;
  };
}

export const DEPLOYMENT_STATE_CHANGE = 'ECS Deployment State Change';
export const TASK_STATE_CHANGE = 'ECS Task State Change';
/** The deployment events a rollout's end or progress shows in. */
export const DEPLOYMENT_EVENT_NAMES = [
  'SERVICE_DEPLOYMENT_IN_PROGRESS',
  'SERVICE_DEPLOYMENT_COMPLETED',
  'SERVICE_DEPLOYMENT_FAILED',
] as const;

const deploymentId = z.string().min(1).max(200);

const deploymentEvent = z.object({
  source: z.literal('aws.ecs'),
  'detail-type': z.literal(DEPLOYMENT_STATE_CHANGE),
  detail: z.object({ eventName: z.enum(DEPLOYMENT_EVENT_NAMES), deploymentId }),
});

const taskEvent = z.object({
  source: z.literal('aws.ecs'),
  'detail-type': z.literal(TASK_STATE_CHANGE),
  detail: z.object({ startedBy: deploymentId.regex(/^ecs-svc\//), lastStatus: z.string().optional() }),
});

/** The deployment an ECS event names, or why it is dropped. Never throws. */
export function watchedDeployment(raw: unknown): { watch: string; what: string } | { dropped: string } {
  const deployment = deploymentEvent.safeParse(raw);
  if (deployment.success) {
    return { watch: deployment.data.detail.deploymentId, what: deployment.data.detail.eventName };
  }
  const task = taskEvent.safeParse(raw);
  if (task.success) {
    return { watch: task.data.detail.startedBy, what: `task ${task.data.detail.lastStatus ?? 'changed'}` };
  }
  return { dropped: 'not an ECS deployment or service task event this function understands' };
}

export function createRolloutEventsHandler(deps: RolloutEventsDeps) {
  return async (raw: unknown): Promise<void> => {
    const named = watchedDeployment(raw);
    if ('dropped' in named) {
      deps.logger.warn('rollout event dropped', { reason: named.dropped });
      return;
    }
    const result = await onRolloutEvent(deps, named.watch);
    deps.logger.info('rollout event', { deployment: named.watch, event: named.what, ...result });
  };
}
