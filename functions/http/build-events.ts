import * as z from 'zod';
import { applyBuildEvent, type BuildEvent, type BuildEventsStore, CODEBUILD_PHASES } from '../domain/build-events';
import type { TaskTokens } from '../domain/ports';
import { wakeBuildWait } from '../domain/waits';

/**
 * EventBridge → build record: CodeBuild's `Build State Change` and `Build Phase Change` events
 * for the build project, turned into build events and applied to the build they name (through
 * the SLIPWAY_APP and SLIPWAY_BUILD_ID environment overrides the builder set).
 *
 * An event that is not one of ours, or malformed, is logged and dropped: throwing would only
 * make Lambda retry it. A failure to write the record is thrown, so Lambda retries the event.
 * The event carries the build's environment overrides; it is never logged whole.
 *
 * A build's end also completes the release workflow's wait on it (the task token on the build
 * record, domain/waits.ts): that is how a release goes on the moment its build ends.
 */

export interface BuildEventsDeps {
  store: BuildEventsStore;
  /** Completes the workflow's wait on a build that ended (SendTaskSuccess). */
  tasks: TaskTokens;
  /** Structured logs (the Powertools Logger on Lambda). */
  logger: BuildEventsLogger;
}

export interface BuildEventsLogger {
  info(message: string, attributes: Record<string, unknown>): void;
  warn(message: string, attributes: Record<string, unknown>): void;
}

export const STATE_CHANGE = 'CodeBuild Build State Change';
export const PHASE_CHANGE = 'CodeBuild Build Phase Change';

const variables = z.array(z.object({ name: z.string(), value: z.string().optional() }).nullable());

const phase = z.object({
  'phase-type': z.string(),
  'phase-status': z.string().optional(),
  'phase-context': z.array(z.string().nullable()).optional(),
});

const codeBuildEvent = z.object({
  source: z.literal('aws.codebuild'),
  'detail-type': z.enum([STATE_CHANGE, PHASE_CHANGE]),
  time: z.string(),
  detail: z.object({
    'project-name': z.string(),
    'build-id': z.string(),
    'build-status': z.string().optional(),
    'current-phase': z.string().optional(),
    'completed-phase': z.string().optional(),
    'additional-information': z.object({
      environment: z.object({ 'environment-variables': variables.optional() }),
      'exported-environment-variables': variables.optional(),
      'build-start-time': z.string().optional(),
      phases: z.array(phase).optional(),
    }),
  }),
});

type CodeBuildEvent = z.infer<typeof codeBuildEvent>;
type Phase = z.infer<typeof phase>;

/** Image digests as the buildspec exports them: `{"<service>": "sha256:…"}`. */
const images = z.record(z.string().min(1), z.string().min(1));

const FAILED_PHASE_STATUSES = new Set(['FAILED', 'FAULT', 'TIMED_OUT', 'STOPPED']);

export type ParsedBuildEvent = { event: BuildEvent } | { dropped: string };

/** A CodeBuild event as a Slipway build event, or why it is dropped. Never throws. */
export function parseCodeBuildEvent(raw: unknown): ParsedBuildEvent {
  const parsed = codeBuildEvent.safeParse(raw);
  if (!parsed.success) return { dropped: 'not a CodeBuild build event this function understands' };
  const event = parsed.data;
  const info = event.detail['additional-information'];
  const env = toMap(info.environment['environment-variables']);
  const app = env.get('SLIPWAY_APP');
  const buildId = env.get('SLIPWAY_BUILD_ID');
  if (!app || !buildId) return { dropped: 'a CodeBuild build that Slipway did not start' };
  const at = isoTime(event.time);
  if (!at) return { dropped: 'the event has no valid time' };
  const startedAt = codeBuildTime(info['build-start-time']);
  const base = { app, buildId, at, ...(startedAt ? { startedAt } : {}) };

  if (event['detail-type'] === PHASE_CHANGE) {
    const current = currentPhase(event);
    return current ? { event: { ...base, kind: 'phase', phase: current } } : { dropped: 'the event names no phase' };
  }

  const status = event.detail['build-status'];
  switch (status) {
    case 'IN_PROGRESS': {
      const current = event.detail['current-phase'];
      return { event: { ...base, at: startedAt ?? at, kind: 'started', ...(current ? { phase: current } : {}) } };
    }
    case 'SUCCEEDED': {
      const digests = exportedImages(event);
      return { event: { ...base, kind: 'finished', status: 'succeeded', ...(digests ? { images: digests } : {}) } };
    }
    case 'FAILED':
    case 'FAULT':
    case 'TIMED_OUT':
      return {
        event: { ...base, kind: 'finished', status: 'failed', reason: failureReason(info.phases ?? [], status) },
      };
    case 'STOPPED':
      return { event: { ...base, kind: 'finished', status: 'canceled', reason: 'the build was stopped in CodeBuild' } };
    default:
      return { dropped: `unknown build status ${String(status)}` };
  }
}

