import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CliError, isLoopbackUrl, resolveTarget } from '../../cli/api-client';
import { ValidationError } from '../../functions/domain/errors';
import { validateSystemHookToken } from '../../functions/domain/system-hook-token';

/**
 * Where the CLI sends which token (issue 13, point 8; PRODUCT.md "Security": the local admin
 * token is sent only to loopback URLs), decided before any request is made.
 */

const LOCAL_TOKEN = 'local-admin-token-from-the-state-dir';

/** A state dir holding local mode's admin token (and, if given, the URL it wrote). */
function stateDir(serverUrl?: string): string {
  const home = mkdtempSync(join(tmpdir(), 'slipway-target-'));
  writeFileSync(join(home, 'admin-token'), `${LOCAL_TOKEN}\n`, { mode: 0o600 });
  if (serverUrl) writeFileSync(join(home, 'server.json'), JSON.stringify({ url: serverUrl, pid: 1 }));
  return home;
}

describe('the local admin token goes to loopback only', () => {
  it.each([
    'http://127.0.0.1:8080',
    'http://127.42.0.9:8080/',
    'http://127.1:8080',
    'http://localhost:8080',
    'http://[::1]:8080',
    'https://localhost:8443',
  ])('sends it to %s', async (url) => {
    const target = await resolveTarget({}, { SLIPWAY_HOME: stateDir(), SLIPWAY_URL: url });

    expect(target.auth).toEqual({ kind: 'bearer', token: LOCAL_TOKEN });
  });

  it.each([
    'http://10.0.0.5:8080',
    'http://0.0.0.0:8080',
    'https://slipway.example.com',
    'http://localhost.evil.example:8080',
    'http://127.0.0.1.evil.example',
    'http://[::ffff:7f00:1]:8080',
  ])('refuses to send it to %s, before any request', async (url) => {
    const refused = resolveTarget({}, { SLIPWAY_HOME: stateDir(), SLIPWAY_URL: url });

    await expect(refused).rejects.toBeInstanceOf(CliError);
    await expect(refused).rejects.toThrow(
      /^the local admin token is sent only to loopback URLs \(127\.0\.0\.0\/8, ::1, localhost\), not to /,
    );
  });

  it('refuses it for --api and for a server.json that names another host too', async () => {
    await expect(resolveTarget({ api: 'http://192.0.2.7:8080' }, { SLIPWAY_HOME: stateDir() })).rejects.toThrow(
      /only to loopback URLs/,
    );
    await expect(resolveTarget({}, { SLIPWAY_HOME: stateDir('http://192.0.2.7:8080') })).rejects.toThrow(
      /not to 192\.0\.2\.7:8080/,
    );
    await expect(resolveTarget({}, { SLIPWAY_HOME: stateDir('http://127.0.0.1:9999') })).resolves.toEqual({
      url: 'http://127.0.0.1:9999',
      auth: { kind: 'bearer', token: LOCAL_TOKEN },
    });
  });
});

describe('a token the user gives', () => {
  it('goes to any https URL, and over plain http only to loopback', async () => {
    const env = { SLIPWAY_HOME: stateDir() };
    await expect(resolveTarget({ api: 'https://slipway.example.com', apiToken: 't' }, env)).resolves.toEqual({
      url: 'https://slipway.example.com',
      auth: { kind: 'bearer', token: 't' },
    });
    await expect(resolveTarget({}, { ...env, SLIPWAY_URL: 'http://127.0.0.1:1', SLIPWAY_TOKEN: 't' })).resolves.toEqual(
      {
        url: 'http://127.0.0.1:1',
        auth: { kind: 'bearer', token: 't' },
      },
    );
    await expect(resolveTarget({ api: 'http://slipway.example.com', apiToken: 't' }, env)).rejects.toThrow(
      /^refusing to send the admin API token over http to slipway\.example\.com: use https/,
    );
    await expect(
      resolveTarget({}, { ...env, SLIPWAY_URL: 'http://10.1.2.3:8080', SLIPWAY_TOKEN: 't' }),
    ).rejects.toThrow(/over http to 10\.1\.2\.3:8080/);
  });

  it('can come from a file (--api-token-file), kept out of argv', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'slipway-target-'));
    writeFileSync(join(dir, 'token'), 'from-a-file\n', { mode: 0o600 });
    writeFileSync(join(dir, 'empty'), '\n');
    const env = { SLIPWAY_HOME: stateDir() };

    await expect(
      resolveTarget({ api: 'https://slipway.example.com', apiTokenFile: join(dir, 'token') }, env),
    ).resolves.toMatchObject({ auth: { kind: 'bearer', token: 'from-a-file' } });
    await expect(resolveTarget({ apiTokenFile: join(dir, 'missing') }, env)).rejects.toThrow(
      /--api-token-file .*missing: ENOENT/,
    );
    await expect(resolveTarget({ apiTokenFile: join(dir, 'empty') }, env)).rejects.toThrow(/the file is empty/);
    await expect(resolveTarget({ apiToken: 'a', apiTokenFile: join(dir, 'token') }, env)).rejects.toThrow(/not both/);
  });

  it('isLoopbackUrl knows 127.0.0.0/8, ::1 and localhost only', () => {
    expect(
      ['http://127.255.255.254', 'http://[::1]', 'http://localhost'].map((u) => isLoopbackUrl(new URL(u))),
    ).toEqual([true, true, true]);
    expect(
      ['http://128.0.0.1', 'http://[::2]', 'http://localhostx', 'http://0'].map((u) => isLoopbackUrl(new URL(u))),
    ).toEqual([false, false, false, false]);
  });
});

describe('the system hook token', () => {
  it('is refused under 32 characters, with a message that does not hold it', () => {
    const short = 's3cret-but-short';
    expect(() => validateSystemHookToken(short)).toThrow(ValidationError);
    expect(() => validateSystemHookToken(short)).toThrow(
      'the system hook token is 16 characters long; it must have at least 32 (e.g. openssl rand -hex 32)',
    );
    expect(() => validateSystemHookToken('x'.repeat(32))).not.toThrow();
  });
});
