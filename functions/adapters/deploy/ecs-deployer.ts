import {
  type ContainerDefinition,
  CreateServiceCommand,
  DeleteServiceCommand,
  type Deployment,
  DescribeServicesCommand,
  DescribeTaskDefinitionCommand,
  type ECSClient,
  RegisterTaskDefinitionCommand,
  type RegisterTaskDefinitionCommandInput,
  type Service,
  type TaskDefinition,
  UpdateServiceCommand,
} from '@aws-sdk/client-ecs';
import { TransientError } from '../../domain/errors';
import type { DeployConfig, Deployer, DeployTarget, RolloutStatus } from '../../domain/ports';
import { isTransientAwsError } from '../aws-errors';
import type { ConfigSecrets } from './config-secrets';

export { TransientError };

export interface EcsDeployerOptions {
  client: ECSClient;
  /**
   * Where environments' configurations go (config-secrets.ts: one Secrets Manager secret per app
   * environment, `slipway/<app>/<env>`). Without it, releasing an environment that has
   * configuration values fails.
   */
  configSecrets?: ConfigSecrets;
}

/** The secret of an app environment's configuration: `slipway/<app>/<env>`. */
export function configSecretName(app: string, environment: string): string {
  return `slipway/${app}/${environment}`;
}

/** The tag of a review app's ECS service, `<app>/<iid>`: what the role may create and delete services by. */
export const REVIEW_TAG = 'slipway:review';

/** The single-image key in a build's images (a Dockerfile build); compose builds key by service. */
const SINGLE_IMAGE = 'app';
const DIGEST = /^sha256:[0-9a-f]{64}$/;

/**
 * The AWS deployer. `prepare` registers a new task definition revision copied from the one the
 * service runs now, with the new images pinned by digest; `rollout` points the service at it
 * with the deployment circuit breaker (rollback on); `status` follows that deployment.
 *
 * The deployment reference `rollout` returns is `<deployment id>|<task definition ARN>`
 * (e.g. `ecs-svc/123|arn:…:task-definition/web:8`): the revision lets `status` tell a circuit
 * breaker rollback (the deployment is gone and the service runs another revision) from a
 * deployment that merely finished. `status` also accepts a bare deployment id.
 *
 * An environment's configuration (`prepare`'s `config`) goes into the secret
 * `slipway/<app>/<env>` as one JSON object (a new version of it per configuration version; the
 * key's own AWS managed key encrypts it), and the containers that run the new images reference
 * each key in `secrets` (`<secret ARN>:<KEY>::<version id>`), pinned to that version: the task
 * definition holds no value, and tasks a revision starts later (scaling, replacement) get the
 * values it was released with. References Slipway set before are replaced; the task
 * definition's other secrets and environment stay, except entries of the same names.
 */
export class EcsDeployer implements Deployer {
  constructor(private readonly options: EcsDeployerOptions) {}

  async prepare(target: DeployTarget, images: Record<string, string>, imageRepository: string, config?: DeployConfig) {
    const { cluster, service } = where(target);
    // A review app's first release: its service is not made yet; it will run the template's definition.
    const template = await this.templateIfMissing(target, 'prepare');
    const current = template ?? (await this.service(target, 'prepare'));
    const arn = current.taskDefinition;
    if (!arn) throw new Error(`ECS service ${service} in cluster ${cluster} has no task definition`);
    const described = await this.call(target, 'prepare', () =>
      this.options.client.send(new DescribeTaskDefinitionCommand({ taskDefinition: arn, include: ['TAGS'] })),
    );
    const definition = described.taskDefinition;
    if (!definition)
      throw new Error(`ECS describes no task definition ${arn} (service ${service}, cluster ${cluster})`);
    const input = registrable(definition, described.tags);
    const { containers, deployed } = withImages(target, definition.containerDefinitions ?? [], images, imageRepository);
    const secret = config && Object.keys(config.values).length > 0 ? await this.putConfig(target, config) : undefined;
    input.containerDefinitions = withConfig(containers, deployed, target.app, config, secret);
    const registered = await this.call(target, 'prepare', () =>
      this.options.client.send(new RegisterTaskDefinitionCommand(input)),
    );
    const revision = registered.taskDefinition?.taskDefinitionArn;
    if (!revision) throw new Error(`ECS returned no ARN for the new revision of ${input.family} (service ${service})`);
    return { revision };
  }

