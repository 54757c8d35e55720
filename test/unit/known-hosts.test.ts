import { fingerprintOf, generateDeployKey } from '../../functions/adapters/ssh/deploy-key';
import { knownHostsFor, parseKnownHosts } from '../../functions/adapters/ssh/known-hosts';

// GitLab.com's published SSH host keys (docs.gitlab.com/user/gitlab_com/#ssh-host-keys-fingerprints).
const GITLAB_ED25519 = 'AAAAC3NzaC1lZDI1NTE5AAAAIAfuCHKVTjquxvt6CM6tdG4SLp1Btn/nOeHHE5UOzRdf';
const GITLAB_ECDSA =
  'AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBFSMqzJeV9rUzU4kWitGjeR4PWSa29SPqJ1fVkhtj3Hw9xjLVXVYrU9QlYWrOLXBpQ6KWjbjTDTdDkoohFzgbEY=';

describe('known_hosts', () => {
  it("parses GitLab.com's pinned keys with their SHA256 fingerprints", () => {
    const entries = parseKnownHosts(
      [
        '# GitLab.com',
        '',
        `gitlab.com ssh-ed25519 ${GITLAB_ED25519}`,
        `gitlab.com,172.65.251.78 ecdsa-sha2-nistp256 ${GITLAB_ECDSA} a comment`,
      ].join('\n'),
    );

    expect(entries).toEqual([
      {
        hosts: ['gitlab.com'],
        keyType: 'ssh-ed25519',
        key: GITLAB_ED25519,
        fingerprint: 'SHA256:eUXGGm1YGsMAS7vkcx6JOJdOGHPem5gQp4taiCfCLB8',
      },
      {
        hosts: ['gitlab.com', '172.65.251.78'],
        keyType: 'ecdsa-sha2-nistp256',
        key: GITLAB_ECDSA,
        fingerprint: 'SHA256:HbW3g8zUjNSksFbqTiUWPWg2Bq1x8xdGUrliXFzSnUw',
      },
    ]);
  });

  it('keeps hashed host names and [host]:port forms as they are', () => {
    const hashed = '|1|F1E1KeoE/eEWhi10WpGv4OdiO6Y=|3988QV0VE8wmZL7suNrYQLITLCg=';

    const entries = parseKnownHosts(
      `${hashed} ssh-ed25519 ${GITLAB_ED25519}\n[gitlab.example]:2222 ssh-ed25519 ${GITLAB_ED25519}\r\n`,
    );

    expect(entries.map((e) => e.hosts)).toEqual([[hashed], ['[gitlab.example]:2222']]);
  });

  it('reads nothing from comments and blank lines', () => {
    expect(parseKnownHosts('# nothing pinned yet\n\n   \n')).toEqual([]);
  });

  it.each([
    ['a line without a key', 'gitlab.com ssh-ed25519', /line 1: expected "hosts keytype base64-key"/],
    ['a truncated key', `gitlab.com ssh-ed25519 ${GITLAB_ED25519.slice(0, 20)}`, /line 1: not a valid ssh-ed25519 key/],
    ['base64 that is no key', 'gitlab.com ssh-ed25519 bm90IGEga2V5', /line 1: not a valid ssh-ed25519 key/],
    ['a key under the wrong type name', `gitlab.com ssh-rsa ${GITLAB_ED25519}`, /line 1: not a valid ssh-rsa key/],
    ['an empty host in the list', `gitlab.com,,x ssh-ed25519 ${GITLAB_ED25519}`, /line 1: malformed host list/],
    ['a marker line', `@cert-authority *.example ssh-ed25519 ${GITLAB_ED25519}`, /markers such as @cert-authority/],
    ['a private key pasted by mistake', '-----BEGIN OPENSSH PRIVATE KEY-----', /line 1: /],
  ])('rejects %s, naming the line', (_what, text, message) => {
    expect(() => parseKnownHosts(text)).toThrow(message);
  });

  it('names the bad line among good ones', () => {
    expect(() =>
      parseKnownHosts(`# ok\ngitlab.com ssh-ed25519 ${GITLAB_ED25519}\ngitlab.com ssh-ed25519 nope\n`),
    ).toThrow(/known_hosts line 3/);
  });

  it('pins keys for a host on port 22 by name, elsewhere as [host]:port', () => {
    const keys = [
      { keyType: 'ssh-ed25519', key: GITLAB_ED25519 },
      { keyType: 'ecdsa-sha2-nistp256', key: GITLAB_ECDSA },
    ];

    expect(knownHostsFor('gitlab.com', 22, keys)).toBe(
      `gitlab.com ssh-ed25519 ${GITLAB_ED25519}\ngitlab.com ecdsa-sha2-nistp256 ${GITLAB_ECDSA}\n`,
    );
    expect(knownHostsFor('127.0.0.1', 2222, keys.slice(0, 1))).toBe(`[127.0.0.1]:2222 ssh-ed25519 ${GITLAB_ED25519}\n`);
  });

  it('round-trips what it formats', () => {
    const [keyType = '', key = ''] = generateDeployKey('x').publicKey.split(' ');

    const [entry] = parseKnownHosts(knownHostsFor('git.example.org', 2200, [{ keyType, key }]));

    expect(entry).toMatchObject({ hosts: ['[git.example.org]:2200'], keyType, key });
    expect(entry?.fingerprint).toBe(fingerprintOf(`${keyType} ${key}`));
  });

  it('refuses to pin nothing, a bad key, a bad port or a host that could be an option', () => {
    const good = { keyType: 'ssh-ed25519', key: GITLAB_ED25519 };
    expect(() => knownHostsFor('gitlab.com', 22, [])).toThrow(/no host key/);
    expect(() => knownHostsFor('gitlab.com', 22, [{ keyType: 'ssh-ed25519', key: 'AAAA' }])).toThrow(/host key 1/);
    expect(() => knownHostsFor('gitlab.com', 0, [good])).toThrow(/not a TCP port/);
    expect(() => knownHostsFor('-oProxyCommand=x', 22, [good])).toThrow(/not a host name/);
    expect(() => knownHostsFor('gitlab.com extra', 22, [good])).toThrow(/not a host name/);
  });
});

describe('deploy keys', () => {
  it('are ed25519 with the comment and a SHA256 fingerprint, different every time', () => {
    const a = generateDeployKey('slipway: web');
    const b = generateDeployKey('slipway: web');

    expect(a.publicKey).toMatch(/^ssh-ed25519 AAAAC3NzaC1lZDI1NTE5\S+ slipway: web$/);
    expect(a.privateKey).toMatch(/^-----BEGIN OPENSSH PRIVATE KEY-----\n[\s\S]+\n-----END OPENSSH PRIVATE KEY-----\n$/);
    expect(a.fingerprint).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
    expect(fingerprintOf(a.publicKey)).toBe(a.fingerprint);
    expect(b.publicKey).not.toBe(a.publicKey);
  });

  it('refuse a comment that would break the public-key line', () => {
    expect(() => generateDeployKey('two\nlines')).toThrow(/one line/);
  });

  it('fingerprint only public-key lines', () => {
    expect(() => fingerprintOf('not a key')).toThrow(/not an OpenSSH public key line/);
  });
});
