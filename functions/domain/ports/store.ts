import type {
  App,
  Build,
  BuildStatus,
  Delivery,
  Environment,
  EnvironmentConfig,
  GitlabConnection,
  Release,
  ReleaseOutcome,
  ReleaseStatus,
  ReportRecord,
  RolloutLock,
} from '../model';

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
    patch?: Partial<Pick<Release, ReleaseTransitionField>>,
  ): Promise<Release>;

  /*
   * The rollout lock and the live pointer are per environment: `lane` names an environment
   * beyond the app's first; the first environment's are the app's own (as before environments).
   */

  /** The rollout lock as it stands; undefined when nobody holds it. */
  getRolloutLock(app: string, lane?: string): Promise<RolloutLock | undefined>;
  /**
   * Takes the app's rollout lock for `build` as of `at`, with a conditional write: when nobody
   * holds it, when `build` holds it already, or (a lease taken over) when it is still exactly
   * `previous`. False when the condition failed: someone else holds it. Whose turn it is is
   * decided before, in the domain (domain/rollout.ts).
   */
  takeRolloutLock(app: string, build: string, at: string, previous?: RolloutLock, lane?: string): Promise<boolean>;
  /** Gives the rollout lock back if this build holds it (no-op otherwise). */
  releaseRollout(app: string, build: string, lane?: string): Promise<void>;
  /**
   * In one transaction: release `id` deploying → live, the previous live release (if any)
   * live → replaced, and the app's live pointer moved, so exactly one release is live.
   * StaleWriteError when any of them changed meanwhile.
   */
  promoteRelease(app: string, id: string, previousLiveId?: string, at?: string, lane?: string): Promise<Release>;
  /** The id of the live release (its live pointer), if any: one read, however long the history. */
  liveReleaseId(app: string, lane?: string): Promise<string | undefined>;

  /** The app's environments beyond its first, by name. */
  listEnvironments(app: string): Promise<Environment[]>;
  /** Records a new environment. ConflictError if the app has one of that name. */
  createEnvironment(environment: Environment): Promise<void>;
  /** Removes an environment, its live pointer, lock and configuration. NotFoundError if absent. */
  deleteEnvironment(app: string, name: string): Promise<void>;
  /**
   * Marks the review app `name` as announced by `release` (its merge request got the one note with
   * its URL), with a conditional write: false when something announced it already or it is gone.
   */
  claimReviewAnnouncement(app: string, name: string, release: string): Promise<boolean>;
  /** Takes back `release`'s claim (its note could not be posted), so a later release posts it. No-op otherwise. */
  dropReviewAnnouncement(app: string, name: string, release: string): Promise<void>;

  /** An app environment's configuration (the first environment's too, by its name), if any. */
  getEnvironmentConfig(app: string, environment: string): Promise<EnvironmentConfig | undefined>;
  /**
   * Writes an environment's configuration if the stored one still has `expectedVersion` (0: there
   * is none yet). StaleWriteError when it changed meanwhile.
   */
  putEnvironmentConfig(config: EnvironmentConfig, expectedVersion: number): Promise<void>;

  getGitlabConnection(): Promise<GitlabConnection | undefined>;
  putGitlabConnection(connection: GitlabConnection): Promise<void>;

  /** SHA-256 (hex) of the system-hook secret token, if system hooks are enabled. */
  getSystemHookTokenHash(): Promise<string | undefined>;
  setSystemHookTokenHash(hash: string | undefined): Promise<void>;
}

/** What a release's status change may record with it. */
export type ReleaseTransitionField =
  | 'liveAt'
  | 'endedAt'
  | 'reason'
  | 'waitToken'
  | 'awaitingSince'
  | 'approvedBy'
  | 'approvedAt'
  | 'rejectedBy';
