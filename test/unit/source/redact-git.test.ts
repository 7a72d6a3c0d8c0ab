import { describe, expect, it } from 'vitest';
import { redactGitText } from '../../../controller/source/index.js';

const TOKEN = 'ghp_a/b+c@d:e%f';

describe('redactGitText', () => {
  it.each([
    ['raw', 'ghp_a/b+c@d:e%f'],
    ['fully encoded (encodeURIComponent)', 'ghp_a%2Fb%2Bc%40d%3Ae%25f'],
    ['URL-encoded (encodeURI)', 'ghp_a/b+c@d:e%25f'],
    ['lower-case hex', 'ghp_a%2fb%2bc%40d%3ae%25f'],
    ['partly encoded', 'ghp_a%2Fb+c@d:e%25f'],
  ])('removes the %s spelling', (_name, spelling) => {
    const out = redactGitText(`fatal: unable to access 'https://host/${spelling}/repo.git/'`, [TOKEN]);
    expect(out).toBe("fatal: unable to access 'https://host/[REDACTED]/repo.git/'");
  });

  it('masks URL passwords it was not told about, keeping the user', () => {
    expect(redactGitText('fatal: https://bot:unknownpw@host/r.git failed', [])).toBe('fatal: https://bot:[REDACTED]@host/r.git failed');
  });

  it('masks Authorization header values', () => {
    expect(redactGitText('> Authorization: Basic eC1hY2Nlc3M=\n> authorization: Bearer abc.def', [])).toBe(
      '> Authorization: Basic [REDACTED]\n> authorization: Bearer [REDACTED]',
    );
  });

  it('replaces short secrets too, and ignores empty ones', () => {
    expect(redactGitText('token abc used', ['abc', '', undefined])).toBe('token [REDACTED] used');
  });

  it('leaves text without secrets alone', () => {
    const text = "fatal: repository '/srv/git/r.git' does not exist";
    expect(redactGitText(text, [TOKEN])).toBe(text);
  });
});
