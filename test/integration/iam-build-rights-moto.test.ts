import {
  CreatePolicyCommand,
  CreateRoleCommand,
  GetRoleCommand,
  IAMClient,
  ListAttachedRolePoliciesCommand,
} from '@aws-sdk/client-iam';
import { buildRoleArn, buildRoleTrustPolicy } from '../../functions/adapters/builder/build-roles';
import { IamBuildRights } from '../../functions/adapters/builder/iam-build-rights';
import { type MotoServer, startMotoServer } from '../support/moto-server';

/**
 * The per-app build roles the admin API makes at `apps link`, against moto_server's IAM: path,
 * name, app tag, boundary, trust (the build project only) and the stack's two build policies.
 */
describe('per-app build roles in IAM (moto_server)', () => {
  const PROJECT_ARN = 'arn:aws:codebuild:eu-west-1:123456789012:project/BuildProject-abc';
  const PREFIX = 'slipway-build-0a1b2c3d-';
  let moto: MotoServer;
  let iam: IAMClient;
  let rights: IamBuildRights;
  let boundaryArn: string;
  let policyArns: string[];

  const policy = async (name: string) => {
    const document = JSON.stringify({
      Version: '2012-10-17',
      Statement: [{ Effect: 'Allow', Action: 'ecr:GetAuthorizationToken', Resource: '*' }],
    });
    const out = await iam.send(new CreatePolicyCommand({ PolicyName: name, PolicyDocument: document }));
    return String(out.Policy?.Arn);
  };
  const role = async (name: string) => (await iam.send(new GetRoleCommand({ RoleName: name }))).Role;
  const attached = async (name: string) =>
    ((await iam.send(new ListAttachedRolePoliciesCommand({ RoleName: name }))).AttachedPolicies ?? [])
      .map((p) => p.PolicyArn)
      .sort();

  beforeAll(async () => {
    moto = await startMotoServer();
    iam = new IAMClient({ ...moto.clientConfig, region: 'us-east-1' });
    boundaryArn = await policy('AppBuildBoundary');
    policyArns = [await policy('AppBuildPolicy'), await policy('EcrLoginPolicy')];
    rights = new IamBuildRights({
      client: iam,
      path: '/slipway/builds/',
      namePrefix: PREFIX,
      boundaryArn,
      policyArns,
      projectArn: PROJECT_ARN,
    });
  }, 30_000);

  afterAll(async () => {
    iam?.destroy();
    await moto?.stop();
  });

  it('makes the app’s role under the path, tagged with the app, with the boundary, trusted by the project, with both build policies', async () => {
    await rights.ensureAppRole('web');

    const made = await role(`${PREFIX}web`);
    expect(made).toMatchObject({
      RoleName: 'slipway-build-0a1b2c3d-web',
      Path: '/slipway/builds/',
      Arn: buildRoleArn('arn:aws:iam::123456789012:role/slipway/builds/slipway-build-0a1b2c3d-', 'web'),
      PermissionsBoundary: { PermissionsBoundaryArn: boundaryArn },
      Tags: [{ Key: 'slipway-app', Value: 'web' }],
    });
    const trust = JSON.parse(decodeURIComponent(String(made?.AssumeRolePolicyDocument)));
    expect(trust).toEqual(JSON.parse(buildRoleTrustPolicy(PROJECT_ARN)));
    expect(trust.Statement).toEqual([
      {
        Effect: 'Allow',
        Principal: { Service: 'codebuild.amazonaws.com' },
        Action: 'sts:AssumeRole',
        Condition: {
          StringEquals: { 'aws:SourceAccount': '123456789012' },
          ArnEquals: { 'aws:SourceArn': PROJECT_ARN },
        },
      },
    ]);
    expect(await attached(`${PREFIX}web`)).toEqual([...policyArns].sort());
  });

  it('is idempotent: linking again keeps the one role', async () => {
    await rights.ensureAppRole('api');
    const first = await role(`${PREFIX}api`);
    await rights.ensureAppRole('api');
    expect((await role(`${PREFIX}api`))?.RoleId).toBe(first?.RoleId);
    expect(await attached(`${PREFIX}api`)).toEqual([...policyArns].sort());
  });

  it('makes again a role that is not as it should be (another app’s tag, no boundary)', async () => {
    await iam.send(
      new CreateRoleCommand({
        RoleName: `${PREFIX}shop`,
        Path: '/slipway/builds/',
        AssumeRolePolicyDocument: buildRoleTrustPolicy(PROJECT_ARN),
        Tags: [{ Key: 'slipway-app', Value: 'web' }],
      }),
    );

    await rights.ensureAppRole('shop');

    expect(await role(`${PREFIX}shop`)).toMatchObject({
      PermissionsBoundary: { PermissionsBoundaryArn: boundaryArn },
      Tags: [{ Key: 'slipway-app', Value: 'shop' }],
    });
  });

  it('removes the app’s role, and a role already gone is no error', async () => {
    await rights.ensureAppRole('gone');
    await rights.removeAppRole('gone');
    await expect(role(`${PREFIX}gone`)).rejects.toMatchObject({ name: 'NoSuchEntityException' });
    await expect(rights.removeAppRole('gone')).resolves.toBeUndefined();
  });

  it('refuses an app name that makes no IAM role name', async () => {
    await expect(rights.ensureAppRole('a'.repeat(60))).rejects.toThrow(/not a valid IAM role name/);
  });
});
