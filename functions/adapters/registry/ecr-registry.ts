import {
  CreateRepositoryCommand,
  DescribeRepositoriesCommand,
  type ECRClient,
  type EncryptionConfiguration,
  PutLifecyclePolicyCommand,
} from '@aws-sdk/client-ecr';
import type { Registry } from '../../domain/ports';

/** Every app repository is `<prefix>/<app>`; the build role may push only under this prefix. */
export const ECR_REPOSITORY_PREFIX = 'slipway';

/**
 * Tags matching this pattern stay mutable in otherwise immutable repositories: the BuildKit
 * registry cache (`<repo>:cache-<service>`, buildspecs/build.yml) is rewritten by every build.
 * Release tags (`[<service>-]<build id>`, `[<service>-]<commit sha>`) do not match it.
 */
export const CACHE_TAG_PATTERN = 'cache-*';

export interface EcrRegistryOptions {
  client: ECRClient;
  /** Repository name prefix. @default 'slipway' */
  prefix?: string;
  /** A KMS key (ARN) for the repositories; AES-256 (S3-managed) when absent. */
  kmsKey?: string;
  /** How many images each repository keeps (newest first). @default 50 */
  keepImages?: number;
  /** After how many days an untagged image (a superseded manifest) is removed. @default 7 */
  untaggedDays?: number;
}

/**
 * The AWS registry: one ECR repository per app, created on first use with immutable tags
 * (except the build cache tag), scan on push and encryption at rest, and a lifecycle policy.
 *
 * Lifecycle: untagged images go after `untaggedDays`; beyond that the newest `keepImages`
 * images are kept. Every release points at the image of one build, so the images of the
 * recent releases (and of the builds in flight) are always among the newest ones kept;
 * rolling back further than `keepImages` builds needs a rebuild.
 */
export class EcrRegistry implements Registry {
  private readonly prefix: string;

  constructor(private readonly options: EcrRegistryOptions) {
    this.prefix = options.prefix ?? ECR_REPOSITORY_PREFIX;
  }

  repositoryName(app: string): string {
    return `${this.prefix}/${app}`;
  }

  async ensureRepository(app: string): Promise<string> {
    const repositoryName = this.repositoryName(app);
    const uri = (await this.create(app, repositoryName)) ?? (await this.describe(repositoryName));
    // Every time, not only on creation: a repository made before a policy change catches up.
    await this.options.client.send(
      new PutLifecyclePolicyCommand({ repositoryName, lifecyclePolicyText: JSON.stringify(this.lifecyclePolicy()) }),
    );
    return uri;
  }

  /** The lifecycle policy document put on every app repository. */
  lifecyclePolicy(): { rules: unknown[] } {
    return {
      rules: [
        {
          rulePriority: 1,
          description: 'Remove untagged images (superseded manifests)',
          selection: {
            tagStatus: 'untagged',
            countType: 'sinceImagePushed',
            countUnit: 'days',
            countNumber: this.options.untaggedDays ?? 7,
          },
          action: { type: 'expire' },
        },
        {
          rulePriority: 2,
          description: 'Keep the newest images: those of the recent releases and builds',
          selection: { tagStatus: 'any', countType: 'imageCountMoreThan', countNumber: this.options.keepImages ?? 50 },
          action: { type: 'expire' },
        },
      ],
    };
  }

  /** The new repository's URI, or undefined when it already exists. */
  private async create(app: string, repositoryName: string): Promise<string | undefined> {
    const encryptionConfiguration: EncryptionConfiguration = this.options.kmsKey
      ? { encryptionType: 'KMS', kmsKey: this.options.kmsKey }
      : { encryptionType: 'AES256' };
    try {
      const out = await this.options.client.send(
        new CreateRepositoryCommand({
          repositoryName,
          imageTagMutability: 'IMMUTABLE_WITH_EXCLUSION',
          imageTagMutabilityExclusionFilters: [{ filterType: 'WILDCARD', filter: CACHE_TAG_PATTERN }],
          imageScanningConfiguration: { scanOnPush: true },
          encryptionConfiguration,
          tags: [
            { Key: 'slipway:app', Value: app },
            { Key: 'slipway:managed-by', Value: 'slipway' },
          ],
        }),
      );
      const uri = out.repository?.repositoryUri;
      if (!uri) throw new Error(`ECR returned no URI for ${repositoryName}`);
      return uri;
    } catch (error) {
      if (error instanceof Error && error.name === 'RepositoryAlreadyExistsException') return undefined;
      throw error;
    }
  }

  private async describe(repositoryName: string): Promise<string> {
    const out = await this.options.client.send(new DescribeRepositoriesCommand({ repositoryNames: [repositoryName] }));
    const uri = out.repositories?.[0]?.repositoryUri;
    if (!uri) throw new Error(`ECR describes no repository ${repositoryName}`);
    return uri;
  }
}
