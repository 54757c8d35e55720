import type { Logger } from '@aws-lambda-powertools/logger';
import * as z from 'zod';
import { ADMIN_ACTOR, approveRelease, rejectRelease } from '../domain/approvals';
import { issueWebhookSecret, newApp, toPublicApp, validateAppName } from '../domain/apps';
import { changeConfiguration, showConfiguration } from '../domain/configuration';
import { deployRef, promoteTo, rollbackTo } from '../domain/deploys';
import { runDoctor } from '../domain/doctor';
import {
  createEnvironment,
  deleteEnvironment,
  environmentOf,
  listEnvironments,
  mustHaveEnvironments,
} from '../domain/environments';
import { NotFoundError, ValidationError } from '../domain/errors';
import {
  connectGitlab,
  type GitlabDeps,
  linkApp,
  setOauthApplication,
  toPublicConnection,
  unlinkApp,
} from '../domain/gitlab-link';
import { ID_PATTERN } from '../domain/ids';
import { DEFAULT_METRICS_DAYS, loadDeliveryMetrics, MAX_METRICS_DAYS } from '../domain/metrics';
import type { App, Build, Release } from '../domain/model';
import type { BuildLogs, PlatformProbe, Store, TaskTokens, Vault, Workflow } from '../domain/ports';
import { isTerminalBuild } from '../domain/states';
import { httpHandler } from './middleware';
import { checkSize, HttpError, type HttpEvent, type HttpResult, json, parseJsonBody } from './responses';
import { logWorkflowFailure } from './workflow-failure';

export interface AdminDeps extends GitlabDeps {
  store: Store;
  vault: Vault;
  logger: Logger;
  /** Base URL GitLab should call; on AWS, defaults to the API's own domain. */
  publicUrl?: string;
  /** Where build logs are read from (CloudWatch Logs on AWS, the state dir locally). */
  logs?: BuildLogs;
  /** Starts releases by hand (deploy, rollback): Step Functions on AWS, the local executor locally. */
  workflow: Workflow;
  /** Completes the release workflow's approval waits (approve, reject). */
  tasks?: TaskTokens;
  /** What `doctor` checks the platform with (CodeBuild + Step Functions, or local mode's); unchecked without. */
  platform?: PlatformProbe;
  /** Whether a Slack incoming webhook is set, for `doctor` (informational); unknown without. */
  slackConfigured?: () => Promise<boolean | undefined>;
}

const doctorFixBody = z.strictObject({});

const createAppBody = z.strictObject({
  name: z.string().max(64),
  project: z.string().min(1).max(1024),
  branch: z.string().max(255).optional(),
  tags: z.string().max(255).optional(),
  mode: z.string().max(32).optional(),
  cluster: z.string().max(255).optional(),
  service: z.string().max(255).optional(),
  container: z.string().max(255).optional(),
  dockerfile: z.string().max(1024).optional(),
  environment: z.string().max(64).optional(),
});

const oauthBody = z.strictObject({
  clientId: z.string().min(1).max(255),
  clientSecret: z.string().min(1).max(1024),
});

const webhookBody = z.strictObject({ signing: z.boolean().optional() });

const deployBody = z.strictObject({ ref: z.string().min(1).max(255).optional() });

const rollbackBody = z.strictObject({});

const environmentBody = z.strictObject({
  name: z.string().min(1).max(64),
  branch: z.string().max(255).optional(),
  tags: z.string().max(255).optional(),
  cluster: z.string().max(255).optional(),
  service: z.string().max(255).optional(),
  container: z.string().max(255).optional(),
  url: z.string().max(2048).optional(),
  approval: z.enum(['none', 'maintainer']).optional(),
  selfApproval: z.boolean().optional(),
  /** The template of the app's review apps (domain/review-apps.ts). */
  reviewApps: z.boolean().optional(),
  serviceTemplate: z.string().max(255).optional(),
  cap: z.number().int().min(1).max(50).optional(),
});

const approveBody = z.strictObject({});
const rejectBody = z.strictObject({ reason: z.string().max(500).optional() });

const promoteBody = z.strictObject({
  from: z.string().min(1).max(64),
  to: z.string().min(1).max(64),
  release: z.string().regex(ID_PATTERN, 'release must be a release id').optional(),
});

/** `config set/unset`: values are checked in the domain (domain/environment-config.ts), whose messages name keys only. */
const configBody = z.strictObject({
  set: z.record(z.string().max(256), z.string()).optional(),
  unset: z.array(z.string().max(256)).max(1000).optional(),
});

