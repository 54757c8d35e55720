import { awsDeps } from '../commons/aws';
import { createAdminHandler } from '../http/admin-api';

/** Lambda entry for the IAM-authorised `/v1` admin API. */
export const handler = createAdminHandler({
  ...awsDeps(),
  ...(process.env.SLIPWAY_PUBLIC_URL ? { publicUrl: process.env.SLIPWAY_PUBLIC_URL } : {}),
});
