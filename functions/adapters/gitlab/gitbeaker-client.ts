import {
  Branches,
  Commits,
  DeployKeys,
  Deployments,
  Environments,
  GitbeakerRequestError,
  GitbeakerRetryError,
  GitbeakerTimeoutError,
  MergeRequestNotes,
  PersonalAccessTokens,
  ProjectHooks,
  ProjectMembers,
  Projects,
  Tags,
  Users,
} from '@gitbeaker/rest';
import * as z from 'zod';
import { GitlabError, ValidationError } from '../../domain/errors';
import type {
  GitlabApi,
  GitlabApiFactory,
  GitlabCommitStatus,
  GitlabDeploymentSpec,
  GitlabDeploymentStatus,
  GitlabEnvironment,
  GitlabHookSpec,
  GitlabHookState,
  GitlabProject,
  GitlabResolvedRef,
  GitlabTokenInfo,
} from '../../domain/ports';
import { isoUtc } from '../../domain/timestamps';

/** Every GitLab request gives up after this long (GitLab itself allows webhooks 10 s too). */
export const DEFAULT_GITLAB_TIMEOUT_MS = 10_000;

export interface GitlabClientOptions {
  /** Per-request timeout. @default DEFAULT_GITLAB_TIMEOUT_MS */
  timeoutMs?: number;
}

const tokenSelf = z.object({
  scopes: z.array(z.string()).nullish(),
  expires_at: z.string().nullish(),
  active: z.boolean().nullish(),
  revoked: z.boolean().nullish(),
});
const currentUser = z.object({ username: z.string().min(1) });
const project = z.object({ id: z.number().int(), path_with_namespace: z.string(), ssh_url_to_repo: z.string() });
const created = z.object({ id: z.number().int() });
/** `Entities::ProjectHook`: what doctor reads of it (GitLab 15.2+ gives `alert_status`). */
const hookState = z.object({
  id: z.number().int(),
  url: z.string(),
  alert_status: z.enum(['executable', 'temporarily_disabled', 'disabled']).nullish(),
  disabled_until: z.string().nullish(),
});
/** `Entities::Environment`: what Slipway reads of it. */
const environment = z.object({
  id: z.number().int(),
  name: z.string(),
  state: z.string(),
  external_url: z.string().nullish(),
});
/** `GET /projects/:id/members/all/:user_id`: `Entities::Member`, of which the role is all Slipway reads. */
const member = z.object({ access_level: z.number().int() });
const commitStatus = z.object({ id: z.number().int(), status: z.string() });
/** The commit fields of GitLab's `Entities::Commit` that a resolved ref carries. */
const commit = z.object({
  id: z.string().regex(/^[0-9a-f]{40}$/i),
  title: z.string(),
  author_name: z.string(),
  author_email: z.string().nullish(),
  web_url: z.string().nullish(),
  /** When the commit was made; an unreadable one is dropped (isoUtc), not a failed lookup. */
  committed_date: z.unknown().optional(),
});
/** `GET …/repository/branches/:branch` and `…/tags/:tag`: the name and the commit it points at. */
const namedRef = z.object({ name: z.string(), commit });

const MAX_REF_LENGTH = 255;

/** What GitLab accepts for a deployment it did not run itself (`created` is its own initial state). */
type ApiDeploymentStatus = Exclude<GitlabDeploymentStatus, 'created'>;

/**
 * A GitlabApi factory over `@gitbeaker/rest`, with a bounded timeout on every request.
 * Errors are GitlabError; none carries the token, in its message or its cause.
 */
export function gitlabApiFactory(options: GitlabClientOptions = {}): GitlabApiFactory {
  const timeoutMs = options.timeoutMs ?? DEFAULT_GITLAB_TIMEOUT_MS;
  return (connection) => new GitbeakerGitlabApi(connection.url, connection.token, timeoutMs);
}

/** The production factory: `createGitlabApi({ url, token })`. */
export const createGitlabApi: GitlabApiFactory = gitlabApiFactory();

