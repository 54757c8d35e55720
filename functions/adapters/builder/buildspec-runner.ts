import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  accessSync,
  constants,
  createWriteStream,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  type WriteStream,
  writeFileSync,
} from 'node:fs';
import { setPriority, tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { parse } from 'yaml';

/**
 * Runs a CodeBuild buildspec (version 0.2) on this machine, the way CodeBuild runs it, so local
 * mode builds with the very file CodeBuild runs (buildspecs/build.yml).
 *
 * What it follows (AWS CodeBuild user guide, "Build specification reference" and "Build phase
 * transitions"):
 * - `env.variables` are defaults: the environment given to the run overrides them.
 * - Phases run in order: install, pre_build, build, post_build. In a phase, commands run one at
 *   a time; the first that fails skips the rest of `commands`, then `finally` runs; the phase
 *   fails if any command in `commands` or `finally` fails.
 * - After a failed phase: `on-failure: ABORT` ends the build, `CONTINUE` goes on to the next
 *   phase. Without `on-failure`, the phase transitions apply: a failed install or pre_build
 *   ends the build; a failed build still runs post_build (with CODEBUILD_BUILD_SUCCEEDING=0).
 *   Any failed phase fails the build.
 * - Commands share one shell session: variables set by a command (exported or not) and the
 *   working directory carry over to later commands and phases. As in CodeBuild, each command
 *   runs in its own child of that session, so `exit` or `set -e` in one command ends that
 *   command, not the build, and shell options and functions do not carry over.
 * - `exported-variables` are read when the last phase has run.
 *
 * Implementation: one `bash` process (its own process group) reads driver snippets from stdin.
 * Each command runs in a subshell forked from it with `set -a`; on exit the subshell writes
 * `export -p` and its directory to a state file that the session sources, then the session
 * prints a sentinel with a per-run random token and the exit status. stdout and stderr share one
 * pipe, so the log keeps their order.
 */

export const PHASES = ['install', 'pre_build', 'build', 'post_build'] as const;
export type PhaseName = (typeof PHASES)[number];

export interface BuildspecPhase {
  name: PhaseName;
  /** CodeBuild's phase type: INSTALL, PRE_BUILD, BUILD, POST_BUILD. */
  type: string;
  commands: string[];
  finally: string[];
  onFailure?: 'ABORT' | 'CONTINUE';
}

export interface Buildspec {
  variables: Record<string, string>;
  exportedVariables: string[];
  phases: BuildspecPhase[];
}

/** The niceness build shells run at (0 normal, 19 lowest). */
export const BUILD_NICENESS = 10;

export interface RunBuildspecOptions {
  /** Path of the buildspec file. */
  buildspec: string;
  /** The run's environment (like StartBuild's overrides): wins over `env.variables`. */
  env: Record<string, string>;
  /** Working directory the first command starts in. */
  cwd: string;
  /** Log file (created 0600, parent folders 0700); every output line and runner line goes here. */
  logFile: string;
  /** Total time limit; the shell's whole process group is killed when it passes. */
  timeoutMs?: number;
  /** Stops the build: the shell's whole process group is killed, the result is FAILED ("stopped"). */
  signal?: AbortSignal;
  /** Called when a phase starts, with CodeBuild's phase type (INSTALL, PRE_BUILD, …). */
  onPhase?(name: string): void;
  /** Called with every line written to the log. */
  onLine?(line: string): void;
  /** Programs that must be on the run's PATH before anything starts (default: docker). */
  requires?: string[];
}

export interface BuildspecResult {
  status: 'SUCCEEDED' | 'FAILED';
  /** The first phase that failed (CodeBuild phase type). */
  failedPhase?: string;
  /** The buildspec command that failed first, as written. */
  failedCommand?: string;
  /** Inside a multi-line failedCommand: the simple command that failed last, as written (from bash's ERR trap). */
  failedSimpleCommand?: string;
  /** The last `==> step: NAME` line a failing command printed (the buildspec's own step names). */
  failedStep?: string;
  /** The last `==> error: TEXT` line the failing command itself printed: why it failed, in the buildspec's words. */
  failedMessage?: string;
  /** Why the run failed when it is not (only) a command's exit status: timeout, missing tool, shell died. */
  error?: string;
  timedOut?: boolean;
  exportedVariables: Record<string, string>;
  durationMs: number;
}

/** A buildspec this runner cannot run (malformed, or a feature only CodeBuild has). */
export class BuildspecError extends Error {
  override name = 'BuildspecError';
}

const PHASE_TYPES: Record<PhaseName, string> = {
  install: 'INSTALL',
  pre_build: 'PRE_BUILD',
  build: 'BUILD',
  post_build: 'POST_BUILD',
};
const VARIABLE_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const STEP_LINE = /^==> step: (.+)$/;
const ERROR_LINE = /^==> error: (.+)$/;
/** Environment passed through to a run when it does not set these itself. */
const BASE_ENV = ['PATH', 'HOME', 'USER', 'LOGNAME', 'LANG', 'LC_ALL', 'TZ'];

/** Parses and checks a buildspec (YAML text). */
export function parseBuildspec(text: string, source = 'buildspec'): Buildspec {
  let document: unknown;
  try {
    document = parse(text);
  } catch (error) {
    throw new BuildspecError(`${source} is not valid YAML: ${(error as Error).message.split('\n')[0]}`);
  }
  if (!isMap(document)) throw new BuildspecError(`${source} is not a buildspec (expected a mapping)`);
  if (String(document.version) !== '0.2')
    throw new BuildspecError(`${source}: only buildspec version 0.2 is supported`);

  const env = document.env ?? {};
  if (!isMap(env)) throw new BuildspecError(`${source}: env must be a mapping`);
  for (const key of ['parameter-store', 'secrets-manager']) {
    if (env[key] !== undefined) throw new BuildspecError(`${source}: env.${key} is not available in local builds`);
  }
  if (env.shell !== undefined && !['bash', '/bin/sh', 'sh'].includes(String(env.shell))) {
    throw new BuildspecError(
      `${source}: env.shell ${String(env.shell)} is not supported here (bash runs the commands)`,
    );
  }
  const variables: Record<string, string> = {};
  if (env.variables !== undefined && env.variables !== null) {
    if (!isMap(env.variables)) throw new BuildspecError(`${source}: env.variables must be a mapping`);
    for (const [name, value] of Object.entries(env.variables)) {
      if (!VARIABLE_NAME.test(name)) throw new BuildspecError(`${source}: env variable name ${name} is not valid`);
      variables[name] = value === null || value === undefined ? '' : String(value);
    }
  }
  const exported = env['exported-variables'] ?? [];
  if (!Array.isArray(exported) || exported.some((name) => typeof name !== 'string' || !VARIABLE_NAME.test(name))) {
    throw new BuildspecError(`${source}: env.exported-variables must be a list of variable names`);
  }

  const phasesValue = document.phases;
  if (!isMap(phasesValue)) throw new BuildspecError(`${source}: phases must be a mapping`);
  for (const name of Object.keys(phasesValue)) {
    if (!(PHASES as readonly string[]).includes(name)) throw new BuildspecError(`${source}: unknown phase ${name}`);
  }
  const phases: BuildspecPhase[] = [];
  for (const name of PHASES) {
    const phase = phasesValue[name];
    if (phase === undefined || phase === null) continue;
    if (!isMap(phase)) throw new BuildspecError(`${source}: phases.${name} must be a mapping`);
    const onFailure = phase['on-failure'];
    if (onFailure !== undefined && onFailure !== 'ABORT' && onFailure !== 'CONTINUE') {
      throw new BuildspecError(`${source}: phases.${name}.on-failure must be ABORT or CONTINUE`);
    }
    phases.push({
      name,
      type: PHASE_TYPES[name],
      commands: commandList(phase.commands, `${source}: phases.${name}.commands`),
      finally: commandList(phase.finally, `${source}: phases.${name}.finally`),
      ...(onFailure ? { onFailure } : {}),
    });
  }
  return { variables, exportedVariables: exported as string[], phases };
}

/** Runs the buildspec; resolves with the outcome (a failed build is a result, not an error). */
export async function runBuildspec(options: RunBuildspecOptions): Promise<BuildspecResult> {
  const started = Date.now();
  const log = new BuildLog(options.logFile, options.onLine);
  const result = (fields: Omit<BuildspecResult, 'durationMs' | 'exportedVariables'>, exported = {}) => ({
    ...fields,
    exportedVariables: exported,
    durationMs: Date.now() - started,
  });
  try {
    let spec: Buildspec;
    try {
      spec = parseBuildspec(readFileSync(options.buildspec, 'utf8'), options.buildspec);
    } catch (error) {
      log.container(`Phase complete: DOWNLOAD_SOURCE State: FAILED`);
      log.container(`Phase context status code: YAML_FILE_ERROR Message: ${(error as Error).message}`);
      return result({ status: 'FAILED', failedPhase: 'DOWNLOAD_SOURCE', error: (error as Error).message });
    }
    const env: Record<string, string> = {};
    for (const name of BASE_ENV) {
      const value = process.env[name];
      if (value !== undefined) env[name] = value;
    }
    Object.assign(env, spec.variables, options.env, { CODEBUILD_BUILD_SUCCEEDING: '1' });

    for (const tool of options.requires ?? ['docker']) {
      if (!onPath(tool, env.PATH ?? '')) {
        const message = `local builds need the ${tool} CLI on PATH`;
        log.container(`Phase complete: PROVISIONING State: FAILED`);
        log.container(`Phase context status code: CLIENT_ERROR Message: ${message}`);
        return result({ status: 'FAILED', failedPhase: 'PROVISIONING', error: message });
      }
    }
    return await runPhases(spec, env, options, log, result);
  } finally {
    await log.close();
  }
}

async function runPhases(
  spec: Buildspec,
  env: Record<string, string>,
  options: RunBuildspecOptions,
  log: BuildLog,
  result: (
    fields: Omit<BuildspecResult, 'durationMs' | 'exportedVariables'>,
    exported?: Record<string, string>,
  ) => BuildspecResult,
): Promise<BuildspecResult> {
  let lastStep: string | undefined;
  /** Of the command running now only. */
  let lastError: string | undefined;
  const shell = new Shell(env, options.cwd, (line) => {
    log.line(line);
    const step = STEP_LINE.exec(line);
    if (step) lastStep = step[1]?.trim();
    const error = ERROR_LINE.exec(line);
    if (error) lastError = error[1]?.trim();
  });
  let timedOut = false;
  const timer = options.timeoutMs
    ? setTimeout(() => {
        timedOut = true;
        shell.kill();
      }, options.timeoutMs)
    : undefined;
  let stopped = false;
  const stop = () => {
    stopped = true;
    shell.kill();
  };
  options.signal?.addEventListener('abort', stop, { once: true });

  let failure: Omit<BuildspecResult, 'durationMs' | 'exportedVariables' | 'status'> | undefined;
  let current: { phase?: string; command?: string } = {};
  try {
    if (options.signal?.aborted) throw new Error('stopped before it started');
    await shell.start();
    for (const phase of spec.phases) {
      current = { phase: phase.type };
      lastStep = undefined;
      log.container(`Entering phase ${phase.type}`);
      try {
        options.onPhase?.(phase.type);
      } catch {
        // A failing observer does not fail the build.
      }
      let phaseFailed = false;
      for (const block of [phase.commands, phase.finally]) {
        for (const command of block) {
          current.command = command;
          lastError = undefined;
          log.container(`Running command ${command}`);
          const { status, failed } = await shell.run(command);
          if (status === 0) continue;
          log.container(`Command did not exit successfully ${command} exit status ${status}`);
          if (!phaseFailed) {
            log.container(`Phase complete: ${phase.type} State: FAILED`);
            log.container(
              `Phase context status code: COMMAND_EXECUTION_ERROR Message: Error while executing command: ${command}. Reason: exit status ${status}`,
            );
          }
          failure ??= {
            failedPhase: phase.type,
            failedCommand: command,
            ...(failed && failed !== command ? { failedSimpleCommand: failed } : {}),
            ...(lastStep ? { failedStep: lastStep } : {}),
            ...(lastError ? { failedMessage: lastError } : {}),
          };
          phaseFailed = true;
          break;
        }
      }
      if (!phaseFailed) {
        log.container(`Phase complete: ${phase.type} State: SUCCEEDED`);
        continue;
      }
      await shell.exec('export CODEBUILD_BUILD_SUCCEEDING=0');
      const next = phase.onFailure === 'CONTINUE' ? true : phase.onFailure === 'ABORT' ? false : phase.name === 'build';
      if (!next) break;
    }
    const exported = await shell.read(spec.exportedVariables);
    await shell.close();
    log.container(`Build ${failure ? 'FAILED' : 'SUCCEEDED'}`);
    return failure ? result({ status: 'FAILED', ...failure }, exported) : result({ status: 'SUCCEEDED' }, exported);
  } catch (error) {
    shell.kill();
    const message = timedOut
      ? `build timed out after ${Math.round((options.timeoutMs ?? 0) / 1000)} s`
      : stopped || options.signal?.aborted
        ? `build stopped${typeof options.signal?.reason === 'string' ? `: ${options.signal.reason}` : ''}`
        : `the build shell failed: ${(error as Error).message}`;
    if (current.phase) log.container(`Phase complete: ${current.phase} State: ${timedOut ? 'TIMED_OUT' : 'FAILED'}`);
    log.container(message);
    return result({
      status: 'FAILED',
      ...(failure ?? {
        ...(current.phase ? { failedPhase: current.phase } : {}),
        ...(current.command ? { failedCommand: current.command } : {}),
        ...(lastStep ? { failedStep: lastStep } : {}),
      }),
      error: message,
      ...(timedOut ? { timedOut } : {}),
    });
  } finally {
    if (timer) clearTimeout(timer);
    options.signal?.removeEventListener('abort', stop);
    await shell.dispose();
  }
}

/** One bash session driven through stdin; see the comment at the top of this file. */
class Shell {
  private readonly token = `__slipway_${randomBytes(16).toString('hex')}__`;
  private readonly dir = mkdtempSync(join(tmpdir(), 'slipway-shell-'));
  private child?: ChildProcessWithoutNullStreams;
  private buffer = '';
  private waiting?: { resolve(status: number): void; reject(error: Error): void };
  /** Settles when bash has exited, and when its pipes have closed. */
  private exited: Promise<void> = Promise.resolve();
  private closed: Promise<void> = Promise.resolve();
  private ended?: Error;
  private disposed = false;
  /** An empty line held back: the sentinel's leading newline makes one after complete output. */
  private pendingBlank = false;

  constructor(
    private readonly env: Record<string, string>,
    private readonly cwd: string,
    private readonly onLine: (line: string) => void,
  ) {}

  async start(): Promise<void> {
    if (!statSync(this.cwd).isDirectory()) throw new Error(`${this.cwd} is not a folder`);
    const child = spawn('bash', ['--noprofile', '--norc', '-s'], {
      cwd: this.cwd,
      env: this.env,
      detached: true,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.child = child;
    // Builds are background work: below the server's priority (inherited by every command the
    // shell runs), so hooks and the admin API stay responsive while builds use the CPUs.
    if (child.pid !== undefined) {
      try {
        setPriority(child.pid, BUILD_NICENESS);
      } catch {
        // Not allowed here (some containers): builds run at normal priority.
      }
    }
    this.exited = new Promise((resolve) => {
      child.once('exit', () => resolve());
      child.once('error', () => resolve());
    });
    this.closed = new Promise((resolve) => {
      child.once('close', () => {
        this.flush();
        this.fail(new Error('bash exited'));
        resolve();
      });
      child.once('error', (error) => {
        this.fail(error);
        resolve();
      });
    });
    child.stdin.on('error', () => undefined);
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => this.data(chunk));
    child.stderr.on('data', (chunk: string) => this.data(chunk));
    const dir = quote(this.dir);
    await this.exec(
      [
        'exec 2>&1',
        `__sw_dir=${dir}`,
        // Saves what a command leaves behind for the next one: exported variables and the folder.
        `__sw_save() { set +a; { export -p; printf 'cd -- %q\\n' "$PWD"; } >"$__sw_dir/state" 2>/dev/null; }`,
        // Remembers the simple command that failed last inside a command (not the sourcing itself).
        `__sw_err() { [ "$BASH_COMMAND" = '. "$__sw_dir/command"' ] || printf '%s' "$BASH_COMMAND" >"$__sw_dir/failed"; }`,
      ].join('\n'),
    );
  }

  /**
   * Runs one buildspec command in a child of the session; resolves with its exit status and,
   * when it failed, the simple command inside it that failed last (from an ERR trap), if any.
   */
  async run(command: string): Promise<{ status: number; failed?: string }> {
    const failedFile = join(this.dir, 'failed');
    rmSync(failedFile, { force: true });
    writeFileSync(join(this.dir, 'command'), `${command}\n`, { mode: 0o600 });
    const status = await this.exec(
      [
        // The EXIT trap saves the state however the command ends (a command that sets its own
        // EXIT trap keeps its variables to itself).
        '( trap __sw_save EXIT; trap __sw_err ERR; set -a; . "$__sw_dir/command" ) </dev/null',
        '__sw_status=$?',
        'if [ -s "$__sw_dir/state" ]; then',
        // Forget what the command unset: drop every exported variable, then restore its list.
        '  compgen -e >"$__sw_dir/names"',
        '  while IFS= read -r __sw_name; do unset -v "$__sw_name" 2>/dev/null; done <"$__sw_dir/names"',
        '  . "$__sw_dir/state" 2>/dev/null',
        '  : >"$__sw_dir/state"',
        'fi',
        '(exit $__sw_status)',
      ].join('\n'),
    );
    if (status === 0 || !existsSync(failedFile)) return { status };
    const failed = readFileSync(failedFile, 'utf8').trim();
    return failed ? { status, failed } : { status };
  }

  /** Runs a driver snippet in the session itself; resolves with its exit status. */
  exec(snippet: string): Promise<number> {
    if (this.ended) return Promise.reject(this.ended);
    if (this.waiting) return Promise.reject(new Error('the shell is busy'));
    return new Promise<number>((resolve, reject) => {
      this.waiting = { resolve, reject };
      this.child?.stdin.write(`${snippet}\nprintf '\\n%s %s\\n' '${this.token}' "$?"\n`);
    });
  }

  /** The values of the named variables, for those that are set. */
  async read(names: string[]): Promise<Record<string, string>> {
    const file = join(this.dir, 'exported');
    const list = names.filter((name) => VARIABLE_NAME.test(name)).join(' ');
    await this.exec(
      `for __sw_name in ${list}; do if [ -n "\${!__sw_name+x}" ]; then printf '%s\\0%s\\0' "$__sw_name" "\${!__sw_name}"; fi; done >${quote(file)}`,
    );
    const fields = readFileSync(file, 'utf8').split('\0');
    const values: Record<string, string> = {};
    for (let i = 0; i + 1 < fields.length; i += 2) values[fields[i] as string] = fields[i + 1] as string;
    return values;
  }

  /** Ends the session; then ends whatever its commands left running in the background. */
  async close(): Promise<void> {
    this.child?.stdin.end('exit 0\n');
    await this.exited;
    await this.dispose();
  }

  /** Kills the session's whole process group (its commands and whatever they started). */
  kill(): void {
    const pid = this.child?.pid;
    if (pid === undefined) return;
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }

  /** Kills what is left of the group, waits for the pipes to close and removes the session's files. */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    this.kill();
    await this.exited;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.closed, new Promise<void>((resolve) => (timer = setTimeout(resolve, 2000)))]);
    clearTimeout(timer);
    this.child?.stdout.destroy();
    this.child?.stderr.destroy();
    rmSync(this.dir, { recursive: true, force: true });
  }

  private data(chunk: string): void {
    this.buffer += chunk;
    let newline = this.buffer.indexOf('\n');
    while (newline >= 0) {
      const line = this.buffer.slice(0, newline);
      this.buffer = this.buffer.slice(newline + 1);
      this.line(line);
      newline = this.buffer.indexOf('\n');
    }
  }

  /**
   * The sentinel is printed after a newline, so a command's last line without one still ends
   * up on its own line; the empty line this adds after complete output is dropped.
   */
  private line(line: string): void {
    if (line.startsWith(this.token)) {
      this.pendingBlank = false;
      const status = Number(line.slice(this.token.length).trim());
      const waiting = this.waiting;
      this.waiting = undefined;
      waiting?.resolve(Number.isInteger(status) ? status : 1);
      return;
    }
    if (this.pendingBlank) this.onLine('');
    this.pendingBlank = line === '';
    if (line !== '') this.onLine(line);
  }

  private flush(): void {
    if (this.buffer) this.line(this.buffer);
    this.buffer = '';
  }

  private fail(error: Error): void {
    this.ended ??= error;
    const waiting = this.waiting;
    this.waiting = undefined;
    waiting?.reject(error);
  }
}

