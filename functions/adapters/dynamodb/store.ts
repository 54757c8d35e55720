import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
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
} from '../../domain/model';
import type { ReleaseTransitionField, Store } from '../../domain/ports';
import { AppRecords } from './apps';
import { BuildRecords } from './builds';
import { ConfigRecords } from './config';
import { EnvironmentConfigRecords } from './environment-config';
import { EnvironmentRecords } from './environments';
import { ReleaseRecords } from './releases';
import { RolloutLockRecords } from './rollout-lock';
import { type DynamoDbStoreOptions, TableAccess } from './table-access';

export { DELIVERY_TTL_SECONDS, keys, ROLLOUT_WATCH_TTL_SECONDS } from './keys';
export type { DynamoDbStoreOptions } from './table-access';

/**
 * The state store on one DynamoDB table (single-table design, docs/DATA-MODEL.md).
 * Every state change is a conditional write; nothing here scans the table.
 *
 * One module per entity does the work, over the shared table access (table-access.ts); every
 * key and item is in keys.ts. A write that spans entities (an app and its hook pointer, a build
 * with its delivery keys and start marker, a promotion with the live pointer) is one transaction
 * in the module of the entity it is about.
 */
export class DynamoDbStore implements Store {
  /** The document client every module sends through (bench/release.ts counts its calls there). */
  private readonly client: DynamoDBDocumentClient;
  private readonly apps: AppRecords;
  private readonly builds: BuildRecords;
  private readonly releases: ReleaseRecords;
  private readonly rollouts: RolloutLockRecords;
  private readonly environments: EnvironmentRecords;
  private readonly environmentConfigs: EnvironmentConfigRecords;
  private readonly config: ConfigRecords;

  constructor(options: DynamoDbStoreOptions) {
    this.client = options.client;
    const table = new TableAccess({ ...options, client: this.client });
    this.apps = new AppRecords(table);
    this.builds = new BuildRecords(table);
    this.releases = new ReleaseRecords(table);
    this.rollouts = new RolloutLockRecords(table);
    this.environments = new EnvironmentRecords(table);
    this.environmentConfigs = new EnvironmentConfigRecords(table);
    this.config = new ConfigRecords(table);
  }

  // ---- apps (apps.ts) -----------------------------------------------------------------------

  createApp(app: App): Promise<void> {
    return this.apps.createApp(app);
  }

  getApp(name: string): Promise<App | undefined> {
    return this.apps.getApp(name);
  }

  listApps(): Promise<App[]> {
    return this.apps.listApps();
  }

  findAppByHookId(hookId: string): Promise<App | undefined> {
    return this.apps.findAppByHookId(hookId);
  }

  findAppsByProject(project: { id?: number; path?: string }): Promise<App[]> {
    return this.apps.findAppsByProject(project);
  }

  updateApp(
    name: string,
    expectedVersion: number,
    patch: Partial<Omit<App, 'name' | 'hookId' | 'createdAt' | 'version'>>,
  ): Promise<App> {
    return this.apps.updateApp(name, expectedVersion, patch);
  }

  deleteApp(name: string): Promise<void> {
    return this.apps.deleteApp(name);
  }

  // ---- builds (builds.ts) -------------------------------------------------------------------

  recordBuild(
    build: Build,
    delivery?: Omit<Delivery, 'build' | 'app'> | ReadonlyArray<Omit<Delivery, 'build' | 'app'>>,
  ): Promise<{ build: Build; duplicate: boolean }> {
    return this.builds.recordBuild(build, delivery);
  }

  getBuild(app: string, id: string): Promise<Build | undefined> {
    return this.builds.getBuild(app, id);
  }

  listBuilds(app: string, options?: { limit?: number }): Promise<Build[]> {
    return this.builds.listBuilds(app, options);
  }

  listBuildsSince(app: string, since: string): Promise<Build[]> {
    return this.builds.listBuildsSince(app, since);
  }

  transitionBuild(
    app: string,
    id: string,
    from: BuildStatus,
    to: BuildStatus,
    patch?: Partial<Pick<Build, 'startedAt' | 'endedAt' | 'images' | 'reason'>>,
  ): Promise<Build> {
    return this.builds.transitionBuild(app, id, from, to, patch);
  }

  listUnstartedBuilds(createdBefore: string): Promise<Array<{ app: string; build: string }>> {
    return this.builds.listUnstartedBuilds(createdBefore);
  }

  clearUnstartedBuild(app: string, id: string): Promise<void> {
    return this.builds.clearUnstartedBuild(app, id);
  }

