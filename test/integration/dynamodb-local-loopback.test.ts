import { startDynamoDbLocal } from '../../functions/adapters/dynamodb/local-server';
import { isLoopback, listeningSockets } from '../support/listening-sockets';

describe('DynamoDB Local as Slipway starts it (local mode and this test suite)', () => {
  it('accepts connections on 127.0.0.1 only, never on every interface', async () => {
    const server = await startDynamoDbLocal({});
    try {
      const port = Number(new URL(server.endpoint).port);
      const onPort = listeningSockets().filter((socket) => socket.port === port);

      expect(onPort.length).toBeGreaterThan(0);
      expect(onPort.map((socket) => socket.address).filter((address) => !isLoopback(address))).toEqual([]);
    } finally {
      await server.stop();
    }
  }, 60_000);
});

describe('isLoopback', () => {
  it.each([
    ['127.0.0.1', true],
    ['127.8.9.10', true],
    ['::1', true],
    ['::ffff:127.0.0.1', true],
    ['0.0.0.0', false],
    ['::', false],
    ['10.0.0.4', false],
    ['::ffff:10.0.0.4', false],
  ])('%s → %s', (address, expected) => {
    expect(isLoopback(address)).toBe(expected);
  });
});
