/** Where an app runs. On AWS an ECS service; locally a container named after the app. */
export interface DeployTarget {
  app: string;
  /** An environment beyond the app's first (its own target); absent for the first. */
  environment?: string;
  cluster?: string;
  service?: string;
  /** Container in the task definition whose image changes (single-image apps); compose services map by name. */
  container?: string;
  /**
   * A review app (domain/review-apps.ts): on ECS its service (`service`) is created on its first
   * rollout from the template service's task definition and network settings, tagged
   * `slipway:review=<tag>`; `remove` deletes it.
   */
  review?: { serviceTemplate?: string; tag: string };
}

export type RolloutState = 'in_progress' | 'completed' | 'failed' | 'rolled_back';

export interface RolloutStatus {
  state: RolloutState;
  running?: number;
  desired?: number;
  reason?: string;
}

/**
 * An environment's configuration as the deployer gets it: opened, inside the release step only
 * (never in workflow input or output). The deployer hands the values to the containers without
 * putting them in anything it logs or registers in the clear: on ECS a Secrets Manager secret the
 * task definition references, locally a 0600 env file.
 */
export interface DeployConfig {
  /** The environment's name (the app's first environment's too). */
  environment: string;
  /** The configuration's version (its writes so far). */
  version: number;
  values: Record<string, string>;
}

/**
 * Rolls images out. ECS on AWS (new task definition revision from the service's current one,
 * UpdateService with the deployment circuit breaker and rollback); `docker run` with a health
 * check locally, replacing the old container only once the new one is healthy.
 */
export interface Deployer {
  /**
   * Prepares what will run: a new task definition revision (its ARN) or a local run spec. With
   * `config`, the containers get its values (replacing those of an earlier configuration);
   * without, the environment has no configuration.
   */
  prepare(
    target: DeployTarget,
    images: Record<string, string>,
    imageRepository: string,
    config?: DeployConfig,
  ): Promise<{ revision: string }>;
  /**
   * Starts the rollout of a prepared revision; returns a reference to follow it (`deployment`)
   * and the id the platform's rollout events name it by (`watch`: the ECS deployment id; the
   * local container's name).
   */
  rollout(target: DeployTarget, revision: string): Promise<{ deployment: string; watch?: string }>;
  /** Where the rollout stands. */
  status(target: DeployTarget, deployment: string): Promise<RolloutStatus>;
  /**
   * Tears the target down (a review app whose merge request was merged or closed): the ECS
   * service deleted (forced), locally its containers removed. Nothing there is not an error.
   */
  remove?(target: DeployTarget): Promise<void>;
}