class GitbeakerGitlabApi implements GitlabApi {
  private readonly users: InstanceType<typeof Users>;
  private readonly tokens: InstanceType<typeof PersonalAccessTokens>;
  private readonly projects: InstanceType<typeof Projects>;
  private readonly hooks: InstanceType<typeof ProjectHooks>;
  private readonly members: InstanceType<typeof ProjectMembers>;
  private readonly deployKeys: InstanceType<typeof DeployKeys>;
  private readonly commits: InstanceType<typeof Commits>;
  private readonly branches: InstanceType<typeof Branches>;
  private readonly tags: InstanceType<typeof Tags>;
  private readonly deployments: InstanceType<typeof Deployments>;
  private readonly environments: InstanceType<typeof Environments>;
  private readonly mergeRequestNotes: InstanceType<typeof MergeRequestNotes>;
  /** The instance as messages name it: origin and path, never credentials. */
  private readonly where: string;

  constructor(
    url: string,
    private readonly token: string,
    private readonly timeoutMs: number,
  ) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new GitlabError('invalid', 'not a GitLab URL');
    }
    if (parsed.username || parsed.password)
      throw new GitlabError('invalid', 'the GitLab URL must not carry credentials');
    // gitbeaker joins host + '/api/v4'; a trailing slash would double it.
    const host = `${parsed.origin}${parsed.pathname.replace(/\/+$/, '')}`;
    this.where = host;
    // Only the resources used: `new Gitlab()` would build some 200 of them per connection.
    const config = { host, token, queryTimeout: timeoutMs };
    this.users = new Users(config);
    this.tokens = new PersonalAccessTokens(config);
    this.projects = new Projects(config);
    this.hooks = new ProjectHooks(config);
    this.members = new ProjectMembers(config);
    this.deployKeys = new DeployKeys(config);
    this.commits = new Commits(config);
    this.branches = new Branches(config);
    this.tags = new Tags(config);
    this.deployments = new Deployments(config);
    this.environments = new Environments(config);
    this.mergeRequestNotes = new MergeRequestNotes(config);
  }

  async inspectToken(): Promise<GitlabTokenInfo> {
    const [self, user] = await Promise.all([
      this.call('GET /personal_access_tokens/self', async () => tokenSelf.parse(await this.tokens.show()), {
        notFound: 'GitLab does not tell the token scopes (GET /personal_access_tokens/self needs GitLab 15.5 or newer)',
      }),
      this.call('GET /user', async () => currentUser.parse(await this.users.showCurrentUser())),
    ]);
    if (self.revoked || self.active === false) {
      throw new GitlabError('unauthorized', 'GitLab says the token is revoked or inactive', 401);
    }
    return {
      username: user.username,
      scopes: self.scopes ?? [],
      ...(self.expires_at ? { expiresAt: self.expires_at } : {}),
    };
  }

  async getProject(path: string): Promise<GitlabProject> {
    const found = await this.call('GET /projects/:id', async () => project.parse(await this.projects.show(path)), {
      notFound: `GitLab project "${path}" not found (or the token's user cannot see it)`,
    });
    return { id: found.id, path: found.path_with_namespace, sshUrl: found.ssh_url_to_repo };
  }

  async addHook(projectId: number, hook: GitlabHookSpec): Promise<number> {
    const result = await this.call('POST /projects/:id/hooks', async () =>
      created.parse(await this.hooks.add(projectId, hook.url, hookOptions(hook))),
    );
    return result.id;
  }

  async editHook(projectId: number, hookId: number, hook: GitlabHookSpec): Promise<void> {
    await this.call(
      'PUT /projects/:id/hooks/:hook_id',
      async () => created.parse(await this.hooks.edit(projectId, hookId, hook.url, hookOptions(hook))),
      { notFound: `GitLab hook ${hookId} not found in project ${projectId}` },
    );
  }

  async removeHook(projectId: number, hookId: number): Promise<void> {
    await this.call('DELETE /projects/:id/hooks/:hook_id', () => this.hooks.remove(projectId, hookId), {
      tolerateNotFound: true,
    });
  }

  async addDeployKey(projectId: number, key: { title: string; key: string }): Promise<number> {
    const result = await this.call('POST /projects/:id/deploy_keys', async () =>
      created.parse(await this.deployKeys.create(projectId, key.title, key.key, { canPush: false })),
    );
    return result.id;
  }

  async removeDeployKey(projectId: number, keyId: number): Promise<void> {
    await this.call('DELETE /projects/:id/deploy_keys/:key_id', () => this.deployKeys.remove(projectId, keyId), {
      tolerateNotFound: true,
    });
  }

  async setCommitStatus(projectId: number, sha: string, status: GitlabCommitStatus): Promise<void> {
    await this.call(
      'POST /projects/:id/statuses/:sha',
      async () =>
        commitStatus.parse(
          await this.commits.editStatus(projectId, sha, status.state, {
            name: status.name,
            ...(status.ref !== undefined ? { ref: status.ref } : {}),
            ...(status.targetUrl !== undefined ? { targetUrl: status.targetUrl } : {}),
            ...(status.description !== undefined ? { description: status.description } : {}),
          }),
        ),
      {
        notFound: `GitLab has no commit ${sha.slice(0, 12)} in project ${projectId} (or the token's user cannot see it)`,
      },
    );
  }

  async createDeployment(projectId: number, deployment: GitlabDeploymentSpec): Promise<number> {
    const status = apiDeploymentStatus(deployment.status, 'POST /projects/:id/deployments');
    const result = await this.call('POST /projects/:id/deployments', async () =>
      created.parse(
        await this.deployments.create(
          projectId,
          deployment.environment,
          deployment.sha,
          deployment.ref,
          deployment.tag,
          {
            status,
          },
        ),
      ),
    );
    return result.id;
  }

  async updateDeployment(projectId: number, deploymentId: number, status: GitlabDeploymentStatus): Promise<void> {
    const operation = 'PUT /projects/:id/deployments/:deployment_id';
    const wanted = apiDeploymentStatus(status, operation);
    // GitLab answers a status the deployment already has with an empty 200 (it keeps the deployment as is).
    await this.call(operation, () => this.deployments.edit(projectId, deploymentId, wanted), {
      notFound: `GitLab deployment ${deploymentId} not found in project ${projectId}`,
    });
  }

  async resolveRef(projectId: number, ref: string): Promise<GitlabResolvedRef> {
    const wanted = parseRef(ref);
    const asBranch = async (name: string) => {
      const found = await this.lookup('GET /projects/:id/repository/branches/:branch', projectId, async () =>
        namedRef.parse(await this.branches.show(projectId, name)),
      );
      return found && resolved(`refs/heads/${found.name}`, found.commit);
    };
    const asTag = async (name: string) => {
      const found = await this.lookup('GET /projects/:id/repository/tags/:tag_name', projectId, async () =>
        namedRef.parse(await this.tags.show(projectId, name)),
      );
      return found && resolved(`refs/tags/${found.name}`, found.commit);
    };
    let result: GitlabResolvedRef | undefined;
    if (wanted.kind === 'branch') result = await asBranch(wanted.name);
    else if (wanted.kind === 'tag') result = await asTag(wanted.name);
    else {
      // A bare name: a branch wins over a tag of the same name, and either over a sha-like name.
      result = (await asBranch(wanted.name)) ?? (await asTag(wanted.name));
      if (!result && isShaLike(wanted.name)) {
        const found = await this.lookup('GET /projects/:id/repository/commits/:sha', projectId, async () =>
          commit.parse(await this.commits.show(projectId, wanted.name)),
        );
        if (found) result = resolved(found.id.toLowerCase(), found);
      }
    }
    if (!result) {
      const what = {
        branch: 'branch',
        tag: 'tag',
        name: isShaLike(wanted.name) ? 'branch, tag or commit' : 'branch or tag',
      };
      throw new GitlabError(
        'not_found',
        `GitLab project ${projectId} has no ${what[wanted.kind]} "${ref}" (or the token's user cannot see it)`,
        404,
      );
    }
    return result;
  }

  async memberAccessLevel(projectRef: number | string, userId: number): Promise<number | undefined> {
    // A 404 for the member is "not a member"; a 404 for the project is an error (lookup tells them apart).
    const found = await this.lookup('GET /projects/:id/members/all/:user_id', projectRef, async () =>
      member.parse(await this.members.show(projectRef, userId, { includeInherited: true })),
    );
    return found?.access_level;
  }

  async getHook(projectId: number, hookId: number): Promise<GitlabHookState | undefined> {
    const found = await this.lookup('GET /projects/:id/hooks/:hook_id', projectId, async () =>
      hookState.parse(await this.hooks.show(projectId, hookId)),
    );
    if (!found) return undefined;
    const disabledUntil = found.disabled_until ? isoUtc(found.disabled_until) : undefined;
    return {
      id: found.id,
      url: found.url,
      // Before GitLab 15.2 there is no alert_status: such a GitLab never disables hooks.
      alertStatus: found.alert_status ?? 'executable',
      ...(disabledUntil ? { disabledUntil } : {}),
    };
  }

  async testHook(projectId: number, hookId: number): Promise<void> {
    // gitbeaker has no call for it: the hooks resource's own requester, with its auth and base URL.
    await this.call(
      'POST /projects/:id/hooks/:hook_id/test/:trigger',
      () =>
        this.hooks.requester.post(`${encodeURIComponent(String(projectId))}/hooks/${hookId}/test/push_events`, {
          signal: AbortSignal.timeout(this.timeoutMs),
        }),
      { notFound: `GitLab hook ${hookId} not found in project ${projectId}` },
    );
  }

  async hasDeployKey(projectId: number, keyId: number): Promise<boolean> {
    const found = await this.lookup('GET /projects/:id/deploy_keys/:key_id', projectId, async () =>
      created.parse(await this.deployKeys.show(projectId, keyId)),
    );
    return found !== undefined;
  }

  async createMergeRequestNote(projectId: number, iid: number, body: string): Promise<number> {
    const result = await this.call(
      'POST /projects/:id/merge_requests/:merge_request_iid/notes',
      async () => created.parse(await this.mergeRequestNotes.create(projectId, iid, body)),
      { notFound: `GitLab has no merge request !${iid} in project ${projectId} (or the token's user cannot see it)` },
    );
    return result.id;
  }

  async findEnvironment(projectId: number, name: string): Promise<GitlabEnvironment | undefined> {
    const found = await this.call('GET /projects/:id/environments', async () =>
      z.array(environment).parse(await this.environments.all(projectId, { name })),
    );
    const match = found.find((e) => e.name === name);
    return match ? toEnvironment(match) : undefined;
  }

  async createEnvironment(
    projectId: number,
    spec: { name: string; externalUrl?: string; tier?: 'development' | 'other' },
  ): Promise<GitlabEnvironment> {
    const made = await this.call('POST /projects/:id/environments', async () =>
      environment.parse(
        await this.environments.create(projectId, spec.name, {
          ...(spec.externalUrl ? { externalUrl: spec.externalUrl } : {}),
          ...(spec.tier ? { tier: spec.tier } : {}),
        }),
      ),
    );
    return toEnvironment(made);
  }

  async editEnvironment(projectId: number, environmentId: number, change: { externalUrl: string }): Promise<void> {
    await this.call(
      'PUT /projects/:id/environments/:environment_id',
      async () =>
        environment.parse(await this.environments.edit(projectId, environmentId, { externalUrl: change.externalUrl })),
      { notFound: `GitLab environment ${environmentId} not found in project ${projectId}` },
    );
  }

  async stopEnvironment(projectId: number, environmentId: number): Promise<void> {
    await this.call(
      'POST /projects/:id/environments/:environment_id/stop',
      async () => environment.parse(await this.environments.stop(projectId, environmentId)),
      { notFound: `GitLab environment ${environmentId} not found in project ${projectId}` },
    );
  }

  /**
   * One lookup of a chain: undefined when GitLab answers 404 for the thing looked up (the caller
   * tries the next), a GitlabError when the project itself is not found or anything else fails.
   */
  private async lookup<T>(operation: string, projectId: number | string, fn: () => Promise<T>): Promise<T | undefined> {
    try {
      return await fn();
    } catch (error) {
      if (error instanceof GitbeakerRequestError && error.cause?.response.status === 404) {
        if (/project not found/i.test(error.cause.description ?? '')) {
          throw new GitlabError(
            'not_found',
            `GitLab project ${projectId} not found (or the token's user cannot see it)`,
            404,
          );
        }
        return undefined;
      }
      throw this.toGitlabError(operation, error);
    }
  }

  /** Runs one request and turns whatever goes wrong into a GitlabError free of the token. */
  private async call<T>(
    operation: string,
    fn: () => Promise<T>,
    options: { notFound?: string; tolerateNotFound?: boolean } = {},
  ): Promise<T> {
    try {
      return await fn();
    } catch (error) {
      const mapped = this.toGitlabError(operation, error, options.notFound);
      if (options.tolerateNotFound && mapped.kind === 'not_found') return undefined as T;
      throw mapped;
    }
  }

  private toGitlabError(operation: string, error: unknown, notFound?: string): GitlabError {
    if (error instanceof GitbeakerRequestError) {
      const status = error.cause?.response.status ?? 0;
      const said = this.redact(describe(error.cause?.description ?? error.message));
      const detail = said ? `: ${said}` : '';
      switch (status) {
        case 401:
          return new GitlabError('unauthorized', 'GitLab refused the token (401): revoked, expired or wrong', 401);
        case 403:
          if (said.includes('insufficient_scope')) {
            return new GitlabError(
              'forbidden',
              `GitLab refused ${operation} (403): the token needs the api scope`,
              403,
            );
          }
          // Hooks and deploy keys are a Maintainer's to manage; statuses and deployments a Developer's;
          // branches, tags and commits a Reporter's to read.
          return new GitlabError(
            'forbidden',
            /hooks|deploy_keys/.test(operation)
              ? `GitLab refused ${operation} (403${detail}): the token's user needs the Maintainer role on the project`
              : /statuses|deployments/.test(operation)
                ? `GitLab refused ${operation} (403${detail}): the token's user needs at least the Developer role on the project`
                : /repository/.test(operation)
                  ? `GitLab refused ${operation} (403${detail}): the token's user needs at least the Reporter role on the project`
                  : `GitLab refused ${operation} (403${detail})`,
            403,
          );
        case 404:
          return new GitlabError('not_found', notFound ?? `GitLab answered ${operation} with 404${detail}`, 404);
        case 400:
        case 409:
        case 422:
          return new GitlabError('invalid', `GitLab rejected ${operation} (${status})${detail}`, status);
        default:
          return new GitlabError('failed', `GitLab failed ${operation} (${status || 'no status'})${detail}`, status);
      }
    }
    if (error instanceof GitbeakerRetryError) {
      return new GitlabError('failed', `GitLab kept failing ${operation}: ${this.redact(error.message)}`);
    }
    if (error instanceof GitbeakerTimeoutError || isTimeout(error)) {
      return new GitlabError(
        'unreachable',
        `GitLab at ${this.where} did not answer ${operation} within ${this.timeoutMs / 1000} s`,
      );
    }
    if (error instanceof z.ZodError) {
      return new GitlabError(
        'failed',
        `GitLab answered ${operation} with an unexpected body (is ${this.where} GitLab?)`,
      );
    }
    const network = networkCause(error);
    if (network) {
      return new GitlabError(
        'unreachable',
        `cannot reach GitLab at ${this.where} (${operation}): ${this.redact(network.message || network.code || 'network error')}`,
        undefined,
        // A socket-level error (address, port, syscall): nothing of the request in it.
        { cause: network },
      );
    }
    const message = isErrorLike(error) ? error.message : String(error);
    return new GitlabError('failed', `GitLab call ${operation} failed: ${this.redact(message)}`);
  }

  private redact(text: string): string {
    // Below 8 characters it is no token GitLab issues (and redacting it would shred messages).
    return this.token.length >= 8 ? text.split(this.token).join('[redacted]') : text;
  }
}

