import type { Registry } from '../../domain/ports';

/**
 * Local mode has no registry: images stay in the machine's Docker under `slipway/<app>`
 * (the buildspec loads instead of pushing when SLIPWAY_PUSH is false).
 */
export class LocalRegistry implements Registry {
  async ensureRepository(app: string): Promise<string> {
    return `slipway/${app}`;
  }
}
