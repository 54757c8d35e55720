import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { type CryptoKey, calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose';
import sshpk from 'sshpk';
import { gitlabExample } from './gitlab-events';

/**
 * A small GitLab for tests: a real HTTP server on a free loopback port answering the REST v4
 * endpoints Slipway uses the way GitLab.com does (17.x): authentication with `PRIVATE-TOKEN`
 * (what @gitbeaker/rest sends), `Authorization: Bearer` or `?private_token=`; 401 for unknown,
 * revoked or expired tokens; 403 `insufficient_scope` when the token's scopes do not cover the
 * route; 404 for projects the user cannot see; 403 below the Maintainer role; 400/422 for bad
 * parameters. Parameter presence is checked before the project is looked up, as Grape does.
 * Every request is recorded.
 *
 * Each project has a small repository model (`addCommit`): commits with the branches and tags
 * pointing at them, answered by `GET /projects/:id/repository/branches/:branch`, `…/tags/:tag`
 * and `…/commits/:sha` (a full sha, a tag or branch name, or a unique short sha, as GitLab's
 * `project.commit` finds them). Names with slashes must come URL-encoded (`feature%2Fx`): GitLab's
 * routes for these take no `/` in the name, so a raw slash is a different route and a 404.
 * Posting statuses does not consult the model: any 7 to 40 hex digits are taken as a commit.
 *
 * Commit statuses and deployments follow GitLab's state machines (see `postCommitStatus` and
 * `putDeployment`): a status is found again by sha + ref + name while it is pending or running,
 * else a new one is started; a transition GitLab refuses answers 400 with GitLab's message.
 *
 * Project membership: `GET /projects/:id/members/all/:user_id` answers a user's role (`setMember`
 * changes it at run time).
 *
 * Review apps: merge requests (`addMergeRequest`) with their notes (`POST
 * /projects/:id/merge_requests/:iid/notes`, 404 for a merge request the project has not), and
 * environments (`GET/POST /projects/:id/environments`, `PUT …/:environment_id`, `POST …/stop`)
 * as `API::Environments` answers them: a name taken is 400 `has already been taken`, an external
 * URL must be http(s), stopping a stopped environment answers 200 and leaves it so; a deployment
 * to a stopped environment makes it available again. `deliverMergeRequestEvent` delivers GitLab's
 * example `Merge Request Hook` (made to say this merge request) to the project's hooks that
 * subscribe to merge request events, as GitLab would, with the hook's secret token.
 *
 * Hook health as GitLab keeps it (`WebHooks::AutoDisabling`): every failed delivery counts, the 4th
 * in a row disables the hook temporarily (`alert_status: temporarily_disabled`, `disabled_until`
 * one minute on, doubling with each further failure up to a day), the 40th for good (`disabled`);
 * a delivery answered 2xx re-enables it. `failDeliveries` records failed deliveries the way
 * GitLab does; `POST /projects/:id/hooks/:hook_id/test/:trigger` really delivers a test push (the
 * default branch's latest commits) to the hook's URL, synchronously, and answers 201 when it got
 * a 2xx, else 422 (5 tests a minute per user, then 429, as GitLab limits them).
 *
 * GitLab as an OpenID Connect provider (Doorkeeper + doorkeeper-openid_connect): discovery at
 * `/.well-known/openid-configuration`, an RS256 JWKS at `/oauth/discovery/keys`, the
 * authorization code flow at `/oauth/authorize` (a consent page with "Authorize" and "Deny",
 * for the user `signInAs` names; PKCE S256 required), `/oauth/token` (client_secret_basic or
 * _post; codes single use, 10 minutes) and `/oauth/userinfo`. Errors that cannot be sent back
 * safely (unknown client, unregistered redirect URI) are a 400 page, never a redirect. OAuth
 * access tokens count only for their scopes: with `openid read_user` no project route answers.
 */

export type AccessLevel = 'guest' | 'planner' | 'reporter' | 'developer' | 'maintainer' | 'owner';

export interface StandinOauthApplicationSpec {
  /** GitLab's "Application ID" (`uid`). @default 64 random hex digits */
  clientId?: string;
  /** @default `gloas-` and 64 random hex digits */
  clientSecret?: string;
  /** The one redirect URI registered; `/oauth/authorize` takes exactly this one. */
  redirectUri: string;
  /** Scopes the application may ask for, e.g. `['openid', 'read_user']`. */
  scopes: string[];
  /** The name the consent page shows. @default 'Slipway' */
  name?: string;
}

export interface StandinUserSpec {
  username: string;
  /**
   * A personal access token for the user (call again with the same username to add more); none
   * for a user who only signs in (OAuth).
   */
  token?: string;
  /** The token's scopes. @default [] */
  scopes?: string[];
  /** ISO day (`2027-01-31`); the token answers 401 "Token has expired." from that day on. */
  expiresAt?: string;
}

export interface StandinProjectSpec {
  /** Full path, `group/sub/project`. */
  path: string;
  id?: number;
  /** `ssh_url_to_repo`; default `git@<stand-in host>:<path>.git`. */
  sshUrl?: string;
  defaultBranch?: string;
  /** Who can see the project and with which role. Default: every user is a maintainer. */
  members?: Record<string, AccessLevel>;
}

/** A project as GitLab presents it (`GET /projects/:id`). */
export type StandinProject = Record<string, unknown> & {
  id: number;
  path_with_namespace: string;
  ssh_url_to_repo: string;
};

/** A project hook as GitLab stores it: what the API shows plus the secret `token` it never shows. */
export type StandinHook = Record<string, unknown> & {
  id: number;
  project_id: number;
  url: string;
  token: string | null;
  push_events: boolean;
  tag_push_events: boolean;
  push_events_branch_filter: string;
  enable_ssl_verification: boolean;
};

/** A deploy key enabled on a project, as `GET /projects/:id/deploy_keys` shows it. */
export type StandinDeployKey = Record<string, unknown> & {
  id: number;
  title: string;
  key: string;
  fingerprint: string;
  fingerprint_sha256: string;
  can_push: boolean;
  created_at: string;
  expires_at: string | null;
};

export interface RecordedRequest {
  method: string;
  /** Raw path, still URL-encoded (`/api/v4/projects/group%2Fapp`). */
  path: string;
  query: Record<string, string>;
  headers: IncomingHttpHeaders;
  /** Parsed JSON or form body; the raw text when it parses as neither; undefined when empty. */
  body: unknown;
  /** What the stand-in answered (0 when it dropped or held the connection). */
  status: number;
}

export type StandinStatusState = 'created' | 'pending' | 'running' | 'success' | 'failed' | 'canceled' | 'skipped';

/**
 * One accepted `POST /projects/:id/statuses/:sha`, as the status looked right after it (GitLab's
 * `Entities::CommitStatus` fields). `id` is the status (job) it moved: a status posted again by
 * the same name while pending or running moves the same job, so `running` then `success` show
 * the same id twice.
 */
export type StandinCommitStatus = Record<string, unknown> & {
  id: number;
  project_id: number;
  sha: string;
  ref: string;
  name: string;
  status: StandinStatusState;
  target_url: string | null;
  description: string | null;
};

export type StandinDeploymentStatus = 'created' | 'running' | 'success' | 'failed' | 'canceled' | 'skipped' | 'blocked';

/** A deployment as `GET /projects/:id/deployments` shows it, plus the statuses it went through. */
export type StandinDeployment = Record<string, unknown> & {
  id: number;
  iid: number;
  ref: string;
  sha: string;
  tag: boolean;
  status: StandinDeploymentStatus;
  environment: { id: number; name: string } & Record<string, unknown>;
  /** Not GitLab's: every status the deployment had, oldest first. */
  status_history: StandinDeploymentStatus[];
};

/** A merge request of a project (what notes and merge request events need of it). */
export interface StandinMergeRequestSpec {
  iid: number;
  sourceBranch: string;
  /** @default the project's default branch */
  targetBranch?: string;
  /** @default `Merge request <iid>` */
  title?: string;
  /** The project its commits come from; another one for a fork. @default the project itself */
  sourceProjectId?: number;
}

/** A note as GitLab shows it (`Entities::Note`). */
export type StandinNote = Record<string, unknown> & {
  id: number;
  body: string;
  noteable_type: 'MergeRequest';
  noteable_iid: number;
  project_id: number;
};

/** An environment as `GET /projects/:id/environments` shows it (`Entities::Environment`). */
export type StandinEnvironment = Record<string, unknown> & {
  id: number;
  name: string;
  slug: string;
  external_url: string | null;
  state: 'available' | 'stopping' | 'stopped';
  tier: string;
};

export interface StandinCommitSpec {
  /** 40 hex digits. @default a random sha */
  sha?: string;
  /** The first line of the message. */
  title: string;
  /** The whole message. @default title */
  message?: string;
  /** @default 'Test Author' */
  authorName?: string;
  /** @default `<author name, lower-cased and dashed>@example.com` */
  authorEmail?: string;
  /** @default the commit the first of `branches` pointed at before, if any */
  parentIds?: string[];
  /** Branches to point at this commit (created, or moved if they exist). */
  branches?: string[];
  /** Lightweight tags to point at this commit (created, or moved if they exist). */
  tags?: string[];
  /**
   * The commit's `created_at`, `authored_date` and `committed_date`, as GitLab writes them
   * (e.g. `2026-03-01T10:00:00.000+02:00`). @default when it was added (UTC)
   */
  committedDate?: string;
}

/** A commit as GitLab presents it in a branch or a tag (`Entities::Commit`). */
export type StandinCommit = Record<string, unknown> & {
  id: string;
  short_id: string;
  title: string;
  message: string;
  author_name: string;
  author_email: string;
  web_url: string;
};

export interface StandinOptions {
  /**
   * GitLab refuses webhook URLs on localhost and private networks unless an admin allows them
   * ("Allow requests to the local network from webhooks and integrations"). Tests here point
   * hooks at loopback, so the stand-in allows it by default.
   * @default true
   */
  allowLocalWebhooks?: boolean;
  /** `GET /version`'s `version`. @default '17.8.1' */
  version?: string;
}

export interface GitlabStandin {
  /** Base URL, `http://127.0.0.1:<port>` (the API is under `/api/v4`). */
  url: string;
  stop(): Promise<void>;
  addUser(spec: StandinUserSpec): { id: number; username: string };
  addProject(spec: StandinProjectSpec): StandinProject;
  /** Adds a commit to the project's repository and points the spec's branches and tags at it. */
  addCommit(projectId: number, spec: StandinCommitSpec): StandinCommit;
  revoke(token: string): void;
  hooks(projectId: number): StandinHook[];
  deployKeys(projectId: number): StandinDeployKey[];
  /**
   * Records `count` failed deliveries of the hook, in a row, as GitLab does after a delivery that
   * timed out or got no 2xx/3xx (4 make it `temporarily_disabled`, 40 `disabled`).
   */
  failDeliveries(hookId: number, count: number): void;
  /** Every test delivery the stand-in made (`POST …/hooks/:hook_id/test/:trigger`), oldest first. */
  testDeliveries: Array<{ hookId: number; trigger: string; status: number; body: Record<string, unknown> }>;
  /** Every accepted commit status post for the project (and sha), oldest first. */
  statuses(projectId: number, sha?: string): StandinCommitStatus[];
  /** The project's deployments, oldest first. */
  deployments(projectId: number): StandinDeployment[];
  /** Adds a merge request to the project (notes can then be posted on it). */
  addMergeRequest(projectId: number, spec: StandinMergeRequestSpec): void;
  /** The notes posted on the project's merge requests (on one, with `iid`), oldest first. */
  notes(projectId: number, iid?: number): StandinNote[];
  /** The project's environments, oldest first. */
  environments(projectId: number): StandinEnvironment[];
  /**
   * Delivers a `Merge Request Hook` for the merge request, as GitLab does on `action`, to each of
   * the project's hooks subscribed to merge request events: GitLab's example payload made to say
   * this project, merge request, head (`lastCommit`, default the source branch's tip) and, for an
   * update with new commits, `oldrev`. The answers, per hook.
   */
  deliverMergeRequestEvent(
    projectId: number,
    event: {
      iid: number;
      action: 'open' | 'reopen' | 'update' | 'merge' | 'close' | 'approved';
      lastCommit?: string;
      oldrev?: string;
    },
  ): Promise<Array<{ hookId: number; status: number; body: unknown }>>;
  /**
   * Gives a user (by username, made with `addUser`) a role on the project, or takes it away
   * (`undefined`). On a project made without `members` (everyone a maintainer), the users known
   * now become maintainers first; users added later are then no members.
   */
  setMember(projectId: number, username: string, level: AccessLevel | undefined): void;
  /** Registers a confidential OAuth application (`/oauth/applications`). */
  addOauthApplication(spec: StandinOauthApplicationSpec): { clientId: string; clientSecret: string };
  /** The user signed in at GitLab in "the browser": who `/oauth/authorize` acts for; none answers 401. */
  signInAs(username: string | undefined): void;
  /** `true`: `/oauth/authorize` redirects with a code at once, no consent page (as for a trusted application). */
  autoApprove(on: boolean): void;
  /** Every authorization code not yet exchanged is expired from now on. */
  expireAuthorizationCodes(): void;
  requests: RecordedRequest[];
  /** The next request matching answers `status` with `body` (default GitLab's `{"message": …}`). Queues. */
  failNext(match: { method: string; pathPattern: RegExp }, status: number, body?: unknown): void;
  /** `true`/`'reset'`: drop every connection; `'hang'`: accept and never answer; `false`: serve again. */
  setDown(down: boolean | 'reset' | 'hang'): void;
}

interface UserRecord {
  id: number;
  username: string;
  createdAt: string;
}

interface TokenRecord {
  id: number;
  token: string;
  userId: number;
  scopes: string[];
  expiresAt: string | null;
  revoked: boolean;
  createdAt: string;
}

interface ProjectRecord {
  id: number;
  path: string;
  sshUrl: string;
  defaultBranch: string;
  members?: Record<string, AccessLevel>;
  createdAt: string;
}

interface CommitRecord {
  sha: string;
  title: string;
  message: string;
  authorName: string;
  authorEmail: string;
  parentIds: string[];
  createdAt: string;
}

/** A project's repository: commits by sha, and branch and tag names → sha. */
interface RepositoryRecord {
  commits: Map<string, CommitRecord>;
  branches: Map<string, string>;
  tags: Map<string, string>;
}

interface KeyRecord {
  id: number;
  title: string;
  key: string;
  fingerprint: string;
  fingerprintSha256: string;
  createdAt: string;
  expiresAt: string | null;
}

interface StatusRecord {
  id: number;
  projectId: number;
  pipelineId: number;
  sha: string;
  ref: string;
  name: string;
  status: StandinStatusState;
  targetUrl: string | null;
  description: string | null;
  coverage: number | null;
  userId: number;
  retried: boolean;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
}

interface DeploymentRecord {
  id: number;
  iid: number;
  projectId: number;
  environmentId: number;
  ref: string;
  sha: string;
  tag: boolean;
  status: StandinDeploymentStatus;
  history: StandinDeploymentStatus[];
  userId: number;
  createdAt: string;
  updatedAt: string;
  finishedAt: string | null;
}

interface EnvironmentRecord {
  id: number;
  projectId: number;
  name: string;
  slug: string;
  createdAt: string;
  updatedAt?: string;
  externalUrl?: string | null;
  state?: 'available' | 'stopping' | 'stopped';
  tier?: string;
}

interface MergeRequestRecord {
  projectId: number;
  iid: number;
  sourceBranch: string;
  targetBranch: string;
  title: string;
  sourceProjectId: number;
  state: 'opened' | 'merged' | 'closed';
}

interface NoteRecord {
  id: number;
  projectId: number;
  iid: number;
  body: string;
  userId: number;
  createdAt: string;
}

interface OauthApplicationRecord {
  name: string;
  clientId: string;
  clientSecret: string;
  redirectUri: string;
  scopes: string[];
}

/** A checked `/oauth/authorize` request. */
interface AuthorizationRequest {
  clientId: string;
  redirectUri: string;
  scopes: string[];
  state: string | undefined;
  nonce: string | undefined;
  codeChallenge: string;
}

/** An authorization code (Doorkeeper's access grant). */
interface GrantRecord extends AuthorizationRequest {
  code: string;
  userId: number;
  /** Epoch seconds of the sign-in (the id_token's `auth_time`). */
  authTime: number;
  /** Epoch milliseconds. */
  expiresAt: number;
  used: boolean;
}

interface OauthTokenRecord {
  accessToken: string;
  refreshToken: string;
  clientId: string;
  userId: number;
  scopes: string[];
  /** Epoch milliseconds. */
  expiresAt: number;
}

interface SigningKey {
  privateKey: CryptoKey;
  jwk: JWK;
}

class Reply {
  constructor(
    readonly status: number,
    readonly body: unknown,
    readonly headers: Record<string, string> = {},
  ) {}
}

const REASONS: Record<number, string> = {
  400: 'Bad request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not found',
  409: 'Conflict',
  422: 'Unprocessable Entity',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
};

const LEVELS: Record<AccessLevel, number> = {
  guest: 10,
  planner: 15,
  reporter: 20,
  developer: 30,
  maintainer: 40,
  owner: 50,
};

/** Boolean hook options GitLab accepts (`POST /projects/:id/hooks`), with their defaults. */
const HOOK_EVENTS: Record<string, boolean> = {
  push_events: true,
  tag_push_events: false,
  issues_events: false,
  confidential_issues_events: false,
  merge_requests_events: false,
  note_events: false,
  confidential_note_events: false,
  job_events: false,
  pipeline_events: false,
  wiki_page_events: false,
  deployment_events: false,
  releases_events: false,
  milestone_events: false,
  feature_flag_events: false,
  emoji_events: false,
  resource_access_token_events: false,
  enable_ssl_verification: true,
};

const READ_SCOPES = ['api', 'read_api'];
const USER_SCOPES = ['api', 'read_api', 'read_user'];

/** The scopes GitLab knows (its discovery's `scopes_supported`); an application may have only these. */
const OAUTH_SCOPES = [
  'api',
  'read_api',
  'read_user',
  'create_runner',
  'manage_runner',
  'k8s_proxy',
  'self_rotate',
  'read_repository',
  'write_repository',
  'read_registry',
  'write_registry',
  'read_virtual_registry',
  'write_virtual_registry',
  'read_observability',
  'write_observability',
  'ai_features',
  'sudo',
  'admin_mode',
  'read_service_ping',
  'openid',
  'profile',
  'email',
];

/** Doorkeeper's error descriptions (its `en.yml`). */
const OAUTH_ERRORS = {
  invalid_client:
    'Client authentication failed due to unknown client, no client authentication included, or unsupported authentication method.',
  invalid_redirect_uri: "The requested redirect uri is malformed or doesn't match client redirect URI.",
  invalid_grant:
    'The provided authorization grant is invalid, expired, revoked, does not match the redirection URI used in the authorization request, or was issued to another client.',
  invalid_scope: 'The requested scope is invalid, unknown, or malformed.',
  unsupported_response_type: 'The authorization server does not support this response type.',
  unsupported_grant_type: 'The authorization grant type is not supported by the authorization server.',
  access_denied: 'The resource owner or authorization server denied the request.',
} as const;

/** Authorization codes live 10 minutes, access tokens 2 hours (GitLab's Doorkeeper settings). */
const CODE_TTL_MS = 10 * 60 * 1000;
const ACCESS_TOKEN_TTL_S = 7200;
const ID_TOKEN_TTL_S = 120;

export async function startGitlabStandin(options: StandinOptions = {}): Promise<GitlabStandin> {
  const allowLocalWebhooks = options.allowLocalWebhooks ?? true;
  const version = options.version ?? '17.8.1';
  const users = new Map<number, UserRecord>();
  const tokens = new Map<string, TokenRecord>();
  const projects = new Map<number, ProjectRecord>();
  const hooks = new Map<number, StandinHook>();
  const keys = new Map<number, KeyRecord>();
  /** project id → its repository model. */
  const repositories = new Map<number, RepositoryRecord>();
  /** project id → enabled deploy keys (key id → can_push). */
  const keyLinks = new Map<number, Map<number, boolean>>();
  const failures: Array<{ method: string; pathPattern: RegExp; status: number; body?: unknown }> = [];
  const requests: RecordedRequest[] = [];
  const sockets = new Set<Socket>();
  const statusRecords: StatusRecord[] = [];
  const statusPosts: StandinCommitStatus[] = [];
  /** `project:sha:ref` → pipeline id (the external pipeline GitLab makes for posted statuses). */
  const pipelines = new Map<string, number>();
  const environments: EnvironmentRecord[] = [];
  const deploymentRecords: DeploymentRecord[] = [];
  /** `project:iid` → the merge request. */
  const mergeRequests = new Map<string, MergeRequestRecord>();
  const noteRecords: NoteRecord[] = [];
  const seq = { user: 0, token: 0, project: 0, hook: 1000, key: 2000 };
  /** hook id → its failure state (GitLab's `recent_failures`, `backoff_count`, `disabled_until`). */
  const hookHealth = new Map<number, { recentFailures: number; backoffCount: number; disabledUntil: number | null }>();
  const testDeliveries: GitlabStandin['testDeliveries'] = [];
  /** user id → when it tested hooks (epoch ms), for GitLab's 5-a-minute limit. */
  const hookTests = new Map<number, number[]>();
  const reportSeq = { status: 5000, pipeline: 300, deployment: 700, environment: 90, note: 8000 };
  const oauthApplications = new Map<string, OauthApplicationRecord>();
  /** authenticity token of a consent page shown → the request and the user it was shown to. */
  const consents = new Map<string, AuthorizationRequest & { userId: number }>();
  const grants = new Map<string, GrantRecord>();
  const oauthTokens = new Map<string, OauthTokenRecord>();
  /** For `sub_legacy`, which GitLab derives from the user id and a secret of the instance. */
  const instanceSecret = randomBytes(32).toString('hex');
  /** The RS256 key the id_tokens are signed with, made on first use (RSA key generation is not free). */
  let signing: Promise<SigningKey> | undefined;
  /** Who is signed in at GitLab in "the browser", since when (epoch seconds). */
  let signedIn: { user: UserRecord; at: number } | undefined;
  let approveAtOnce = false;
  let down: false | 'reset' | 'hang' = false;
  let base = '';
  let host = '';

  const now = () => new Date().toISOString();

  function presentProject(p: ProjectRecord): StandinProject {
    const segments = p.path.split('/');
    const name = segments[segments.length - 1] ?? p.path;
    const namespace = segments.slice(0, -1).join('/');
    return {
      id: p.id,
      description: null,
      name,
      name_with_namespace: p.path.split('/').join(' / '),
      path: name,
      path_with_namespace: p.path,
      created_at: p.createdAt,
      default_branch: p.defaultBranch,
      tag_list: [],
      topics: [],
      ssh_url_to_repo: p.sshUrl,
      http_url_to_repo: `${base}/${p.path}.git`,
      web_url: `${base}/${p.path}`,
      readme_url: null,
      avatar_url: null,
      forks_count: 0,
      star_count: 0,
      last_activity_at: p.createdAt,
      namespace: {
        id: p.id + 100000,
        name: segments[segments.length - 2] ?? namespace,
        path: segments[segments.length - 2] ?? namespace,
        kind: 'group',
        full_path: namespace,
        parent_id: null,
        avatar_url: null,
        web_url: `${base}/groups/${namespace}`,
      },
      visibility: 'private',
      archived: false,
      empty_repo: false,
    };
  }

  /** GitLab never shows a hook's secret token. */
  function presentHook(hook: StandinHook): Record<string, unknown> {
    const { token: _secret, ...shown } = withHealth(hook);
    return shown;
  }

  /** The hook with its `alert_status` and `disabled_until` as of now. */
  function withHealth(hook: StandinHook): StandinHook {
    const health = hookHealth.get(hook.id);
    if (!health) return { ...hook, alert_status: 'executable', disabled_until: null };
    // GitLab: more than 39 failures in a row is for good; more than 3 until `disabled_until`.
    if (health.recentFailures > 39) return { ...hook, alert_status: 'disabled', disabled_until: null };
    const until = health.disabledUntil;
    if (health.recentFailures > 3 && until !== null && until > Date.now()) {
      return { ...hook, alert_status: 'temporarily_disabled', disabled_until: new Date(until).toISOString() };
    }
    return { ...hook, alert_status: 'executable', disabled_until: null };
  }

  /** A failed delivery, as `WebHooks::AutoDisabling#backoff!` counts it. */
  /**
   * One webhook delivery as GitLab makes it: its headers (a fresh webhook, event and idempotency
   * UUID each time), a 10 s timeout, redirects not followed. Status 0 when it did not get an
   * answer; the answer's JSON body when it had one.
   */
  async function deliver(
    hook: StandinHook,
    event: string,
    body: unknown,
  ): Promise<{ status: number; answer: unknown }> {
    try {
      const res = await fetch(hook.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': `GitLab/${version}`,
          'x-gitlab-event': event,
          'x-gitlab-instance': base,
          'x-gitlab-webhook-uuid': randomUUID(),
          'x-gitlab-event-uuid': randomUUID(),
          'idempotency-key': randomUUID(),
          ...(hook.token ? { 'x-gitlab-token': hook.token } : {}),
        },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(10_000),
        redirect: 'manual',
      });
      return { status: res.status, answer: await res.json().catch(() => undefined) };
    } catch {
      return { status: 0, answer: undefined };
    }
  }

  function deliveryFailed(hookId: number): void {
    const health = hookHealth.get(hookId) ?? { recentFailures: 0, backoffCount: 0, disabledUntil: null };
    health.recentFailures += 1;
    if (health.recentFailures > 3) {
      health.backoffCount += 1;
      const backoffMs = Math.min(60_000 * 2 ** (health.backoffCount - 1), 24 * 3600_000);
      health.disabledUntil = Date.now() + backoffMs;
    }
    hookHealth.set(hookId, health);
  }

  /**
   * `POST /projects/:id/hooks/:hook_id/test/:trigger` (`API::Hooks::Test`): delivers a sample
   * event now, as GitLab does from the UI's "Test" button, whatever the hook's state; a 2xx
   * answer re-enables the hook (`enable!`), anything else counts as a failed delivery.
   */
  async function testHook(req: IncomingMessage, url: URL, rawId: string, rawHookId: string, trigger: string) {
    const query = Object.fromEntries(url.searchParams);
    const user = authenticate(req, query, ['api']);
    const project = projectFor(user, safeDecode(rawId), true);
    const hook = hooks.get(Number(rawHookId));
    if (!/^\d+$/.test(rawHookId) || !hook || hook.project_id !== project.id) {
      return new Reply(404, { message: '404 Not found' });
    }
    const triggers = Object.keys(HOOK_EVENTS).filter((name) => name !== 'enable_ssl_verification');
    if (!triggers.includes(trigger)) return new Reply(400, { error: 'trigger does not have a valid value' });
    const recent = (hookTests.get(user.id) ?? []).filter((at) => at > Date.now() - 60_000);
    if (recent.length >= 5) {
      return new Reply(429, { message: 'This endpoint has been requested too many times. Try again later.' });
    }
    hookTests.set(user.id, [...recent, Date.now()]);
    if (trigger !== 'push_events') {
      // Only the push sample is modelled; GitLab's other samples need issues, notes, pipelines…
      return new Reply(422, { message: `the stand-in cannot test ${trigger}` });
    }
    const repository = repositoryOf(project.id);
    const tip = repository.branches.get(project.defaultBranch);
    if (!tip) return new Reply(422, { message: 'Ensure the project has at least one commit.' });
    // `Gitlab::DataBuilder::Push.build_sample`: the default branch's last (up to) 3 commits.
    const commits: CommitRecord[] = [];
    for (let sha: string | undefined = tip; sha && commits.length < 3; ) {
      const c = repository.commits.get(sha);
      if (!c) break;
      commits.push(c);
      sha = c.parentIds[0];
    }
    const oldest = commits[commits.length - 1];
    const body = {
      object_kind: 'push',
      event_name: 'push',
      before: oldest?.parentIds[0] ?? '0'.repeat(40),
      after: tip,
      ref: `refs/heads/${project.defaultBranch}`,
      ref_protected: true,
      checkout_sha: tip,
      message: null,
      user_id: user.id,
      user_name: user.username,
      user_username: user.username,
      user_email: null,
      user_avatar: null,
      project_id: project.id,
      project: {
        id: project.id,
        name: project.path.split('/').at(-1),
        web_url: `${base}/${project.path}`,
        git_ssh_url: project.sshUrl,
        git_http_url: `${base}/${project.path}.git`,
        path_with_namespace: project.path,
        default_branch: project.defaultBranch,
      },
      commits: commits.map((c) => ({
        id: c.sha,
        message: c.message,
        title: c.title,
        timestamp: c.createdAt,
        url: `${base}/${project.path}/-/commit/${c.sha}`,
        author: { name: c.authorName, email: c.authorEmail },
        added: [],
        modified: [],
        removed: [],
      })),
      total_commits_count: commits.length,
      push_options: {},
      repository: { name: project.path.split('/').at(-1), url: project.sshUrl, git_ssh_url: project.sshUrl },
    };
    const { status } = await deliver(hook, 'Push Hook', body);
    testDeliveries.push({ hookId: hook.id, trigger, status, body });
    if (status >= 200 && status < 300) {
      hookHealth.delete(hook.id);
      return new Reply(201, { message: '201 Created' });
    }
    deliveryFailed(hook.id);
    return new Reply(422, { message: status ? `Hook execution failed: ${status}` : 'Hook execution failed' });
  }

  function presentKey(key: KeyRecord, canPush: boolean): StandinDeployKey {
    return {
      id: key.id,
      title: key.title,
      created_at: key.createdAt,
      expires_at: key.expiresAt,
      key: key.key,
      usage_type: 'auth',
      fingerprint: key.fingerprint,
      fingerprint_sha256: key.fingerprintSha256,
      projects_with_write_access: [],
      projects_with_readonly_access: [],
      can_push: canPush,
    };
  }

  function findProject(idOrPath: string): ProjectRecord | undefined {
    if (/^\d+$/.test(idOrPath)) return projects.get(Number(idOrPath));
    const wanted = idOrPath.toLowerCase();
    return [...projects.values()].find((p) => p.path.toLowerCase() === wanted);
  }

  /** The token's user, or the reply GitLab gives instead. */
  function authenticate(req: IncomingMessage, query: Record<string, string>, allowed: string[] | 'any'): UserRecord {
    // An OAuth access token (`Authorization: Bearer` or `?access_token=`) counts for its scopes only.
    const oauth = oauthTokens.get(bearerToken(req) ?? query.access_token ?? '');
    const record = oauth
      ? { revoked: false, expiresAt: null, scopes: oauth.scopes, userId: oauth.userId }
      : tokenOf(req, query);
    if (oauth && oauth.expiresAt <= Date.now()) throw invalidToken('Token has expired.');
    if (record.revoked) throw invalidToken('Token was revoked. You will have to re-authorize from the user.');
    if (record.expiresAt && record.expiresAt <= now().slice(0, 10)) throw invalidToken('Token has expired.');
    if (allowed !== 'any' && !record.scopes.some((scope) => allowed.includes(scope))) {
      const description = 'The request requires higher privileges than provided by the access token.';
      throw new Reply(
        403,
        { error: 'insufficient_scope', error_description: description, scope: allowed.join(' ') },
        {
          'www-authenticate': `Bearer realm="Protected by OAuth 2.0", error="insufficient_scope", error_description="${description}", scope="${allowed.join(' ')}"`,
        },
      );
    }
    const user = users.get(record.userId);
    if (!user) throw new Reply(401, { message: '401 Unauthorized' });
    return user;
  }

  function invalidToken(description: string): Reply {
    return new Reply(
      401,
      { error: 'invalid_token', error_description: description },
      {
        'www-authenticate': `Bearer realm="Protected by OAuth 2.0", error="invalid_token", error_description="${description}"`,
      },
    );
  }

  function tokenOf(req: IncomingMessage, query: Record<string, string>): TokenRecord {
    const presented = presentedToken(req, query);
    const record = presented === undefined ? undefined : tokens.get(presented);
    if (!record) throw new Reply(401, { message: '401 Unauthorized' });
    return record;
  }

  /** The project the user can see, else 404; with `maintainer`, 403 below that role. */
  function projectFor(user: UserRecord, idOrPath: string, maintainer: boolean): ProjectRecord {
    const project = findProject(idOrPath);
    const level = project?.members ? project.members[user.username] : 'maintainer';
    if (!project || !level) throw new Reply(404, { message: '404 Project Not Found' });
    if (maintainer && LEVELS[level] < LEVELS.maintainer) throw new Reply(403, { message: '403 Forbidden' });
    return project;
  }

  function paginate(url: URL, items: unknown[]): Reply {
    const perPage = clamp(Number.parseInt(url.searchParams.get('per_page') ?? '20', 10), 1, 100, 20);
    const page = clamp(Number.parseInt(url.searchParams.get('page') ?? '1', 10), 1, Number.MAX_SAFE_INTEGER, 1);
    const totalPages = Math.max(1, Math.ceil(items.length / perPage));
    const pageUrl = (n: number) => {
      const link = new URL(`${base}${url.pathname}`);
      for (const [name, value] of url.searchParams) {
        if (name !== 'page' && name !== 'per_page' && name !== 'private_token') link.searchParams.set(name, value);
      }
      link.searchParams.set('page', String(n));
      link.searchParams.set('per_page', String(perPage));
      return link.toString();
    };
    const links = [
      ...(page > 1 ? [`<${pageUrl(page - 1)}>; rel="prev"`] : []),
      ...(page < totalPages ? [`<${pageUrl(page + 1)}>; rel="next"`] : []),
      `<${pageUrl(1)}>; rel="first"`,
      `<${pageUrl(totalPages)}>; rel="last"`,
    ];
    return new Reply(200, items.slice((page - 1) * perPage, page * perPage), {
      'x-total': String(items.length),
      'x-total-pages': String(totalPages),
      'x-per-page': String(perPage),
      'x-page': String(page),
      'x-next-page': page < totalPages ? String(page + 1) : '',
      'x-prev-page': page > 1 ? String(page - 1) : '',
      link: links.join(', '),
    });
  }

  // ---- Repository: branches, tags and commits --------------------------------------------------

  function repositoryOf(projectId: number): RepositoryRecord {
    let repository = repositories.get(projectId);
    if (!repository) {
      repository = { commits: new Map(), branches: new Map(), tags: new Map() };
      repositories.set(projectId, repository);
    }
    return repository;
  }

  /** `Entities::Commit`, as branches and tags embed it. */
  function presentCommit(project: ProjectRecord, c: CommitRecord): StandinCommit {
    return {
      id: c.sha,
      short_id: c.sha.slice(0, 8),
      created_at: c.createdAt,
      parent_ids: [...c.parentIds],
      title: c.title,
      message: c.message,
      author_name: c.authorName,
      author_email: c.authorEmail,
      authored_date: c.createdAt,
      committer_name: c.authorName,
      committer_email: c.authorEmail,
      committed_date: c.createdAt,
      trailers: {},
      extended_trailers: {},
      web_url: `${base}/${project.path}/-/commit/${c.sha}`,
    };
  }

  /** `Entities::CommitDetail`: `GET …/repository/commits/:sha`. */
  function presentCommitDetail(project: ProjectRecord, c: CommitRecord): Record<string, unknown> {
    return {
      ...presentCommit(project, c),
      stats: { additions: 0, deletions: 0, total: 0 },
      status: null,
      project_id: project.id,
      last_pipeline: null,
    };
  }

  /** What `project.commit(revision)` finds: a full sha, then a tag, a branch, a unique short sha. */
  function findCommit(repository: RepositoryRecord, revision: string): CommitRecord | undefined {
    const lower = revision.toLowerCase();
    if (/^[0-9a-f]{40}$/.test(lower)) return repository.commits.get(lower);
    const named = repository.tags.get(revision) ?? repository.branches.get(revision);
    if (named) return repository.commits.get(named);
    if (!/^[0-9a-f]{4,39}$/.test(lower)) return undefined;
    const matches = [...repository.commits.values()].filter((c) => c.sha.startsWith(lower));
    return matches.length === 1 ? matches[0] : undefined;
  }

  /** `GET /projects/:id/repository/{branches,tags,commits}/:name`; undefined for any other path. */
  function routeRepository(req: IncomingMessage, url: URL, id: string, parts: string[]): Reply | undefined {
    const [sub, kind, rawName, ...more] = parts;
    if (sub !== 'repository' || !['branches', 'tags', 'commits'].includes(kind ?? '')) return undefined;
    if (rawName === undefined || rawName === '' || more.length > 0) return undefined;
    if ((req.method ?? 'GET') !== 'GET') return new Reply(405, { error: '405 Method Not Allowed' });
    const query = Object.fromEntries(url.searchParams);
    const user = authenticate(req, query, READ_SCOPES);
    const project = projectWithRole(user, id, 'reporter');
    const repository = repositoryOf(project.id);
    const name = safeDecode(rawName);
    if (kind === 'commits') {
      const found = findCommit(repository, name);
      if (!found) return new Reply(404, { message: '404 Commit Not Found' });
      return new Reply(200, presentCommitDetail(project, found));
    }
    if (kind === 'branches') {
      const found = repository.commits.get(repository.branches.get(name) ?? '');
      if (!found) return new Reply(404, { message: '404 Branch Not Found' });
      const isDefault = name === project.defaultBranch;
      return new Reply(200, {
        name,
        commit: presentCommit(project, found),
        merged: false,
        protected: isDefault,
        developers_can_push: false,
        developers_can_merge: false,
        can_push: true,
        default: isDefault,
        web_url: `${base}/${project.path}/-/tree/${name}`,
      });
    }
    const found = repository.commits.get(repository.tags.get(name) ?? '');
    if (!found) return new Reply(404, { message: '404 Tag Not Found' });
    return new Reply(200, {
      name,
      message: null,
      target: found.sha,
      commit: presentCommit(project, found),
      release: null,
      protected: false,
      created_at: null,
    });
  }

  // ---- Commit statuses and deployments (what Slipway reports back) --------------------------

  /** The project the user can see (else 404) with at least `level` (else 403). */
  function projectWithRole(user: UserRecord, idOrPath: string, level: AccessLevel): ProjectRecord {
    const project = findProject(idOrPath);
    const role = project?.members ? project.members[user.username] : 'maintainer';
    if (!project || !role) throw new Reply(404, { message: '404 Project Not Found' });
    if (LEVELS[role] < LEVELS[level]) throw new Reply(403, { message: '403 Forbidden' });
    return project;
  }

  function presentUser(userId: number): Record<string, unknown> {
    const user = users.get(userId);
    return {
      id: userId,
      username: user?.username ?? 'ghost',
      name: user?.username ?? 'Ghost User',
      state: 'active',
      locked: false,
      avatar_url: null,
      web_url: `${base}/${user?.username ?? 'ghost'}`,
    };
  }

  /** `Entities::CommitStatus`. */
  function presentStatus(record: StatusRecord): StandinCommitStatus {
    return {
      id: record.id,
      project_id: record.projectId,
      sha: record.sha,
      ref: record.ref,
      status: record.status,
      name: record.name,
      target_url: record.targetUrl,
      description: record.description,
      created_at: record.createdAt,
      started_at: record.startedAt,
      finished_at: record.finishedAt,
      allow_failure: false,
      coverage: record.coverage,
      pipeline_id: record.pipelineId,
      author: presentUser(record.userId),
    };
  }

  function presentEnvironment(env: EnvironmentRecord): StandinEnvironment {
    return {
      id: env.id,
      name: env.name,
      slug: env.slug,
      external_url: env.externalUrl ?? null,
      created_at: env.createdAt,
      updated_at: env.updatedAt ?? env.createdAt,
      tier: env.tier ?? guessTier(env.name),
      state: env.state ?? 'available',
      auto_stop_at: null,
      description: null,
    };
  }

  /** `Entities::Deployment` (plus the stand-in's `status_history`, left out of HTTP answers). */
  function presentDeployment(record: DeploymentRecord): StandinDeployment {
    const env = environments.find((e) => e.id === record.environmentId);
    return {
      id: record.id,
      iid: record.iid,
      ref: record.ref,
      sha: record.sha,
      tag: record.tag,
      created_at: record.createdAt,
      updated_at: record.updatedAt,
      finished_at: record.finishedAt,
      status: record.status,
      user: presentUser(record.userId),
      environment: env ? presentEnvironment(env) : { id: record.environmentId, name: '' },
      deployable: null,
      status_history: [...record.history],
    };
  }

  function deploymentReply(status: number, record: DeploymentRecord): Reply {
    const { status_history: _history, ...shown } = presentDeployment(record);
    return new Reply(status, shown);
  }

  /**
   * `POST /projects/:id/statuses/:sha`, after GitLab's `Ci::CreateCommitStatusService`: the ref
   * defaults to the ref of the sha's newest pipeline, else the default branch; a pending or
   * running status with the same name, ref and user is moved on, else a new one starts at
   * `created` (and the older ones of that name count as retried); then the state's event runs:
   * pending `enqueue!`, running `enqueue` + `run!`, success `success!`, failed `drop!`, canceled
   * `cancel!`, skipped `skip!`. A refused event answers 400 with state_machines' message.
   */
  function postCommitStatus(user: UserRecord, project: ProjectRecord, sha: string, body: Record<string, unknown>) {
    const state = String(body.state) as Exclude<StandinStatusState, 'created'>;
    const newestPipelineRef = [...pipelines.entries()]
      .filter(([key]) => key.startsWith(`${project.id}:${sha}:`))
      .sort((a, b) => b[1] - a[1])[0]?.[0]
      .slice(`${project.id}:${sha}:`.length);
    const ref = stringParam(body, 'ref') ?? newestPipelineRef ?? project.defaultBranch;
    const name = stringParam(body, 'name') ?? stringParam(body, 'context') ?? 'default';
    const pipelineKey = `${project.id}:${sha}:${ref}`;
    const pipelineId = pipelines.get(pipelineKey);
    const existing = statusRecords.find(
      (r) =>
        r.pipelineId === pipelineId &&
        r.name === name &&
        r.ref === ref &&
        r.userId === user.id &&
        (r.status === 'pending' || r.status === 'running'),
    );
    const targetUrl = stringParam(body, 'target_url') ?? existing?.targetUrl ?? null;
    const description = stringParam(body, 'description') ?? existing?.description ?? null;
    const coverage = body.coverage === undefined ? (existing?.coverage ?? null) : Number(body.coverage);

    const invalid: Record<string, string[]> = {};
    if (ref.length > 255) invalid.ref = ['is too long (maximum is 255 characters)'];
    if (targetUrl !== null) {
      const problems = [
        ...(isHttpUrl(targetUrl) ? [] : ['is blocked: Only allowed schemes are http, https']),
        ...(targetUrl.length > 255 ? ['is too long (maximum is 255 characters)'] : []),
      ];
      if (problems.length > 0) invalid.target_url = problems;
    }
    if (description !== null && description.length > 255) {
      invalid.description = ['is too long (maximum is 255 characters)'];
    }
    if (Object.keys(invalid).length > 0) return new Reply(400, { message: invalid });

    const from: StandinStatusState = existing?.status ?? 'created';
    const moved = commitStatusTransition(from, state);
    if ('refused' in moved) return new Reply(400, { message: moved.refused });

    let record = existing;
    if (!record) {
      let pipeline = pipelineId;
      if (pipeline === undefined) {
        reportSeq.pipeline += 1;
        pipeline = reportSeq.pipeline;
        pipelines.set(pipelineKey, pipeline);
      }
      for (const older of statusRecords) {
        if (older.pipelineId === pipeline && older.name === name) older.retried = true;
      }
      reportSeq.status += 1;
      record = {
        id: reportSeq.status,
        projectId: project.id,
        pipelineId: pipeline,
        sha,
        ref,
        name,
        status: 'created',
        targetUrl: null,
        description: null,
        coverage: null,
        userId: user.id,
        retried: false,
        createdAt: now(),
        startedAt: null,
        finishedAt: null,
      };
      statusRecords.push(record);
    }
    record.targetUrl = targetUrl;
    record.description = description;
    record.coverage = Number.isFinite(coverage) ? coverage : null;
    record.status = moved.to;
    if (moved.to === 'running') record.startedAt = now();
    if (['success', 'failed', 'canceled'].includes(moved.to)) record.finishedAt = now();
    const shown = presentStatus(record);
    statusPosts.push(shown);
    return new Reply(201, shown);
  }

  /** `GET /projects/:id/repository/commits/:sha/statuses`: the latest status per name unless `all`. */
  function listCommitStatuses(url: URL, project: ProjectRecord, sha: string, query: Record<string, string>): Reply {
    const all = booleanParam(query, 'all', false);
    let list = statusRecords.filter((r) => r.projectId === project.id && r.sha === sha && (all || !r.retried));
    if (query.ref) list = list.filter((r) => r.ref === query.ref);
    if (query.name) list = list.filter((r) => r.name === query.name);
    if (query.stage) list = list.filter(() => query.stage === 'external');
    const orderBy = query.order_by === 'pipeline_id' ? 'pipelineId' : 'id';
    const direction = query.sort === 'desc' ? -1 : 1;
    list = [...list].sort((a, b) => (a[orderBy] - b[orderBy] || a.id - b.id) * direction);
    return paginate(url, list.map(presentStatus));
  }

  /**
   * `POST /projects/:id/deployments`, after `Deployments::CreateService`: the environment is
   * found or created by name; a request equal (ref, tag, sha, status) to the environment's last
   * successful deployment answers with that one; else a new deployment starts at `created` and
   * takes the status's event.
   */
  function createDeployment(user: UserRecord, project: ProjectRecord, body: Record<string, unknown>): Reply {
    const sha = String(body.sha);
    const ref = String(body.ref);
    const tag = booleanParam(body, 'tag', false);
    const status = String(body.status) as StandinDeploymentStatus;
    if (!isCommitSha(sha)) return new Reply(400, { message: { sha: ['The commit does not exist'] } });
    if (ref.includes('*') || !isValidBranchFilter(ref)) {
      return new Reply(400, { message: { ref: ['The branch or tag does not exist'] } });
    }
    const envName = String(body.environment);
    let env = environments.find((e) => e.projectId === project.id && e.name === envName);
    if (!env) {
      if (!isValidEnvironmentName(envName)) {
        return new Reply(400, {
          message: {
            name: [
              "can contain only letters, digits, '-', '_', '/', '$', '{', '}', '.', and spaces, but it cannot start or end with '/'",
            ],
          },
        });
      }
      reportSeq.environment += 1;
      env = {
        id: reportSeq.environment,
        projectId: project.id,
        name: envName,
        slug: envName
          .toLowerCase()
          .replace(/[^a-z0-9]+/g, '-')
          .replace(/^-+|-+$/g, '')
          .slice(0, 24),
        createdAt: now(),
      };
      environments.push(env);
    }
    // `Deployment` creation starts a stopped environment again.
    if (env.state === 'stopped') {
      env.state = 'available';
      env.updatedAt = now();
    }
    const environmentId = env.id;
    const lastSuccessful = deploymentRecords
      .filter((d) => d.environmentId === environmentId && d.status === 'success')
      .sort((a, b) => (b.finishedAt ?? '').localeCompare(a.finishedAt ?? '') || b.id - a.id)[0];
    if (
      lastSuccessful &&
      lastSuccessful.ref === ref &&
      lastSuccessful.tag === tag &&
      lastSuccessful.sha === sha &&
      lastSuccessful.status === status
    ) {
      return deploymentReply(201, lastSuccessful);
    }
    reportSeq.deployment += 1;
    const iid = deploymentRecords.filter((d) => d.projectId === project.id).length + 1;
    const record: DeploymentRecord = {
      id: reportSeq.deployment,
      iid,
      projectId: project.id,
      environmentId,
      ref,
      tag,
      sha,
      status: 'created',
      history: ['created'],
      userId: user.id,
      createdAt: now(),
      updatedAt: now(),
      finishedAt: null,
    };
    const to = deploymentTransition('created', status);
    if (to) moveDeployment(record, to);
    deploymentRecords.push(record);
    return deploymentReply(201, record);
  }

  function moveDeployment(record: DeploymentRecord, to: StandinDeploymentStatus): void {
    record.status = to;
    record.history.push(to);
    record.updatedAt = now();
    if (to === 'success' || to === 'failed' || to === 'canceled') record.finishedAt = now();
  }

  /**
   * `PUT /projects/:id/deployments/:deployment_id`, after `Deployment#update_status`: running
   * only from created or blocked, success/failed/canceled from any other status. A refused event
   * is swallowed by `update_status` and the endpoint renders nothing: 200 with a `null` body and
   * the deployment as it was.
   */
  function putDeployment(record: DeploymentRecord, status: StandinDeploymentStatus): Reply {
    const to = deploymentTransition(record.status, status);
    if (!to) return new Reply(200, null);
    moveDeployment(record, to);
    return deploymentReply(200, record);
  }

  function listDeployments(url: URL, project: ProjectRecord, query: Record<string, string>): Reply {
    let list = deploymentRecords.filter((d) => d.projectId === project.id);
    if (query.environment) {
      const env = environments.find((e) => e.projectId === project.id && e.name === query.environment);
      list = list.filter((d) => d.environmentId === env?.id);
    }
    if (query.status) list = list.filter((d) => d.status === query.status);
    const key = (query.order_by ?? 'id') as 'id' | 'iid' | 'created_at' | 'updated_at' | 'finished_at' | 'ref';
    const value = (d: DeploymentRecord): string | number =>
      ({
        id: d.id,
        iid: d.iid,
        created_at: d.createdAt,
        updated_at: d.updatedAt,
        finished_at: d.finishedAt ?? '',
        ref: d.ref,
      })[key];
    const direction = query.sort === 'desc' ? -1 : 1;
    list = [...list].sort((a, b) => {
      const [x, y] = [value(a), value(b)];
      return ((x < y ? -1 : x > y ? 1 : 0) || a.id - b.id) * direction;
    });
    return paginate(
      url,
      list.map((d) => {
        const { status_history: _history, ...shown } = presentDeployment(d);
        return shown;
      }),
    );
  }

  /** The reporting routes under `/projects/:id/…`; undefined for any other path. */
  function routeReporting(
    req: IncomingMessage,
    url: URL,
    body: Record<string, unknown>,
    id: string,
    parts: string[],
  ): Reply | undefined {
    const query = Object.fromEntries(url.searchParams);
    const method = req.method ?? 'GET';
    const [sub, second, third, fourth, ...more] = parts;

    if (sub === 'statuses' && second !== undefined && third === undefined) {
      if (method !== 'POST') return new Reply(405, { error: '405 Method Not Allowed' });
      const user = authenticate(req, query, ['api']);
      requireParams(body, ['state']);
      requireValue(body, 'state', ['pending', 'running', 'success', 'failed', 'canceled', 'skipped']);
      const project = projectWithRole(user, id, 'developer');
      const sha = safeDecode(second);
      if (!isCommitSha(sha)) return new Reply(404, { message: '404 Commit Not Found' });
      return postCommitStatus(user, project, sha, body);
    }
    if (sub === 'repository' && second === 'commits' && third !== undefined && fourth === 'statuses') {
      if (more.length > 0) return undefined;
      if (method !== 'GET') return new Reply(405, { error: '405 Method Not Allowed' });
      const user = authenticate(req, query, READ_SCOPES);
      requireValue(query, 'order_by', ['id', 'pipeline_id']);
      requireValue(query, 'sort', ['asc', 'desc']);
      const project = projectWithRole(user, id, 'reporter');
      const sha = safeDecode(third);
      if (!isCommitSha(sha)) return new Reply(404, { message: '404 Commit Not Found' });
      return listCommitStatuses(url, project, sha, query);
    }
    if (sub === 'deployments' && third === undefined) {
      if (second === undefined && method === 'POST') {
        const user = authenticate(req, query, ['api']);
        requireGrape(body, ['environment', 'sha', 'ref'], ['tag'], {
          status: ['running', 'success', 'failed', 'canceled'],
        });
        const project = projectWithRole(user, id, 'developer');
        return createDeployment(user, project, body);
      }
      if (second === undefined && method === 'GET') {
        const user = authenticate(req, query, READ_SCOPES);
        requireValue(query, 'order_by', ['id', 'iid', 'created_at', 'updated_at', 'finished_at', 'ref']);
        requireValue(query, 'sort', ['asc', 'desc']);
        requireValue(query, 'status', ['created', 'running', 'success', 'failed', 'canceled', 'skipped', 'blocked']);
        const project = projectWithRole(user, id, 'reporter');
        return listDeployments(url, project, query);
      }
      if (second !== undefined && (method === 'PUT' || method === 'GET')) {
        const write = method === 'PUT';
        const user = authenticate(req, query, write ? ['api'] : READ_SCOPES);
        if (write) {
          requireParams(body, ['status']);
          requireValue(body, 'status', ['running', 'success', 'failed', 'canceled']);
        }
        const project = projectWithRole(user, id, 'reporter');
        const record = deploymentRecords.find((d) => d.projectId === project.id && String(d.id) === second);
        if (!/^\d+$/.test(second) || !record) return new Reply(404, { message: '404 Not found' });
        if (!write) return deploymentReply(200, record);
        projectWithRole(user, id, 'developer');
        return putDeployment(record, String(body.status) as StandinDeploymentStatus);
      }
      return new Reply(405, { error: '405 Method Not Allowed' });
    }
    return undefined;
  }

  /** `Entities::Note` of a note on a merge request. */
  function presentNote(note: NoteRecord): StandinNote {
    return {
      id: note.id,
      type: null,
      body: note.body,
      attachment: null,
      author: presentUser(note.userId),
      created_at: note.createdAt,
      updated_at: note.createdAt,
      system: false,
      noteable_id: 100000 + note.iid,
      noteable_type: 'MergeRequest',
      project_id: note.projectId,
      resolvable: false,
      confidential: false,
      internal: false,
      noteable_iid: note.iid,
      commands_changes: {},
    };
  }

  /**
   * The review-app routes under `/projects/:id/…` (`API::Notes` for merge requests,
   * `API::Environments`); undefined for any other path.
   */
  function routeReviewApps(
    req: IncomingMessage,
    url: URL,
    body: Record<string, unknown>,
    id: string,
    parts: string[],
  ): Reply | undefined {
    const query = Object.fromEntries(url.searchParams);
    const method = req.method ?? 'GET';
    const [sub, second, third, ...more] = parts;

    if (sub === 'merge_requests' && second !== undefined && third === 'notes' && more.length === 0) {
      if (method !== 'POST') return new Reply(405, { error: '405 Method Not Allowed' });
      const user = authenticate(req, query, ['api']);
      if (!/^\d+$/.test(second)) return new Reply(400, { error: 'noteable_id is invalid' });
      requireParams(body, ['body']);
      const project = projectWithRole(user, id, 'reporter');
      const mergeRequest = mergeRequests.get(`${project.id}:${second}`);
      if (!mergeRequest) return new Reply(404, { message: '404 MergeRequest Not Found' });
      const text = String(body.body);
      if (text.length > 1_000_000)
        return new Reply(400, { message: 'Note {:note=>["is too long (maximum is 1000000 characters)"]}' });
      reportSeq.note += 1;
      const note: NoteRecord = {
        id: reportSeq.note,
        projectId: project.id,
        iid: mergeRequest.iid,
        body: text,
        userId: user.id,
        createdAt: now(),
      };
      noteRecords.push(note);
      return new Reply(201, presentNote(note));
    }

    if (sub !== 'environments' || more.length > 0) return undefined;
    if (second === undefined) {
      if (method === 'GET') {
        const user = authenticate(req, query, READ_SCOPES);
        requireValue(query, 'states', ['available', 'stopping', 'stopped']);
        if (query.name !== undefined && query.search !== undefined) {
          return new Reply(400, { error: 'name, search cannot be used together' });
        }
        const project = projectWithRole(user, id, 'reporter');
        let list = environments.filter((e) => e.projectId === project.id);
        if (query.name !== undefined) list = list.filter((e) => e.name === query.name);
        if (query.search !== undefined) list = list.filter((e) => e.name.includes(query.search ?? ''));
        if (query.states !== undefined) list = list.filter((e) => (e.state ?? 'available') === query.states);
        return paginate(url, list.map(presentEnvironment));
      }
      if (method === 'POST') {
        const user = authenticate(req, query, ['api']);
        requireParams(body, ['name']);
        requireValue(body, 'tier', ['production', 'staging', 'testing', 'development', 'other']);
        if (body.slug !== undefined)
          return new Reply(400, { error: 'slug is automatically generated and cannot be changed' });
        const project = projectWithRole(user, id, 'developer');
        const name = String(body.name);
        const invalid = environmentProblems(project.id, name, stringParam(body, 'external_url') ?? null);
        if (invalid) return new Reply(400, { message: invalid });
        reportSeq.environment += 1;
        const env: EnvironmentRecord = {
          id: reportSeq.environment,
          projectId: project.id,
          name,
          slug: slugOf(name),
          createdAt: now(),
          externalUrl: stringParam(body, 'external_url') ?? null,
          state: 'available',
          tier: stringParam(body, 'tier') ?? guessTier(name),
        };
        environments.push(env);
        return new Reply(201, presentEnvironment(env));
      }
      return new Reply(405, { error: '405 Method Not Allowed' });
    }
    if (!/^\d+$/.test(second)) return new Reply(400, { error: 'environment_id is invalid' });
    if (third === undefined && method === 'PUT') {
      const user = authenticate(req, query, ['api']);
      requireValue(body, 'tier', ['production', 'staging', 'testing', 'development', 'other']);
      if (body.slug !== undefined)
        return new Reply(400, { error: 'slug is automatically generated and cannot be changed' });
      const project = projectWithRole(user, id, 'developer');
      const env = environments.find((e) => e.projectId === project.id && String(e.id) === second);
      if (!env) return new Reply(404, { message: '404 Not found' });
      const externalUrl = body.external_url === undefined ? undefined : (stringParam(body, 'external_url') ?? null);
      const invalid = externalUrl ? environmentProblems(project.id, env.name, externalUrl, env.id) : undefined;
      if (invalid) return new Reply(400, { message: invalid });
      if (externalUrl !== undefined) env.externalUrl = externalUrl;
      if (body.tier !== undefined) env.tier = String(body.tier);
      env.updatedAt = now();
      return new Reply(200, presentEnvironment(env));
    }
    if (third === 'stop' && method === 'POST') {
      const user = authenticate(req, query, ['api']);
      booleanParam(body, 'force', false);
      const project = projectWithRole(user, id, 'reporter');
      const env = environments.find((e) => e.projectId === project.id && String(e.id) === second);
      if (!env) return new Reply(404, { message: '404 Not found' });
      // `Environments::StopService`: a Developer stops an available environment (no on_stop job here);
      // anyone else, or an environment stopped already, leaves it as it is. 200 with it either way.
      const level = project.members?.[user.username];
      const developer = level === undefined ? !project.members : LEVELS[level] >= LEVELS.developer;
      if (developer && (env.state ?? 'available') === 'available') {
        env.state = 'stopped';
        env.updatedAt = now();
      }
      return new Reply(200, presentEnvironment(env));
    }
    return new Reply(405, { error: '405 Method Not Allowed' });
  }

  /** `Environment` validations: GitLab's name format and uniqueness in the project, an http(s) external URL. */
  function environmentProblems(
    projectId: number,
    name: string,
    externalUrl: string | null,
    self?: number,
  ): Record<string, string[]> | undefined {
    const problems: Record<string, string[]> = {};
    if (!isValidEnvironmentName(name)) {
      problems.name = [
        "can contain only letters, digits, '-', '_', '/', '$', '{', '}', '.', and spaces, but it cannot start or end with '/'",
      ];
    } else if (environments.some((e) => e.projectId === projectId && e.name === name && e.id !== self)) {
      problems.name = ['has already been taken'];
    }
    if (externalUrl !== null && externalUrl !== '') {
      const urlProblems = [
        ...(isHttpUrl(externalUrl) ? [] : ['is blocked: Only allowed schemes are http, https']),
        ...(externalUrl.length > 255 ? ['is too long (maximum is 255 characters)'] : []),
      ];
      if (urlProblems.length > 0) problems.external_url = urlProblems;
    }
    return Object.keys(problems).length > 0 ? problems : undefined;
  }

  /** Delivers a merge request event to the project's hooks subscribed to merge request events. */
  async function deliverMergeRequestEvent(
    projectId: number,
    event: Parameters<GitlabStandin['deliverMergeRequestEvent']>[1],
  ): Promise<Array<{ hookId: number; status: number; body: unknown }>> {
    const project = projects.get(projectId);
    if (!project) throw new Error(`stand-in: no project ${projectId}`);
    const mergeRequest = mergeRequests.get(`${projectId}:${event.iid}`);
    if (!mergeRequest) throw new Error(`stand-in: no merge request !${event.iid} (addMergeRequest first)`);
    const source = repositoryOf(mergeRequest.sourceProjectId);
    const sha = event.lastCommit ?? source.branches.get(mergeRequest.sourceBranch);
    if (!sha) throw new Error(`stand-in: branch ${mergeRequest.sourceBranch} has no commit (addCommit first)`);
    const commit = source.commits.get(sha);
    if (event.action === 'merge') mergeRequest.state = 'merged';
    else if (event.action === 'close') mergeRequest.state = 'closed';
    else if (event.action === 'open' || event.action === 'reopen') mergeRequest.state = 'opened';
    const example = gitlabExample('merge_request.json').body as Record<string, Record<string, unknown>>;
    const attributes = example.object_attributes ?? {};
    const lastCommit = (attributes.last_commit ?? {}) as Record<string, unknown>;
    const { oldrev: _none, ...exampleAttributes } = attributes;
    const body = {
      ...example,
      project: {
        ...example.project,
        id: project.id,
        name: project.path.split('/').at(-1),
        web_url: `${base}/${project.path}`,
        git_ssh_url: project.sshUrl,
        git_http_url: `${base}/${project.path}.git`,
        path_with_namespace: project.path,
        default_branch: project.defaultBranch,
      },
      object_attributes: {
        ...exampleAttributes,
        id: 100000 + mergeRequest.iid,
        iid: mergeRequest.iid,
        action: event.action,
        state: mergeRequest.state,
        title: mergeRequest.title,
        source_branch: mergeRequest.sourceBranch,
        target_branch: mergeRequest.targetBranch,
        source_project_id: mergeRequest.sourceProjectId,
        target_project_id: project.id,
        url: `${base}/${project.path}/-/merge_requests/${mergeRequest.iid}`,
        last_commit: {
          ...lastCommit,
          id: sha,
          title: commit?.title ?? String(lastCommit.title),
          message: commit?.message ?? String(lastCommit.message),
          timestamp: commit?.createdAt ?? String(lastCommit.timestamp),
          url: `${base}/${project.path}/-/commit/${sha}`,
          author: commit ? { name: commit.authorName, email: commit.authorEmail } : lastCommit.author,
        },
        ...(event.oldrev ? { oldrev: event.oldrev } : {}),
      },
    };
    const answers: Array<{ hookId: number; status: number; body: unknown }> = [];
    for (const hook of [...hooks.values()].filter((h) => h.project_id === projectId && h.merge_requests_events)) {
      const { status, answer } = await deliver(hook, 'Merge Request Hook', body);
      if (status < 200 || status >= 400) deliveryFailed(hook.id);
      else hookHealth.delete(hook.id);
      answers.push({ hookId: hook.id, status, body: answer });
    }
    return answers;
  }

  function route(req: IncomingMessage, url: URL, body: Record<string, unknown>): Reply {
    const query = Object.fromEntries(url.searchParams);
    const segments = url.pathname.split('/').slice(1);
    if (segments[0] !== 'api' || segments[1] !== 'v4') return new Reply(404, { error: '404 Not Found' });
    const [resource, rawId, sub, rawSubId, ...rest] = segments.slice(2);
    const method = req.method ?? 'GET';
    const id = rawId === undefined ? undefined : safeDecode(rawId);

    if (resource === 'version' && rawId === undefined && method === 'GET') {
      authenticate(req, query, USER_SCOPES);
      return new Reply(200, {
        version,
        revision: 'standin',
        kas: { enabled: false, externalUrl: null, externalK8sProxyUrl: null, version: null },
        enterprise: false,
      });
    }
    if (resource === 'user' && rawId === undefined && method === 'GET') {
      const user = authenticate(req, query, USER_SCOPES);
      return new Reply(200, {
        id: user.id,
        username: user.username,
        name: user.username,
        state: 'active',
        locked: false,
        avatar_url: null,
        web_url: `${base}/${user.username}`,
        created_at: user.createdAt,
        bio: '',
        public_email: null,
        email: `${user.username}@example.com`,
        is_admin: false,
        two_factor_enabled: false,
        bot: false,
      });
    }
    if (resource === 'personal_access_tokens' && rawId === 'self' && sub === undefined && method === 'GET') {
      // Any valid token may read itself, whatever its scopes.
      authenticate(req, query, 'any');
      const record = tokenOf(req, query);
      return new Reply(200, {
        id: record.id,
        name: `token-${record.id}`,
        revoked: record.revoked,
        created_at: record.createdAt,
        description: null,
        scopes: record.scopes,
        user_id: record.userId,
        last_used_at: now(),
        active: !record.revoked,
        expires_at: record.expiresAt,
      });
    }
    if (resource === 'projects' && id !== undefined && sub !== undefined) {
      const reported = routeReporting(req, url, body, id, segments.slice(4));
      if (reported) return reported;
      const reviewed = routeReviewApps(req, url, body, id, segments.slice(4));
      if (reviewed) return reviewed;
      const fromRepository = routeRepository(req, url, id, segments.slice(4));
      if (fromRepository) return fromRepository;
    }
    if (resource === 'projects' && id !== undefined && sub === 'members' && rawSubId === 'all' && rest.length === 1) {
      if (method !== 'GET') return new Reply(405, { error: '405 Method Not Allowed' });
      return showMember(req, query, id, rest[0] ?? '');
    }
    if (resource !== 'projects' || id === undefined || rest.length > 0) {
      return new Reply(404, { error: '404 Not Found' });
    }

    if (sub === undefined && method === 'GET') {
      if (presentedToken(req, query) === undefined) return new Reply(404, { message: '404 Project Not Found' });
      const user = authenticate(req, query, READ_SCOPES);
      return new Reply(200, presentProject(projectFor(user, id, false)));
    }

    if (sub === 'hooks' && rawSubId === undefined && method === 'GET') {
      const user = authenticate(req, query, READ_SCOPES);
      const project = projectFor(user, id, true);
      const list = [...hooks.values()].filter((h) => h.project_id === project.id).map(presentHook);
      return paginate(url, list);
    }
    if (sub === 'hooks' && rawSubId === undefined && method === 'POST') {
      const user = authenticate(req, query, ['api']);
      requireParams(body, ['url']);
      const flags = Object.fromEntries(
        Object.entries(HOOK_EVENTS).map(([name, fallback]) => [name, booleanParam(body, name, fallback)]),
      );
      const project = projectFor(user, id, true);
      const hookUrl = String(body.url);
      if (!isAcceptableHookUrl(hookUrl, allowLocalWebhooks)) return new Reply(422, { error: 'Invalid url given' });
      const branchFilter = body.push_events_branch_filter === undefined ? '' : String(body.push_events_branch_filter);
      if (!isValidBranchFilter(branchFilter)) return new Reply(422, { error: 'Invalid branch filter given' });
      seq.hook += 1;
      const hook: StandinHook = {
        id: seq.hook,
        project_id: project.id,
        url: hookUrl,
        name: typeof body.name === 'string' ? body.name : null,
        description: typeof body.description === 'string' ? body.description : null,
        created_at: now(),
        push_events: flags.push_events ?? true,
        tag_push_events: flags.tag_push_events ?? false,
        enable_ssl_verification: flags.enable_ssl_verification ?? true,
        ...flags,
        push_events_branch_filter: branchFilter,
        branch_filter_strategy:
          typeof body.branch_filter_strategy === 'string' ? body.branch_filter_strategy : 'wildcard',
        repository_update_events: false,
        alert_status: 'executable',
        disabled_until: null,
        url_variables: [],
        custom_webhook_template: null,
        custom_headers: [],
        token: typeof body.token === 'string' && body.token !== '' ? body.token : null,
      };
      hooks.set(hook.id, hook);
      return new Reply(201, presentHook(hook));
    }
    if (sub === 'hooks' && rawSubId !== undefined && method === 'GET') {
      const user = authenticate(req, query, READ_SCOPES);
      const project = projectFor(user, id, true);
      const hook = hooks.get(Number(rawSubId));
      if (!/^\d+$/.test(rawSubId) || !hook || hook.project_id !== project.id) {
        return new Reply(404, { message: '404 Not found' });
      }
      return new Reply(200, presentHook(hook));
    }
    if (sub === 'hooks' && rawSubId !== undefined && method === 'PUT') {
      // `PUT /projects/:id/hooks/:hook_id`: the parameters given replace the hook's; the rest stay.
      const user = authenticate(req, query, ['api']);
      requireParams(body, ['url']);
      const hook = hooks.get(Number(rawSubId));
      const flags = Object.fromEntries(
        Object.keys(HOOK_EVENTS).map((name) => [name, booleanParam(body, name, Boolean(hook?.[name]))]),
      );
      const project = projectFor(user, id, true);
      if (!/^\d+$/.test(rawSubId) || !hook || hook.project_id !== project.id) {
        return new Reply(404, { message: '404 Not found' });
      }
      const hookUrl = String(body.url);
      if (!isAcceptableHookUrl(hookUrl, allowLocalWebhooks)) return new Reply(422, { error: 'Invalid url given' });
      const branchFilter =
        body.push_events_branch_filter === undefined
          ? hook.push_events_branch_filter
          : String(body.push_events_branch_filter);
      if (!isValidBranchFilter(branchFilter)) return new Reply(422, { error: 'Invalid branch filter given' });
      Object.assign(hook, flags, { url: hookUrl, push_events_branch_filter: branchFilter });
      if (body.token !== undefined)
        hook.token = typeof body.token === 'string' && body.token !== '' ? body.token : null;
      return new Reply(200, presentHook(hook));
    }
    if (sub === 'hooks' && rawSubId !== undefined && method === 'DELETE') {
      const user = authenticate(req, query, ['api']);
      const project = projectFor(user, id, true);
      const hook = hooks.get(Number(rawSubId));
      if (!/^\d+$/.test(rawSubId) || !hook || hook.project_id !== project.id) {
        return new Reply(404, { message: '404 Not found' });
      }
      hooks.delete(hook.id);
      hookHealth.delete(hook.id);
      return new Reply(204, undefined);
    }

    if (sub === 'deploy_keys' && rawSubId === undefined && method === 'GET') {
      const user = authenticate(req, query, READ_SCOPES);
      const project = projectFor(user, id, true);
      return paginate(url, deployKeysOf(project.id));
    }
    if (sub === 'deploy_keys' && rawSubId === undefined && method === 'POST') {
      const user = authenticate(req, query, ['api']);
      requireParams(body, ['key', 'title']);
      const canPush = booleanParam(body, 'can_push', false);
      const project = projectFor(user, id, true);
      const text = String(body.key).trim();
      const links = keyLinks.get(project.id) ?? new Map<number, boolean>();
      keyLinks.set(project.id, links);
      // GitLab reuses a key it already knows (same text): on this project it answers with it as it is.
      const known = [...keys.values()].find((k) => k.key === text);
      if (known && links.has(known.id)) return new Reply(201, presentKey(known, links.get(known.id) ?? false));
      if (known) {
        links.set(known.id, canPush);
        return new Reply(201, presentKey(known, canPush));
      }
      let parsed: sshpk.Key;
      try {
        parsed = sshpk.parseKey(text, 'ssh');
      } catch {
        return new Reply(400, {
          message: { 'deploy_key.key': ['is invalid'], 'deploy_key.fingerprint_sha256': ['cannot be generated'] },
        });
      }
      const fingerprintSha256 = parsed.fingerprint('sha256').toString();
      if ([...keys.values()].some((k) => k.fingerprintSha256 === fingerprintSha256)) {
        return new Reply(400, {
          message: {
            'deploy_key.fingerprint_sha256': ['has already been taken'],
            'deploy_key.fingerprint': ['has already been taken'],
          },
        });
      }
      seq.key += 1;
      const key: KeyRecord = {
        id: seq.key,
        title: String(body.title),
        key: text,
        fingerprint: parsed.fingerprint('md5').toString('hex'),
        fingerprintSha256,
        createdAt: now(),
        expiresAt: typeof body.expires_at === 'string' ? body.expires_at : null,
      };
      keys.set(key.id, key);
      links.set(key.id, canPush);
      return new Reply(201, presentKey(key, canPush));
    }
    if (sub === 'deploy_keys' && rawSubId !== undefined && method === 'GET') {
      const user = authenticate(req, query, READ_SCOPES);
      const project = projectFor(user, id, true);
      const keyId = Number(rawSubId);
      const key = keys.get(keyId);
      const links = keyLinks.get(project.id);
      if (!/^\d+$/.test(rawSubId) || !key || !links?.has(keyId)) {
        return new Reply(404, { message: '404 Deploy Key Not Found' });
      }
      return new Reply(200, presentKey(key, links.get(keyId) ?? false));
    }
    if (sub === 'deploy_keys' && rawSubId !== undefined && method === 'DELETE') {
      const user = authenticate(req, query, ['api']);
      const project = projectFor(user, id, true);
      const links = keyLinks.get(project.id);
      const keyId = Number(rawSubId);
      if (!/^\d+$/.test(rawSubId) || !links?.has(keyId)) return new Reply(404, { message: '404 Deploy Key Not Found' });
      links.delete(keyId);
      // A key no project uses any more is gone with its last link.
      if (![...keyLinks.values()].some((l) => l.has(keyId))) keys.delete(keyId);
      return new Reply(204, undefined);
    }
    if (['hooks', 'deploy_keys', undefined].includes(sub)) {
      return new Reply(405, { error: '405 Method Not Allowed' });
    }
    return new Reply(404, { error: '404 Not Found' });
  }

  /**
   * `GET /projects/:id/members/all/:user_id` (`Entities::Member`): whoever can see the project may
   * ask; 404 "404 Not found" for a user who is no member, or no user at all.
   */
  function showMember(req: IncomingMessage, query: Record<string, string>, id: string, rawUserId: string): Reply {
    const user = authenticate(req, query, READ_SCOPES);
    const userId = safeDecode(rawUserId);
    if (!/^\d+$/.test(userId)) return new Reply(400, { error: 'user_id is invalid' });
    const project = projectFor(user, id, false);
    const member = users.get(Number(userId));
    const role = member && (project.members ? project.members[member.username] : 'maintainer');
    if (!member || !role) return new Reply(404, { message: '404 Not found' });
    return new Reply(200, {
      id: member.id,
      username: member.username,
      name: member.username,
      state: 'active',
      locked: false,
      avatar_url: null,
      web_url: `${base}/${member.username}`,
      access_level: LEVELS[role],
      created_at: project.createdAt,
      created_by: null,
      expires_at: null,
      membership_state: 'active',
    });
  }

  function deployKeysOf(projectId: number): StandinDeployKey[] {
    const links = keyLinks.get(projectId) ?? new Map<number, boolean>();
    return [...links.entries()].flatMap(([keyId, canPush]) => {
      const key = keys.get(keyId);
      return key ? [presentKey(key, canPush)] : [];
    });
  }

  // ---- OpenID Connect provider (Doorkeeper + doorkeeper-openid_connect) ------------------------

  async function routeOauth(req: IncomingMessage, url: URL, form: Record<string, unknown>): Promise<Reply> {
    const method = req.method ?? 'GET';
    const query = Object.fromEntries(url.searchParams);
    switch (url.pathname) {
      case '/.well-known/openid-configuration':
        if (method === 'GET') return new Reply(200, openidConfiguration());
        break;
      case '/oauth/discovery/keys':
        if (method === 'GET') return new Reply(200, { keys: [(await signingKey()).jwk] });
        break;
      case '/oauth/authorize':
        if (method === 'GET') return authorize(query);
        if (method === 'POST' || method === 'DELETE') return decide(method, form);
        break;
      case '/oauth/token':
        if (method === 'POST') return exchangeCode(req, form);
        break;
      case '/oauth/userinfo':
        if (method === 'GET' || method === 'POST') return userinfo(req, query);
        break;
    }
    return page(404, 'Page Not Found', "The page you're looking for could not be found.");
  }

  /** GitLab's discovery document (revocation and introspection left out: not served here). */
  function openidConfiguration(): Record<string, unknown> {
    return {
      issuer: base,
      authorization_endpoint: `${base}/oauth/authorize`,
      token_endpoint: `${base}/oauth/token`,
      userinfo_endpoint: `${base}/oauth/userinfo`,
      jwks_uri: `${base}/oauth/discovery/keys`,
      scopes_supported: OAUTH_SCOPES,
      response_types_supported: ['code'],
      response_modes_supported: ['query', 'fragment', 'form_post'],
      grant_types_supported: ['authorization_code', 'password', 'client_credentials', 'device_code', 'refresh_token'],
      token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
      subject_types_supported: ['public'],
      id_token_signing_alg_values_supported: ['RS256'],
      claim_types_supported: ['normal'],
      claims_supported: [
        'iss',
        'sub',
        'aud',
        'exp',
        'iat',
        'sub_legacy',
        'name',
        'nickname',
        'preferred_username',
        'email',
        'email_verified',
        'website',
        'profile',
        'picture',
        'groups',
        'groups_direct',
        'https://gitlab.org/claims/groups/owner',
        'https://gitlab.org/claims/groups/maintainer',
        'https://gitlab.org/claims/groups/developer',
      ],
      code_challenge_methods_supported: ['plain', 'S256'],
    };
  }

  function signingKey(): Promise<SigningKey> {
    signing ??= (async () => {
      const { privateKey, publicKey } = await generateKeyPair('RS256');
      const jwk = await exportJWK(publicKey);
      const kid = await calculateJwkThumbprint(jwk);
      return { privateKey, jwk: { ...jwk, kid, use: 'sig', alg: 'RS256' } };
    })();
    return signing;
  }

  /** A page as GitLab's Rails side answers (HTML, never JSON). */
  function page(status: number, title: string, message: string): Reply {
    const html = [
      '<!DOCTYPE html>',
      '<html lang="en">',
      `<head><meta charset="utf-8"><title>${escapeHtml(title)} · GitLab</title></head>`,
      `<body><main><h1>${escapeHtml(title)}</h1><p>${escapeHtml(message)}</p></main></body>`,
      '</html>',
      '',
    ].join('\n');
    return new Reply(status, html, { 'content-type': 'text/html; charset=utf-8' });
  }

  function redirectTo(target: string, params: Record<string, string | undefined>): Reply {
    const location = new URL(target);
    for (const [name, value] of Object.entries(params)) {
      if (value !== undefined) location.searchParams.set(name, value);
    }
    return new Reply(302, undefined, { location: location.toString() });
  }

  /**
   * Doorkeeper's `PreAuthorization`, in its order. The client and its redirect URI first: their
   * errors are a 400 page, as nothing may go to a URI the application did not register (which
   * must match exactly). Every later error goes back to the redirect URI with `state`. PKCE with
   * S256 is required here (GitLab also takes none, or plain, from a confidential application).
   */
  function checkAuthorization(
    params: Record<string, unknown>,
  ): { app: OauthApplicationRecord; request: AuthorizationRequest } | Reply {
    const failed = (message: string) => page(400, 'An error has occurred', message);
    const clientId = stringParam(params, 'client_id');
    if (!clientId) return failed('Missing required parameter: client_id.');
    const app = oauthApplications.get(clientId);
    if (!app) return failed(OAUTH_ERRORS.invalid_client);
    const redirectUri = stringParam(params, 'redirect_uri');
    if (!redirectUri) return failed('Missing required parameter: redirect_uri.');
    if (redirectUri !== app.redirectUri) return failed(OAUTH_ERRORS.invalid_redirect_uri);
    const state = stringParam(params, 'state') || undefined;
    const back = (error: string, description: string) =>
      redirectTo(redirectUri, { error, error_description: description, state });
    const responseType = stringParam(params, 'response_type');
    if (!responseType) return back('invalid_request', 'Missing required parameter: response_type.');
    if (responseType !== 'code') return back('unsupported_response_type', OAUTH_ERRORS.unsupported_response_type);
    const asked = [...new Set((stringParam(params, 'scope') ?? '').split(' ').filter((s) => s !== ''))];
    // No scope asked: GitLab's default scope (api), if the application has it.
    const scopes = asked.length > 0 ? asked : ['api'].filter((s) => app.scopes.includes(s));
    if (scopes.length === 0 || scopes.some((s) => !app.scopes.includes(s))) {
      return back('invalid_scope', OAUTH_ERRORS.invalid_scope);
    }
    const codeChallenge = stringParam(params, 'code_challenge');
    if (!codeChallenge) return back('invalid_request', 'Missing required parameter: code_challenge.');
    if ((stringParam(params, 'code_challenge_method') ?? 'plain') !== 'S256') {
      return back('invalid_request', 'The code_challenge_method must be S256.');
    }
    // BASE64URL(SHA-256(verifier)) is 43 characters, always.
    if (!/^[A-Za-z0-9_-]{43}$/.test(codeChallenge)) return back('invalid_request', 'The code_challenge is malformed.');
    const nonce = stringParam(params, 'nonce') || undefined;
    return { app, request: { clientId, redirectUri, scopes, state, nonce, codeChallenge } };
  }

  /** `GET /oauth/authorize`: for the signed-in user, the consent page (or, auto-approving, the code). */
  function authorize(query: Record<string, string>): Reply {
    if (!signedIn) return page(401, 'Sign in', 'You need to sign in or sign up before continuing.');
    const checked = checkAuthorization(query);
    if (checked instanceof Reply) return checked;
    if (approveAtOnce) return approve(checked.request);
    // Rails' authenticity token, one per page shown: a POST without it is refused.
    const token = randomBytes(32).toString('base64url');
    consents.set(token, { ...checked.request, userId: signedIn.user.id });
    return consentPage(checked.app, checked.request, signedIn.user, token);
  }

  function consentPage(app: OauthApplicationRecord, request: AuthorizationRequest, user: UserRecord, token: string) {
    const fields = Object.entries({
      authenticity_token: token,
      client_id: request.clientId,
      redirect_uri: request.redirectUri,
      state: request.state,
      response_type: 'code',
      scope: request.scopes.join(' '),
      nonce: request.nonce,
      code_challenge: request.codeChallenge,
      code_challenge_method: 'S256',
    })
      .filter((entry): entry is [string, string] => entry[1] !== undefined)
      .map(([name, value]) => `<input type="hidden" name="${name}" value="${escapeHtml(value)}">`)
      .join('\n');
    const name = escapeHtml(app.name);
    const html = [
      '<!DOCTYPE html>',
      '<html lang="en">',
      '<head><meta charset="utf-8"><title>Authorize application · GitLab</title></head>',
      '<body><main>',
      `<h1>Authorize ${name} to use your account?</h1>`,
      `<p>An application called ${name} is requesting access to your GitLab account (@${escapeHtml(user.username)}).`,
      'This application will be able to:</p>',
      `<ul>${request.scopes.map((scope) => `<li>${escapeHtml(scope)}</li>`).join('')}</ul>`,
      '<form method="post" action="/oauth/authorize">',
      fields,
      '<button type="submit">Authorize</button>',
      '</form>',
      '<form method="post" action="/oauth/authorize">',
      '<input type="hidden" name="_method" value="delete">',
      fields,
      '<button type="submit">Deny</button>',
      '</form>',
      '</main></body>',
      '</html>',
      '',
    ].join('\n');
    return new Reply(200, html, { 'content-type': 'text/html; charset=utf-8', 'x-frame-options': 'DENY' });
  }

  /**
   * `POST /oauth/authorize` (Authorize) or its `DELETE` (Deny; a form sends `_method=delete`):
   * only with the authenticity token of a page shown to the user signed in now, once, and with
   * the request that page carried.
   */
  function decide(method: string, form: Record<string, unknown>): Reply {
    if (!signedIn) return page(401, 'Sign in', 'You need to sign in or sign up before continuing.');
    const token = stringParam(form, 'authenticity_token') ?? '';
    const pending = consents.get(token);
    consents.delete(token);
    const rejected = () =>
      page(
        422,
        'The change you requested was rejected.',
        "Maybe you tried to change something you didn't have access to.",
      );
    if (!pending || pending.userId !== signedIn.user.id) return rejected();
    const checked = checkAuthorization(form);
    if (checked instanceof Reply) return checked;
    const { userId: _userId, ...shown } = pending;
    if (JSON.stringify(shown) !== JSON.stringify(checked.request)) return rejected();
    if (method === 'DELETE' || stringParam(form, '_method')?.toLowerCase() === 'delete') {
      return redirectTo(shown.redirectUri, {
        error: 'access_denied',
        error_description: OAUTH_ERRORS.access_denied,
        state: shown.state,
      });
    }
    return approve(shown);
  }

  /** The authorization code (10 minutes, single use) for the signed-in user, sent to the redirect URI. */
  function approve(request: AuthorizationRequest): Reply {
    if (!signedIn) return page(401, 'Sign in', 'You need to sign in or sign up before continuing.');
    const code = randomBytes(32).toString('hex');
    grants.set(code, {
      ...request,
      code,
      userId: signedIn.user.id,
      authTime: signedIn.at,
      expiresAt: Date.now() + CODE_TTL_MS,
      used: false,
    });
    return redirectTo(request.redirectUri, { code, state: request.state });
  }

  /** Doorkeeper's error bodies; a 401 says so in `WWW-Authenticate` too. */
  function oauthError(status: number, error: string, description: string): Reply {
    return new Reply(
      status,
      { error, error_description: description },
      {
        'cache-control': 'no-store',
        pragma: 'no-cache',
        ...(status === 401
          ? { 'www-authenticate': `Bearer realm="Doorkeeper", error="${error}", error_description="${description}"` }
          : {}),
      },
    );
  }

  /** HTTP Basic (client_secret_basic), else `client_id` and `client_secret` in the body (client_secret_post). */
  function clientCredentials(req: IncomingMessage, form: Record<string, unknown>) {
    const basic = /^Basic\s+(\S+)$/i.exec(req.headers.authorization ?? '')?.[1];
    if (basic) {
      const decoded = Buffer.from(basic, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      if (colon < 0) return undefined;
      return { id: formDecode(decoded.slice(0, colon)), secret: formDecode(decoded.slice(colon + 1)) };
    }
    const id = stringParam(form, 'client_id');
    return id === undefined ? undefined : { id, secret: stringParam(form, 'client_secret') ?? '' };
  }

  /**
   * `POST /oauth/token` with `grant_type=authorization_code` (Doorkeeper's `AuthorizationCodeRequest`):
   * the client authenticated, the code its own, unexpired and unused, the redirect URI the one of
   * the authorization, BASE64URL(SHA-256(code_verifier)) the challenge. A missing parameter is
   * `invalid_request`, anything else wrong with the grant `invalid_grant`. The code is used up
   * only by success.
   */
  async function exchangeCode(req: IncomingMessage, form: Record<string, unknown>): Promise<Reply> {
    const grantType = stringParam(form, 'grant_type');
    if (!grantType) return oauthError(400, 'invalid_request', 'Missing required parameter: grant_type.');
    if (grantType !== 'authorization_code') {
      return oauthError(400, 'unsupported_grant_type', OAUTH_ERRORS.unsupported_grant_type);
    }
    const client = clientCredentials(req, form);
    const app = client && oauthApplications.get(client.id);
    if (!client || !app || !sameSecret(client.secret, app.clientSecret)) {
      return oauthError(401, 'invalid_client', OAUTH_ERRORS.invalid_client);
    }
    const invalidGrant = () => oauthError(400, 'invalid_grant', OAUTH_ERRORS.invalid_grant);
    const code = stringParam(form, 'code');
    if (!code) return oauthError(400, 'invalid_request', 'Missing required parameter: code.');
    const grant = grants.get(code);
    if (!grant || grant.used || grant.expiresAt <= Date.now() || grant.clientId !== app.clientId) return invalidGrant();
    const redirectUri = stringParam(form, 'redirect_uri');
    if (!redirectUri) return oauthError(400, 'invalid_request', 'Missing required parameter: redirect_uri.');
    if (redirectUri !== grant.redirectUri) return invalidGrant();
    const verifier = stringParam(form, 'code_verifier');
    if (!verifier) return oauthError(400, 'invalid_request', 'Missing required parameter: code_verifier.');
    if (createHash('sha256').update(verifier).digest('base64url') !== grant.codeChallenge) return invalidGrant();
    const user = users.get(grant.userId);
    if (!user) return invalidGrant();
    grant.used = true;

    const record: OauthTokenRecord = {
      accessToken: randomBytes(32).toString('hex'),
      refreshToken: randomBytes(32).toString('hex'),
      clientId: app.clientId,
      userId: user.id,
      scopes: grant.scopes,
      expiresAt: Date.now() + ACCESS_TOKEN_TTL_S * 1000,
    };
    oauthTokens.set(record.accessToken, record);
    return new Reply(
      200,
      {
        access_token: record.accessToken,
        token_type: 'Bearer',
        expires_in: ACCESS_TOKEN_TTL_S,
        refresh_token: record.refreshToken,
        scope: grant.scopes.join(' '),
        created_at: Math.floor(Date.now() / 1000),
        ...(grant.scopes.includes('openid') ? { id_token: await idToken(grant, user) } : {}),
      },
      { 'cache-control': 'no-store', pragma: 'no-cache' },
    );
  }

  /** The id_token: RS256 with the JWKS key, for the client, 120 s, with the authorization's nonce. */
  async function idToken(grant: GrantRecord, user: UserRecord): Promise<string> {
    const key = await signingKey();
    const { sub: _sub, groups: _groups, email, email_verified, ...claims } = userClaims(user);
    const issuedAt = Math.floor(Date.now() / 1000);
    return new SignJWT({
      ...claims,
      auth_time: grant.authTime,
      ...(grant.nonce !== undefined ? { nonce: grant.nonce } : {}),
      ...(grant.scopes.includes('email') ? { email, email_verified } : {}),
      groups_direct: [],
    })
      .setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid: key.jwk.kid })
      .setIssuer(base)
      .setSubject(String(user.id))
      .setAudience(grant.clientId)
      .setIssuedAt(issuedAt)
      .setExpirationTime(issuedAt + ID_TOKEN_TTL_S)
      .sign(key.privateKey);
  }

  function userClaims(user: UserRecord): Record<string, unknown> {
    return {
      sub: String(user.id),
      sub_legacy: createHash('sha256').update(`${user.id}-${instanceSecret}`).digest('hex'),
      name: user.username,
      nickname: user.username,
      preferred_username: user.username,
      email: `${user.username}@example.com`,
      email_verified: true,
      website: '',
      profile: `${base}/${user.username}`,
      picture: `${base}/uploads/-/system/user/avatar/${user.id}/avatar.png`,
      // Group paths of the user's memberships: the stand-in has projects, not groups.
      groups: [],
    };
  }

  /** `GET /oauth/userinfo`: an OAuth access token with `openid` (a personal access token is no such token). */
  function userinfo(req: IncomingMessage, query: Record<string, string>): Reply {
    const presented = bearerToken(req) ?? query.access_token;
    const token = presented === undefined ? undefined : oauthTokens.get(presented);
    const user = token && users.get(token.userId);
    if (!token || !user) return oauthError(401, 'invalid_token', 'The access token is invalid');
    if (token.expiresAt <= Date.now()) return oauthError(401, 'invalid_token', 'The access token expired');
    if (!token.scopes.includes('openid')) {
      return oauthError(
        403,
        'insufficient_scope',
        'The request requires higher privileges than provided by the access token.',
      );
    }
    return new Reply(200, userClaims(user));
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', base);
    const raw = await readBody(req);
    const recorded: RecordedRequest = {
      method: req.method ?? 'GET',
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      headers: req.headers,
      body: parseBody(raw, req.headers['content-type']),
      status: 0,
    };
    requests.push(recorded);
    if (down === 'reset') {
      req.socket.destroy();
      return;
    }
    if (down === 'hang') return;

    let reply: Reply;
    const failure = failures.findIndex((f) => f.method === recorded.method && f.pathPattern.test(recorded.path));
    if (failure >= 0) {
      const [f] = failures.splice(failure, 1);
      reply = new Reply(
        f?.status ?? 500,
        f?.body ?? { message: `${f?.status} ${REASONS[f?.status ?? 500] ?? 'Error'}` },
      );
    } else {
      try {
        const body = recorded.body;
        if (raw.length > 0 && typeof body === 'string') throw new Reply(400, { error: 'body is not valid JSON' });
        const form = body && typeof body === 'object' && !Array.isArray(body) ? (body as Record<string, unknown>) : {};
        const params = { ...recorded.query, ...form };
        const test = /^\/api\/v4\/projects\/([^/]+)\/hooks\/([^/]+)\/test\/([^/]+)$/.exec(url.pathname);
        reply = isOauthPath(url.pathname)
          ? await routeOauth(req, url, form)
          : test && recorded.method === 'POST'
            ? await testHook(req, url, test[1] ?? '', test[2] ?? '', test[3] ?? '')
            : route(req, url, params);
      } catch (error) {
        if (!(error instanceof Reply)) throw error;
        reply = error;
      }
    }
    recorded.status = reply.status;
    const headers: Record<string, string> = {
      'x-request-id': randomUUID().replace(/-/g, '').slice(0, 26).toUpperCase(),
      'cache-control': 'no-cache',
      ...reply.headers,
    };
    if (reply.status === 204 || reply.body === undefined) {
      res.writeHead(reply.status, headers).end();
      return;
    }
    // A page (HTML) comes as it is, with its own content type.
    if (typeof reply.body === 'string' && reply.headers['content-type']) {
      res.writeHead(reply.status, headers).end(reply.body);
      return;
    }
    res.writeHead(reply.status, { ...headers, 'content-type': 'application/json' }).end(JSON.stringify(reply.body));
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) {
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ message: '500 Internal Server Error', detail: String(error) }));
      }
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    if (down === 'reset') socket.destroy();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  host = '127.0.0.1';
  base = `http://${host}:${port}`;

  return {
    url: base,
    requests,
    async stop() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
    addUser(spec) {
      let user = [...users.values()].find((u) => u.username === spec.username);
      if (!user) {
        seq.user += 1;
        user = { id: seq.user, username: spec.username, createdAt: now() };
        users.set(user.id, user);
      }
      if (spec.token === undefined) return { id: user.id, username: user.username };
      if (tokens.has(spec.token)) throw new Error('stand-in: that token is already issued');
      seq.token += 1;
      tokens.set(spec.token, {
        id: seq.token,
        token: spec.token,
        userId: user.id,
        scopes: [...(spec.scopes ?? [])],
        expiresAt: spec.expiresAt ?? null,
        revoked: false,
        createdAt: now(),
      });
      return { id: user.id, username: user.username };
    },
    addProject(spec) {
      const id = spec.id ?? seq.project + 1;
      if (projects.has(id)) throw new Error(`stand-in: project id ${id} is taken`);
      if (findProject(spec.path)) throw new Error(`stand-in: project ${spec.path} exists`);
      seq.project = Math.max(seq.project, id);
      const record: ProjectRecord = {
        id,
        path: spec.path,
        sshUrl: spec.sshUrl ?? `git@${host}:${spec.path}.git`,
        defaultBranch: spec.defaultBranch ?? 'main',
        ...(spec.members ? { members: { ...spec.members } } : {}),
        createdAt: now(),
      };
      projects.set(id, record);
      return presentProject(record);
    },
    addCommit(projectId, spec) {
      const project = projects.get(projectId);
      if (!project) throw new Error(`stand-in: no project ${projectId}`);
      const sha = (spec.sha ?? randomBytes(20).toString('hex')).toLowerCase();
      if (!/^[0-9a-f]{40}$/.test(sha)) throw new Error(`stand-in: "${sha}" is not a 40-hex sha`);
      const repository = repositoryOf(projectId);
      if (repository.commits.has(sha)) throw new Error(`stand-in: commit ${sha} exists`);
      const branches = spec.branches ?? [];
      const firstBranchTip = branches[0] === undefined ? undefined : repository.branches.get(branches[0]);
      const authorName = spec.authorName ?? 'Test Author';
      const record: CommitRecord = {
        sha,
        title: spec.title,
        message: spec.message ?? spec.title,
        authorName,
        authorEmail: spec.authorEmail ?? `${authorName.toLowerCase().replace(/[^a-z0-9]+/g, '-')}@example.com`,
        parentIds: spec.parentIds ?? (firstBranchTip ? [firstBranchTip] : []),
        createdAt: spec.committedDate ?? now(),
      };
      repository.commits.set(sha, record);
      for (const branch of branches) repository.branches.set(branch, sha);
      for (const tag of spec.tags ?? []) repository.tags.set(tag, sha);
      return presentCommit(project, record);
    },
    revoke(token) {
      const record = tokens.get(token);
      if (!record) throw new Error('stand-in: unknown token');
      record.revoked = true;
    },
    hooks(projectId) {
      return [...hooks.values()].filter((h) => h.project_id === projectId).map(withHealth);
    },
    failDeliveries(hookId, count) {
      if (!hooks.has(hookId)) throw new Error(`stand-in: no hook ${hookId}`);
      for (let i = 0; i < count; i += 1) deliveryFailed(hookId);
    },
    testDeliveries,
    deployKeys(projectId) {
      return deployKeysOf(projectId);
    },
    statuses(projectId, sha) {
      return statusPosts
        .filter((s) => s.project_id === projectId && (sha === undefined || s.sha === sha))
        .map((s) => ({ ...s }));
    },
    deployments(projectId) {
      return deploymentRecords.filter((d) => d.projectId === projectId).map(presentDeployment);
    },
    addMergeRequest(projectId, spec) {
      const project = projects.get(projectId);
      if (!project) throw new Error(`stand-in: no project ${projectId}`);
      if (mergeRequests.has(`${projectId}:${spec.iid}`)) throw new Error(`stand-in: merge request !${spec.iid} exists`);
      mergeRequests.set(`${projectId}:${spec.iid}`, {
        projectId,
        iid: spec.iid,
        sourceBranch: spec.sourceBranch,
        targetBranch: spec.targetBranch ?? project.defaultBranch,
        title: spec.title ?? `Merge request ${spec.iid}`,
        sourceProjectId: spec.sourceProjectId ?? projectId,
        state: 'opened',
      });
    },
    notes(projectId, iid) {
      return noteRecords
        .filter((n) => n.projectId === projectId && (iid === undefined || n.iid === iid))
        .map(presentNote);
    },
    environments(projectId) {
      return environments.filter((e) => e.projectId === projectId).map(presentEnvironment);
    },
    deliverMergeRequestEvent,
    failNext(match, status, body) {
      failures.push({ method: match.method.toUpperCase(), pathPattern: match.pathPattern, status, body });
    },
    setDown(mode) {
      down = mode === true ? 'reset' : mode;
      if (down === 'reset') for (const socket of sockets) socket.destroy();
    },
    setMember(projectId, username, level) {
      const project = projects.get(projectId);
      if (!project) throw new Error(`stand-in: no project ${projectId}`);
      if (![...users.values()].some((u) => u.username === username)) {
        throw new Error(`stand-in: no user ${username} (addUser first)`);
      }
      if (level !== undefined && !(level in LEVELS)) throw new Error(`stand-in: no access level ${level}`);
      project.members ??= Object.fromEntries([...users.values()].map((u) => [u.username, 'maintainer' as const]));
      if (level === undefined) delete project.members[username];
      else project.members[username] = level;
    },
    addOauthApplication(spec) {
      const unknown = spec.scopes.filter((scope) => !OAUTH_SCOPES.includes(scope));
      if (spec.scopes.length === 0 || unknown.length > 0) {
        throw new Error(`stand-in: an application needs known scopes (not "${unknown.join(' ')}")`);
      }
      if (!isHttpUrl(spec.redirectUri) || new URL(spec.redirectUri).hash !== '') {
        throw new Error(`stand-in: "${spec.redirectUri}" is no redirect URI GitLab takes`);
      }
      const clientId = spec.clientId ?? randomBytes(32).toString('hex');
      if (oauthApplications.has(clientId)) throw new Error(`stand-in: application ${clientId} exists`);
      const clientSecret = spec.clientSecret ?? `gloas-${randomBytes(32).toString('hex')}`;
      oauthApplications.set(clientId, {
        name: spec.name ?? 'Slipway',
        clientId,
        clientSecret,
        redirectUri: spec.redirectUri,
        scopes: [...spec.scopes],
      });
      return { clientId, clientSecret };
    },
    signInAs(username) {
      if (username === undefined) {
        signedIn = undefined;
        return;
      }
      const user = [...users.values()].find((u) => u.username === username);
      if (!user) throw new Error(`stand-in: no user ${username} (addUser first)`);
      signedIn = { user, at: Math.floor(Date.now() / 1000) };
    },
    autoApprove(on) {
      approveAtOnce = on;
    },
    expireAuthorizationCodes() {
      for (const grant of grants.values()) grant.expiresAt = Math.min(grant.expiresAt, Date.now() - 1);
    },
  };
}

