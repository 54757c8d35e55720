import { connect } from 'node:net';
import { startTestLocalMode } from '../support/local';

/**
 * A sender that writes the whole body before it reads anything (as GitLab does) must read the
 * 413, not a broken pipe: local mode keeps reading and discarding past the limit, up to a
 * bound, before it answers and closes.
 */

function sendAllThenRead(url: string, body: Buffer, chunked: boolean): Promise<string> {
  const { hostname, port, pathname } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    let answer = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      answer += chunk;
    });
    socket.on('error', (error) =>
      reject(new Error(`${(error as NodeJS.ErrnoException).code}: ${answer.slice(0, 60)}`)),
    );
    socket.on('close', () => resolve(answer));
    const head = [
      `POST ${pathname} HTTP/1.1`,
      `Host: ${hostname}:${port}`,
      'Content-Type: application/json',
      'X-Gitlab-Event: Push Hook',
      chunked ? 'Transfer-Encoding: chunked' : `Content-Length: ${body.length}`,
      'Connection: close',
      '',
      '',
    ].join('\r\n');
    socket.write(head);
    if (chunked) {
      for (let at = 0; at < body.length; at += 65_536) {
        const part = body.subarray(at, at + 65_536);
        socket.write(`${part.length.toString(16)}\r\n`);
        socket.write(part);
        socket.write('\r\n');
      }
      socket.write('0\r\n\r\n');
    } else {
      socket.write(body);
    }
  });
}

describe('an oversized request body', () => {
  let local: Awaited<ReturnType<typeof startTestLocalMode>>;
  beforeAll(async () => {
    local = await startTestLocalMode();
  });
  afterAll(async () => {
    await local?.stop();
  });

  const body = Buffer.alloc(7 * 1024 * 1024, 'x');

  it.each([
    ['with a Content-Length', false],
    ['chunked', true],
  ])(
    'gets its 413 when the sender writes everything first (%s)',
    async (_name, chunked) => {
      const answer = await sendAllThenRead(`${local.url}/hooks/gitlab/AAAAAAAAAAAAAAAAAAAAAAAA`, body, chunked);
      expect(answer).toMatch(/^HTTP\/1\.1 413 /);
    },
    30_000,
  );
});
