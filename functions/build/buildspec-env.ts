import type { BuildJob } from '../domain/ports';

/**
 * The inputs buildspecs/build.yml reads, from a build job: one contract for CodeBuild's
 * environment overrides and the local runner. None of them is a secret: the deploy key is
 * vault ciphertext and the known_hosts are public keys.
 */
export function buildspecInputs(job: BuildJob, target: { push: boolean; registry: string }): Record<string, string> {
  return {
    SLIPWAY_BUILD_ID: job.buildId,
    SLIPWAY_APP: job.app,
    SLIPWAY_COMMIT: job.commit,
    SLIPWAY_REF: job.ref,
    SLIPWAY_REPO_URL: job.repoUrl,
    SLIPWAY_DEPLOY_KEY_CIPHERTEXT: job.deployKeyCiphertext,
    SLIPWAY_KNOWN_HOSTS: job.knownHosts,
    SLIPWAY_IMAGE_REPOSITORY: job.imageRepository,
    SLIPWAY_DOCKERFILE: job.dockerfile,
    SLIPWAY_PUSH: target.push ? 'true' : 'false',
    SLIPWAY_REGISTRY: target.registry,
  };
}
