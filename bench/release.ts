/**
 * Release orchestration benchmark (issue 5 acceptance): what the release workflow itself costs
 * once building and rolling out take no time. Local mode runs with an instant builder and an
 * instant deployer (`adapters`), and a release is timed from sending GitLab's push to the
 * webhook until the build's outcome is recorded `live`, one app at a time and ten apps at once.
 * Each execution's state transitions (what Step Functions bills), Lambda invocations (one per
 * Task) and DynamoDB request units are counted, and priced at AWS list prices for builds and
 * rollouts of realistic length. The workflow waits on task tokens (docs/RELEASE.md, "Waits: told,
 * not polled"), so a longer build or rollout adds no transitions, only the events that end it:
 * the instant builder's end and the instant deployer's rollout event take the same paths as
 * CodeBuild's and ECS's events on AWS (wakeBuildWait, onRolloutEvent) and are counted like them.
 * Also measured: the gap between a build's end and its rollout's start (the build wait's wake-up).
 * The floors, measured in the same run on the same DynamoDB Local: one conditional PutItem round
 * trip, and the webhook's own answer (202).
 *
 *   npm run bench:release               full run (about 3 minutes)
 *   npm run bench:release -- --quick    short run, for a smoke test
 *
 * Everything stays on loopback: DynamoDB Local (Java), local mode's HTTP server, its release
 * workflow and the sender all run on this machine and share its cores. GitLab is not reached:
 * the apps have no GitLab project id, so reports go to the console notifier only (a null
 * stream here). Results: docs/PERFORMANCE.md.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { createHash, randomUUID } from 'node:crypto';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Writable } from 'node:stream';
import type { App, Build, ReleaseOutcome } from '../functions/domain/model';
import type { Builder, BuildJob, Deployer, DeployTarget, RolloutStatus } from '../functions/domain/ports';
import type { ReleaseStepDeps, ReleaseSummary } from '../functions/domain/releases';
import type { LocalMode } from '../functions/local/local-mode';
import type { ExecutionEvent } from '../functions/workflow/local-executor';
import {
  type BenchDynamoDb,
  fmt,
  gitlabEvent,
  header,
  javaVersion,
  keepAliveClient,
  log,
  pushHeaders,
  QUICK,
  ratio,
  runBench,
  type Stats,
  stats,
  statsCells,
  table,
  timeOps,
  withDynamoDbLocal,
} from './support';

// Before anything creates a Powertools logger: the handlers log each delivery at INFO.
process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';

const { StateMachine } = await import('aws-local-stepfunctions');
const { hookUrl, newApp } = await import('../functions/domain/apps');
const { applyBuildEvent } = await import('../functions/domain/build-events');
const { newId, randomToken, sha256Hex } = await import('../functions/domain/ids');
const { startLocalMode, LOCAL_TABLE } = await import('../functions/local/local-mode');
const { StateDir } = await import('../functions/local/state-dir');
const { loadReleaseDefinition, startLocalExecution } = await import('../functions/workflow/local-executor');

/** Releases of one app, one after the other (each waits for the previous one to be live). */
const SEQUENTIAL = QUICK ? 30 : 200;
/** Unmeasured releases first, on an app of their own (JIT of DynamoDB Local and of Node). */
const WARMUP = QUICK ? 10 : 50;
const PARALLEL_APPS = 10;
/** Releases per app when PARALLEL_APPS apps release at once (each app one after the other). */
const PARALLEL_PER_APP = QUICK ? 3 : 20;
/** Releases through the webhook with DynamoDB calls counted (a fresh app). */
const ACCOUNTED = QUICK ? 5 : 20;
/** Executions run here with the definition's event log read (a fresh app), and on the long-lived app. */
const EXECUTIONS = QUICK ? 5 : 20;
const EXECUTIONS_OLD_APP = QUICK ? 3 : 5;
const FLOOR_N = QUICK ? 60 : 300;
const FLOOR_WARMUP = QUICK ? 300 : 1000;
/** A release not live by then fails the run. */
const RELEASE_TIMEOUT_MS = 30_000;
/** The whole run must end by then, whatever happens. */
const TIME_LIMIT_MS = (QUICK ? 3 : 10) * 60_000;

const PUSH = JSON.parse(gitlabEvent('push.json').toString('utf8')) as Record<string, unknown>;

// ---- AWS prices (assumptions, us-east-1 list prices, stated with the run date) ---------------

const PRICES = {
  asOf: '2026-11-24',
  /** Step Functions Standard, per state transition ($0.025 per 1,000). */
  transition: 0.025 / 1000,
  /** Lambda, per request ($0.20 per 1M) and per GB-second on arm64. */
  lambdaRequest: 0.2 / 1e6,
  lambdaGbSecond: 0.0000133334,
  /** DynamoDB on-demand, per write and read request unit ($1.25 / $0.25 per 1M). */
  wru: 1.25 / 1e6,
  rru: 0.25 / 1e6,
  /** API Gateway HTTP API, per request ($1.00 per 1M): the webhook. */
  httpApiRequest: 1.0 / 1e6,
} as const;
/** infra/constructs/slipway-function.ts: every Slipway function is arm64 with 512 MB (release-steps does not override it). */
const LAMBDA_MEMORY_GB = 512 / 1024;
/** Assumed mean billed duration per invocation on AWS (warm; AWS API and GitLab calls included). */
const ASSUMED_MS = { releaseStep: 200, webhook: 100, buildEvent: 50, rolloutEvent: 100 } as const;
/**
 * CodeBuild events a build sends to the build-events function on AWS: state changes
 * IN_PROGRESS and SUCCEEDED, and a phase change for each completed phase (SUBMITTED …
 * FINALIZING). Local mode's builder reports 2 (started, finished); the other 10 are phase
 * changes, each a consistent GetItem of the build and an UpdateItem of its phase.
 */
const AWS_BUILD_EVENTS = 12;
/**
 * ECS events a rollout sends to the rollout-events function on AWS: deployment state changes
 * IN_PROGRESS and COMPLETED, and a task state change (RUNNING) per task of the service (assumed
 * 2). Each looks the rollout up (GetItem of the watch, the release, the app), asks ECS
 * (DescribeServices), records the task counts (UpdateItem); the last completes the wait. Here
 * the instant deployer sends one (the end), whose DynamoDB units are measured.
 */
const ASSUMED_TASKS = 2;
const AWS_ROLLOUT_EVENTS = 2 + ASSUMED_TASKS;
/**
 * A parked state not completed within this ends in the one recheck (CheckBuild, CheckRollout):
 * shortened here from the definition's 65 min and 2 h, so a lost wake-up shows as a slow
 * release (and a problem of the run) instead of a hang.
 */
const TASK_TIMEOUTS_MS = { StartBuild: 10_000, Rollout: 10_000 };
/**
 * The figures before the waits were told (docs/PERFORMANCE.md, run of 2026-11-24): the
 * workflow polled the build every 10 s (WaitForBuild ⇄ CheckBuild) and the rollout every
 * 15–60 s (WaitForRollout ⇄ CheckRollout), 3 transitions a check.
 */
const BEFORE_POLLING = {
  measured: { transitions: 18, per1000: 0.5 },
  short: { transitions: 75, per1000: 1.98 },
  long: { transitions: 204, per1000: 5.29 },
} as const;

