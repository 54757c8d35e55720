import { createSystemHookHandler } from '../http/system-hook';
import { core } from '../wiring/aws/core';
import { vault } from '../wiring/aws/vault';
import { workflow } from '../wiring/aws/workflow';
import { createServices } from '../wiring/services';

/** Lambda entry for `POST /hooks/gitlab-system`. */
export const handler = createSystemHookHandler(createServices({ ...core, vault, workflow }).webhook());
