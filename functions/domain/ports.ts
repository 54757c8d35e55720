import type {
  App,
  Build,
  BuildStatus,
  Delivery,
  GitlabConnection,
  Release,
  ReleaseOutcome,
  ReleaseStatus,
  ReportRecord,
  RolloutLock,
} from './model';

/**
 * The state store. One adapter per world: DynamoDB (AWS and local mode, through DynamoDB Local).
 * Every state change is a conditional write; a lost race surfaces as StaleWriteError or
 * ConflictError, never as a silent overwrite. No method scans the table.
 */
export interface Store {
  /** Creates the app and its hook pointer together. ConflictError if the name is taken. */
  createApp(app: App): Promise<void>;
  getApp(name: string): Promise<App | undefined>;
  /** All apps, sorted by name. */
  listApps(): Promise<App[]>;
  /** Looks an app up by the id in its hook URL (strongly consistent; one read). */
  findAppByHookId(hookId: string): Promise<App | undefined>;
  /** Apps tied to a GitLab project: by id where known, else by path (case-insensitive). */
  findAppsByProject(project: { id?: number; path?: string }): Promise<App[]>;
  /**
   * Applies `patch` if the stored app still has `expectedVersion`; bumps version and updatedAt.
   * StaleWriteError when it changed meanwhile, NotFoundError when it is gone. Returns the new app.
   * The app's hook pointer is kept in step (it carries a copy of the app for `findAppByHookId`).
   */
  updateApp(
    name: string,
    expectedVersion: number,
    patch: Partial<Omit<App, 'name' | 'hookId' | 'createdAt' | 'version'>>,
  ): Promise<App>;
  /** Removes the app, its hook pointer, its builds, releases and deliveries. NotFoundError if absent. */
  deleteApp(name: string): Promise<void>;

  /**
   * Records an accepted push: the build (status `queued`), its start marker (found by
   * `listUnstartedBuilds` until the build is handed to the builder — `updateBuildRun` with a
   * `builderRef` — or leaves `queued`) and every delivery key given (GitLab's
   * Idempotency-Key, the signed webhook-id, the push itself), in one transaction. If any of the
   * deliveries was recorded before, nothing is written and the earlier build is returned with
   * `duplicate: true` (the first key given that names a build wins).
   */
  recordBuild(
    build: Build,
    delivery?: Omit<Delivery, 'build' | 'app'> | ReadonlyArray<Omit<Delivery, 'build' | 'app'>>,
  ): Promise<{ build: Build; duplicate: boolean }>;
  getBuild(app: string, id: string): Promise<Build | undefined>;
  /** Newest first. */
  listBuilds(app: string, options?: { limit?: number }): Promise<Build[]>;
  /** Every build of the app created at or after `since` (ISO 8601), oldest first: one key range. */
  listBuildsSince(app: string, since: string): Promise<Build[]>;
  /**
   * Moves a build from `from` to `to` (checked against the state machine and, conditionally,
   * against the stored status), applying `patch`. IllegalTransitionError / StaleWriteError.
   * A build leaving `queued` loses its start marker.
   */
  transitionBuild(
    app: string,
    id: string,
    from: BuildStatus,
    to: BuildStatus,
    patch?: Partial<Pick<Build, 'startedAt' | 'endedAt' | 'images' | 'reason'>>,
  ): Promise<Build>;
  /**
   * Builds recorded but never started (their start marker is still there), created before
   * `createdBefore` (ISO 8601), oldest first, across every app: one Query, however long the
   * history. Only ids: the caller reads each build.
   */
  listUnstartedBuilds(createdBefore: string): Promise<Array<{ app: string; build: string }>>;
  /** Removes a build's start marker (the build started, moved on, or is gone). No-op when absent. */
  clearUnstartedBuild(app: string, id: string): Promise<void>;
  /**
   * Records how a queued or running build runs: the builder's reference, its log location,
   * its current phase. StaleWriteError once the build has ended, NotFoundError if absent.
   * A `builderRef` means the workflow runs: the build's start marker goes.
   */
  updateBuildRun(
    app: string,
    id: string,
    patch: Partial<Pick<Build, 'builderRef' | 'logLocation' | 'phase' | 'waitToken'>>,
  ): Promise<void>;