/** GitLab's example push with its own commit (`after`), as one more commit on master. */
function pushBody(sha: string, title: string): string {
  const commits = (PUSH.commits as Array<Record<string, unknown>>) ?? [];
  return JSON.stringify({
    ...PUSH,
    after: sha,
    checkout_sha: sha,
    commits: commits.map((c, i) => (i === commits.length - 1 ? { ...c, id: sha, message: `${title}\n`, title } : c)),
  });
}

// ---- counting DynamoDB requests -------------------------------------------------------------

/**
 * Who made a DynamoDB call (`name`: `webhook` when untagged, `workflow`, `build-events`,
 * `rollout-events`, or `step:<action>`), and for which app when known (to mark the timeline
 * when a wait is completed).
 */
const source = new AsyncLocalStorage<{ name: string; app?: string }>();

interface Tally {
  calls: number;
  reads: number;
  writes: number;
  /** Writes refused by their condition (billed as at least 1 WRU each on AWS). */
  failedWrites: number;
  rru: number;
  wru: number;
  ops: Map<string, number>;
}

const READ_OPS: ReadonlySet<string> = new Set(['Get', 'Query', 'Scan', 'BatchGet', 'TransactGet']);

class DynamoCounter {
  enabled = false;
  readonly tallies = new Map<string, Tally>();
  /** Outputs that came back without ConsumedCapacity (DynamoDB Local not reporting it). */
  missingCapacity = 0;

  /** Wraps the store's DocumentClient `send` (the store's only way to DynamoDB). */
  install(local: LocalMode): void {
    type Send = (command: { input: Record<string, unknown> }, ...rest: unknown[]) => Promise<Record<string, unknown>>;
    const client = (local.store as unknown as { client: { send: Send } }).client;
    const send = client.send.bind(client) as Send;
    client.send = async (command, ...rest) => {
      if (!this.enabled) return send(command, ...rest);
      const op = command.constructor.name.replace(/Command$/, '');
      const tally = this.tally(source.getStore()?.name ?? 'webhook');
      command.input.ReturnConsumedCapacity ??= 'TOTAL';
      tally.calls++;
      tally.ops.set(op, (tally.ops.get(op) ?? 0) + 1);
      if (READ_OPS.has(op)) tally.reads++;
      else tally.writes++;
      try {
        const output = await send(command, ...rest);
        this.add(tally, op, output.ConsumedCapacity);
        return output;
      } catch (error) {
        if (!READ_OPS.has(op)) {
          tally.failedWrites++;
          const items = op === 'TransactWrite' ? ((command.input.TransactItems as unknown[]) ?? []).length : 1;
          tally.wru += op === 'TransactWrite' ? 2 * items : 1;
        }
        throw error;
      }
    };
  }

  private tally(name: string): Tally {
    let tally = this.tallies.get(name);
    if (!tally) {
      tally = { calls: 0, reads: 0, writes: 0, failedWrites: 0, rru: 0, wru: 0, ops: new Map() };
      this.tallies.set(name, tally);
    }
    return tally;
  }

  private add(tally: Tally, op: string, consumed: unknown): void {
    const list = Array.isArray(consumed) ? consumed : consumed ? [consumed] : [];
    if (list.length === 0) {
      this.missingCapacity++;
      return;
    }
    const units = list.reduce(
      (sum: number, c) => sum + Number((c as { CapacityUnits?: number }).CapacityUnits ?? 0),
      0,
    );
    if (READ_OPS.has(op)) {
      // DynamoDB Local reports a transaction like plain requests; AWS bills 2 units per item.
      tally.rru += op === 'TransactGet' ? 2 * units : units;
    } else {
      tally.wru += op === 'TransactWrite' ? 2 * units : units;
    }
  }

  reset(): void {
    this.tallies.clear();
    this.missingCapacity = 0;
  }

  sum(filter: (name: string) => boolean): Tally {
    const total: Tally = { calls: 0, reads: 0, writes: 0, failedWrites: 0, rru: 0, wru: 0, ops: new Map() };
    for (const [name, t] of this.tallies) {
      if (!filter(name)) continue;
      total.calls += t.calls;
      total.reads += t.reads;
      total.writes += t.writes;
      total.failedWrites += t.failedWrites;
      total.rru += t.rru;
      total.wru += t.wru;
      for (const [op, n] of t.ops) total.ops.set(op, (total.ops.get(op) ?? 0) + n);
    }
    return total;
  }
}

function opsText(ops: Map<string, number>, per: number): string {
  return [...ops.entries()]
    .sort((a, b) => b[1] - a[1])
    .map(([op, n]) => `${op} ${fmt(n / per, 1)}`)
    .join(', ');
}

// ---- the instant builder and deployer -------------------------------------------------------

/**
 * Builds in no time: reports `started`, then `finished` (succeeded, one image digest) through
 * the store as the build-events function would, then wakes the build's wait
 * (`local.workflow.buildEnded`: wakeBuildWait reads the build and completes its task token), as
 * local mode's builder does and the build-events function does on AWS.
 */
class InstantBuilder implements Builder {
  local: LocalMode | undefined;
  readonly errors: string[] = [];
  private readonly running = new Set<Promise<void>>();

  async start(job: BuildJob): Promise<{ ref: string; logLocation: string }> {
    timeline.mark(job.app, 'StartBuild: build handed to the builder');
    setImmediate(() => {
      const run = source
        .run({ name: 'build-events', app: job.app }, () => this.run(job))
        .finally(() => this.running.delete(run));
      this.running.add(run);
    });
    return { ref: `instant:${job.buildId}`, logLocation: `instant/${job.app}/${job.buildId}.log` };
  }

  private async run(job: BuildJob): Promise<void> {
    const local = this.local;
    if (!local) throw new Error('the instant builder was not given local mode');
    const base = { app: job.app, buildId: job.buildId };
    try {
      await applyBuildEvent(local.store, { ...base, kind: 'started', at: new Date().toISOString() });
      const digest = `sha256:${createHash('sha256').update(job.commit).digest('hex')}`;
      await applyBuildEvent(local.store, {
        ...base,
        kind: 'finished',
        status: 'succeeded',
        images: { app: digest },
        at: new Date().toISOString(),
      });
    } catch (error) {
      if (this.errors.length < 5) this.errors.push(`build ${job.buildId}: ${String(error)}`);
    }
    timeline.mark(job.app, BUILD_ENDED);
    try {
      await local.workflow.buildEnded(job.app, job.buildId);
    } catch (error) {
      if (this.errors.length < 5) this.errors.push(`build ${job.buildId}: end not told: ${String(error)}`);
    }
  }

  async whenIdle(): Promise<void> {
    while (this.running.size > 0) await Promise.all([...this.running]);
  }
}

/**
 * Rolls out in no time, but only once the Rollout step has parked: its first look (the step's
 * own, right after storing the task token and the watch) finds the rollout in progress; on the
 * next turn of the event loop the rollout is done and its end is told as an ECS event would be
 * (`local.workflow.rolloutEvent(watch)`: onRolloutEvent looks the watch, release and app up,
 * asks the deployer, records the task counts and completes the wait). Counts rollouts in flight
 * at once (between Prepare and the rollout's end).
 */
