import { awsDeps, releaseWorkflow } from '../commons/aws';
import { createProjectWebhookHandler } from '../http/project-webhook';

/** Lambda entry for `POST /hooks/gitlab/{hookId}`. */
export const handler = createProjectWebhookHandler({ ...awsDeps(), workflow: releaseWorkflow() });
