import { requireEnv } from '../../commons/env';
import { ENV } from '../../commons/env-names';
import { once } from '../platform';

/** The public URL when the stack sets one (`SLIPWAY_PUBLIC_URL`); the admin API does without. */
export const optionalPublicUrl = (): string | undefined => process.env[ENV.publicUrl] || undefined;

/** The public URL the console cannot do without. */
export const requiredPublicUrl = once((): string | undefined => requireEnv(ENV.publicUrl));
