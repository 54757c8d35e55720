import { awsDeps, releaseWorkflow } from '../commons/aws';
import { createSystemHookHandler } from '../http/system-hook';

/** Lambda entry for `POST /hooks/gitlab-system`. */
export const handler = createSystemHookHandler({ ...awsDeps(), workflow: releaseWorkflow() });