class InstantDeployer implements Deployer {
  local: LocalMode | undefined;
  readonly errors: string[] = [];
  /** What the rollout events answered (`woken`, `already_completed`, `ignored: …`), by outcome. */
  readonly outcomes = new Map<string, number>();
  private readonly inFlight = new Set<string>();
  /** Per deployment: its watch id, and whether it is done. */
  private readonly deployments = new Map<string, { watch: string; done: boolean; told: boolean }>();
  private readonly running = new Set<Promise<void>>();
  maxInFlight = 0;

  async prepare(target: DeployTarget, images: Record<string, string>): Promise<{ revision: string }> {
    timeline.mark(target.app, PREPARE);
    this.inFlight.add(target.app);
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight.size);
    return { revision: `instant:${target.app}:${Object.values(images).join(',')}` };
  }

  async rollout(target: DeployTarget, revision: string): Promise<{ deployment: string; watch: string }> {
    const deployment = `${target.app}/${revision.length}/${randomUUID()}`;
    const watch = `ecs-svc/${randomUUID()}`;
    this.deployments.set(deployment, { watch, done: false, told: false });
    return { deployment, watch };
  }

  async status(target: DeployTarget, deployment: string): Promise<RolloutStatus> {
    const entry = this.deployments.get(deployment);
    if (!entry) throw new Error(`no deployment ${deployment}`);
    if (entry.done) return { state: 'completed', running: 1, desired: 1 };
    if (!entry.told) {
      entry.told = true;
      timeline.mark(target.app, 'Rollout: step parked, its own look found it in progress');
      setImmediate(() => {
        const run = source
          .run({ name: 'rollout-events', app: target.app }, () => this.end(target.app, deployment, entry))
          .finally(() => this.running.delete(run));
        this.running.add(run);
      });
    }
    return { state: 'in_progress', running: 0, desired: 1 };
  }

  /** The rollout is done: told as ECS's deployment state change (COMPLETED) is told to rollout-events. */
  private async end(app: string, deployment: string, entry: { watch: string; done: boolean }): Promise<void> {
    entry.done = true;
    this.inFlight.delete(app);
    timeline.mark(app, ROLLOUT_ENDED);
    try {
      const local = this.local;
      if (!local) throw new Error('the instant deployer was not given local mode');
      const told = await local.workflow.rolloutEvent(entry.watch);
      const key = told.outcome === 'ignored' ? `ignored: ${told.reason}` : told.outcome;
      this.outcomes.set(key, (this.outcomes.get(key) ?? 0) + 1);
    } catch (error) {
      if (this.errors.length < 5) this.errors.push(`rollout ${deployment}: event not told: ${String(error)}`);
    }
  }

  /** Rollout events told so far. */
  get eventsTold(): number {
    return [...this.outcomes.values()].reduce((s, n) => s + n, 0);
  }

  async whenIdle(): Promise<void> {
    while (this.running.size > 0) await Promise.all([...this.running]);
  }

  resetMax(): void {
    this.maxInFlight = this.inFlight.size;
  }
}

// ---- where a release's time goes ------------------------------------------------------------

/** Milestones of the release in flight per app (ms after the push was sent), seen by the adapters. */
class Timeline {
  private readonly current = new Map<string, { t0: number; marks: Map<string, number> }>();
  readonly done: Array<Map<string, number>> = [];

  begin(app: string, t0: number): void {
    this.current.set(app, { t0, marks: new Map() });
  }

  mark(app: string, milestone: string): void {
    const entry = this.current.get(app);
    if (entry && !entry.marks.has(milestone)) entry.marks.set(milestone, performance.now() - entry.t0);
  }

  /** As `mark`, at `at` (a performance.now() time) instead of now. */
  markAt(app: string, milestone: string, at: number): void {
    const entry = this.current.get(app);
    if (entry && !entry.marks.has(milestone)) entry.marks.set(milestone, at - entry.t0);
  }

  end(app: string): void {
    const entry = this.current.get(app);
    if (entry) this.done.push(entry.marks);
    this.current.delete(app);
  }

  clear(): void {
    this.done.length = 0;
  }
}

const timeline = new Timeline();
const BUILD_ENDED = 'build events applied (finished recorded)';
const PREPARE = 'Prepare: lock held, deployer called';
const ROLLOUT_ENDED = 'rollout done, its event told (rolloutEvent)';
/** From the execution's event log (the state-transitions run only). */
const EXITED = 'StartBuild: state exited (event log)';
const ACQUIRE = 'AcquireRollout: state entered (event log)';
/** Marked when a wait's task token is completed, by whom (`build-events`, `rollout-events`, or the step itself). */
const waitCompleted = (wait: 'StartBuild' | 'Rollout', by: string) => `${wait}: wait completed (by ${by})`;

// ---- outcomes: the workflow's `report` observer ---------------------------------------------

interface Ended {
  outcome: ReleaseOutcome;
  reason?: string;
  /** performance.now() when the outcome had been recorded. */
  at: number;
}

/** Chained onto `local.workflow.deps.report`, called once the outcome is recorded on the build. */
class Outcomes {
  private readonly ended = new Map<string, Ended>();
  private readonly waiters = new Map<string, (ended: Ended) => void>();

  observe(summary: ReleaseSummary): void {
    const ended: Ended = { outcome: summary.outcome, at: performance.now(), reason: summary.reason };
    const waiter = this.waiters.get(summary.build);
    if (waiter) {
      this.waiters.delete(summary.build);
      waiter(ended);
    } else {
      this.ended.set(summary.build, ended);
    }
  }

