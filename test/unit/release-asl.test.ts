import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { findProjectRoot } from '../../functions/commons/project-root';
import { RELEASE_ACTIONS } from '../../functions/domain/releases';

/** asl-validator ships no types; it mutates the definition it is given, so it gets a copy. */
const validator = require('asl-validator') as (definition: unknown) => { isValid: boolean; errors: unknown[] };

interface State {
  Type: string;
  Resource?: string;
  TimeoutSeconds?: number;
  Default?: string;
  Choices?: Array<{ Next: string }>;
  Parameters?: { FunctionName?: string; Payload?: Record<string, unknown> };
  Retry?: Array<{ ErrorEquals: string[]; BackoffRate?: number; MaxAttempts?: number }>;
  Catch?: Array<{ ErrorEquals: string[]; Next: string }>;
  Next?: string;
}
const definition = JSON.parse(readFileSync(join(findProjectRoot(), 'workflow/release.asl.json'), 'utf8')) as {
  QueryLanguage?: string;
  StartAt: string;
  States: Record<string, State>;
};
/** Substituted by CDK with the release-steps Lambda's ARN. */
const ARN_PLACEHOLDER = ['${', 'ReleaseStepsFunctionArn}'].join('');
const tasks = Object.entries(definition.States).filter(([, s]) => s.Type === 'Task');
/** The states that park on a task token, and the one recheck each goes to when its wait times out. */
const PARKED: Record<string, string> = { StartBuild: 'CheckBuild', Rollout: 'CheckRollout' };
const catchAll = (state: State | undefined) => state?.Catch?.find((c) => c.ErrorEquals.includes('States.ALL'));

/** Every state reachable in one step from `state`: Next, Default, each Choice and each Catch. */
function successors(state: State): string[] {
  return [
    ...(state.Next ? [state.Next] : []),
    ...(state.Default ? [state.Default] : []),
    ...(state.Choices ?? []).map((c) => c.Next),
    ...(state.Catch ?? []).map((c) => c.Next),
  ];
}

/** The states on some cycle of the definition's graph (Tarjan's strongly connected components). */
function statesOnCycles(states: Record<string, State>): Set<string> {
  let index = 0;
  const order = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cyclic = new Set<string>();
  const visit = (name: string) => {
    order.set(name, index);
    low.set(name, index++);
    stack.push(name);
    onStack.add(name);
    const next = successors(states[name] as State);
    for (const to of next) {
      if (!order.has(to)) {
        visit(to);
        low.set(name, Math.min(low.get(name) ?? 0, low.get(to) ?? 0));
      } else if (onStack.has(to)) low.set(name, Math.min(low.get(name) ?? 0, order.get(to) ?? 0));
    }
    if (low.get(name) === order.get(name)) {
      const component: string[] = [];
      for (;;) {
        const top = stack.pop() as string;
        onStack.delete(top);
        component.push(top);
        if (top === name) break;
      }
      if (component.length > 1 || next.includes(name)) for (const c of component) cyclic.add(c);
    }
  };
  for (const name of Object.keys(states)) if (!order.has(name)) visit(name);
  return cyclic;
}