  /**
   * Records how the release workflow ended for a build (any status): its outcome, its release,
   * how the report fared. NotFoundError if the build is gone.
   */
  recordBuildOutcome(
    app: string,
    id: string,
    patch: { outcome: ReleaseOutcome; release?: string; report?: ReportRecord },
  ): Promise<void>;

  createRelease(release: Release): Promise<void>;
  /**
   * Records what the workflow learns about a release that is not its status: rollout progress,
   * the GitLab deployment, how the report fared. NotFoundError if the release is gone.
   */
  updateRelease(
    app: string,
    id: string,
    patch: Partial<Pick<Release, 'running' | 'desired' | 'deploymentId' | 'report' | 'rolloutRef' | 'waitToken'>>,
  ): Promise<void>;
  /**
   * Remembers which release a rollout is, by the id its rollout events name (`watch`), for a
   * few days: events carry only that id. Idempotent.
   */
  watchRollout(watch: string, release: { app: string; release: string }): Promise<void>;
  /** The release a rollout event's id names, if it is one of Slipway's. */
  findRolloutWatch(watch: string): Promise<{ app: string; release: string } | undefined>;
  getRelease(app: string, id: string): Promise<Release | undefined>;
  /** Newest first. */
  listReleases(app: string, options?: { limit?: number }): Promise<Release[]>;
  /** Every release of the app created at or after `since` (ISO 8601), oldest first: one key range. */
  listReleasesSince(app: string, since: string): Promise<Release[]>;
  transitionRelease(
    app: string,
    id: string,
    from: ReleaseStatus,
    to: ReleaseStatus,
    patch?: Partial<Pick<Release, 'liveAt' | 'endedAt' | 'reason'>>,
  ): Promise<Release>;

  /** The app's rollout lock as it stands; undefined when nobody holds it. */
  getRolloutLock(app: string): Promise<RolloutLock | undefined>;
  /**
   * Takes the app's rollout lock for `build` as of `at`, with a conditional write: when nobody
   * holds it, when `build` holds it already, or (a lease taken over) when it is still exactly
   * `previous`. False when the condition failed: someone else holds it. Whose turn it is is
   * decided before, in the domain (domain/rollout.ts).
   */
  takeRolloutLock(app: string, build: string, at: string, previous?: RolloutLock): Promise<boolean>;
  /** Gives the rollout lock back if this build holds it (no-op otherwise). */
  releaseRollout(app: string, build: string): Promise<void>;
  /**
   * In one transaction: release `id` deploying → live, the previous live release (if any)
   * live → replaced, and the app's live pointer moved, so exactly one release is live.
   * StaleWriteError when any of them changed meanwhile.
   */
  promoteRelease(app: string, id: string, previousLiveId?: string, at?: string): Promise<Release>;
  /** The id of the app's live release (its live pointer), if any: one read, however long the history. */
  liveReleaseId(app: string): Promise<string | undefined>;

  getGitlabConnection(): Promise<GitlabConnection | undefined>;
  putGitlabConnection(connection: GitlabConnection): Promise<void>;

  /** SHA-256 (hex) of the system-hook secret token, if system hooks are enabled. */
  getSystemHookTokenHash(): Promise<string | undefined>;
  setSystemHookTokenHash(hash: string | undefined): Promise<void>;
}

/**
 * Starts the release workflow for a recorded build. Idempotent per build id: the execution is
 * named after the build (the release for a rollback), so starting it again while it runs, or
 * after it ended, starts nothing new on AWS. Nothing stores the reference: it follows from the
 * name (on AWS `arn:…:execution:<state machine>:<build id>`).
 */
