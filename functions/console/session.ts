import { randomBytes, timingSafeEqual } from 'node:crypto';
import { EncryptJWT, jwtDecrypt } from 'jose';

/**
 * The console's cookies: the session (who signed in, for at most 8 h) and the sign-in
 * transaction (PKCE verifier, state, nonce for 10 min). Both are JWEs (`dir` + `A256GCM`)
 * under a 32-byte key only Slipway holds, so they can be neither read nor forged.
 */

export const SESSION_COOKIE = 'slipway_session';
export const SIGN_IN_COOKIE = 'slipway_signin';
export const SESSION_SECONDS = 8 * 60 * 60;
export const SIGN_IN_SECONDS = 10 * 60;
export const SIGN_IN_PATH = '/auth/gitlab';

export interface Session {
  /** GitLab's user id (the OIDC `sub`). */
  sub: string;
  username: string;
  /** Anti-forgery token every console POST must carry. */
  csrf: string;
  /** When the session ends (epoch seconds). */
  exp: number;
}

export interface SignInTransaction {
  state: string;
  nonce: string;
  verifier: string;
}

const PURPOSE_SESSION = 'slipway-console-session';
const PURPOSE_SIGN_IN = 'slipway-console-sign-in';

export class SessionSealer {
  constructor(
    private readonly key: Uint8Array,
    private readonly now: () => Date = () => new Date(),
  ) {
    if (key.length !== 32) throw new Error('the session key must be 32 bytes');
  }

  async sealSession(user: { sub: string; username: string }): Promise<{ value: string; session: Session }> {
    const iat = Math.floor(this.now().getTime() / 1000);
    const session: Session = { ...user, csrf: randomBytes(24).toString('base64url'), exp: iat + SESSION_SECONDS };
    return { value: await this.seal(PURPOSE_SESSION, { ...session }, iat, session.exp), session };
  }

  async openSession(value: string | undefined): Promise<Session | undefined> {
    const payload = await this.open(value, PURPOSE_SESSION);
    if (!payload) return undefined;
    const { sub, username, csrf, exp } = payload;
    if (
      typeof sub !== 'string' ||
      typeof username !== 'string' ||
      typeof csrf !== 'string' ||
      typeof exp !== 'number'
    ) {
      return undefined;
    }
    return { sub, username, csrf, exp };
  }

  async sealSignIn(transaction: SignInTransaction): Promise<string> {
    const iat = Math.floor(this.now().getTime() / 1000);
    return this.seal(PURPOSE_SIGN_IN, { ...transaction }, iat, iat + SIGN_IN_SECONDS);
  }

  async openSignIn(value: string | undefined): Promise<SignInTransaction | undefined> {
    const payload = await this.open(value, PURPOSE_SIGN_IN);
    if (!payload) return undefined;
    const { state, nonce, verifier } = payload;
    if (typeof state !== 'string' || typeof nonce !== 'string' || typeof verifier !== 'string') return undefined;
    return { state, nonce, verifier };
  }

  private seal(purpose: string, claims: Record<string, unknown>, iat: number, exp: number): Promise<string> {
    return new EncryptJWT(claims)
      .setProtectedHeader({ alg: 'dir', enc: 'A256GCM' })
      .setAudience(purpose)
      .setIssuedAt(iat)
      .setExpirationTime(exp)
      .encrypt(this.key);
  }

  private async open(value: string | undefined, purpose: string): Promise<Record<string, unknown> | undefined> {
    if (!value || value.length > 4096) return undefined;
    try {
      const { payload } = await jwtDecrypt(value, this.key, {
        audience: purpose,
        currentDate: this.now(),
        keyManagementAlgorithms: ['dir'],
        contentEncryptionAlgorithms: ['A256GCM'],
      });
      return payload as Record<string, unknown>;
    } catch {
      return undefined;
    }
  }
}

/** Constant-time comparison of two tokens. */
export function sameToken(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

export interface CookieOptions {
  path: string;
  maxAge: number;
  secure: boolean;
}

/** A Set-Cookie value: HttpOnly and SameSite=Lax always, Secure unless on plain-http loopback. */
export function cookie(name: string, value: string, options: CookieOptions): string {
  return [
    `${name}=${value}`,
    `Path=${options.path}`,
    `Max-Age=${Math.max(0, Math.floor(options.maxAge))}`,
    'HttpOnly',
    'SameSite=Lax',
    ...(options.secure ? ['Secure'] : []),
  ].join('; ');
}

/** The cookies a request carries, by name (API Gateway v2 gives `cookies`; a plain header also works). */
export function readCookies(cookies: string[] | undefined, header: string | undefined): Map<string, string> {
  const found = new Map<string, string>();
  const pairs = [...(cookies ?? []), ...(header ? header.split(';') : [])];
  for (const pair of pairs) {
    const at = pair.indexOf('=');
    if (at <= 0) continue;
    const name = pair.slice(0, at).trim();
    if (!found.has(name)) found.set(name, pair.slice(at + 1).trim());
  }
  return found;
}

/** Cookies are Secure unless Slipway is reached over plain http on loopback (local mode). */
export function secureCookies(publicUrl: string): boolean {
  const url = new URL(publicUrl);
  if (url.protocol === 'https:') return true;
  return !['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname);
}