  async rollout(target: DeployTarget, revision: string) {
    const { cluster, service } = where(target);
    const template = await this.templateIfMissing(target, 'rollout');
    if (template) return this.createReviewService(target, template, revision);
    const current = await this.service(target, 'rollout');
    const out = await this.call(target, 'rollout', () =>
      this.options.client.send(
        new UpdateServiceCommand({
          cluster,
          service,
          taskDefinition: revision,
          deploymentConfiguration: {
            ...current.deploymentConfiguration,
            deploymentCircuitBreaker: { enable: true, rollback: true },
          },
          forceNewDeployment: false,
        }),
      ),
    );
    const deployments = out.service?.deployments ?? [];
    const primary =
      deployments.find((d) => d.status === 'PRIMARY' && d.taskDefinition === revision) ??
      deployments.find((d) => d.status === 'PRIMARY');
    if (!primary?.id) throw new Error(`ECS started no deployment for service ${service} in cluster ${cluster}`);
    // ECS's deployment state change events name the deployment by its id alone.
    return { deployment: `${primary.id}|${revision}`, watch: primary.id };
  }

  async status(target: DeployTarget, deployment: string): Promise<RolloutStatus> {
    const [id, revision] = parseDeployment(deployment);
    const current = await this.service(target, 'status');
    const deployments = current.deployments ?? [];
    const ours = deployments.find((d) => d.id === id);
    const primary = deployments.find((d) => d.status === 'PRIMARY');
    const replacedBy = primary && primary.id !== id ? primary : undefined;
    const revertedBy =
      replacedBy && (revision === undefined || replacedBy.taskDefinition !== revision) ? replacedBy : undefined;

    if (ours) {
      switch (ours.rolloutState) {
        case 'COMPLETED':
          return { state: 'completed', ...counts(ours) };
        case 'FAILED': {
          const reason = ours.rolloutStateReason ?? eventReason(current, id) ?? 'the ECS deployment failed';
          // With rollback on, the breaker starts a deployment of the previous revision at once.
          return { state: revertedBy ? 'rolled_back' : 'failed', reason, ...counts(ours) };
        }
        default:
          return { state: 'in_progress', ...counts(ours) };
      }
    }
    if (revertedBy) {
      const reason =
        eventReason(current, id) ??
        `the deployment circuit breaker rolled service ${where(target).service} back to ${revertedBy.taskDefinition ?? 'the previous revision'}`;
      return { state: 'rolled_back', reason };
    }
    if (replacedBy?.id) {
      // Our revision again, in a newer deployment (e.g. forced): follow that one.
      return this.status(target, `${replacedBy.id}|${replacedBy.taskDefinition ?? ''}`);
    }
    const { cluster, service } = where(target);
    throw new Error(`ECS deployment ${id} is not listed for service ${service} in cluster ${cluster}`);
  }

  /** Puts the configuration's values into its secret (a new version of it when they changed). */
  private async putConfig(target: DeployTarget, config: DeployConfig): Promise<{ arn: string; versionId: string }> {
    const secrets = this.options.configSecrets;
    if (!secrets) throw new Error(`app ${target.app}: this deployer has no Secrets Manager client for configuration`);
    return this.call(target, 'prepare', () => secrets.put(target.app, config), 'Secrets Manager');
  }

  /**
   * Tears a review app down: DeleteService, forced (its tasks stop with it). Only review apps: the
   * role may delete only services tagged `slipway:review` anyway. A service gone already is fine.
   */
  async remove(target: DeployTarget): Promise<void> {
    const { cluster, service } = where(target);
    if (!target.review) throw new Error(`ECS service ${service} in cluster ${cluster} is no review app: not deleted`);
    await this.call(target, 'remove', async () => {
      try {
        await this.options.client.send(new DeleteServiceCommand({ cluster, service, force: true }));
      } catch (error) {
        const name = (error as Error).name;
        if (name !== 'ServiceNotFoundException' && name !== 'ServiceNotActiveException') throw error;
      }
    });
  }

  /** A review app's template service when the review app's own service does not exist (yet); else undefined. */
  private async templateIfMissing(target: DeployTarget, action: string): Promise<Service | undefined> {
    const template = target.review?.serviceTemplate;
    if (!template) return undefined;
    const own = await this.describe(target, action, where(target).service);
    if (own.service) return undefined;
    return this.service({ ...target, service: template }, action);
  }

