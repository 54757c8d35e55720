import { App, type AppProps, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { SlipwayStack } from './stack';

/** Context key: an e-mail address to subscribe to the alarm topic (`cdk deploy -c slipway:alarmEmail=…`). */
export const ALARM_EMAIL_CONTEXT = 'slipway:alarmEmail';

/** Context key: the ECS clusters Slipway may deploy to, comma-separated names (`-c slipway:ecsClusters=prod,staging`). */
export const ECS_CLUSTERS_CONTEXT = 'slipway:ecsClusters';

/** Context key: the ARN pattern of the roles Slipway may pass to ECS tasks (`-c slipway:taskRolePattern=arn:…`). */
export const TASK_ROLE_PATTERN_CONTEXT = 'slipway:taskRolePattern';

/**
 * The Slipway CDK app: the `Slipway` stack, checked by cdk-nag's AwsSolutions pack during
 * synthesis (any unacknowledged finding fails `cdk synth`). Shared by `infra/app.ts` and the tests,
 * so the tests check exactly what the CLI deploys.
 */
export function createSlipwayApp(props: AppProps = {}): { app: App; stack: SlipwayStack } {
  const app = new App(props);
  const alarmEmail: unknown = app.node.tryGetContext(ALARM_EMAIL_CONTEXT);
  if (alarmEmail !== undefined && typeof alarmEmail !== 'string') {
    throw new Error(`context ${ALARM_EMAIL_CONTEXT} must be an e-mail address`);
  }
  const stack = new SlipwayStack(app, 'Slipway', {
    description: 'Slipway: continuous delivery from GitLab to AWS',
    alarmEmail,
    ecsClusters: ecsClustersFrom(app.node.tryGetContext(ECS_CLUSTERS_CONTEXT)),
    taskRolePattern: stringContext(app.node.tryGetContext(TASK_ROLE_PATTERN_CONTEXT), TASK_ROLE_PATTERN_CONTEXT),
  });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return { app, stack };
}

/** `prod,staging` (from `-c`) or `["prod", "staging"]` (from cdk.json); undefined when unset or empty. */
function ecsClustersFrom(value: unknown): string[] | undefined {
  if (value === undefined) return undefined;
  const list = typeof value === 'string' ? value.split(',') : value;
  if (!Array.isArray(list) || !list.every((item) => typeof item === 'string')) {
    throw new Error(`context ${ECS_CLUSTERS_CONTEXT} must be cluster names, comma-separated`);
  }
  const names = list.map((item) => item.trim()).filter((item) => item !== '');
  return names.length > 0 ? names : undefined;
}

function stringContext(value: unknown, key: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value.trim() === '') throw new Error(`context ${key} must be a non-empty string`);
  return value.trim();
}