  async wait(build: string, timeoutMs: number): Promise<Ended> {
    const already = this.ended.get(build);
    if (already) {
      this.ended.delete(build);
      return already;
    }
    return new Promise((done, fail) => {
      const timer = setTimeout(() => {
        this.waiters.delete(build);
        fail(new Error(`build ${build} had no outcome after ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.set(build, (ended) => {
        clearTimeout(timer);
        done(ended);
      });
    });
  }

  forget(build: string): void {
    this.ended.delete(build);
  }
}

// ---- executions with their event log --------------------------------------------------------

interface ExecutionRecord {
  status: string;
  /** States entered, in order (name, type). */
  entered: Array<{ name: string; type: string }>;
  retries: number;
  wallMs: number;
  steps: Array<{ action: string; ms: number }>;
}

/**
 * Runs workflow/release.asl.json once through local mode's executor (startLocalExecution: its
 * one StateMachine, its Task handlers, local mode's task tokens), with Wait states and retries
 * at 0 ms, reading the execution's event log, timing every step and tagging its DynamoDB calls
 * with its action. A parked step's time is the step's own, not the wait after it.
 */
async function runExecution(deps: ReleaseStepDeps, input: { app: string; build: string }): Promise<ExecutionRecord> {
  const entered: ExecutionRecord['entered'] = [];
  const steps: ExecutionRecord['steps'] = [];
  let retries = 0;
  const onEvent = (event: ExecutionEvent) => {
    if (event.type === 'StateEntered') entered.push({ name: event.state.name, type: event.state.type });
    if (event.type === 'StateRetried') retries++;
    // When the build wait's state ended and the next began, from the log's own timestamps (ms).
    const at = event.timestamp - performance.timeOrigin;
    if (event.type === 'StateExited' && event.state.name === 'StartBuild') timeline.markAt(input.app, EXITED, at);
    if (event.type === 'StateEntered' && event.state.name === 'AcquireRollout') timeline.markAt(input.app, ACQUIRE, at);
  };
  const t0 = performance.now();
  // In the workflow's context, as local mode's own executions (its waits are seen per app).
  const execution = source.run({ name: 'workflow', app: input.app }, () =>
    startLocalExecution(deps, input, {
      waitMs: 0,
      retryMs: 0,
      taskTimeoutsMs: TASK_TIMEOUTS_MS,
      onEvent,
      aroundStep: async (step, run) => {
        const started = performance.now();
        const result = await source.run({ name: `step:${step.action}`, app: step.app }, run);
        steps.push({ action: step.action, ms: performance.now() - started });
        return result;
      },
    }),
  );
  const result = await execution.done;
  const wallMs = performance.now() - t0;
  const status = result.status === 'SUCCEEDED' ? result.status : `FAILED: ${result.error}: ${result.cause}`;
  return { status, entered, retries, wallMs, steps };
}

// ---- the run --------------------------------------------------------------------------------

function usd(value: number): string {
  return `$${value < 0.01 ? value.toFixed(6) : value.toFixed(4)}`;
}

/** Per release that passed both milestones: ms from `from` to the first milestone whose name starts with `to`. */
function gaps(timelines: Array<Map<string, number>>, from: string, to: string): number[] {
  const out: number[] = [];
  for (const marks of timelines) {
    const a = marks.get(from);
    const b = [...marks.entries()].find(([name]) => name.startsWith(to))?.[1];
    if (a !== undefined && b !== undefined) out.push(b - a);
  }
  return out;
}

/** How many releases had a milestone whose name starts with `prefix`, by milestone. */
function byMilestone(timelines: Array<Map<string, number>>, prefix: string): string {
  const counts = new Map<string, number>();
  for (const marks of timelines) {
    for (const name of marks.keys()) if (name.startsWith(prefix)) counts.set(name, (counts.get(name) ?? 0) + 1);
  }
  return (
    [...counts.entries()]
      .sort((a, b) => b[1] - a[1])
      .map(([name, n]) => `${n} ${name.slice(prefix.length)}`)
      .join(', ') || 'none'
  );
}

/** A release slower than this is looked at: where was its longest wait? */
const SLOW_MS = 2000;

/** Releases slower than `thresholdMs`, grouped by the milestones around their longest gap. */
function slowReleases(timelines: Array<Map<string, number>>, thresholdMs: number): string[] {
  const gaps = new Map<string, number[]>();
  for (const marks of timelines) {
    const entries = [...marks.entries()].sort((a, b) => a[1] - b[1]);
    if ((entries.at(-1)?.[1] ?? 0) < thresholdMs) continue;
    let longest = { label: '', ms: -1 };
    let previous: [string, number] = ['push sent', 0];
    for (const [name, at] of entries) {
      if (at - previous[1] > longest.ms) longest = { label: `${previous[0]} → ${name}`, ms: at - previous[1] };
      previous = [name, at];
    }
    gaps.set(longest.label, [...(gaps.get(longest.label) ?? []), longest.ms]);
  }
  return [...gaps.entries()].map(
    ([label, ms]) =>
      `${ms.length} × longest gap ${label}: ${ms
        .sort((a, b) => a - b)
        .map((m) => fmt(m, 0))
        .join(', ')} ms`,
  );
}

interface Target {
  app: string;
  hook: string;
  secret: string;
}

async function main(): Promise<number> {
  header('bench:release', [javaVersion()]);
  return withDynamoDbLocal(LOCAL_TABLE, run);
}

/** The run, on DynamoDB Local: `put` is the floor. */
async function run({ endpoint, put, home }: BenchDynamoDb): Promise<number> {
  let local: LocalMode | undefined;
  const http = keepAliveClient();
  const builder = new InstantBuilder();
  const deployer = new InstantDeployer();
  const problems: string[] = [];
  try {
    local = await startLocalMode({
      port: 0,
      stateDir: new StateDir(home),
      dynamoDbEndpoint: endpoint,
      tableName: LOCAL_TABLE,
      log: () => undefined,
      console: new Writable({ write: (_chunk, _encoding, done) => done() }),
      adapters: { builder, deployer },
      workflow: { retryMs: 0, taskTimeoutsMs: TASK_TIMEOUTS_MS },
    });
    builder.local = local;
    deployer.local = local;
    const { store, workflow } = local;

    // The workflow's observer: told once the outcome is recorded on the build (the Report step).
    const outcomes = new Outcomes();
    const observed = workflow.deps.report;
    workflow.deps.report = async (summary) => {
      timeline.mark(summary.app, 'Report: outcome `live` recorded');
      outcomes.observe(summary);
      await observed?.(summary);
    };
    // The waits (StartBuild's, Rollout's task tokens): seen when completed, and by whom (the
    // build's or rollout's event, or the step's own look after parking); a wait that times out
    // (its wake-up lost) is a problem of the run.
    const tokens = workflow.tasks;
    const succeed = tokens.succeed.bind(tokens);
    /** Waits completed in the whole run, by wait and by whom. */
    const completedBy = new Map<string, number>();
    tokens.succeed = async (token, output) => {
      const woke = await succeed(token, output);
      const ctx = source.getStore();
      if (woke) {
        const wait = 'deployment' in output ? 'Rollout' : 'StartBuild';
        const by = ctx?.name === 'build-events' || ctx?.name === 'rollout-events' ? ctx.name : 'the step itself';
        const key = waitCompleted(wait, by);
        completedBy.set(key, (completedBy.get(key) ?? 0) + 1);
        if (ctx?.app) timeline.mark(ctx.app, key);
      }
      return woke;
    };
    const waitFor = tokens.wait.bind(tokens);
    const timedOut: string[] = [];
    tokens.wait = (token, timeoutMs) => {
      const wait = waitFor(token, timeoutMs);
      const app = source.getStore()?.app ?? '?';
      wait.done.catch((error: unknown) => {
        if ((error as { name?: string }).name === 'States.Timeout') timedOut.push(`${app}: ${String(error)}`);
      });
      return wait;
    };
    const counter = new DynamoCounter();
    counter.install(local);
    // The workflow's DynamoDB calls are told from the webhook's by the context they start in.
    // Also timed: local mode starts an execution synchronously, inside the webhook's request.
    const startRelease = workflow.startRelease.bind(workflow);
    const executionStarts: number[] = [];
    workflow.startRelease = (input) => {
      const t0 = performance.now();
      const started = source.run({ name: 'workflow', app: input.app }, () => startRelease(input));
      executionStarts.push(performance.now() - t0);
      timeline.mark(input.app, 'webhook: execution started (startRelease returned)');
      return started;
    };

    // GitLab connected (pinned host key) at a closed loopback port: never called, since the
    // apps have no project id (release-reports.ts reports to GitLab only with one).
    await store.putGitlabConnection({
      url: 'http://127.0.0.1:9',
      username: 'bench',
      tokenCiphertext: 'not-a-ciphertext: GitLab is never called',
      scopes: ['api'],
      knownHosts: '127.0.0.1 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl',
      connectedAt: new Date().toISOString(),
    });
    // Linked apps as `apps create` + `apps link` leave them, with a known webhook secret.
    const seed = async (name: string): Promise<Target> => {
      const secret = randomToken(32);
      const app: App = {
        ...newApp({ name, project: 'mike/diaspora', branch: 'master' }),
        linked: true,
        hookSecretHash: sha256Hex(secret),
        deployKeyCiphertext: 'not-a-ciphertext: the instant builder never decrypts it',
        deployKeyFingerprint: 'SHA256:bench',
        repoUrl: 'git@127.0.0.1:mike/diaspora.git',
      };
      await store.createApp(app);
      return { app: name, hook: hookUrl(local?.url ?? '', app.hookId), secret };
    };

    let pushes = 0;
    /** One release through the webhook: 202 time and webhook→live time, in ms. */
    const release = async (target: Target): Promise<{ accepted: number; live: number }> => {
      const n = ++pushes;
      const sha = createHash('sha1').update(`bench-release-${n}`).digest('hex');
      const key = randomUUID();
      const t0 = performance.now();
      timeline.begin(target.app, t0);
      const res = await http.post(target.hook, pushHeaders(target.secret, key), pushBody(sha, `release ${n}`));
      const accepted = performance.now() - t0;
      timeline.mark(target.app, 'webhook answered (202)');
      if (res.status !== 202) throw new Error(`push ${n} to ${target.app} answered ${res.status}: ${res.body}`);
      const { build } = JSON.parse(res.body) as { build: string };
      const ended = await outcomes.wait(build, RELEASE_TIMEOUT_MS);
      timeline.end(target.app);
      if (ended.outcome !== 'live') {
        throw new Error(`build ${build} of ${target.app} ended ${ended.outcome}: ${ended.reason ?? 'no reason'}`);
      }
      return { accepted, live: ended.at - t0 };
    };

    const [warm, seq, acct, fresh] = [
      await seed('warm-up'),
      await seed('one-app'),
      await seed('accounted'),
      await seed('executions'),
    ];
    const parallel: Target[] = [];
    for (let i = 0; i < PARALLEL_APPS; i++) parallel.push(await seed(`parallel-${i}`));

    log(`  warming up (${FLOOR_WARMUP} PutItems, ${WARMUP} releases of one app)…`);
    await timeOps(FLOOR_WARMUP, put);
    for (let i = 0; i < WARMUP; i++) await release(warm);

    // ---- 1. one app, one release after the other ----
    const floor = stats((await timeOps(FLOOR_N, put)).ms);
    log(`  floor: conditional PutItem p50 ${fmt(floor.p50)} ms`);
    const sequential: Array<{ accepted: number; live: number }> = [];
    timeline.clear();
    executionStarts.length = 0;
    const loopDelay = monitorEventLoopDelay({ resolution: 5 });
    loopDelay.enable();
    const cpu0 = process.cpuUsage();
    const seqStarted = performance.now();
    for (let i = 0; i < SEQUENTIAL; i++) sequential.push(await release(seq));
    const seqWall = performance.now() - seqStarted;
    const cpu = process.cpuUsage(cpu0);
    loopDelay.disable();
    const seqTimeline = [...timeline.done];
    const seqStarts = stats(executionStarts);
    const live = stats(sequential.map((r) => r.live));
    const accepted = stats(sequential.map((r) => r.accepted));
    const tenth = Math.max(1, Math.floor(SEQUENTIAL / 10));
    const firstTenth = stats(sequential.slice(0, tenth).map((r) => r.live));
    const lastTenth = stats(sequential.slice(-tenth).map((r) => r.live));
    log(`  one app: webhook→live p50 ${fmt(live.p50)} ms over ${SEQUENTIAL} releases`);
    const floorAfter = stats((await timeOps(FLOOR_N, put)).ms);

    // ---- 2. ten apps at once, each one release after the other ----
    deployer.resetMax();
    const parallelResults: Array<{ accepted: number; live: number }> = [];
    timeline.clear();
    const parStarted = performance.now();
    await Promise.all(
      parallel.map(async (target) => {
        for (let i = 0; i < PARALLEL_PER_APP; i++) parallelResults.push(await release(target));
      }),
    );
    const parWall = performance.now() - parStarted;
    const parLive = stats(parallelResults.map((r) => r.live));
    const parAccepted = stats(parallelResults.map((r) => r.accepted));
    const maxRollouts = deployer.maxInFlight;
    const parTimeline = [...timeline.done];
    log(`  ${PARALLEL_APPS} apps at once: webhook→live p50 ${fmt(parLive.p50)} ms`);

    // ---- 3. DynamoDB calls per release through the webhook (fresh app) ----
    counter.reset();
    counter.enabled = true;
    const told0 = deployer.eventsTold;
    for (let i = 0; i < ACCOUNTED; i++) await release(acct);
    await builder.whenIdle();
    await deployer.whenIdle();
    counter.enabled = false;
    const rolloutEventsA = deployer.eventsTold - told0;
    const perWebhook = counter.sum((s) => s === 'webhook');
    const perWorkflow = counter.sum((s) => s === 'workflow');
    const perBuildEvents = counter.sum((s) => s === 'build-events');
    const perRolloutEvents = counter.sum((s) => s === 'rollout-events');
    const missingA = counter.missingCapacity;

    // ---- 4. executions with their event log: transitions, steps, DynamoDB per step ----
    const runMany = async (target: Target, n: number) => {
      counter.reset();
      const told0 = deployer.eventsTold;
      const records: ExecutionRecord[] = [];
      for (let i = 0; i < n; i++) {
        const sha = createHash('sha1').update(`bench-execution-${target.app}-${i}`).digest('hex');
        const build: Build = {
          id: newId(),
          app: target.app,
          status: 'queued',
          commit: sha,
          ref: 'refs/heads/master',
          message: `execution ${i}`,
          author: 'bench',
          trigger: 'push',
          createdAt: new Date().toISOString(),
        };
        // As the webhook records it, without starting local mode's own execution.
        await store.recordBuild(build, { source: 'bench', key: randomUUID(), receivedAt: build.createdAt });
        counter.enabled = true;
        timeline.begin(target.app, performance.now());
        const record = await runExecution(workflow.deps, { app: target.app, build: build.id });
        timeline.end(target.app);
        await builder.whenIdle();
        await deployer.whenIdle();
        counter.enabled = false;
        outcomes.forget(build.id);
        if (record.status !== 'SUCCEEDED') problems.push(`execution for ${build.id}: ${record.status}`);
        records.push(record);
      }
      return {
        records,
        tallies: new Map(counter.tallies),
        missing: counter.missingCapacity,
        rolloutEvents: deployer.eventsTold - told0,
      };
    };
    timeline.clear();
    const freshRuns = await runMany(fresh, EXECUTIONS);
    const execTimeline = [...timeline.done];
    const oldRuns = await runMany(seq, EXECUTIONS_OLD_APP);

    // Building a StateMachine validates the definition (asl-validator): once per process now.
    const construct = stats(
      (await timeOps(QUICK ? 20 : 100, async () => new StateMachine(loadReleaseDefinition() as never))).ms,
    );

    // ---- figures ----
    const recs = freshRuns.records;
    const per = recs.length;
    const count = (pred: (s: { name: string; type: string }) => boolean) =>
      recs.reduce((sum, r) => sum + r.entered.filter(pred).length, 0) / per;
    const transitions = count(() => true) + recs.reduce((s, r) => s + r.retries, 0) / per;
    const retries = recs.reduce((s, r) => s + r.retries, 0) / per;
    const tasks = count((s) => s.type === 'Task');
    const checkBuild = count((s) => s.name === 'CheckBuild');
    const checkRollout = count((s) => s.name === 'CheckRollout');
    const byType = ['Choice', 'Pass', 'Task', 'Wait', 'Succeed', 'Fail'].map((t) => [t, count((s) => s.type === t)]);
    const path = recs[0]?.entered.map((s) => s.name).join(' → ') ?? '';
    const samePath = recs.every((r) => r.entered.map((s) => s.name).join(' → ') === path);
    const wallMs = stats(recs.map((r) => r.wallMs));
    const stepSum = stats(recs.map((r) => r.steps.reduce((s, x) => s + x.ms, 0)));

    log('');
    log(`One app, ${SEQUENTIAL} releases one after the other (after ${WARMUP} unmeasured on another app):`);
    log(
      table([
        ['measure', 'n', 'p50 ms', 'p99 ms', 'mean ms', 'p50 vs PutItem', 'p50 vs 202'],
        ['floor: conditional PutItem (before)', ...statsCells(floor), '1.00×', '-'],
        ['floor: webhook answered (202)', ...statsCells(accepted), ratio(accepted.p50, floor.p50), '1.00×'],
        ['webhook → live', ...statsCells(live), ratio(live.p50, floor.p50), ratio(live.p50, accepted.p50)],
        [`  first ${tenth} releases`, ...statsCells(firstTenth), ratio(firstTenth.p50, floor.p50), '-'],
        [`  last ${tenth} releases`, ...statsCells(lastTenth), ratio(lastTenth.p50, floor.p50), '-'],
        ['floor: conditional PutItem (after)', ...statsCells(floorAfter), ratio(floorAfter.p50, floor.p50), '-'],
      ]),
    );
    log(`  releases/s: ${fmt((SEQUENTIAL / seqWall) * 1000, 1)}`);
    log(
      `  Node CPU per release (this process: HTTP, handlers, executor, steps, SDK): ${fmt((cpu.user + cpu.system) / 1000 / SEQUENTIAL)} ms; ` +
        `event-loop delay p50 ${fmt(loopDelay.percentile(50) / 1e6)} ms, p99 ${fmt(loopDelay.percentile(99) / 1e6)} ms, max ${fmt(loopDelay.max / 1e6)} ms`,
    );
    log(
      `  starting an execution (startRelease, synchronous, inside the webhook request): p50 ${fmt(seqStarts.p50)} ms, ` +
        `p99 ${fmt(seqStarts.p99)} ms`,
    );
    const milestones = [...new Set(seqTimeline.flatMap((m) => [...m.keys()]))]
      .map((name) => ({ name, at: stats(seqTimeline.map((m) => m.get(name) ?? Number.NaN).filter(Number.isFinite)) }))
      .sort((a, b) => a.at.p50 - b.at.p50);
    log('  Where the time goes (ms after the push was sent, same releases; n: releases that passed the milestone):');
    log(
      table([
        ['  milestone', 'n', 'p50 ms', 'p99 ms', 'mean ms'],
        ...milestones.map((m) => [`  ${m.name}`, ...statsCells(m.at)]),
      ]),
    );
    log('');
    log(`${PARALLEL_APPS} apps at once, ${PARALLEL_PER_APP} releases each (each app one after the other):`);
    log(
      table([
        ['measure', 'n', 'p50 ms', 'p99 ms', 'mean ms', 'releases/s', 'vs one app'],
        ['webhook answered (202)', ...statsCells(parAccepted), '-', '-'],
        [
          'webhook → live',
          ...statsCells(parLive),
          fmt((parallelResults.length / parWall) * 1000, 1),
          `${fmt(((parallelResults.length / parWall) * 1000) / ((SEQUENTIAL / seqWall) * 1000))}× releases/s`,
        ],
      ]),
    );
    log(
      `  rollouts in flight at once (between Prepare and the rollout's end), at most: ${maxRollouts} of ${PARALLEL_APPS} apps`,
    );

    // ---- the waits: from an end to the workflow going on ----
    const gapRows: string[][] = [['gap (per release)', 'n', 'p50 ms', 'p99 ms', 'mean ms', 'max ms']];
    const gapRow = (label: string, values: number[]) => {
      const s = stats(values);
      gapRows.push([label, ...statsCells(s), fmt(values.length > 0 ? Math.max(...values) : Number.NaN)]);
      return s;
    };
    const endToPrepare = gapRow(
      'one app: build end → rollout start (Prepare)',
      gaps(seqTimeline, BUILD_ENDED, PREPARE),
    );
    gapRow('  build end → build wait completed', gaps(seqTimeline, BUILD_ENDED, 'StartBuild: wait completed'));
    gapRow('  rollout end → rollout wait completed', gaps(seqTimeline, ROLLOUT_ENDED, 'Rollout: wait completed'));
    const endToPreparePar = gapRow(
      `${PARALLEL_APPS} apps: build end → rollout start (Prepare)`,
      gaps(parTimeline, BUILD_ENDED, PREPARE),
    );
    gapRow('  build end → build wait completed', gaps(parTimeline, BUILD_ENDED, 'StartBuild: wait completed'));
    gapRow('  rollout end → rollout wait completed', gaps(parTimeline, ROLLOUT_ENDED, 'Rollout: wait completed'));
    gapRow(`${EXECUTIONS} executions, event log: build end → rollout start`, gaps(execTimeline, BUILD_ENDED, PREPARE));
    gapRow('  build end → build wait completed', gaps(execTimeline, BUILD_ENDED, 'StartBuild: wait completed'));
    gapRow('  build end → StartBuild exited (its step had returned)', gaps(execTimeline, BUILD_ENDED, EXITED));
    gapRow('  StartBuild exited → AcquireRollout entered', gaps(execTimeline, EXITED, ACQUIRE));
    gapRow('  AcquireRollout entered → Prepare called the deployer', gaps(execTimeline, ACQUIRE, PREPARE));
    log('');
    log(
      "From a build's end to its rollout's start (the instant builder's `finished` applied → the deployer's " +
        "prepare): the build wait's wake-up, the rest of StartBuild's step (an instant build ends while the step " +
        "is still reporting it started), AcquireRollout and Prepare's reads. Target: under 1 s locally.",
    );
    log(table(gapRows));
    const verdict = (g: Stats) => (g.p99 < 1000 ? 'within' : 'NOT within');
    log(
      `  p99 under 1 s: one app ${verdict(endToPrepare)} (${fmt(endToPrepare.p99)} ms), ${PARALLEL_APPS} apps at once ` +
        `${verdict(endToPreparePar)} (${fmt(endToPreparePar.p99)} ms). On AWS the wake-up is the event's latency ` +
        'instead (CodeBuild → EventBridge → build-events → SendTaskSuccess; EventBridge delivers typically well ' +
        'under a second), where the polling workflow saw the end only at its next check, up to 10 s (WaitForBuild) later.',
    );
    log(
      `  waits completed in the whole run (all phases): ${
        [...completedBy.entries()]
          .sort((a, b) => b[1] - a[1])
          .map(([k, n]) => `${n} × ${k}`)
          .join('; ') || 'none'
      }; timed out (a lost wake-up, then the recheck): ${timedOut.length}`,
    );
    log(
      `  rollout events told (the instant deployer's end, through onRolloutEvent): ${
        [...deployer.outcomes.entries()].map(([k, n]) => `${n} ${k}`).join(', ') || 'none'
      }`,
    );
    log(`  one app, how each build wait ended: ${byMilestone(seqTimeline, 'StartBuild: wait completed ')}`);
    log(`  one app, how each rollout wait ended: ${byMilestone(seqTimeline, 'Rollout: wait completed ')}`);
    if (timedOut.length > 0) problems.push(`${timedOut.length} waits timed out: ${timedOut.slice(0, 3).join('; ')}`);
    if (endToPrepare.n < SEQUENTIAL)
      problems.push(`build end → Prepare seen for ${endToPrepare.n} of ${SEQUENTIAL} releases`);
    for (const [name, lines] of [
      ['one app', slowReleases(seqTimeline, SLOW_MS)],
      [`${PARALLEL_APPS} apps`, slowReleases(parTimeline, SLOW_MS)],
    ] as const) {
      log(`  releases slower than ${SLOW_MS / 1000} s (${name}): ${lines.length === 0 ? 'none' : ''}`);
      for (const line of lines) log(`    ${line}`);
    }

    log('');
    log(
      `State transitions per release (${per} executions of workflow/release.asl.json with its event log, fresh app):`,
    );
    log(`  path${samePath ? '' : ' (first execution; others differed)'}: ${path}`);
    log(
      `  states entered: ${fmt(
        count(() => true),
        1,
      )} (${byType.map(([t, n]) => `${t} ${fmt(n as number, 1)}`).join(', ')}), retries: ${fmt(retries, 1)}`,
    );
    log(
      `  billed transitions: ${fmt(transitions, 1)} (before, polling: ${BEFORE_POLLING.measured.transitions} with one ` +
        `build check and one rollout check at 0 ms waits, 3 more per further check); Lambda invocations (Tasks): ` +
        `${fmt(tasks, 1)}; CheckBuild entered ${fmt(checkBuild, 1)}, CheckRollout ${fmt(checkRollout, 1)} (only after a wait timed out)`,
    );
    if (checkBuild + checkRollout > 0)
      problems.push('a wait timed out in the state-transitions run (CheckBuild/CheckRollout entered)');
    log(
      `  execution wall time p50 ${fmt(wallMs.p50)} ms (steps themselves ${fmt(stepSum.p50)} ms; executor ${fmt(wallMs.p50 - stepSum.p50)} ms)`,
    );
    log(
      `  new StateMachine(definition) (validates it; local mode builds one per process): p50 ${fmt(construct.p50)} ms, mean ${fmt(construct.mean)} ms`,
    );

    // Per step: invocations, time, DynamoDB.
    const actions = [...new Set(recs.flatMap((r) => r.steps.map((s) => s.action)))];
    const oldPer = oldRuns.records.length;
    const oldApp = `RRU, ${SEQUENTIAL}+ releases`;
    const stepRows: string[][] = [
      ['step (action)', 'calls/release', 'mean ms', 'DynamoDB calls', 'RRU', 'WRU', oldApp, 'DynamoDB calls by op'],
    ];
    for (const action of actions) {
      const times = recs.flatMap((r) => r.steps.filter((s) => s.action === action).map((s) => s.ms));
      const t = freshRuns.tallies.get(`step:${action}`);
      const old = oldRuns.tallies.get(`step:${action}`);
      stepRows.push([
        action,
        fmt(times.length / per, 1),
        fmt(stats(times).mean),
        fmt((t?.calls ?? 0) / per, 1),
        fmt((t?.rru ?? 0) / per, 1),
        fmt((t?.wru ?? 0) / per, 1),
        fmt((old?.rru ?? 0) / oldPer, 1),
        t ? opsText(t.ops, per) : '',
      ]);
    }
    for (const [name, label] of [
      ['build-events', '(build events: started, finished + wake-up)'],
      ['rollout-events', '(rollout event: the end, 1 per rollout here)'],
    ] as const) {
      const t = freshRuns.tallies.get(name);
      stepRows.push([
        label,
        '-',
        '-',
        fmt((t?.calls ?? 0) / per, 1),
        fmt((t?.rru ?? 0) / per, 1),
        fmt((t?.wru ?? 0) / per, 1),
        fmt((oldRuns.tallies.get(name)?.rru ?? 0) / oldPer, 1),
        t ? opsText(t.ops, per) : '',
      ]);
    }
    log('');
    log(
      `Per step, per release (same executions, fresh app; "${oldApp}": ${oldPer} more executions on the app of the ` +
        'one-app run; DynamoDB units from ReturnConsumedCapacity on DynamoDB Local):',
    );
    log(table(stepRows));
    const stepsTotal = (runs: typeof freshRuns, n: number) => {
      let rru = 0;
      let wru = 0;
      let calls = 0;
      for (const [name, t] of runs.tallies) {
        if (!name.startsWith('step:')) continue;
        rru += t.rru;
        wru += t.wru;
        calls += t.calls;
      }
      return { rru: rru / n, wru: wru / n, calls: calls / n };
    };
    const freshTotal = stepsTotal(freshRuns, per);
    const oldTotal = stepsTotal(oldRuns, oldPer);
    const oldWall = stats(oldRuns.records.map((r) => r.wallMs));
    log(
      `  all steps: ${fmt(freshTotal.calls, 1)} calls, ${fmt(freshTotal.rru, 1)} RRU, ${fmt(freshTotal.wru, 1)} WRU per release; ` +
        `on the app with ${SEQUENTIAL + EXECUTIONS_OLD_APP} releases behind it: ${fmt(oldTotal.calls, 1)} calls, ` +
        `${fmt(oldTotal.rru, 1)} RRU, ${fmt(oldTotal.wru, 1)} WRU, execution p50 ${fmt(oldWall.p50)} ms`,
    );

    log('');
    log(`Through the webhook (${ACCOUNTED} releases of a fresh app, DynamoDB calls per release by who made them):`);
    log(
      table([
        ['caller', 'calls', 'reads', 'writes', 'failed cond. writes', 'RRU', 'WRU', 'by op'],
        ...(
          [
            ['webhook (project-webhook)', perWebhook],
            ['workflow (release-steps)', perWorkflow],
            ['build events (2 per build, + the wake-up)', perBuildEvents],
            [`rollout events (${fmt(rolloutEventsA / ACCOUNTED, 1)} per rollout)`, perRolloutEvents],
          ] as Array<[string, Tally]>
        ).map(([name, t]) => [
          name,
          fmt(t.calls / ACCOUNTED, 1),
          fmt(t.reads / ACCOUNTED, 1),
          fmt(t.writes / ACCOUNTED, 1),
          fmt(t.failedWrites / ACCOUNTED, 1),
          fmt(t.rru / ACCOUNTED, 1),
          fmt(t.wru / ACCOUNTED, 1),
          opsText(t.ops, ACCOUNTED),
        ]),
      ]),
    );
    if (missingA + freshRuns.missing + oldRuns.missing > 0) {
      problems.push(`${missingA + freshRuns.missing + oldRuns.missing} DynamoDB answers had no ConsumedCapacity`);
    }

    // ---- cost per release on AWS ----
    // The waits cost no transitions however long the build or rollout takes: each scenario has
    // the measured transitions and steps; what differs from here is the events that end them.
    const perRolloutEvent = {
      rru: perRolloutEvents.rru / Math.max(1, rolloutEventsA),
      wru: perRolloutEvents.wru / Math.max(1, rolloutEventsA),
    };
    const phaseEvents = AWS_BUILD_EVENTS - 2;
    const measuredRolloutEvents = rolloutEventsA / ACCOUNTED;
    const aws = { buildEvents: AWS_BUILD_EVENTS, rolloutEvents: AWS_ROLLOUT_EVENTS, phaseEvents };
    const scenarios = [
      {
        label: 'as measured here (instant build and rollout)',
        buildEvents: 2,
        rolloutEvents: measuredRolloutEvents,
        phaseEvents: 0,
        before: BEFORE_POLLING.measured,
      },
      { label: '3-min build, 1-min rollout', ...aws, before: BEFORE_POLLING.short },
      { label: '10-min build, 2-min rollout', ...aws, before: BEFORE_POLLING.long },
    ];
    const costRows: string[][] = [
      [
        'scenario',
        'transitions',
        'Lambda inv.',
        'build events',
        'rollout events',
        'RRU',
        'WRU',
        'Step Functions',
        'Lambda',
        'DynamoDB',
        'API GW',
        'total',
        'per 1,000',
        'before (polling): transitions',
        'before (polling): per 1,000',
      ],
    ];
    const per1000: number[] = [];
    for (const s of scenarios) {
      const sfnTransitions = transitions;
      const stepInvocations = tasks + retries;
      const invocations = stepInvocations + 1 + s.buildEvents + s.rolloutEvents;
      // Read or write units: the webhook's, the steps', the build events' as measured (on AWS
      // also each phase-change event's 1 RRU + 1 WRU), and each rollout event's as measured.
      const units = (u: 'rru' | 'wru') =>
        perWebhook[u] / ACCOUNTED +
        freshTotal[u] +
        perBuildEvents[u] / ACCOUNTED +
        s.phaseEvents * 1 +
        s.rolloutEvents * perRolloutEvent[u];
      const rru = units('rru');
      const wru = units('wru');
      const gbSeconds =
        (LAMBDA_MEMORY_GB *
          (stepInvocations * ASSUMED_MS.releaseStep +
            ASSUMED_MS.webhook +
            s.buildEvents * ASSUMED_MS.buildEvent +
            s.rolloutEvents * ASSUMED_MS.rolloutEvent)) /
        1000;
      const sfn = sfnTransitions * PRICES.transition;
      const lambda = invocations * PRICES.lambdaRequest + gbSeconds * PRICES.lambdaGbSecond;
      const ddb = rru * PRICES.rru + wru * PRICES.wru;
      const api = PRICES.httpApiRequest;
      const total = sfn + lambda + ddb + api;
      per1000.push(total * 1000);
      costRows.push([
        s.label,
        fmt(sfnTransitions, 0),
        fmt(invocations, 0),
        fmt(s.buildEvents, 0),
        fmt(s.rolloutEvents, 0),
        fmt(rru, 1),
        fmt(wru, 1),
        usd(sfn),
        usd(lambda),
        usd(ddb),
        usd(api),
        usd(total),
        `$${(total * 1000).toFixed(2)}`,
        String(s.before.transitions),
        `$${s.before.per1000.toFixed(2)}`,
      ]);
    }
    log('');
    log('Cost per release on AWS (orchestration only; CodeBuild, ECS/Fargate, ECR excluded):');
    log(table(costRows));
    log(
      `  "before (polling)": docs/PERFORMANCE.md, run of 2026-11-24, when WaitForBuild ⇄ CheckBuild polled every 10 s ` +
        'and WaitForRollout ⇄ CheckRollout every 15–60 s (3 transitions a check); not measured in this run.',
    );
    log(
      `  per 1,000 releases, 3-min / 10-min build: $${per1000[1]?.toFixed(2)} / $${per1000[2]?.toFixed(2)} ` +
        `(before, polling: $${BEFORE_POLLING.short.per1000.toFixed(2)} / $${BEFORE_POLLING.long.per1000.toFixed(2)}).`,
    );
    log(
      `  prices (us-east-1 list, assumed as of ${PRICES.asOf}): Step Functions Standard $0.025 per 1,000 transitions ` +
        '(a .waitForTaskToken Task is one transition however long it waits; SendTaskSuccess is not billed); ' +
        'Lambda arm64 $0.20 per 1M requests + $0.0000133334 per GB-s; DynamoDB on-demand $1.25 per 1M WRU, ' +
        '$0.25 per 1M RRU; API Gateway HTTP API $1.00 per 1M requests. No free tier.',
    );
    log(
      `  Lambda: ${LAMBDA_MEMORY_GB * 1024} MB arm64 (infra/constructs/slipway-function.ts), assumed mean billed ` +
        `${ASSUMED_MS.releaseStep} ms per release step (measured here, in-process without AWS calls: ` +
        `${fmt(stepSum.mean / Math.max(1, tasks))} ms), ${ASSUMED_MS.webhook} ms per webhook, ` +
        `${ASSUMED_MS.buildEvent} ms per build event, ${ASSUMED_MS.rolloutEvent} ms per rollout event (DescribeServices).`,
    );
    log(
      `  Invocations: release-steps (one per Task entered, retries included) + 1 webhook + build events ` +
        `(${AWS_BUILD_EVENTS} on AWS: 2 state changes and ${phaseEvents} phase changes, each phase change assumed ` +
        `1 RRU + 1 WRU; the finished one also reads the build and completes the wait, measured here) + rollout events ` +
        `(${AWS_ROLLOUT_EVENTS} on AWS: deployment IN_PROGRESS and COMPLETED, one task RUNNING per task, ${ASSUMED_TASKS} ` +
        `tasks assumed; ${fmt(measuredRolloutEvents, 1)} here), each rollout event priced at this run's units: ` +
        `${fmt(perRolloutEvent.rru, 1)} RRU / ${fmt(perRolloutEvent.wru, 1)} WRU ` +
        `(${opsText(perRolloutEvents.ops, Math.max(1, rolloutEventsA))}).`,
    );
    log(
      '  RRU/WRU: ReturnConsumedCapacity from DynamoDB Local; transactions doubled (AWS bills 2 units per item), a ' +
        'write refused by its condition counted 1 WRU.',
    );

    if (builder.errors.length > 0) problems.push(...builder.errors);
    if (deployer.errors.length > 0) problems.push(...deployer.errors);
    for (const [outcome, n] of deployer.outcomes) {
      if (outcome !== 'woken' && outcome !== 'already_completed') problems.push(`${n} rollout events: ${outcome}`);
    }
    if (problems.length > 0) {
      process.stderr.write(`bench:release: problems:\n  ${problems.join('\n  ')}\n`);
      return 1;
    }
    return 0;
  } finally {
    http.destroy();
    await local?.stop();
  }
}

runBench('bench:release', TIME_LIMIT_MS, main);