const connectBody = z.strictObject({
  url: z.string().min(1).max(2048),
  token: z.string().min(1).max(1024),
  allowHttp: z.boolean().optional(),
  knownHosts: z.string().min(1).max(65_536),
});

function validate<T>(schema: z.ZodType<T>, body: unknown): T {
  const result = schema.safeParse(body);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  throw new ValidationError(issue ? `${issue.path.join('.') || 'body'}: ${issue.message}` : 'invalid body');
}

/** The build as the contract shows it (no internal references), with its duration once it ran. */
export function publicBuild(build: Build) {
  const { deliveryId: _d, execution: _e, repoUrl: _r, waitToken: _w, ...shown } = build;
  const ran = build.startedAt && build.endedAt ? Date.parse(build.endedAt) - Date.parse(build.startedAt) : Number.NaN;
  return Number.isFinite(ran) ? { ...shown, durationSeconds: Math.round(ran / 100) / 10 } : shown;
}

/** The release as the contract shows it (GitLab's deployment id stays inside). */
export function publicRelease(release: Release) {
  const { deploymentId: _d, waitToken: _w, ...shown } = release;
  return shown;
}

async function requireRelease(store: Store, app: string, id: string): Promise<Release> {
  const release = ID_PATTERN.test(id) ? await store.getRelease(app, id) : undefined;
  if (!release) throw new NotFoundError(`no release ${id} for app ${app}`);
  return release;
}

function publicUrlOf(deps: AdminDeps, event: HttpEvent): string {
  return deps.publicUrl ?? `https://${event.requestContext.domainName}`;
}

async function requireApp(store: Store, name: string): Promise<App> {
  validateAppName(name);
  const app = await store.getApp(name);
  if (!app) throw new NotFoundError(`no app named ${name}`);
  return app;
}

function limitOf(event: HttpEvent): number {
  const raw = event.queryStringParameters?.limit;
  if (raw === undefined) return 50;
  const limit = Number(raw);
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new ValidationError('limit must be 1-1000');
  return limit;
}

/** `?days=N` of the metrics route: a whole number 1–365, 30 when absent. */
function daysOf(event: HttpEvent): number {
  const raw = event.queryStringParameters?.days;
  if (raw === undefined) return DEFAULT_METRICS_DAYS;
  const days = /^\d{1,3}$/.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isInteger(days) || days < 1 || days > MAX_METRICS_DAYS) {
    throw new ValidationError(`days must be a whole number from 1 to ${MAX_METRICS_DAYS}`);
  }
  return days;
}

type Route = {
  method: string;
  pattern: RegExp;
  run: (deps: AdminDeps, event: HttpEvent, params: string[]) => Promise<HttpResult>;
};

const SEGMENT = '([^/]+)';

