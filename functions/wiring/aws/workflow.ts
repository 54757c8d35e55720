import { SFNClient } from '@aws-sdk/client-sfn';
import { withTransientErrors } from '../../adapters/aws-errors';
import { StepFunctionsWorkflow } from '../../adapters/workflow/sfn-workflow';
import { requireEnv } from '../../commons/env';
import { ENV } from '../../commons/env-names';
import { once } from '../platform';

/**
 * The release workflow as the hooks, the admin API, the console and the sweep start it: the
 * state machine the stack deploys (`STATE_MACHINE_ARN`), one execution per build (or rollback).
 */
export const workflow = once(
  () =>
    new StepFunctionsWorkflow({
      client: withTransientErrors(new SFNClient({})),
      stateMachineArn: requireEnv(ENV.stateMachineArn),
    }),
);
