import * as z from 'zod';
import type { MergeRequestEvent, PushEvent, SystemEvent } from '../domain/events';
import { hasControlCharacters } from '../domain/text';
import { isoUtc } from '../domain/timestamps';

/**
 * GitLab webhook payloads, validated at the edge. Only the fields Slipway uses are checked;
 * GitLab adds fields over time and those pass through untouched. Shapes follow GitLab's
 * docs (doc/user/project/integrations/webhook_events.md, doc/administration/system_hooks.md).
 */

const sha = z.string().regex(/^[0-9a-f]{40}$/, 'a 40-hex commit sha');

/**
 * A ref, project path or clone URL Slipway acts on: no C0/C1 control character (NUL, a line
 * break, ESC…), which no git ref or GitLab path holds. Such a payload is 400 at the edge, not a
 * build that fails later (or a ref that reaches a buildspec, a log line or a terminal).
 */
const noControl = (schema: z.ZodString) =>
  schema.refine((value) => !hasControlCharacters(value), {
    message: 'contains a control character (NUL, line break, ESC…), which no ref or path may',
    abort: true,
  });

const nonEmpty = noControl(z.string()).min(1).max(1024);
const refName = noControl(z.string()).max(1024);

const project = z.object({
  id: z.number().int().positive().optional(),
  path_with_namespace: nonEmpty,
  git_ssh_url: noControl(z.string()).max(2048).optional(),
});

const commit = z.object({
  id: z.string().max(64),
  message: z.string().max(100_000).optional(),
  title: z.string().max(10_000).optional(),
  /** The commit's own time; one GitLab (or a proxy) garbled is dropped, not a reason to refuse the push. */
  timestamp: z.string().max(64).optional().catch(undefined),
  author: z
    .object({ name: z.string().max(1024).optional() })
    .partial()
    .optional(),
});

const pushPayload = z.object({
  ref: refName.regex(/^refs\/(heads|tags)\/.+/, 'a full ref under refs/heads/ or refs/tags/'),
  before: sha,
  after: sha,
  checkout_sha: sha.nullable().optional(),
  project_id: z.number().int().positive().optional(),
  project,
  user_name: z.string().max(1024).optional(),
  user_username: z.string().max(1024).optional(),
  commits: z.array(commit).max(1000).optional(),
});

type PushPayload = z.infer<typeof pushPayload>;

export class PayloadError extends Error {
  override name = 'PayloadError';
}

function describe(error: z.ZodError): string {
  const issue = error.issues[0];
  if (!issue) return 'invalid payload';
  const path = issue.path.join('.') || '(root)';
  return `${path}: ${issue.message}`;
}

function toPush(payload: PushPayload): PushEvent {
  const kind = payload.ref.startsWith('refs/tags/') ? 'tag' : 'branch';
  const target = payload.checkout_sha ?? payload.after;
  const built = payload.commits?.find((c) => c.id === target);
  const title = built?.title ?? built?.message?.split('\n', 1)[0];
  const committedAt = isoUtc(built?.timestamp);
  const id = payload.project.id ?? payload.project_id;
  return {
    kind,
    ref: payload.ref,
    before: payload.before,
    after: payload.after,
    sha: target,
    project: { ...(id !== undefined ? { id } : {}), path: payload.project.path_with_namespace },
    ...(payload.project.git_ssh_url ? { repoUrl: payload.project.git_ssh_url } : {}),
    ...(title !== undefined ? { title } : {}),
    ...(built?.author?.name ? { author: built.author.name } : {}),
    ...(committedAt ? { committedAt } : {}),
    ...(payload.user_name ? { pusher: payload.user_name } : {}),
  };
}

/** Parses a `Push Hook` / `Tag Push Hook` body (already JSON-decoded). Throws PayloadError. */
export function parsePush(body: unknown, expected: 'branch' | 'tag'): PushEvent {
  const result = pushPayload.safeParse(body);
  if (!result.success) throw new PayloadError(describe(result.error));
  const push = toPush(result.data);
  if (push.kind !== expected) {
    throw new PayloadError(`ref: ${result.data.ref} is not a ${expected === 'tag' ? 'tag' : 'branch'} ref`);
  }
  return push;
}

/** The project-hook events Slipway acts on, by `X-Gitlab-Event` header. */
export const PROJECT_PUSH_EVENTS: Readonly<Record<string, 'branch' | 'tag'>> = {
  'Push Hook': 'branch',
  'Tag Push Hook': 'tag',
};

/** The project-hook event of merge requests (review apps, domain/review-apps.ts). */
export const MERGE_REQUEST_EVENT = 'Merge Request Hook';

/** The merge request actions Slipway acts on; any other (approved, unapproved, …) is ignored. */
const MERGE_REQUEST_ACTIONS = ['open', 'reopen', 'update', 'merge', 'close'] as const;

const mergeRequestEnvelope = z.object({
  object_attributes: z.object({ action: z.string().max(64).optional() }),
});

