import { createRolloutEventsHandler } from '../http/rollout-events';
import { core } from '../wiring/aws/core';
import { deployer } from '../wiring/aws/deployer';
import { tasks } from '../wiring/aws/tasks';
import { createServices } from '../wiring/services';

/**
 * Lambda entry for ECS deployment and service-task state changes (EventBridge): completes the
 * release workflow's rollout waits. Needs TABLE_NAME; reads services with DescribeServices.
 */
export const handler = createRolloutEventsHandler(createServices({ ...core, tasks, deployer }).rolloutEvents());
