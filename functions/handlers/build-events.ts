import { createBuildEventsHandler } from '../http/build-events';
import { core } from '../wiring/aws/core';
import { tasks } from '../wiring/aws/tasks';
import { createServices } from '../wiring/services';

/** Lambda entry for CodeBuild state and phase changes (EventBridge). Needs TABLE_NAME, and completes the release workflow's build waits. */
export const handler = createBuildEventsHandler(createServices({ ...core, tasks }).buildEvents());
