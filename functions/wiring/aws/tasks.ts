import { SFNClient } from '@aws-sdk/client-sfn';
import { withTransientErrors } from '../../adapters/aws-errors';
import { StepFunctionsTaskTokens } from '../../adapters/workflow/sfn-task-tokens';
import { once } from '../platform';

/** Completes the release workflow's waits (SendTaskSuccess): build events and the release steps. */
export const tasks = once(() => new StepFunctionsTaskTokens(withTransientErrors(new SFNClient({}))));
