import type { Context } from 'aws-lambda';
import { expireStaleApprovals } from '../domain/approvals';
import { sweepUnstartedBuilds } from '../domain/sweep';
import { core } from '../wiring/aws/core';
import { tasks } from '../wiring/aws/tasks';
import { workflow } from '../wiring/aws/workflow';
import { createServices } from '../wiring/services';

/**
 * Lambda entry for the sweep, run on a schedule (EventBridge, every 5 minutes): starts the
 * release workflow of every build recorded but never started (domain/sweep.ts), and ends
 * releases that waited for approval past 7 days (domain/approvals.ts). Needs
 * TABLE_NAME and STATE_MACHINE_ARN; reads and writes only the table (Query on the start-marker
 * partition, GetItem/UpdateItem on builds, DeleteItem on markers) and calls StartExecution.
 * The core, workflow and task-token parts: no KMS key, nothing to decrypt, nothing else in the bundle.
 */

const services = createServices({ ...core, workflow, tasks });
const logger = core.logger();

/** Time kept back from the function's timeout: the sweep stops starting builds before it. */
const SAFETY_MS = 15_000;

export async function handler(
  _event?: unknown,
  context?: Pick<Context, 'getRemainingTimeInMillis'>,
): Promise<{ expired: number; started: number; cleared: number; failed: number; left: number }> {
  const remaining = context?.getRemainingTimeInMillis?.();
  const result = await sweepUnstartedBuilds(services.sweep(), {
    ...(remaining !== undefined ? { deadline: Date.now() + remaining - SAFETY_MS } : {}),
  });
  for (const failure of result.failed) {
    logger.error('release workflow not started by the sweep', {
      error: failure.error as Error,
      app: failure.app,
      build: failure.build,
    });
  }
  // A backstop for approval waits: the workflow's own 7-day timeout normally ends them.
  const expired = await expireStaleApprovals(services.sweep());
  const counts = {
    expired: expired.length,
    started: result.started.length,
    cleared: result.cleared.length,
    failed: result.failed.length,
    left: result.left,
  };
  // Builds left for the next run (a backlog bigger than one run) are said, not an error.
  if (counts.expired + counts.started + counts.cleared + counts.failed + counts.left > 0) {
    logger.info('sweep done', { ...counts, builds: result.started });
  }
  return counts;
}
