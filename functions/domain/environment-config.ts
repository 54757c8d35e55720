import { environmentOf } from './environments';
import { NotFoundError, ValidationError } from './errors';
import type { EnvironmentConfig, Release } from './model';
import type { DeployConfig, Store, Vault, VaultContext } from './ports';

/**
 * An app environment's configuration at rest (docs/ENVIRONMENTS.md, "Configuration"): what a
 * key and a value may be, how the values are sealed, and how the release step opens them for the
 * deployer. The commands that change it are in configuration.ts.
 *
 * Values are sealed as one JSON object, vault purpose `env-config`, bound to the app and the
 * environment: a ciphertext copied to another environment's item does not open there.
 */

/** A key: a shell-style variable name, at most 128 characters. */
export const CONFIG_KEY = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;
export const MAX_CONFIG_KEYS = 100;
/** Per value, in UTF-8 bytes. */
export const MAX_CONFIG_VALUE_BYTES = 32 * 1024;
/** All values together as the JSON object that goes to Secrets Manager (which takes 64 KiB), in bytes. */
export const MAX_CONFIG_BYTES = 60 * 1024;

export function configContext(app: string, environment: string): VaultContext {
  return { purpose: 'env-config', app, environment };
}

/** A key as an error message may show it: it may be anything the caller sent, so kept short. */
export function shownKey(key: string): string {
  return JSON.stringify(key.length > 64 ? `${key.slice(0, 64)}…` : key);
}

/** Refuses a key that is not a variable name. */
export function checkKey(key: string): void {
  // `__proto__` is a variable name, but not one a plain object can hold as a key.
  if (!CONFIG_KEY.test(key) || key === '__proto__') {
    throw new ValidationError(
      `configuration key ${shownKey(key)} is not a variable name (letters, digits and _, not starting with a digit, at most 128)`,
    );
  }
}

/**
 * Refuses a value a container cannot be given: a line break (env files hold one line per
 * variable, and so do most tools that print an environment), NUL (no process environment holds
 * one), or more than MAX_CONFIG_VALUE_BYTES. The message names the key, never the value.
 */
export function checkValue(key: string, value: unknown): asserts value is string {
  if (typeof value !== 'string') throw new ValidationError(`the value of ${key} must be a string`);
  if (/[\r\n]/.test(value)) {
    throw new ValidationError(`the value of ${key} contains a line break: a value must be one line`);
  }
  if (value.includes('\0')) throw new ValidationError(`the value of ${key} contains a NUL character`);
  if (Buffer.byteLength(value, 'utf8') > MAX_CONFIG_VALUE_BYTES) {
    throw new ValidationError(`the value of ${key} is larger than ${MAX_CONFIG_VALUE_BYTES / 1024} KiB`);
  }
}

/** Refuses a whole configuration over the limits (number of keys, total size). */
export function checkTotals(values: Record<string, string>): void {
  const count = Object.keys(values).length;
  if (count > MAX_CONFIG_KEYS) {
    throw new ValidationError(`a configuration holds at most ${MAX_CONFIG_KEYS} keys (this would be ${count})`);
  }
  const bytes = Buffer.byteLength(JSON.stringify(values), 'utf8');
  if (bytes > MAX_CONFIG_BYTES) {
    throw new ValidationError(
      `a configuration holds at most ${MAX_CONFIG_BYTES / 1024} KiB of keys and values together (this would be ${Math.ceil(bytes / 1024)} KiB)`,
    );
  }
}

/** The values, keys sorted (so the JSON sealed, and what the deployer writes, are in a stable order). */
export function sortedValues(values: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(values).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** Opens a stored configuration's values. */
export async function openConfig(vault: Vault, config: EnvironmentConfig): Promise<Record<string, string>> {
  const text = await vault.decrypt(config.ciphertext, configContext(config.app, config.environment));
  const parsed: unknown = JSON.parse(text);
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new Error(`the configuration of ${config.environment} (app ${config.app}) is not an object`);
  }
  return Object.fromEntries(
    Object.entries(parsed).filter((entry): entry is [string, string] => typeof entry[1] === 'string'),
  );
}

/** Seals values for an environment. */
export function sealConfig(
  vault: Vault,
  app: string,
  environment: string,
  values: Record<string, string>,
): Promise<string> {
  return vault.encrypt(JSON.stringify(sortedValues(values)), configContext(app, environment));
}

/**
 * What the release step hands the deployer: the configuration of the environment the release
 * goes to, opened; undefined when that environment has none (never set). Needs the vault only
 * when there is one.
 */
export async function environmentConfig(
  deps: { store: Pick<Store, 'getApp' | 'getEnvironmentConfig'>; vault?: Vault },
  appName: string,
  release: Pick<Release, 'environment'>,
): Promise<DeployConfig | undefined> {
  const app = await deps.store.getApp(appName);
  if (!app) throw new NotFoundError(`no app named ${appName}`);
  const stored = await deps.store.getEnvironmentConfig(app.name, environmentOf(app, release));
  if (!stored) return undefined;
  if (!deps.vault)
    throw new Error(`the configuration of app ${app.name} cannot be opened: the release steps have no vault`);
  return {
    environment: stored.environment,
    version: stored.version,
    values: sortedValues(await openConfig(deps.vault, stored)),
  };
}
