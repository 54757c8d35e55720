import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { isTransientAwsError, withTransientErrors } from '../../functions/adapters/aws-errors';
import { TransientError } from '../../functions/domain/errors';

/**
 * The transientErrors plugin on a real SDK client, against an HTTP server that answers as
 * DynamoDB's JSON protocol does: the SDK's own retries run first, then a throttled or 5xx
 * answer reaches the caller as TransientError with the SDK's error as cause; a failed
 * condition or a missing table keeps its own name.
 */

type Answer = { status: number; type: string; message: string };

let server: Server;
let endpoint: string;
let answer: Answer;
let requests = 0;

beforeAll(async () => {
  server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      requests += 1;
      res.writeHead(answer.status, { 'content-type': 'application/x-amz-json-1.0', 'x-amzn-requestid': 'test' });
      res.end(JSON.stringify({ __type: `com.amazonaws.dynamodb.v20120810#${answer.type}`, message: answer.message }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

function client(maxAttempts = 1): DynamoDBClient {
  return withTransientErrors(
    new DynamoDBClient({
      endpoint,
      region: 'local',
      maxAttempts,
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    }),
  );
}

const get = new GetItemCommand({ TableName: 't', Key: { pk: { S: 'a' } } });

describe('transient AWS errors become TransientError at the client', () => {
  it('a throttled call, once the SDK has retried, is a TransientError with the SDK error as cause', async () => {
    answer = { status: 400, type: 'ThrottlingException', message: 'Rate of requests exceeds the allowed throughput.' };
    requests = 0;
    const error = await client(2)
      .send(get)
      .catch((e: unknown) => e);
    expect(requests).toBe(2); // the SDK's retries ran first
    expect(error).toBeInstanceOf(TransientError);
    expect((error as Error).message).toBe('ThrottlingException: Rate of requests exceeds the allowed throughput.');
    expect(((error as Error).cause as Error).name).toBe('ThrottlingException');
  });

  it('a 5xx is transient; through the document client too (it shares the stack)', async () => {
    answer = { status: 500, type: 'InternalServerError', message: 'Internal server error' };
    const documents = DynamoDBDocumentClient.from(client());
    const error = await documents.send(new GetCommand({ TableName: 't', Key: { pk: 'a' } })).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TransientError);
  });

  it('a failed condition or a missing table keeps its own name, for the adapter to read', async () => {
    for (const type of ['ConditionalCheckFailedException', 'ResourceNotFoundException']) {
      answer = { status: 400, type, message: 'no' };
      const error = await client()
        .send(get)
        .catch((e: unknown) => e);
      expect(error).not.toBeInstanceOf(TransientError);
      expect((error as Error).name).toBe(type);
    }
  });

  it('classifies by name, code, the SDK’s $retryable and the status code', () => {
    const named = (name: string, extra: object = {}) => Object.assign(new Error(name), { name, ...extra });
    expect(isTransientAwsError(named('ProvisionedThroughputExceededException'))).toBe(true);
    expect(isTransientAwsError(named('Error', { code: 'ECONNRESET' }))).toBe(true);
    expect(isTransientAwsError(named('SomethingNew', { $retryable: {} }))).toBe(true);
    expect(isTransientAwsError(named('SomethingNew', { $metadata: { httpStatusCode: 503 } }))).toBe(true);
    expect(isTransientAwsError(named('AccessDeniedException', { $metadata: { httpStatusCode: 400 } }))).toBe(false);
    expect(isTransientAwsError(new TransientError('already named'))).toBe(false);
    expect(isTransientAwsError('not an error')).toBe(false);
  });
});