/** The `/v1` admin API used by the CLI; IAM-authorised on AWS, bearer token in local mode. */
const routes: Route[] = [
  { method: 'GET', pattern: /^\/v1\/health$/, run: async () => json(200, { ok: true }) },
  {
    // Read-only: what is wrong and what to do. 200 either way; the report says whether all is well.
    method: 'GET',
    pattern: /^\/v1\/doctor$/,
    run: async (deps, event) => json(200, await runDoctor(deps, { publicUrl: publicUrlOf(deps, event) })),
  },
  {
    // The same checks, re-enabling the hooks GitLab disabled on the way.
    method: 'POST',
    pattern: /^\/v1\/doctor\/fix$/,
    run: async (deps, event) => {
      validate(doctorFixBody, parseJsonBody(event, { allowEmpty: true }));
      const report = await runDoctor(deps, { publicUrl: publicUrlOf(deps, event), fix: true });
      for (const fixed of report.checks.filter((c) => c.status === 'fixed')) {
        deps.logger.info('doctor fixed', { check: fixed.id, ...(fixed.app ? { app: fixed.app } : {}) });
      }
      return json(200, report);
    },
  },
  {
    method: 'GET',
    pattern: /^\/v1\/apps$/,
    run: async (deps, event) => {
      const url = publicUrlOf(deps, event);
      return json(
        200,
        (await deps.store.listApps()).map((app) => toPublicApp(app, url)),
      );
    },
  },
  {
    method: 'POST',
    pattern: /^\/v1\/apps$/,
    run: async (deps, event) => {
      const input = validate(createAppBody, parseJsonBody(event));
      const app = newApp(input);
      await deps.store.createApp(app);
      deps.logger.info('app created', { app: app.name });
      return json(201, toPublicApp(app, publicUrlOf(deps, event)));
    },
  },
  {
    method: 'GET',
    pattern: new RegExp(`^/v1/apps/${SEGMENT}$`),
    run: async (deps, event, [name]) =>
      json(200, toPublicApp(await requireApp(deps.store, name ?? ''), publicUrlOf(deps, event))),
  },
  {
    method: 'PUT',
    pattern: /^\/v1\/gitlab$/,
    run: async (deps, event) => {
      const input = validate(connectBody, parseJsonBody(event));
      const connection = await connectGitlab(deps, input);
      deps.logger.info('gitlab connected', { url: connection.url, username: connection.username });
      return json(200, connection);
    },
  },
  {
    method: 'PUT',
    pattern: /^\/v1\/gitlab\/oauth$/,
    run: async (deps, event) => {
      const input = validate(oauthBody, parseJsonBody(event));
      const set = await setOauthApplication(deps, input, publicUrlOf(deps, event));
      deps.logger.info('console OAuth application set', { clientId: set.clientId });
      return json(200, set);
    },
  },
  {
    method: 'GET',
    pattern: /^\/v1\/gitlab$/,
    run: async (deps) => {
      const connection = await deps.store.getGitlabConnection();
      if (!connection) throw new NotFoundError('GitLab is not connected: run slipway gitlab connect');
      return json(200, toPublicConnection(connection, deps.knownHosts));
    },
  },
  {
    method: 'POST',
    pattern: new RegExp(`^/v1/apps/${SEGMENT}/link$`),
    run: async (deps, event, [name]) => {
      const linked = await linkApp(deps, name ?? '', publicUrlOf(deps, event));
      deps.logger.info('app linked', { app: linked.app.name, gitlabHookId: linked.gitlabHookId });
      return json(200, linked);
    },
  },
  {
    method: 'POST',
    pattern: new RegExp(`^/v1/apps/${SEGMENT}/unlink$`),
    run: async (deps, event, [name]) => {
      const app = await unlinkApp(deps, name ?? '', publicUrlOf(deps, event));
      deps.logger.info('app unlinked', { app: app.name });
      return json(200, app);
    },
  },
  {
    method: 'DELETE',
    pattern: new RegExp(`^/v1/apps/${SEGMENT}$`),
    run: async (deps, event, [name]) => {
      const app = await requireApp(deps.store, name ?? '');
      // A linked app's hook and deploy key go first: nothing is left behind in GitLab.
      if (app.linked) await unlinkApp(deps, app.name, publicUrlOf(deps, event));
      // A role left by a link that failed half-way goes too.
      else await deps.buildRights?.removeAppRole(app.name);
      await deps.store.deleteApp(app.name);
      deps.logger.info('app deleted', { app: app.name });
      return json(200, { deleted: app.name });
    },
  },
  {
    method: 'POST',
    pattern: new RegExp(`^/v1/apps/${SEGMENT}/webhook$`),
    run: async (deps, event, [name]) => {
      const { signing } = validate(webhookBody, parseJsonBody(event, { allowEmpty: true }));
      const app = await requireApp(deps.store, name ?? '');
      const issued = await issueWebhookSecret(app, deps.vault, signing ?? false);
      const updated = await deps.store.updateApp(app.name, app.version, issued.patch);
      deps.logger.info('webhook secret issued', { app: app.name, signing: signing ?? false });
      return json(200, {
        url: toPublicApp(updated, publicUrlOf(deps, event)).hookUrl,
        secret: issued.secret,
        ...(issued.signingSecret ? { signingSecret: issued.signingSecret } : {}),
      });
    },
  },
  {
    method: 'GET',
    pattern: new RegExp(`^/v1/apps/${SEGMENT}/builds$`),
    run: async (deps, event, [name]) => {
      const app = await requireApp(deps.store, name ?? '');
      return json(200, (await deps.store.listBuilds(app.name, { limit: limitOf(event) })).map(publicBuild));
    },
  },
  {
    method: 'GET',
    pattern: new RegExp(`^/v1/apps/${SEGMENT}/builds/${SEGMENT}$`),
    run: async (deps, _event, [name, id]) => {
      const app = await requireApp(deps.store, name ?? '');
      const build = ID_PATTERN.test(id ?? '') ? await deps.store.getBuild(app.name, id ?? '') : undefined;
      if (!build) throw new NotFoundError(`no build ${id} for app ${app.name}`);
      return json(200, publicBuild(build));
    },
  },
  {
    method: 'GET',
    pattern: new RegExp(`^/v1/apps/${SEGMENT}/builds/${SEGMENT}/logs$`),
    run: async (deps, event, [name, id]) => {
      const app = await requireApp(deps.store, name ?? '');
      const build = ID_PATTERN.test(id ?? '') ? await deps.store.getBuild(app.name, id ?? '') : undefined;
      if (!build) throw new NotFoundError(`no build ${id} for app ${app.name}`);
      const done = isTerminalBuild(build.status);
      if (!build.logLocation || !deps.logs) {
        return json(200, { lines: [], cursor: '', done, status: build.status });
      }
      const cursor = event.queryStringParameters?.cursor;
      if (cursor !== undefined && (cursor.length > 512 || !/^[\w./+=:-]*$/.test(cursor))) {
        throw new ValidationError('invalid log cursor');
      }
      const page = await deps.logs.read(build.logLocation, cursor || undefined);
      return json(200, { ...page, done: done && page.lines.length === 0, status: build.status });
    },
  },
  {
    method: 'GET',
    pattern: new RegExp(`^/v1/apps/${SEGMENT}/releases$`),
    run: async (deps, event, [name]) => {
      const app = await requireApp(deps.store, name ?? '');
      const env = event.queryStringParameters?.env;
      if (env === undefined) {
        return json(200, (await deps.store.listReleases(app.name, { limit: limitOf(event) })).map(publicRelease));
      }
      await mustHaveEnvironments(deps.store, app, env);
      // Newest first, up to the limit, of this environment's releases only.
      const limit = limitOf(event);
      const releases = (await deps.store.listReleases(app.name)).filter((r) => environmentOf(app, r) === env);
      return json(200, releases.slice(0, limit).map(publicRelease));
    },
  },
  {
    method: 'GET',
    pattern: new RegExp(`^/v1/apps/${SEGMENT}/envs$`),
    run: async (deps, _event, [name]) => {
      const app = await requireApp(deps.store, name ?? '');
      return json(200, await listEnvironments(deps.store, app));
    },
  },
  {
    method: 'POST',
    pattern: new RegExp(`^/v1/apps/${SEGMENT}/envs$`),
    run: async (deps, event, [name]) => {
      const spec = validate(environmentBody, parseJsonBody(event));
      const app = await requireApp(deps.store, name ?? '');
      const created = await createEnvironment(deps, app, spec);
      deps.logger.info('environment created', { app: app.name, environment: created.name });
      return json(201, created);
    },
  },
  {
    method: 'DELETE',
    pattern: new RegExp(`^/v1/apps/${SEGMENT}/envs/${SEGMENT}$`),
    run: async (deps, _event, [name, env]) => {
      const app = await requireApp(deps.store, name ?? '');
      await deleteEnvironment(deps.store, app, env ?? '');
      deps.logger.info('environment deleted', { app: app.name, environment: env });
      return json(200, { deleted: env });
    },
  },
  {
    // Keys only; values with ?show=true.
    method: 'GET',
    pattern: new RegExp(`^/v1/apps/${SEGMENT}/envs/${SEGMENT}/config$`),
    run: async (deps, event, [name, env]) => {
      const show = event.queryStringParameters?.show;
      if (show !== undefined && show !== 'true' && show !== 'false')
        throw new ValidationError('show must be true or false');
      const app = await requireApp(deps.store, name ?? '');
      return json(200, await showConfiguration(deps, app.name, env ?? '', { show: show === 'true' }));
    },
  },
  {
    // 202 when the change released the environment's live images again (`release`), else 200.
    method: 'PATCH',
    pattern: new RegExp(`^/v1/apps/${SEGMENT}/envs/${SEGMENT}/config$`),
    run: async (deps, event, [name, env]) => {
      const change = validate(configBody, parseJsonBody(event));
      const app = await requireApp(deps.store, name ?? '');
      const { released, ...view } = await changeConfiguration(deps, app.name, env ?? '', {
        ...change,
        requestedBy: ADMIN_ACTOR.name,
      });
      // Key names and versions only: values never reach a log.
      deps.logger.info('configuration changed', {
        app: app.name,
        environment: view.environment,
        version: view.version,
        ...(released ? { release: released.id, configChange: released.configChange } : {}),
      });
      return json(released ? 202 : 200, view);
    },
  },
  {
    method: 'POST',
    pattern: new RegExp(`^/v1/apps/${SEGMENT}/promote$`),
    run: async (deps, event, [name]) => {
      const request = validate(promoteBody, parseJsonBody(event));
      const app = await requireApp(deps.store, name ?? '');
      const release = await promoteTo(deps, app.name, { ...request, requestedBy: ADMIN_ACTOR.name });
      deps.logger.info('promotion started', { app: app.name, from: request.from, to: request.to, release: release.id });
      return json(202, publicRelease(release));
    },
  },
  {
    method: 'GET',
    pattern: new RegExp(`^/v1/apps/${SEGMENT}/releases/${SEGMENT}$`),
    run: async (deps, _event, [name, id]) => {
      const app = await requireApp(deps.store, name ?? '');
      return json(200, publicRelease(await requireRelease(deps.store, app.name, id ?? '')));
    },
  },
  {
    method: 'POST',
    pattern: new RegExp(`^/v1/apps/${SEGMENT}/releases/${SEGMENT}/approve$`),
    run: async (deps, event, [name, id]) => {
      validate(approveBody, parseJsonBody(event, { allowEmpty: true }));
      const app = await requireApp(deps.store, name ?? '');
      const waiting = await requireRelease(deps.store, app.name, id ?? '');
      const release = await approveRelease(deps, app.name, waiting.id, ADMIN_ACTOR);
      deps.logger.info('release approved', { app: app.name, release: release.id, by: ADMIN_ACTOR.name });
      return json(200, publicRelease(release));
    },
  },
  {
    method: 'POST',
    pattern: new RegExp(`^/v1/apps/${SEGMENT}/releases/${SEGMENT}/reject$`),
    run: async (deps, event, [name, id]) => {
      const { reason } = validate(rejectBody, parseJsonBody(event, { allowEmpty: true }));
      const app = await requireApp(deps.store, name ?? '');
      const waiting = await requireRelease(deps.store, app.name, id ?? '');
      const release = await rejectRelease(deps, app.name, waiting.id, ADMIN_ACTOR, reason);
      deps.logger.info('release rejected', { app: app.name, release: release.id, by: ADMIN_ACTOR.name });
      return json(200, publicRelease(release));
    },
  },
  {
    method: 'POST',
    pattern: new RegExp(`^/v1/apps/${SEGMENT}/releases/${SEGMENT}/rollback$`),
    run: async (deps, event, [name, id]) => {
      validate(rollbackBody, parseJsonBody(event, { allowEmpty: true }));
      const app = await requireApp(deps.store, name ?? '');
      const old = await requireRelease(deps.store, app.name, id ?? '');
      const release = await rollbackTo(deps, app.name, old.id);
      deps.logger.info('rollback started', { app: app.name, from: old.id, release: release.id });
      return json(202, publicRelease(release));
    },
  },
  {
    method: 'GET',
    pattern: new RegExp(`^/v1/apps/${SEGMENT}/metrics$`),
    run: async (deps, event, [name]) => {
      const days = daysOf(event);
      const environment = event.queryStringParameters?.env;
      const app = await requireApp(deps.store, name ?? '');
      const now = deps.clock?.now();
      return json(
        200,
        await loadDeliveryMetrics(deps, app.name, {
          days,
          ...(now ? { now } : {}),
          ...(environment !== undefined ? { environment } : {}),
        }),
      );
    },
  },
  {
    method: 'POST',
    pattern: new RegExp(`^/v1/apps/${SEGMENT}/deploy$`),
    run: async (deps, event, [name]) => {
      const { ref } = validate(deployBody, parseJsonBody(event, { allowEmpty: true }));
      const app = await requireApp(deps.store, name ?? '');
      const build = await deployRef({ ...deps, onWorkflowError: logWorkflowFailure(deps.logger) }, app.name, ref);
      deps.logger.info('deploy requested', { app: app.name, build: build.id, ref: build.ref, commit: build.commit });
      return json(202, publicBuild(build));
    },
  },
];

export function createAdminHandler(deps: AdminDeps) {
  return httpHandler(deps.logger, async (event) => {
    checkSize(event);
    const method = event.requestContext.http.method.toUpperCase();
    const path = event.rawPath.replace(/\/+$/, '') || '/';
    let pathMatched = false;
    for (const route of routes) {
      const match = route.pattern.exec(path);
      if (!match) continue;
      pathMatched = true;
      if (route.method !== method) continue;
      const params = match.slice(1).map((p) => {
        try {
          return decodeURIComponent(p);
        } catch {
          throw new HttpError(400, 'malformed path');
        }
      });
      return route.run(deps, event, params);
    }
    if (pathMatched) throw new HttpError(405, `method ${method} not allowed on ${path}`);
    throw new HttpError(404, `no route ${method} ${path}`);
  });
}
