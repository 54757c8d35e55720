import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Context } from 'aws-lambda';
import type { HttpHandler } from '../http/middleware';
import { type HttpEvent, type HttpResult, json, MAX_BODY_BYTES } from '../http/responses';

/** A route as API Gateway has it: method (or ANY) and a path template with {param} / {proxy+}. */
export interface LocalRoute {
  method: string;
  path: string;
  handler: HttpHandler;
  /** Checked before the handler runs (local stand-in for the IAM authorizer). */
  authorize?: (req: IncomingMessage) => boolean;
  /** The function's timeout, as its Lambda has it (middy answers early when it runs out). */
  timeoutMs: number;
}

interface CompiledRoute extends LocalRoute {
  regex: RegExp;
  names: string[];
}

function compile(route: LocalRoute): CompiledRoute {
  const names: string[] = [];
  const source = route.path
    .split('/')
    .map((part) => {
      const greedy = /^\{(\w+)\+\}$/.exec(part);
      if (greedy?.[1]) {
        names.push(greedy[1]);
        return '(.+)';
      }
      const param = /^\{(\w+)\}$/.exec(part);
      if (param?.[1]) {
        names.push(param[1]);
        return '([^/]+)';
      }
      return part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    })
    .join('/');
  return { ...route, regex: new RegExp(`^${source}$`), names };
}

class BodyTooLarge extends Error {}

/** How much of an oversized body is read and dropped before the 413, so the sender reads it. */
const DISCARD_LIMIT_BYTES = 64 * 1024 * 1024;
const DISCARD_LIMIT_MS = 10_000;

/**
 * Reads the body up to the limit. Past it (declared or counted), keeps reading and dropping
 * up to a bound before rejecting: a sender that writes its whole body before reading (as
 * GitLab does) then reads the 413 instead of a broken pipe.
 */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? 0);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = declared > limit;
    let timer: NodeJS.Timeout | undefined;
    const giveUp = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      if (timer) clearTimeout(timer);
      reject(new BodyTooLarge());
    };
    const startDiscarding = () => {
      tooLarge = true;
      chunks.length = 0;
      timer = setTimeout(giveUp, DISCARD_LIMIT_MS);
      timer.unref();
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (tooLarge) {
        if (size > DISCARD_LIMIT_BYTES) giveUp();
        return;
      }
      if (size > limit) {
        startDiscarding();
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      if (timer) clearTimeout(timer);
      if (tooLarge) reject(new BodyTooLarge());
      else resolve(Buffer.concat(chunks));
    };
    if (tooLarge) startDiscarding();
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', reject);
  });
}

function headersOf(req: IncomingMessage): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [key, value] of Object.entries(req.headers)) {
    if (value !== undefined) headers[key.toLowerCase()] = Array.isArray(value) ? value.join(',') : value;
  }
  return headers;
}

