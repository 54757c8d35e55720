import { createCipheriv, randomBytes } from 'node:crypto';
import { createGitlabApi } from '../../functions/adapters/gitlab/gitbeaker-client';
import { generateDeployKey } from '../../functions/adapters/ssh/deploy-key';
import { parseKnownHosts } from '../../functions/adapters/ssh/known-hosts';
import { LocalVault } from '../../functions/adapters/vault/local-vault';
import { ValidationError } from '../../functions/domain/errors';
import {
  type BuildRights,
  connected,
  connectGitlab,
  type GitlabDeps,
  GitlabTokenSealError,
  linkApp,
  normaliseGitlabUrl,
  oauthSecretContext,
  openGitlabToken,
  setOauthApplication,
  sshHostOf,
  unlinkApp,
} from '../../functions/domain/gitlab-link';
import type { App, GitlabConnection } from '../../functions/domain/model';
import type { Store } from '../../functions/domain/ports';
import { type GitlabStandin, startGitlabStandin } from '../support/gitlab-standin';

describe('GitLab URLs', () => {
  it('keeps https URLs, without a trailing slash, sub-path installs included', () => {
    expect(normaliseGitlabUrl('https://gitlab.example.com/', false)).toBe('https://gitlab.example.com');
    expect(normaliseGitlabUrl('https://example.com/gitlab/', false)).toBe('https://example.com/gitlab');
  });

  it('refuses http unless allowed, other schemes, credentials and garbage', () => {
    expect(() => normaliseGitlabUrl('http://gitlab.local', false)).toThrow(/--allow-http/);
    expect(normaliseGitlabUrl('http://gitlab.local', true)).toBe('http://gitlab.local');
    expect(() => normaliseGitlabUrl('ftp://gitlab.local', true)).toThrow(ValidationError);
    expect(() => normaliseGitlabUrl('https://user:pw@gitlab.local', false)).toThrow(/credentials/);
    expect(() => normaliseGitlabUrl('not a url', false)).toThrow(/invalid GitLab URL/);
  });

  it('reads the known_hosts name of scp-style and ssh:// clone URLs', () => {
    expect(sshHostOf('git@gitlab.example.com:group/app.git')).toBe('gitlab.example.com');
    expect(sshHostOf('ssh://git@gitlab.example.com/group/app.git')).toBe('gitlab.example.com');
    expect(sshHostOf('ssh://git@gitlab.example.com:2222/group/app.git')).toBe('[gitlab.example.com]:2222');
    expect(sshHostOf('ssh://git@127.0.0.1:22/group/app.git')).toBe('127.0.0.1');
    expect(() => sshHostOf('https://gitlab.example.com/group/app.git')).toThrow(ValidationError);
  });
});

describe('the GitLab token, bound to its instance', () => {
  const TOKEN = 'glpat-boundToItsInstance00001';
  let real: GitlabStandin;
  let other: GitlabStandin;
  let stored: GitlabConnection | undefined;
  const vault = LocalVault.fromKey(randomBytes(32));
  const store = {
    getGitlabConnection: async () => (stored ? { ...stored } : undefined),
    putGitlabConnection: async (connection: GitlabConnection) => {
      stored = { ...connection };
    },
  } as unknown as Store;
  const deps = (): GitlabDeps => ({
    store,
    vault,
    gitlab: createGitlabApi,
    keys: { generate: generateDeployKey },
    knownHosts: { entries: (text) => parseKnownHosts(text).map(({ hosts, fingerprint }) => ({ hosts, fingerprint })) },
  });
  const hostKey = () => `127.0.0.1 ${generateDeployKey('host').publicKey.split(' ').slice(0, 2).join(' ')}`;

  beforeAll(async () => {
    [real, other] = await Promise.all([startGitlabStandin(), startGitlabStandin()]);
    for (const gitlab of [real, other]) gitlab.addUser({ username: 'deployer', token: TOKEN, scopes: ['api'] });
  });
  afterAll(async () => Promise.all([real?.stop(), other?.stop()]));

  beforeEach(async () => {
    stored = undefined;
    await connectGitlab(deps(), { url: real.url, token: TOKEN, allowHttp: true, knownHosts: hostKey() });
    real.requests.length = 0;
    other.requests.length = 0;
  });

  it('opens for the URL it was connected to', async () => {
    const { api } = await connected(deps());
    expect((await api.inspectToken()).username).toBe('deployer');
    expect(real.requests.length).toBeGreaterThan(0);
  });

  it('a changed URL in the table makes decryption fail and no request reaches the other URL', async () => {
    stored = { ...(stored as GitlabConnection), url: other.url };

    await expect(connected(deps())).rejects.toThrow(
      /does not open for http:\/\/127\.0\.0\.1:\d+.*reconnect with slipway gitlab connect/,
    );
    await expect(connected(deps())).rejects.toBeInstanceOf(GitlabTokenSealError);
    expect(other.requests).toEqual([]);
    expect(real.requests).toEqual([]);
  });

  it('a URL differing only in form (a trailing slash, another port) does not open it either', async () => {
    for (const url of [`${real.url}/`, real.url.replace(/:(\d+)$/, (_, p) => `:${Number(p) + 1}`)]) {
      stored = { ...(stored as GitlabConnection), url };
      await expect(openGitlabToken(vault, stored)).rejects.toBeInstanceOf(GitlabTokenSealError);
    }
  });

  it('refuses a token sealed before tokens were bound to their instance, telling to reconnect', async () => {
    // The ciphertext an earlier version stored: AES-GCM with only the purpose as AAD.
    const key = randomBytes(32);
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', key, iv);
    cipher.setAAD(Buffer.from(JSON.stringify({ purpose: 'gitlab-token' })));
    const body = Buffer.concat([cipher.update(TOKEN, 'utf8'), cipher.final()]);
    const legacy = `lv1:${Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url')}`;
    const connection = { ...(stored as GitlabConnection), tokenCiphertext: legacy };

    await expect(openGitlabToken(LocalVault.fromKey(key), connection)).rejects.toThrow(
      /before tokens were bound to their instance; reconnect with slipway gitlab connect/,
    );
  });

  it('seals the OAuth client secret with the instance too', async () => {
    await setOauthApplication(
      deps(),
      { clientId: 'client-id-1234', clientSecret: 'gloas-secret-1234' },
      'https://s.example',
    );
    const ciphertext = String(stored?.oauth?.clientSecretCiphertext);
    expect(await vault.decrypt(ciphertext, oauthSecretContext(real.url))).toBe('gloas-secret-1234');
    await expect(vault.decrypt(ciphertext, oauthSecretContext(other.url))).rejects.toThrow(/does not open/);
  });
});

