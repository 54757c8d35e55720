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
  /** `merge_requests_events`: review apps (domain/review-apps.ts). @default false */
  mergeRequestsEvents?: boolean;
  enableSslVerification: true;
}

/** A GitLab environment, as Slipway reads it (`Entities::Environment`). */
export interface GitlabEnvironment {
  id: number;
  name: string;
  /** `available`, `stopping` or `stopped`. */
  state: string;
  externalUrl?: string;
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
  /**
   * `PUT /projects/:id/hooks/:hook_id`: the hook's URL, secret token and events replaced (a relink).
   * GitlabError kind 'not_found' when the hook is gone.
   */
  editHook(projectId: number, hookId: number, hook: GitlabHookSpec): Promise<void>;
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
  /** `POST /projects/:id/merge_requests/:merge_request_iid/notes`; returns the note's id. */
  createMergeRequestNote(projectId: number, iid: number, body: string): Promise<number>;
  /** `GET /projects/:id/environments?name=`: the environment of that name, undefined when there is none. */
  findEnvironment(projectId: number, name: string): Promise<GitlabEnvironment | undefined>;
  /** `POST /projects/:id/environments` (GitLab refuses a name the project has: GitlabError kind 'invalid'). */
  createEnvironment(
    projectId: number,
    environment: { name: string; externalUrl?: string; tier?: 'development' | 'other' },
  ): Promise<GitlabEnvironment>;
  /** `PUT /projects/:id/environments/:environment_id`: its external URL. */
  editEnvironment(projectId: number, environmentId: number, change: { externalUrl: string }): Promise<void>;
  /** `POST /projects/:id/environments/:environment_id/stop` (an environment already stopped stays so). */
  stopEnvironment(projectId: number, environmentId: number): Promise<void>;
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
