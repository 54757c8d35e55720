import { Metrics } from '@aws-lambda-powertools/metrics';
import { core } from '../wiring/aws/core';
import { release } from '../wiring/aws/release';
import { tasks } from '../wiring/aws/tasks';
import { vault } from '../wiring/aws/vault';
import { gitlab } from '../wiring/gitlab';
import { createServices } from '../wiring/services';
import { RELEASE_METRICS } from '../workflow/release-metrics';
import { createReleaseStepsHandler } from '../workflow/release-steps-handler';

/** Lambda entry for the release workflow's Task states (workflow/release.asl.json). */
export const handler = createReleaseStepsHandler({
  steps: createServices({ ...core, vault, gitlab, release, tasks }).releaseSteps(),
  logger: core.logger(),
  metrics: new Metrics({ namespace: RELEASE_METRICS.namespace, serviceName: RELEASE_METRICS.service }),
});
