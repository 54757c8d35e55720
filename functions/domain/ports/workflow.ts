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
}

/**
 * Completes the release workflow's waits (Step Functions task tokens: SendTaskSuccess on AWS,
 * the local executor's waits in local mode). A wait is completed once; `succeed` answers false
 * when nobody waits on the token any more (already completed, timed out, or unknown), which is
 * not an error: events may come twice or late.
 */
export interface TaskTokens {
  succeed(token: string, output: Record<string, unknown>): Promise<boolean>;
}
