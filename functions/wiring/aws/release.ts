import { CodeBuildClient } from '@aws-sdk/client-codebuild';
import { ECRClient } from '@aws-sdk/client-ecr';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SFNClient } from '@aws-sdk/client-sfn';
import { withTransientErrors } from '../../adapters/aws-errors';
import { CodeBuildBuilder } from '../../adapters/builder/codebuild-builder';
import { SecretsManagerConfigSecrets } from '../../adapters/deploy/config-secrets';
import { EcsDeployer } from '../../adapters/deploy/ecs-deployer';
import { SlackNotifier } from '../../adapters/notify/slack-notifier';
import { slackUrlFromSecretsManager } from '../../adapters/notify/slack-url';
import { EcrRegistry } from '../../adapters/registry/ecr-registry';
import { StepFunctionsWorkflow } from '../../adapters/workflow/sfn-workflow';
import { requireEnv } from '../../commons/env';
import { ENV } from '../../commons/env-names';
import { warnUndelivered } from '../notices';
import { once, type ReleaseParts } from '../platform';
import { logger } from './core';
import { ecsClient } from './deployer';

/**
 * What only the release-steps function needs: CodeBuild (`BUILD_PROJECT_NAME`,
 * `BUILD_LOG_GROUP`, each build with its app's role under `BUILD_ROLE_ARN_PREFIX`), the apps'
 * ECR repositories, ECS (with environments' configurations as Secrets Manager secrets
 * `slipway/<app>/<env>`), and Slack through the webhook URL kept in Secrets Manager
 * (`SLACK_SECRET_ARN`, read when a notice is sent and cached for a few minutes).
 */
export const release = once((): ReleaseParts => {
  const region = process.env.AWS_REGION;
  const secrets = withTransientErrors(new SecretsManagerClient({}));
  return {
    builder: new CodeBuildBuilder({
      client: withTransientErrors(new CodeBuildClient({})),
      projectName: requireEnv(ENV.buildProjectName),
      logGroupName: requireEnv(ENV.buildLogGroup),
      buildRoleArnPrefix: requireEnv(ENV.buildRoleArnPrefix),
    }),
    registry: new EcrRegistry({ client: withTransientErrors(new ECRClient({})) }),
    deployer: new EcsDeployer({ client: ecsClient(), configSecrets: new SecretsManagerConfigSecrets(secrets) }),
    // Fan-out starts executions of the state machine the step runs in: named by the step, as the
    // function may not be told it at deploy time (the state machine's definition names the function).
    releaseWorkflow: (stateMachine) => {
      if (!stateMachine) throw new Error('fan-out needs the state machine the step runs in');
      return new StepFunctionsWorkflow({
        client: withTransientErrors(new SFNClient({})),
        stateMachineArn: stateMachine,
      });
    },
    notifier: new SlackNotifier({
      webhookUrl: slackUrlFromSecretsManager(secrets, requireEnv(ENV.slackSecretArn)),
      onOutcome: warnUndelivered(logger()),
    }),
    targetUrl: (build) => (build.builderRef ? codeBuildConsoleUrl(build.builderRef, region) : undefined),
  };
});

/**
 * The CodeBuild console page of a build, from the build's ARN
 * (`arn:aws:codebuild:<region>:<account>:build/<project>:<uuid>`): where a GitLab commit status
 * links to. `region` defaults to the ARN's. Undefined for anything else, and outside the
 * commercial partition (whose console lives elsewhere).
 */
export function codeBuildConsoleUrl(builderRef: string, region?: string): string | undefined {
  const match = /^arn:aws:codebuild:([a-z0-9-]+):\d{12}:build\/(([^:/]+):[^/]+)$/.exec(builderRef);
  if (!match) return undefined;
  const [, arnRegion, buildId = '', project = ''] = match;
  const where = region || arnRegion;
  if (!where) return undefined;
  return (
    `https://${where}.console.aws.amazon.com/codesuite/codebuild/projects/${encodeURIComponent(project)}` +
    `/build/${encodeURIComponent(buildId)}/?region=${where}`
  );
}
