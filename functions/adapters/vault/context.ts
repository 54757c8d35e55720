import { VaultError } from '../../domain/errors';
import type { VaultContext } from '../../domain/ports';

/** The purposes whose ciphertexts are bound to a GitLab instance (`instance` required). */
const INSTANCE_BOUND: ReadonlySet<VaultContext['purpose']> = new Set(['gitlab-token', 'oauth-client-secret']);

/**
 * The encryption context as a flat string map, keys in a fixed order (KMS and AAD alike):
 * `purpose`, then `app`, `instance` and `environment` when given. A GitLab token or OAuth
 * client secret without its instance is refused before any sealing or opening: such a
 * ciphertext would open for whatever URL the table names. Likewise an environment's
 * configuration without its app and environment.
 */
export function contextMap(context: VaultContext): Record<string, string> {
  if (INSTANCE_BOUND.has(context.purpose) && !context.instance) {
    throw new VaultError(`a ${context.purpose} is sealed for its GitLab instance: the context names none`);
  }
  if (context.purpose === 'env-config' && (!context.app || !context.environment)) {
    throw new VaultError(
      'an env-config is sealed for its app and environment: the context names no app or environment',
    );
  }
  return {
    purpose: context.purpose,
    ...(context.app !== undefined ? { app: context.app } : {}),
    ...(context.instance !== undefined ? { instance: context.instance } : {}),
    ...(context.environment !== undefined ? { environment: context.environment } : {}),
  };
}

export { VaultError };
