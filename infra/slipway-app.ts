import { App, type AppProps, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { SlipwayStack } from './stack';

/** Context key: an e-mail address to subscribe to the alarm topic (`cdk deploy -c slipway:alarmEmail=…`). */
export const ALARM_EMAIL_CONTEXT = 'slipway:alarmEmail';

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
  });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return { app, stack };
}
