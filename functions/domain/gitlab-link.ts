import { hookUrl, toPublicApp, validateAppName } from './apps';
import { ConflictError, GitlabError, NotFoundError, StaleWriteError, ValidationError } from './errors';
import { randomToken, sha256Hex } from './ids';
import type { App, GitlabConnection } from './model';
import type {
  Clock,
  DeployKeyGenerator,
  GitlabApi,
  GitlabApiFactory,
  GitlabHookSpec,
  KnownHostsReader,
  Store,
  Vault,
  VaultContext,
} from './ports';

export interface GitlabDeps {
  store: Store;
  vault: Vault;
  gitlab: GitlabApiFactory;
  keys: DeployKeyGenerator;
  knownHosts: KnownHostsReader;
  clock?: Clock;
  /** Told about clean-up that failed (a hook or key left in GitLab); never about secrets. */
  warn?: (message: string, detail?: Record<string, unknown>) => void;
  /**
   * Each app's own build rights: made at link, removed at unlink. On AWS a build role per app
   * (functions/adapters/builder/iam-build-rights.ts); local builds are per-app processes already.
   */
  buildRights?: BuildRights;
}

/**
 * What lets an app's builds, and only its builds, open its deploy key and push to its
 * repository (docs/INFRASTRUCTURE.md, "Per-app build rights").
 */
export interface BuildRights {
  /** Makes sure the app's build role exists, as it should be (idempotent). */
  ensureAppRole(app: string): Promise<void>;
  /** Removes the app's build role; nothing to do when there is none. */
  removeAppRole(app: string): Promise<void>;
}

/** The connection as `gitlab show` tells it: no token, no ciphertext. */
export interface PublicConnection {
  url: string;
  username: string;
  tokenExpiresAt?: string;
  scopes: string[];
  connectedAt: string;
  hostKeys: Array<{ hosts: string[]; fingerprint: string }>;
  /** The console's OAuth application, when one is set (never its secret). */
  oauth: { clientId: string; setAt: string } | null;
}

/** The vault context of the GitLab token: bound to the (normalised) instance URL it is for. */
export function gitlabTokenContext(instance: string): VaultContext {
  return { purpose: 'gitlab-token', instance };
}

/** The vault context of the console's OAuth client secret: bound to its instance too. */
export function oauthSecretContext(instance: string): VaultContext {
  return { purpose: 'oauth-client-secret', instance };
}

/**
 * Opens the stored GitLab token for the URL stored next to it. The ciphertext was sealed with
 * the URL it was connected to: when the table names another URL (rewritten, or a token sealed
 * before tokens were bound to their instance) it does not open, and nothing is sent anywhere.
 * There is no fallback to an unbound context: `slipway gitlab connect` seals it again.
 */
export async function openGitlabToken(vault: Vault, connection: GitlabConnection): Promise<string> {
  try {
    return await vault.decrypt(connection.tokenCiphertext, gitlabTokenContext(connection.url));
  } catch (error) {
    // Both vaults refuse another context with a VaultError; anything else (throttling, the
    // network) is not about the seal and keeps its own error.
    if (error instanceof Error && error.name === 'VaultError') {
      throw new GitlabTokenSealError(connection.url, error);
    }
    throw error;
  }
}

/** The stored token does not open for the stored URL (409: the stored state needs `gitlab connect`). */
export class GitlabTokenSealError extends ConflictError {
  override name = 'GitlabTokenSealError';
  constructor(url: string, cause: unknown) {
    super(
      `the stored GitLab token does not open for ${url.slice(0, 256)}: it was sealed for another instance URL ` +
        '(the stored URL changed) or before tokens were bound to their instance; reconnect with slipway gitlab connect',
      { cause },
    );
  }
}

/** The scopes the console's OAuth application needs in GitLab. */
export const OAUTH_SCOPES = ['openid', 'read_user'] as const;

/** Where GitLab sends people back after they sign in to the console. */
export function oauthRedirectUri(publicUrl: string): string {
  return `${publicUrl.replace(/\/+$/, '')}/auth/gitlab/callback`;
}

export function toPublicConnection(connection: GitlabConnection, reader: KnownHostsReader): PublicConnection {
  return {
    url: connection.url,
    username: connection.username,
    ...(connection.tokenExpiresAt ? { tokenExpiresAt: connection.tokenExpiresAt } : {}),
    scopes: connection.scopes,
    connectedAt: connection.connectedAt,
    hostKeys: reader.entries(connection.knownHosts),
    oauth: connection.oauth ? { clientId: connection.oauth.clientId, setAt: connection.oauth.setAt } : null,
  };
}

