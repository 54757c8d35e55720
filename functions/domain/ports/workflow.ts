import type { DeployTarget } from './deployer';

/**
 * Starts the release workflow for a recorded build. Idempotent per build id: the execution is
 * named after the build (the release for a rollback), so starting it again while it runs, or
 * after it ended, starts nothing new on AWS. Nothing stores the reference: it follows from the
 * name (on AWS `arn:…:execution:<state machine>:<build id>`).
 */
export interface Workflow {
  /**
   * Returns a reference to the execution (an ARN on AWS). With `release`, a rollback: that
   * (copied-forward) release is rolled out and the build is skipped.
   */
  startRelease(input: { app: string; build: string; release?: string }): Promise<string>;
  /**
   * Starts a review-app job (domain/review-apps.ts): the same workflow, one step with the rights
   * the webhook has not (ECS, GitLab). Named after `job.id`: starting it again is the same job.
   */
  startReviewJob?(job: ReviewJob): Promise<string>;
}

/**
 * A review app's work done outside the webhook: tearing one down (its merge request was merged
 * or closed, or the cap needed its slot), or telling a fork's merge request why it is not built.
 */
export type ReviewJob = { id: string; app: string; iid: number } & (
  | {
      kind: 'teardown';
      /** `review/<iid>`. */
      environment: string;
      /** Where it ran (the environment item is gone by now). */
      target: DeployTarget;
      reason: 'merged' | 'closed' | 'capped';
      /** `capped`: the merge request that needed the slot, and the cap. */
      by?: number;
      cap?: number;
    }
  | { kind: 'refuse_fork'; sourceProjectId: number }
);

/**
 * Completes the release workflow's waits (Step Functions task tokens: SendTaskSuccess on AWS,
 * the local executor's waits in local mode). A wait is completed once; `succeed` answers false
 * when nobody waits on the token any more (already completed, timed out, or unknown), which is
 * not an error: events may come twice or late.
 */
export interface TaskTokens {
  succeed(token: string, output: Record<string, unknown>): Promise<boolean>;
}
