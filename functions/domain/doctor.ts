import { hookUrl } from './apps';
import { GitlabError } from './errors';
import { connected, type GitlabDeps } from './gitlab-link';
import type { App } from './model';
import type { GitlabApi, GitlabHookState, PlatformProbe } from './ports';

/** A token that expires within this many days is a finding: there is time to replace it. */
export const TOKEN_EXPIRY_WARNING_DAYS = 14;

/**
 * One finding of `slipway doctor`: `ok`, `fail` (something to fix; the report is not ok),
 * `fixed` (was wrong, `--fix` put it right), `info` (worth knowing, never a failure).
 */
export interface DoctorCheck {
  id: string;
  status: 'ok' | 'fail' | 'fixed' | 'info';
  title: string;
  /** One line: what was found. */
  detail: string;
  /** One line: what to do about it (fail, and info that suggests something). */
  advice?: string;
  app?: string;
}

export interface DoctorReport {
  ok: boolean;
  checkedAt: string;
  checks: DoctorCheck[];
}

export interface DoctorDeps extends Pick<GitlabDeps, 'store' | 'vault' | 'gitlab' | 'clock'> {
  /** The AWS resources (or their local equivalents) the deployment runs on; unchecked without one. */
  platform?: PlatformProbe;
  /** Whether a Slack incoming webhook is set (informational); unknown when undefined. */
  slackConfigured?: () => Promise<boolean | undefined>;
}

export interface DoctorOptions {
  /** Re-enable the hooks GitLab disabled (a test delivery, which GitLab counts as a success). */
  fix?: boolean;
  /** Base URL GitLab should call: each app's hook must point at its URL under it. */
  publicUrl: string;
}

/**
 * Checks a deployment end to end and says what to fix: the GitLab connection (the token works,
 * has the api scope and does not expire within 14 days), each linked app's hook (present,
 * pointing here, not disabled by GitLab) and deploy key, the platform (probe), and Slack.
 */
export async function runDoctor(deps: DoctorDeps, options: DoctorOptions): Promise<DoctorReport> {
  const now = deps.clock?.now() ?? new Date();
  const checks: DoctorCheck[] = [];
  const apps = await deps.store.listApps();

  const api = await checkGitlab(deps, now, checks);
  for (const app of apps) {
    if (!app.linked || app.projectId === undefined) {
      checks.push({
        id: `app.${app.name}.linked`,
        status: 'info',
        app: app.name,
        title: `app ${app.name}`,
        detail: 'not linked to GitLab: pushes do not reach it',
        advice: `run slipway apps link ${app.name}`,
      });
      continue;
    }
    if (app.status === 'disabled') {
      checks.push({
        id: `app.${app.name}.status`,
        status: 'info',
        app: app.name,
        title: `app ${app.name}`,
        detail: 'disabled (its GitLab project was destroyed): it starts no builds',
      });
      continue;
    }
    if (!api) continue;
    checks.push(await checkHook(api, app, options));
    checks.push(await checkDeployKey(api, app));
  }

  if (deps.platform) {
    for (const finding of await deps.platform.probe()) {
      checks.push({
        id: finding.id,
        status: finding.ok ? 'ok' : 'fail',
        title: finding.title,
        detail: finding.detail,
        ...(!finding.ok && finding.advice ? { advice: finding.advice } : {}),
      });
    }
  } else {
    checks.push({
      id: 'platform',
      status: 'info',
      title: 'platform',
      detail: 'not checked: this deployment has no platform probe wired',
    });
  }

  const slack = await deps.slackConfigured?.();
  checks.push({
    id: 'slack',
    status: 'info',
    title: 'Slack notices',
    detail:
      slack === undefined
        ? 'not known here'
        : slack
          ? 'an incoming webhook is set'
          : 'no incoming webhook set: release notices go to the logs only',
  });

  return { ok: !checks.some((c) => c.status === 'fail'), checkedAt: now.toISOString(), checks };
}

