import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SFNClient } from '@aws-sdk/client-sfn';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Context } from 'aws-lambda';
import { DynamoDbStore } from '../adapters/dynamodb/store';
import { StepFunctionsWorkflow } from '../adapters/workflow/sfn-workflow';
import { requireEnv } from '../commons/env';
import { createLogger } from '../commons/logger';
import { type SweepDeps, sweepUnstartedBuilds } from '../domain/sweep';

/**
 * Lambda entry for the sweep, run on a schedule (EventBridge, every 5 minutes): starts the
 * release workflow of every build recorded but never started (domain/sweep.ts). Needs
 * TABLE_NAME and STATE_MACHINE_ARN; reads and writes only the table (Query on the start-marker
 * partition, GetItem/UpdateItem on builds, DeleteItem on markers) and calls StartExecution.
 * Deliberately not `commons/aws.ts`: no KMS key, nothing to decrypt, nothing else in the bundle.
 */

let deps: SweepDeps | undefined;
const logger = createLogger();

function sweepDeps(): SweepDeps {
  if (deps) return deps;
  const store = new DynamoDbStore({
    tableName: requireEnv('TABLE_NAME'),
    client: DynamoDBDocumentClient.from(new DynamoDBClient({}), { marshallOptions: { removeUndefinedValues: true } }),
  });
  const workflow = new StepFunctionsWorkflow({
    client: new SFNClient({}),
    stateMachineArn: requireEnv('STATE_MACHINE_ARN'),
  });
  deps = { store, workflow };
  return deps;
}

/** Time kept back from the function's timeout: the sweep stops starting builds before it. */
const SAFETY_MS = 15_000;

export async function handler(
  _event?: unknown,
  context?: Pick<Context, 'getRemainingTimeInMillis'>,
): Promise<{ started: number; cleared: number; failed: number; left: number }> {
  const remaining = context?.getRemainingTimeInMillis?.();
  const result = await sweepUnstartedBuilds(sweepDeps(), {
    ...(remaining !== undefined ? { deadline: Date.now() + remaining - SAFETY_MS } : {}),
  });
  for (const failure of result.failed) {
    logger.error('release workflow not started by the sweep', {
      error: failure.error as Error,
      app: failure.app,
      build: failure.build,
    });
  }
  const counts = {
    started: result.started.length,
    cleared: result.cleared.length,
    failed: result.failed.length,
    left: result.left,
  };
  // Builds left for the next run (a backlog bigger than one run) are said, not an error.
  if (counts.started + counts.cleared + counts.failed + counts.left > 0) {
    logger.info('sweep done', { ...counts, builds: result.started });
  }
  return counts;
}
