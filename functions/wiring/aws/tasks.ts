import { SFNClient } from '@aws-sdk/client-sfn';
import { StepFunctionsTaskTokens } from '../../adapters/workflow/sfn-task-tokens';
import { once } from '../platform';

/** Completes the release workflow's waits (SendTaskSuccess): build events and the release steps. */
export const tasks = once(() => new StepFunctionsTaskTokens(new SFNClient({})));
