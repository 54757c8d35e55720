import type { Workflow } from '../../domain/ports';
import type { ReleaseStepDeps, ReleaseSummary } from '../../domain/releases';
import {
  type LocalExecution,
  type LocalExecutionResult,
  releaseMachine,
  startLocalExecution,
} from '../../workflow/local-executor';

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
  /** Longest a build check waits for the build to end before the next check. @default 5000 */
  buildCheckMs?: number;
  /** Longest a build waiting for its rollout turn waits before asking again. @default 2000 */
  turnCheckMs?: number;
  /** Pause between rollout checks. @default 250 */
  rolloutWaitMs?: number;
  /** Pause of a Retry. @default 200 */
  retryMs?: number;
  /** Told when an execution ends other than `SUCCEEDED` (a failed or rolled-back release). */
  onEnded?: (input: { app: string; build: string }, result: LocalExecutionResult) => void;
}

/**
 * Local mode's release workflow: `workflow/release.asl.json` — the definition Step Functions
 * runs on AWS — executed in-process by the local executor. StartExecution returns at once, as on
 * AWS. Wait states are shortened: a build check waits on the build's own end (reported by the
 * local builder) instead of a fixed 10 s, a build waiting for its turn wakes when the app's lock
 * is given back or one of its builds ends, so a release goes live as soon as it can. The step
 * bounds (polls) stay those of the definition, so they still end every wait.
 */
export class LocalReleaseWorkflow implements Workflow {
  private readonly running = new Map<string, { execution: LocalExecution; done: Promise<void> }>();
  private readonly signals = new Signals();
  readonly deps: ReleaseStepDeps;

  constructor(
    deps: ReleaseStepDeps,
    private readonly options: LocalReleaseWorkflowOptions = {},
  ) {
    releaseMachine(); // built now, not on the first push's event loop turn
    const buildCheckMs = options.buildCheckMs ?? 5000;
    const turnCheckMs = options.turnCheckMs ?? 2000;
    this.deps = {
      ...deps,
      awaitBuildEnd: (app, build) => this.signals.wait(`build:${app}/${build}`, buildCheckMs),
      awaitTurn: (app) => this.signals.wait(`turn:${app}`, turnCheckMs),
      report: async (summary: ReleaseSummary) => {
        this.signals.fire(`turn:${summary.app}`);
        await deps.report?.(summary);
      },
    };
  }

  /** The local builder says a build ended: its checks and the app's waiting builds wake. */
  buildEnded(app: string, build: string): void {
    this.signals.fire(`build:${app}/${build}`);
    this.signals.fire(`turn:${app}`);
  }

  async startRelease(input: { app: string; build: string; release?: string }): Promise<string> {
    const key = input.release ? `${input.app}/release/${input.release}` : `${input.app}/build/${input.build}`;
    const current = this.running.get(key);
    if (current) return current.execution.executionId; // one execution per build, as named executions on AWS
    const execution = startLocalExecution(this.deps, input, {
      waits: { WaitForBuild: 0, WaitForTurn: 0, WaitForRollout: this.options.rolloutWaitMs ?? 250 },
      retryMs: this.options.retryMs ?? 200,
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
