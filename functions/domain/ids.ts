import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/**
 * A ULID: 48-bit millisecond time + 80 random bits, Crockford base32, 26 characters.
 * Sorts by creation time, so "newest first" is a reverse key order.
 */
export function newId(now: Date = new Date()): string {
  const head = idTimePrefix(now);
  const bytes = randomBytes(10);
  let bits = 0n;
  for (const b of bytes) bits = (bits << 8n) | BigInt(b);
  let tail = '';
  for (let i = 0; i < 16; i++) {
    tail = CROCKFORD[Number(bits & 31n)] + tail;
    bits >>= 5n;
  }
  return head + tail;
}

/**
 * The first 10 characters of every id made at `at` (its millisecond time): ids made at or
 * after `at` sort at or after this prefix, so a key range from it reads "created since".
 */
export function idTimePrefix(at: Date): string {
  let time = Math.max(0, at.getTime());
  let head = '';
  for (let i = 0; i < 10; i++) {
    head = CROCKFORD[time % 32] + head;
    time = Math.floor(time / 32);
  }
  return head;
}

export const ID_PATTERN = /^[0-9A-HJKMNP-TV-Z]{26}$/;

/** An unguessable URL-safe token of `bytes` random bytes. */
export function randomToken(bytes = 32): string {
  return randomBytes(bytes).toString('base64url');
}

/** Hook ids: 144 random bits, URL-safe; they are in the URL GitLab calls. */
export function newHookId(): string {
  return randomToken(18);
}

export const HOOK_ID_PATTERN = /^[A-Za-z0-9_-]{16,64}$/;

/** A Standard-Webhooks signing secret: `whsec_` + base64 of 32 random bytes. */
export function newSigningSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`;
}

export function sha256Hex(value: string): string {
  return createHash('sha256').update(value, 'utf8').digest('hex');
}

/**
 * Checks `presented` against a stored SHA-256 hex digest in constant time.
 * Hashing first makes both sides the same length whatever was presented.
 */
export function matchesHash(presented: string | undefined, storedHashHex: string | undefined): boolean {
  if (presented === undefined || storedHashHex === undefined) return false;
  const a = createHash('sha256').update(presented, 'utf8').digest();
  const b = Buffer.from(storedHashHex, 'hex');
  return b.length === a.length && timingSafeEqual(a, b);
}