/**
 * Sets the OAuth application the console signs people in with. The client secret is kept only
 * as vault ciphertext; the answer says what to register in GitLab (redirect URI, scopes).
 */
export async function setOauthApplication(
  deps: Pick<GitlabDeps, 'store' | 'vault' | 'clock'>,
  input: { clientId: string; clientSecret: string },
  publicUrl: string,
): Promise<{ clientId: string; redirectUri: string; scopes: string[] }> {
  const clientId = input.clientId.trim();
  const clientSecret = input.clientSecret.trim();
  if (!/^[\w.~-]{8,255}$/.test(clientId)) throw new ValidationError('the OAuth client id looks malformed');
  if (clientSecret.length < 8 || clientSecret.length > 1024 || /\s/.test(clientSecret)) {
    throw new ValidationError('the OAuth client secret looks malformed');
  }
  const connection = await deps.store.getGitlabConnection();
  if (!connection) throw new NotFoundError('GitLab is not connected: run slipway gitlab connect first');
  const now = deps.clock?.now() ?? new Date();
  await deps.store.putGitlabConnection({
    ...connection,
    oauth: {
      clientId,
      clientSecretCiphertext: await deps.vault.encrypt(clientSecret, oauthSecretContext(connection.url)),
      setAt: now.toISOString(),
    },
  });
  return { clientId, redirectUri: oauthRedirectUri(publicUrl), scopes: [...OAUTH_SCOPES] };
}

/** Checks a GitLab base URL: http(s), https unless allowed, no credentials, query or fragment. */
export function normaliseGitlabUrl(raw: string, allowHttp: boolean): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ValidationError(`invalid GitLab URL "${raw.slice(0, 256)}"`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new ValidationError(`GitLab URL must be http(s), not ${url.protocol}`);
  }
  if (url.protocol === 'http:' && !allowHttp) {
    throw new ValidationError('GitLab URL must use https (pass --allow-http to send the token in clear anyway)');
  }
  if (url.username || url.password || url.search || url.hash) {
    throw new ValidationError('GitLab URL must not carry credentials, a query or a fragment');
  }
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
}

/**
 * Connects Slipway to a GitLab instance: the token is checked with GitLab (who it belongs to,
 * the `api` scope, its expiry), then kept only as vault ciphertext, with the pinned host keys.
 */
export async function connectGitlab(
  deps: GitlabDeps,
  input: { url: string; token: string; allowHttp?: boolean; knownHosts: string },
): Promise<PublicConnection> {
  const url = normaliseGitlabUrl(input.url, input.allowHttp ?? false);
  const token = input.token.trim();
  if (token.length < 8 || token.length > 1024 || /\s/.test(token)) {
    throw new ValidationError('the GitLab token looks malformed');
  }
  const hostKeys = (() => {
    try {
      return deps.knownHosts.entries(input.knownHosts);
    } catch (error) {
      throw new ValidationError(`known_hosts: ${(error as Error).message}`);
    }
  })();
  if (hostKeys.length === 0) throw new ValidationError('known_hosts has no host key to pin');

  const info = await deps.gitlab({ url, token }).inspectToken();
  if (!info.scopes.includes('api')) {
    throw new ValidationError(
      `the token lacks the api scope (it has: ${info.scopes.join(', ') || 'none'}); create one with scope api`,
    );
  }
  const now = deps.clock?.now() ?? new Date();
  if (info.expiresAt && new Date(`${info.expiresAt.slice(0, 10)}T23:59:59Z`) < now) {
    throw new ValidationError(`the token expired on ${info.expiresAt}`);
  }
  const connection: GitlabConnection = {
    url,
    username: info.username,
    // Sealed with the instance URL: it opens only for this URL, whatever the table says later.
    tokenCiphertext: await deps.vault.encrypt(token, gitlabTokenContext(url)),
    ...(info.expiresAt ? { tokenExpiresAt: info.expiresAt } : {}),
    scopes: info.scopes,
    knownHosts: input.knownHosts.trim(),
    connectedAt: now.toISOString(),
  };
  // The console's OAuth application belongs to the instance: kept when reconnecting the same one.
  const previous = await deps.store.getGitlabConnection();
  if (previous?.oauth && previous.url === url) connection.oauth = previous.oauth;
  await deps.store.putGitlabConnection(connection);
  return toPublicConnection(connection, deps.knownHosts);
}

