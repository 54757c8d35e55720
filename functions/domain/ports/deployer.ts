/** Where an app runs. On AWS an ECS service; locally a container named after the app. */
export interface DeployTarget {
  app: string;
  /** An environment beyond the app's first (its own target); absent for the first. */
  environment?: string;
  cluster?: string;
  service?: string;
  /** Container in the task definition whose image changes (single-image apps); compose services map by name. */
  container?: string;
}

export type RolloutState = 'in_progress' | 'completed' | 'failed' | 'rolled_back';

export interface RolloutStatus {
  state: RolloutState;
  running?: number;
  desired?: number;
  reason?: string;
}

/**
 * Rolls images out. ECS on AWS (new task definition revision from the service's current one,
 * UpdateService with the deployment circuit breaker and rollback); `docker run` with a health
 * check locally, replacing the old container only once the new one is healthy.
 */
export interface Deployer {
  /** Prepares what will run: a new task definition revision (its ARN) or a local run spec. */
  prepare(target: DeployTarget, images: Record<string, string>, imageRepository: string): Promise<{ revision: string }>;
  /**
   * Starts the rollout of a prepared revision; returns a reference to follow it (`deployment`)
   * and the id the platform's rollout events name it by (`watch`: the ECS deployment id; the
   * local container's name).
   */
  rollout(target: DeployTarget, revision: string): Promise<{ deployment: string; watch?: string }>;
  /** Where the rollout stands. */
  status(target: DeployTarget, deployment: string): Promise<RolloutStatus>;
}
