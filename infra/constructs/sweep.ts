import { Duration } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import { Construct } from 'constructs';
import { HANDLERS } from '../bundling';
import type { Release } from './release';
import { SlipwayFunction } from './slipway-function';

/** How often the sweep runs. */
export const SWEEP_INTERVAL = Duration.minutes(5);

/**
 * One sweep reads the start markers and starts each build's execution one by one; a backlog it
 * cannot finish is taken up by the next run (the markers stay). Well under the interval, so two
 * runs never overlap.
 */
export const SWEEP_TIMEOUT = Duration.minutes(2);

export interface SweepProps {
  /** The state table: start markers, builds. */
  readonly table: dynamodb.ITable;
  /** The release workflow the sweep starts. */
  readonly release: Release;
}

/**
 * Every accepted build reaches a workflow (issue 13, point 9b): every 5 minutes an EventBridge
 * schedule runs `functions/handlers/sweep.ts`, which starts the release execution of every
 * build recorded but never started (its start marker is still in the table). It may touch
 * items of the table (no index, no Scan) and start executions of the release state machine;
 * it opens no secret (no `KMS_KEY_ID`).
 */
export class Sweep extends Construct {
  public readonly function: SlipwayFunction;
  public readonly rule: events.Rule;

  constructor(scope: Construct, id: string, props: SweepProps) {
    super(scope, id);
    this.function = new SlipwayFunction(this, 'Function', {
      entry: HANDLERS.sweep,
      description:
        'Starts the release workflow of every build recorded but never started; expires unapproved releases (every 5 minutes)',
      timeout: SWEEP_TIMEOUT,
    });
    // Query the start markers, read the build, delete a marker whose build has started; list the
    // apps' releases and end those that waited for approval past 7 days, completing their waits.
    this.function.bindTable(props.table, ['GetItem', 'Query', 'UpdateItem', 'DeleteItem']);
    props.release.grantStartRelease(this.function);
    props.release.grantTaskResponse(this.function);

    this.rule = new events.Rule(this, 'Schedule', {
      description: 'Runs the Slipway sweep: builds recorded but never started get their release workflow',
      schedule: events.Schedule.rate(SWEEP_INTERVAL),
      targets: [
        // A run that could not be delivered is not worth keeping: the next one comes 5 minutes later.
        new targets.LambdaFunction(this.function, { retryAttempts: 2, maxEventAge: SWEEP_INTERVAL }),
      ],
    });
  }
}