  /**
   * Makes a review app's service from its template: the same cluster, launch type or capacity
   * providers, platform version and network configuration, the new revision, one task, the
   * circuit breaker on; tagged `slipway:review=<app>/<iid>` (tags propagated to its tasks), which
   * is what the role may create and delete. No load balancer: the template's target groups are
   * the template's.
   */
  private async createReviewService(target: DeployTarget, template: Service, revision: string) {
    const { cluster, service } = where(target);
    const tag = target.review?.tag ?? `${target.app}/${service}`;
    const strategy = template.capacityProviderStrategy ?? [];
    const out = await this.call(target, 'rollout', () =>
      this.options.client.send(
        new CreateServiceCommand({
          cluster,
          serviceName: service,
          taskDefinition: revision,
          desiredCount: 1,
          ...(strategy.length > 0
            ? { capacityProviderStrategy: strategy }
            : template.launchType
              ? { launchType: template.launchType }
              : {}),
          ...(template.platformVersion ? { platformVersion: template.platformVersion } : {}),
          ...(template.networkConfiguration ? { networkConfiguration: template.networkConfiguration } : {}),
          deploymentConfiguration: {
            ...template.deploymentConfiguration,
            deploymentCircuitBreaker: { enable: true, rollback: true },
          },
          // Both tags: `slipway:review` is what the role may create and delete by, `slipway:managed` what it may update.
          tags: [
            { key: REVIEW_TAG, value: tag },
            { key: 'slipway:managed', value: 'true' },
          ],
          propagateTags: 'SERVICE',
          enableECSManagedTags: true,
        }),
      ),
    );
    const deployments = out.service?.deployments ?? [];
    const primary = deployments.find((d) => d.status === 'PRIMARY') ?? deployments[0];
    if (!primary?.id) throw new Error(`ECS started no deployment for the new service ${service} in cluster ${cluster}`);
    return { deployment: `${primary.id}|${revision}`, watch: primary.id };
  }

  private async service(target: DeployTarget, action: string): Promise<Service> {
    const { cluster, service } = where(target);
    const found = await this.describe(target, action, service);
    if (!found.service) throw new Error(`ECS service ${service} in cluster ${cluster} is not available (${found.why})`);
    return found.service;
  }

  /** DescribeServices of one service: it, or why there is none (`MISSING`, `INACTIVE`). */
  private async describe(
    target: DeployTarget,
    action: string,
    service: string,
  ): Promise<{ service?: Service; why: string }> {
    const { cluster } = where(target);
    const out = await this.call(target, action, () =>
      this.options.client.send(new DescribeServicesCommand({ cluster, services: [service] })),
    );
    const found = out.services?.find((s) => s.serviceName === service || s.serviceArn === service) ?? out.services?.[0];
    if (!found || found.status === 'INACTIVE') {
      return { why: out.failures?.[0]?.reason ?? (found ? 'INACTIVE' : 'MISSING') };
    }
    return { service: found, why: '' };
  }

  /** Runs an ECS (or Secrets Manager) call: transient failures become `TransientError`, others say which service. */
  private async call<T>(target: DeployTarget, action: string, send: () => Promise<T>, api = 'ECS'): Promise<T> {
    try {
      return await send();
    } catch (error) {
      const { cluster, service } = where(target);
      // The client's plugin may have named it TransientError already; the SDK's own error is its cause.
      const sdk = error instanceof TransientError && error.cause instanceof Error ? error.cause : (error as Error);
      const message = `${api} ${action} for service ${service} in cluster ${cluster} failed: ${sdk.name}: ${sdk.message}`;
      if (error instanceof TransientError || isTransientAwsError(sdk))
        throw new TransientError(message, { cause: sdk });
      throw new Error(message, { cause: error });
    }
  }
}

function where(target: DeployTarget): { cluster: string; service: string } {
  if (!target.cluster || !target.service) {
    throw new Error(`app ${target.app} has no ECS cluster and service to deploy to`);
  }
  return { cluster: target.cluster, service: target.service };
}

function parseDeployment(deployment: string): [string, string | undefined] {
  const bar = deployment.indexOf('|');
  if (bar < 0) return [deployment, undefined];
  const revision = deployment.slice(bar + 1);
  return [deployment.slice(0, bar), revision === '' ? undefined : revision];
}

function counts(deployment: Deployment): { running?: number; desired?: number } {
  return {
    ...(deployment.runningCount !== undefined ? { running: deployment.runningCount } : {}),
    ...(deployment.desiredCount !== undefined ? { desired: deployment.desiredCount } : {}),
  };
}

/** The newest service event about this deployment (ECS events come newest first), else about a rollback. */
function eventReason(service: Service, deploymentId: string): string | undefined {
  const events = service.events ?? [];
  const message =
    events.find((e) => e.message?.includes(deploymentId) && /fail|roll/i.test(e.message))?.message ??
    events.find((e) => /rolling back|circuit breaker/i.test(e.message ?? ''))?.message;
  return message;
}

