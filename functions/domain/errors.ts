/** Typed domain errors. Callers map them to HTTP codes or CLI exits; none carries a secret. */

export class DomainError extends Error {
  override name = 'DomainError';
}

export class NotFoundError extends DomainError {
  override name = 'NotFoundError';
}

export class ConflictError extends DomainError {
  override name = 'ConflictError';
}

export class ValidationError extends DomainError {
  override name = 'ValidationError';
}

/** Allowed to others, not to this person (e.g. approving one's own release where the rule forbids it). */
export class ForbiddenError extends DomainError {
  override name = 'ForbiddenError';
}

export class IllegalTransitionError extends DomainError {
  override name = 'IllegalTransitionError';
  constructor(
    readonly kind: 'build' | 'release',
    readonly from: string,
    readonly to: string,
  ) {
    super(`illegal ${kind} transition ${from} → ${to}`);
  }
}

/** A conditional write lost a race: the item changed since it was read. */
export class StaleWriteError extends DomainError {
  override name = 'StaleWriteError';
}

/** A GitLab call failed. `kind` says why in terms a user can act on. */
export class GitlabError extends DomainError {
  override name = 'GitlabError';
  constructor(
    readonly kind: 'unauthorized' | 'forbidden' | 'not_found' | 'invalid' | 'unreachable' | 'failed',
    message: string,
    readonly status?: number,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/**
 * A failure worth retrying (throttling, a lost race, a 5xx, a dropped connection). Its `name`
 * is `TransientError`, so a Step Functions `Retry` on `ErrorEquals: ["TransientError"]` matches it.
 */
export class TransientError extends Error {
  override name = 'TransientError';
}

/**
 * The vault refuses a ciphertext: not one of its own, tampered with, or sealed for another
 * purpose, app or instance (KMS's InvalidCiphertextException, the local vault's failed tag check).
 */
export class VaultError extends Error {
  override name = 'VaultError';
}
