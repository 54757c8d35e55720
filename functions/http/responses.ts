import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';

export type HttpEvent = APIGatewayProxyEventV2;
export type HttpResult = APIGatewayProxyStructuredResultV2 & { statusCode: number; body: string };

/** Webhook bodies larger than this are refused with 413 (PRODUCT.md). */
export const MAX_BODY_BYTES = 5 * 1024 * 1024;

export function json(statusCode: number, body: unknown, headers: Record<string, string> = {}): HttpResult {
  return {
    statusCode,
    headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', ...headers },
    body: JSON.stringify(body),
  };
}

/**
 * An error whose status and message may be shown to the caller (middy's "exposable" errors).
 * Anything else is logged and answered with a generic 500.
 */
export class HttpError extends Error {
  override name = 'HttpError';
  constructor(
    readonly statusCode: number,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** A header by name, case-insensitively (API Gateway v2 lower-cases them; tests may not). */
export function header(event: HttpEvent, name: string): string | undefined {
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(event.headers ?? {})) {
    if (key.toLowerCase() === wanted) return value;
  }
  return undefined;
}

/** The raw body as a Buffer, decoding API Gateway's base64 when it used it. */
export function rawBody(event: HttpEvent): Buffer {
  if (event.body === undefined || event.body === null) return Buffer.alloc(0);
  return event.isBase64Encoded ? Buffer.from(event.body, 'base64') : Buffer.from(event.body, 'utf8');
}

/** Refuses bodies over the limit (413) before any other work. */
export function checkSize(event: HttpEvent): void {
  // A base64 body decodes to 3/4 of its length less its padding; a utf-8 string is at least
  // its length in bytes, at most 3 bytes per UTF-16 unit.
  const body = event.body ?? '';
  const padding = body.endsWith('==') ? 2 : body.endsWith('=') ? 1 : 0;
  const least = event.isBase64Encoded ? Math.floor((body.length * 3) / 4) - padding : body.length;
  const most = event.isBase64Encoded ? least : body.length * 3;
  if (least > MAX_BODY_BYTES || (most > MAX_BODY_BYTES && rawBody(event).length > MAX_BODY_BYTES)) {
    throw new HttpError(413, `request body is larger than ${MAX_BODY_BYTES} bytes`);
  }
}

/** Checks the content type is JSON (415) and parses the body (400). */
export function parseJsonBody(event: HttpEvent, options: { allowEmpty?: boolean } = {}): unknown {
  const body = rawBody(event);
  if (options.allowEmpty && body.length === 0) return {};
  const type = (header(event, 'content-type') ?? '').split(';', 1)[0]?.trim().toLowerCase();
  if (type !== 'application/json' && !type?.endsWith('+json')) {
    throw new HttpError(415, 'content type must be application/json');
  }
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    throw new HttpError(400, 'body is not valid JSON');
  }
}

/** When the edge (API Gateway, or local mode's server) received the request; now if it does not say. */
export function receivedAt(event: HttpEvent): Date {
  const epoch = event.requestContext?.timeEpoch;
  return typeof epoch === 'number' && Number.isFinite(epoch) && epoch > 0 ? new Date(epoch) : new Date();
}
