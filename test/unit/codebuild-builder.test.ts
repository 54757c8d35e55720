import { CodeBuildClient, StartBuildCommand, StopBuildCommand } from '@aws-sdk/client-codebuild';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import { CodeBuildBuilder, UnsafeBuildJobError } from '../../functions/adapters/builder/codebuild-builder';
import type { BuildJob } from '../../functions/domain/ports';

const codebuild = mockClient(CodeBuildClient);

const job: BuildJob = {
  buildId: '01JBUILD0000000000000000AB',
  app: 'web',
  commit: 'a'.repeat(40),
  ref: 'refs/heads/main',
  repoUrl: 'git@gitlab.example.com:group/web.git',
  deployKeyCiphertext: 'kms1:AQICAHh0ZXN0LWNpcGhlcnRleHQ=',
  knownHosts: 'gitlab.example.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl',
  imageRepository: '123456789012.dkr.ecr.eu-west-1.amazonaws.com/slipway/web',
  dockerfile: 'Dockerfile',
};

const BUILD_ID = 'slipway-build:8745a7a9-c340-456a-9166-edf953571bEX';
const BUILD_ARN = `arn:aws:codebuild:eu-west-1:123456789012:build/${BUILD_ID}`;

function builder(): CodeBuildBuilder {
  return new CodeBuildBuilder({
    client: new CodeBuildClient({}),
    projectName: 'slipway-build',
    logGroupName: 'build-logs',
    buildRoleArnPrefix: ROLE_ARN_PREFIX,
  });
}

const ROLE_ARN_PREFIX = 'arn:aws:iam::123456789012:role/slipway/builds/slipway-build-0a1b2c3d-';

