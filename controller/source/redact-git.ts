/**
 * Scrubbing of git credentials from git's own output before it becomes an error message.
 *
 * git prints remote URLs in its errors ("unable to access 'https://…'"), sometimes percent-encoded in part
 * (only the characters that need it), and with `GIT_CURL_VERBOSE` or a proxy it may echo the
 * `Authorization: Basic base64(user:token)` header. So each secret is matched in every spelling: raw, with
 * any mix of its characters percent-encoded (either hex case), and base64 inside a Basic header; and any
 * `user:password@` part of a URL is masked even for passwords we were not told about.
 */
import { REDACTED, redact } from '../util/redact.js';

/** Matches the password part of `scheme://user:password@host` (the user name is kept for diagnosis). */
const URL_PASSWORD = /(\b[a-z][a-z0-9+.-]*:\/\/[^/@\s:'"]*):[^/@\s'"]*@/gi;
/** Matches the credentials of an HTTP Authorization header, whatever the scheme. */
const AUTH_HEADER = /(authorization:\s*(?:basic|bearer|token)\s+)[^\s'"]+/gi;

/**
 * Returns `text` with every spelling of each secret in `secrets` replaced by `[REDACTED]` (callers also pass
 * derived forms such as the base64 value of a Basic header they built), URL passwords
 * and Authorization header values masked, and the shared secret patterns of `util/redact` applied. Unlike
 * `util/redact`, short secrets are replaced too: a git token is never harmless to print.
 */
export function redactGitText(text: string, secrets: readonly (string | undefined)[]): string {
  let out = text;
  const known = secrets.filter((s): s is string => typeof s === 'string' && s.length > 0).sort((a, b) => b.length - a.length);
  for (const secret of known) out = out.replace(spellingsOf(secret), REDACTED);
  out = out.replace(URL_PASSWORD, `$1:${REDACTED}@`).replace(AUTH_HEADER, `$1${REDACTED}`);
  return redact(out);
}

/**
 * Builds a regular expression matching `secret` with any subset of its UTF-8 bytes percent-encoded
 * (`%2F` or `%2f`), which covers `encodeURIComponent`, `encodeURI` and git's own partial encoding.
 */
function spellingsOf(secret: string): RegExp {
  const alternatives: string[] = [];
  for (const char of secret) {
    const encoded = [...Buffer.from(char, 'utf8')]
      .map((byte) => `%${byte.toString(16).padStart(2, '0').replace(/[a-f]/g, (h) => `[${h}${h.toUpperCase()}]`)}`)
      .join('');
    alternatives.push(`(?:${escapeRegExp(char)}|${encoded})`);
  }
  return new RegExp(alternatives.join(''), 'g');
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}
