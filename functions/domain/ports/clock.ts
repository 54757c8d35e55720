/** Wall clock and randomness, injectable so tests are deterministic where they need to be. */
export interface Clock {
  now(): Date;
}