function isOauthPath(path: string): boolean {
  return path === '/.well-known/openid-configuration' || path === '/oauth' || path.startsWith('/oauth/');
}

function escapeHtml(text: string): string {
  return text.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c,
  );
}

/** A form-encoded part of HTTP Basic credentials (RFC 6749 §2.3.1), as it is when it is not. */
function formDecode(text: string): string {
  try {
    return decodeURIComponent(text.replace(/\+/g, ' '));
  } catch {
    return text;
  }
}

/** Compares secrets in constant time. */
function sameSecret(a: string, b: string): boolean {
  const digest = (text: string) => createHash('sha256').update(text).digest();
  return timingSafeEqual(digest(a), digest(b));
}

/** The token as GitLab looks for it: `PRIVATE-TOKEN` header, `Authorization: Bearer`, `?private_token=`. */
function presentedToken(req: IncomingMessage, query: Record<string, string>): string | undefined {
  const header = req.headers['private-token'];
  return (Array.isArray(header) ? header[0] : header) || bearerToken(req) || query.private_token || undefined;
}

function bearerToken(req: IncomingMessage): string | undefined {
  return /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '')?.[1];
}

/** Grape checks declared parameters before the endpoint runs: 400 `{"error":"url is missing"}`. */
function requireParams(body: Record<string, unknown>, names: string[]): void {
  const missing = names.filter((name) => body[name] === undefined || body[name] === null || body[name] === '');
  if (missing.length > 0) throw new Reply(400, { error: missing.map((name) => `${name} is missing`).join(', ') });
}

