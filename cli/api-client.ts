import { StateDir } from '../functions/local/state-dir';

/** A CLI failure: one clear line on stderr, exit 1. */
export class CliError extends Error {
  override name = 'CliError';
}

export interface ApiTarget {
  url: string;
  token: string;
}

export interface ApiOptions {
  api?: string;
  apiToken?: string;
}

/**
 * Finds the admin API: `--api`/`--api-token`, else `SLIPWAY_URL`/`SLIPWAY_TOKEN`, else the
 * local state dir (the URL local mode wrote, or the default port, and its admin token).
 */
export function resolveTarget(options: ApiOptions, env: NodeJS.ProcessEnv = process.env): ApiTarget {
  const state = new StateDir(env.SLIPWAY_HOME ?? '.slipway');
  const url =
    options.api ?? env.SLIPWAY_URL ?? state.readServer()?.url ?? `http://127.0.0.1:${env.SLIPWAY_PORT ?? '8080'}`;
  try {
    new URL(url);
  } catch {
    throw new CliError(`invalid API URL ${url}`);
  }
  const token = options.apiToken ?? env.SLIPWAY_TOKEN ?? state.readAdminToken();
  if (!token) {
    throw new CliError(
      `no admin token: start local mode (npm start) so it writes ${state.adminTokenFile}, or pass --api-token / SLIPWAY_TOKEN`,
    );
  }
  return { url: url.replace(/\/+$/, ''), token };
}

const TIMEOUT_MS = 15_000;

/** Calls the admin API; a non-2xx answer becomes a CliError carrying the server's message. */
export async function callApi<T>(target: ApiTarget, method: string, path: string, body?: unknown): Promise<T> {
  let response: Response;
  try {
    response = await fetch(`${target.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${target.token}`,
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
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
    const message =
      (parsed as { error?: string; message?: string } | undefined)?.error ??
      (parsed as { message?: string } | undefined)?.message ??
      `HTTP ${response.status}`;
    if (response.status === 403 || response.status === 401) {
      throw new CliError(`the admin API refused the token (${response.status}): check --api-token / SLIPWAY_TOKEN`);
    }
    throw new CliError(message);
  }
  return parsed as T;
}