describe('workflow/release.asl.json', () => {
  it('is valid ASL (asl-validator, on a clone: it mutates its argument)', () => {
    const result = validator(JSON.parse(JSON.stringify(definition)));
    expect(result.errors).toEqual([]);
    expect(result.isValid).toBe(true);
  });

  it('is JSONPath only: no JSONata anywhere', () => {
    const text = JSON.stringify(definition);
    expect(definition.QueryLanguage ?? 'JSONPath').toBe('JSONPath');
    expect(text).not.toMatch(/JSONata|\{%/);
    for (const state of Object.values(definition.States)) {
      expect((state as { QueryLanguage?: string }).QueryLanguage ?? 'JSONPath').toBe('JSONPath');
      expect(state).not.toHaveProperty('Arguments');
      expect(state).not.toHaveProperty('Output');
    }
  });

  it('invokes the release-steps Lambda with a known action in every Task', () => {
    expect(tasks.length).toBeGreaterThan(8);
    for (const [name, state] of tasks) {
      const resource =
        name in PARKED || name === 'AwaitApproval'
          ? 'arn:aws:states:::lambda:invoke.waitForTaskToken'
          : 'arn:aws:states:::lambda:invoke';
      expect({ name, resource: state.Resource }).toEqual({ name, resource });
      expect(state.Parameters?.FunctionName).toBe(ARN_PLACEHOLDER);
      expect(RELEASE_ACTIONS).toContain(state.Parameters?.Payload?.action);
      expect(state.Parameters?.Payload?.['app.$']).toBe('$.app');
      expect(state.Parameters?.Payload?.['build.$']).toBe('$.build');
    }
  });

  it('retries transient errors with backoff and catches everything in every Task', () => {
    for (const [name, state] of tasks) {
      const retry = state.Retry?.[0];
      expect({ name, errors: retry?.ErrorEquals }).toEqual({
        name,
        errors: expect.arrayContaining([
          'TransientError',
          'Lambda.ServiceException',
          'Lambda.TooManyRequestsException',
        ]),
      });
      expect(retry?.BackoffRate).toBeGreaterThan(1);
      expect(retry?.ErrorEquals).not.toContain('States.Timeout');
      expect(state.Catch?.at(-1)?.ErrorEquals).toEqual(['States.ALL']);
      expect(definition.States[state.Catch?.at(-1)?.Next ?? '']).toBeDefined();
    }
  });

  it('waits for builds and rollouts on task tokens, with a timeout that leads to one recheck', () => {
    for (const [name, recheck] of Object.entries(PARKED)) {
      const state = definition.States[name] as State;
      expect(state.Parameters?.Payload?.['taskToken.$']).toBe('$$.Task.Token');
      expect(state.TimeoutSeconds).toBeGreaterThan(0);
      expect(state.Catch?.[0]).toMatchObject({ ErrorEquals: ['States.Timeout'], Next: recheck });
      // The recheck is a Task whose result goes to the same Choice as the wait's, which ends
      // (timed out) when the recheck finds it still running: it never loops back.
      const after = definition.States[recheck] as State;
      expect(after.Type).toBe('Task');
      expect(after.Next).toBe(state.Next);
    }
    expect(definition.States.BuildStatus?.Default).toBe('BuildTimedOut');
    expect(definition.States.RolloutStatus?.Default).toBe('RolloutTimedOut');
  });

  it('has no polling loop for builds or rollouts: the only cycle is the rollout lock wait', () => {
    const cyclic = statesOnCycles(definition.States);
    expect([...cyclic].sort()).toEqual(['AcquireRollout', 'RolloutTurn', 'WaitForTurn']);
    const waits = Object.entries(definition.States).filter(([, s]) => s.Type === 'Wait');
    expect(waits.map(([name]) => name)).toEqual(['WaitForTurn']);
  });

  it('sends every failure through RecordFailure, then the lock and the report', () => {
    const main = ['StartBuild', 'CheckBuild', 'AcquireRollout', 'Prepare', 'Rollout', 'CheckRollout', 'RecordLive'];
    for (const name of main) expect(catchAll(definition.States[name])?.Next).toBe('RecordFailure');
    expect(definition.States.RecordFailure?.Next).toBe('ReleaseLock');
    expect(definition.States.ReleaseLock?.Next).toBe('Report');
    expect(definition.States.Report?.Next).toBe('Done');
  });

  it('succeeds whenever an outcome was recorded; fails only when none could be', () => {
    const fails = Object.entries(definition.States).filter(([, state]) => state.Type === 'Fail');
    expect(fails.map(([name]) => name)).toEqual(['NotRecorded']);
    const done = definition.States.Done as unknown as {
      Choices: Array<{ Variable: string; IsPresent: boolean; Next: string }>;
      Default: string;
    };
    expect(done.Choices).toEqual([{ Variable: '$.result.outcome', IsPresent: true, Next: 'Recorded' }]);
    expect(done.Default).toBe('NotRecorded');
    expect(definition.States.Recorded?.Type).toBe('Succeed');
    // Every Record* step writes the outcome where Done looks for it.
    for (const name of ['RecordSuperseded', 'RecordLive', 'RecordRolledBack', 'RecordFailure', 'RecordExpired']) {
      expect((definition.States[name] as { ResultPath?: string }).ResultPath).toBe('$.result');
    }
  });

  it('has an execution timeout beyond every bounded wait, so only a stuck execution times out', () => {
    const raw = definition as unknown as { TimeoutSeconds?: number };
    // The build wait, turn checks 10 s apart, the rollout wait (each recheck takes seconds); a
    // release copied forward waits for approval instead of a build.
    const parked = Object.keys(PARKED).map((name) => definition.States[name]?.TimeoutSeconds ?? Number.NaN);
    const approval = definition.States.AwaitApproval?.TimeoutSeconds ?? Number.NaN;
    const bounded = Math.max(parked[0] ?? Number.NaN, approval) + 720 * 10 + (parked[1] ?? Number.NaN);
    expect(raw.TimeoutSeconds).toBeGreaterThan(bounded);
    expect(raw.TimeoutSeconds).toBeLessThanOrEqual(approval + 8 * 3600);
  });

  it('fans a succeeded build out to further environments before its own turn; trouble there does not stop it', () => {
    const choices = (definition.States.BuildStatus?.Choices ?? []) as Array<{ StringEquals?: string; Next: string }>;
    const succeeded = choices.find((c) => c.StringEquals === 'succeeded');
    expect(succeeded?.Next).toBe('FanOut');
    const fanOut = definition.States.FanOut as State & { ResultPath?: unknown };
    expect(fanOut.Parameters?.Payload).toMatchObject({ action: 'fanOut', 'stateMachine.$': '$$.StateMachine.Id' });
    expect(fanOut.ResultPath).toBeNull();
    expect(fanOut.Next).toBe('AcquireRollout');
    expect(catchAll(fanOut)?.Next).toBe('AcquireRollout');
  });

  it('waits for approval on a task token, 7 days at most, before a copied release takes its turn', () => {
    expect(definition.States.CopiedRelease?.Next).toBe('AwaitApproval');
    const wait = definition.States.AwaitApproval as State;
    expect(wait.Resource).toBe('arn:aws:states:::lambda:invoke.waitForTaskToken');
    expect(wait.Parameters?.Payload).toMatchObject({ action: 'awaitApproval', 'release.$': '$.release' });
    expect(wait.Parameters?.Payload?.['taskToken.$']).toBe('$$.Task.Token');
    expect(wait.TimeoutSeconds).toBe(7 * 24 * 3600);
    // Timed out: recorded expired and reported, never rolled out; any other failure is a failure.
    expect(wait.Catch?.[0]).toMatchObject({ ErrorEquals: ['States.Timeout'], Next: 'RecordExpired' });
    expect(definition.States.RecordExpired?.Next).toBe('Report');
    // Only `approved` goes on to the lock; rejected and expired are reported without one.
    const decision = definition.States[wait.Next ?? ''] as State & {
      Choices: Array<{ Variable: string; StringEquals: string; Next: string }>;
    };
    expect(decision.Choices).toEqual([
      { Variable: '$.approval.decision', StringEquals: 'approved', Next: 'AcquireRollout' },
    ]);
    expect(definition.States[decision.Default ?? '']).toMatchObject({
      Type: 'Pass',
      ResultPath: '$.result',
      Next: 'Report',
    });
  });
});
