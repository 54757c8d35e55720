import { ExecutionAlreadyExists, InvalidName, SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import { executionArn, StepFunctionsWorkflow } from '../../functions/adapters/workflow/sfn-workflow';

const MACHINE = 'arn:aws:states:eu-west-1:123456789012:stateMachine:Release-AbC123';

describe('the Step Functions workflow adapter', () => {
  const sfn = mockClient(SFNClient);
  const workflow = () => new StepFunctionsWorkflow({ client: new SFNClient({}), stateMachineArn: MACHINE });

  beforeEach(() => sfn.reset());

  it('names the execution after the build, so a retried start is the same execution', async () => {
    sfn.on(StartExecutionCommand).resolves({ executionArn: `${MACHINE.replace('stateMachine', 'execution')}:01B` });

    const arn = await workflow().startRelease({ app: 'web', build: '01B' });

    expect(arn).toBe('arn:aws:states:eu-west-1:123456789012:execution:Release-AbC123:01B');
    expect(sfn).toHaveReceivedCommandWith(StartExecutionCommand, {
      stateMachineArn: MACHINE,
      name: '01B',
      input: JSON.stringify({ app: 'web', build: '01B' }),
    });
  });

  it('names a rollback after its release and passes the release in', async () => {
    sfn.on(StartExecutionCommand).resolves({ executionArn: 'arn:aws:states:eu-west-1:1:execution:m:01R' });

    await workflow().startRelease({ app: 'web', build: '01B', release: '01R' });

    expect(sfn).toHaveReceivedCommandWith(StartExecutionCommand, {
      stateMachineArn: MACHINE,
      name: '01R',
      input: JSON.stringify({ app: 'web', build: '01B', release: '01R' }),
    });
  });

  it('treats an empty release as none', async () => {
    sfn.on(StartExecutionCommand).resolves({ executionArn: 'arn:aws:states:eu-west-1:1:execution:m:01B' });

    await workflow().startRelease({ app: 'web', build: '01B', release: '' });

    expect(sfn).toHaveReceivedCommandWith(StartExecutionCommand, {
      name: '01B',
      input: JSON.stringify({ app: 'web', build: '01B' }),
    });
  });

  it('returns the existing execution when the name was used already (an ended execution)', async () => {
    sfn
      .on(StartExecutionCommand)
      .rejects(new ExecutionAlreadyExists({ message: 'Execution Already Exists', $metadata: {} }));

    await expect(workflow().startRelease({ app: 'web', build: '01B' })).resolves.toBe(
      'arn:aws:states:eu-west-1:123456789012:execution:Release-AbC123:01B',
    );
    await expect(workflow().startRelease({ app: 'web', build: '01B', release: '01R' })).resolves.toBe(
      'arn:aws:states:eu-west-1:123456789012:execution:Release-AbC123:01R',
    );
  });

  it('lets every other failure through', async () => {
    sfn.on(StartExecutionCommand).rejects(new InvalidName({ message: 'Invalid Name', $metadata: {} }));
    await expect(workflow().startRelease({ app: 'web', build: '01B' })).rejects.toThrow('Invalid Name');

    sfn.on(StartExecutionCommand).resolves({});
    await expect(workflow().startRelease({ app: 'web', build: '01B' })).rejects.toThrow(/no execution ARN/);
  });

  it('builds execution ARNs from state machine ARNs in any partition, and nothing from other ARNs', () => {
    expect(executionArn('arn:aws-cn:states:cn-north-1:123456789012:stateMachine:m', 'x')).toBe(
      'arn:aws-cn:states:cn-north-1:123456789012:execution:m:x',
    );
    expect(executionArn('arn:aws:lambda:eu-west-1:123456789012:function:f', 'x')).toBeUndefined();
    expect(executionArn('not-an-arn', 'x')).toBeUndefined();
  });
});
