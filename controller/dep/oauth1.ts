/**
 * OAuth 1.0a (RFC 5849) HMAC-SHA1 signing, as Apple's `GET /session` requires (dep-protocol.md section 2;
 * Apple's "Authenticating with the Automated Device Enrollment program"). Pure functions: the nonce and
 * the timestamp are arguments, so the RFC's published examples are reproducible in tests.
 *
 * Hand-written on purpose: the kept OAuth libraries on npm are OAuth 2 clients or pull in a request
 * stack of their own; what Apple needs is one HMAC-SHA1 header for one GET, about 60 lines checked
 * against the RFC 5849 test vectors (test/unit/dep/oauth1.test.ts).
 */
import { createHmac } from 'node:crypto';
import type { ServerToken } from './types.js';

/** The realm Apple's example header carries. NanoDEP omits it and Apple accepts both. */
export const OAUTH_REALM = 'ADM';

/**
 * RFC 5849 section 3.6 percent-encoding: every byte except the unreserved set `A-Z a-z 0-9 - . _ ~` is
 * encoded as `%XX` with upper-case hex. `encodeURIComponent` leaves `!*'()` alone, so fix those up.
 */
export function percentEncode(value: string): string {
  return encodeURIComponent(value).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

/**
 * RFC 5849 section 3.4.1.2 base string URI: lower-case scheme and host, the port only when it is not the
 * scheme's default, the path as given, and no query or fragment.
 */
export function baseStringUri(url: string | URL): string {
  const u = new URL(url.toString());
  // WHATWG URL already lower-cases scheme and host and drops default ports.
  return `${u.protocol}//${u.host}${u.pathname}`;
}

/**
 * RFC 5849 section 3.4.1 signature base string: `METHOD&pct(base URI)&pct(normalised parameters)`, where
 * the parameters (already decoded name/value pairs, repeats allowed) are percent-encoded, sorted by
 * name then value (byte order), and joined as `name=value` with `&` (section 3.4.1.3.2).
 */
export function signatureBaseString(
  method: string,
  url: string | URL,
  params: readonly (readonly [string, string])[],
): string {
  const encoded = params.map(([k, v]) => [percentEncode(k), percentEncode(v)] as const);
  encoded.sort(([ak, av], [bk, bv]) => (ak < bk ? -1 : ak > bk ? 1 : av < bv ? -1 : av > bv ? 1 : 0));
  const normalised = encoded.map(([k, v]) => `${k}=${v}`).join('&');
  return [method.toUpperCase(), percentEncode(baseStringUri(url)), percentEncode(normalised)].join('&');
}

/**
 * RFC 5849 section 3.4.2 HMAC-SHA1 signature (base64, not yet percent-encoded): the key is
 * `pct(client secret)&pct(token secret)`.
 */
export function hmacSha1Signature(baseString: string, consumerSecret: string, tokenSecret: string): string {
  const key = `${percentEncode(consumerSecret)}&${percentEncode(tokenSecret)}`;
  return createHmac('sha1', key).update(baseString, 'utf8').digest('base64');
}

/** Inputs of the `/session` Authorization header. */
export interface SessionAuthInput {
  /** Full URL of the session endpoint (configured base URL + `/session`). */
  url: string | URL;
  token: Pick<ServerToken, 'consumer_key' | 'consumer_secret' | 'access_token' | 'access_secret'>;
  /** Seconds since the epoch (from the injected clock). */
  timestamp: number;
  /** A fresh random value per request. */
  nonce: string;
}

/**
 * Builds the `Authorization: OAuth …` header for `GET /session`. Parameters appear in the order of
 * Apple's documentation example (realm, consumer key, token, method, signature, timestamp, nonce,
 * version); the signature covers the sorted `oauth_*` parameters without realm and signature.
 */
export function sessionAuthorizationHeader(input: SessionAuthInput): string {
  const params: [string, string][] = [
    ['oauth_consumer_key', input.token.consumer_key],
    ['oauth_token', input.token.access_token],
    ['oauth_signature_method', 'HMAC-SHA1'],
    ['oauth_timestamp', String(input.timestamp)],
    ['oauth_nonce', input.nonce],
    ['oauth_version', '1.0'],
  ];
  const base = signatureBaseString('GET', input.url, params);
  const signature = hmacSha1Signature(base, input.token.consumer_secret, input.token.access_secret);
  return formatAuthorizationHeader(OAUTH_REALM, [...params.slice(0, 3), ['oauth_signature', signature], ...params.slice(3)]);
}

/**
 * Serialises OAuth protocol parameters as an `Authorization` header value (RFC 5849 section 3.5.1): each
 * name and value percent-encoded, values quoted, `, ` between parameters, realm first and unencoded.
 */
export function formatAuthorizationHeader(realm: string | undefined, params: readonly (readonly [string, string])[]): string {
  const parts = params.map(([k, v]) => `${percentEncode(k)}="${percentEncode(v)}"`);
  if (realm !== undefined) parts.unshift(`realm="${realm}"`);
  return `OAuth ${parts.join(', ')}`;
}
