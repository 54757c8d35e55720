import { createConsoleHandler } from '../console/handler';
import { buildLogs } from '../wiring/aws/build-logs';
import { core } from '../wiring/aws/core';
import { requiredPublicUrl } from '../wiring/aws/public-url';
import { sessionKey } from '../wiring/aws/session-key';
import { tasks } from '../wiring/aws/tasks';
import { vault } from '../wiring/aws/vault';
import { workflow } from '../wiring/aws/workflow';
import { gitlab } from '../wiring/gitlab';
import { createServices } from '../wiring/services';

/**
 * Lambda entry for the web console (`/console…`, `/auth/gitlab/*`): no authorizer at API
 * Gateway, the session cookie authenticates. The session key is a Secrets Manager secret
 * generated at deploy time (SESSION_SECRET_ARN), read once per cold start.
 */
export const handler = createConsoleHandler(
  createServices({
    ...core,
    vault,
    workflow,
    tasks,
    gitlab,
    buildLogs,
    publicUrl: requiredPublicUrl,
    sessionKey,
  }).console(),
);
