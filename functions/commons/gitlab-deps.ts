import { createGitlabApi } from '../adapters/gitlab/gitbeaker-client';
import { generateDeployKey } from '../adapters/ssh/deploy-key';
import { parseKnownHosts } from '../adapters/ssh/known-hosts';
import type { GitlabDeps } from '../domain/gitlab-link';

/** The GitLab-facing collaborators, the same in Lambda and in local mode. */
export function gitlabDeps(): Pick<GitlabDeps, 'gitlab' | 'keys' | 'knownHosts'> {
  return {
    gitlab: createGitlabApi,
    keys: { generate: generateDeployKey },
    knownHosts: {
      entries: (text) => parseKnownHosts(text).map(({ hosts, fingerprint }) => ({ hosts, fingerprint })),
    },
  };
}