  updateBuildRun(
    app: string,
    id: string,
    patch: Partial<Pick<Build, 'builderRef' | 'logLocation' | 'phase' | 'waitToken'>>,
  ): Promise<void> {
    return this.builds.updateBuildRun(app, id, patch);
  }

  recordBuildOutcome(
    app: string,
    id: string,
    patch: { outcome: ReleaseOutcome; release?: string; report?: ReportRecord },
  ): Promise<void> {
    return this.builds.recordBuildOutcome(app, id, patch);
  }

  // ---- releases, live pointer, rollout watches (releases.ts) --------------------------------

  createRelease(release: Release): Promise<void> {
    return this.releases.createRelease(release);
  }

  getRelease(app: string, id: string): Promise<Release | undefined> {
    return this.releases.getRelease(app, id);
  }

  listReleases(app: string, options?: { limit?: number }): Promise<Release[]> {
    return this.releases.listReleases(app, options);
  }

  listReleasesSince(app: string, since: string): Promise<Release[]> {
    return this.releases.listReleasesSince(app, since);
  }

  transitionRelease(
    app: string,
    id: string,
    from: ReleaseStatus,
    to: ReleaseStatus,
    patch?: Partial<Pick<Release, ReleaseTransitionField>>,
  ): Promise<Release> {
    return this.releases.transitionRelease(app, id, from, to, patch);
  }

  updateRelease(
    app: string,
    id: string,
    patch: Partial<Pick<Release, 'running' | 'desired' | 'deploymentId' | 'report' | 'rolloutRef' | 'waitToken'>>,
  ): Promise<void> {
    return this.releases.updateRelease(app, id, patch);
  }

  watchRollout(watch: string, release: { app: string; release: string }): Promise<void> {
    return this.releases.watchRollout(watch, release);
  }

  findRolloutWatch(watch: string): Promise<{ app: string; release: string } | undefined> {
    return this.releases.findRolloutWatch(watch);
  }

  liveReleaseId(app: string, lane?: string): Promise<string | undefined> {
    return this.releases.liveReleaseId(app, lane);
  }

  promoteRelease(app: string, id: string, previousLiveId?: string, at?: string, lane?: string): Promise<Release> {
    return this.releases.promoteRelease(app, id, previousLiveId, at, lane);
  }

  // ---- environments (environments.ts) --------------------------------------------------------

  listEnvironments(app: string): Promise<Environment[]> {
    return this.environments.listEnvironments(app);
  }

  createEnvironment(environment: Environment): Promise<void> {
    return this.environments.createEnvironment(environment);
  }

  deleteEnvironment(app: string, name: string): Promise<void> {
    return this.environments.deleteEnvironment(app, name);
  }

  claimReviewAnnouncement(app: string, name: string, release: string): Promise<boolean> {
    return this.environments.claimReviewAnnouncement(app, name, release);
  }

  dropReviewAnnouncement(app: string, name: string, release: string): Promise<void> {
    return this.environments.dropReviewAnnouncement(app, name, release);
  }

  // ---- environments' configurations (environment-config.ts) ---------------------------------

  getEnvironmentConfig(app: string, environment: string): Promise<EnvironmentConfig | undefined> {
    return this.environmentConfigs.getEnvironmentConfig(app, environment);
  }

  putEnvironmentConfig(config: EnvironmentConfig, expectedVersion: number): Promise<void> {
    return this.environmentConfigs.putEnvironmentConfig(config, expectedVersion);
  }

  // ---- the rollout lock (rollout-lock.ts) ---------------------------------------------------

  getRolloutLock(app: string, lane?: string): Promise<RolloutLock | undefined> {
    return this.rollouts.getRolloutLock(app, lane);
  }

  takeRolloutLock(app: string, build: string, at: string, previous?: RolloutLock, lane?: string): Promise<boolean> {
    return this.rollouts.takeRolloutLock(app, build, at, previous, lane);
  }

  releaseRollout(app: string, build: string, lane?: string): Promise<void> {
    return this.rollouts.releaseRollout(app, build, lane);
  }

  // ---- configuration (config.ts) ------------------------------------------------------------

  getGitlabConnection(): Promise<GitlabConnection | undefined> {
    return this.config.getGitlabConnection();
  }

  putGitlabConnection(connection: GitlabConnection): Promise<void> {
    return this.config.putGitlabConnection(connection);
  }

  getSystemHookTokenHash(): Promise<string | undefined> {
    return this.config.getSystemHookTokenHash();
  }

  setSystemHookTokenHash(hash: string | undefined): Promise<void> {
    return this.config.setSystemHookTokenHash(hash);
  }
}