export interface Workflow {
  /**
   * Returns a reference to the execution (an ARN on AWS). With `release`, a rollback: that
   * (copied-forward) release is rolled out and the build is skipped.
   */
  startRelease(input: { app: string; build: string; release?: string }): Promise<string>;
}

/** Encrypts secrets at rest. The context binds a ciphertext to its purpose and app. */
export interface Vault {
  encrypt(plaintext: string, context: VaultContext): Promise<string>;
  decrypt(ciphertext: string, context: VaultContext): Promise<string>;
}

export interface VaultContext {
  purpose: 'gitlab-token' | 'webhook-signing-secret' | 'deploy-key' | 'oauth-client-secret';
  app?: string;
  /**
   * The normalised GitLab instance URL a GitLab token or OAuth client secret is for (required
   * for those two purposes): a ciphertext opens only for the instance it was sealed for, so a
   * URL rewritten in the table gets no token sent elsewhere.
   */
  instance?: string;
}

/** Wall clock and randomness, injectable so tests are deterministic where they need to be. */
export interface Clock {
  now(): Date;
}

/** What GitLab says about the token Slipway was given. */
export interface GitlabTokenInfo {
  username: string;
  scopes: string[];
  /** ISO date (GitLab gives a day), when the token expires. */
  expiresAt?: string;
}

export interface GitlabProject {
  id: number;
  path: string;
  sshUrl: string;
}

export interface GitlabHookSpec {
  url: string;
  token: string;
  pushEvents: true;
  tagPushEvents: boolean;
  /** GitLab's `push_events_branch_filter` (wildcards allowed). */
  branchFilter: string;
  enableSslVerification: true;
}

/**
 * The few GitLab REST calls Slipway makes, on behalf of one connection (URL + token).
 * Failures are GitlabError with a kind the caller can explain.
 */
export interface GitlabApi {
  /** `GET /personal_access_tokens/self` + `GET /user`. */
  inspectToken(): Promise<GitlabTokenInfo>;
  /** `GET /projects/:path`. */
  getProject(path: string): Promise<GitlabProject>;
  /** `POST /projects/:id/hooks`; returns GitLab's hook id. */
  addHook(projectId: number, hook: GitlabHookSpec): Promise<number>;
  /** `DELETE /projects/:id/hooks/:hook_id`; a hook already gone is not an error. */
  removeHook(projectId: number, hookId: number): Promise<void>;
  /** `POST /projects/:id/deploy_keys` with `can_push: false`; returns GitLab's key id. */
  addDeployKey(projectId: number, key: { title: string; key: string }): Promise<number>;
  /** `DELETE /projects/:id/deploy_keys/:key_id`; a key already gone is not an error. */
  removeDeployKey(projectId: number, keyId: number): Promise<void>;
  /** `POST /projects/:id/statuses/:sha`. */
  setCommitStatus(projectId: number, sha: string, status: GitlabCommitStatus): Promise<void>;
  /** `POST /projects/:id/deployments`; returns GitLab's deployment id. */
  createDeployment(projectId: number, deployment: GitlabDeploymentSpec): Promise<number>;
  /** `PUT /projects/:id/deployments/:deployment_id`. */
  updateDeployment(projectId: number, deploymentId: number, status: GitlabDeploymentStatus): Promise<void>;
  /**
   * Resolves a branch name, tag name, full ref (`refs/heads/x`, `refs/tags/v1`) or commit sha to
   * the commit it names: `GET /projects/:id/repository/branches/:b`, then `…/tags/:t`, then
   * `…/commits/:sha`. NotFound (GitlabError kind 'not_found') when it names nothing.
   */
  resolveRef(projectId: number, ref: string): Promise<GitlabResolvedRef>;
  /** GET /projects/:id/members/all/:user_id (inherited and invited members included): the user's access level (10 guest … 50 owner), undefined when not a member. */
  memberAccessLevel(project: number | string, userId: number): Promise<number | undefined>;
  /** `GET /projects/:id/hooks/:hook_id`: the hook and whether GitLab delivers to it; undefined when gone. */
  getHook(projectId: number, hookId: number): Promise<GitlabHookState | undefined>;
  /**
   * `POST /projects/:id/hooks/:hook_id/test/push_events`: GitLab delivers a test push (the default
   * branch's latest commits) at once; a 2xx answer re-enables a hook GitLab disabled. A GitlabError
   * (kind 'invalid') when the delivery did not get a 2xx.
   */
  testHook(projectId: number, hookId: number): Promise<void>;
  /** `GET /projects/:id/deploy_keys/:key_id`: whether the deploy key is still enabled on the project. */
  hasDeployKey(projectId: number, keyId: number): Promise<boolean>;
}

