import { readFileSync } from 'node:fs';
import { StateDir } from '../functions/local/state-dir';
import { apiUrlFromStack, executeApiRegion, signRequest } from './aws-auth';

/** A CLI failure: one clear line on stderr, exit 1. */
export class CliError extends Error {
  override name = 'CliError';
}

export type ApiAuth = { kind: 'bearer'; token: string } | { kind: 'sigv4'; region: string };

export interface ApiTarget {
  url: string;
  auth: ApiAuth;
}

export interface ApiOptions {
  api?: string;
  apiToken?: string;
  /** A file holding the admin API token (kept out of argv, where other local users can read it). */
  apiTokenFile?: string;
  stack?: string;
}

/** 127.0.0.0/8, ::1 and `localhost`: where the local admin token may go. */
export function isLoopbackUrl(url: URL): boolean {
  const host = url.hostname;
  // The WHATWG URL parser has already normalised IPv4 forms (127.1, 0x7f.1, …) to dotted quads.
  return host === 'localhost' || host === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

function readTokenFile(file: string): string {
  let token: string;
  try {
    token = readFileSync(file, 'utf8').trim();
  } catch (error) {
    throw new CliError(`--api-token-file ${file}: ${(error as NodeJS.ErrnoException).code ?? 'unreadable'}`);
  }
  if (!token) throw new CliError(`--api-token-file ${file}: the file is empty`);
  return token;
}

/**
 * Finds the admin API: `--api`/`--api-token` (or `--api-token-file`), else
 * `SLIPWAY_URL`/`SLIPWAY_TOKEN`, else the deployed stack's `ApiUrl` output
 * (`--stack`/`SLIPWAY_STACK`), else the local state dir (the URL local mode wrote, or the
 * default port, and its admin token). An API Gateway URL without a token is called with SigV4
 * from the default AWS credential chain.
 *
 * Where tokens may go: the local admin token (read from the state dir) only to a loopback URL
 * (127.0.0.0/8, ::1, localhost), so pointing SLIPWAY_URL/--api elsewhere cannot hand it to
 * another host; a token the user gave explicitly to any https URL, and over plain http only to
 * loopback (it would travel in clear).
 */
export async function resolveTarget(options: ApiOptions, env: NodeJS.ProcessEnv = process.env): Promise<ApiTarget> {
  const state = new StateDir(env.SLIPWAY_HOME ?? '.slipway');
  const stack = options.stack ?? env.SLIPWAY_STACK;
  let url = options.api ?? env.SLIPWAY_URL;
  if (!url && stack) {
    try {
      url = await apiUrlFromStack(stack);
    } catch (error) {
      throw new CliError(`cannot read the API URL from stack ${stack}: ${(error as Error).message}`);
    }
  }
  url ??= state.readServer()?.url ?? `http://127.0.0.1:${env.SLIPWAY_PORT ?? '8080'}`;
  try {
    new URL(url);
  } catch {
    throw new CliError(`invalid API URL ${url}`);
  }
  url = url.replace(/\/+$/, '');
  const parsed = new URL(url);
  if (options.apiToken && options.apiTokenFile) throw new CliError('give --api-token or --api-token-file, not both');
  const token = options.apiToken ?? (options.apiTokenFile ? readTokenFile(options.apiTokenFile) : env.SLIPWAY_TOKEN);
  if (token) {
    if (parsed.protocol !== 'https:' && !isLoopbackUrl(parsed)) {
      throw new CliError(
        `refusing to send the admin API token over ${parsed.protocol.replace(':', '')} to ${parsed.host}: use https (plain http only to 127.0.0.1, ::1 or localhost)`,
      );
    }
    return { url, auth: { kind: 'bearer', token } };
  }
  const region = executeApiRegion(url);
  if (region) return { url, auth: { kind: 'sigv4', region } };
  if (!isLoopbackUrl(parsed)) {
    throw new CliError(
      `the local admin token is sent only to loopback URLs (127.0.0.0/8, ::1, localhost), not to ${parsed.host}: pass --api-token-file / SLIPWAY_TOKEN for that API, or unset SLIPWAY_URL / --api`,
    );
  }
  const local = state.readAdminToken();
  if (!local) {
    throw new CliError(
      `no admin token: start local mode (npm start) so it writes ${state.adminTokenFile}, or pass --api-token-file / SLIPWAY_TOKEN`,
    );
  }
  return { url, auth: { kind: 'bearer', token: local } };
}

/** GitLab calls (link, connect) may take a few round trips of up to 10 s each. */
const TIMEOUT_MS = 60_000;

/** Calls the admin API; a non-2xx answer becomes a CliError carrying the server's message. */
export async function callApi<T>(target: ApiTarget, method: string, path: string, body?: unknown): Promise<T> {
  const url = new URL(`${target.url}${path}`);
  const payload = body !== undefined ? JSON.stringify(body) : undefined;
  let headers: Record<string, string> = payload !== undefined ? { 'content-type': 'application/json' } : {};
  if (target.auth.kind === 'bearer') headers.authorization = `Bearer ${target.auth.token}`;
  else {
    try {
      headers = await signRequest(url, method, headers, payload, target.auth.region);
    } catch (error) {
      throw new CliError(`cannot sign the request with AWS credentials: ${(error as Error).message}`);
    }
  }
  let response: Response;
  try {
    response = await fetch(url, {
      method,
      headers,
      ...(payload !== undefined ? { body: payload } : {}),
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
  } catch (error) {
    const reason = (error as Error).name === 'TimeoutError' ? 'timed out' : 'unreachable';
    throw new CliError(`cannot reach Slipway at ${target.url} (${reason}): is local mode running (npm start)?`);
  }
  const text = await response.text();
  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = undefined;
  }
  if (!response.ok) {
    if (response.status === 403 || response.status === 401) {
      throw new CliError(
        `the admin API refused the credentials (${response.status}): check --api-token / SLIPWAY_TOKEN or your AWS credentials`,
      );
    }
    const answer = parsed as { error?: string; message?: string } | undefined;
    throw new CliError(answer?.error ?? answer?.message ?? `HTTP ${response.status}`);
  }
  return parsed as T;
}
