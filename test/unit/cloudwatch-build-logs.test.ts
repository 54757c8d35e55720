import { CloudWatchLogsClient, GetLogEventsCommand, ResourceNotFoundException } from '@aws-sdk/client-cloudwatch-logs';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import { CloudWatchBuildLogs, parseLogLocation } from '../../functions/adapters/logs/cloudwatch-build-logs';

const logs = mockClient(CloudWatchLogsClient);
const LOCATION = 'Slipway-BuildLogs04E75593-abc:8745a7a9-c340-456a-9166-edf953571bEX';

function reader(): CloudWatchBuildLogs {
  return new CloudWatchBuildLogs({ client: new CloudWatchLogsClient({}) });
}

describe('CloudWatch build logs', () => {
  beforeEach(() => logs.reset());

  it('reads the stream from its head and hands back the forward token as the cursor', async () => {
    logs.on(GetLogEventsCommand).resolves({
      events: [{ message: '[Container] Entering phase INSTALL\n' }, { message: 'fetch: ok\n' }],
      nextForwardToken: 'f/1',
    });

    await expect(reader().read(LOCATION)).resolves.toEqual({
      lines: ['[Container] Entering phase INSTALL', 'fetch: ok'],
      cursor: 'f/1',
    });
    expect(logs).toHaveReceivedCommandWith(GetLogEventsCommand, {
      logGroupName: 'Slipway-BuildLogs04E75593-abc',
      logStreamName: '8745a7a9-c340-456a-9166-edf953571bEX',
      startFromHead: true,
    });
    expect(logs.commandCalls(GetLogEventsCommand)[0]?.args[0].input).not.toHaveProperty('nextToken');
  });

  it('goes on from the cursor it is given', async () => {
    logs.on(GetLogEventsCommand).resolves({ events: [{ message: 'build: done\n' }], nextForwardToken: 'f/2' });

    await expect(reader().read(LOCATION, 'f/1')).resolves.toEqual({ lines: ['build: done'], cursor: 'f/2' });
    expect(logs).toHaveReceivedCommandWith(GetLogEventsCommand, { nextToken: 'f/1', startFromHead: true });
  });

  it('at the end of the stream gives no lines and keeps the cursor', async () => {
    logs.on(GetLogEventsCommand).resolves({ events: [], nextForwardToken: 'f/2' });

    await expect(reader().read(LOCATION, 'f/2')).resolves.toEqual({ lines: [], cursor: 'f/2' });
    expect(logs).toHaveReceivedCommandTimes(GetLogEventsCommand, 1);
  });

  it('skips empty pages before the end of the stream', async () => {
    logs
      .on(GetLogEventsCommand)
      .resolvesOnce({ events: [], nextForwardToken: 'f/2' })
      .resolvesOnce({ events: [{ message: 'late line\n' }], nextForwardToken: 'f/3' });

    await expect(reader().read(LOCATION, 'f/1')).resolves.toEqual({ lines: ['late line'], cursor: 'f/3' });
  });

  it('splits a message that holds several lines', async () => {
    logs.on(GetLogEventsCommand).resolves({ events: [{ message: 'one\r\ntwo\n' }], nextForwardToken: 'f/1' });

    await expect(reader().read(LOCATION)).resolves.toEqual({ lines: ['one', 'two'], cursor: 'f/1' });
  });

  it('has nothing to read before CodeBuild creates the stream, and keeps the cursor', async () => {
    logs
      .on(GetLogEventsCommand)
      .rejects(new ResourceNotFoundException({ message: 'The specified log stream does not exist.', $metadata: {} }));

    await expect(reader().read(LOCATION)).resolves.toEqual({ lines: [], cursor: '' });
    await expect(reader().read(LOCATION, 'f/1')).resolves.toEqual({ lines: [], cursor: 'f/1' });
  });

  it('passes on other failures', async () => {
    logs.on(GetLogEventsCommand).rejects(Object.assign(new Error('throttled'), { name: 'ThrottlingException' }));

    await expect(reader().read(LOCATION)).rejects.toThrow('throttled');
  });

  it('rejects a location that is not group:stream', () => {
    expect(() => parseLogLocation('no-colon')).toThrow(/group:stream/);
    expect(() => parseLogLocation(':stream')).toThrow(/group:stream/);
    expect(() => parseLogLocation('group:')).toThrow(/group:stream/);
    expect(parseLogLocation('g:s:t')).toEqual({ group: 'g', stream: 's:t' });
  });
});
