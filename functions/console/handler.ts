import { gzipSync } from 'node:zlib';
import type { Logger } from '@aws-lambda-powertools/logger';
import { type Rights, rightsFor } from '../domain/access';
import { approveRelease, rejectRelease } from '../domain/approvals';
import { deployRef, rollbackTo } from '../domain/deploys';
import { listEnvironments } from '../domain/environments';
import {
  ConflictError,
  ForbiddenError,
  GitlabError,
  NotFoundError,
  StaleWriteError,
  ValidationError,
} from '../domain/errors';
import { connected, type GitlabDeps, oauthRedirectUri, oauthSecretContext } from '../domain/gitlab-link';
import { ID_PATTERN } from '../domain/ids';
import { loadDeliveryMetrics } from '../domain/metrics';
import type { App, GitlabConnection } from '../domain/model';
import type { BuildLogs, TaskTokens, Workflow } from '../domain/ports';
import { isTerminalBuild } from '../domain/states';
import { httpHandler } from '../http/middleware';
import { type HttpEvent, type HttpResult, header, json, MAX_BODY_BYTES, rawBody } from '../http/responses';
import { logWorkflowFailure } from '../http/workflow-failure';
import { SCRIPT, STYLESHEET } from './assets';
import { beginSignIn, completeSignIn, type OidcSettings, SignInError } from './oidc';
import { type AppRow, appPage, appsPage, buildPage, messagePage, signInPage, type Viewer } from './pages';
import { RightsCache } from './rights';
import {
  cookie,
  readCookies,
  SESSION_COOKIE,
  SESSION_SECONDS,
  type Session,
  SessionSealer,
  SIGN_IN_COOKIE,
  SIGN_IN_PATH,
  SIGN_IN_SECONDS,
  sameToken,
  secureCookies,
} from './session';

export interface ConsoleDeps extends Pick<GitlabDeps, 'store' | 'vault' | 'gitlab' | 'clock'> {
  logger: Logger;
  workflow: Workflow;
  /** Completes the release workflow's approval waits (Approve, Reject). */
  tasks?: TaskTokens;
  logs?: BuildLogs;
  /** The base URL people and GitLab reach Slipway at (the redirect URI is derived from it). */
  publicUrl: string;
  /** The 32-byte key sessions are sealed with (state dir locally, Secrets Manager on AWS). */
  sessionKey: () => Promise<Uint8Array>;
}

const APPS_PAGE_LIMIT = 50;
const METRICS_TTL_MS = 15_000;
const MAX_FORM_BYTES = 16 * 1024;

type Page = { status: number; body: string; headers?: Record<string, string>; cookies?: string[] };

/** Thrown to answer with a page (not-found, refused, GitLab down): expected, never logged as an error. */
class PageError extends Error {
  constructor(
    readonly status: number,
    readonly title: string,
    message: string,
    readonly action: { href: string; label: string } = { href: '/console', label: 'Back to your apps' },
  ) {
    super(message);
  }
}

const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'same-origin',
  'x-frame-options': 'DENY',
};

function page(result: Page): HttpResult {
  return {
    statusCode: result.status,
    headers: {
      'content-type': 'text/html; charset=utf-8',
      'cache-control': 'no-store',
      ...SECURITY_HEADERS,
      ...result.headers,
    },
    ...(result.cookies?.length ? { cookies: result.cookies } : {}),
    body: result.body,
  };
}

function redirect(location: string, cookies: string[] = [], status = 303): HttpResult {
  return page({ status, body: '', headers: { location }, cookies });
}

/**
 * The web console (PRODUCT.md "Console"): sign-in with GitLab, the apps a user's GitLab role
 * lets them see, each app's releases, builds, logs and delivery metrics, and deploy/roll back
 * for Maintainers. Served at `/console…` and `/auth/gitlab/*` by one handler in Lambda and in
 * local mode. Rights are checked on every request; every POST is checked against CSRF.
 */
