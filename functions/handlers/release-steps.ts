import { awsDeps } from '../commons/aws';
import { releaseStepDeps } from '../commons/aws-release';
import { createReleaseStepsHandler } from '../workflow/release-steps-handler';

/** Lambda entry for the release workflow's Task states (workflow/release.asl.json). */
export const handler = createReleaseStepsHandler({ steps: releaseStepDeps(), logger: awsDeps().logger });
