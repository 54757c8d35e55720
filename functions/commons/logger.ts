import { Logger } from '@aws-lambda-powertools/logger';

/** Structured JSON logs (Powertools). Service name and level come from the environment. */
export function createLogger(serviceName = process.env.POWERTOOLS_SERVICE_NAME ?? 'slipway'): Logger {
  return new Logger({ serviceName });
}
