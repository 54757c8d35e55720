import type { ReviewJob, Workflow } from '../../domain/ports';
import type { ReleaseStepDeps, ReleaseSummary } from '../../domain/releases';
import { onRolloutEvent, type RolloutEventOutcome, wakeBuildWait } from '../../domain/waits';
import {
  type LocalExecution,
  type LocalExecutionResult,
  releaseMachine,
  startLocalExecution,
} from '../../workflow/local-executor';
import { LocalTaskTokens } from '../../workflow/local-task-tokens';

/**
 * Wakes waiters on a key, or lets them go after a while: local mode's stand-in for Wait states.
 * A key fired shortly before somebody starts waiting on it lets them go at once: the waiter read
 * its state just before, so the change it waits for may already have happened (a lost wake-up
 * would cost it the whole wait). At worst that is one extra check.
 */
export class Signals {
  private readonly waiters = new Map<string, Set<() => void>>();
  private readonly firedAt = new Map<string, number>();

  constructor(private readonly recentMs = 1000) {}

  /** Resolves when `key` fires, or after `maxMs`; at once if it fired within the last `recentMs`. */
  wait(key: string, maxMs: number): Promise<void> {
    const fired = this.firedAt.get(key);
    if (fired !== undefined && Date.now() - fired <= this.recentMs) return Promise.resolve();
    return new Promise((resolve) => {
      const set = this.waiters.get(key) ?? new Set<() => void>();
      this.waiters.set(key, set);
      const done = () => {
        clearTimeout(timer);
        set.delete(done);
        if (set.size === 0 && this.waiters.get(key) === set) this.waiters.delete(key);
        resolve();
      };
      const timer = setTimeout(done, maxMs);
      timer.unref();
      set.add(done);
    });
  }

  fire(key: string): void {
    const now = Date.now();
    this.firedAt.set(key, now);
    if (this.firedAt.size > 1000) {
      for (const [old, at] of this.firedAt) if (now - at > this.recentMs) this.firedAt.delete(old);
    }
    for (const wake of [...(this.waiters.get(key) ?? [])]) wake();
  }
}

export interface LocalReleaseWorkflowOptions {
  /** Longest a build waiting for its rollout turn waits before asking again. @default 2000 */
  turnCheckMs?: number;
  /**
   * How long the parked states (StartBuild, Rollout) wait for their end event before the one
   * recheck, by state name, in ms. @default the definition's TimeoutSeconds
   */
  taskTimeoutsMs?: Record<string, number>;
  /** Pause of a Retry. @default 200 */
  retryMs?: number;
  /** Told when an execution ends other than `SUCCEEDED` (a failed or rolled-back release). */
  onEnded?: (input: { app: string; build: string }, result: LocalExecutionResult) => void;
}

/**
 * Local mode's release workflow: `workflow/release.asl.json` — the definition Step Functions
 * runs on AWS — executed in-process by the local executor. StartExecution returns at once, as on
 * AWS. The build and rollout waits park on task tokens (LocalTaskTokens) that the local
 * builder's and deployer's events complete (`buildEnded`, `rolloutEvent`), as CodeBuild's and
 * ECS's events do on AWS. The rollout-lock Wait is shortened: a build waiting for its turn wakes
 * when the app's lock is given back or one of its builds ends. The poll bound of the lock wait
 * stays the definition's.
 */
export class LocalReleaseWorkflow implements Workflow {
  private readonly running = new Map<string, { execution: LocalExecution; done: Promise<void> }>();
  private readonly signals = new Signals();
  readonly deps: ReleaseStepDeps;
  /** The waits of every execution of this workflow. */
  readonly tasks = new LocalTaskTokens();

  constructor(
    deps: ReleaseStepDeps,
    private readonly options: LocalReleaseWorkflowOptions = {},
  ) {
    releaseMachine(); // built now, not on the first push's event loop turn
    const turnCheckMs = options.turnCheckMs ?? 2000;
    this.deps = {
      ...deps,
      tasks: this.tasks,
      // Fan-out starts executions of this same workflow.
      releaseWorkflow: () => this,
      awaitTurn: (app) => this.signals.wait(`turn:${app}`, turnCheckMs),
      report: async (summary: ReleaseSummary) => {
        this.signals.fire(`turn:${summary.app}`);
        await deps.report?.(summary);
      },
    };
  }

  /**
   * The local builder says a build ended (after its event was applied): the execution waiting
   * on it goes on, and the app's builds waiting for their rollout turn look again.
   */
  async buildEnded(app: string, build: string): Promise<void> {
    this.signals.fire(`turn:${app}`);
    await wakeBuildWait({ store: this.deps.store, tasks: this.tasks }, app, build);
  }

  /** The local deployer says a rollout changed (`watch` names it): the release waiting on it may go on. */
  rolloutEvent(watch: string): Promise<RolloutEventOutcome> {
    return onRolloutEvent({ store: this.deps.store, deployer: this.deps.deployer, tasks: this.tasks }, watch);
  }

  async startRelease(input: { app: string; build: string; release?: string }): Promise<string> {
    const key = input.release ? `${input.app}/release/${input.release}` : `${input.app}/build/${input.build}`;
    return this.start(key, input);
  }

  /** A review-app job: the definition's one-step branch (`$.review`), as Step Functions runs it. */
  async startReviewJob(job: ReviewJob): Promise<string> {
    return this.start(`${job.app}/review/${job.id}`, { app: job.app, build: job.id, review: job });
  }

  private start(key: string, input: { app: string; build: string; release?: string; review?: ReviewJob }): string {
    const current = this.running.get(key);
    if (current) return current.execution.executionId; // one execution per build, as named executions on AWS
    const execution = startLocalExecution(this.deps, input, {
      waits: { WaitForTurn: 0 },
      retryMs: this.options.retryMs ?? 200,
      tasks: this.tasks,
      ...(this.options.taskTimeoutsMs ? { taskTimeoutsMs: this.options.taskTimeoutsMs } : {}),
      onStep: (step) => {
        if (step.action === 'releaseLock') this.signals.fire(`turn:${step.app}`);
      },
    });
    const done = execution.done.then((result) => {
      this.running.delete(key);
      if (result.status !== 'SUCCEEDED') this.options.onEnded?.(input, result);
    });
    this.running.set(key, { execution, done });
    return execution.executionId;
  }

  /** How many executions are in flight. */
  get inFlight(): number {
    return this.running.size;
  }

  /** Resolves when every execution started so far has ended. */
  async whenIdle(): Promise<void> {
    while (this.running.size > 0) await Promise.all([...this.running.values()].map((r) => r.done));
  }

  /** Stops every execution where it is (local mode shutting down). */
  abortAll(): void {
    for (const { execution } of this.running.values()) execution.abort();
  }
}