describe('the CodeBuild builder', () => {
  beforeEach(() => codebuild.reset());

  it('starts one build of the project, idempotent on the build id, with plaintext overrides that hold no secret', async () => {
    codebuild.on(StartBuildCommand).resolves({ build: { id: BUILD_ID, arn: BUILD_ARN } });

    await builder().start(job);

    expect(codebuild).toHaveReceivedCommandTimes(StartBuildCommand, 1);
    expect(codebuild).toHaveReceivedCommandWith(StartBuildCommand, {
      projectName: 'slipway-build',
      idempotencyToken: job.buildId,
      serviceRoleOverride: `${ROLE_ARN_PREFIX}web`,
      environmentVariablesOverride: [
        { name: 'SLIPWAY_BUILD_ID', value: job.buildId, type: 'PLAINTEXT' },
        { name: 'SLIPWAY_APP', value: 'web', type: 'PLAINTEXT' },
        { name: 'SLIPWAY_COMMIT', value: job.commit, type: 'PLAINTEXT' },
        { name: 'SLIPWAY_REF', value: 'refs/heads/main', type: 'PLAINTEXT' },
        { name: 'SLIPWAY_REPO_URL', value: job.repoUrl, type: 'PLAINTEXT' },
        { name: 'SLIPWAY_DEPLOY_KEY_CIPHERTEXT', value: job.deployKeyCiphertext, type: 'PLAINTEXT' },
        { name: 'SLIPWAY_KNOWN_HOSTS', value: job.knownHosts, type: 'PLAINTEXT' },
        { name: 'SLIPWAY_IMAGE_REPOSITORY', value: job.imageRepository, type: 'PLAINTEXT' },
        { name: 'SLIPWAY_DOCKERFILE', value: 'Dockerfile', type: 'PLAINTEXT' },
        { name: 'SLIPWAY_PUSH', value: 'true', type: 'PLAINTEXT' },
        { name: 'SLIPWAY_REGISTRY', value: '123456789012.dkr.ecr.eu-west-1.amazonaws.com', type: 'PLAINTEXT' },
      ],
    });
    const overrides = codebuild.commandCalls(StartBuildCommand)[0]?.args[0].input.environmentVariablesOverride ?? [];
    for (const variable of overrides) expect(variable.value).not.toMatch(/PRIVATE KEY/);
  });

  it("runs each build with its own app's role, never the project's", async () => {
    codebuild.on(StartBuildCommand).resolves({ build: { id: BUILD_ID, arn: BUILD_ARN } });

    await builder().start(job);
    await builder().start({ ...job, app: 'api', imageRepository: job.imageRepository.replace(/web$/, 'api') });

    const roles = codebuild.commandCalls(StartBuildCommand).map((call) => call.args[0].input.serviceRoleOverride);
    expect(roles).toEqual([
      'arn:aws:iam::123456789012:role/slipway/builds/slipway-build-0a1b2c3d-web',
      'arn:aws:iam::123456789012:role/slipway/builds/slipway-build-0a1b2c3d-api',
    ]);
  });

  it('retries a role CodeBuild cannot assume yet, and says to link again when it lasts', async () => {
    codebuild.on(StartBuildCommand).rejects(
      Object.assign(new Error('CodeBuild is not authorized to perform: sts:AssumeRole on arn:aws:iam::…'), {
        name: 'InvalidInputException',
      }),
    );

    await expect(builder().start(job)).rejects.toMatchObject({
      name: 'TransientError',
      message: expect.stringMatching(/propagating.*run slipway apps link web/),
    });
  });

  it('answers with the build ARN and the log stream CodeBuild reports', async () => {
    codebuild.on(StartBuildCommand).resolves({
      build: { id: BUILD_ID, arn: BUILD_ARN, logs: { groupName: 'build-logs', streamName: '8745a7a9-stream' } },
    });

    await expect(builder().start(job)).resolves.toEqual({ ref: BUILD_ARN, logLocation: 'build-logs:8745a7a9-stream' });
  });

  it('derives the log stream from the build id (its UUID) when CodeBuild does not say yet', async () => {
    codebuild.on(StartBuildCommand).resolves({ build: { id: BUILD_ID, arn: BUILD_ARN } });

    await expect(builder().start(job)).resolves.toEqual({
      ref: BUILD_ARN,
      logLocation: 'build-logs:8745a7a9-c340-456a-9166-edf953571bEX',
    });
  });

  it('refuses, before calling CodeBuild, a job that carries a plaintext private key', async () => {
    const leaky = {
      ...job,
      deployKeyCiphertext:
        '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjE=\n-----END OPENSSH PRIVATE KEY-----',
    };

    await expect(builder().start(leaky)).rejects.toThrow(UnsafeBuildJobError);
    expect(codebuild).not.toHaveReceivedCommand(StartBuildCommand);
  });

  it('refuses a deploy key that is not a vault ciphertext', async () => {
    await expect(builder().start({ ...job, deployKeyCiphertext: 'AAAAC3NzaC1lZDI1NTE5' })).rejects.toThrow(
      /not a vault ciphertext/,
    );
    expect(codebuild).not.toHaveReceivedCommand(StartBuildCommand);
  });

  it('fails clearly when CodeBuild starts nothing', async () => {
    codebuild.on(StartBuildCommand).resolves({});

    await expect(builder().start(job)).rejects.toThrow(/started no build for web\/01JBUILD/);
  });

  it('stops a superseded build by its id (from the ARN), and leaves one that already ended alone', async () => {
    codebuild.reset();
    codebuild.on(StopBuildCommand).resolves({});
    await builder().cancel(BUILD_ARN);
    expect(codebuild).toHaveReceivedCommandWith(StopBuildCommand, { id: BUILD_ID });

    codebuild.reset();
    codebuild
      .on(StopBuildCommand)
      .rejects(Object.assign(new Error('Build already completed'), { name: 'InvalidInputException' }));
    await expect(builder().cancel(BUILD_ARN)).resolves.toBeUndefined();

    codebuild.reset();
    codebuild.on(StopBuildCommand).rejects(Object.assign(new Error('denied'), { name: 'AccessDeniedException' }));
    await expect(builder().cancel(BUILD_ARN)).rejects.toThrow('denied');
  });
});
