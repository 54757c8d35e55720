import { awsDeps, buildOnlyWorkflow } from '../commons/aws';
import { createSystemHookHandler } from '../http/system-hook';

/** Lambda entry for `POST /hooks/gitlab-system`. */
const deps = awsDeps();
export const handler = createSystemHookHandler({ ...deps, workflow: buildOnlyWorkflow(deps) });
