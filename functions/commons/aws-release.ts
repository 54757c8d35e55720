import { CodeBuildClient } from '@aws-sdk/client-codebuild';
import { ECRClient } from '@aws-sdk/client-ecr';
import { ECSClient } from '@aws-sdk/client-ecs';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { CodeBuildBuilder } from '../adapters/builder/codebuild-builder';
import { EcsDeployer } from '../adapters/deploy/ecs-deployer';
import { createGitlabApi } from '../adapters/gitlab/gitbeaker-client';
import { SlackNotifier } from '../adapters/notify/slack-notifier';
import { slackUrlFromSecretsManager } from '../adapters/notify/slack-url';
import { EcrRegistry } from '../adapters/registry/ecr-registry';
import type { ReleaseStepDeps } from '../domain/releases';
import { type AwsDeps, awsDeps } from './aws';
import { requireEnv } from './env';

/**
 * What the release-steps function runs against: the table and the vault (`awsDeps`), CodeBuild
 * (`BUILD_PROJECT_NAME`, `BUILD_LOG_GROUP`, each build with its app's role under
 * `BUILD_ROLE_ARN_PREFIX`), the apps' ECR repositories, ECS, and reporting:
 * GitLab through the stored connection, Slack through the webhook URL kept in Secrets Manager
 * (`SLACK_SECRET_ARN`, read when a notice is sent and cached for a few minutes).
 */
export function releaseStepDeps(base: AwsDeps = awsDeps()): ReleaseStepDeps {
  const { logger } = base;
  const projectName = requireEnv('BUILD_PROJECT_NAME');
  const region = process.env.AWS_REGION;
  const notifier = new SlackNotifier({
    webhookUrl: slackUrlFromSecretsManager(new SecretsManagerClient({}), requireEnv('SLACK_SECRET_ARN')),
    onOutcome: (outcome) => {
      if (!outcome.delivered && !outcome.skipped) logger.warn('Slack notice not delivered', { ...outcome });
    },
  });
  return {
    store: base.store,
    builder: new CodeBuildBuilder({
      client: new CodeBuildClient({}),
      projectName,
      logGroupName: requireEnv('BUILD_LOG_GROUP'),
      buildRoleArnPrefix: requireEnv('BUILD_ROLE_ARN_PREFIX'),
    }),
    registry: new EcrRegistry({ client: new ECRClient({}) }),
    deployer: new EcsDeployer({ client: new ECSClient({}) }),
    reporting: {
      vault: base.vault,
      gitlab: createGitlabApi,
      notifier,
      targetUrl: (build) => (build.builderRef ? codeBuildConsoleUrl(build.builderRef, region) : undefined),
      log: (message, detail) => logger.warn(message, { ...detail }),
    },
  };
}

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
