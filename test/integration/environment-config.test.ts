import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { DynamoDbStore } from '../../functions/adapters/dynamodb/store';
import { LocalVault } from '../../functions/adapters/vault/local-vault';
import { changeConfiguration, configReason, showConfiguration } from '../../functions/domain/configuration';
import { environmentConfig, MAX_CONFIG_KEYS, MAX_CONFIG_VALUE_BYTES } from '../../functions/domain/environment-config';
import { createEnvironment } from '../../functions/domain/environments';
import { NotFoundError, StaleWriteError, ValidationError } from '../../functions/domain/errors';
import { newHookId, newId } from '../../functions/domain/ids';
import type { App, EnvironmentConfig, Release } from '../../functions/domain/model';
import type { DeployConfig, Deployer, Store, Workflow } from '../../functions/domain/ports';
import { runReleaseStep } from '../../functions/domain/releases';
import { type FreshTable, freshTable } from '../support/dynamodb';

/**
 * An app environment's configuration, domain and DynamoDB store together, against DynamoDB Local
 * and the local vault: values only as ciphertext at rest (bound to app and environment), writes
 * conditional on the version, a change releasing the live images again (keys named, values
 * never), and the release step handing the opened values to the deployer.
 */

const SECRET = 'postgres://shop:s3cr3t-never-shown@db.internal/shop';

let table: FreshTable;
let store: DynamoDbStore;
const vault = LocalVault.open(join(mkdtempSync(join(tmpdir(), 'slipway-config-vault-')), 'vault.key'));

/** Records the releases it is asked to start; can be told to fail. */
class StartedReleases implements Workflow {
  started: Array<{ app: string; build: string; release?: string }> = [];
  failWith?: Error;
  async startRelease(input: { app: string; build: string; release?: string }): Promise<string> {
    if (this.failWith) throw this.failWith;
    this.started.push(input);
    return `started:${input.release}`;
  }
}
let workflow: StartedReleases;

beforeAll(async () => {
  table = await freshTable();
});

afterAll(() => {
  table?.raw.destroy();
});

beforeEach(() => {
  store = new DynamoDbStore({ tableName: table.tableName, client: table.client });
  workflow = new StartedReleases();
});

let counter = 0;
/** An app whose first environment is `staging`, plus a `production` environment. */
async function anApp(): Promise<App> {
  counter += 1;
  const app: App = {
    name: `shop-${counter}-${Math.random().toString(36).slice(2, 8)}`,
    project: 'acme/shop',
    branch: 'main',
    mode: 'superseded',
    status: 'active',
    hookId: newHookId(),
    linked: false,
    environment: 'staging',
    createdAt: '2026-11-01T10:00:00.000Z',
    updatedAt: '2026-11-01T10:00:00.000Z',
    version: 1,
  };
  await store.createApp(app);
  await createEnvironment({ store }, app, { name: 'production' });
  return app;
}

/** A release that went live in `environment` (lane: none for the first). */
async function liveRelease(app: App, environment: string): Promise<Release> {
  const release: Release = {
    id: newId(),
    app: app.name,
    status: 'deploying',
    build: newId(),
    commit: 'c'.repeat(40),
    images: { app: `sha256:${'d'.repeat(64)}` },
    createdAt: new Date().toISOString(),
    environment,
  };
  await store.createRelease(release);
  const lane = environment === app.environment ? undefined : environment;
  return store.promoteRelease(app.name, release.id, undefined, new Date().toISOString(), lane);
}

async function rawConfig(app: string, env: string): Promise<Record<string, unknown> | undefined> {
  const out = await table.client.send(
    new GetCommand({
      TableName: table.tableName,
      Key: { pk: `APP#${app}`, sk: `CONFIG#${env}` },
      ConsistentRead: true,
    }),
  );
  return out.Item;
}

const deps = () => ({ store, vault, workflow });

