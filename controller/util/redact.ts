/**
 * Scrubbing of secrets from text that may end up in errors, logs or plans (STYLE rule 3).
 *
 * Two layers: the exact secret values a caller knows (the decrypted server token and the current
 * session token), and patterns for Apple's token fields, so that a secret we were never told about
 * (an old session token echoed in a body, a token pasted into a YAML file) is still caught.
 */

/** The text that replaces a secret. */
export const REDACTED = '[REDACTED]';

/**
 * Apple's server-token values have fixed prefixes (dep-protocol.md section 1): `CK_`, `CS_`, `AS_` followed
 * by hex, and `AT_O<digits>O<hex>O<digits>`. Session tokens are opaque, so they are only caught in
 * context: after an `auth_session_token` key or an `X-ADM-Auth-Session` header name.
 */
const SECRET_PATTERNS: readonly RegExp[] = [
  /\b(?:CK|CS|AS|AT)_[A-Za-z0-9]{8,}\b/g,
  /("?auth_session_token"?\s*[:=]\s*"?)[^"\s,}]+/gi,
  /(X-ADM-Auth-Session\s*[:=]\s*"?)[^"\s,}]+/gi,
  /(oauth_(?:signature|token|consumer_key|nonce)\s*=\s*"?)[^"\s,&]+/gi,
];

/** Secrets shorter than this are not replaced literally: replacing "a" everywhere would garble text. */
const MIN_LITERAL_LENGTH = 6;

/**
 * Returns `text` with every known secret value and every secret-looking token replaced by
 * {@link REDACTED}. `secrets` may contain empty or undefined entries; they are ignored.
 */
export function redact(text: string, secrets: readonly (string | undefined)[] = []): string {
  let out = text;
  // Longest first, so that a secret containing another secret is replaced whole.
  const literals = secrets
    .filter((s): s is string => typeof s === 'string' && s.length >= MIN_LITERAL_LENGTH)
    .sort((a, b) => b.length - a.length);
  for (const secret of literals) {
    out = out.split(secret).join(REDACTED);
    // Secrets also travel percent-encoded (OAuth header values, query strings).
    const encoded = encodeURIComponent(secret);
    if (encoded !== secret) out = out.split(encoded).join(REDACTED);
  }
  for (const pattern of SECRET_PATTERNS) {
    out = out.replace(pattern, (match: string, prefix?: string) =>
      typeof prefix === 'string' ? `${prefix}${REDACTED}` : REDACTED,
    );
  }
  return out;
}

/**
 * Cuts `text` to at most `maxBytes` bytes of UTF-8 without splitting a character, appending an
 * ellipsis marker when something was cut.
 */
export function truncateUtf8(text: string, maxBytes: number): string {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length <= maxBytes) return text;
  const marker = '…[truncated]';
  const budget = Math.max(0, maxBytes - Buffer.byteLength(marker, 'utf8'));
  // Decoding a cut buffer may end in a replacement character; drop it.
  const cut = bytes.subarray(0, budget).toString('utf8').replace(/\uFFFD+$/u, '');
  return cut + marker;
}
