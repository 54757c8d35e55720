import type { Logger } from '@aws-lambda-powertools/logger';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import {
  ConflictError,
  ForbiddenError,
  GitlabError,
  NotFoundError,
  StaleWriteError,
  ValidationError,
} from '../domain/errors';
import { PayloadError } from './gitlab-payloads';
import { HttpError, type HttpEvent, type HttpResult, json } from './responses';

/** Maps expected errors to their status; everything else is logged once and answered 500. */
export function toHttpResult(error: unknown, logger: Logger, requestId: string | undefined): HttpResult {
  if (error instanceof HttpError) return json(error.statusCode, { error: error.message });
  if (error instanceof PayloadError || error instanceof ValidationError) return json(400, { error: error.message });
  if (error instanceof NotFoundError) return json(404, { error: error.message });
  if (error instanceof ForbiddenError) return json(403, { error: error.message });
  if (error instanceof ConflictError || error instanceof StaleWriteError) return json(409, { error: error.message });
  if (error instanceof Error && error.name === 'TimeoutError') {
    // middy answers before the function's own timeout would cut the connection.
    logger.warn('request timed out', { requestId });
    return json(504, { error: 'the request timed out', requestId });
  }
  if (error instanceof GitlabError) {
    // What GitLab refused is the caller's to fix (4xx); GitLab being down or failing is a bad gateway.
    const status =
      error.kind === 'not_found' ? 404 : error.kind === 'unreachable' || error.kind === 'failed' ? 502 : 400;
    return json(status, { error: error.message });
  }
  logger.error('unexpected error', { error: error as Error, requestId });
  return json(500, { error: 'internal error', requestId });
}

export type HttpHandler = (event: HttpEvent, context: Context) => Promise<HttpResult>;

/** Wraps a thin handler with middy: error mapping and the request id in every log line. */
export function httpHandler(logger: Logger, fn: (event: HttpEvent, context: Context) => Promise<HttpResult>) {
  return middy<HttpEvent, HttpResult, Error, Context>()
    .before((request) => {
      logger.appendKeys({ requestId: request.context?.awsRequestId });
    })
    .after(() => {
      logger.resetKeys();
    })
    .onError((request) => {
      request.response = toHttpResult(request.error, logger, request.context?.awsRequestId);
      logger.resetKeys();
    })
    .handler(fn);
}
