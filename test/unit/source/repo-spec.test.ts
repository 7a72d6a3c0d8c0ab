import { describe, expect, it } from 'vitest';
import { GitSourceError, isValidGitRef, normaliseSubdir, parseRepoSpec, parseRepoUrl } from '../../../controller/source/index.js';

describe('parseRepoUrl', () => {
  it.each([
    ['https://github.com/acme/dep.git', 'https', 'https://github.com/acme/dep.git'],
    ['http://127.0.0.1:8080/r.git', 'http', 'http://127.0.0.1:8080/r.git'],
    ['ssh://git@github.com/acme/dep.git', 'ssh', 'ssh://git@github.com/acme/dep.git'],
    ['git+ssh://git@host:2222/dep.git', 'ssh', 'git+ssh://git@host:2222/dep.git'],
    ['git@github.com:acme/dep.git', 'ssh', 'git@github.com:acme/dep.git'],
    ['file:///srv/git/dep.git', 'file', 'file:///srv/git/dep.git'],
    ['/srv/git/dep.git', 'local', '/srv/git/dep.git'],
  ] as const)('classifies %s', (input, kind, url) => {
    expect(parseRepoUrl(input)).toEqual({ kind, url });
  });

  it('resolves relative local paths against the given directory', () => {
    expect(parseRepoUrl('../config', '/home/ops/work')).toEqual({ kind: 'local', url: '/home/ops/config' });
    expect(parseRepoUrl('./a:b', '/x')).toEqual({ kind: 'local', url: '/x/a:b' });
  });

  it('splits credentials off an https URL, decoding them', () => {
    expect(parseRepoUrl('https://bot:p%40ss%2Fword@git.example.com/acme/dep.git')).toEqual({
      kind: 'https',
      url: 'https://git.example.com/acme/dep.git',
      username: 'bot',
      password: 'p@ss/word',
    });
  });

  it('drops a password from an ssh URL but keeps the user', () => {
    expect(parseRepoUrl('ssh://git:secret@host/r.git').url).toBe('ssh://git@host/r.git');
  });

  it.each(['-oProxyCommand=touch /tmp/x', 'git@-oProxyCommand=x:repo', '--upload-pack=x'])('refuses %j, which git or ssh would read as an option', (input) => {
    expect(() => parseRepoUrl(input)).toThrow(/must not start with "-"/);
  });

  it('refuses unsupported schemes without echoing the URL', () => {
    const call = () => parseRepoUrl('ftp://u:TOPSECRET@host/r.git');
    expect(call).toThrow(GitSourceError);
    expect(call).toThrow(/unsupported repository URL scheme "ftp"/);
    expect(call).not.toThrow(/TOPSECRET/);
  });
});

describe('isValidGitRef', () => {
  it.each(['main', 'release/2026-q1', 'v1.2.3', 'refs/tags/v1', 'feature/x_y', 'ünïcode'])('accepts %s', (name) => {
    expect(isValidGitRef(name)).toBe(true);
  });
  it.each(['', '@', '-delete', '--upload-pack=evil', 'a..b', 'a b', 'a~1', 'a^', 'a:b', 'a?', 'a*', 'a[', 'a\\b', '/a', 'a/', 'a//b', 'a.', '.a', 'a/.b', 'a.lock', 'a/b.lock/c', 'a@{1}', 'tab\there', 'del\x7f'])(
    'refuses %j',
    (name) => {
      expect(isValidGitRef(name)).toBe(false);
    },
  );
});

describe('normaliseSubdir', () => {
  it.each([
    [undefined, '.'],
    ['', '.'],
    ['.', '.'],
    ['fleet/', 'fleet'],
    ['./fleet//prod', 'fleet/prod'],
    ['fleet/../other', 'other'],
  ])('normalises %j to %j', (input, expected) => {
    expect(normaliseSubdir(input)).toBe(expected);
  });
  it.each(['/etc', '..', '../x', 'a/../../x'])('refuses %j', (input) => {
    expect(() => normaliseSubdir(input)).toThrow(GitSourceError);
  });
});

describe('parseRepoSpec', () => {
  it('validates the run flags and resolves a local path', () => {
    expect(parseRepoSpec({ repo: 'config', branch: 'main', path: 'fleet/' }, '/srv')).toEqual({ url: '/srv/config', branch: 'main', path: 'fleet' });
    expect(parseRepoSpec({ repo: 'https://t:x@h/r.git', ref: 'v1' })).toEqual({ url: 'https://t:x@h/r.git', ref: 'v1', path: '.' });
  });
  it.each([
    [{ repo: 'r', branch: 'a', ref: 'v1' }, /cannot be used together/],
    [{ repo: 'r', branch: '--force' }, /invalid branch/],
    [{ repo: 'r', branch: 'refs/heads/main' }, /invalid branch/],
    [{ repo: 'r', ref: 'v1..v2' }, /invalid ref/],
    [{ repo: 'r', path: '../up' }, /inside the repository/],
    [{ repo: '  ' }, /empty/],
  ])('refuses %j', (flags, message) => {
    expect(() => parseRepoSpec(flags, '/srv')).toThrow(message);
  });
});
