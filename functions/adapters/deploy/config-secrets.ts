import { createHash } from 'node:crypto';
import { CreateSecretCommand, PutSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { DeployConfig } from '../../domain/ports';
import { configSecretName } from './ecs-deployer';

/** Where the ECS deployer puts a configuration: a secret version, by ARN and version id. */
export interface ConfigSecrets {
  put(app: string, config: DeployConfig): Promise<{ arn: string; versionId: string }>;
}

/**
 * Environments' configurations in Secrets Manager, one secret per app environment
 * (`slipway/<app>/<env>`, tagged `slipway:app` and `slipway:environment`, encrypted with Secrets
 * Manager's AWS managed key), its value the JSON object of the values. A module of its own, so
 * only the release steps' bundle carries the Secrets Manager commands (the rollout-events
 * function reads services with the same deployer).
 */
export class SecretsManagerConfigSecrets implements ConfigSecrets {
  constructor(private readonly client: SecretsManagerClient) {}

  /**
   * Puts the values as a new version of the secret, made the first time. The version's request
   * token follows from the configuration's version and content, so a retried step, or a release
   * with an unchanged configuration, adds no version.
   */
  async put(app: string, config: DeployConfig): Promise<{ arn: string; versionId: string }> {
    const name = configSecretName(app, config.environment);
    const secretString = JSON.stringify(config.values);
    const token = `slipway-v${config.version}-${createHash('sha256').update(secretString).digest('hex').slice(0, 40)}`;
    const put = async () =>
      this.client.send(
        new PutSecretValueCommand({ SecretId: name, SecretString: secretString, ClientRequestToken: token }),
      );
    const made = (out: { ARN?: string; VersionId?: string }) => {
      if (!out.ARN || !out.VersionId) throw new Error(`Secrets Manager returned no ARN or version for secret ${name}`);
      return { arn: out.ARN, versionId: out.VersionId };
    };
    try {
      return made(await put());
    } catch (error) {
      if (!isAwsError(error, 'ResourceNotFoundException')) throw error;
    }
    try {
      return made(
        await this.client.send(
          new CreateSecretCommand({
            Name: name,
            Description: `Slipway: the configuration of environment ${config.environment} of app ${app}`,
            SecretString: secretString,
            ClientRequestToken: token,
            Tags: [
              { Key: 'slipway:app', Value: app },
              { Key: 'slipway:environment', Value: config.environment },
            ],
          }),
        ),
      );
    } catch (error) {
      // Made meanwhile by another step: put the version into that one.
      if (!isAwsError(error, 'ResourceExistsException')) throw error;
      return made(await put());
    }
  }
}

/** Whether `error` is AWS's error `name` (or a TransientError whose cause is). */
function isAwsError(error: unknown, name: string): boolean {
  const cause = error instanceof Error ? error.cause : undefined;
  return (error instanceof Error && error.name === name) || (cause instanceof Error && cause.name === name);
}
