import {
  CreateRepositoryCommand,
  DescribeRepositoriesCommand,
  ECRClient,
  PutLifecyclePolicyCommand,
  RepositoryAlreadyExistsException,
} from '@aws-sdk/client-ecr';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import { EcrRegistry } from '../../functions/adapters/registry/ecr-registry';

const ecr = mockClient(ECRClient);
const URI = '123456789012.dkr.ecr.eu-west-1.amazonaws.com/slipway/web';

describe('the ECR registry', () => {
  beforeEach(() => {
    ecr.reset();
    ecr.on(PutLifecyclePolicyCommand).resolves({});
  });

  it('creates slipway/<app> with immutable tags (but the build cache), scan on push, AES-256 and tags', async () => {
    ecr.on(CreateRepositoryCommand).resolves({ repository: { repositoryUri: URI } });

    await expect(new EcrRegistry({ client: new ECRClient({}) }).ensureRepository('web')).resolves.toBe(URI);

    expect(ecr).toHaveReceivedCommandWith(CreateRepositoryCommand, {
      repositoryName: 'slipway/web',
      imageTagMutability: 'IMMUTABLE_WITH_EXCLUSION',
      imageTagMutabilityExclusionFilters: [{ filterType: 'WILDCARD', filter: 'cache-*' }],
      imageScanningConfiguration: { scanOnPush: true },
      encryptionConfiguration: { encryptionType: 'AES256' },
      tags: [
        { Key: 'slipway:app', Value: 'web' },
        { Key: 'slipway:managed-by', Value: 'slipway' },
      ],
    });
    expect(ecr).not.toHaveReceivedCommand(DescribeRepositoriesCommand);
  });

  it('encrypts with a KMS key when given one, under a custom prefix', async () => {
    ecr.on(CreateRepositoryCommand).resolves({ repository: { repositoryUri: URI } });
    const registry = new EcrRegistry({
      client: new ECRClient({}),
      prefix: 'acme',
      kmsKey: 'arn:aws:kms:eu-west-1:1:key/k',
    });

    await registry.ensureRepository('web');

    expect(ecr).toHaveReceivedCommandWith(CreateRepositoryCommand, {
      repositoryName: 'acme/web',
      encryptionConfiguration: { encryptionType: 'KMS', kmsKey: 'arn:aws:kms:eu-west-1:1:key/k' },
    });
  });

  it('uses the repository that already exists, and still puts the lifecycle policy', async () => {
    ecr
      .on(CreateRepositoryCommand)
      .rejects(new RepositoryAlreadyExistsException({ message: 'exists', $metadata: {} }))
      .on(DescribeRepositoriesCommand)
      .resolves({ repositories: [{ repositoryName: 'slipway/web', repositoryUri: URI }] });

    await expect(new EcrRegistry({ client: new ECRClient({}) }).ensureRepository('web')).resolves.toBe(URI);

    expect(ecr).toHaveReceivedCommandWith(DescribeRepositoriesCommand, { repositoryNames: ['slipway/web'] });
    expect(ecr).toHaveReceivedCommandTimes(PutLifecyclePolicyCommand, 1);
  });

  it('expires untagged images after 7 days and keeps the newest 50 images', async () => {
    ecr.on(CreateRepositoryCommand).resolves({ repository: { repositoryUri: URI } });

    await new EcrRegistry({ client: new ECRClient({}) }).ensureRepository('web');

    const input = ecr.commandCalls(PutLifecyclePolicyCommand)[0]?.args[0].input;
    expect(input?.repositoryName).toBe('slipway/web');
    expect(JSON.parse(input?.lifecyclePolicyText ?? '{}')).toEqual({
      rules: [
        expect.objectContaining({
          rulePriority: 1,
          selection: { tagStatus: 'untagged', countType: 'sinceImagePushed', countUnit: 'days', countNumber: 7 },
          action: { type: 'expire' },
        }),
        expect.objectContaining({
          rulePriority: 2,
          selection: { tagStatus: 'any', countType: 'imageCountMoreThan', countNumber: 50 },
          action: { type: 'expire' },
        }),
      ],
    });
  });

  it('passes on any other ECR failure', async () => {
    ecr.on(CreateRepositoryCommand).rejects(Object.assign(new Error('denied'), { name: 'AccessDeniedException' }));

    await expect(new EcrRegistry({ client: new ECRClient({}) }).ensureRepository('web')).rejects.toThrow('denied');
    expect(ecr).not.toHaveReceivedCommand(PutLifecyclePolicyCommand);
  });
});
