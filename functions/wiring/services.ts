import type { ConsoleDeps } from '../console/handler';
import type { ReleaseStepDeps } from '../domain/releases';
import type { SweepDeps } from '../domain/sweep';
import type { AdminDeps } from '../http/admin-api';
import type { BuildEventsDeps } from '../http/build-events';
import type { WebhookDeps } from '../http/project-webhook';
import type { RolloutEventsDeps } from '../http/rollout-events';
import type { Platform } from './platform';

/**
 * The one composition root: what each entry point runs against, assembled from a world's
 * platform parts (platform.ts). Lambda entries (functions/handlers/) and local mode
 * (functions/local/local-mode.ts) both go through these, so the same thing gets the same
 * collaborators in both worlds. Type-only imports: this module adds nothing to a bundle.
 */

/** The project webhook and the system hook. */
export function webhookServices(p: Pick<Platform, 'store' | 'vault' | 'workflow' | 'logger'>): WebhookDeps {
  return { store: p.store(), vault: p.vault(), workflow: p.workflow(), logger: p.logger() };
}

/** The `/v1` admin API. */
export function adminServices(
  p: Pick<
    Platform,
    | 'store'
    | 'vault'
    | 'workflow'
    | 'logger'
    | 'gitlab'
    | 'sshKeys'
    | 'buildRights'
    | 'buildLogs'
    | 'publicUrl'
    | 'tasks'
  > &
    Partial<Pick<Platform, 'platformProbe' | 'slackConfigured'>>,
): AdminDeps {
  const logger = p.logger();
  const publicUrl = p.publicUrl();
  return {
    ...webhookServices(p),
    gitlab: p.gitlab(),
    // approve and reject complete the release workflow's approval wait.
    tasks: p.tasks(),
    ...p.sshKeys(),
    buildRights: p.buildRights(),
    logs: p.buildLogs(),
    warn: (message, detail) => logger.warn(message, { ...detail }),
    ...(publicUrl ? { publicUrl } : {}),
    // `slipway doctor`: without a probe the platform checks say "not checked".
    ...(p.platformProbe ? { platform: p.platformProbe() } : {}),
    ...(p.slackConfigured ? { slackConfigured: p.slackConfigured() } : {}),
  };
}

/** The web console (`/console…`, `/auth/gitlab/*`). */
export function consoleServices(
  p: Pick<
    Platform,
    'store' | 'vault' | 'workflow' | 'logger' | 'gitlab' | 'buildLogs' | 'publicUrl' | 'sessionKey' | 'tasks'
  >,
): ConsoleDeps {
  const publicUrl = p.publicUrl();
  if (!publicUrl) throw new Error('the console needs the public URL (SLIPWAY_PUBLIC_URL on AWS)');
  return {
    ...webhookServices(p),
    gitlab: p.gitlab(),
    tasks: p.tasks(),
    logs: p.buildLogs(),
    publicUrl,
    sessionKey: p.sessionKey(),
  };
}

/** The release workflow's steps: builds, images, rollouts, and reporting to GitLab and Slack. */
export function releaseStepServices(
  p: Pick<Platform, 'store' | 'vault' | 'logger' | 'gitlab' | 'release' | 'tasks'>,
): ReleaseStepDeps {
  const logger = p.logger();
  const { builder, registry, deployer, notifier, targetUrl, releaseWorkflow } = p.release();
  return {
    store: p.store(),
    tasks: p.tasks(),
    builder,
    registry,
    deployer,
    ...(releaseWorkflow ? { releaseWorkflow } : {}),
    vault: p.vault(),
    reporting: {
      vault: p.vault(),
      gitlab: p.gitlab(),
      notifier,
      targetUrl,
      log: (message, detail) => logger.warn(message, { ...detail }),
    },
  };
}

/** CodeBuild's state and phase changes (AWS) or the local builder's reports, applied to builds. */
export function buildEventServices(p: Pick<Platform, 'store' | 'logger' | 'tasks'>): BuildEventsDeps {
  return { store: p.store(), logger: p.logger(), tasks: p.tasks() };
}

/** ECS's deployment and task state changes (AWS) or the local deployer's reports, completing rollout waits. */
export function rolloutEventServices(p: Pick<Platform, 'store' | 'logger' | 'tasks' | 'deployer'>): RolloutEventsDeps {
  return { store: p.store(), logger: p.logger(), tasks: p.tasks(), deployer: p.deployer() };
}

/** The sweep that starts builds recorded but never started, and ends approvals that waited too long. */
export function sweepServices(p: Pick<Platform, 'store' | 'workflow' | 'tasks'>): SweepDeps {
  return { store: p.store(), workflow: p.workflow(), tasks: p.tasks() };
}

const SERVICES = {
  webhook: webhookServices,
  admin: adminServices,
  console: consoleServices,
  releaseSteps: releaseStepServices,
  buildEvents: buildEventServices,
  rolloutEvents: rolloutEventServices,
  sweep: sweepServices,
} as const;

type ServiceName = keyof typeof SERVICES;
type Needs<K extends ServiceName> = Parameters<(typeof SERVICES)[K]>[0];

/** The services a platform (or the parts of one a Lambda entry imports) can make, each made once. */
export type Services<P> = {
  [K in ServiceName as P extends Needs<K> ? K : never]: () => ReturnType<(typeof SERVICES)[K]>;
};

/**
 * The services of a world: those its parts suffice for, each built on first use and kept. A
 * Lambda entry passes only the parts it imports (`createServices({ ...core, vault, workflow })`
 * has `webhook` and `sweep` but no `admin`); local mode passes a whole platform.
 */
export function createServices<P extends Partial<Platform>>(platform: P): Services<P> {
  const made = new Map<ServiceName, unknown>();
  const services: Record<string, () => unknown> = {};
  for (const name of Object.keys(SERVICES) as ServiceName[]) {
    services[name] = () => {
      if (!made.has(name)) made.set(name, (SERVICES[name] as (p: P) => unknown)(platform));
      return made.get(name);
    };
  }
  return services as Services<P>;
}
