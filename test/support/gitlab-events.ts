import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { findProjectRoot } from '../../functions/commons/project-root';

/**
 * GitLab's own example payloads (../shared/gitlab-events, verbatim from its docs) with the
 * `X-Gitlab-Event` header INDEX.tsv gives each. Tests send these, not invented payloads.
 */
export const EVENTS_DIR = resolve(
  process.env.SLIPWAY_GITLAB_EVENTS ?? join(findProjectRoot(), '../shared/gitlab-events'),
);

export interface GitlabExample {
  file: string;
  event: string;
  /** The body exactly as GitLab's docs show it. */
  raw: string;
  body: Record<string, unknown>;
}

let cache: GitlabExample[] | undefined;

export function gitlabExamples(): GitlabExample[] {
  if (cache) return cache;
  if (!existsSync(join(EVENTS_DIR, 'INDEX.tsv'))) {
    throw new Error(`GitLab example payloads not found at ${EVENTS_DIR} (set SLIPWAY_GITLAB_EVENTS)`);
  }
  const rows = readFileSync(join(EVENTS_DIR, 'INDEX.tsv'), 'utf8').trim().split('\n').slice(1);
  cache = rows.map((row) => {
    const [file, event] = row.split('\t');
    if (!file || !event) throw new Error(`bad INDEX.tsv row: ${row}`);
    const raw = readFileSync(join(EVENTS_DIR, file), 'utf8');
    return { file, event, raw, body: JSON.parse(raw) as Record<string, unknown> };
  });
  return cache;
}

export function gitlabExample(file: string): GitlabExample {
  const found = gitlabExamples().find((e) => e.file === file);
  if (!found) throw new Error(`no GitLab example ${file}`);
  return found;
}

/** The system-hook events Slipway acts on (by `event_name`); every other one is acknowledged and ignored. */
export const SYSTEM_EVENTS_ACTED_ON: ReadonlySet<string> = new Set([
  'push',
  'tag_push',
  'repository_update',
  'project_rename',
  'project_transfer',
  'project_destroy',
]);

/** GitLab's documented system-hook examples of events Slipway does not act on. */
export function systemEventsNotActedOn(): GitlabExample[] {
  return gitlabExamples().filter(
    (e) => e.event === 'System Hook' && !SYSTEM_EVENTS_ACTED_ON.has(String(e.body.event_name ?? e.body.object_kind)),
  );
}
