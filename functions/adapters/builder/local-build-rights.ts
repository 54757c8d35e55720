import type { BuildRights } from '../../domain/gitlab-link';

/**
 * Local mode's build rights: nothing to make. Each local build is a process of its own, for one
 * app, given only that app's deploy key ciphertext; there is no shared role to narrow.
 */
export const localBuildRights: BuildRights = {
  ensureAppRole: async () => undefined,
  removeAppRole: async () => undefined,
};
