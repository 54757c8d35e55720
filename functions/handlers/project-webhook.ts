import { awsDeps, buildOnlyWorkflow } from '../commons/aws';
import { createProjectWebhookHandler } from '../http/project-webhook';

/** Lambda entry for `POST /hooks/gitlab/{hookId}`. */
const deps = awsDeps();
export const handler = createProjectWebhookHandler({ ...deps, workflow: buildOnlyWorkflow(deps) });
