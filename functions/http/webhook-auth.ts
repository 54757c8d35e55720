import { Webhook } from 'standardwebhooks';
import { matchesHash, sha256Hex } from '../domain/ids';
import type { Vault, VaultContext } from '../domain/ports';
import { HttpError, type HttpEvent, header, rawBody } from './responses';

/** Signing secrets decrypted once per cold start, keyed by ciphertext (a rotation misses). */
const signingSecrets = new Map<string, Promise<string>>();

function decryptCached(vault: Vault, ciphertext: string, context: VaultContext): Promise<string> {
  let secret = signingSecrets.get(ciphertext);
  if (!secret) {
    secret = vault.decrypt(ciphertext, context);
    secret.catch(() => signingSecrets.delete(ciphertext));
    signingSecrets.set(ciphertext, secret);
    if (signingSecrets.size > 1000) signingSecrets.delete(signingSecrets.keys().next().value as string);
  }
  return secret;
}

/** Standard-Webhooks timestamp tolerance (the library's default window, stated here). */
export const SIGNATURE_TOLERANCE_SECONDS = 5 * 60;

/**
 * Authenticates a GitLab delivery: the `X-Gitlab-Token` against the stored hash, in constant
 * time; then, when a signing secret is configured, the Standard-Webhooks signature over the
 * exact body bytes, which also bounds the timestamp. Any failure is a 401 that says little.
 *
 * Returns the delivery's `webhook-id` once its signature is verified (the id is part of what is
 * signed, so it can be trusted as a de-duplication key), as a key of at most 200 printable
 * characters (a longer or stranger id is hashed); undefined for a delivery that is not signed.
 */
export async function authenticate(
  event: HttpEvent,
  expected: { tokenHash: string | undefined; signingSecretCiphertext?: string | undefined; app?: string },
  vault: Vault,
): Promise<string | undefined> {
  if (!matchesHash(header(event, 'x-gitlab-token'), expected.tokenHash)) {
    throw new HttpError(401, 'invalid or missing X-Gitlab-Token');
  }
  if (!expected.signingSecretCiphertext) return undefined;
  const id = header(event, 'webhook-id');
  const timestamp = header(event, 'webhook-timestamp');
  const signature = header(event, 'webhook-signature');
  if (!id || !timestamp || !signature) throw new HttpError(401, 'missing webhook signature headers');
  const secret = await decryptCached(vault, expected.signingSecretCiphertext, {
    purpose: 'webhook-signing-secret',
    ...(expected.app ? { app: expected.app } : {}),
  });
  try {
    // Verify only: the body is parsed (and refused with 400/415) by the caller, not here.
    new Webhook(secret).verify(
      rawBody(event),
      { 'webhook-id': id, 'webhook-timestamp': timestamp, 'webhook-signature': signature },
      { jsonParse: false },
    );
  } catch {
    throw new HttpError(401, 'invalid webhook signature or timestamp');
  }
  return /^[\x21-\x7e]{1,200}$/.test(id) ? id : `sha256:${sha256Hex(id)}`;
}

/** GitLab's delivery id: `Idempotency-Key` (stable across redeliveries), else the event UUID. */
export function deliveryKey(event: HttpEvent): string | undefined {
  const key = header(event, 'idempotency-key') ?? header(event, 'x-gitlab-event-uuid');
  if (key === undefined) return undefined;
  const trimmed = key.trim();
  if (trimmed.length === 0 || trimmed.length > 200 || !/^[\x21-\x7e]+$/.test(trimmed)) {
    throw new HttpError(400, 'Idempotency-Key must be 1-200 printable ASCII characters');
  }
  return trimmed;
}
