import { newApp, toPublicApp } from '../../functions/domain/apps';
import { ValidationError } from '../../functions/domain/errors';
import { type PushEvent, ZERO_SHA } from '../../functions/domain/events';
import { isValidRefPattern, matchesPattern } from '../../functions/domain/filters';
import { ID_PATTERN, matchesHash, newId, sha256Hex } from '../../functions/domain/ids';
import { concernsApp, whyIgnored } from '../../functions/domain/ingest';
import { systemDeliveryKey } from '../../functions/domain/system-hooks';

const push = (over: Partial<PushEvent> = {}): PushEvent => ({
  kind: 'branch',
  ref: 'refs/heads/main',
  before: 'a'.repeat(40),
  after: 'b'.repeat(40),
  sha: 'b'.repeat(40),
  project: { id: 7, path: 'group/web' },
  ...over,
});

describe('branch and tag filters', () => {
  it('matches exact names and * wildcards, nothing else', () => {
    expect(matchesPattern('main', 'main')).toBe(true);
    expect(matchesPattern('main', 'main2')).toBe(false);
    expect(matchesPattern('release/*', 'release/1.2')).toBe(true);
    expect(matchesPattern('release/*', 'hotfix/1.2')).toBe(false);
    expect(matchesPattern('v*.*', 'v1.2')).toBe(true);
    expect(matchesPattern('a.c', 'abc')).toBe(false);
  });

  it('refuses patterns git would not accept as ref names', () => {
    expect(isValidRefPattern('feature/*')).toBe(true);
    for (const bad of ['', 'a..b', 'a b', '/main', 'main/', 'x.lock', 'a~1', 'a:b']) {
      expect(isValidRefPattern(bad)).toBe(false);
    }
  });
});

describe('ids and secrets', () => {
  it('makes time-ordered ULIDs', () => {
    const older = newId(new Date(1_700_000_000_000));
    const newer = newId(new Date(1_700_000_000_001));
    expect(older).toMatch(ID_PATTERN);
    expect(older < newer).toBe(true);
  });

  it('accepts only the secret whose hash is stored', () => {
    const stored = sha256Hex('s3cret');
    expect(matchesHash('s3cret', stored)).toBe(true);
    expect(matchesHash('s3cres', stored)).toBe(false);
    expect(matchesHash(undefined, stored)).toBe(false);
    expect(matchesHash('s3cret', undefined)).toBe(false);
    expect(matchesHash('s3cret', 'abcd')).toBe(false);
  });
});

describe('apps', () => {
  it('creates an active, unlinked app with defaults and a stable hook id', () => {
    const app = newApp({ name: 'web', project: 'group/web' });
    expect(app).toMatchObject({ name: 'web', branch: 'main', mode: 'superseded', status: 'active', linked: false });
    expect(toPublicApp(app, 'https://ci.example.com/').hookUrl).toBe(
      `https://ci.example.com/hooks/gitlab/${app.hookId}`,
    );
  });

  it.each([
    [{ name: 'Web', project: 'group/web' }, /invalid app name/],
    [{ name: 'web', project: 'web' }, /invalid project/],
    [{ name: 'web', project: 'g/web', mode: 'yolo' }, /invalid mode/],
    [{ name: 'web', project: 'g/web', branch: 'a..b' }, /invalid branch/],
    [{ name: 'web', project: 'g/web', cluster: 'c' }, /--cluster and --service go together/],
    [{ name: 'web', project: 'g/web', dockerfile: '../etc/passwd' }, /invalid dockerfile/],
  ])('refuses %o with a clear message', (input, message) => {
    expect(() => newApp(input)).toThrow(ValidationError);
    expect(() => newApp(input)).toThrow(message);
  });

  it('shows no secret material', () => {
    const app = { ...newApp({ name: 'web', project: 'g/web' }), hookSecretHash: 'h', signingSecretCiphertext: 'c' };
    expect(JSON.stringify(toPublicApp(app, 'http://x'))).not.toMatch(/hookSecretHash|signingSecret/);
  });
});

describe('deciding which pushes build', () => {
  const app = { ...newApp({ name: 'web', project: 'group/web', tags: 'v*' }), projectId: 7 };

  it('builds a push to the filtered branch', () => {
    expect(whyIgnored(app, push())).toBeUndefined();
  });

  it('ignores other branches, deletions, tags outside the pattern and disabled apps', () => {
    expect(whyIgnored(app, push({ ref: 'refs/heads/dev' }))).toMatch(/does not match/);
    expect(whyIgnored(app, push({ after: ZERO_SHA }))).toBe('branch deleted');
    expect(whyIgnored(app, push({ kind: 'tag', ref: 'refs/tags/x1' }))).toMatch(/does not match v\*/);
    expect(whyIgnored(app, push({ kind: 'tag', ref: 'refs/tags/v1' }))).toBeUndefined();
    expect(whyIgnored({ ...app, status: 'disabled' }, push())).toMatch(/disabled/);
    expect(whyIgnored({ ...app, tags: undefined }, push({ kind: 'tag', ref: 'refs/tags/v1' }))).toMatch(/not built/);
  });

  it('matches projects by id once known, else by path', () => {
    expect(concernsApp(app, { id: 7, path: 'other/name' })).toBe(true);
    expect(concernsApp(app, { id: 8, path: 'group/web' })).toBe(false);
    const unlinked = newApp({ name: 'web', project: 'Group/Web' });
    expect(concernsApp(unlinked, { id: 8, path: 'group/web' })).toBe(true);
  });

  it('keys system-hook pushes on the ref update, so push and repository_update collapse', () => {
    expect(systemDeliveryKey(push())).toBe(systemDeliveryKey(push({ title: 'other view of the same update' })));
    expect(systemDeliveryKey(push())).not.toBe(systemDeliveryKey(push({ after: 'c'.repeat(40) })));
  });
});
