import type { Logger } from '@aws-lambda-powertools/logger';
import type { DeliveryOutcome } from '../domain/reporting';

/** How both worlds log a Slack notice that did not go out (one skipped for want of a URL is said elsewhere). */
export function warnUndelivered(logger: Logger): (outcome: DeliveryOutcome) => void {
  return (outcome) => {
    if (!outcome.delivered && !outcome.skipped) logger.warn('Slack notice not delivered', { ...outcome });
  };
}