/** The connection and its token, as GitLab sees it now; a client for the app checks when it works. */
async function checkGitlab(deps: DoctorDeps, now: Date, checks: DoctorCheck[]): Promise<GitlabApi | undefined> {
  const base = { id: 'gitlab.token', title: 'GitLab token' };
  let api: GitlabApi;
  let url: string;
  try {
    const found = await connected(deps);
    api = found.api;
    url = found.connection.url;
  } catch (error) {
    checks.push({
      ...base,
      id: 'gitlab.connection',
      title: 'GitLab connection',
      status: 'fail',
      detail: (error as Error).message,
      advice: 'run slipway gitlab connect --url URL --token -',
    });
    return undefined;
  }
  try {
    const info = await api.inspectToken();
    if (!info.scopes.includes('api')) {
      checks.push({
        ...base,
        status: 'fail',
        detail: `the token of ${info.username} at ${url} lacks the api scope (has: ${info.scopes.join(', ') || 'none'})`,
        advice: 'create a token with the api scope and run slipway gitlab connect',
      });
      return api;
    }
    if (info.expiresAt) {
      const expires = new Date(`${info.expiresAt.slice(0, 10)}T23:59:59Z`);
      const days = Math.floor((expires.getTime() - now.getTime()) / 86_400_000);
      if (days < TOKEN_EXPIRY_WARNING_DAYS) {
        checks.push({
          ...base,
          status: 'fail',
          detail: `the token of ${info.username} at ${url} expires on ${info.expiresAt.slice(0, 10)} (in ${Math.max(days, 0)} day(s))`,
          advice: 'create a new token with the api scope and run slipway gitlab connect before then',
        });
        return api;
      }
    }
    checks.push({
      ...base,
      status: 'ok',
      detail: `${info.username} at ${url}, api scope, ${info.expiresAt ? `expires ${info.expiresAt.slice(0, 10)}` : 'no expiry'}`,
    });
    return api;
  } catch (error) {
    checks.push({
      ...base,
      status: 'fail',
      detail: (error as Error).message,
      advice:
        error instanceof GitlabError && error.kind === 'unreachable'
          ? `check that ${url} is reachable from Slipway`
          : 'create a new token with the api scope and run slipway gitlab connect',
    });
    return undefined;
  }
}

async function checkHook(api: GitlabApi, app: App, options: DoctorOptions): Promise<DoctorCheck> {
  const base = { id: `app.${app.name}.hook`, app: app.name, title: `${app.name}: GitLab hook` };
  const projectId = app.projectId as number;
  const relink = `run slipway apps link ${app.name}`;
  if (app.gitlabHookId === undefined) {
    return { ...base, status: 'fail', detail: 'Slipway knows of no hook for it', advice: relink };
  }
  let hook: GitlabHookState | undefined;
  try {
    hook = await api.getHook(projectId, app.gitlabHookId);
  } catch (error) {
    return { ...base, status: 'fail', detail: (error as Error).message, advice: relink };
  }
  if (!hook) {
    return {
      ...base,
      status: 'fail',
      detail: `hook ${app.gitlabHookId} is gone from ${app.project} in GitLab`,
      advice: relink,
    };
  }
  const expected = hookUrl(options.publicUrl, app.hookId);
  if (hook.url !== expected) {
    return {
      ...base,
      status: 'fail',
      detail: `hook ${hook.id} calls another URL than this Slipway's hook URL for the app`,
      advice: relink,
    };
  }
  if (hook.alertStatus === 'executable') {
    return { ...base, status: 'ok', detail: `hook ${hook.id} on ${app.project} is enabled` };
  }
  const disabled =
    hook.alertStatus === 'disabled'
      ? `GitLab disabled hook ${hook.id} after repeated failed deliveries`
      : `GitLab disabled hook ${hook.id} after failed deliveries, until ${hook.disabledUntil ?? 'later'}`;
  if (!options.fix) {
    return {
      ...base,
      status: 'fail',
      detail: `${disabled}: pushes are not delivered`,
      advice: `run slipway doctor --fix (a test delivery re-enables it) or ${relink}`,
    };
  }
  try {
    await api.testHook(projectId, hook.id);
    const after = await api.getHook(projectId, hook.id);
    if (after?.alertStatus === 'executable') {
      return {
        ...base,
        status: 'fixed',
        detail: `${disabled}; re-enabled it with a test delivery of ${app.project}'s latest push`,
      };
    }
    return {
      ...base,
      status: 'fail',
      detail: `${disabled}; a test delivery got through but GitLab still reports ${after?.alertStatus ?? 'no hook'}`,
      advice: relink,
    };
  } catch (error) {
    return {
      ...base,
      status: 'fail',
      detail: `${disabled}; re-enabling it failed: ${(error as Error).message}`,
      advice: `check the hook's recent deliveries in GitLab, then ${relink}`,
    };
  }
}

async function checkDeployKey(api: GitlabApi, app: App): Promise<DoctorCheck> {
  const base = { id: `app.${app.name}.deploy-key`, app: app.name, title: `${app.name}: deploy key` };
  const relink = `run slipway apps link ${app.name}`;
  if (app.deployKeyId === undefined) {
    return { ...base, status: 'fail', detail: 'Slipway knows of no deploy key for it', advice: relink };
  }
  try {
    return (await api.hasDeployKey(app.projectId as number, app.deployKeyId))
      ? { ...base, status: 'ok', detail: `deploy key ${app.deployKeyId} is enabled on ${app.project}` }
      : {
          ...base,
          status: 'fail',
          detail: `deploy key ${app.deployKeyId} is gone from ${app.project}: builds cannot fetch`,
          advice: relink,
        };
  } catch (error) {
    return { ...base, status: 'fail', detail: (error as Error).message, advice: relink };
  }
}
