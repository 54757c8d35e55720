import { type SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import type { ReviewJob, Workflow } from '../../domain/ports';

/**
 * Starts the release state machine. The execution is named after the build id, or after the
 * release id for a rollback (which reuses an old build), so a retried start (a redelivered
 * webhook, a retried request) finds the same execution instead of starting a second one: Step
 * Functions treats a repeated name with the same input as the same execution while it runs, and
 * answers `ExecutionAlreadyExists` once it has ended (names stay taken for 90 days). That answer
 * means the release already has its execution, so its ARN is returned rather than an error.
 */
export class StepFunctionsWorkflow implements Workflow {
  constructor(private readonly options: { client: SFNClient; stateMachineArn: string }) {}

  async startRelease(input: { app: string; build: string; release?: string }): Promise<string> {
    const name = input.release || input.build;
    const payload = input.release
      ? { app: input.app, build: input.build, release: input.release }
      : { app: input.app, build: input.build };
    return this.startNamedExecution(name, payload);
  }

  /** A review-app job: the same state machine's one-step branch (`$.review`), named after the job. */
  async startReviewJob(job: ReviewJob): Promise<string> {
    return this.startNamedExecution(job.id, { app: job.app, build: job.id, review: job });
  }

  private async startNamedExecution(name: string, payload: Record<string, unknown>): Promise<string> {
    try {
      const out = await this.options.client.send(
        new StartExecutionCommand({
          stateMachineArn: this.options.stateMachineArn,
          name,
          input: JSON.stringify(payload),
        }),
      );
      if (!out.executionArn) throw new Error('Step Functions returned no execution ARN');
      return out.executionArn;
    } catch (error) {
      const existing = error instanceof Error && error.name === 'ExecutionAlreadyExists';
      const arn = existing ? executionArn(this.options.stateMachineArn, name) : undefined;
      if (arn) return arn;
      throw error;
    }
  }
}

/**
 * `arn:<partition>:states:<region>:<account>:stateMachine:<machine>` + name →
 * `arn:<partition>:states:<region>:<account>:execution:<machine>:<name>`; undefined when the
 * state machine ARN has another shape.
 */
export function executionArn(stateMachineArn: string, name: string): string | undefined {
  const parts = stateMachineArn.split(':');
  if (parts.length !== 7 || parts[0] !== 'arn' || parts[2] !== 'states' || parts[5] !== 'stateMachine') {
    return undefined;
  }
  return [...parts.slice(0, 5), 'execution', parts[6], name].join(':');
}
