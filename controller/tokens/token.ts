import { createHash } from 'node:crypto';
import type { ServerToken } from '../dep/types.js';
import { InvalidTokenError } from './errors.js';

/** The five fields of a server token with the prefix Apple gives each value. */
const PREFIXES: ReadonlyArray<readonly [keyof ServerToken, string]> = [
  ['consumer_key', 'CK_'],
  ['consumer_secret', 'CS_'],
  ['access_token', 'AT_'],
  ['access_secret', 'AS_'],
];

/** RFC 3339 date-time (section 5.6); Apple writes UTC with whole seconds, e.g. `2026-01-17T11:02:21Z`. */
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

/**
 * Checks that `value` is a DEP server token and returns just its five fields. Problems are
 * reported by field name only: values are secrets and never appear in the error.
 *
 * @throws InvalidTokenError listing every missing or malformed field.
 */
export function validateServerToken(value: unknown): ServerToken {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InvalidTokenError(['expected a JSON object']);
  }
  const obj = value as Record<string, unknown>;
  const problems: string[] = [];
  for (const [field, prefix] of PREFIXES) {
    const v = obj[field];
    if (v === undefined) problems.push(`${field}: missing`);
    else if (typeof v !== 'string') problems.push(`${field}: not a string`);
    else if (!v.startsWith(prefix) || v.length === prefix.length) problems.push(`${field}: does not start with ${prefix}`);
    else if (/\s/.test(v)) problems.push(`${field}: contains whitespace`);
  }
  const expiry = obj.access_token_expiry;
  if (expiry === undefined) problems.push('access_token_expiry: missing');
  else if (typeof expiry !== 'string') problems.push('access_token_expiry: not a string');
  else if (!RFC3339.test(expiry) || Number.isNaN(Date.parse(expiry))) {
    problems.push('access_token_expiry: not an RFC 3339 date-time');
  }
  if (problems.length > 0) throw new InvalidTokenError(problems);
  return {
    consumer_key: obj.consumer_key as string,
    consumer_secret: obj.consumer_secret as string,
    access_token: obj.access_token as string,
    access_secret: obj.access_secret as string,
    access_token_expiry: expiry as string,
  };
}

/**
 * Parses the decrypted token text in any of the shapes seen in the wild (dep-protocol.md section 1):
 * the MIME part Apple encrypts (`Content-Type: text/plain` headers, a blank line, then the JSON
 * between `-----BEGIN MESSAGE-----` and `-----END MESSAGE-----`), the same without headers, the
 * hard-wrapped JSON of Apple's documentation example, or plain (even pretty-printed) JSON. Like
 * nanodep, it drops the headers and marker lines and joins the remaining lines.
 *
 * @throws InvalidTokenError when the text is not a token.
 */
export function parseTokenText(text: string): ServerToken {
  let body = text.replace(/^\uFEFF/, '');
  // MIME headers end at the first empty line; only strip them if the text starts with one.
  if (/^[A-Za-z][A-Za-z0-9-]*:[^\n]*\r?\n/.test(body)) {
    const end = /\r?\n\r?\n/.exec(body);
    body = end ? body.slice(end.index + end[0].length) : '';
  }
  const lines = body.split(/\r?\n/).filter((l) => !/^-----(BEGIN|END) MESSAGE-----\s*$/.test(l));
  const joined = lines.join('\n').trim();
  if (!joined.startsWith('{')) throw new InvalidTokenError(['the content is not JSON']);
  let parsed: unknown;
  try {
    parsed = JSON.parse(joined);
  } catch {
    try {
      // Hard-wrapped JSON: line breaks may fall inside a value, so join without a separator.
      parsed = JSON.parse(lines.map((l) => l.trim()).join(''));
    } catch {
      throw new InvalidTokenError(['the content is not valid JSON']);
    }
  }
  return validateServerToken(parsed);
}

/**
 * Formats the plaintext Apple encrypts into the `.p7m`, byte for byte as in a real token: CRLF
 * MIME headers and blank line, then LF-terminated marker lines around the one-line JSON.
 */
export function formatTokenMessage(token: ServerToken): string {
  const json = JSON.stringify({
    consumer_key: token.consumer_key,
    consumer_secret: token.consumer_secret,
    access_token: token.access_token,
    access_secret: token.access_secret,
    access_token_expiry: token.access_token_expiry,
  });
  return (
    'Content-Type: text/plain;charset=UTF-8\r\n' +
    'Content-Transfer-Encoding: 7bit\r\n' +
    '\r\n' +
    `-----BEGIN MESSAGE-----\n${json}\n-----END MESSAGE-----\n`
  );
}

/** Result of {@link tokenExpiry}. */
export interface TokenExpiry {
  /** When Apple stops accepting the token. */
  expiresAt: Date;
  /** Whole days left, rounded down; negative once expired (-1 during the first day after). */
  daysLeft: number;
  /** True from the expiry instant on. */
  expired: boolean;
}

const DAY_MS = 86_400_000;

/** Computes a token's expiry relative to `now` (tokens never renew themselves: section 1). */
export function tokenExpiry(token: ServerToken, now: Date): TokenExpiry {
  const expiresAt = new Date(Date.parse(token.access_token_expiry));
  if (Number.isNaN(expiresAt.getTime())) throw new InvalidTokenError(['access_token_expiry: not an RFC 3339 date-time']);
  const ms = expiresAt.getTime() - now.getTime();
  return { expiresAt, daysLeft: Math.floor(ms / DAY_MS), expired: ms <= 0 };
}

/**
 * SHA-256 (hex) of `consumer_key + access_token`: identifies a token in the store and in output
 * without revealing it (the access token carries enough entropy that the hash cannot be reversed).
 */
export function tokenFingerprint(token: ServerToken): string {
  return createHash('sha256').update(token.consumer_key + token.access_token, 'utf8').digest('hex');
}

/** What may be shown about a token: nothing here lets anyone call Apple. */
export interface TokenSummary {
  /** `CK_` plus the first 8 hex digits and an ellipsis, e.g. `CK_48dd68d1…`. */
  consumerKey: string;
  /** The first 16 hex digits of {@link tokenFingerprint}. */
  fingerprint: string;
  /** Issue time, read from the trailing epoch milliseconds of the access token when present. */
  issuedAt: string | null;
  /** The expiry as Apple wrote it (RFC 3339). */
  expiresAt: string;
  daysLeft: number;
  expired: boolean;
}

/**
 * Builds the redaction-safe summary of a token. The consumer key is shortened to a prefix (enough
 * to tell servers apart, as Apple's own depsim credentials are quoted in docs); the secrets and the
 * access token never appear, except for the issue timestamp embedded in the access token, which is
 * not secret (it is the day the admin downloaded the token).
 */
export function summarizeToken(token: ServerToken, now: Date): TokenSummary {
  const { daysLeft, expired } = tokenExpiry(token, now);
  return {
    consumerKey: `${token.consumer_key.slice(0, 11)}…`,
    fingerprint: tokenFingerprint(token).slice(0, 16),
    issuedAt: issuedAt(token.access_token),
    expiresAt: token.access_token_expiry,
    daysLeft,
    expired,
  };
}

/** Real access tokens look like `AT_O<digits>O<40 hex>O<issue time in epoch ms>` (section 1). */
function issuedAt(accessToken: string): string | null {
  const m = /^AT_O\d+O[0-9a-f]+O(\d{12,14})$/.exec(accessToken);
  if (!m) return null;
  const d = new Date(Number(m[1]));
  return Number.isNaN(d.getTime()) ? null : d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}
