import { randomBytes } from 'node:crypto';
import type { TaskTokens } from '../domain/ports';

/**
 * Local mode's task tokens: what Step Functions does for `.waitForTaskToken` states on AWS. The
 * local executor issues a token per parked step and waits on it; `succeed` (called by the steps
 * themselves and by the local builder's and deployer's events, through domain/waits.ts)
 * completes the wait. As on AWS, a token completes once: later calls answer false, as does a
 * token that timed out or never existed.
 */
export class LocalTaskTokens implements TaskTokens {
  private readonly waiting = new Map<string, (output: Record<string, unknown>) => void>();

  /** A fresh token, unguessable like Step Functions' own. */
  issue(): string {
    return `local-task-${randomBytes(24).toString('base64url')}`;
  }

  /**
   * Waits until `token` is completed, or rejects with an error named `States.Timeout` (as Step
   * Functions names a task that timed out) after `timeoutMs`. Register before running the step
   * that may complete it at once.
   */
  wait(token: string, timeoutMs: number): { done: Promise<Record<string, unknown>>; cancel(): void } {
    let cancel: () => void = () => undefined;
    const done = new Promise<Record<string, unknown>>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(token);
        reject(
          Object.assign(new Error(`the task was not completed within ${timeoutMs} ms`), { name: 'States.Timeout' }),
        );
      }, timeoutMs);
      timer.unref();
      this.waiting.set(token, (output) => {
        clearTimeout(timer);
        this.waiting.delete(token);
        resolve(output);
      });
      cancel = () => {
        clearTimeout(timer);
        this.waiting.delete(token);
      };
    });
    // The step may still be running when the wait times out: the rejection is read once it returns.
    done.catch(() => undefined);
    return { done, cancel };
  }

  async succeed(token: string, output: Record<string, unknown>): Promise<boolean> {
    const complete = this.waiting.get(token);
    if (!complete) return false;
    // Over the wire on AWS: what the waiting state gets is JSON.
    complete(JSON.parse(JSON.stringify(output)) as Record<string, unknown>);
    return true;
  }

  /** How many waits are open (tests, shutdown). */
  get open(): number {
    return this.waiting.size;
  }
}
