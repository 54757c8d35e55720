import { createProjectWebhookHandler } from '../http/project-webhook';
import { core } from '../wiring/aws/core';
import { vault } from '../wiring/aws/vault';
import { workflow } from '../wiring/aws/workflow';
import { createServices } from '../wiring/services';

/** Lambda entry for `POST /hooks/gitlab/{hookId}`. */
export const handler = createProjectWebhookHandler(createServices({ ...core, vault, workflow }).webhook());
