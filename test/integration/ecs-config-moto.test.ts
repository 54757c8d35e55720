import {
  CreateClusterCommand,
  CreateServiceCommand,
  DescribeServicesCommand,
  DescribeTaskDefinitionCommand,
  ECSClient,
  RegisterTaskDefinitionCommand,
  type TaskDefinition,
} from '@aws-sdk/client-ecs';
import {
  DescribeSecretCommand,
  GetSecretValueCommand,
  ListSecretVersionIdsCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { SecretsManagerConfigSecrets } from '../../functions/adapters/deploy/config-secrets';
import { EcsDeployer } from '../../functions/adapters/deploy/ecs-deployer';
import type { DeployConfig, DeployTarget } from '../../functions/domain/ports';
import { type MotoServer, startMotoServer } from '../support/moto-server';

/**
 * The ECS deployer hands an environment's configuration to its containers through one Secrets
 * Manager secret per app environment, against moto_server (ECS and Secrets Manager answer as
 * AWS does): the registered task definition references each key of that secret, pinned to the
 * version the release wrote, and holds no value anywhere; the user's own secrets and environment
 * stay; a later configuration replaces the references; no configuration removes them.
 */

const REPO = '123456789012.dkr.ecr.eu-west-1.amazonaws.com/slipway/web';
const DIGEST = `sha256:${'a'.repeat(64)}`;
const DIGEST2 = `sha256:${'b'.repeat(64)}`;
const SECRET = 'postgres://web:s3cr3t-never-in-a-task-definition@db.internal/web';
const USER_SECRET = { name: 'API_KEY', valueFrom: 'arn:aws:ssm:eu-west-1:123456789012:parameter/web/api-key' };

describe('the ECS deployer with configuration, against moto_server', () => {
  let moto: MotoServer;
  let ecs: ECSClient;
  let secrets: SecretsManagerClient;
  let deployer: EcsDeployer;
  const target: DeployTarget = {
    app: 'web',
    environment: 'staging',
    cluster: 'apps',
    service: 'web-staging',
    container: 'web',
  };

  beforeAll(async () => {
    moto = await startMotoServer();
    ecs = new ECSClient(moto.clientConfig);
    secrets = new SecretsManagerClient(moto.clientConfig);
    deployer = new EcsDeployer({ client: ecs, configSecrets: new SecretsManagerConfigSecrets(secrets) });
  }, 30_000);

  afterAll(async () => {
    ecs?.destroy();
    secrets?.destroy();
    await moto?.stop();
  });

  beforeEach(async () => {
    await moto.reset();
    await ecs.send(new CreateClusterCommand({ clusterName: 'apps' }));
    const registered = await ecs.send(
      new RegisterTaskDefinitionCommand({
        family: 'web-staging',
        executionRoleArn: 'arn:aws:iam::123456789012:role/slipway-task-web-exec',
        containerDefinitions: [
          {
            name: 'web',
            image: `${REPO}:old`,
            memory: 256,
            essential: true,
            // GREETING was set by hand before; the configuration's takes its place.
            environment: [
              { name: 'GREETING', value: 'set-by-hand' },
              { name: 'PORT', value: '8080' },
            ],
            secrets: [USER_SECRET],
          },
          { name: 'log-router', image: 'public.ecr.aws/aws-observability/aws-for-fluent-bit:stable', memory: 64 },
        ],
      }),
    );
    await ecs.send(
      new CreateServiceCommand({
        cluster: 'apps',
        serviceName: 'web-staging',
        taskDefinition: registered.taskDefinition?.taskDefinitionArn,
        desiredCount: 1,
      }),
    );
  });

  /** Prepares a revision with `config` and makes the service run it (as the rollout step would). */
  async function release(images: Record<string, string>, config?: DeployConfig): Promise<TaskDefinition> {
    const { revision } = await deployer.prepare(target, images, REPO, config);
    await deployer.rollout(target, revision);
    const described = await ecs.send(new DescribeTaskDefinitionCommand({ taskDefinition: revision }));
    return described.taskDefinition as TaskDefinition;
  }

  const container = (definition: TaskDefinition, name: string) =>
    definition.containerDefinitions?.find((c) => c.name === name);

  it('writes the values to slipway/<app>/<env> and references each key, pinned to that version, with no value in the task definition', async () => {
    const config = { environment: 'staging', version: 1, values: { DATABASE_URL: SECRET, GREETING: 'hello' } };

    const definition = await release({ app: DIGEST }, config);

    const secret = await secrets.send(new DescribeSecretCommand({ SecretId: 'slipway/web/staging' }));
    expect(secret.Tags).toEqual(
      expect.arrayContaining([
        { Key: 'slipway:app', Value: 'web' },
        { Key: 'slipway:environment', Value: 'staging' },
      ]),
    );
    const [version] =
      (await secrets.send(new ListSecretVersionIdsCommand({ SecretId: 'slipway/web/staging' }))).Versions ?? [];
    const versionId = String(version?.VersionId);
    const web = container(definition, 'web');
    expect(web?.image).toBe(`${REPO}@${DIGEST}`);
    expect(web?.secrets).toEqual([
      USER_SECRET,
      { name: 'DATABASE_URL', valueFrom: `${secret.ARN}:DATABASE_URL::${versionId}` },
      { name: 'GREETING', valueFrom: `${secret.ARN}:GREETING::${versionId}` },
    ]);
    // The hand-set GREETING gives way to the configuration's; the rest of the environment stays.
    expect(web?.environment).toEqual([{ name: 'PORT', value: '8080' }]);
    // Only the container running the app's image gets the configuration.
    expect(container(definition, 'log-router')?.secrets ?? []).toEqual([]);
    const text = JSON.stringify(definition);
    expect(text).not.toContain('s3cr3t');
    expect(text).not.toContain('hello');

    // What ECS resolves for a task: the version the references name holds the values.
    const value = await secrets.send(new GetSecretValueCommand({ SecretId: secret.ARN, VersionId: versionId }));
    expect(JSON.parse(String(value.SecretString))).toEqual({ DATABASE_URL: SECRET, GREETING: 'hello' });
  });

  it('replaces its references with the next configuration, and adds no version for one already written', async () => {
    await release(
      { app: DIGEST },
      { environment: 'staging', version: 1, values: { DATABASE_URL: SECRET, DEBUG: '1' } },
    );
    const next = { environment: 'staging', version: 2, values: { DATABASE_URL: SECRET, GREETING: 'hi' } };

    const definition = await release({ app: DIGEST2 }, next);
    // The same configuration again (a push, a retried step): no new version of the secret.
    const again = await release({ app: DIGEST2 }, next);

    const versions =
      (await secrets.send(new ListSecretVersionIdsCommand({ SecretId: 'slipway/web/staging' }))).Versions ?? [];
    expect(versions).toHaveLength(2);
    const current = versions.find((v) => v.VersionStages?.includes('AWSCURRENT'))?.VersionId;
    const refs = (container(definition, 'web')?.secrets ?? []).filter((s) => s !== USER_SECRET && s.name !== 'API_KEY');
    expect(refs.map((s) => s.name)).toEqual(['DATABASE_URL', 'GREETING']);
    expect(refs.every((s) => s.valueFrom?.endsWith(`::${current}`))).toBe(true);
    expect(container(again, 'web')?.secrets).toEqual(container(definition, 'web')?.secrets);
    expect(container(definition, 'web')?.secrets?.filter((s) => s.name === 'API_KEY')).toEqual([USER_SECRET]);
  });

  it('removes its references when the environment has no values any more, keeping the user\u2019s own', async () => {
    await release({ app: DIGEST }, { environment: 'staging', version: 1, values: { GREETING: 'hello' } });

    const emptied = await release({ app: DIGEST }, { environment: 'staging', version: 2, values: {} });
    expect(container(emptied, 'web')?.secrets).toEqual([USER_SECRET]);

    await release({ app: DIGEST }, { environment: 'staging', version: 3, values: { GREETING: 'hello' } });
    const none = await release({ app: DIGEST });
    expect(container(none, 'web')?.secrets).toEqual([USER_SECRET]);
    const service = await ecs.send(new DescribeServicesCommand({ cluster: 'apps', services: ['web-staging'] }));
    expect(service.services?.[0]?.taskDefinition).toBe(none.taskDefinitionArn);
  });

  it('refuses to release values without a Secrets Manager client, before registering anything', async () => {
    const withoutSecrets = new EcsDeployer({ client: ecs });
    await expect(
      withoutSecrets.prepare(target, { app: DIGEST }, REPO, { environment: 'staging', version: 1, values: { A: 'x' } }),
    ).rejects.toThrow(/no Secrets Manager client/);
    const family = await ecs.send(new DescribeTaskDefinitionCommand({ taskDefinition: 'web-staging' }));
    expect(family.taskDefinition?.revision).toBe(1);
  });
});
