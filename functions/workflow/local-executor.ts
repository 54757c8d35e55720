import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { StateMachine } from 'aws-local-stepfunctions';
import { findProjectRoot } from '../commons/project-root';
import { type ReleaseStepDeps, type ReleaseStepInput, runReleaseStep } from '../domain/releases';
import { LocalTaskTokens } from './local-task-tokens';

/**
 * Local mode's Step Functions: runs `workflow/release.asl.json` (the very definition CDK
 * deploys) with aws-local-stepfunctions. Every Task (`arn:aws:states:::lambda:invoke`) is
 * handled in-process by runReleaseStep, and its result wrapped as Lambda's invoke result
 * (`{ Payload }`) so the definition's ResultSelectors (`$.Payload.…`) apply unchanged. Errors
 * keep their `.name` (TransientError, …) so the definition's Retry and Catch match them.
 *
 * A Task whose resource ends in `.waitForTaskToken` parks, as on AWS: the executor issues a
 * token (the definition's `$$.Task.Token`), runs the step with it, and the state's result is
 * what completes the token (LocalTaskTokens.succeed), not the step's return value. The state's
 * TimeoutSeconds (or a shorter local override) ends the wait with `States.Timeout`.
 */

export const RELEASE_DEFINITION_PATH = join('workflow', 'release.asl.json');

interface AslState {
  Type: string;
  Resource?: string;
  TimeoutSeconds?: number;
  Retry?: unknown[];
}
interface AslDefinition {
  StartAt: string;
  States: Record<string, AslState>;
}

let cached: AslDefinition | undefined;

let machineCache: StateMachine | undefined;

/**
 * The state machine, built (and validated) once: building one takes ~100 ms of CPU, which on
 * the local server's event loop would stall every webhook. One machine runs many executions.
 */
export function releaseMachine(): StateMachine {
  machineCache ??= new StateMachine(loadReleaseDefinition() as never);
  return machineCache;
}

interface StateKinds {
  tasks: string[];
  waits: string[];
  retried: string[];
  /** Tasks that park on a task token, with their TimeoutSeconds in ms. */
  parked: Map<string, number>;
}

let kindsCache: StateKinds | undefined;

/** Marks a Task state that waits for its task token to be completed. */
export const WAIT_FOR_TASK_TOKEN = '.waitForTaskToken';

/** The definition's Task, Wait and retrying states by name, read once (they set each run's overrides). */
function stateKinds(): StateKinds {
  if (!kindsCache) {
    const states = Object.entries(loadReleaseDefinition().States);
    kindsCache = {
      tasks: states.filter(([, state]) => state.Type === 'Task').map(([name]) => name),
      waits: states.filter(([, state]) => state.Type === 'Wait').map(([name]) => name),
      retried: states.filter(([, state]) => state.Retry).map(([name]) => name),
      parked: new Map(
        states
          .filter(([, state]) => state.Type === 'Task' && state.Resource?.endsWith(WAIT_FOR_TASK_TOKEN))
          .map(([name, state]) => [name, (state.TimeoutSeconds ?? 99_999_999) * 1000]),
      ),
    };
  }
  return kindsCache;
}

/** The release state machine definition, as stored in the repository. */
export function loadReleaseDefinition(root: string = findProjectRoot()): AslDefinition {
  if (!cached) {
    cached = JSON.parse(readFileSync(join(root, RELEASE_DEFINITION_PATH), 'utf8')) as AslDefinition;
  }
  // A JSON copy, not structuredClone: the library checks prototypes, and under Jest structuredClone
  // builds objects of another realm.
  return JSON.parse(JSON.stringify(cached)) as AslDefinition;
}

export interface LocalExecutionOptions {
  /** How long every Wait state pauses locally, in ms (the definition's 10–60 s are for AWS). */
  waitMs?: number;
  /** Per Wait state (by name), overriding `waitMs`. */
  waits?: Record<string, number>;
  /** Told after each step ran (successfully), e.g. to wake executions waiting for their turn. */
  onStep?: (input: ReleaseStepInput, result: Record<string, unknown>) => void;
  /** How long a Retry pauses locally, in ms. */
  retryMs?: number;
  /**
   * Runs each step: given the step's input and `run` (the step itself), returns what `run`
   * returns. The default just calls `run`. For measuring: timing each step, or running it in an
   * AsyncLocalStorage context so that what it calls (DynamoDB …) can tell which step called.
   */
  aroundStep?: (input: ReleaseStepInput, run: () => Promise<StepResult>) => Promise<StepResult>;
  /**
   * Told every event of the execution's event log (aws-local-stepfunctions' `eventLogs`), in
   * order: ExecutionStarted, StateEntered / StateExited / StateRetried / StateCaught / StateFailed
   * per state, and one ExecutionSucceeded, ExecutionFailed or ExecutionAborted at the end; e.g. to
   * count state transitions (bench/release.ts). With it, `done` settles only once every event
   * has been told. An error it throws is ignored: it never changes the execution.
   */
  onEvent?: (event: ExecutionEvent) => void;
  /**
   * The task tokens parked steps wait on; the steps (`deps.tasks`) and the events that end
   * builds and rollouts must complete the same ones. @default `deps.tasks` when it is a
   * LocalTaskTokens
   */
  tasks?: LocalTaskTokens;
  /** How long each parked state waits locally, in ms, by state name (default: its TimeoutSeconds). */
  taskTimeoutsMs?: Record<string, number>;
}