/** The RegisterTaskDefinition input that recreates this definition (only the fields it accepts). */
function registrable(definition: TaskDefinition, tags: RegisterTaskDefinitionCommandInput['tags']) {
  const input: RegisterTaskDefinitionCommandInput = {
    family: definition.family,
    containerDefinitions: definition.containerDefinitions,
  };
  const copy = <K extends keyof RegisterTaskDefinitionCommandInput & keyof TaskDefinition>(key: K) => {
    const value = definition[key];
    if (value !== undefined && value !== null) (input as unknown as Record<string, unknown>)[key] = value;
  };
  copy('taskRoleArn');
  copy('executionRoleArn');
  copy('networkMode');
  copy('volumes');
  copy('placementConstraints');
  copy('requiresCompatibilities');
  copy('cpu');
  copy('memory');
  copy('runtimePlatform');
  copy('pidMode');
  copy('ipcMode');
  copy('proxyConfiguration');
  copy('inferenceAccelerators');
  copy('ephemeralStorage');
  copy('enableFaultInjection');
  if (tags && tags.length > 0) input.tags = tags;
  return input;
}

/**
 * The containers with the new images, pinned by digest: a single image (`app`) goes to
 * `target.container` or the only container; compose images go to the container named like the service.
 */
function withImages(
  target: DeployTarget,
  containers: ContainerDefinition[],
  images: Record<string, string>,
  repository: string,
): { containers: ContainerDefinition[]; deployed: ReadonlySet<string> } {
  const where = `service ${target.service} in cluster ${target.cluster}`;
  const names = containers.map((c) => c.name ?? '');
  if (Object.keys(images).length === 0) throw new Error(`no images to deploy to ${where}`);
  const byContainer = new Map<string, string>();
  for (const [key, digest] of Object.entries(images)) {
    if (!DIGEST.test(digest)) throw new Error(`image ${key} has no sha256 digest (${digest}); not deploying by tag`);
    let name: string;
    if (key === SINGLE_IMAGE && !names.includes(SINGLE_IMAGE)) {
      if (target.container) name = target.container;
      else if (names.length === 1 && names[0]) name = names[0];
      else {
        throw new Error(
          `the task definition of ${where} has ${names.length} containers (${names.join(', ')}); set the app's container to say which one runs the image`,
        );
      }
    } else {
      name = key === SINGLE_IMAGE && target.container ? target.container : key;
    }
    if (!names.includes(name)) {
      throw new Error(
        `image ${key}: the task definition of ${where} has no container named ${name} (it has ${names.join(', ') || 'none'})`,
      );
    }
    byContainer.set(name, `${repository}@${digest}`);
  }
  return {
    containers: containers.map((c) => {
      const image = c.name ? byContainer.get(c.name) : undefined;
      return image ? { ...c, image } : c;
    }),
    deployed: new Set(byContainer.keys()),
  };
}

/**
 * The containers with the configuration's references: every reference to the environment's
 * secret Slipway set before goes (from every container); the containers that run the new images
 * (`deployed`) get one per key, pinned to the secret's version, in place of any secret or
 * environment entry of the same name. Never a value.
 */
function withConfig(
  containers: ContainerDefinition[],
  deployed: ReadonlySet<string>,
  app: string,
  config: DeployConfig | undefined,
  secret: { arn: string; versionId: string } | undefined,
): ContainerDefinition[] {
  const name = config ? configSecretName(app, config.environment) : undefined;
  const escaped = (name ?? `slipway/${app}/`).replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  // A secret's ARN ends `:secret:<name>-<6 characters>`; the environment's, or (no configuration
  // known) any of the app's.
  const ours = new RegExp(`:secret:${escaped}${name ? '' : '[^/:]+'}-[A-Za-z0-9]{6}(:|$)`);
  const keys = secret && config ? Object.keys(config.values) : [];
  return containers.map((c) => {
    const previous = c.secrets ?? [];
    let secrets = previous.filter((s) => !ours.test(s.valueFrom ?? ''));
    let environment = c.environment;
    if (keys.length > 0 && secret && c.name && deployed.has(c.name)) {
      const named = new Set(keys);
      secrets = [
        ...secrets.filter((s) => !named.has(s.name ?? '')),
        ...keys.map((key) => ({ name: key, valueFrom: `${secret.arn}:${key}::${secret.versionId}` })),
      ];
      if (environment) environment = environment.filter((e) => !named.has(e.name ?? ''));
    }
    if (secrets.length === previous.length && environment === c.environment && c.secrets === undefined) return c;
    const updated: ContainerDefinition = { ...c, secrets };
    if (environment !== undefined) updated.environment = environment;
    return updated;
  });
}
