/**
 * Slipway's domain types. Plain data: nothing here knows AWS, GitLab or HTTP.
 * Timestamps are ISO 8601 UTC strings; ids are strings.
 */

export const APP_MODES = ['superseded', 'queued'] as const;
export type AppMode = (typeof APP_MODES)[number];

/** How a build takes its rollout turn: the app's mode, or `immediate` (a rollback: only the lock counts). */
export type RolloutMode = AppMode | 'immediate';
/** What asking for the rollout turn answers (domain/rollout.ts). */
export type RolloutTurn = 'acquired' | 'superseded' | 'wait';
/** The app's rollout lock: which build holds it, since when (ISO 8601). */
export interface RolloutLock {
  holder: string;
  acquiredAt: string;
}

export type AppStatus = 'active' | 'disabled';

/** An app: one GitLab project (and branch) released to one ECS service. */
export interface App {
  name: string;
  /** GitLab `path_with_namespace`, e.g. `group/sub/project`. */
  project: string;
  /** GitLab's numeric project id, known once the app is linked or a hook named it. */
  projectId?: number;
  /** Branch filter: an exact branch name or a `*` wildcard pattern. */
  branch: string;
  /** Tag pattern (`*` wildcards); tag pushes build only when set. */
  tags?: string;
  mode: AppMode;
  status: AppStatus;
  /** Stable, unguessable id in the hook URL; never changes for the app's life. */
  hookId: string;
  /** SHA-256 (hex) of the current webhook secret; the secret itself is never stored. */
  hookSecretHash?: string;
  /** Vault ciphertext of the Standard-Webhooks signing secret (`whsec_…`), when one is set. */
  signingSecretCiphertext?: string;
  /** Whether Slipway created the hook and deploy key in GitLab itself. */
  linked: boolean;
  /** GitLab's id of the project hook Slipway created (linked apps). */
  gitlabHookId?: number;
  /** GitLab's id of the read-only deploy key Slipway registered (linked apps). */
  deployKeyId?: number;
  /** Vault ciphertext (purpose `deploy-key`, this app) of the deploy key's OpenSSH private half. */
  deployKeyCiphertext?: string;
  /** SHA256 fingerprint of the deploy key's public half. */
  deployKeyFingerprint?: string;
  /** SSH clone URL of the project, as GitLab gave it at link time. */
  repoUrl?: string;
  environment?: string;
  /**
   * The push triggers of the app's environments beyond its first (a copy of theirs, kept with the
   * app by `envs create` and `envs delete`), so that a push is matched against every environment
   * with the one read the webhook makes (domain/ingest.ts).
   */
  environmentTriggers?: EnvironmentTrigger[];
  cluster?: string;
  service?: string;
  container?: string;
  dockerfile?: string;
  createdAt: string;
  updatedAt: string;
  /** Optimistic-concurrency counter, bumped by every write. */
  version: number;
}

/** An environment's push trigger: a branch pattern, a tag pattern, or both. */
export interface EnvironmentTrigger {
  name: string;
  branch?: string;
  tags?: string;
}

export const BUILD_STATUSES = ['queued', 'running', 'succeeded', 'failed', 'superseded', 'canceled'] as const;
export type BuildStatus = (typeof BUILD_STATUSES)[number];

/** `merge_request`: a review app's build of a merge request's head (domain/review-apps.ts). */
export const TRIGGERS = ['push', 'tag', 'manual', 'system_hook', 'merge_request'] as const;
export type Trigger = (typeof TRIGGERS)[number];

