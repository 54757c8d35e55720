/** A release notice for people (Slack): what happened to which commit, and how long it took. */
export interface ReleaseNotice {
  kind: 'live' | 'build_failed' | 'rollout_failed' | 'rolled_back' | 'awaiting_approval' | 'rejected' | 'expired';
  /** The release it is about (approvals: the one that waits, was rejected or expired). */
  release?: string;
  app: string;
  environment: string;
  commit: string;
  title: string;
  author: string;
  ref: string;
  buildSeconds?: number;
  rolloutSeconds?: number;
  reason?: string;
  /** A rollback: the release copied forward (no build ran for it). */
  rollbackOf?: string;
  /** Link to the build or release (e.g. GitLab commit page). */
  url?: string;
}

/** Tells people about releases. Slack incoming webhook on AWS and locally (console without one). */
export interface Notifier {
  notify(notice: ReleaseNotice): Promise<void>;
}