describe('showing and changing a configuration', () => {
  it('keeps values only as ciphertext, key names in the clear; shows values only when asked', async () => {
    const app = await anApp();

    const set = await changeConfiguration(deps(), app.name, 'staging', {
      set: { GREETING: 'hello', DATABASE_URL: SECRET },
    });

    expect(set).toMatchObject({
      app: app.name,
      environment: 'staging',
      keys: ['DATABASE_URL', 'GREETING'],
      version: 1,
    });
    expect(set.release).toBeUndefined();
    expect(JSON.stringify(set)).not.toContain('s3cr3t');
    const raw = await rawConfig(app.name, 'staging');
    expect(raw).toMatchObject({ keys: ['DATABASE_URL', 'GREETING'], version: 1, entity: 'environment-config' });
    expect(String(raw?.ciphertext)).toMatch(/^lv1:/);
    expect(JSON.stringify(raw)).not.toContain('s3cr3t');
    expect(JSON.stringify(raw)).not.toContain('hello');

    const shown = await showConfiguration(deps(), app.name, 'staging');
    expect(shown).toEqual({
      app: app.name,
      environment: 'staging',
      keys: ['DATABASE_URL', 'GREETING'],
      version: 1,
      updatedAt: expect.any(String),
    });
    const withValues = await showConfiguration(deps(), app.name, 'staging', { show: true });
    expect(withValues.values).toEqual({ DATABASE_URL: SECRET, GREETING: 'hello' });
    // Another environment has none of it.
    expect(await showConfiguration(deps(), app.name, 'production', { show: true })).toEqual({
      app: app.name,
      environment: 'production',
      keys: [],
      version: 0,
      values: {},
    });
  });

  it('merges on set, removes on unset, and counts each write; setting what is there changes nothing', async () => {
    const app = await anApp();
    await changeConfiguration(deps(), app.name, 'production', { set: { A: '1', B: '2' } });
    const second = await changeConfiguration(deps(), app.name, 'production', { set: { C: '3' }, unset: ['A'] });
    expect(second).toMatchObject({ keys: ['B', 'C'], version: 2 });
    expect((await showConfiguration(deps(), app.name, 'production', { show: true })).values).toEqual({
      B: '2',
      C: '3',
    });

    const same = await changeConfiguration(deps(), app.name, 'production', { set: { B: '2' } });
    expect(same).toMatchObject({ keys: ['B', 'C'], version: 2 });
    expect((await rawConfig(app.name, 'production'))?.version).toBe(2);

    const emptied = await changeConfiguration(deps(), app.name, 'production', { unset: ['B', 'C'] });
    expect(emptied).toMatchObject({ keys: [], version: 3 });
    expect((await showConfiguration(deps(), app.name, 'production', { show: true })).values).toEqual({});
  });

  it('binds the ciphertext to its app and environment: copied to another environment, it does not open', async () => {
    const app = await anApp();
    await changeConfiguration(deps(), app.name, 'staging', { set: { DATABASE_URL: SECRET } });
    const staging = (await store.getEnvironmentConfig(app.name, 'staging')) as EnvironmentConfig;

    await store.putEnvironmentConfig({ ...staging, environment: 'production', version: 1 }, 0);
    await expect(showConfiguration(deps(), app.name, 'production', { show: true })).rejects.toMatchObject({
      name: 'VaultError',
    });
    const other = await anApp();
    await store.putEnvironmentConfig({ ...staging, app: other.name, version: 1 }, 0);
    await expect(showConfiguration(deps(), other.name, 'staging', { show: true })).rejects.toMatchObject({
      name: 'VaultError',
    });
    // Without --show nothing is opened: the keys are listed all the same.
    expect((await showConfiguration(deps(), other.name, 'staging')).keys).toEqual(['DATABASE_URL']);
  });

  it('refuses a write on a version that moved on (409), and of two concurrent changes keeps exactly one', async () => {
    const app = await anApp();
    await changeConfiguration(deps(), app.name, 'staging', { set: { A: '1' } });
    const read = (await store.getEnvironmentConfig(app.name, 'staging')) as EnvironmentConfig;
    await changeConfiguration(deps(), app.name, 'staging', { set: { A: '2' } });

    await expect(store.putEnvironmentConfig({ ...read, version: 2 }, 1)).rejects.toThrow(StaleWriteError);
    await expect(store.putEnvironmentConfig({ ...read, version: 1 }, 0)).rejects.toThrow(/changed meanwhile/);
    expect((await showConfiguration(deps(), app.name, 'staging', { show: true })).values).toEqual({ A: '2' });

    // Both read version 2 before either writes (a gate holds the reads): one wins, one is told.
    let arrived = 0;
    let open: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    const gated = new Proxy(store, {
      get(target, property, receiver) {
        if (property === 'getEnvironmentConfig') {
          return async (...args: [string, string]) => {
            const config = await target.getEnvironmentConfig(...args);
            arrived += 1;
            if (arrived === 2) open();
            await gate;
            return config;
          };
        }
        const value = Reflect.get(target, property, receiver);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    }) as Store;
    const results = await Promise.allSettled([
      changeConfiguration({ store: gated, vault, workflow }, app.name, 'staging', { set: { B: 'x' } }),
      changeConfiguration({ store: gated, vault, workflow }, app.name, 'staging', { set: { C: 'y' } }),
    ]);
    expect(results.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
    const lost = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    expect(lost.reason).toBeInstanceOf(StaleWriteError);
    const kept = (await showConfiguration(deps(), app.name, 'staging', { show: true })).values ?? {};
    expect(Object.keys(kept).sort()).toEqual(Object.hasOwn(kept, 'B') ? ['A', 'B'] : ['A', 'C']);
    expect((await rawConfig(app.name, 'staging'))?.version).toBe(3);
  });

  it('refuses bad keys and values with a message naming the key, never the value', async () => {
    const app = await anApp();
    const refused = async (change: Parameters<typeof changeConfiguration>[3], pattern: RegExp) => {
      const error = await changeConfiguration(deps(), app.name, 'staging', change).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(ValidationError);
      expect((error as Error).message).toMatch(pattern);
      expect((error as Error).message).not.toContain('s3cr3t');
    };
    await refused({ set: { '1BAD': 's3cr3t' } }, /"1BAD" is not a variable name/);
    await refused({ set: { 'WITH-DASH': 's3cr3t' } }, /"WITH-DASH" is not a variable name/);
    await refused({ set: { __proto__x: 'ok', ['__proto__']: 's3cr3t' } as Record<string, string> }, /__proto__/);
    await refused({ set: { K: 's3cr3t\nsecond line' } }, /value of K contains a line break/);
    await refused({ set: { K: 's3cr3t\r' } }, /value of K contains a line break/);
    await refused({ set: { K: 's3cr3t\0' } }, /value of K contains a NUL/);
    await refused(
      { set: { BIG: `s3cr3t${'x'.repeat(MAX_CONFIG_VALUE_BYTES)}` } },
      /value of BIG is larger than 32 KiB/,
    );
    const many = Object.fromEntries(Array.from({ length: 31 }, (_, i) => [`K${i}`, 'v'.repeat(2048)]));
    await refused({ set: many }, /at most 60 KiB .* \(this would be 6\d KiB\)/);
    const tooMany = Object.fromEntries(Array.from({ length: MAX_CONFIG_KEYS + 1 }, (_, i) => [`K${i}`, 's3cr3t']));
    await refused({ set: tooMany }, /at most 100 keys/);
    await refused({}, /nothing to change/);
    await refused({ set: { A: 's3cr3t' }, unset: ['A'] }, /A is both set and unset/);
    await refused({ unset: ['NEVER_SET'] }, /not set in staging .*: "NEVER_SET"/);
    // Nothing was stored by any of them.
    expect(await rawConfig(app.name, 'staging')).toBeUndefined();
  });

  it('refuses an unknown app or environment (404)', async () => {
    const app = await anApp();
    await expect(changeConfiguration(deps(), 'no-such-app', 'staging', { set: { A: '1' } })).rejects.toThrow(
      NotFoundError,
    );
    await expect(changeConfiguration(deps(), app.name, 'qa', { set: { A: '1' } })).rejects.toThrow(
      /has no environment qa/,
    );
    await expect(showConfiguration(deps(), app.name, 'qa')).rejects.toThrow(NotFoundError);
  });
});

describe('a change to an environment with a live release', () => {
  it('releases its live images again: a new pending release naming the keys, never the values', async () => {
    const app = await anApp();
    const live = await liveRelease(app, 'production');
    await changeConfiguration(deps(), app.name, 'production', { set: { DEBUG: '1' } });
    workflow.started = [];

    const changed = await changeConfiguration(deps(), app.name, 'production', {
      set: { DATABASE_URL: SECRET, GREETING: 'hello' },
      unset: ['DEBUG'],
      requestedBy: 'admin',
    });

    expect(changed.release).toBeDefined();
    const release = (await store.getRelease(app.name, String(changed.release))) as Release;
    expect(release).toMatchObject({
      status: 'pending',
      environment: 'production',
      build: live.build,
      commit: live.commit,
      images: live.images,
      reason: 'configuration changed: set DATABASE_URL, GREETING, unset DEBUG',
      configChange: { version: 2, set: ['DATABASE_URL', 'GREETING'], unset: ['DEBUG'] },
      requestedBy: 'admin',
    });
    expect(JSON.stringify(release)).not.toContain('s3cr3t');
    expect(JSON.stringify(release)).not.toContain('hello');
    expect(workflow.started).toEqual([{ app: app.name, build: live.build, release: release.id }]);
    // Staging had nothing live: a change there is stored only.
    const staged = await changeConfiguration(deps(), app.name, 'staging', { set: { X: '1' } });
    expect(staged.release).toBeUndefined();
    expect(workflow.started).toHaveLength(1);
  });

  it('keeps the change when the workflow cannot start, and ends that release failed, saying why', async () => {
    const app = await anApp();
    await liveRelease(app, 'staging');
    workflow.failWith = new Error('Step Functions is down');
    await expect(changeConfiguration(deps(), app.name, 'staging', { set: { A: '1' } })).rejects.toThrow(/is down/);
    expect((await showConfiguration(deps(), app.name, 'staging')).keys).toEqual(['A']);
    const [newest] = await store.listReleases(app.name, { limit: 1 });
    expect(newest).toMatchObject({ status: 'failed', reason: expect.stringMatching(/could not be started/) });
  });

  it('names many keys in the reason only up to a bound, then counts the rest', () => {
    const keys = Array.from({ length: 100 }, (_, i) => `KEY_NUMBER_${String(i).padStart(3, '0')}`);
    const reason = configReason(keys, ['OLD']);
    expect(reason.length).toBeLessThan(700);
    expect(reason).toMatch(/^configuration changed: set KEY_NUMBER_000, KEY_NUMBER_001, .* and \d+ more$/);
  });
});

describe('the release step', () => {
  it('hands the deployer the opened configuration of the release environment, and outputs none of it', async () => {
    const app = await anApp();
    await changeConfiguration(deps(), app.name, 'production', { set: { DATABASE_URL: SECRET } });
    const release: Release = {
      id: newId(),
      app: app.name,
      status: 'pending',
      build: newId(),
      commit: 'e'.repeat(40),
      images: { app: `sha256:${'f'.repeat(64)}` },
      createdAt: new Date().toISOString(),
      environment: 'production',
    };
    await store.createRelease(release);
    const given: Array<DeployConfig | undefined> = [];
    const deployer = {
      prepare: async (_t: unknown, _i: unknown, _r: unknown, config?: DeployConfig) => {
        given.push(config);
        return { revision: 'rev-1' };
      },
    } as unknown as Deployer;

    const output = await runReleaseStep(
      { store, deployer, vault },
      { action: 'prepare', app: app.name, build: release.build, release: release.id },
    );

    expect(given).toEqual([{ environment: 'production', version: 1, values: { DATABASE_URL: SECRET } }]);
    expect(JSON.stringify(output)).not.toContain('s3cr3t');
    // The first environment (a release made before environments has none) has no configuration.
    expect(await environmentConfig({ store, vault }, app.name, {})).toBeUndefined();
    // An environment with a configuration needs the vault to open it.
    await expect(environmentConfig({ store }, app.name, { environment: 'production' })).rejects.toThrow(/no vault/);
  });
});

describe('removal', () => {
  it('deleting an environment deletes its configuration; deleting the app deletes them all', async () => {
    const app = await anApp();
    await changeConfiguration(deps(), app.name, 'production', { set: { A: '1' } });
    await changeConfiguration(deps(), app.name, 'staging', { set: { B: '2' } });

    await store.deleteEnvironment(app.name, 'production');
    expect(await rawConfig(app.name, 'production')).toBeUndefined();
    expect(await rawConfig(app.name, 'staging')).toBeDefined();

    await store.deleteApp(app.name);
    expect(await rawConfig(app.name, 'staging')).toBeUndefined();
  });
});