describe('linking: each app gets its own build rights', () => {
  const TOKEN = 'glpat-buildRightsTest0000001';
  let gitlab: GitlabStandin;
  let connection: GitlabConnection | undefined;
  const apps = new Map<string, App>();
  const calls: string[] = [];
  const vault = LocalVault.fromKey(randomBytes(32));
  const store = {
    getGitlabConnection: async () => connection,
    putGitlabConnection: async (c: GitlabConnection) => {
      connection = c;
    },
    getApp: async (name: string) => apps.get(name),
    updateApp: async (name: string, _version: number, patch: Partial<App>) => {
      const updated = { ...(apps.get(name) as App), ...patch, version: (apps.get(name)?.version ?? 0) + 1 };
      apps.set(name, updated);
      return updated;
    },
  } as unknown as Store;
  const buildRights: BuildRights = {
    ensureAppRole: async (app) => {
      calls.push(`ensure ${app} (hooks in GitLab: ${gitlab.hooks(15).length})`);
    },
    removeAppRole: async (app) => {
      calls.push(`remove ${app}`);
    },
  };
  const deps = (rights: BuildRights = buildRights): GitlabDeps => ({
    store,
    vault,
    gitlab: createGitlabApi,
    keys: { generate: generateDeployKey },
    knownHosts: { entries: (text) => parseKnownHosts(text).map(({ hosts, fingerprint }) => ({ hosts, fingerprint })) },
    buildRights: rights,
  });

  beforeAll(async () => {
    gitlab = await startGitlabStandin();
    gitlab.addUser({ username: 'deployer', token: TOKEN, scopes: ['api'] });
    gitlab.addProject({ path: 'mike/diaspora', id: 15 });
    const hostKey = `127.0.0.1 ${generateDeployKey('host').publicKey.split(' ').slice(0, 2).join(' ')}`;
    await connectGitlab(deps(), { url: gitlab.url, token: TOKEN, allowHttp: true, knownHosts: hostKey });
  });
  afterAll(async () => gitlab?.stop());

  beforeEach(() => {
    calls.length = 0;
    apps.set('diaspora', {
      name: 'diaspora',
      project: 'mike/diaspora',
      branch: 'master',
      mode: 'superseded',
      status: 'active',
      hookId: 'h'.repeat(32),
      linked: false,
      createdAt: '2026-11-01T10:00:00.000Z',
      updatedAt: '2026-11-01T10:00:00.000Z',
      version: 1,
    } as App);
  });

  it('makes the app’s build role at link, before any hook can send a push', async () => {
    await linkApp(deps(), 'diaspora', 'https://slipway.example.com');
    expect(calls).toEqual(['ensure diaspora (hooks in GitLab: 0)']);
    expect(gitlab.hooks(15)).toHaveLength(1);
    await unlinkApp(deps(), 'diaspora', 'https://slipway.example.com');
  });

  it('creates nothing in GitLab when the build role cannot be made', async () => {
    const failing: BuildRights = {
      ...buildRights,
      ensureAppRole: async () => {
        throw new Error('AccessDenied: iam:CreateRole');
      },
    };
    await expect(linkApp(deps(failing), 'diaspora', 'https://slipway.example.com')).rejects.toThrow(/CreateRole/);
    expect(gitlab.hooks(15)).toEqual([]);
    expect(gitlab.deployKeys(15)).toEqual([]);
    expect(apps.get('diaspora')?.linked).toBe(false);
  });

  it('removes the app’s build role at unlink', async () => {
    await linkApp(deps(), 'diaspora', 'https://slipway.example.com');
    calls.length = 0;
    await unlinkApp(deps(), 'diaspora', 'https://slipway.example.com');
    expect(calls).toEqual(['remove diaspora']);
    expect(gitlab.hooks(15)).toEqual([]);
  });
});