export function createConsoleHandler(deps: ConsoleDeps) {
  const secure = secureCookies(deps.publicUrl);
  const publicOrigin = new URL(deps.publicUrl).origin;
  let sealer: Promise<SessionSealer> | undefined;
  const sessions = () => {
    if (!sealer) {
      sealer = deps.sessionKey().then((key) => new SessionSealer(key));
      // A key that could not be read is asked for again by the next request.
      sealer.catch(() => {
        sealer = undefined;
      });
    }
    return sealer;
  };

  // The connected token, decrypted at most once a minute, reads members for the rights cache.
  let api: { at: number; value: ReturnType<typeof connected> } | undefined;
  const gitlab = () => {
    if (!api || Date.now() - api.at > 60_000) {
      const value = connected(deps);
      api = { at: Date.now(), value };
      value.catch(() => {
        api = undefined;
      });
    }
    return api.value;
  };
  const rightsCache = new RightsCache(async (project, userId) =>
    (await gitlab()).api.memberAccessLevel(project, userId),
  );

  let oidc: { ciphertext: string; settings: Promise<OidcSettings> } | undefined;
  async function oidcSettings(): Promise<OidcSettings> {
    const connection: GitlabConnection | undefined = await deps.store.getGitlabConnection();
    if (!connection?.oauth) {
      throw new PageError(
        503,
        'Sign-in is not set up',
        'An administrator needs to register Slipway as an OAuth application in GitLab and run slipway gitlab oauth.',
        { href: '/console', label: 'Back' },
      );
    }
    const { oauth } = connection;
    if (oidc?.ciphertext !== `${connection.url}\n${oauth.clientSecretCiphertext}`) {
      oidc = {
        ciphertext: `${connection.url}\n${oauth.clientSecretCiphertext}`,
        settings: deps.vault
          .decrypt(oauth.clientSecretCiphertext, oauthSecretContext(connection.url))
          .then((secret) => ({
            issuer: connection.url,
            clientId: oauth.clientId,
            clientSecret: secret,
            redirectUri: oauthRedirectUri(deps.publicUrl),
          })),
      };
    }
    return oidc.settings;
  }

  // The 30-day figures read every release and build of the window; pages poll every 3 s, so
  // they are kept per app for a little while (a new deployment shows within METRICS_TTL_MS).
  const metricsCache = new Map<string, { at: number; value: ReturnType<typeof loadDeliveryMetrics> }>();
  function metricsOf(app: string, now: Date): ReturnType<typeof loadDeliveryMetrics> {
    const cached = metricsCache.get(app);
    if (cached && now.getTime() - cached.at < METRICS_TTL_MS) return cached.value;
    const value = loadDeliveryMetrics(deps, app, { days: 30, now });
    if (metricsCache.size >= 1_000) metricsCache.clear();
    metricsCache.set(app, { at: now.getTime(), value });
    value.catch(() => metricsCache.delete(app));
    return value;
  }

  async function rightsOn(app: App, session: Session): Promise<Rights> {
    try {
      return await rightsCache.rights(app, session.sub);
    } catch (error) {
      if (error instanceof NotFoundError) return rightsFor(undefined);
      deps.logger.warn('could not read GitLab access', { app: app.name, error: error as Error });
      throw new PageError(
        502,
        'GitLab could not be reached',
        'Slipway asks GitLab what your role is on each project and could not reach it just now. Try again in a moment.',
        { href: '/console', label: 'Try again' },
      );
    }
  }

  /** The app, if this user may see it; otherwise the same 404 as for an app that does not exist. */
  async function visibleApp(name: string, session: Session): Promise<{ app: App; rights: Rights }> {
    const missing = new PageError(404, 'Not found', `There is no app named ${name} that you can see.`);
    if (!/^[a-z0-9][a-z0-9-]{0,62}$/.test(name)) throw missing;
    const app = await deps.store.getApp(name);
    if (!app) throw missing;
    const rights = await rightsOn(app, session);
    if (!rights.see) throw missing;
    return { app, rights };
  }

  function viewerOf(session: Session): Viewer {
    return { username: session.username, csrf: session.csrf };
  }

  /** Every state-changing request: a POST from our own pages (Origin) carrying the session's token. */
  function checkCsrf(event: HttpEvent, session: Session, form: URLSearchParams): void {
    const origin = header(event, 'origin');
    const host = header(event, 'host');
    const allowed = [publicOrigin, ...(host ? [`http://${host}`, `https://${host}`] : [])];
    if (origin !== undefined && origin !== 'null' && !allowed.includes(origin)) {
      throw new PageError(403, 'Request refused', 'This request did not come from a Slipway page.');
    }
    if (origin === 'null')
      throw new PageError(403, 'Request refused', 'This request did not come from a Slipway page.');
    if (!sameToken(form.get('csrf') ?? '', session.csrf)) {
      throw new PageError(
        403,
        'Request refused',
        'The form was stale or did not come from Slipway. Reload the page and try again.',
      );
    }
  }

  function readForm(event: HttpEvent): URLSearchParams {
    const type = (header(event, 'content-type') ?? '').split(';', 1)[0]?.trim().toLowerCase();
    if (type !== 'application/x-www-form-urlencoded') {
      throw new PageError(415, 'Request refused', 'Expected a form submission.');
    }
    const body = rawBody(event);
    if (body.length > MAX_FORM_BYTES) throw new PageError(413, 'Request refused', 'The form was too large.');
    return new URLSearchParams(body.toString('utf8'));
  }

  const clearSession = cookie(SESSION_COOKIE, '', { path: '/', maxAge: 0, secure });

  async function route(event: HttpEvent): Promise<HttpResult> {
    const method = event.requestContext.http.method.toUpperCase();
    const path = event.rawPath.replace(/\/+$/, '') || '/';
    const cookies = readCookies(event.cookies, header(event, 'cookie'));
    const sealer = await sessions();
    const session = await sealer.openSession(cookies.get(SESSION_COOKIE));
    const now = new Date();

    // Assets: public, immutable under their content hash.
    const asset = /^\/console\/assets\/console\.([0-9a-f]{12})\.(css|js)$/.exec(path);
    if (asset && method === 'GET') {
      const file = asset[2] === 'css' ? STYLESHEET : SCRIPT;
      if (asset[1] !== file.hash) return page({ status: 404, body: 'not found' });
      return {
        statusCode: 200,
        headers: {
          'content-type': asset[2] === 'css' ? 'text/css; charset=utf-8' : 'text/javascript; charset=utf-8',
          'cache-control': 'public, max-age=31536000, immutable',
          'x-content-type-options': 'nosniff',
        },
        body: file.content,
      };
    }

    if (path === `${SIGN_IN_PATH}/login` && method === 'GET') {
      const settings = await oidcSettings();
      const started = await beginSignIn(settings);
      const sealed = await sealer.sealSignIn(started.transaction);
      return redirect(
        started.url,
        [cookie(SIGN_IN_COOKIE, sealed, { path: SIGN_IN_PATH, maxAge: SIGN_IN_SECONDS, secure })],
        302,
      );
    }

    if (path === `${SIGN_IN_PATH}/callback` && method === 'GET') {
      const clearSignIn = cookie(SIGN_IN_COOKIE, '', { path: SIGN_IN_PATH, maxAge: 0, secure });
      const transaction = await sealer.openSignIn(cookies.get(SIGN_IN_COOKIE));
      const query = new URLSearchParams(event.rawQueryString ?? '');
      const retry = { href: `${SIGN_IN_PATH}/login`, label: 'Try again' };
      if (query.get('error') === 'access_denied') {
        return page({
          status: 403,
          body: messagePage(
            'Sign-in cancelled',
            'You did not allow Slipway to use your GitLab account, so you are not signed in.',
            retry,
          ),
          cookies: [clearSignIn],
        });
      }
      if (!transaction) {
        return page({
          status: 400,
          body: messagePage(
            'Sign-in expired',
            'This sign-in was not started here or took longer than 10 minutes. Start again.',
            retry,
          ),
          cookies: [clearSignIn],
        });
      }
      if (!sameToken(query.get('state') ?? '', transaction.state)) {
        return page({
          status: 400,
          body: messagePage(
            'Sign-in refused',
            'The answer from GitLab did not belong to the sign-in started in this browser (state mismatch). Start again.',
            retry,
          ),
          cookies: [clearSignIn],
        });
      }
      try {
        const user = await completeSignIn(await oidcSettings(), event.rawQueryString ?? '', transaction);
        const { value } = await sealer.sealSession(user);
        deps.logger.info('console sign-in', { user: user.username, sub: user.sub });
        return redirect('/console', [
          clearSignIn,
          cookie(SESSION_COOKIE, value, { path: '/', maxAge: SESSION_SECONDS, secure }),
        ]);
      } catch (error) {
        if (!(error instanceof SignInError)) throw error;
        const cause = error.cause as Error | undefined;
        deps.logger.warn('console sign-in failed', {
          kind: error.kind,
          reason: error.message,
          ...(cause ? { cause: `${cause.name}: ${cause.message}`.slice(0, 300) } : {}),
        });
        const titles: Record<SignInError['kind'], [number, string]> = {
          denied: [403, 'Sign-in cancelled'],
          state: [400, 'Sign-in refused'],
          code: [400, 'Sign-in code not valid'],
          unreachable: [502, 'GitLab could not be reached'],
          provider: [502, 'Sign-in failed'],
        };
        const [status, title] = titles[error.kind];
        return page({ status, body: messagePage(title, error.message, retry), cookies: [clearSignIn] });
      }
    }

    if (path === '/auth/logout' && method === 'POST') {
      if (session) checkCsrf(event, session, readForm(event));
      return redirect('/console', [clearSession]);
    }

    if (!path.startsWith('/console')) throw new PageError(404, 'Not found', 'There is no such page.');

    if (!session) {
      if (path === '/console' && method === 'GET') {
        return page({
          status: 200,
          body: signInPage(),
          ...(cookies.has(SESSION_COOKIE) ? { cookies: [clearSession] } : {}),
        });
      }
      if (/\/log$/.test(path)) return json(401, { error: 'signed out' });
      return redirect('/console');
    }
    const viewer = viewerOf(session);

    if (path === '/console' && method === 'GET') {
      const apps = await deps.store.listApps();
      const visible: App[] = [];
      const checks = await Promise.all(apps.map(async (app) => ({ app, rights: await rightsOn(app, session) })));
      for (const { app, rights } of checks) if (rights.see) visible.push(app);
      const rows: AppRow[] = await Promise.all(
        visible.map(async (app) => {
          const [liveId, builds] = await Promise.all([
            deps.store.liveReleaseId(app.name),
            deps.store.listBuilds(app.name, { limit: 1 }),
          ]);
          const live = liveId ? await deps.store.getRelease(app.name, liveId) : undefined;
          return { app, ...(live ? { live } : {}), ...(builds[0] ? { lastBuild: builds[0] } : {}) };
        }),
      );
      rows.sort((a, b) => a.app.name.localeCompare(b.app.name));
      return page({ status: 200, body: appsPage(viewer, rows, now) });
    }

    const appMatch = /^\/console\/apps\/([^/]+)(\/.*)?$/.exec(path);
    if (!appMatch) throw new PageError(404, 'Not found', 'There is no such page.');
    const name = safeDecode(appMatch[1] ?? '');
    const rest = appMatch[2] ?? '';
    const { app, rights } = await visibleApp(name, session);
    const base = `/console/apps/${encodeURIComponent(app.name)}`;

    if (rest === '' && method === 'GET') {
      const [releases, builds, metrics, environments] = await Promise.all([
        deps.store.listReleases(app.name, { limit: APPS_PAGE_LIMIT }),
        deps.store.listBuilds(app.name, { limit: APPS_PAGE_LIMIT }),
        metricsOf(app.name, now),
        listEnvironments(deps.store, app),
      ]);
      // The first environment's live release (its live pointer was read with the environments).
      const liveId = environments[0]?.live;
      const live = liveId
        ? (releases.find((r) => r.id === liveId) ?? (await deps.store.getRelease(app.name, liveId)))
        : undefined;
      return page({
        status: 200,
        body: appPage(
          viewer,
          { app, ...(live ? { live } : {}), releases, builds, metrics, environments, canOperate: rights.operate },
          now,
        ),
      });
    }

    const buildMatch = /^\/builds\/([^/]+)(\/log)?$/.exec(rest);
    if (buildMatch && method === 'GET') {
      const id = safeDecode(buildMatch[1] ?? '');
      const build = ID_PATTERN.test(id) ? await deps.store.getBuild(app.name, id) : undefined;
      if (!build)
        throw new PageError(404, 'Not found', `There is no build ${id} of ${app.name}.`, {
          href: base,
          label: `Back to ${app.name}`,
        });
      const done = isTerminalBuild(build.status);
      if (buildMatch[2]) {
        const cursor = event.queryStringParameters?.cursor;
        if (cursor !== undefined && (cursor.length > 512 || !/^[\w./+=:-]*$/.test(cursor))) {
          return json(400, { error: 'invalid log cursor' });
        }
        if (!build.logLocation || !deps.logs) return json(200, { lines: [], cursor: '', done, status: build.status });
        const logPage = await deps.logs.read(build.logLocation, cursor || undefined);
        return json(200, { ...logPage, done: done && logPage.lines.length === 0, status: build.status });
      }
      const first =
        build.logLocation && deps.logs ? await deps.logs.read(build.logLocation) : { lines: [], cursor: '' };
      return page({
        status: 200,
        body: buildPage(viewer, app, build, { ...first, done: done && first.lines.length === 0 }, now),
      });
    }

    const releaseAction = /^\/releases\/([^/]+)\/(rollback|approve|reject)$/.exec(rest);
    const action = rest === '/deploy' ? 'deploy' : releaseAction ? releaseAction[2] : undefined;
    if (action && method === 'POST') {
      const form = readForm(event);
      checkCsrf(event, session, form);
      if (!rights.operate) {
        throw new PageError(
          403,
          'Not allowed',
          `Deploying and rolling back ${app.name} need the Maintainer role on ${app.project} in GitLab.`,
          {
            href: base,
            label: `Back to ${app.name}`,
          },
        );
      }
      const back = { href: base, label: `Back to ${app.name}` };
      try {
        if (action === 'deploy') {
          const ref = (form.get('ref') ?? '').trim();
          if (ref.length > 255 || hasControlCharacter(ref)) throw new ValidationError('the ref is not valid');
          const build = await deployRef(
            { ...deps, onWorkflowError: logWorkflowFailure(deps.logger) },
            app.name,
            ref || undefined,
          );
          deps.logger.info('console deploy', {
            app: app.name,
            user: session.username,
            build: build.id,
            ref: build.ref,
          });
          return redirect(`${base}/builds/${encodeURIComponent(build.id)}`);
        }
        const releaseId = safeDecode(releaseAction?.[1] ?? '');
        if (!ID_PATTERN.test(releaseId)) throw new NotFoundError(`no release ${releaseId}`);
        if (action === 'approve' || action === 'reject') {
          const actor = { kind: 'user' as const, name: session.username };
          const reason = (form.get('reason') ?? '').trim();
          if (reason.length > 500 || hasControlCharacter(reason)) throw new ValidationError('the reason is not valid');
          const decided =
            action === 'approve'
              ? await approveRelease(deps, app.name, releaseId, actor)
              : await rejectRelease(deps, app.name, releaseId, actor, reason || undefined);
          deps.logger.info(`console ${action}`, { app: app.name, user: session.username, release: decided.id });
          return redirect(base);
        }
        const release = await rollbackTo(deps, app.name, releaseId);
        deps.logger.info('console rollback', {
          app: app.name,
          user: session.username,
          from: releaseId,
          release: release.id,
        });
        return redirect(base);
      } catch (error) {
        if (error instanceof ValidationError) throw new PageError(400, 'Not started', error.message, back);
        if (error instanceof NotFoundError) throw new PageError(404, 'Not found', error.message, back);
        if (error instanceof ForbiddenError) throw new PageError(403, 'Not allowed', error.message, back);
        if (error instanceof ConflictError || error instanceof StaleWriteError)
          throw new PageError(409, 'Not started', error.message, back);
        if (error instanceof GitlabError) {
          throw new PageError(error.kind === 'not_found' ? 404 : 502, 'GitLab said no', error.message, back);
        }
        throw error;
      }
    }
    if (action || buildMatch || rest === '') {
      return page({
        status: 405,
        body: messagePage('Not allowed', 'That method is not allowed here.', { href: base, label: 'Back' }),
        headers: { allow: action ? 'POST' : 'GET' },
      });
    }
    throw new PageError(404, 'Not found', 'There is no such page.', { href: base, label: `Back to ${app.name}` });
  }

  return httpHandler(deps.logger, async (event) => {
    const length = Number(header(event, 'content-length') ?? 0);
    if (length > MAX_BODY_BYTES)
      return page({
        status: 413,
        body: messagePage('Too large', 'The request was too large.', { href: '/console', label: 'Back' }),
      });
    try {
      return compress(event, await route(event));
    } catch (error) {
      if (error instanceof PageError) {
        return compress(
          event,
          page({ status: error.status, body: messagePage(error.title, error.message, error.action) }),
        );
      }
      if (error instanceof SignInError) {
        return page({
          status: 502,
          body: messagePage('GitLab could not be reached', error.message, {
            href: `${SIGN_IN_PATH}/login`,
            label: 'Try again',
          }),
        });
      }
      deps.logger.error('console error', { error: error as Error });
      return page({
        status: 500,
        body: messagePage(
          'Something went wrong',
          'Slipway could not show this page. The error was logged; try again in a moment.',
          {
            href: '/console',
            label: 'Back to your apps',
          },
        ),
      });
    }
  });
}

/**
 * Gzip for clients that take it (every browser): API Gateway's HTTP API does not compress, so
 * the console does, and pages stay light on slow links.
 */
function compress(event: HttpEvent, result: HttpResult): HttpResult {
  const accepts = /\bgzip\b/.test(header(event, 'accept-encoding') ?? '');
  if (!accepts || result.isBase64Encoded || Buffer.byteLength(result.body) < 1024) return result;
  return {
    ...result,
    headers: { ...result.headers, 'content-encoding': 'gzip', vary: 'accept-encoding' },
    body: gzipSync(result.body).toString('base64'),
    isBase64Encoded: true,
  };
}

function safeDecode(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

function hasControlCharacter(text: string): boolean {
  for (const char of text) {
    const code = char.codePointAt(0) ?? 0;
    if (code < 0x20 || code === 0x7f) return true;
  }
  return false;
}
