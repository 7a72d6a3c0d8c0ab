/**
 * OAuth 1.0a verification for GET /session (RFC 5849 §3.4 HMAC-SHA1), written independently of the
 * DEP client. Apple's rules (dep-protocol.md §2): 400 for unsupported or duplicated parameters, a
 * missing parameter or a method other than HMAC-SHA1; 401 for an unknown consumer key or token, a bad
 * signature or a reused nonce. The base string uses the URL the client called (scheme, Host header,
 * path), as NanoDEP and MicroMDM sign `http://host:port/session` against a simulator.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

/** OAuth parameters a DEP client sends; `realm` is optional (NanoDEP omits it). */
const REQUIRED = ['oauth_consumer_key', 'oauth_token', 'oauth_signature_method', 'oauth_signature', 'oauth_timestamp', 'oauth_nonce'] as const;
const ALLOWED = new Set<string>([...REQUIRED, 'oauth_version', 'realm']);

/** Result of parsing an Authorization header: the parameters, or a 400 reason. */
export type ParsedAuth = { ok: true; params: Map<string, string> } | { ok: false; reason: string };

/** RFC 3986 percent-encoding as OAuth requires (unreserved characters kept, everything else %XX). */
export function oauthEncode(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** Parses `Authorization: OAuth k="v", …` (RFC 5849 §3.5.1); values are percent-decoded. */
export function parseOAuthHeader(header: string | undefined): ParsedAuth {
  if (header === undefined || !/^OAuth\s/i.test(header)) return { ok: false, reason: 'missing OAuth authorization' };
  const params = new Map<string, string>();
  const body = header.replace(/^OAuth\s+/i, '');
  // RFC 5849 quotes every value; unquoted ones are accepted too, since a simulator must take what
  // real clients send rather than be stricter than Apple is known to be.
  const re = /\s*([A-Za-z0-9_]+)\s*=\s*(?:"([^"]*)"|([^",\s]*))\s*(?:,|$)/y;
  let m: RegExpExecArray | null;
  let consumed = 0;
  while ((m = re.exec(body)) !== null) {
    consumed = re.lastIndex;
    const name = m[1] as string;
    const raw = m[2] ?? m[3] ?? '';
    let value: string;
    try {
      value = decodeURIComponent(raw);
    } catch {
      return { ok: false, reason: 'bad percent-encoding' };
    }
    if (params.has(name)) return { ok: false, reason: `duplicated parameter ${name}` };
    if (!ALLOWED.has(name)) return { ok: false, reason: `unsupported parameter ${name}` };
    params.set(name, value);
    if (consumed >= body.length) break;
  }
  if (body.slice(consumed).trim() !== '') return { ok: false, reason: 'malformed authorization header' };
  for (const r of REQUIRED) if (!params.has(r)) return { ok: false, reason: `missing parameter ${r}` };
  if (params.get('oauth_signature_method') !== 'HMAC-SHA1') return { ok: false, reason: 'unsupported signature method' };
  const version = params.get('oauth_version');
  if (version !== undefined && version !== '1.0') return { ok: false, reason: 'unsupported oauth_version' };
  if (!/^\d+$/.test(params.get('oauth_timestamp') ?? '')) return { ok: false, reason: 'bad timestamp' };
  return { ok: true, params };
}

/**
 * The signature base string (RFC 5849 §3.4.1): METHOD & pct(base URL) & pct(sorted parameters),
 * where the parameters are the oauth_* ones (minus signature and realm) and the query's.
 */
export function signatureBaseString(method: string, baseUrl: string, params: ReadonlyMap<string, string>, query: URLSearchParams = new URLSearchParams()): string {
  const pairs: [string, string][] = [];
  for (const [k, v] of params) if (k !== 'oauth_signature' && k !== 'realm') pairs.push([oauthEncode(k), oauthEncode(v)]);
  for (const [k, v] of query) pairs.push([oauthEncode(k), oauthEncode(v)]);
  pairs.sort(([ak, av], [bk, bv]) => (ak < bk ? -1 : ak > bk ? 1 : av < bv ? -1 : av > bv ? 1 : 0));
  const normalised = pairs.map(([k, v]) => `${k}=${v}`).join('&');
  return `${method.toUpperCase()}&${oauthEncode(baseUrl)}&${oauthEncode(normalised)}`;
}

/** HMAC-SHA1 signature (base64) with key pct(consumer_secret) & pct(access_secret). */
export function hmacSha1Signature(baseString: string, consumerSecret: string, tokenSecret: string): string {
  return createHmac('sha1', `${oauthEncode(consumerSecret)}&${oauthEncode(tokenSecret)}`).update(baseString).digest('base64');
}

/**
 * The base URL a client signed (RFC 5849 §3.4.1.2): lower-case scheme and host, default ports
 * dropped, path without query.
 */
export function requestBaseUrl(scheme: string, hostHeader: string, path: string): string {
  const s = scheme.toLowerCase();
  let host = hostHeader.toLowerCase();
  if ((s === 'http' && host.endsWith(':80')) || (s === 'https' && host.endsWith(':443'))) host = host.replace(/:\d+$/, '');
  return `${s}://${host}${path}`;
}

/** Constant-time comparison of a received and an expected signature. */
export function signaturesMatch(received: string, expected: string): boolean {
  const a = Buffer.from(received);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}