/**
 * GitLab's `alert_status` of a hook: `temporarily_disabled` after 4 failed deliveries in a row
 * (until `disabled_until`, backing off up to a day), `disabled` after 40 (until re-enabled).
 */
export type GitlabHookAlertStatus = 'executable' | 'temporarily_disabled' | 'disabled';

export interface GitlabHookState {
  id: number;
  url: string;
  alertStatus: GitlabHookAlertStatus;
  /** ISO 8601, while temporarily disabled. */
  disabledUntil?: string;
}

export interface GitlabResolvedRef {
  /** Full ref: `refs/heads/<branch>` or `refs/tags/<tag>`; for a bare sha, the sha itself. */
  ref: string;
  /** 40-hex commit sha. */
  sha: string;
  title: string;
  authorName: string;
  authorEmail?: string;
  /** GitLab's web URL of the commit, when it gives one. */
  webUrl?: string;
  /** The commit's `committed_date` as ISO 8601 UTC, when GitLab gives a readable one. */
  committedAt?: string;
}

export interface GitlabCommitStatus {
  state: 'pending' | 'running' | 'success' | 'failed' | 'canceled';
  /** The status's name in GitLab's UI, e.g. `slipway/web`. */
  name: string;
  ref?: string;
  targetUrl?: string;
  description?: string;
}

export type GitlabDeploymentStatus = 'created' | 'running' | 'success' | 'failed' | 'canceled';

export interface GitlabDeploymentSpec {
  environment: string;
  sha: string;
  /** Branch or tag name (not the full ref). */
  ref: string;
  tag: boolean;
  status: GitlabDeploymentStatus;
}

export type GitlabApiFactory = (connection: { url: string; token: string }) => GitlabApi;

/** Makes deploy keys: an ed25519 pair in OpenSSH formats. */
export interface DeployKeyGenerator {
  generate(comment: string): { publicKey: string; privateKey: string; fingerprint: string };
}

/** Reads pinned known_hosts text: which hosts ([host]:port) it has keys for, and their fingerprints. */
export interface KnownHostsReader {
  entries(knownHosts: string): Array<{ hosts: string[]; fingerprint: string }>;
}

/** Everything a build needs, none of it secret in plaintext (the deploy key is vault ciphertext). */
export interface BuildJob {
  buildId: string;
  app: string;
  commit: string;
  ref: string;
  /** SSH clone URL. */
  repoUrl: string;
  /** Vault ciphertext of the deploy key (purpose `deploy-key`, this app): decrypted inside the build only. */
  deployKeyCiphertext: string;
  /** Pinned known_hosts text for the GitLab host. */
  knownHosts: string;
  /** Image repository the build pushes to (ECR URI on AWS, a local name in local mode). */
  imageRepository: string;
  /** Dockerfile path in the repo when there is no docker-compose.yml. */
  dockerfile: string;
}

/** What a finished build reports. */
export interface BuildOutcome {
  status: 'succeeded' | 'failed';
  /** Image digests by compose service, or `app` for a single Dockerfile. */
  images: Record<string, string>;
  /** The failing step, when failed (e.g. `fetch: git fetch …`). */
  reason?: string;
}