type StepResult = Record<string, unknown>;

/** One entry of an execution's event log (aws-local-stepfunctions' `EventLog`, which it does not export). */
export type ExecutionEvent = ReturnType<StateMachine['run']>['eventLogs'] extends AsyncGenerator<infer E> ? E : never;

export type LocalExecutionResult =
  | { status: 'SUCCEEDED'; output: unknown }
  | { status: 'FAILED'; error: string; cause: string };

export interface LocalExecution {
  executionId: string;
  done: Promise<LocalExecutionResult>;
  abort(): void;
}

/** Starts one release execution in-process. `done` settles when it ends (never rejects). */
export function startLocalExecution(
  deps: ReleaseStepDeps,
  input: { app: string; build: string; release?: string; review?: ReleaseStepInput['review'] },
  options: LocalExecutionOptions = {},
): LocalExecution {
  const machine = releaseMachine();
  const kinds = stateKinds();
  const tasks = options.tasks ?? (deps.tasks instanceof LocalTaskTokens ? deps.tasks : undefined);
  const runStep = async (payload: ReleaseStepInput) => {
    const result = await (options.aroundStep
      ? options.aroundStep(payload, () => runReleaseStep(deps, payload))
      : runReleaseStep(deps, payload));
    options.onStep?.(payload, result);
    return result;
  };
  const payloadOf = (taskInput: unknown): ReleaseStepInput => {
    const payload = (taskInput as { Payload?: ReleaseStepInput }).Payload;
    if (!payload) throw Object.assign(new Error('the task has no Payload'), { name: 'ValidationError' });
    return payload;
  };
  const handler = async (taskInput: unknown) => {
    const result = await runStep(payloadOf(taskInput));
    // lambda:invoke's result shape; JSON round trip as over the wire.
    return { Payload: JSON.parse(JSON.stringify(result)), StatusCode: 200 };
  };
  /** A parked state: a fresh token, the wait registered before the step runs, the token's output as the result. */
  const parkedHandler = (state: string, timeoutMs: number) => async (taskInput: unknown) => {
    if (!tasks)
      throw Object.assign(new Error(`${state} waits on a task token: give the executor its LocalTaskTokens`), {
        name: 'ValidationError',
      });
    const payload = payloadOf(taskInput);
    const token = tasks.issue();
    const wait = tasks.wait(token, options.taskTimeoutsMs?.[state] ?? timeoutMs);
    try {
      await runStep({ ...payload, taskToken: token });
    } catch (error) {
      wait.cancel();
      throw error;
    }
    return wait.done;
  };
  const taskResourceLocalHandlers: Record<string, (input: unknown) => Promise<unknown>> = {};
  const waitTimeOverrides: Record<string, number> = {};
  const retryIntervalOverrides: Record<string, number> = {};
  for (const name of kinds.tasks) {
    const parked = kinds.parked.get(name);
    taskResourceLocalHandlers[name] = parked === undefined ? handler : parkedHandler(name, parked);
  }
  for (const name of kinds.waits) waitTimeOverrides[name] = options.waits?.[name] ?? options.waitMs ?? 10;
  for (const name of kinds.retried) retryIntervalOverrides[name] = options.retryMs ?? 5;
  const executionId = `local:${input.app}:${input.build}:${randomBytes(4).toString('hex')}`;
  const execution = machine.run(input as never, {
    overrides: {
      taskResourceLocalHandlers: taskResourceLocalHandlers as never,
      waitTimeOverrides,
      retryIntervalOverrides,
    },
    noThrowOnAbort: true,
    // `$$.Task.Token` must resolve; each parked step is given a fresh token of its own instead.
    // `$$.StateMachine.Id` names the machine fan-out starts executions of: locally, this one.
    context: { Task: { Token: 'issued-per-task' }, StateMachine: { Id: 'local:release', Name: 'release' } },
  });
  const outcome = execution.result.then(
    (output): LocalExecutionResult => ({ status: 'SUCCEEDED', output }),
    (error: unknown): LocalExecutionResult => {
      const cause = error instanceof Error && error.cause instanceof Error ? error.cause : error;
      return {
        status: 'FAILED',
        error: cause instanceof Error ? cause.name : 'Error',
        cause: cause instanceof Error ? cause.message : String(cause),
      };
    },
  );
  const onEvent = options.onEvent;
  // The library queues the log until it is read, and ends it with the execution's last event.
  const done = onEvent ? Promise.all([outcome, tell(execution.eventLogs, onEvent)]).then(([r]) => r) : outcome;
  return { executionId, done, abort: () => execution.abort() };
}

/** Reads an execution's event log to its end, telling `onEvent` each event. Never rejects. */
async function tell(events: AsyncGenerator<ExecutionEvent>, onEvent: (event: ExecutionEvent) => void): Promise<void> {
  try {
    for await (const event of events) {
      try {
        onEvent(event);
      } catch {
        // An observer's error is its own: the execution goes on regardless.
      }
    }
  } catch {
    // The library's log does not throw; were it to, `done` still settles.
  }
}
