import * as client from 'openid-client';

/**
 * Signing in with GitLab as an OpenID Connect provider, through `openid-client` (discovery,
 * PKCE S256, state and nonce, id_token verification against the instance's JWKS).
 */

export const SCOPES = 'openid read_user';

export interface OidcSettings {
  /** The GitLab instance (the issuer), e.g. https://gitlab.example.com. */
  issuer: string;
  clientId: string;
  clientSecret: string;
  /** `${publicUrl}/auth/gitlab/callback`. */
  redirectUri: string;
}

/** Why a sign-in did not complete, in words a user can act on. */
export type SignInFailureKind = 'denied' | 'state' | 'code' | 'unreachable' | 'provider';

export class SignInError extends Error {
  override name = 'SignInError';
  constructor(
    readonly kind: SignInFailureKind,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

const DISCOVERY_TTL_MS = 10 * 60 * 1000;
const TIMEOUT_S = 10;
const discovered = new Map<string, { config: Promise<client.Configuration>; at: number }>();

/** The discovered configuration, cached per issuer and client for 10 min (a failure is not cached). */
function configuration(settings: OidcSettings): Promise<client.Configuration> {
  const key = `${settings.issuer}\n${settings.clientId}\n${settings.clientSecret}`;
  const cached = discovered.get(key);
  if (cached && Date.now() - cached.at < DISCOVERY_TTL_MS) return cached.config;
  const insecure = new URL(settings.issuer).protocol === 'http:';
  const config = client.discovery(
    new URL(settings.issuer),
    settings.clientId,
    undefined,
    client.ClientSecretBasic(settings.clientSecret),
    {
      timeout: TIMEOUT_S,
      // Plain http only when the connection itself is http: `gitlab connect` takes that only with
      // --allow-http (or on loopback), the same opt-in for the console.
      ...(insecure ? { execute: [client.allowInsecureRequests] } : {}),
    },
  );
  discovered.set(key, { config, at: Date.now() });
  config.catch(() => discovered.delete(key));
  return config;
}

/** Starts a sign-in: where to send the browser, and what to remember until it comes back. */
export async function beginSignIn(
  settings: OidcSettings,
): Promise<{ url: string; transaction: { state: string; nonce: string; verifier: string } }> {
  const config = await configuration(settings).catch((error) => {
    throw classify(error);
  });
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: settings.redirectUri,
    scope: SCOPES,
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    nonce,
  });
  return { url: url.href, transaction: { state, nonce, verifier } };
}

/**
 * Completes a sign-in from the callback's query: swaps the code (with the PKCE verifier),
 * verifies the id_token and its nonce, and reads the username. GitLab's tokens are dropped
 * here; only who signed in is returned.
 */
export async function completeSignIn(
  settings: OidcSettings,
  query: string,
  transaction: { state: string; nonce: string; verifier: string },
): Promise<{ sub: string; username: string }> {
  const config = await configuration(settings).catch((error) => {
    throw classify(error);
  });
  const callback = new URL(settings.redirectUri);
  callback.search = query;
  try {
    const tokens = await client.authorizationCodeGrant(config, callback, {
      pkceCodeVerifier: transaction.verifier,
      expectedState: transaction.state,
      expectedNonce: transaction.nonce,
      idTokenExpected: true,
    });
    const claims = tokens.claims();
    if (!claims?.sub) throw new SignInError('provider', 'GitLab sent no identity (id_token without sub)');
    const info = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
    const username = [info.nickname, info.preferred_username, claims.nickname, claims.preferred_username].find(
      (v): v is string => typeof v === 'string' && v.length > 0,
    );
    if (!username) throw new SignInError('provider', 'GitLab did not say who you are (no username)');
    return { sub: claims.sub, username };
  } catch (error) {
    throw classify(error);
  }
}

function classify(error: unknown): SignInError {
  if (error instanceof SignInError) return error;
  if (error instanceof client.AuthorizationResponseError) {
    return error.error === 'access_denied'
      ? new SignInError('denied', 'You did not allow Slipway to use your GitLab account.', { cause: error })
      : new SignInError('provider', `GitLab refused the sign-in (${error.error}).`, { cause: error });
  }
  if (error instanceof client.ResponseBodyError) {
    return error.error === 'invalid_grant'
      ? new SignInError('code', 'The sign-in code was already used or has expired.', { cause: error })
      : new SignInError('provider', `GitLab refused the sign-in (${error.error}).`, { cause: error });
  }
  const code = (error as { code?: string }).code;
  if (isNetworkFailure(error)) return new SignInError('unreachable', 'GitLab could not be reached.', { cause: error });
  if (code === 'OAUTH_JSON_ATTRIBUTE_COMPARISON_FAILED' || /state/i.test((error as Error).message ?? '')) {
    return new SignInError('state', 'The sign-in response did not match the sign-in that was started.', {
      cause: error,
    });
  }
  return new SignInError('provider', 'GitLab answered the sign-in in a way Slipway cannot verify.', {
    cause: error,
  });
}

/** fetch's failures (refused, reset, timed out), however deep openid-client wrapped them. */
function isNetworkFailure(error: unknown): boolean {
  let current = error as { name?: string; message?: string; code?: string; cause?: unknown } | undefined;
  for (let depth = 0; current && depth < 6; depth++) {
    // By name, not instanceof: fetch's errors may come from another realm (a test VM, say).
    if (current.name === 'TypeError' && /fetch failed/i.test(current.message ?? '')) return true;
    if (current.name === 'TimeoutError' || current.name === 'AbortError') return true;
    if (
      ['ECONNREFUSED', 'ENOTFOUND', 'ECONNRESET', 'ETIMEDOUT', 'EAI_AGAIN', 'UND_ERR_SOCKET'].includes(
        current.code ?? '',
      )
    ) {
      return true;
    }
    current = current.cause as typeof current;
  }
  return false;
}
