import { type SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import type { Workflow } from '../../domain/ports';

/**
 * Starts the release state machine. The execution is named after the build id, so a retried
 * start (a redelivered webhook) finds the same execution instead of starting a second one:
 * Step Functions treats a repeated name with the same input as the same execution.
 */
export class StepFunctionsWorkflow implements Workflow {
  constructor(private readonly options: { client: SFNClient; stateMachineArn: string }) {}

  async startRelease(input: { app: string; build: string }): Promise<string> {
    const out = await this.options.client.send(
      new StartExecutionCommand({
        stateMachineArn: this.options.stateMachineArn,
        name: input.build,
        input: JSON.stringify(input),
      }),
    );
    if (!out.executionArn) throw new Error('Step Functions returned no execution ARN');
    return out.executionArn;
  }
}
