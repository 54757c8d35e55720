import { createAdminHandler } from '../http/admin-api';
import { buildLogs } from '../wiring/aws/build-logs';
import { buildRights } from '../wiring/aws/build-rights';
import { core } from '../wiring/aws/core';
import { platformProbe } from '../wiring/aws/platform-probe';
import { optionalPublicUrl } from '../wiring/aws/public-url';
import { tasks } from '../wiring/aws/tasks';
import { vault } from '../wiring/aws/vault';
import { workflow } from '../wiring/aws/workflow';
import { gitlab } from '../wiring/gitlab';
import { createServices } from '../wiring/services';
import { sshKeys } from '../wiring/ssh-keys';

/**
 * Lambda entry for the IAM-authorised `/v1` admin API. Slack's configuration is not known here
 * (the function may not read the Slack secret), so `doctor` says so.
 */
export const handler = createAdminHandler(
  createServices({
    ...core,
    vault,
    workflow,
    tasks,
    gitlab,
    sshKeys,
    buildRights,
    buildLogs,
    publicUrl: optionalPublicUrl,
    platformProbe,
  }).admin(),
);
