import { newApp, toPublicApp } from '../../functions/domain/apps';
import { ValidationError } from '../../functions/domain/errors';
import { type PushEvent, ZERO_SHA } from '../../functions/domain/events';
import { isValidRefPattern, matchesPattern } from '../../functions/domain/filters';
import { ID_PATTERN, matchesHash, newId, sha256Hex } from '../../functions/domain/ids';
import { concernsApp, environmentsMatching, whyIgnored } from '../../functions/domain/ingest';
import type { Build, Release } from '../../functions/domain/model';
import { rolloutPolicy } from '../../functions/domain/rollout';
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

  it("matches every environment's trigger: the first's when the app's own matches, then the others in order", () => {
    const staged = {
      ...app,
      environment: 'staging',
      environmentTriggers: [
        { name: 'production', tags: 'v*' },
        { name: 'qa', branch: 'main' },
        { name: 'sandbox', branch: 'feature/*' },
      ],
    };
    expect(environmentsMatching(staged, push())).toEqual(['staging', 'qa']);
    expect(environmentsMatching(staged, push({ kind: 'tag', ref: 'refs/tags/v2' }))).toEqual(['staging', 'production']);
    expect(environmentsMatching({ ...staged, tags: undefined }, push({ kind: 'tag', ref: 'refs/tags/v2' }))).toEqual([
      'production',
    ]);
    // A push only a further environment wants is built (for it) rather than ignored.
    expect(environmentsMatching(staged, push({ ref: 'refs/heads/feature/x' }))).toEqual(['sandbox']);
    expect(whyIgnored(staged, push({ ref: 'refs/heads/feature/x' }))).toBeUndefined();
    expect(whyIgnored(staged, push({ ref: 'refs/heads/dev' }))).toMatch(/does not match main/);
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

describe('rollout turns per environment, with fan-out', () => {
  const now = new Date('2026-12-05T00:00:00Z');
  const build = (id: string, over: Partial<Build> = {}): Build => ({
    id,
    app: 'web',
    status: 'succeeded',
    commit: 'a'.repeat(40),
    ref: 'refs/heads/main',
    message: '',
    author: '',
    trigger: 'push',
    createdAt: now.toISOString(),
    ...over,
  });
  const released = (b: string, environment: string): Release => ({
    id: `r-${b}-${environment}`,
    app: 'web',
    status: 'live',
    build: b,
    commit: 'a'.repeat(40),
    images: {},
    createdAt: now.toISOString(),
    environment,
  });

  it('superseded mode: a newer push to the same environment overtakes a release made by fan-out; other environments do not', () => {
    const builds = [build('02', { alsoTo: ['qa'] }), build('01', { alsoTo: ['qa'] })];
    expect(rolloutPolicy('01', 'superseded', builds, [], now, 'qa')).toBe('superseded');
    expect(rolloutPolicy('02', 'superseded', builds, [], now, 'qa')).toBe('go');
    // A newer push that goes to staging only does not overtake qa's release.
    const elsewhere = [build('02'), build('01', { alsoTo: ['qa'] })];
    expect(rolloutPolicy('01', 'superseded', elsewhere, [], now, 'qa')).toBe('go');
    // A build whose own environment is qa counts as going there too.
    const own = [build('02', { environment: 'qa' }), build('01', { alsoTo: ['qa'] })];
    expect(rolloutPolicy('01', 'superseded', own, [], now, 'qa')).toBe('superseded');
  });

  it("queued mode: waits for an older build's release to that environment, not to another", () => {
    const builds = [build('02', { alsoTo: ['qa'] }), build('01', { alsoTo: ['qa'] })];
    expect(rolloutPolicy('02', 'queued', builds, [released('01', 'staging')], now, 'qa')).toBe('wait');
    expect(rolloutPolicy('02', 'queued', builds, [released('01', 'staging'), released('01', 'qa')], now, 'qa')).toBe(
      'go',
    );
  });
});
