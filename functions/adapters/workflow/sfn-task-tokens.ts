import { SendTaskSuccessCommand, type SFNClient } from '@aws-sdk/client-sfn';
import type { TaskTokens } from '../../domain/ports';

/**
 * Completes the release workflow's waits on AWS: SendTaskSuccess with the token the waiting
 * state handed out. Step Functions answers `TaskTimedOut` for a token whose wait has ended
 * (completed before, timed out, or its execution stopped) and `TaskDoesNotExist` /
 * `InvalidToken` for one it does not know: all mean nobody waits on it any more, which events
 * that come twice or late make ordinary, so they answer false. Anything else (throttling, no
 * permission) is thrown, so the event is retried.
 */
export class StepFunctionsTaskTokens implements TaskTokens {
  constructor(private readonly client: SFNClient) {}

  async succeed(token: string, output: Record<string, unknown>): Promise<boolean> {
    try {
      await this.client.send(new SendTaskSuccessCommand({ taskToken: token, output: JSON.stringify(output) }));
      return true;
    } catch (error) {
      if (error instanceof Error && GONE.has(error.name)) return false;
      throw error;
    }
  }
}

const GONE: ReadonlySet<string> = new Set(['TaskTimedOut', 'TaskDoesNotExist', 'InvalidToken']);
