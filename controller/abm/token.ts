/**
 * The access-token manager (STYLE rule 2: authentication wraps requests). It mints the ES256 client
 * assertion, exchanges it at Apple's token endpoint for a one-hour bearer (form POST,
 * `grant_type=client_credentials`, `client_assertion_type=…jwt-bearer`, `scope=business.api|school.api`),
 * caches both, and renews them before they run out: the access token at 80% of its lifetime and the
 * assertion at 95% of its 180 days (nanoaxm's renewal points, dep-protocol.md section 7). Concurrent
 * callers share one token request. The transport calls `invalidate` after a 401 so that the next call
 * gets a fresh token. The assertion, the access token and the key never reach an error message.
 */
import { randomUUID } from 'node:crypto';
import { createClientAssertion, type ResolvedAbmCredentials } from './credentials.js';
import { AbmProtocolError, AbmTokenError } from './errors.js';
import { exchange, raceAbort, withRetries, type AbmHttpSettings, type AbmRetryPolicy } from './http.js';
import { ABM_MAX_ASSERTION_LIFETIME_SEC, ABM_OAUTH_SCOPES } from './types.js';

/** Fraction of the access token's `expires_in` after which it is renewed. */
export const ACCESS_TOKEN_RENEW_FRACTION = 0.8;
/** Fraction of the assertion's lifetime after which a new one is signed. */
export const ASSERTION_RENEW_FRACTION = 0.95;
/** The OAuth client assertion type. */
export const JWT_BEARER_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

/** Options of {@link createAbmTokenManager}. */
export interface AbmTokenManagerOptions {
  credentials: ResolvedAbmCredentials;
  http: Omit<AbmHttpSettings, 'secrets'>;
  retry: AbmRetryPolicy;
  /** Clock in epoch milliseconds. */
  now: () => number;
  /** Assertion lifetime in seconds (default and maximum 180 days). */
  assertionLifetimeSec?: number;
  /** `User-Agent` of the token request. */
  userAgent: string;
  /** `jti` source (default random UUIDs). */
  jti?: () => string;
}

/** Bearer tokens for one API account. */
export interface AbmTokenManager {
  /** A valid access token, requesting or renewing one when needed. */
  accessToken(signal?: AbortSignal): Promise<string>;
  /** Forgets `token` (the API answered 401 to it) unless a newer one already replaced it. */
  invalidate(token: string): void;
  /** The values to scrub from anything shown: current and recent assertions and access tokens. */
  secrets(): readonly string[];
  /** When the cached access token and assertion will be renewed (epoch ms), for tests and status. */
  renewalPoints(): { accessToken?: number; assertion?: number };
  /** Number of token requests sent (each retry counts once), for tests and metrics. */
  tokenRequests(): number;
}

interface Cached {
  value: string;
  renewAt: number;
}

/** Creates the token manager of one API account. */
export function createAbmTokenManager(o: AbmTokenManagerOptions): AbmTokenManager {
  const lifetimeSec = o.assertionLifetimeSec ?? ABM_MAX_ASSERTION_LIFETIME_SEC;
  if (!Number.isInteger(lifetimeSec) || lifetimeSec < 60 || lifetimeSec > ABM_MAX_ASSERTION_LIFETIME_SEC) {
    throw new RangeError(`assertionLifetimeSec must be 60 to ${ABM_MAX_ASSERTION_LIFETIME_SEC} seconds, got ${lifetimeSec}`);
  }
  const jti = o.jti ?? randomUUID;
  const endpoint = new URL(o.credentials.tokenUrl).pathname;
  let assertion: Cached | undefined;
  let access: Cached | undefined;
  let pending: Promise<string> | undefined;
  let requests = 0;
  const recent: string[] = [];
  const remember = (s: string): void => {
    recent.push(s);
    if (recent.length > 8) recent.shift();
  };
  const secrets = (): readonly string[] => [...recent];

  const currentAssertion = (): string => {
    const now = o.now();
    if (assertion && now < assertion.renewAt) return assertion.value;
    const iat = Math.floor(now / 1000);
    const { jwt } = createClientAssertion({ clientId: o.credentials.clientId, keyId: o.credentials.keyId, key: o.credentials.key, iat, lifetimeSec, jti: jti() });
    remember(jwt);
    assertion = { value: jwt, renewAt: iat * 1000 + Math.floor(lifetimeSec * 1000 * ASSERTION_RENEW_FRACTION) };
    return jwt;
  };

  const requestToken = async (): Promise<string> => {
    const form = new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: o.credentials.clientId,
      client_assertion_type: JWT_BEARER_ASSERTION_TYPE,
      client_assertion: currentAssertion(),
      scope: ABM_OAUTH_SCOPES[o.credentials.scope],
    }).toString();
    // No caller signal: several callers may share this request (their own waits honour their signals).
    const res = await withRetries(o.retry, undefined, () => {
      requests++;
      return exchange(
        { ...o.http, secrets },
        {
          method: 'POST',
          url: o.credentials.tokenUrl,
          endpoint,
          headers: { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json', 'User-Agent': o.userAgent },
          body: form,
          maxBytes: 64 * 1024,
        },
      );
    });
    if (res.status < 200 || res.status >= 300) {
      const err = new AbmTokenError(res.status, res.body, secrets());
      // A refused assertion is not reused: the next attempt signs a new one.
      if (res.status === 400 || res.status === 401) assertion = undefined;
      throw err;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(res.body);
    } catch {
      throw new AbmProtocolError(endpoint, 'token response is not JSON');
    }
    if (typeof parsed !== 'object' || parsed === null) throw new AbmProtocolError(endpoint, 'token response is not a JSON object');
    const p = parsed as Record<string, unknown>;
    if (typeof p.access_token !== 'string' || p.access_token === '') throw new AbmProtocolError(endpoint, 'token response has no access_token');
    if (p.token_type !== undefined && (typeof p.token_type !== 'string' || p.token_type.toLowerCase() !== 'bearer')) {
      throw new AbmProtocolError(endpoint, 'token_type is not Bearer');
    }
    const expiresIn = typeof p.expires_in === 'number' && Number.isFinite(p.expires_in) && p.expires_in > 0 ? p.expires_in : 3600;
    remember(p.access_token);
    access = { value: p.access_token, renewAt: o.now() + Math.floor(expiresIn * 1000 * ACCESS_TOKEN_RENEW_FRACTION) };
    return p.access_token;
  };

  return {
    accessToken(signal) {
      signal?.throwIfAborted();
      if (access && o.now() < access.renewAt) return Promise.resolve(access.value);
      pending ??= requestToken().finally(() => {
        pending = undefined;
      });
      return raceAbort(pending, signal);
    },
    invalidate(token) {
      if (access?.value === token) access = undefined;
    },
    secrets,
    renewalPoints: () => ({ accessToken: access?.renewAt, assertion: assertion?.renewAt }),
    tokenRequests: () => requests,
  };
}