/** The stored connection and a GitLab client for it (the token decrypted for this call only). */
export async function connected(
  deps: Pick<GitlabDeps, 'store' | 'vault' | 'gitlab'>,
): Promise<{ connection: GitlabConnection; api: GitlabApi }> {
  const connection = await deps.store.getGitlabConnection();
  if (!connection) throw new NotFoundError('GitLab is not connected: run slipway gitlab connect first');
  const token = await openGitlabToken(deps.vault, connection);
  return { connection, api: deps.gitlab({ url: connection.url, token }) };
}

/** The `[host]:port` / `host` names an SSH clone URL needs in known_hosts. */
export function sshHostOf(sshUrl: string): string {
  const scheme = /^ssh:\/\/(?:[^@/]+@)?(\[[^\]]+\]|[^:/]+)(?::(\d+))?\//.exec(sshUrl);
  if (scheme?.[1]) {
    const host = scheme[1].replace(/^\[|\]$/g, '');
    return scheme[2] && scheme[2] !== '22' ? `[${host}]:${scheme[2]}` : host;
  }
  const scp = /^(?:[^@/]+@)?([^:/]+):(?!\/\/)/.exec(sshUrl);
  if (scp?.[1]) return scp[1];
  throw new ValidationError(`cannot read the SSH host of ${sshUrl}`);
}

async function bestEffort(deps: GitlabDeps, what: string, detail: Record<string, unknown>, fn: () => Promise<void>) {
  try {
    await fn();
  } catch (error) {
    deps.warn?.(`could not remove ${what}`, { ...detail, error: (error as Error).message });
  }
}

/**
 * Links an app to its GitLab project: a project hook (push + tag push, branch filter, merge
 * request events, SSL verification, fresh secret) and a read-only ed25519 deploy key whose
 * private half is kept only as vault ciphertext. Linking again rotates both: the hook is updated
 * in place (`PUT`, same id) while GitLab delivers to it, else replaced; the old key is removed.
 * A failure before the hook changed removes what this call created and leaves the app as it was.
 */
export async function linkApp(deps: GitlabDeps, name: string, publicUrl: string) {
  validateAppName(name);
  const app = await deps.store.getApp(name);
  if (!app) throw new NotFoundError(`no app named ${name}`);
  const { connection, api } = await connected(deps);
  const project = await api.getProject(app.projectId !== undefined ? String(app.projectId) : app.project);
  const sshHost = sshHostOf(project.sshUrl);
  if (!deps.knownHosts.entries(connection.knownHosts).some((e) => e.hosts.includes(sshHost))) {
    throw new ValidationError(
      `the pinned known_hosts has no key for ${sshHost} (from ${project.sshUrl}): reconnect with --known-hosts`,
    );
  }
  // The app's own build rights first: no push can start a build before they exist, and IAM has
  // the few seconds it takes to make the hook and key to propagate them.
  await deps.buildRights?.ensureAppRole(app.name);

  // What GitLab says of the hook this link replaces: a hook it disabled is re-enabled by the
  // replacement (a new hook starts enabled), and the answer says so.
  const previousHook =
    app.gitlabHookId !== undefined && app.projectId !== undefined
      ? await api.getHook(app.projectId, app.gitlabHookId).catch(() => undefined)
      : undefined;
  const secret = randomToken(32);
  const hook = {
    url: hookUrl(publicUrl, app.hookId),
    token: secret,
    pushEvents: true,
    tagPushEvents: app.tags !== undefined,
    branchFilter: app.branch,
    // Review apps (domain/review-apps.ts) start from merge request events.
    mergeRequestsEvents: true,
    enableSslVerification: true,
  } as const;
  // Relinking updates the hook GitLab delivers to in place (PUT: the new secret, today's events);
  // one it disabled, or one gone, is replaced by a new, enabled hook.
  const editable =
    previousHook?.alertStatus === 'executable' && app.projectId === project.id ? previousHook.id : undefined;
  const undo: Array<() => Promise<void>> = [];
  try {
    const key = deps.keys.generate(`slipway-${app.name}`);
    const deployKeyId = await api.addDeployKey(project.id, {
      title: `Slipway ${app.name} (read-only)`,
      key: key.publicKey,
    });
    undo.push(() => api.removeDeployKey(project.id, deployKeyId));
    // The hook last: an edited hook cannot be undone (its old secret is known to nobody).
    const edited = editable !== undefined && (await editHookIfThere(api, project.id, editable, hook));
    const gitlabHookId = edited ? editable : await api.addHook(project.id, hook);
    if (!edited) undo.push(() => api.removeHook(project.id, gitlabHookId));
    const patch: Partial<App> = {
      project: project.path,
      projectId: project.id,
      linked: true,
      hookSecretHash: sha256Hex(secret),
      signingSecretCiphertext: undefined,
      gitlabHookId,
      deployKeyId,
      deployKeyCiphertext: await deps.vault.encrypt(key.privateKey, { purpose: 'deploy-key', app: app.name }),
      deployKeyFingerprint: key.fingerprint,
      repoUrl: project.sshUrl,
    };
    const updated = edited
      ? await updateAppAfterEdit(deps.store, app, patch)
      : await deps.store.updateApp(app.name, app.version, patch);

    // The new hook and key are live and stored: retire the previous ones.
    if (!edited && app.gitlabHookId !== undefined && app.projectId !== undefined) {
      const old = { projectId: app.projectId, hook: app.gitlabHookId };
      await bestEffort(deps, 'the previous hook', old, () => api.removeHook(old.projectId, old.hook));
    }
    if (app.deployKeyId !== undefined && app.projectId !== undefined) {
      const old = { projectId: app.projectId, key: app.deployKeyId };
      await bestEffort(deps, 'the previous deploy key', old, () => api.removeDeployKey(old.projectId, old.key));
    }
    return {
      app: toPublicApp(updated, publicUrl),
      gitlabHookId,
      deployKeyId,
      deployKeyFingerprint: key.fingerprint,
      sshHost,
      ...(previousHook && previousHook.alertStatus !== 'executable'
        ? {
            replacedDisabledHook: {
              id: previousHook.id,
              alertStatus: previousHook.alertStatus,
              ...(previousHook.disabledUntil ? { disabledUntil: previousHook.disabledUntil } : {}),
            },
          }
        : {}),
    };
  } catch (error) {
    for (const step of undo.reverse()) {
      await bestEffort(deps, 'a half-made link', { app: app.name }, step);
    }
    throw error;
  }
}