export interface Build {
  id: string;
  app: string;
  status: BuildStatus;
  /** 40-hex commit sha. */
  commit: string;
  /** Full ref, e.g. `refs/heads/main` or `refs/tags/v1.2.0`. */
  ref: string;
  /** Title of the built commit (first line), '' when GitLab did not send it. */
  message: string;
  author: string;
  trigger: Trigger;
  /**
   * The environment its release goes to; absent: the app's first environment. A merge request's
   * build goes to its review app, `review/<iid>` (domain/review-apps.ts).
   */
  environment?: string;
  /**
   * Further environments whose trigger the push matched too: once built, the build is released to
   * each of them as well, in its own execution (domain/fan-out.ts). One build, many releases.
   */
  alsoTo?: string[];
  createdAt: string;
  /**
   * When the built commit was made, in UTC: the head commit's own `timestamp` in GitLab's push
   * payload, or GitLab's `committed_date` for a manual deploy. Absent when GitLab did not say
   * (or said something unreadable). Lead time is measured from it (domain/metrics.ts).
   */
  committedAt?: string;
  startedAt?: string;
  endedAt?: string;
  /** Image digests by compose service (or `app` for a single Dockerfile). */
  images?: Record<string, string>;
  /** GitLab's delivery id (`Idempotency-Key`) the build was started from. */
  deliveryId?: string;
  /** SSH clone URL the build fetches from. */
  repoUrl?: string;
  /**
   * Workflow execution reference, as versions before 2026-12 stored it once the release
   * workflow was requested. No longer written: the execution is named after the build id, so its
   * reference follows from it (on AWS `arn:…:execution:<state machine>:<build id>`,
   * adapters/workflow/sfn-workflow.ts `executionArn`). Read only to know an old build started.
   */
  execution?: string;
  /** Why the build ended the way it did (failed step, superseding build, …). */
  reason?: string;
  /** Current build phase while running (CodeBuild phase names, or the buildspec's). */
  phase?: string;
  /** Where the build log is: a CloudWatch Logs `group:stream`, or a file in local mode. */
  logLocation?: string;
  /** The builder's reference to the run (CodeBuild build ARN, or a local run id). */
  builderRef?: string;
  /**
   * The release workflow's task token while it waits for this build to end: the build's end
   * (an event) completes the wait with it. Not a secret: completing a wait needs IAM rights too.
   */
  waitToken?: string;
  /** How the release workflow ended for this build; absent while it runs. */
  outcome?: ReleaseOutcome;
  /** The release made from this build, once there is one. */
  release?: string;
  /** How the final report fared (GitLab, Slack), recorded with the outcome. */
  report?: ReportRecord;
}

/** How a release workflow execution ended. */
export const RELEASE_OUTCOMES = ['live', 'superseded', 'failed', 'rolled_back', 'rejected', 'expired'] as const;
export type ReleaseOutcome = (typeof RELEASE_OUTCOMES)[number];

/** `ok`, `skipped`, or `failed: <why>` per channel (domain/reporting.ts StepOutcome). */
export interface ReportRecord {
  gitlab: string;
  slack: string;
}

/**
 * `awaiting_approval`: waits for a Maintainer's approval before its rollout (an environment with
 * `approval: maintainer`); it ends `rejected` or `expired` (7 days) without rolling out. Neither
 * counts as a failed change. `superseded`: a release made by fan-out that a newer push's release to
 * the same environment overtook before its rollout (superseded mode); not a failed change either.
 */
export const RELEASE_STATUSES = [
  'pending',
  'awaiting_approval',
  'deploying',
  'live',
  'replaced',
  'failed',
  'rolled_back',
  'rejected',
  'expired',
  'superseded',
] as const;
export type ReleaseStatus = (typeof RELEASE_STATUSES)[number];

export interface Release {
  id: string;
  app: string;
  status: ReleaseStatus;
  build: string;
  commit: string;
  images: Record<string, string>;
  createdAt: string;
  liveAt?: string;
  endedAt?: string;
  reason?: string;
  /** A rollback: the id of the release it copied forward (its images and build). */
  rollbackOf?: string;
  /**
   * The environment it is released to (docs/ENVIRONMENTS.md). Absent on releases made before
   * environments: those belong to the app's first environment.
   */
  environment?: string;
  /** A promotion: the id of the release (of another environment) whose images it releases. */
  promotedFrom?: string;
  /**
   * Released from its build to an environment beyond the build's own because the push matched
   * that environment's trigger too (domain/fan-out.ts): superseded/queued hold for it per
   * environment, as for the build's own release.
   */
  fannedOut?: boolean;
  /**
   * A configuration change (`slipway config set/unset`): the environment's live images released
   * again with the configuration's new `version`; the keys set and unset (names only, never values).
   */
  configChange?: { version: number; set: string[]; unset: string[] };
  /** Who asked for it: a GitLab username (console, or the push's author), or `admin` (the admin token). */
  requestedBy?: string;
  /** Since when it waits for approval (environments with `approval: maintainer`). */
  awaitingSince?: string;
  /** Who approved it, and when. */
  approvedBy?: string;
  approvedAt?: string;
  /** Who rejected it (`reason` says why when they did). */
  rejectedBy?: string;
  /** Tasks running and desired during the rollout (ECS), as last seen. */
  running?: number;
  desired?: number;
  /** GitLab's deployment for this release, once created. */
  deploymentId?: number;
  /** The deployer's reference to the rollout (ECS deployment id and revision; a local container). */
  rolloutRef?: string;
  /** The release workflow's task token while it waits for the rollout to end (see Build.waitToken). */
  waitToken?: string;
  /** How the final report fared (GitLab, Slack). */
  report?: ReportRecord;
}