/** GitLab's API sets a deployment to running, success, failed or canceled; `created` is refused before any request. */
function apiDeploymentStatus(status: GitlabDeploymentStatus, operation: string): ApiDeploymentStatus {
  if (status === 'created') {
    throw new GitlabError(
      'invalid',
      `GitLab does not accept status "created" for ${operation} (running, success, failed or canceled)`,
    );
  }
  return status;
}

function toEnvironment(found: z.infer<typeof environment>): GitlabEnvironment {
  return {
    id: found.id,
    name: found.name,
    state: found.state,
    ...(found.external_url ? { externalUrl: found.external_url } : {}),
  };
}

type WantedRef = { kind: 'branch' | 'tag' | 'name'; name: string };

/**
 * Checks a ref before any request (what git itself would never take as a ref name) and reads
 * what it asks for: `refs/heads/x` only a branch, `refs/tags/x` only a tag, else any name.
 */
function parseRef(ref: string): WantedRef {
  const refuse = (why: string): never => {
    const shown = typeof ref === 'string' && ref.length > 60 ? `${ref.slice(0, 60)}…` : ref;
    throw new ValidationError(`invalid ref ${JSON.stringify(shown)}: ${why}`);
  };
  if (typeof ref !== 'string' || ref === '') refuse('it is empty');
  if (ref.length > MAX_REF_LENGTH) refuse(`it is longer than ${MAX_REF_LENGTH} characters`);
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused.
  if (/[\u0000-\u001f\u007f]/.test(ref)) refuse('it contains control characters');
  if (/\s/.test(ref)) refuse('it contains spaces');
  if (ref.includes('..')) refuse('it contains ".."');
  const special = /[~^:?*[\\]/.exec(ref);
  if (special) refuse(`it contains "${special[0]}"`);
  if (ref.startsWith('-')) refuse('it starts with "-"');
  for (const [prefix, kind] of [
    ['refs/heads/', 'branch'],
    ['refs/tags/', 'tag'],
  ] as const) {
    if (ref.startsWith(prefix)) {
      const name = ref.slice(prefix.length);
      if (name === '') refuse(`it names no ${kind}`);
      if (name.startsWith('-')) refuse(`the ${kind} name starts with "-"`);
      return { kind, name };
    }
  }
  return { kind: 'name', name: ref };
}

/** What GitLab may find as a commit by (part of) its sha. */
function isShaLike(name: string): boolean {
  return /^[0-9a-f]{7,40}$/i.test(name);
}

function resolved(ref: string, found: z.infer<typeof commit>): GitlabResolvedRef {
  const committedAt = isoUtc(found.committed_date);
  return {
    ref,
    sha: found.id.toLowerCase(),
    title: found.title,
    authorName: found.author_name,
    ...(found.author_email ? { authorEmail: found.author_email } : {}),
    ...(found.web_url ? { webUrl: found.web_url } : {}),
    ...(committedAt ? { committedAt } : {}),
  };
}

/** GitLab's error bodies: a string, or `{ field: [problems] }` from a validation failure. */
function describe(description: string): string {
  let text = description;
  if (description.startsWith('{')) {
    try {
      const parsed = JSON.parse(description) as unknown;
      if (parsed && typeof parsed === 'object') {
        text = Object.entries(parsed)
          .map(([field, problems]) => `${field} ${Array.isArray(problems) ? problems.join(', ') : String(problems)}`)
          .join('; ');
      }
    } catch {
      // Not JSON after all: shown as it is.
    }
  }
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > 300 ? `${flat.slice(0, 300)}…` : flat;
}

function isTimeout(error: unknown): boolean {
  return isErrorLike(error) && (error.name === 'TimeoutError' || error.name === 'AbortError');
}

/**
 * undici's `TypeError: fetch failed` wraps the socket error (ECONNREFUSED, ENOTFOUND, …).
 * Duck-typed: fetch's errors may come from another realm (a test sandbox), where instanceof fails.
 */
function networkCause(error: unknown): (Error & { code?: string }) | undefined {
  if (!isErrorLike(error) || error.name !== 'TypeError' || !isErrorLike(error.cause)) return undefined;
  let cause: Error & { code?: string } = error.cause;
  while (isErrorLike(cause.cause)) cause = cause.cause;
  return cause;
}

function isErrorLike(value: unknown): value is Error {
  return typeof value === 'object' && value !== null && typeof (value as Error).message === 'string';
}

/** A hook's settings as gitbeaker's ProjectHooks.add and .edit take them. */
function hookOptions(hook: GitlabHookSpec) {
  return {
    token: hook.token,
    pushEvents: hook.pushEvents,
    tagPushEvents: hook.tagPushEvents,
    pushEventsBranchFilter: hook.branchFilter,
    mergeRequestsEvents: hook.mergeRequestsEvents ?? false,
    enableSslVerification: hook.enableSslVerification,
  };
}