/** A branch name as git takes one: no control character, space, `~^:?*[\`, `..` or `@{`; not starting with `-`. */
const branchName = noControl(z.string())
  .min(1)
  .max(255)
  .regex(/^(?!-)(?!.*\.\.)(?!.*@\{)[^\s~^:?*[\\]+$/, 'a branch name')
  .refine((name) => !name.startsWith('/') && !name.endsWith('/') && !name.endsWith('.lock'), 'a branch name');

const mergeRequestPayload = z.object({
  project,
  user: z
    .object({ username: z.string().max(255).optional() })
    .partial()
    .optional()
    .catch(undefined),
  object_attributes: z.object({
    iid: z.number().int().positive().max(2_147_483_647),
    action: z.enum(MERGE_REQUEST_ACTIONS),
    source_branch: branchName,
    source_project_id: z.number().int().positive().optional(),
    target_project_id: z.number().int().positive().optional(),
    title: z.string().max(10_000).optional(),
    /** Present (a sha) on an update that brought new commits. */
    oldrev: sha.nullish(),
    last_commit: z
      .object({
        id: sha,
        title: z.string().max(10_000).optional(),
        message: z.string().max(100_000).optional(),
        timestamp: z.string().max(64).optional().catch(undefined),
        author: z
          .object({ name: z.string().max(1024).optional() })
          .partial()
          .optional(),
      })
      .nullish(),
  }),
});

/**
 * Parses a `Merge Request Hook` body (already JSON-decoded): the event, or why it is not acted on
 * (an action Slipway ignores). Throws PayloadError when an action it acts on comes malformed.
 */
export function parseMergeRequest(body: unknown): MergeRequestEvent | { ignored: string } {
  const envelope = parseWith(mergeRequestEnvelope, body);
  const action = envelope.object_attributes.action;
  if (action === undefined || !(MERGE_REQUEST_ACTIONS as readonly string[]).includes(action)) {
    return { ignored: `merge request action ${action ?? '(none)'} is not acted on` };
  }
  const payload = parseWith(mergeRequestPayload, body);
  const attributes = payload.object_attributes;
  const commit = attributes.last_commit;
  const builds = attributes.action !== 'merge' && attributes.action !== 'close';
  if (builds && !commit) throw new PayloadError('object_attributes.last_commit: missing');
  const committedAt = isoUtc(commit?.timestamp);
  const title = commit?.title ?? commit?.message?.split('\n', 1)[0];
  const id = payload.project.id;
  return {
    action: attributes.action,
    iid: attributes.iid,
    project: { ...(id !== undefined ? { id } : {}), path: payload.project.path_with_namespace },
    ...(attributes.source_project_id !== undefined ? { sourceProjectId: attributes.source_project_id } : {}),
    ...(attributes.target_project_id !== undefined ? { targetProjectId: attributes.target_project_id } : {}),
    sourceBranch: attributes.source_branch,
    title: attributes.title ?? '',
    head: {
      sha: commit?.id ?? '',
      ...(title !== undefined ? { title } : {}),
      ...(commit?.author?.name ? { author: commit.author.name } : {}),
      ...(committedAt ? { committedAt } : {}),
    },
    ...(attributes.oldrev ? { oldrev: attributes.oldrev } : {}),
    ...(payload.user?.username ? { user: payload.user.username } : {}),
  };
}

const systemEnvelope = z.object({
  event_name: z.string().max(256).optional(),
  object_kind: z.string().max(256).optional(),
});

const renamed = z.object({
  project_id: z.number().int().positive().optional(),
  path_with_namespace: nonEmpty,
  old_path_with_namespace: nonEmpty,
});

const destroyed = z.object({
  project_id: z.number().int().positive().optional(),
  path_with_namespace: nonEmpty,
});

const repositoryUpdate = z.object({
  project_id: z.number().int().positive().optional(),
  project,
  user_name: z.string().max(1024).optional(),
  changes: z
    .array(z.object({ before: sha, after: sha, ref: refName }))
    .min(1)
    .max(1000),
});

function parseWith<T>(schema: z.ZodType<T>, body: unknown): T {
  const result = schema.safeParse(body);
  if (!result.success) throw new PayloadError(describe(result.error));
  return result.data;
}

/**
 * Parses a system-hook body into the events Slipway acts on. `repository_update` may carry
 * several ref changes: each branch/tag change becomes a push. Throws PayloadError.
 */
export function parseSystemEvent(body: unknown): SystemEvent[] {
  const envelope = parseWith(systemEnvelope, body);
  const name = envelope.event_name ?? envelope.object_kind;
  if (name === undefined) throw new PayloadError('event_name: missing');
  switch (name) {
    case 'push':
    case 'tag_push':
      return [{ type: 'push', push: parsePush(body, name === 'push' ? 'branch' : 'tag') }];
    case 'repository_update': {
      const update = parseWith(repositoryUpdate, body);
      const id = update.project.id ?? update.project_id;
      return update.changes
        .filter((change) => /^refs\/(heads|tags)\/./.test(change.ref))
        .map((change) => ({
          type: 'push' as const,
          push: {
            kind: change.ref.startsWith('refs/tags/') ? ('tag' as const) : ('branch' as const),
            ref: change.ref,
            before: change.before,
            after: change.after,
            sha: change.after,
            project: { ...(id !== undefined ? { id } : {}), path: update.project.path_with_namespace },
            ...(update.project.git_ssh_url ? { repoUrl: update.project.git_ssh_url } : {}),
            ...(update.user_name ? { pusher: update.user_name } : {}),
          },
        }));
    }
    case 'project_rename':
    case 'project_transfer': {
      const event = parseWith(renamed, body);
      return [
        {
          type: 'project_renamed',
          ...(event.project_id !== undefined ? { projectId: event.project_id } : {}),
          oldPath: event.old_path_with_namespace,
          newPath: event.path_with_namespace,
        },
      ];
    }
    case 'project_destroy': {
      const event = parseWith(destroyed, body);
      return [
        {
          type: 'project_destroyed',
          ...(event.project_id !== undefined ? { projectId: event.project_id } : {}),
          path: event.path_with_namespace,
        },
      ];
    }
    default:
      return [{ type: 'other', name }];
  }
}
