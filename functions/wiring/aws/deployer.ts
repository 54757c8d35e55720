import { ECSClient } from '@aws-sdk/client-ecs';
import { withTransientErrors } from '../../adapters/aws-errors';
import { EcsDeployer } from '../../adapters/deploy/ecs-deployer';
import { once } from '../platform';

/** The ECS client, once per cold start. */
export const ecsClient = once(() => withTransientErrors(new ECSClient({})));

/**
 * ECS rollouts as the rollout-events function reads them (services). The release steps make
 * their own deployer (release.ts), with Secrets Manager for environments' configurations.
 */
export const deployer = once(() => new EcsDeployer({ client: ecsClient() }));