function booleanParam(body: Record<string, unknown>, name: string, fallback: boolean): boolean {
  const value = body[name];
  if (value === undefined || value === null) return fallback;
  if (value === true || value === 'true' || value === '1' || value === 1) return true;
  if (value === false || value === 'false' || value === '0' || value === 0) return false;
  throw new Reply(400, { error: `${name} is invalid` });
}

function isAcceptableHookUrl(raw: string, allowLocal: boolean): boolean {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return false;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return false;
  if (allowLocal) return true;
  const hostname = url.hostname.replace(/^\[|\]$/g, '');
  return !(
    hostname === 'localhost' ||
    hostname.endsWith('.localhost') ||
    hostname === '::1' ||
    /^(127|10|0)\./.test(hostname) ||
    /^192\.168\./.test(hostname) ||
    /^172\.(1[6-9]|2\d|3[01])\./.test(hostname) ||
    /^169\.254\./.test(hostname) ||
    /^f[cd]/i.test(hostname)
  );
}

/** GitLab's wildcard branch filter: a git ref name once `*` is read as a letter; empty means all. */
function isValidBranchFilter(filter: string): boolean {
  if (filter === '') return true;
  if (filter.length > 4000) return false;
  const ref = filter.replace(/\*/g, 'x');
  return !(
    /[\s~^:?[\\]/.test(ref) ||
    [...ref].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f) ||
    ref.includes('..') ||
    ref.includes('@{') ||
    ref.includes('//') ||
    ref.startsWith('/') ||
    ref.startsWith('-') ||
    ref.endsWith('/') ||
    ref.endsWith('.') ||
    ref === '@' ||
    ref.split('/').some((part) => part.startsWith('.') || part.endsWith('.lock'))
  );
}

