/**
 * GitLab events as the domain sees them, after the edge has validated and normalised
 * GitLab's payloads (functions/http/gitlab-payloads.ts).
 */

export const ZERO_SHA = '0000000000000000000000000000000000000000';

export interface ProjectRef {
  id?: number;
  path: string;
}

/** A push of one ref: a branch (`kind: 'branch'`) or a tag. */
export interface PushEvent {
  kind: 'branch' | 'tag';
  /** Full ref, `refs/heads/…` or `refs/tags/…`. */
  ref: string;
  before: string;
  after: string;
  /** The commit to build; GitLab's `checkout_sha`, else `after`. */
  sha: string;
  project: ProjectRef;
  /** SSH clone URL, when GitLab sent it. */
  repoUrl?: string;
  /** Title and author of the commit to build, when the payload lists it. */
  title?: string;
  author?: string;
  /** When the commit to build was made (ISO 8601 UTC), when the payload lists it with a valid timestamp. */
  committedAt?: string;
  /** Who pushed. */
  pusher?: string;
}

/**
 * A merge request event (`Merge Request Hook`) Slipway acts on: a review app is built
 * (`open`, `reopen`, or an `update` that brought new commits) or torn down (`merge`, `close`).
 */
export interface MergeRequestEvent {
  action: 'open' | 'reopen' | 'update' | 'merge' | 'close';
  /** The merge request's iid in its target project. */
  iid: number;
  /** The target project: the one whose hook sent it. */
  project: ProjectRef;
  /** Where the merge request's commits come from: another project than the target for a fork. */
  sourceProjectId?: number;
  targetProjectId?: number;
  /** The source branch's name (not a full ref). */
  sourceBranch: string;
  title: string;
  /** The head commit (`object_attributes.last_commit`). */
  head: { sha: string; title?: string; author?: string; committedAt?: string };
  /** `object_attributes.oldrev`: present on an update that brought new commits. */
  oldrev?: string;
  /** Who did it (`user.username`). */
  user?: string;
}

/** A system-hook event Slipway acts on; anything else is `other`. */
export type SystemEvent =
  | { type: 'push'; push: PushEvent }
  | { type: 'project_renamed'; projectId?: number; oldPath: string; newPath: string }
  | { type: 'project_destroyed'; projectId?: number; path: string }
  | { type: 'other'; name: string };

/** The short branch or tag name of a full ref. */
export function shortRef(ref: string): string {
  return ref.replace(/^refs\/(heads|tags)\//, '');
}

/** The first 8 hex digits of a commit sha, as people quote it. */
export function shortSha(sha: string): string {
  return sha.slice(0, 8);
}
