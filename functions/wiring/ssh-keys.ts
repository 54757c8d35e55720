import { generateDeployKey } from '../adapters/ssh/deploy-key';
import { parseKnownHosts } from '../adapters/ssh/known-hosts';
import type { GitlabDeps } from '../domain/gitlab-link';

/**
 * Deploy keys (ed25519 written by sshpk) and known_hosts parsing for `apps link`, the same in
 * Lambda and in local mode. A module of its own: only the admin API carries sshpk.
 */
export const sshKeys = (): Pick<GitlabDeps, 'keys' | 'knownHosts'> => ({
  keys: { generate: generateDeployKey },
  knownHosts: {
    entries: (text) => parseKnownHosts(text).map(({ hosts, fingerprint }) => ({ hosts, fingerprint })),
  },
});