/** What `project.commit(sha)` finds in the stand-in: any hex object name of 7 to 40 digits. */
function isCommitSha(sha: string): boolean {
  return /^[0-9a-f]{7,40}$/i.test(sha);
}

function isHttpUrl(raw: string): boolean {
  try {
    const url = new URL(raw);
    return url.protocol === 'http:' || url.protocol === 'https:';
  } catch {
    return false;
  }
}

/** GitLab's slug of an environment name: lower-case letters, digits and dashes, at most 24. */
function slugOf(name: string): string {
  return name
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 24);
}

/** `Environment#guess_tier`: from the name, as GitLab does for an environment made without one. */
function guessTier(name: string): string {
  if (/^(prod|production|live)/i.test(name)) return 'production';
  if (/^(stag|staging|model|demo)/i.test(name)) return 'staging';
  if (/^(test|qc|qa|tst|acc)/i.test(name)) return 'testing';
  if (/^(dev|review|trunk)/i.test(name)) return 'development';
  return 'other';
}

/** GitLab's environment names: letters, digits, space, `-_/${}.`; not starting or ending with `/`. */
function isValidEnvironmentName(name: string): boolean {
  return name.length <= 255 && /^[a-zA-Z0-9_/${}. -]+$/.test(name) && !name.startsWith('/') && !name.endsWith('/');
}

