import {
  CreateClusterCommand,
  CreateServiceCommand,
  DescribeServicesCommand,
  DescribeTaskDefinitionCommand,
  ECSClient,
  ListServicesCommand,
  RegisterTaskDefinitionCommand,
} from '@aws-sdk/client-ecs';
import { EcsDeployer, REVIEW_TAG } from '../../functions/adapters/deploy/ecs-deployer';
import type { DeployTarget } from '../../functions/domain/ports';
import { type MotoServer, startMotoServer } from '../support/moto-server';

/**
 * A review app on ECS, against moto_server (TOOLCHAIN.md): the first release of a merge request
 * creates its service from the template service's task definition and network configuration
 * (CreateService with the review tags, one task), later releases update that service, and the
 * teardown deletes it (forced). Services that are no review app are never deleted.
 */

const REPOSITORY = '123456789012.dkr.ecr.eu-west-1.amazonaws.com/slipway/shop';
const DIGEST = `sha256:${'c'.repeat(64)}`;
const DIGEST2 = `sha256:${'d'.repeat(64)}`;

let moto: MotoServer;
let ecs: ECSClient;
let network: { subnets: string[]; securityGroups: string[] };

/** One EC2 query API call on moto, in the client's region (moto reads it from the signature's scope). */
async function ec2(action: string, params: Record<string, string>): Promise<string> {
  const res = await fetch(moto.endpoint, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization:
        'AWS4-HMAC-SHA256 Credential=testing/20260101/eu-west-1/ec2/aws4_request, SignedHeaders=host, Signature=0',
    },
    body: new URLSearchParams({ Action: action, Version: '2016-11-15', ...params }).toString(),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`EC2 ${action}: ${res.status} ${text.slice(0, 300)}`);
  return text;
}

const xmlValue = (xml: string, tag: string) => {
  const found = new RegExp(`<${tag}>([^<]+)</${tag}>`).exec(xml)?.[1];
  if (!found) throw new Error(`no ${tag} in ${xml.slice(0, 300)}`);
  return found;
};

beforeAll(async () => {
  moto = await startMotoServer();
}, 60_000);

afterAll(async () => {
  ecs?.destroy();
  await moto?.stop();
});

beforeEach(async () => {
  await moto.reset();
  ecs = new ECSClient(moto.clientConfig);
  const vpc = xmlValue(await ec2('CreateVpc', { CidrBlock: '10.0.0.0/16' }), 'vpcId');
  const subnet = xmlValue(await ec2('CreateSubnet', { VpcId: vpc, CidrBlock: '10.0.1.0/24' }), 'subnetId');
  const group = xmlValue(
    await ec2('CreateSecurityGroup', { GroupName: 'shop', GroupDescription: 'shop tasks', VpcId: vpc }),
    'groupId',
  );
  network = { subnets: [subnet], securityGroups: [group] };
  await ecs.send(new CreateClusterCommand({ clusterName: 'prod' }));
  const registered = await ecs.send(
    new RegisterTaskDefinitionCommand({
      family: 'shop',
      networkMode: 'awsvpc',
      requiresCompatibilities: ['FARGATE'],
      cpu: '256',
      memory: '512',
      containerDefinitions: [{ name: 'web', image: `${REPOSITORY}@${DIGEST}`, essential: true, memory: 512 }],
    }),
  );
  // The production service the review apps are made from.
  await ecs.send(
    new CreateServiceCommand({
      cluster: 'prod',
      serviceName: 'shop-web',
      taskDefinition: registered.taskDefinition?.taskDefinitionArn,
      desiredCount: 3,
      launchType: 'FARGATE',
      networkConfiguration: {
        awsvpcConfiguration: { ...network, assignPublicIp: 'DISABLED' },
      },
      tags: [{ key: 'slipway:managed', value: 'true' }],
    }),
  );
});

const review: DeployTarget = {
  app: 'shop',
  environment: 'review/12',
  cluster: 'prod',
  service: 'shop-web-review-12',
  review: { serviceTemplate: 'shop-web', tag: 'shop/12' },
};

const describe1 = async (service: string) =>
  (await ecs.send(new DescribeServicesCommand({ cluster: 'prod', services: [service], include: ['TAGS'] })))
    .services?.[0];

