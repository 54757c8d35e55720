import { PayloadError, parsePush, parseSystemEvent } from '../../functions/http/gitlab-payloads';
import { gitlabExample, systemEventsNotActedOn } from '../support/gitlab-events';

describe('GitLab payload parsing', () => {
  it('reads the documented push example: ref, commit to build, its title, author and time, project', () => {
    const push = parsePush(gitlabExample('push.json').body, 'branch');

    expect(push).toEqual({
      kind: 'branch',
      ref: 'refs/heads/master',
      before: '95790bf891e76fee5e1747ab589903a6a1f80f22',
      after: 'da1560886d4f094c3e6c9ef40349f7d38b5d27d7',
      sha: 'da1560886d4f094c3e6c9ef40349f7d38b5d27d7',
      project: { id: 15, path: 'mike/diaspora' },
      repoUrl: 'git@example.com:mike/diaspora.git',
      title: 'fixed readme',
      author: 'GitLab dev user',
      // The head commit's own timestamp, 2012-01-03T23:36:29+02:00, in UTC.
      committedAt: '2012-01-03T21:36:29.000Z',
      pusher: 'John Smith',
    });
  });

  it('takes the time of the commit it builds only, and drops one it cannot read', () => {
    const example = gitlabExample('push.json').body as { commits: Array<Record<string, unknown>> };
    const garbled = (timestamp: unknown) => ({
      ...example,
      commits: example.commits.map((c, i) => (i === example.commits.length - 1 ? { ...c, timestamp } : c)),
    });

    expect(parsePush(garbled('2015-04-08T21: 00:25-07:00'), 'branch').committedAt).toBeUndefined();
    expect(parsePush(garbled(1325626589), 'branch').committedAt).toBeUndefined();
    expect(parsePush(garbled('2012-01-03T23:36:29Z'), 'branch').committedAt).toBe('2012-01-03T23:36:29.000Z');
    // The system-hook example pushes a commit its `commits` does not list: no time to take.
    const [system] = parseSystemEvent(gitlabExample('system_push.json').body);
    expect(system).toMatchObject({ type: 'push' });
    expect(system?.type === 'push' && system.push.committedAt).toBeUndefined();
  });

  it('builds the checkout_sha of a tag push, not the tag object', () => {
    const push = parsePush(gitlabExample('tag_push.json').body, 'tag');

    expect(push.kind).toBe('tag');
    expect(push.ref).toMatch(/^refs\/tags\//);
    expect(push.sha).toBe((gitlabExample('tag_push.json').body as { checkout_sha: string }).checkout_sha);
  });

  it('rejects a branch payload announced as a tag push', () => {
    expect(() => parsePush(gitlabExample('push.json').body, 'tag')).toThrow(PayloadError);
  });

  it.each([
    ['a non-object', 42],
    ['a missing ref', { ...gitlabExample('push.json').body, ref: undefined }],
    ['a short sha', { ...gitlabExample('push.json').body, after: 'abc' }],
    ['a project without path', { ...gitlabExample('push.json').body, project: { id: 1 } }],
  ])('rejects %s with a message naming the field', (_label, body) => {
    expect(() => parsePush(body, 'branch')).toThrow(PayloadError);
  });

  it('turns the system-hook push and repository_update examples into pushes', () => {
    const [push] = parseSystemEvent(gitlabExample('system_push.json').body);
    const [update] = parseSystemEvent(gitlabExample('system_repository_update.json').body);

    expect(push).toMatchObject({ type: 'push', push: { ref: 'refs/heads/master', project: { id: 15 } } });
    expect(update).toMatchObject({
      type: 'push',
      push: { ref: 'refs/heads/master', after: '4045ea7a3df38697b3730a20fb73c8bed8a3e69e', project: { id: 1 } },
    });
  });

  it('reads renames, transfers and destroys from the system-hook examples', () => {
    expect(parseSystemEvent(gitlabExample('system_project_rename.json').body)).toEqual([
      { type: 'project_renamed', projectId: 73, oldPath: 'jsmith/overscore', newPath: 'jsmith/underscore' },
    ]);
    expect(parseSystemEvent(gitlabExample('system_project_transfer.json').body)).toEqual([
      { type: 'project_renamed', projectId: 73, oldPath: 'jsmith/overscore', newPath: 'scores/underscore' },
    ]);
    expect(parseSystemEvent(gitlabExample('system_project_destroy.json').body)).toEqual([
      { type: 'project_destroyed', projectId: 73, path: 'jsmith/underscore' },
    ]);
  });

  it('classifies every other documented system event as one Slipway does not act on', () => {
    const others = systemEventsNotActedOn();

    expect(others.length).toBeGreaterThan(15);
    for (const example of others) {
      expect(parseSystemEvent(example.body)).toEqual([{ type: 'other', name: expect.any(String) }]);
    }
  });
});
