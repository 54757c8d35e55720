import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import * as client from 'openid-client';
import { type GitlabStandin, startGitlabStandin } from '../support/gitlab-standin';

/** Where GitLab sends the browser back; nothing listens there: the redirects are read, not followed. */
const REDIRECT = 'http://127.0.0.1:9/auth/gitlab/callback';
const PAT = 'glpat-standin-alice-0123456789';

interface Form {
  action: string;
  fields: Record<string, string>;
}

/** The form holding the button named `button` on a page, its hidden fields as a browser posts them. */
function formWith(html: string, button: string): Form {
  const decode = (text: string) =>
    text.replace(
      /&(amp|lt|gt|quot|#39);/g,
      (_, entity: string) => ({ amp: '&', lt: '<', gt: '>', quot: '"', '#39': "'" })[entity] ?? '',
    );
  for (const [, attributes = '', inner = ''] of html.matchAll(/<form([^>]*)>([\s\S]*?)<\/form>/g)) {
    if (!inner.includes(`<button type="submit">${button}</button>`)) continue;
    expect(attributes).toMatch(/method="post"/);
    const fields: Record<string, string> = {};
    for (const [, name = '', value = ''] of inner.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)) {
      fields[name] = decode(value);
    }
    return { action: decode(/action="([^"]+)"/.exec(attributes)?.[1] ?? ''), fields };
  }
  throw new Error(`no form with a "${button}" button in:\n${html}`);
}

/** What an OAuth failure said, whichever of openid-client's error classes carried it. */
function oauthFailure(error: unknown): { status?: number; error?: string } {
  if (error instanceof client.WWWAuthenticateChallengeError) {
    return { status: error.status, error: error.cause[0]?.parameters.error };
  }
  if (error instanceof client.ResponseBodyError) return { status: error.status, error: error.error };
  if (error instanceof client.AuthorizationResponseError) return { error: error.error };
  throw error;
}

async function failureOf(call: Promise<unknown>): Promise<{ status?: number; error?: string }> {
  return call.then(
    () => {
      throw new Error('expected the call to fail');
    },
    (error: unknown) => oauthFailure(error),
  );
}

