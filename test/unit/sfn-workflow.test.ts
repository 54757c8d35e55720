import { SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import { StepFunctionsWorkflow } from '../../functions/adapters/workflow/sfn-workflow';

describe('the Step Functions workflow adapter', () => {
  const sfn = mockClient(SFNClient);

  it('names the execution after the build, so a retried start is the same execution', async () => {
    sfn.on(StartExecutionCommand).resolves({ executionArn: 'arn:aws:states:eu-west-1:1:execution:release:01B' });
    const workflow = new StepFunctionsWorkflow({ client: new SFNClient({}), stateMachineArn: 'arn:sm' });

    const arn = await workflow.startRelease({ app: 'web', build: '01B' });

    expect(arn).toBe('arn:aws:states:eu-west-1:1:execution:release:01B');
    expect(sfn).toHaveReceivedCommandWith(StartExecutionCommand, {
      stateMachineArn: 'arn:sm',
      name: '01B',
      input: JSON.stringify({ app: 'web', build: '01B' }),
    });
  });
});
