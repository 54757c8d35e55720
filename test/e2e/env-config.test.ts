import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { DynamoDBClient, ScanCommand } from '@aws-sdk/client-dynamodb';
import type { ConfigurationView } from '../../cli/commands/config';
import { LOCAL_CREDENTIALS, LOCAL_REGION } from '../../functions/adapters/dynamodb/local-server';
import type { Build, Release } from '../../functions/domain/model';
import { type LinkedAppWorld, startLinkedAppWorld } from '../support/linked-app';
import { type CliResult, cli } from '../support/local';
import { until } from '../support/until';

/**
 * Per-environment configuration in local mode, end to end over the real CLI, a real build over
 * sshd and the recording docker (PRODUCT.md "Configuration"): `config set` on an environment
 * with a live release releases its images again and the new container sees the values (through
 * a 0600 env file); `config` lists keys, values only with `--show`; `unset` releases again
 * without the key; an environment with nothing live just keeps its configuration for its next
 * release. The values appear nowhere else: not in CLI output without --show, releases, the
 * state dir, the table, local mode's logs, docker's argv, GitLab or Slack.
 */

const GREETING = 'hello-from-config-7f3a';
const DATABASE_URL = 'postgres://shop:pw-e2e-9c41d@db.internal:5432/shop?sslmode=require';
const PRODUCTION_TOKEN = 'tok-production-only-51b2';
/** Every plaintext value this test sets. */
const VALUES = [GREETING, DATABASE_URL, PRODUCTION_TOKEN, 'pw-e2e-9c41d'];

type ConfigView = ConfigurationView;

