import { type ChildProcess, spawn } from 'node:child_process';
import { freePort, stopChild } from './processes';

/** A moto_server on a free loopback port (TOOLCHAIN.md): AWS APIs answered locally, any credentials. */
export interface MotoServer {
  endpoint: string;
  /** Client settings pointing at it. */
  clientConfig: { endpoint: string; region: string; credentials: { accessKeyId: string; secretAccessKey: string } };
  /** Forgets every resource (`POST /moto-api/reset`). */
  reset(): Promise<void>;
  stop(): Promise<void>;
}

/** Starts `moto_server -H 127.0.0.1 -p PORT` and waits until it answers (at most 20 s). */
export async function startMotoServer(): Promise<MotoServer> {
  const port = await freePort();
  const endpoint = `http://127.0.0.1:${port}`;
  const child: ChildProcess = spawn('moto_server', ['-H', '127.0.0.1', '-p', String(port)], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    if (log.length < 65_536) log += chunk;
  });
  const exited = new Promise<never>((_, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`moto_server exited (${code}) before answering:\n${log}`)));
  });
  const ready = (async () => {
    const deadline = Date.now() + 20_000;
    for (;;) {
      try {
        const res = await fetch(`${endpoint}/moto-api/`);
        await res.arrayBuffer();
        return;
      } catch {
        if (Date.now() > deadline) throw new Error(`moto_server did not answer within 20 s:\n${log}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  })();
  try {
    await Promise.race([ready, exited]);
  } catch (error) {
    await stopChild(child);
    throw error;
  }
  exited.catch(() => undefined);
  return {
    endpoint,
    clientConfig: {
      endpoint,
      region: 'eu-west-1',
      credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
    },
    async reset() {
      const res = await fetch(`${endpoint}/moto-api/reset`, { method: 'POST' });
      await res.arrayBuffer();
    },
    stop: () => stopChild(child),
  };
}
