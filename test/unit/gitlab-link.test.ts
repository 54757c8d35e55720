import { ValidationError } from '../../functions/domain/errors';
import { normaliseGitlabUrl, sshHostOf } from '../../functions/domain/gitlab-link';

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