describe('configuration: set, unset and show, released again with the new values', () => {
  let world: LinkedAppWorld;
  /** What local mode wrote to stdout/stderr and its log lines, while this suite ran. */
  const logged: string[] = [];
  /** Every CLI result, for the "nowhere" checks (the --show ones left out). */
  const outputs: CliResult[] = [];
  const restore: Array<() => void> = [];

  beforeAll(async () => {
    // Local mode logs everything this suite does (its logger reads the level when it is made);
    // the info and debug lines are kept here rather than printed.
    const level = process.env.POWERTOOLS_LOG_LEVEL;
    process.env.POWERTOOLS_LOG_LEVEL = 'DEBUG';
    restore.push(() => {
      if (level === undefined) delete process.env.POWERTOOLS_LOG_LEVEL;
      else process.env.POWERTOOLS_LOG_LEVEL = level;
    });
    for (const stream of [process.stdout, process.stderr]) {
      const write = stream.write;
      stream.write = function (this: unknown, chunk: unknown, ...rest: unknown[]) {
        const text = String(chunk);
        logged.push(text);
        if (/^\{"level":"(DEBUG|INFO)"/.test(text)) return true;
        return (write as (...args: unknown[]) => boolean).call(this, chunk, ...rest);
      } as typeof stream.write;
      restore.push(() => {
        stream.write = write;
      });
    }
    world = await startLinkedAppWorld({ local: { log: (line) => logged.push(line) } });
    await world.linkApp('shop', ['--environment', 'staging']);
  }, 120_000);

  afterAll(async () => {
    await world?.stop();
    for (const undo of restore) undo();
  });

  /** Runs the CLI and keeps its output for the checks at the end. */
  const run = async (...args: string[]) => {
    const out = await cli(args, world.env);
    outputs.push(out);
    return out;
  };
  const runJson = async <T>(...args: string[]) => {
    const out = await run(...args, '--json');
    if (out.code !== 0) throw new Error(`slipway ${args.join(' ')} exited ${out.code}: ${out.stderr}`);
    return JSON.parse(out.stdout) as T;
  };
  const docker = (...args: string[]) => execFileSync('docker', args, { encoding: 'utf8', env: process.env });
  const dockerRuns = () => world.dockerCalls('run');
  const containerOf = (argv: string[] | undefined) => String(argv?.[argv.indexOf('--name') + 1]);
  const liveRelease = (id: string) =>
    until(`release ${id} live`, async () => {
      const release = await world.local.store.getRelease('shop', id);
      if (release && release.status !== 'pending' && release.status !== 'deploying') return release;
      return undefined;
    });

  let first: Build;

  it('a change to staging releases its live images again; the new container sees the values from a 0600 env file', async () => {
    first = await world.pushAndRelease('shop', 'Add the greeting', 'config-push-1');
    expect(first.outcome).toBe('live');
    const runsBefore = dockerRuns().length;

    const set = await run('config', 'set', 'shop', 'staging', `GREETING=${GREETING}`, `DATABASE_URL=${DATABASE_URL}`);

    expect({ code: set.code, stderr: set.stderr }).toEqual({ code: 0, stderr: '' });
    expect(set.stdout).toMatch(
      /^KEY {11}VALUE\nDATABASE_URL {2}\*{8}\nGREETING {6}\*{8}\nreleased again as (\w{26})\n$/,
    );
    const releaseId = String(/released again as (\w{26})/.exec(set.stdout)?.[1]);
    const release = await liveRelease(releaseId);
    expect(release).toMatchObject({
      status: 'live',
      environment: 'staging',
      build: first.id,
      images: first.images,
      reason: 'configuration changed: set DATABASE_URL, GREETING',
      configChange: { version: 1, set: ['DATABASE_URL', 'GREETING'], unset: [] },
    });
    const releases = await runJson<Release[]>('releases', 'shop', '--env', 'staging');
    expect(releases.map((r) => [r.id, r.status])).toEqual([
      [releaseId, 'live'],
      [first.release, 'replaced'],
    ]);

    // One new container, run with the env file; it sees the values, the old one is gone.
    expect(dockerRuns()).toHaveLength(runsBefore + 1);
    const argv = dockerRuns().at(-1);
    const envFile = join(world.local.home, 'config', 'shop.env');
    expect(argv?.[(argv?.indexOf('--env-file') ?? -2) + 1]).toBe(envFile);
    expect(statSync(envFile).mode & 0o777).toBe(0o600);
    const container = containerOf(argv);
    expect(JSON.parse(docker('inspect', '--format', '{{json .Config.Env}}', container))).toEqual(
      expect.arrayContaining([`GREETING=${GREETING}`, `DATABASE_URL=${DATABASE_URL}`]),
    );
    expect(docker('exec', container, 'printenv', 'DATABASE_URL')).toBe(`${DATABASE_URL}\n`);
    expect(docker('ps', '-a', '--filter', 'label=slipway.app=shop', '--format', '{{.Names}}').trim()).toBe(container);
  }, 180_000);

  it('lists the keys without values, and the values only with --show', async () => {
    const shown = await run('config', 'shop', 'staging');
    expect(shown.code).toBe(0);
    expect(shown.stdout).toBe('KEY           VALUE\nDATABASE_URL  ********\nGREETING      ********\n');
    expect(await runJson<ConfigView>('config', 'shop', 'staging')).toEqual({
      app: 'shop',
      environment: 'staging',
      keys: ['DATABASE_URL', 'GREETING'],
      version: 1,
      updatedAt: expect.any(String),
    });

    // --show: kept out of `outputs`, which must never hold a value.
    const withValues = await cli(['config', 'shop', 'staging', '--show', '--json'], world.env);
    expect((JSON.parse(withValues.stdout) as ConfigView).values).toEqual({ DATABASE_URL, GREETING });
    const human = await cli(['config', 'shop', 'staging', '--show'], world.env);
    expect(human.stdout).toContain(`GREETING      ${GREETING}\n`);
  }, 60_000);

  it('unset releases again, and the key is gone from the new container', async () => {
    const unset = await runJson<ConfigView>('config', 'unset', 'shop', 'staging', 'GREETING');
    expect(unset).toMatchObject({ keys: ['DATABASE_URL'], version: 2, release: expect.any(String) });
    const release = await liveRelease(String(unset.release));
    expect(release).toMatchObject({
      status: 'live',
      reason: 'configuration changed: unset GREETING',
      configChange: { version: 2, set: [], unset: ['GREETING'] },
    });
    const container = containerOf(dockerRuns().at(-1));
    expect(() => docker('exec', container, 'printenv', 'GREETING')).toThrow();
    expect(docker('exec', container, 'printenv', 'DATABASE_URL')).toBe(`${DATABASE_URL}\n`);
    expect(readFileSync(join(world.local.home, 'config', 'shop.env'), 'utf8')).toBe(`DATABASE_URL=${DATABASE_URL}\n`);
  }, 120_000);

  it('an environment with nothing live keeps its configuration for its next release, and gets only its own', async () => {
    await runJson('envs', 'create', 'shop', 'production');
    const stored = await run('config', 'set', 'shop', 'production', `TOKEN=${PRODUCTION_TOKEN}`);
    expect(stored.code).toBe(0);
    expect(stored.stdout).toContain('stored (version 1); nothing is live in production: the next release takes it\n');
    expect(((await runJson<Release[]>('releases', 'shop', '--env', 'production')) as Release[]).length).toBe(0);

    const promoted = await runJson<Release>('promote', 'shop', '--from', 'staging', '--to', 'production', '--wait');
    expect(promoted).toMatchObject({ status: 'live', environment: 'production' });
    const argv = dockerRuns().at(-1);
    expect(argv?.[(argv?.indexOf('--env-file') ?? -2) + 1]).toBe(
      join(world.local.home, 'config', 'shop.production.env'),
    );
    const container = containerOf(argv);
    expect(container).toMatch(/^slipway-shop\.production-/);
    expect(docker('exec', container, 'printenv', 'TOKEN')).toBe(`${PRODUCTION_TOKEN}\n`);
    expect(() => docker('exec', container, 'printenv', 'DATABASE_URL')).toThrow();
  }, 120_000);

  it('refuses bad input with one line on stderr and exit 1, naming keys, never values', async () => {
    const failing = async (args: string[], pattern: RegExp) => {
      const out = await run(...args);
      expect({ code: out.code, stderr: out.stderr.trim(), stdout: out.stdout }).toEqual({
        code: 1,
        stderr: expect.stringMatching(pattern),
        stdout: '',
      });
      expect(out.stderr.trim().split('\n')).toHaveLength(1);
    };
    await failing(['config', 'set', 'shop', 'staging', '1BAD=pw-e2e-9c41d'], /"1BAD" is not a variable name/);
    await failing(
      ['config', 'set', 'shop', 'staging', 'pw-e2e-9c41d'],
      /argument 1 after the environment is not KEY=VALUE/,
    );
    await failing(['config', 'set', 'shop', 'staging', 'A=1', '=pw-e2e-9c41d'], /argument 2 .* is not KEY=VALUE/);
    await failing(['config', 'set', 'shop', 'staging', 'A=pw-e2e-9c41d\nsecond'], /value of A contains a line break/);
    await failing(
      ['config', 'set', 'shop', 'staging', `BIG=pw-e2e-9c41d${'x'.repeat(33 * 1024)}`],
      /larger than 32 KiB/,
    );
    await failing(['config', 'set', 'shop', 'qa', 'A=pw-e2e-9c41d'], /has no environment qa/);
    await failing(['config', 'shop', 'qa'], /has no environment qa/);
    await failing(['config', 'set', 'nope', 'staging', 'A=1'], /no app named nope/);
    await failing(['config', 'unset', 'shop', 'staging', 'NEVER_SET'], /not set in staging .*"NEVER_SET"/);
    const usage = await run('config', 'shop');
    expect(usage.code).toBe(2);
    // None of them changed anything.
    expect((await runJson<ConfigView>('config', 'shop', 'staging')).version).toBe(2);
  }, 60_000);

  it('answers the admin API: 202 with the release when it released again, 200 when not, 400/404 saying why', async () => {
    const api = (method: string, path: string, body?: string) =>
      fetch(`${world.local.url}/v1/apps/${path}`, {
        method,
        headers: { authorization: `Bearer ${world.local.adminToken}`, 'content-type': 'application/json' },
        ...(body !== undefined ? { body } : {}),
      });
    const patch = (path: string, body: unknown) => api('PATCH', path, JSON.stringify(body));

    const released = await patch('shop/envs/staging/config', { set: { LEVEL: 'info' } });
    expect(released.status).toBe(202);
    const view = (await released.json()) as ConfigView;
    expect(view).toMatchObject({ app: 'shop', environment: 'staging', keys: ['DATABASE_URL', 'LEVEL'], version: 3 });
    await liveRelease(String(view.release));
    const unchanged = await patch('shop/envs/staging/config', { set: { LEVEL: 'info' } });
    expect({ status: unchanged.status, body: await unchanged.json() }).toEqual({
      status: 200,
      body: expect.not.objectContaining({ release: expect.anything() }),
    });

    const refusals: Array<[Response, number, RegExp]> = [
      [await patch('shop/envs/staging/config', { set: { A: 12345 } }), 400, /^set\.A: /],
      [await api('PATCH', 'shop/envs/staging/config', '{"set": {"A": "pw-e2e-9c41d"'), 400, /JSON|body/i],
      [await patch('shop/envs/staging/config', { set: { A: 'x' }, replace: true }), 400, /replace|unrecognized/i],
      [await patch('shop/envs/staging/config', { unset: 'A' }), 400, /^unset: /],
      [await patch('nope/envs/staging/config', { set: { A: 'pw-e2e-9c41d' } }), 404, /no app named nope/],
      [await patch('shop/envs/qa/config', { set: { A: 'pw-e2e-9c41d' } }), 404, /has no environment qa/],
      [await api('GET', 'shop/envs/staging/config?show=maybe'), 400, /show must be true or false/],
    ];
    for (const [res, status, pattern] of refusals) {
      const body = (await res.json()) as { error: string };
      expect({ status: res.status, error: body.error }).toEqual({ status, error: expect.stringMatching(pattern) });
      expect(body.error).not.toContain('pw-e2e-9c41d');
    }
    // Still the configuration of before.
    expect((await runJson<ConfigView>('config', 'shop', 'staging')).version).toBe(3);
  }, 60_000);

  it('the values appear nowhere else: CLI output, releases, the state dir, the table, logs, docker argv, GitLab, Slack', async () => {
    const contains = (what: string, text: string) => {
      for (const value of VALUES) expect({ what, found: text.includes(value) }).toEqual({ what, found: false });
    };
    contains('CLI output without --show', JSON.stringify(outputs));
    contains('releases', JSON.stringify(await runJson('releases', 'shop')));

    // The state dir: only the environments' env files hold values (the vault key is random bytes).
    const home = world.local.home;
    const files = (dir: string): string[] =>
      readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
        entry.isDirectory() ? files(join(dir, entry.name)) : [join(dir, entry.name)],
      );
    const stateFiles = files(home).filter((f) => !/^config\/shop(\.production)?\.env$/.test(relative(home, f)));
    expect(stateFiles.length).toBeGreaterThan(3);
    for (const file of stateFiles) contains(relative(home, file), readFileSync(file, 'latin1'));

    // The table: configuration items hold ciphertext; nothing else holds a value.
    const client = new DynamoDBClient({
      endpoint: world.local.endpoint,
      region: LOCAL_REGION,
      credentials: LOCAL_CREDENTIALS,
    });
    try {
      const items = await client.send(new ScanCommand({ TableName: world.local.tableName }));
      const text = JSON.stringify(items.Items);
      expect(text).toContain('CONFIG#staging');
      contains('the table', text);
    } finally {
      client.destroy();
    }

    // Local mode's logs, debug level: the changes are there, by key name and version.
    contains("local mode's logs", logged.join('\n'));
    expect(logged.join('\n')).toMatch(
      /"message":"configuration changed".*"environment":"staging".*"unset":\["GREETING"\]/,
    );
    contains("docker's argv", readFileSync(world.dockerLog, 'utf8'));
    contains('GitLab', JSON.stringify(world.gitlab.requests));
    contains(
      'GitLab statuses and deployments',
      JSON.stringify([world.gitlab.statuses(world.projectId), world.gitlab.deployments(world.projectId)]),
    );
    expect(world.gitlab.deployments(world.projectId).length).toBeGreaterThan(1);
    contains('Slack', JSON.stringify(world.slack.messages));
    expect(world.slack.messages.length).toBeGreaterThan(1);
  }, 60_000);
});