/**
 * Runs builds: CodeBuild on AWS (status flows back through build-state events), the same
 * buildspec run by the local runner in local mode. `start` returns a reference to the run and
 * where its log is.
 */
export interface Builder {
  start(job: BuildJob): Promise<{ ref: string; logLocation: string }>;
  /** Stops a build that is no longer wanted (superseded); a build already ended is left alone. */
  cancel?(ref: string, reason: string): Promise<void>;
  /**
   * Asks the builder how a run stands (CodeBuild BatchGetBuilds; the local runner's memory).
   * Only for the one recheck after a wait timed out: builds report their end by events.
   */
  describe?(ref: string): Promise<BuildRunState>;
}

/** How a run stands when asked: still running, or ended as it would have reported. */
export type BuildRunState =
  | { status: 'running' }
  | { status: 'succeeded' | 'failed' | 'canceled'; images?: Record<string, string>; reason?: string };

/**
 * Completes the release workflow's waits (Step Functions task tokens: SendTaskSuccess on AWS,
 * the local executor's waits in local mode). A wait is completed once; `succeed` answers false
 * when nobody waits on the token any more (already completed, timed out, or unknown), which is
 * not an error: events may come twice or late.
 */
export interface TaskTokens {
  succeed(token: string, output: Record<string, unknown>): Promise<boolean>;
}

/** Image repositories, one per app. */
export interface Registry {
  /** Creates the app's repository if missing (immutable tags, scan on push, lifecycle) and returns its URI. */
  ensureRepository(app: string): Promise<string>;
}

/** Reads a build's log from where the builder wrote it, from a cursor on. */
export interface BuildLogs {
  read(logLocation: string, cursor?: string): Promise<{ lines: string[]; cursor: string }>;
}

/** A release notice for people (Slack): what happened to which commit, and how long it took. */
export interface ReleaseNotice {
  kind: 'live' | 'build_failed' | 'rollout_failed' | 'rolled_back';
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

/** Where an app runs. On AWS an ECS service; locally a container named after the app. */
export interface DeployTarget {
  app: string;
  cluster?: string;
  service?: string;
  /** Container in the task definition whose image changes (single-image apps); compose services map by name. */
  container?: string;
}

export type RolloutState = 'in_progress' | 'completed' | 'failed' | 'rolled_back';

export interface RolloutStatus {
  state: RolloutState;
  running?: number;
  desired?: number;
  reason?: string;
}

/**
 * Rolls images out. ECS on AWS (new task definition revision from the service's current one,
 * UpdateService with the deployment circuit breaker and rollback); `docker run` with a health
 * check locally, replacing the old container only once the new one is healthy.
 */
export interface Deployer {
  /** Prepares what will run: a new task definition revision (its ARN) or a local run spec. */
  prepare(target: DeployTarget, images: Record<string, string>, imageRepository: string): Promise<{ revision: string }>;
  /**
   * Starts the rollout of a prepared revision; returns a reference to follow it (`deployment`)
   * and the id the platform's rollout events name it by (`watch`: the ECS deployment id; the
   * local container's name).
   */
  rollout(target: DeployTarget, revision: string): Promise<{ deployment: string; watch?: string }>;
  /** Where the rollout stands. */
  status(target: DeployTarget, deployment: string): Promise<RolloutStatus>;
}

/**
 * What the deployment runs on, as `slipway doctor` checks it: the CodeBuild project and the state
 * machine on AWS; locally the workflow definition, the buildspec and the docker CLI. Each finding
 * is a fact with what to do about it; the adapter classifies its own errors.
 */
export interface PlatformProbe {
  probe(): Promise<PlatformFinding[]>;
}

export interface PlatformFinding {
  /** Stable id, e.g. `aws.codebuild-project`, `local.docker`. */
  id: string;
  title: string;
  ok: boolean;
  /** One line: what was found. */
  detail: string;
  /** One line: what to do, when not ok. */
  advice?: string;
}