/** The GitLab instance Slipway talks to. The token is kept only as vault ciphertext. */
export interface GitlabConnection {
  url: string;
  username: string;
  tokenCiphertext: string;
  tokenExpiresAt?: string;
  /** The token's scopes when it was checked. */
  scopes: string[];
  /**
   * Pinned SSH host keys of the instance, in known_hosts format: given at connect time
   * (`--known-hosts`) or scanned once by the CLI (trust on first use). Builds use only these.
   */
  knownHosts: string;
  connectedAt: string;
  /** The OAuth application people sign in to the console with (kept across reconnects of this instance). */
  oauth?: OauthApplication;
}

/** An OAuth application registered in GitLab for the console's "Sign in with GitLab". */
export interface OauthApplication {
  clientId: string;
  /** Vault ciphertext (purpose `oauth-client-secret`) of the client secret. */
  clientSecretCiphertext: string;
  setAt: string;
}

/** A webhook delivery Slipway has acted on, kept for de-duplication. */
export interface Delivery {
  /**
   * What kind of key, and whose: a project hook id (GitLab's `Idempotency-Key`),
   * `signed:<hookId>` (the Standard-Webhooks `webhook-id` of a signed delivery) or
   * `push:<app>` (the push itself, whichever hook brought it; functions/domain/ingest.ts).
   */
  source: string;
  /** The key: the Idempotency-Key, the webhook-id, or the push identity (a SHA-256). */
  key: string;
  app: string;
  build: string;
  receivedAt: string;
}

/**
 * Where an app runs, beyond its first environment (which the app's own `environment`, `branch`,
 * `tags`, `cluster`, `service` and `container` describe). Without a trigger it receives releases
 * by promotion only; with one, a matching push releases its build there too (docs/ENVIRONMENTS.md).
 */
export interface Environment {
  app: string;
  name: string;
  /** Push trigger: a branch pattern and/or a tag pattern (`*` wildcards), as the app's own. */
  branch?: string;
  tags?: string;
  cluster?: string;
  service?: string;
  container?: string;
  url?: string;
  approval: ApprovalRule;
  /**
   * With `approval: maintainer`, whether the person who asked for a release may approve it too
   * (default false: someone else must).
   */
  selfApproval?: boolean;
  /**
   * This environment is the template of the app's review apps (`envs create … --review-apps`):
   * it receives no releases itself; each merge request gets an environment `review/<iid>` made
   * from it (domain/review-apps.ts).
   */
  reviewApps?: ReviewAppsSettings;
  /** This environment is a review app, made by Slipway for a merge request. */
  review?: ReviewApp;
  createdAt: string;
}

/** How an app's review apps are made (the template environment's `reviewApps`). */
export interface ReviewAppsSettings {
  /** ECS: the service whose task definition and network settings each review app's service copies. */
  serviceTemplate?: string;
  /** At most this many review apps at once; at the cap the one idle longest is torn down first. */
  cap: number;
}

/** A review app: the merge request it runs, and what Slipway told it. */
export interface ReviewApp {
  /** The merge request's iid in the app's project. */
  iid: number;
  /** The template environment it was made from. */
  template: string;
  /** The merge request's source branch (in the app's own project). */
  sourceBranch: string;
  /** ECS: the template service it was cloned from. */
  serviceTemplate?: string;
  /** The release whose going live posted the merge request's one note with the URL. */
  announcedBy?: string;
}

export const APPROVAL_RULES = ['none', 'maintainer'] as const;
export type ApprovalRule = (typeof APPROVAL_RULES)[number];

/**
 * An app environment's configuration (docs/ENVIRONMENTS.md): its values as one vault ciphertext
 * (purpose `env-config`, bound to the app and environment) of a JSON object, the key names in the
 * clear (sorted) so they can be listed without opening it. `version` counts its writes (each
 * conditional on the one before).
 */
export interface EnvironmentConfig {
  app: string;
  environment: string;
  ciphertext: string;
  keys: string[];
  version: number;
  updatedAt: string;
}