/** Edits the hook; false when GitLab no longer has it (a new one is made instead). */
async function editHookIfThere(api: GitlabApi, projectId: number, hookId: number, hook: GitlabHookSpec) {
  try {
    await api.editHook(projectId, hookId, hook);
    return true;
  } catch (error) {
    if (error instanceof GitlabError && error.kind === 'not_found') return false;
    throw error;
  }
}

/**
 * Stores the link after the hook was edited in place: the hook now holds the new secret, so a
 * write lost to a concurrent change of the app is made again on the app as it is now.
 */
async function updateAppAfterEdit(store: Store, app: App, patch: Partial<App>): Promise<App> {
  let current = app;
  for (let attempt = 1; ; attempt++) {
    try {
      return await store.updateApp(app.name, current.version, patch);
    } catch (error) {
      const again = error instanceof StaleWriteError && attempt < 3 ? await store.getApp(app.name) : undefined;
      if (!again) throw error;
      current = again;
    }
  }
}

/** Removes the app's hook and deploy key from GitLab (tolerating them being gone) and forgets them. */
export async function unlinkApp(deps: GitlabDeps, name: string, publicUrl: string) {
  validateAppName(name);
  const app = await deps.store.getApp(name);
  if (!app) throw new NotFoundError(`no app named ${name}`);
  if (app.linked && app.projectId !== undefined) {
    const { api } = await connected(deps);
    if (app.gitlabHookId !== undefined) await api.removeHook(app.projectId, app.gitlabHookId);
    if (app.deployKeyId !== undefined) await api.removeDeployKey(app.projectId, app.deployKeyId);
  }
  const updated = await deps.store.updateApp(app.name, app.version, {
    linked: false,
    gitlabHookId: undefined,
    deployKeyId: undefined,
    deployKeyCiphertext: undefined,
    deployKeyFingerprint: undefined,
    hookSecretHash: undefined,
    signingSecretCiphertext: undefined,
  });
  // Its build role goes too (whether or not it was linked: a link that failed half-way may have made one).
  const rights = deps.buildRights;
  if (rights) await bestEffort(deps, "the app's build role", { app: app.name }, () => rights.removeAppRole(app.name));
  return toPublicApp(updated, publicUrl);
}

export { GitlabError };
