import { Logger } from '@aws-lambda-powertools/logger';
import { ENV } from './env-names';

/** Structured JSON logs (Powertools). Service name and level come from the environment. */
export function createLogger(serviceName = process.env[ENV.serviceName] ?? 'slipway'): Logger {
  return new Logger({ serviceName });
}
