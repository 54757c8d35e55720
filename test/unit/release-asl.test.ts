import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { findProjectRoot } from '../../functions/commons/project-root';
import { RELEASE_ACTIONS } from '../../functions/domain/releases';

/** asl-validator ships no types; it mutates the definition it is given, so it gets a copy. */
const validator = require('asl-validator') as (definition: unknown) => { isValid: boolean; errors: unknown[] };

interface State {
  Type: string;
  Resource?: string;
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
      expect({ name, resource: state.Resource }).toEqual({ name, resource: 'arn:aws:states:::lambda:invoke' });
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
      expect(state.Catch?.[0]?.ErrorEquals).toEqual(['States.ALL']);
      expect(definition.States[state.Catch?.[0]?.Next ?? '']).toBeDefined();
    }
  });

  it('sends every failure through RecordFailure, then the lock and the report', () => {
    const main = ['StartBuild', 'CheckBuild', 'AcquireRollout', 'Prepare', 'Rollout', 'CheckRollout', 'RecordLive'];
    for (const name of main) expect(definition.States[name]?.Catch?.[0]?.Next).toBe('RecordFailure');
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
    for (const name of ['RecordSuperseded', 'RecordLive', 'RecordRolledBack', 'RecordFailure']) {
      expect((definition.States[name] as { ResultPath?: string }).ResultPath).toBe('$.result');
    }
  });

  it('has an execution timeout beyond every bounded wait, so only a stuck execution times out', () => {
    const raw = definition as unknown as { TimeoutSeconds?: number };
    // Build checks 10 s apart, turn checks 10 s apart, rollout checks at most 60 s apart.
    const bounded = 360 * 10 + 720 * 10 + 120 * 60;
    expect(raw.TimeoutSeconds).toBeGreaterThan(bounded);
    expect(raw.TimeoutSeconds).toBeLessThanOrEqual(8 * 3600);
  });
});