function stringParam(body: Record<string, unknown>, name: string): string | undefined {
  const value = body[name];
  if (value === undefined || value === null) return undefined;
  return String(value);
}

/** Grape's `values:` check: 400 `{"error":"state does not have a valid value"}`. */
function requireValue(body: Record<string, unknown>, name: string, values: string[]): void {
  const value = body[name];
  if (value === undefined || value === null) return;
  if (!values.includes(String(value))) throw new Reply(400, { error: `${name} does not have a valid value` });
}

/**
 * Grape's checks for required parameters, all reported together: strings that must not be blank
 * (`x is missing` / `x is empty`), booleans (`x is missing` / `x is invalid`) and enumerations
 * (`x is missing` / `x does not have a valid value`).
 */
function requireGrape(
  body: Record<string, unknown>,
  strings: string[],
  booleans: string[],
  enums: Record<string, string[]>,
): void {
  const problems: string[] = [];
  for (const name of strings) {
    const value = body[name];
    if (value === undefined || value === null) problems.push(`${name} is missing`);
    else if (String(value).trim() === '') problems.push(`${name} is empty`);
  }
  for (const name of booleans) {
    const value = body[name];
    if (value === undefined || value === null) problems.push(`${name} is missing`);
    else if (![true, false, 'true', 'false', '1', '0', 1, 0].includes(value as string))
      problems.push(`${name} is invalid`);
  }
  for (const [name, values] of Object.entries(enums)) {
    const value = body[name];
    if (value === undefined || value === null) problems.push(`${name} is missing`);
    else if (!values.includes(String(value))) problems.push(`${name} does not have a valid value`);
  }
  if (problems.length > 0) throw new Reply(400, { error: problems.join(', ') });
}

