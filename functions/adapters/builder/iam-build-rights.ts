import {
  AttachRolePolicyCommand,
  CreateRoleCommand,
  DeleteRoleCommand,
  DetachRolePolicyCommand,
  GetRoleCommand,
  type IAMClient,
  ListAttachedRolePoliciesCommand,
  type Role,
} from '@aws-sdk/client-iam';
import type { BuildRights } from '../../domain/gitlab-link';
import { BUILD_ROLE_APP_TAG, buildRoleName, buildRoleTrustPolicy } from './build-roles';

export interface IamBuildRightsOptions {
  client: IAMClient;
  /** `/slipway/builds/` (the stack's `BUILD_ROLE_PATH`). */
  path: string;
  /** `slipway-build-<stack id part>-` (`BUILD_ROLE_NAME_PREFIX`). */
  namePrefix: string;
  /** The permissions boundary every build role carries (`BUILD_ROLE_BOUNDARY_ARN`). */
  boundaryArn: string;
  /** The stack's build policies, attached to every build role (`BUILD_ROLE_POLICY_ARNS`). */
  policyArns: readonly string[];
  /** The CodeBuild project, the only one that may assume the roles (`BUILD_PROJECT_ARN`). */
  projectArn: string;
}

const isNamed = (error: unknown, name: string): boolean => error instanceof Error && error.name === name;

/**
 * Per-app build roles in IAM (docs/INFRASTRUCTURE.md, "Per-app build rights"): at `apps link`
 * the admin API makes `<path><prefix><app>`, tagged `slipway-app=<app>`, with the stack's
 * boundary, trusted by the build project only, and the stack's two build policies attached;
 * those policies grant through the tag, so the role opens only that app's deploy key and
 * reaches only that app's repository. No inline policy is ever written.
 */
export class IamBuildRights implements BuildRights {
  constructor(private readonly options: IamBuildRightsOptions) {
    if (options.policyArns.length === 0) throw new Error('IamBuildRights needs the build policies');
  }

  async ensureAppRole(app: string): Promise<void> {
    const { client, path, boundaryArn, policyArns } = this.options;
    const roleName = buildRoleName(this.options.namePrefix, app);
    const existing = await this.getRole(roleName);
    const fine = existing !== undefined && this.isAsItShouldBe(existing, app);
    // Made by hand, or for another project or boundary (the stack changed): made again, as it should be.
    if (existing && !fine) await this.removeAppRole(app);
    if (!fine) {
      try {
        await client.send(
          new CreateRoleCommand({
            RoleName: roleName,
            Path: path,
            Description: `Slipway: builds of ${app} (its deploy key, its repository)`,
            AssumeRolePolicyDocument: buildRoleTrustPolicy(this.options.projectArn),
            PermissionsBoundary: boundaryArn,
            Tags: [{ Key: BUILD_ROLE_APP_TAG, Value: app }],
          }),
        );
      } catch (error) {
        // A concurrent link made it: it is checked again below through the attachments.
        if (!isNamed(error, 'EntityAlreadyExistsException')) throw error;
      }
    }
    for (const policyArn of policyArns) {
      await client.send(new AttachRolePolicyCommand({ RoleName: roleName, PolicyArn: policyArn }));
    }
  }

  async removeAppRole(app: string): Promise<void> {
    const { client } = this.options;
    const roleName = buildRoleName(this.options.namePrefix, app);
    try {
      const attached = await client.send(new ListAttachedRolePoliciesCommand({ RoleName: roleName }));
      for (const policy of attached.AttachedPolicies ?? []) {
        await client.send(new DetachRolePolicyCommand({ RoleName: roleName, PolicyArn: policy.PolicyArn }));
      }
      await client.send(new DeleteRoleCommand({ RoleName: roleName }));
    } catch (error) {
      if (!isNamed(error, 'NoSuchEntityException')) throw error;
    }
  }

  private async getRole(roleName: string): Promise<Role | undefined> {
    try {
      return (await this.options.client.send(new GetRoleCommand({ RoleName: roleName }))).Role;
    } catch (error) {
      if (isNamed(error, 'NoSuchEntityException')) return undefined;
      throw error;
    }
  }

  /** Its path, boundary, app tag and trust policy are the ones this stack gives. */
  private isAsItShouldBe(role: Role, app: string): boolean {
    const tag = role.Tags?.find((t) => t.Key === BUILD_ROLE_APP_TAG)?.Value;
    return (
      role.Path === this.options.path &&
      role.PermissionsBoundary?.PermissionsBoundaryArn === this.options.boundaryArn &&
      tag === app &&
      samePolicy(role.AssumeRolePolicyDocument, buildRoleTrustPolicy(this.options.projectArn))
    );
  }
}

/** IAM answers policy documents URL-encoded; compares them as JSON, keys in any order. */
function samePolicy(stored: string | undefined, expected: string): boolean {
  if (!stored) return false;
  try {
    const text = stored.trimStart().startsWith('{') ? stored : decodeURIComponent(stored);
    return canonical(JSON.parse(text)) === canonical(JSON.parse(expected));
  } catch {
    return false;
  }
}

function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}
