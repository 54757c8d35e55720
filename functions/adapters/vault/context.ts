import type { VaultContext } from '../../domain/ports';

/** The encryption context as a flat string map, keys in a fixed order (KMS and AAD alike). */
export function contextMap(context: VaultContext): Record<string, string> {
  return { purpose: context.purpose, ...(context.app !== undefined ? { app: context.app } : {}) };
}

export class VaultError extends Error {
  override name = 'VaultError';
}