/**
 * GitLab's commit-status state machine (`CommitStatus`), for the states an API-made status can
 * be in when it is found again (created, pending, running). `running` is `enqueue` (which may
 * quietly not apply) then `run!`; every other state is one bang event.
 */
function commitStatusTransition(
  from: StandinStatusState,
  state: Exclude<StandinStatusState, 'created'>,
): { to: StandinStatusState } | { refused: string } {
  const events: Record<string, { from: StandinStatusState[]; to: StandinStatusState }> = {
    enqueue: { from: ['created', 'skipped'], to: 'pending' },
    run: { from: ['pending'], to: 'running' },
    skip: { from: ['created', 'pending'], to: 'skipped' },
    drop: { from: ['created', 'pending', 'running'], to: 'failed' },
    success: { from: ['created', 'pending', 'running'], to: 'success' },
    cancel: { from: ['created', 'pending', 'running'], to: 'canceled' },
  };
  const fire = (event: string, current: StandinStatusState) => {
    const rule = events[event];
    return rule?.from.includes(current) ? rule.to : undefined;
  };
  const refused = (event: string, current: StandinStatusState) => ({
    refused: `Cannot transition status via :${event} from :${current} (Reason(s): Status cannot transition via "${event}")`,
  });
  const bang: Record<string, string> = {
    pending: 'enqueue',
    success: 'success',
    failed: 'drop',
    canceled: 'cancel',
    skipped: 'skip',
  };
  if (state === 'running') {
    const queued = fire('enqueue', from) ?? from;
    const to = fire('run', queued);
    return to ? { to } : refused('run', queued);
  }
  const event = bang[state] ?? state;
  const to = fire(event, from);
  return to ? { to } : refused(event, from);
}

/** GitLab's deployment state machine (`Deployment`): the status an update lands on, undefined when refused. */
function deploymentTransition(
  from: StandinDeploymentStatus,
  status: StandinDeploymentStatus,
): StandinDeploymentStatus | undefined {
  switch (status) {
    case 'running':
      return from === 'created' || from === 'blocked' ? 'running' : undefined;
    case 'success':
    case 'failed':
    case 'canceled':
      return from === status ? undefined : status;
    default:
      return undefined;
  }
}

function clamp(value: number, min: number, max: number, fallback: number): number {
  if (!Number.isFinite(value)) return fallback;
  return Math.min(max, Math.max(min, value));
}

function safeDecode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > 1024 * 1024) throw new Error('body too large');
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function parseBody(raw: string, contentType: string | undefined): unknown {
  if (raw === '') return undefined;
  const type = (contentType ?? '').split(';')[0]?.trim().toLowerCase();
  if (type === 'application/x-www-form-urlencoded') return Object.fromEntries(new URLSearchParams(raw));
  try {
    return JSON.parse(raw) as unknown;
  } catch {
    return raw;
  }
}
