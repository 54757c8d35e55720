import { ECSClient } from '@aws-sdk/client-ecs';
import { withTransientErrors } from '../../adapters/aws-errors';
import { EcsDeployer } from '../../adapters/deploy/ecs-deployer';
import { once } from '../platform';

/** ECS rollouts: the release steps' deployer, and what the rollout-events function reads services with. */
export const deployer = once(() => new EcsDeployer({ client: withTransientErrors(new ECSClient({})) }));
