import { ENVIRONMENT_NAME } from './environments';
import { ValidationError } from './errors';
import { refPatternProblem } from './filters';
import { newHookId, newSigningSecret, randomToken, sha256Hex } from './ids';
import { APP_MODES, type App, type AppMode } from './model';
import type { Vault } from './ports';

export const APP_NAME = /^[a-z][a-z0-9-]{0,38}[a-z0-9]$/;
const PROJECT_SEGMENT = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,254}$/;
const AWS_NAME = /^[A-Za-z0-9][A-Za-z0-9_./:-]{0,254}$/;

export interface NewAppInput {
  name: string;
  project: string;
  branch?: string;
  tags?: string;
  mode?: string;
  cluster?: string;
  service?: string;
  container?: string;
  dockerfile?: string;
  /** The app's first environment (default `production`): where pushes are released. */
  environment?: string;
}

function check(condition: boolean, message: string): void {
  if (!condition) throw new ValidationError(message);
}

/**
 * A branch filter or tag pattern: a git ref name with `*` wildcards, bounded in length and in
 * wildcards (filters.ts), so matching a ref against it stays cheap. The message quotes the
 * pattern as JSON (C0 control characters escaped; the CLI strips what is left).
 */
function checkPattern(what: string, pattern: string): void {
  const problem = refPatternProblem(pattern);
  if (problem) throw new ValidationError(`invalid ${what} ${JSON.stringify(pattern.slice(0, 64))}: ${problem}`);
}

export function validateAppName(name: string): void {
  check(
    APP_NAME.test(name),
    `invalid app name "${name.slice(0, 64)}": use 2-40 lower-case letters, digits and dashes, starting with a letter`,
  );
}

/** Checks and normalises what a user asked for; the app starts active, unlinked, without a secret. */
export function newApp(input: NewAppInput, now: Date = new Date()): App {
  validateAppName(input.name);
  const segments = input.project.replace(/^\/+|\/+$/g, '').split('/');
  check(
    segments.length >= 2 && segments.length <= 20 && segments.every((s) => PROJECT_SEGMENT.test(s)),
    `invalid project "${input.project.slice(0, 256)}": give GitLab's full path, e.g. group/project`,
  );
  const branch = input.branch ?? 'main';
  checkPattern('branch filter', branch);
  if (input.tags !== undefined) checkPattern('tag pattern', input.tags);
  const mode = (input.mode ?? 'superseded') as AppMode;
  check(APP_MODES.includes(mode), `invalid mode "${String(input.mode).slice(0, 64)}": use superseded or queued`);
  for (const key of ['cluster', 'service', 'container'] as const) {
    const value = input[key];
    if (value !== undefined) check(AWS_NAME.test(value), `invalid ${key} "${value.slice(0, 256)}"`);
  }
  check(
    (input.cluster === undefined) === (input.service === undefined),
    '--cluster and --service go together: give both or neither',
  );
  if (input.dockerfile !== undefined) {
    check(
      input.dockerfile.length > 0 &&
        input.dockerfile.length <= 1024 &&
        !input.dockerfile.startsWith('/') &&
        !input.dockerfile.split('/').includes('..'),
      `invalid dockerfile path "${input.dockerfile.slice(0, 256)}": give a path inside the repository`,
    );
  }
  if (input.environment !== undefined) {
    check(
      ENVIRONMENT_NAME.test(input.environment),
      `invalid environment "${input.environment.slice(0, 64)}": lower-case letters, digits and dashes, starting with a letter, at most 31`,
    );
  }
  const at = now.toISOString();
  return {
    name: input.name,
    project: segments.join('/'),
    branch,
    ...(input.tags !== undefined ? { tags: input.tags } : {}),
    mode,
    status: 'active',
    hookId: newHookId(),
    linked: false,
    ...(input.cluster !== undefined ? { cluster: input.cluster } : {}),
    ...(input.service !== undefined ? { service: input.service } : {}),
    ...(input.container !== undefined ? { container: input.container } : {}),
    ...(input.dockerfile !== undefined ? { dockerfile: input.dockerfile } : {}),
    ...(input.environment !== undefined ? { environment: input.environment } : {}),
    createdAt: at,
    updatedAt: at,
    version: 1,
  };
}

/** The app as the admin API and CLI show it (PRODUCT.md contract): no hashes, no ciphertexts. */
export interface PublicApp {
  name: string;
  project: string;
  projectId?: number;
  branch: string;
  tags?: string;
  mode: AppMode;
  status: App['status'];
  linked: boolean;
  hookUrl?: string;
  environment?: string;
  cluster?: string;
  service?: string;
  container?: string;
  dockerfile?: string;
  createdAt: string;
  updatedAt: string;
}

export function hookUrl(publicUrl: string, hookId: string): string {
  return `${publicUrl.replace(/\/+$/, '')}/hooks/gitlab/${hookId}`;
}

export function toPublicApp(app: App, publicUrl: string): PublicApp {
  const optional = <K extends keyof App>(key: K) => (app[key] !== undefined ? { [key]: app[key] } : {});
  return {
    name: app.name,
    project: app.project,
    ...optional('projectId'),
    branch: app.branch,
    ...optional('tags'),
    mode: app.mode,
    status: app.status,
    linked: app.linked,
    hookUrl: hookUrl(publicUrl, app.hookId),
    ...optional('environment'),
    ...optional('cluster'),
    ...optional('service'),
    ...optional('container'),
    ...optional('dockerfile'),
    createdAt: app.createdAt,
    updatedAt: app.updatedAt,
  };
}

/** A freshly issued webhook secret: what the user sees once, and what the store keeps. */
export interface IssuedSecret {
  secret: string;
  signingSecret?: string;
  patch: Pick<App, 'hookSecretHash'> & { signingSecretCiphertext: string | undefined };
}

/**
 * Issues a new webhook secret (and optionally a Standard-Webhooks signing secret). Only the
 * secret's hash and the signing secret's vault ciphertext are kept; the old ones stop working
 * as soon as the patch is stored.
 */
export async function issueWebhookSecret(app: App, vault: Vault, withSigning: boolean): Promise<IssuedSecret> {
  const secret = randomToken(32);
  const signingSecret = withSigning ? newSigningSecret() : undefined;
  const signingSecretCiphertext = signingSecret
    ? await vault.encrypt(signingSecret, { purpose: 'webhook-signing-secret', app: app.name })
    : undefined;
  return {
    secret,
    ...(signingSecret ? { signingSecret } : {}),
    patch: { hookSecretHash: sha256Hex(secret), signingSecretCiphertext },
  };
}