/** The log: runner lines in CodeBuild's `[Container] <time> …` form, output lines as they are. */
class BuildLog {
  private readonly stream: WriteStream;

  constructor(
    file: string,
    private readonly onLine?: (line: string) => void,
  ) {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    this.stream = createWriteStream(file, { flags: 'a', mode: 0o600 });
    this.stream.on('error', () => undefined);
  }

  container(message: string): void {
    const now = new Date().toISOString();
    this.line(`[Container] ${now.slice(0, 10).replaceAll('-', '/')} ${now.slice(11, 23)} ${message}`);
  }

  line(text: string): void {
    this.stream.write(`${text}\n`);
    try {
      this.onLine?.(text);
    } catch {
      // A failing observer does not fail the build.
    }
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.stream.end(resolve));
  }
}

function commandList(value: unknown, where: string): string[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw new BuildspecError(`${where} must be a list of commands`);
  return value.map((command) => {
    if (typeof command !== 'string' && typeof command !== 'number' && typeof command !== 'boolean') {
      throw new BuildspecError(`${where} must be a list of commands`);
    }
    return String(command).replace(/\n+$/, '');
  });
}

/** Whether an executable `name` is in one of PATH's folders. */
export function onPath(name: string, path: string): boolean {
  return path.split(delimiter).some((dir) => {
    if (!dir) return false;
    try {
      accessSync(join(dir, name), constants.X_OK);
      return statSync(join(dir, name)).isFile();
    } catch {
      return false;
    }
  });
}

function quote(text: string): string {
  return `'${text.replaceAll("'", "'\\''")}'`;
}

function isMap(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