describe('the GitLab stand-in as an OpenID Connect provider, driven by openid-client', () => {
  let gitlab: GitlabStandin;
  let app: { clientId: string; clientSecret: string };
  let alice: number;

  beforeEach(async () => {
    gitlab = await startGitlabStandin();
    gitlab.addUser({ username: 'someone-else', token: 'glpat-standin-other-0123456789', scopes: ['api'] });
    alice = gitlab.addUser({ username: 'alice', token: PAT, scopes: ['read_user'] }).id;
    app = gitlab.addOauthApplication({ redirectUri: REDIRECT, scopes: ['openid', 'read_user'] });
    gitlab.signInAs('alice');
  });

  afterEach(async () => {
    await gitlab.stop();
  });

  function discover(auth: client.ClientAuth = client.ClientSecretBasic(app.clientSecret)) {
    return client.discovery(new URL(gitlab.url), app.clientId, undefined, auth, {
      // http on loopback; and the id_token's signature checked against the JWKS.
      execute: [client.allowInsecureRequests, client.enableNonRepudiationChecks],
    });
  }

  async function signInStart(config: client.Configuration, parameters: Record<string, string> = {}) {
    const verifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const nonce = client.randomNonce();
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: REDIRECT,
      scope: 'openid read_user',
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      nonce,
      ...parameters,
    });
    return { url, verifier, state, nonce };
  }

  /** The consent page, then a click on `button`: where GitLab sends the browser. */
  async function consent(url: URL, button: 'Authorize' | 'Deny'): Promise<URL> {
    const page = await fetch(url, { redirect: 'manual' });
    expect(page.status).toBe(200);
    const form = formWith(await page.text(), button);
    const answer = await fetch(new URL(form.action, url), {
      method: 'POST',
      body: new URLSearchParams(form.fields),
      redirect: 'manual',
    });
    expect(answer.status).toBe(302);
    return new URL(answer.headers.get('location') ?? '');
  }

  it('publishes GitLab-like discovery and an RS256 JWKS', async () => {
    const answer = await fetch(`${gitlab.url}/.well-known/openid-configuration`);
    const document = (await answer.json()) as Record<string, unknown>;
    const keys = (await (await fetch(`${gitlab.url}/oauth/discovery/keys`)).json()) as { keys: client.JWK[] };

    expect(document).toMatchObject({
      issuer: gitlab.url,
      authorization_endpoint: `${gitlab.url}/oauth/authorize`,
      token_endpoint: `${gitlab.url}/oauth/token`,
      userinfo_endpoint: `${gitlab.url}/oauth/userinfo`,
      jwks_uri: `${gitlab.url}/oauth/discovery/keys`,
      response_types_supported: ['code'],
      subject_types_supported: ['public'],
      id_token_signing_alg_values_supported: ['RS256'],
      token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
      code_challenge_methods_supported: ['plain', 'S256'],
    });
    expect(document.scopes_supported).toEqual(expect.arrayContaining(['openid', 'read_user', 'api']));
    expect(document.claims_supported).toEqual(expect.arrayContaining(['sub', 'nickname', 'preferred_username']));
    expect(gitlab.url).not.toMatch(/\/$/);
    expect(keys.keys).toHaveLength(1);
    expect(keys.keys[0]).toMatchObject({ kty: 'RSA', use: 'sig', alg: 'RS256', kid: expect.any(String) });
    expect(keys.keys[0]).not.toHaveProperty('d');
    expect((await discover()).serverMetadata().issuer).toBe(gitlab.url);
  });

  it('signs alice in: consent page, code, tokens, a verified id_token and userinfo', async () => {
    const config = await discover();
    const { url, verifier, state, nonce } = await signInStart(config);

    const page = await fetch(url, { redirect: 'manual' });
    const html = await page.text();
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(html).toContain('Authorize Slipway to use your account?');
    const callback = await consent(url, 'Authorize');
    expect(`${callback.origin}${callback.pathname}`).toBe(REDIRECT);
    expect(callback.searchParams.get('state')).toBe(state);
    expect(callback.searchParams.get('code')).toMatch(/^[0-9a-f]{64}$/);

    const tokens = await client.authorizationCodeGrant(config, callback, {
      pkceCodeVerifier: verifier,
      expectedState: state,
      expectedNonce: nonce,
      idTokenExpected: true,
    });
    const claims = tokens.claims();

    expect(tokens).toMatchObject({ token_type: 'bearer', expires_in: 7200, scope: 'openid read_user' });
    expect(tokens.refresh_token).toEqual(expect.any(String));
    expect(claims).toMatchObject({ iss: gitlab.url, sub: String(alice), aud: app.clientId, nonce });
    expect(claims?.sub_legacy).toMatch(/^[0-9a-f]{64}$/);
    expect((claims?.exp ?? 0) - (claims?.iat ?? 0)).toBe(120);
    expect(claims?.auth_time).toEqual(expect.any(Number));
    // The signature, checked the way Slipway will: against the issuer's JWKS.
    const jwks = createRemoteJWKSet(new URL(`${gitlab.url}/oauth/discovery/keys`));
    const verified = await jwtVerify(tokens.id_token ?? '', jwks, { issuer: gitlab.url, audience: app.clientId });
    expect(verified.protectedHeader).toMatchObject({ alg: 'RS256', kid: expect.any(String) });
    expect(decodeProtectedHeader(tokens.id_token ?? '').kid).toBe(
      ((await (await fetch(`${gitlab.url}/oauth/discovery/keys`)).json()) as { keys: client.JWK[] }).keys[0]?.kid,
    );

    const user = await client.fetchUserInfo(config, tokens.access_token, String(alice));
    expect(user).toMatchObject({
      sub: String(alice),
      nickname: 'alice',
      preferred_username: 'alice',
      email: 'alice@example.com',
      email_verified: true,
      groups: [],
    });

    const exchange = gitlab.requests.find((r) => r.method === 'POST' && r.path === '/oauth/token');
    expect(exchange?.headers.authorization).toMatch(/^Basic /);
    expect(exchange?.body).toMatchObject({
      grant_type: 'authorization_code',
      redirect_uri: REDIRECT,
      code_verifier: verifier,
    });
    expect(exchange?.status).toBe(200);
  });

  it('takes the client secret in the body too (client_secret_post), and refuses a wrong one with 401', async () => {
    const post = await discover(client.ClientSecretPost(app.clientSecret));
    const first = await signInStart(post);
    const tokens = await client.authorizationCodeGrant(post, await consent(first.url, 'Authorize'), {
      pkceCodeVerifier: first.verifier,
      expectedState: first.state,
      expectedNonce: first.nonce,
    });
    expect(tokens.claims()?.sub).toBe(String(alice));

    const wrong = await discover(client.ClientSecretBasic('gloas-not-the-secret'));
    const second = await signInStart(wrong);
    const failure = await failureOf(
      client.authorizationCodeGrant(wrong, await consent(second.url, 'Authorize'), {
        pkceCodeVerifier: second.verifier,
        expectedState: second.state,
        expectedNonce: second.nonce,
      }),
    );
    expect(failure).toEqual({ status: 401, error: 'invalid_client' });
  });

  it('refuses a wrong code_verifier, a replayed code, an expired code and another redirect_uri', async () => {
    const config = await discover();
    const grant = async (callbackPath?: string) => {
      const started = await signInStart(config);
      const callback = await consent(started.url, 'Authorize');
      // openid-client sends as redirect_uri the URL the browser came back to, less its query.
      if (callbackPath) callback.pathname = callbackPath;
      const checks = { expectedState: started.state, expectedNonce: started.nonce };
      const run = (verifier = started.verifier) =>
        client.authorizationCodeGrant(config, callback, { ...checks, pkceCodeVerifier: verifier });
      return { run, verifier: started.verifier };
    };

    const wrongVerifier = await grant();
    expect(await failureOf(wrongVerifier.run(client.randomPKCECodeVerifier()))).toEqual({
      status: 400,
      error: 'invalid_grant',
    });

    const replayed = await grant();
    await replayed.run();
    expect(await failureOf(replayed.run())).toEqual({ status: 400, error: 'invalid_grant' });

    const expired = await grant();
    gitlab.expireAuthorizationCodes();
    expect(await failureOf(expired.run())).toEqual({ status: 400, error: 'invalid_grant' });

    const elsewhere = await grant('/auth/gitlab/other');
    expect(await failureOf(elsewhere.run())).toEqual({ status: 400, error: 'invalid_grant' });

    const exchanges = gitlab.requests.filter((r) => r.path === '/oauth/token');
    expect(exchanges.map((r) => r.status)).toEqual([400, 200, 400, 400, 400]);
    expect(exchanges[4]?.body).toMatchObject({ redirect_uri: 'http://127.0.0.1:9/auth/gitlab/other' });
  });

  it('asks for the code_verifier (invalid_request) and keeps an OAuth token off the project API', async () => {
    gitlab.addProject({ path: 'acme/web-shop', id: 42 });
    const config = await discover();
    const started = await signInStart(config);
    const callback = await consent(started.url, 'Authorize');
    const basic = `Basic ${Buffer.from(`${app.clientId}:${app.clientSecret}`).toString('base64')}`;
    const exchange = (extra: Record<string, string>) =>
      fetch(`${gitlab.url}/oauth/token`, {
        method: 'POST',
        headers: { authorization: basic },
        body: new URLSearchParams({
          grant_type: 'authorization_code',
          code: callback.searchParams.get('code') ?? '',
          redirect_uri: REDIRECT,
          ...extra,
        }),
      });

    const missing = await exchange({});
    expect([missing.status, await missing.json()]).toEqual([
      400,
      { error: 'invalid_request', error_description: 'Missing required parameter: code_verifier.' },
    ]);
    const done = await exchange({ code_verifier: started.verifier });
    const { access_token: accessToken } = (await done.json()) as { access_token: string };

    const project = await fetch(`${gitlab.url}/api/v4/projects/42`, {
      headers: { authorization: `Bearer ${accessToken}` },
    });
    const self = await fetch(`${gitlab.url}/api/v4/user`, { headers: { authorization: `Bearer ${accessToken}` } });
    const userinfoWithPat = await fetch(`${gitlab.url}/oauth/userinfo`, {
      headers: { authorization: `Bearer ${PAT}` },
    });
    const userinfoWithout = await fetch(`${gitlab.url}/oauth/userinfo`);

    expect([project.status, ((await project.json()) as { error: string }).error]).toEqual([403, 'insufficient_scope']);
    // read_user is GitLab's scope for GET /user, for an OAuth token as for a personal one.
    expect([self.status, ((await self.json()) as { username: string }).username]).toEqual([200, 'alice']);
    expect(userinfoWithPat.status).toBe(401);
    expect(userinfoWithout.status).toBe(401);
  });

  it('sends Deny back as access_denied with the state', async () => {
    const config = await discover();
    const { url, verifier, state, nonce } = await signInStart(config);

    const callback = await consent(url, 'Deny');

    expect(callback.searchParams.get('error')).toBe('access_denied');
    expect(callback.searchParams.get('error_description')).toBe(
      'The resource owner or authorization server denied the request.',
    );
    expect(callback.searchParams.get('state')).toBe(state);
    expect(callback.searchParams.has('code')).toBe(false);
    expect(callback.search).toContain(
      'error_description=The+resource+owner+or+authorization+server+denied+the+request.',
    );
    const failure = await failureOf(
      client.authorizationCodeGrant(config, callback, {
        pkceCodeVerifier: verifier,
        expectedState: state,
        expectedNonce: nonce,
      }),
    );
    expect(failure).toEqual({ error: 'access_denied' });
  });

  it('answers an unregistered redirect_uri or an unknown client with a 400 page, never a redirect', async () => {
    const config = await discover();
    const wrongUri = await signInStart(config, { redirect_uri: 'http://127.0.0.1:9/evil' });
    const unknown = new URL(wrongUri.url);
    unknown.searchParams.set('client_id', 'not-an-application');
    unknown.searchParams.set('redirect_uri', REDIRECT);

    for (const url of [wrongUri.url, unknown]) {
      const answer = await fetch(url, { redirect: 'manual' });
      expect(answer.status).toBe(400);
      expect(answer.headers.get('location')).toBeNull();
      expect(answer.headers.get('content-type')).toMatch(/^text\/html/);
    }
    const pages = await Promise.all([wrongUri.url, unknown].map(async (url) => (await fetch(url)).text()));
    expect(pages[0]).toContain('redirect uri');
    expect(pages[1]).toContain('unknown client');
  });

  it('sends the other authorization errors back to the redirect URI, with the state', async () => {
    const config = await discover();
    const cases: Array<[Record<string, string>, string]> = [
      [{ scope: 'openid api' }, 'invalid_scope'],
      [{ response_type: 'token' }, 'unsupported_response_type'],
      [{ code_challenge_method: 'plain' }, 'invalid_request'],
      [{ code_challenge: '' }, 'invalid_request'],
    ];
    for (const [parameters, error] of cases) {
      const { url, state } = await signInStart(config, parameters);
      const answer = await fetch(url, { redirect: 'manual' });
      expect(answer.status).toBe(302);
      const location = new URL(answer.headers.get('location') ?? '');
      expect(`${location.origin}${location.pathname}`).toBe(REDIRECT);
      expect([location.searchParams.get('error'), location.searchParams.get('state')]).toEqual([error, state]);
      expect(location.searchParams.get('error_description')).toEqual(expect.any(String));
    }
  });

  it('asks a browser nobody signed in to sign in, and refuses a consent post it did not show', async () => {
    const config = await discover();
    const { url } = await signInStart(config);
    const page = await (await fetch(url)).text();
    const form = formWith(page, 'Authorize');
    const post = (fields: Record<string, string>) =>
      fetch(new URL(form.action, url), { method: 'POST', body: new URLSearchParams(fields), redirect: 'manual' });

    const forged = await post({ ...form.fields, authenticity_token: 'guessed' });
    const tampered = await post({ ...form.fields, scope: 'openid' });
    // The token was used up by the tampered post, though it failed.
    const replayed = await post(form.fields);
    gitlab.signInAs(undefined);
    const signedOut = await fetch(url, { redirect: 'manual' });

    expect([forged.status, forged.headers.get('location')]).toEqual([422, null]);
    expect([tampered.status, tampered.headers.get('location')]).toEqual([422, null]);
    expect([replayed.status, replayed.headers.get('location')]).toEqual([422, null]);
    expect(signedOut.status).toBe(401);
    expect(await signedOut.text()).toContain('You need to sign in');
  });

  it('redirects with a code at once when told to auto-approve', async () => {
    gitlab.autoApprove(true);
    const config = await discover();
    const { url, verifier, state, nonce } = await signInStart(config);

    const answer = await fetch(url, { redirect: 'manual' });
    expect(answer.status).toBe(302);
    const tokens = await client.authorizationCodeGrant(config, new URL(answer.headers.get('location') ?? ''), {
      pkceCodeVerifier: verifier,
      expectedState: state,
      expectedNonce: nonce,
    });
    expect(tokens.claims()?.sub).toBe(String(alice));
  });
});