describe('a review app on ECS (moto_server)', () => {
  it('is created on its first rollout from the template: its definition and network, one task, the review tags', async () => {
    const deployer = new EcsDeployer({ client: ecs });
    const { revision } = await deployer.prepare(review, { app: DIGEST2 }, REPOSITORY);
    // A new revision of the template's family, with the merge request's image.
    const definition = (await ecs.send(new DescribeTaskDefinitionCommand({ taskDefinition: revision }))).taskDefinition;
    expect(definition).toMatchObject({ family: 'shop', networkMode: 'awsvpc', revision: 2 });
    expect(definition?.containerDefinitions?.[0]?.image).toBe(`${REPOSITORY}@${DIGEST2}`);

    const { deployment, watch } = await deployer.rollout(review, revision);
    expect(deployment).toBe(`${watch}|${revision}`);
    const made = await describe1('shop-web-review-12');
    expect(made).toMatchObject({
      status: 'ACTIVE',
      taskDefinition: revision,
      desiredCount: 1,
      launchType: 'FARGATE',
      networkConfiguration: {
        awsvpcConfiguration: { subnets: network.subnets, securityGroups: network.securityGroups },
      },
      propagateTags: 'SERVICE',
    });
    expect(made?.tags).toEqual(
      expect.arrayContaining([
        { key: REVIEW_TAG, value: 'shop/12' },
        { key: 'slipway:managed', value: 'true' },
      ]),
    );
    expect(made?.deployments?.map((d) => d.id)).toEqual([watch]);
    expect(['in_progress', 'completed']).toContain((await deployer.status(review, deployment)).state);
    // The template is as it was.
    expect(await describe1('shop-web')).toMatchObject({ desiredCount: 3, status: 'ACTIVE' });
  });

  it('is updated, not made again, by its next release', async () => {
    const deployer = new EcsDeployer({ client: ecs });
    const first = await deployer.prepare(review, { app: DIGEST2 }, REPOSITORY);
    await deployer.rollout(review, first.revision);
    const second = await deployer.prepare(review, { app: DIGEST }, REPOSITORY);
    await deployer.rollout(review, second.revision);
    expect((await describe1('shop-web-review-12'))?.taskDefinition).toBe(second.revision);
    const services = (await ecs.send(new ListServicesCommand({ cluster: 'prod' }))).serviceArns ?? [];
    expect(services.map((arn) => arn.split('/').at(-1)).sort()).toEqual(['shop-web', 'shop-web-review-12']);
  });

  it('is deleted (forced) on teardown; a teardown again finds nothing to do', async () => {
    const deployer = new EcsDeployer({ client: ecs });
    const { revision } = await deployer.prepare(review, { app: DIGEST2 }, REPOSITORY);
    await deployer.rollout(review, revision);
    await deployer.remove(review);
    expect((await describe1('shop-web-review-12'))?.status).toBe('INACTIVE');
    await expect(deployer.remove(review)).resolves.toBeUndefined();
    await expect(deployer.remove({ ...review, service: 'shop-web-review-99' })).resolves.toBeUndefined();
    // A release after the teardown makes the service again (a reopened merge request).
    const again = await deployer.prepare(review, { app: DIGEST }, REPOSITORY);
    await deployer.rollout(review, again.revision);
    expect(await describe1('shop-web-review-12')).toMatchObject({ status: 'ACTIVE', taskDefinition: again.revision });
  });

  it('deletes nothing that is no review app', async () => {
    const deployer = new EcsDeployer({ client: ecs });
    await expect(deployer.remove({ app: 'shop', cluster: 'prod', service: 'shop-web' })).rejects.toThrow(
      /no review app: not deleted/,
    );
    expect((await describe1('shop-web'))?.status).toBe('ACTIVE');
  });

  it('fails plainly when the template service is missing', async () => {
    const deployer = new EcsDeployer({ client: ecs });
    const orphan = { ...review, review: { serviceTemplate: 'nope', tag: 'shop/12' } };
    await expect(deployer.prepare(orphan, { app: DIGEST2 }, REPOSITORY)).rejects.toThrow(
      /ECS service nope in cluster prod is not available \(MISSING\)/,
    );
  });
});