function lambdaContext(requestId: string, functionName: string, timeoutMs: number): Context {
  const deadline = Date.now() + timeoutMs;
  return {
    awsRequestId: requestId,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:local:000000000000:function:${functionName}`,
    memoryLimitInMB: '512',
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: 'local',
    callbackWaitsForEmptyEventLoop: false,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

/** Builds the API Gateway HTTP API (payload 2.0) event the Lambda would receive. */
export function toApiGatewayEvent(
  req: IncomingMessage,
  url: URL,
  body: Buffer,
  routeKey: string,
  pathParameters: Record<string, string>,
  requestId: string,
  /** When the request arrived (before its body was read), as API Gateway's `timeEpoch`. */
  receivedAt: Date = new Date(),
): HttpEvent {
  const headers = headersOf(req);
  // Payload 2.0 moves the Cookie header into `cookies`, one entry per cookie.
  const cookies = (headers.cookie ?? '').split(/;\s*/).filter((pair) => pair.includes('='));
  delete headers.cookie;
  const query: Record<string, string> = {};
  for (const [key, value] of url.searchParams) query[key] = key in query ? `${query[key]},${value}` : value;
  const text = body.toString('utf8');
  const binary = !Buffer.from(text, 'utf8').equals(body);
  const now = receivedAt;
  return {
    version: '2.0',
    routeKey,
    rawPath: url.pathname,
    rawQueryString: url.search.replace(/^\?/, ''),
    headers,
    ...(cookies.length ? { cookies } : {}),
    ...(Object.keys(query).length ? { queryStringParameters: query } : {}),
    ...(Object.keys(pathParameters).length ? { pathParameters } : {}),
    requestContext: {
      accountId: '000000000000',
      apiId: 'local',
      domainName: headers.host ?? '127.0.0.1',
      domainPrefix: 'local',
      http: {
        method: (req.method ?? 'GET').toUpperCase(),
        path: url.pathname,
        protocol: `HTTP/${req.httpVersion}`,
        sourceIp: req.socket.remoteAddress ?? '127.0.0.1',
        userAgent: headers['user-agent'] ?? '',
      },
      requestId,
      routeKey,
      stage: '$default',
      time: now.toUTCString(),
      timeEpoch: now.getTime(),
    },
    ...(body.length ? { body: binary ? body.toString('base64') : text } : {}),
    isBase64Encoded: binary,
  };
}

function send(res: ServerResponse, result: HttpResult, close = false): void {
  const headers: Record<string, string | string[]> = {};
  for (const [key, value] of Object.entries(result.headers ?? {})) headers[key] = String(value);
  // Payload 2.0 answers cookies in `cookies`; API Gateway sends one Set-Cookie each.
  if (result.cookies?.length) headers['set-cookie'] = result.cookies;
  if (close) headers.connection = 'close';
  res.writeHead(result.statusCode, headers);
  res.end(result.isBase64Encoded ? Buffer.from(result.body, 'base64') : result.body);
}

/**
 * A Node request listener that serves Lambda handlers the way API Gateway would: it matches
 * the route, builds a real payload-2.0 event and writes the handler's result back.
 */
export function apiGatewayListener(routes: LocalRoute[], onError: (error: unknown) => void) {
  const compiled = routes.map(compile);
  return async (req: IncomingMessage, res: ServerResponse) => {
    const receivedAt = new Date();
    const requestId = randomUUID();
    try {
      const url = new URL(req.url ?? '/', 'http://local');
      const method = (req.method ?? 'GET').toUpperCase();
      let route: CompiledRoute | undefined;
      let match: RegExpExecArray | null = null;
      for (const candidate of compiled) {
        if (candidate.method !== 'ANY' && candidate.method !== method) continue;
        match = candidate.regex.exec(url.pathname);
        if (match) {
          route = candidate;
          break;
        }
      }
      if (!route || !match) {
        req.resume();
        send(res, json(404, { message: 'Not Found' }));
        return;
      }
      if (route.authorize && !route.authorize(req)) {
        req.resume();
        send(res, json(403, { message: 'Forbidden' }));
        return;
      }
      let body: Buffer;
      try {
        body = await readBody(req, MAX_BODY_BYTES);
      } catch (error) {
        if (error instanceof BodyTooLarge) {
          send(res, json(413, { error: `request body is larger than ${MAX_BODY_BYTES} bytes` }), true);
          return;
        }
        throw error;
      }
      const params: Record<string, string> = {};
      route.names.forEach((name, i) => {
        const raw = match?.[i + 1] ?? '';
        try {
          params[name] = decodeURIComponent(raw);
        } catch {
          params[name] = raw;
        }
      });
      const event = toApiGatewayEvent(req, url, body, `${route.method} ${route.path}`, params, requestId, receivedAt);
      const result = await route.handler(event, lambdaContext(requestId, route.path, route.timeoutMs));
      send(res, result);
    } catch (error) {
      onError(error);
      if (!res.headersSent) send(res, json(500, { error: 'internal error', requestId }));
      else res.destroy();
    }
  };
}
