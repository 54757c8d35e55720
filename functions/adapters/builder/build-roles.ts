/**
 * Per-app build roles (docs/INFRASTRUCTURE.md, "Per-app build rights"): the names, path and tag
 * shared by the stack, which writes the policies, and the adapters, which create the roles at
 * `apps link` (IAM) and pass them to each build (CodeBuild `serviceRoleOverride`).
 *
 * A role is `<path><prefix><app>`, tagged `slipway-app=<app>`. The stack's build policy names
 * its resources through `${aws:PrincipalTag/slipway-app}`: the deploy-key ciphertexts whose
 * encryption context says that app, the repository `slipway/<that app>`. A role without the tag
 * can decrypt nothing and push nowhere.
 */

/** The IAM path every per-app build role lives under (PassRole and CreateRole are scoped to it). */
export const BUILD_ROLE_PATH = '/slipway/builds/';

/** The role tag naming the app; the build policy reads it as `aws:PrincipalTag/slipway-app`. */
export const BUILD_ROLE_APP_TAG = 'slipway-app';

/** IAM role names are at most 64 characters: `slipway-build-` + 8 + `-` + an app name (2-40). */
const ROLE_NAME = /^[\w+=,.@-]{1,64}$/;

/** `<prefix><app>`: the prefix carries a stack-unique part, so two stacks in one account never share a role. */
export function buildRoleName(prefix: string, app: string): string {
  const name = `${prefix}${app}`;
  if (!ROLE_NAME.test(name)) throw new Error(`"${name.slice(0, 80)}" is not a valid IAM role name`);
  return name;
}

/** `arn:…:role/slipway/builds/<prefix><app>`, from the ARN prefix the stack gives (`…/<prefix>`). */
export function buildRoleArn(arnPrefix: string, app: string): string {
  const slash = arnPrefix.lastIndexOf('/');
  return `${arnPrefix.slice(0, slash + 1)}${buildRoleName(arnPrefix.slice(slash + 1), app)}`;
}

/**
 * Who may assume an app's build role: CodeBuild, for this account's build project only
 * (`aws:SourceArn`, `aws:SourceAccount`: no confused deputy). No `sts:TagSession`, so no session
 * tag can stand in for the role's own `slipway-app` tag.
 */
export function buildRoleTrustPolicy(projectArn: string): string {
  const account = projectArn.split(':')[4] ?? '';
  if (!/^\d{12}$/.test(account)) throw new Error(`"${projectArn}" is not a CodeBuild project ARN`);
  return JSON.stringify({
    Version: '2012-10-17',
    Statement: [
      {
        Effect: 'Allow',
        Principal: { Service: 'codebuild.amazonaws.com' },
        Action: 'sts:AssumeRole',
        Condition: {
          StringEquals: { 'aws:SourceAccount': account },
          ArnEquals: { 'aws:SourceArn': projectArn },
        },
      },
    ],
  });
}
