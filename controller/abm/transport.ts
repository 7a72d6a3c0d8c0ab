/**
 * The authenticated transport of the Business API (STYLE rule 2): it asks the token manager for a bearer,
 * sends `Authorization: Bearer …` and `Accept: application/json`, retries transient failures, and on a
 * 401 drops that token and replays the request once with a fresh one. A second 401 is an `AbmAuthError`.
 * Endpoint code only builds requests.
 */
import { parseRetryAfter } from '../util/backoff.js';
import { AbmAuthError, AbmHttpError, AbmProtocolError } from './errors.js';
import { exchange, withRetries, type AbmHttpResult, type AbmHttpSettings, type AbmRetryPolicy } from './http.js';
import type { AbmTokenManager } from './token.js';

/** One call, before authentication. */
export interface AbmRequest {
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  /** Path under the API base, e.g. `/orgDevices`. */
  path: string;
  query?: Record<string, string>;
  /** Serialised as JSON. */
  body?: unknown;
  signal?: AbortSignal;
  /** Not idempotent (creating an MDM server): retried only after a 429, never after a 5xx or a lost answer. */
  notIdempotent?: boolean;
}

/** Settings of the transport. */
export interface AbmTransportSettings {
  apiUrl: string;
  tokens: AbmTokenManager;
  http: Omit<AbmHttpSettings, 'secrets'>;
  retry: AbmRetryPolicy;
  now: () => number;
  userAgent: string;
}

/** The authenticated transport. */
export interface AbmTransport {
  /** Sends the request; resolves the parsed JSON of a 2xx answer (undefined for an empty one, e.g. 204). */
  request(req: AbmRequest): Promise<unknown>;
}

/** Creates the transport. */
export function createAbmTransport(s: AbmTransportSettings): AbmTransport {
  const base = s.apiUrl.replace(/\/+$/, '');
  const basePath = new URL(base).pathname.replace(/\/+$/, '');
  const http: AbmHttpSettings = { ...s.http, secrets: () => s.tokens.secrets() };

  const send = (req: AbmRequest, url: string, endpoint: string, body: string | undefined, token: string): Promise<AbmHttpResult> => {
    const headers: Record<string, string> = {
      Authorization: `Bearer ${token}`,
      Accept: 'application/json',
      'User-Agent': s.userAgent,
      ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}),
    };
    const attempt = (): Promise<AbmHttpResult> => exchange(http, { method: req.method, url, endpoint, headers, body, signal: req.signal });
    return withRetries(s.retry, req.signal, attempt, req.notIdempotent === true);
  };

  return {
    async request(req) {
      const qs = req.query && Object.keys(req.query).length > 0 ? `?${new URLSearchParams(req.query).toString()}` : '';
      const url = `${base}${req.path}${qs}`;
      const endpoint = `${basePath}${req.path}`;
      const body = req.body === undefined ? undefined : JSON.stringify(req.body);
      let token = await s.tokens.accessToken(req.signal);
      let res = await send(req, url, endpoint, body, token);
      if (res.status === 401) {
        // Drop only the token that failed (another caller may already hold a newer one) and replay once.
        s.tokens.invalidate(token);
        token = await s.tokens.accessToken(req.signal);
        res = await send(req, url, endpoint, body, token);
        if (res.status === 401) throw new AbmAuthError({ status: 401, method: req.method, endpoint, body: res.body, secrets: s.tokens.secrets() });
      }
      if (res.status < 200 || res.status >= 300) {
        throw new AbmHttpError({
          status: res.status,
          method: req.method,
          endpoint,
          body: res.body,
          secrets: s.tokens.secrets(),
          retryAfterMs: parseRetryAfter(res.headers['retry-after'], s.now()),
        });
      }
      if (res.body.trim() === '') return undefined;
      try {
        return JSON.parse(res.body) as unknown;
      } catch {
        throw new AbmProtocolError(endpoint, 'response body is not JSON');
      }
    },
  };
}