export function createBuildEventsHandler(deps: BuildEventsDeps) {
  return async (raw: unknown): Promise<void> => {
    const parsed = parseCodeBuildEvent(raw);
    if ('dropped' in parsed) {
      deps.logger.warn('build event dropped', { reason: parsed.dropped, ...envelopeIds(raw) });
      return;
    }
    const { event } = parsed;
    const result = await applyBuildEvent(deps.store, event);
    // Also when the event was ignored as already ended: a redelivered end completes a wait the
    // first delivery could not (it failed after recording), and completing twice is harmless.
    // The build as the write that ended it returned it; an ignored (repeated) end reads it again.
    const ended = result.outcome === 'applied' ? result.build : undefined;
    const woken = event.kind === 'finished' ? await wakeBuildWait(deps, event.app, event.buildId, ended) : undefined;
    deps.logger.info('build event', {
      app: event.app,
      buildId: event.buildId,
      kind: event.kind,
      ...(event.phase ? { phase: event.phase } : {}),
      ...(event.status ? { status: event.status } : {}),
      outcome: result.outcome,
      ...(result.outcome === 'ignored' ? { ignored: result.reason } : { buildStatus: result.build.status }),
      ...(woken ? { workflow: woken } : {}),
    });
  };
}

/** The build's phase after this phase-change event: the open phase the event lists, else the next one. */
function currentPhase(event: CodeBuildEvent): string | undefined {
  const phases = event.detail['additional-information'].phases ?? [];
  const open = phases.at(-1);
  if (open && open['phase-status'] === undefined) return open['phase-type'];
  const completed = event.detail['completed-phase'];
  if (!completed) return undefined;
  const order: readonly string[] = CODEBUILD_PHASES;
  const index = order.indexOf(completed);
  return index === -1 ? completed : (order[index + 1] ?? completed);
}

/** The first failed phase and its context messages, e.g. `BUILD: COMMAND_EXECUTION_ERROR: …`. */
export function failureReason(phases: Phase[], buildStatus: string): string {
  const failed = phases.find((p) => p['phase-status'] !== undefined && FAILED_PHASE_STATUSES.has(p['phase-status']));
  if (!failed) return buildStatus === 'TIMED_OUT' ? 'the build timed out' : `the build ended ${buildStatus}`;
  const type = failed['phase-type'];
  const context = (failed['phase-context'] ?? [])
    .map((message) => (message ?? '').trim())
    .filter((message) => message !== '' && message !== ':')
    .join('; ');
  if (buildStatus === 'TIMED_OUT') return context ? `timed out in ${type}: ${context}` : `timed out in ${type}`;
  return `${type}: ${context || String(failed['phase-status']).toLowerCase()}`;
}

function exportedImages(event: CodeBuildEvent): Record<string, string> | undefined {
  const value = toMap(event.detail['additional-information']['exported-environment-variables']).get('SLIPWAY_IMAGES');
  if (!value) return undefined;
  try {
    const result = images.safeParse(JSON.parse(value));
    return result.success ? result.data : undefined;
  } catch {
    return undefined;
  }
}

function toMap(list: z.infer<typeof variables> | undefined): Map<string, string> {
  const map = new Map<string, string>();
  for (const entry of list ?? []) if (entry?.value !== undefined) map.set(entry.name, entry.value);
  return map;
}

function isoTime(value: string): string | undefined {
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? undefined : new Date(ms).toISOString();
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** CodeBuild's event times (`Sep 1, 2017 4:12:29 PM`, UTC) as ISO 8601. */
export function codeBuildTime(value: string | undefined): string | undefined {
  const match = /^([A-Z][a-z]{2}) (\d{1,2}), (\d{4}) (\d{1,2}):(\d{2}):(\d{2}) (AM|PM)$/.exec(value ?? '');
  if (!match) return undefined;
  const [, mon, day, year, hour, minute, second, half] = match;
  const month = MONTHS.indexOf(mon ?? '');
  if (month === -1) return undefined;
  const h = (Number(hour) % 12) + (half === 'PM' ? 12 : 0);
  return new Date(Date.UTC(Number(year), month, Number(day), h, Number(minute), Number(second))).toISOString();
}

/** Safe identifiers of an event for a log line (never the detail, which holds the overrides). */
function envelopeIds(raw: unknown): Record<string, string> {
  if (raw === null || typeof raw !== 'object') return {};
  const { id, 'detail-type': detailType } = raw as Record<string, unknown>;
  return {
    ...(typeof id === 'string' ? { eventId: id.slice(0, 100) } : {}),
    ...(typeof detailType === 'string' ? { detailType: detailType.slice(0, 100) } : {}),
  };
}
