/**
 * The authenticated DEP transport (STYLE rule 2): it owns the session token. It signs `GET /session`
 * with OAuth 1.0a, attaches `X-ADM-Auth-Session` to every call, adopts a refreshed token from any
 * response header, and re-authenticates once on 401 or on a 403 whose body contains `FORBIDDEN`
 * (depsim after a restart; NanoDEP `client/transport.go` does the same), replaying the request body.
 * Endpoint code only builds requests. See dep-protocol.md section 2.
 */
import { raceAbort } from '../util/http.js';
import { randomBytes } from 'node:crypto';
import type { Dispatcher } from 'undici';
import { DEFAULT_USER_AGENT, userAgentProblem } from './user-agent.js';
import { DepAuthError, DepHttpError, DepProtocolError, DepUserAgentError, parseDepErrorCode, type DepHttpErrorInit, type TerminalAuthReason } from './errors.js';
import { parseRetryAfter } from '../util/backoff.js';
import { exchange, type DepRequestEvent, type HttpResult } from './http.js';
import { sessionAuthorizationHeader } from './oauth1.js';
import { withRetries, type RetryPolicy } from './retry.js';
import { DEP_CONTENT_TYPE, DEP_PROTOCOL_VERSION, type DepErrorCode, type ServerToken, type SessionResponse } from './types.js';

/** The header carrying the session token, both ways. */
export const SESSION_HEADER = 'X-ADM-Auth-Session';

// Defined in user-agent.ts, which loads no HTTP client, so that the CLI's global options can name the default.
export { DEFAULT_USER_AGENT, userAgentProblem };

/** Settings of one transport (one DEP server token). */
export interface TransportSettings {
  baseUrl: string;
  token: ServerToken;
  /** Sent as `User-Agent` on every call, /session included; checked with {@link userAgentProblem}. */
  userAgent: string;
  dispatcher: Dispatcher;
  now: () => number;
  nonce: () => string;
  retry: RetryPolicy;
  timeoutMs: number;
  onRequest?: (e: DepRequestEvent) => void;
}

/** One call to Apple, before authentication. */
export interface DepRequest {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** Apple's path, e.g. `/profile/devices`. */
  path: string;
  query?: Record<string, string>;
  /** Serialised as JSON; DELETE /profile/devices carries one too. */
  body?: unknown;
  signal?: AbortSignal;
}

/** The authenticated transport. */
export interface DepTransport {
  /** Sends an authenticated request and returns the parsed JSON of a 2xx response; throws typed errors otherwise. */
  request<T>(req: DepRequest): Promise<T>;
  /** Forgets the cached session so the next call authenticates again. */
  resetSession(): void;
  /** The secret values to scrub from anything shown (server token fields and the session token). */
  secrets(): readonly (string | undefined)[];
}

/** A random 128-bit hex nonce (RFC 5849 section 3.3 only asks that it be unique per timestamp). */
export function randomNonce(): string {
  return randomBytes(16).toString('hex');
}

/** Builds the full URL of an Apple path under the configured base (which may itself have a path, e.g. a proxy). */
export function depUrl(baseUrl: string, path: string, query?: Record<string, string>): string {
  const qs = query && Object.keys(query).length > 0 ? `?${new URLSearchParams(query).toString()}` : '';
  return `${baseUrl.replace(/\/+$/, '')}${path}${qs}`;
}

/** Creates the transport for one server token. */
export function createDepTransport(s: TransportSettings): DepTransport {
  let session: string | undefined;
  let pending: Promise<string> | undefined;
  // Recent session tokens, so that a body echoing an old one is scrubbed too.
  const recentSessions: string[] = [];
  const adopt = (token: string): void => {
    session = token;
    if (!recentSessions.includes(token)) recentSessions.push(token);
    if (recentSessions.length > 8) recentSessions.shift();
  };
  const secrets = (): readonly (string | undefined)[] => [
    s.token.consumer_secret,
    s.token.access_token,
    s.token.access_secret,
    s.token.consumer_key,
    ...recentSessions,
  ];
  const baseHeaders = (): Record<string, string> => ({
    'X-Server-Protocol-Version': String(DEP_PROTOCOL_VERSION),
    'User-Agent': s.userAgent,
    // depsim wants this even on the body-less GET /session (dep-protocol.md section 10).
    'Content-Type': DEP_CONTENT_TYPE,
    Accept: DEP_CONTENT_TYPE,
  });

  const send = (method: DepRequest['method'], path: string, url: string, headers: Record<string, string>, body: string | undefined, signal?: AbortSignal): Promise<HttpResult> =>
    withRetries(s.retry, signal, async () => {
      const res = await exchange(
        { dispatcher: s.dispatcher, timeoutMs: s.timeoutMs, onRequest: s.onRequest, secrets },
        { method, url, endpoint: path, headers, body, signal },
      );
      // Any response may hand us a fresh session token (old MDM protocol reference; NanoDEP).
      const fresh = res.headers[SESSION_HEADER.toLowerCase()];
      if (fresh) adopt(fresh);
      return res;
    });

  const authenticate = async (): Promise<string> => {
    const url = depUrl(s.baseUrl, '/session');
    const authorization = sessionAuthorizationHeader({
      url,
      token: s.token,
      timestamp: Math.floor(s.now() / 1000),
      nonce: s.nonce(),
    });
    // No caller signal: several callers may share this authentication (see getSession).
    const res = await send('GET', '/session', url, { ...baseHeaders(), Authorization: authorization }, undefined);
    const init = { status: res.status, method: 'GET', endpoint: '/session', body: res.body, secrets: secrets() };
    if (res.status === 401 || res.status === 403) {
      // Every 401/403 from /session is terminal: the token itself is refused (Apple's error-code page).
      throw new DepAuthError(init, terminalReason(parseDepErrorCode(res.body)) ?? (res.status === 401 ? 'session-unauthorized' : 'access-denied'));
    }
    if (res.status < 200 || res.status >= 300) throw httpError(init, res, s.now(), s.userAgent);
    const parsed = parseJson<SessionResponse>('/session', res.body);
    if (typeof parsed.auth_session_token !== 'string' || parsed.auth_session_token === '') {
      throw new DepProtocolError('/session', 'empty auth_session_token');
    }
    return parsed.auth_session_token;
  };

  // Concurrent callers share one /session call; each still honours its own abort signal.
  const getSession = async (signal?: AbortSignal): Promise<string> => {
    signal?.throwIfAborted();
    if (session) return session;
    pending ??= authenticate().then(
      (t) => {
        adopt(t);
        pending = undefined;
        return t;
      },
      (err: unknown) => {
        pending = undefined;
        throw err;
      },
    );
    return raceAbort(pending, signal);
  };

  const request = async <T>(req: DepRequest): Promise<T> => {
    const url = depUrl(s.baseUrl, req.path, req.query);
    const body = req.body === undefined ? undefined : JSON.stringify(req.body);
    const attempt = async (): Promise<{ res: HttpResult; used: string }> => {
      const used = await getSession(req.signal);
      const res = await send(req.method, req.path, url, { ...baseHeaders(), [SESSION_HEADER]: used }, body, req.signal);
      return { res, used };
    };
    const first = await attempt();
    let res = first.res;
    if (needsReauth(res)) {
      // Only drop the token that failed: another caller may already have a fresh one.
      if (session === first.used) session = undefined;
      res = (await attempt()).res;
    }
    const init = { status: res.status, method: req.method, endpoint: req.path, body: res.body, secrets: secrets() };
    if (res.status < 200 || res.status >= 300) throw httpError(init, res, s.now(), s.userAgent);
    return parseJson<T>(req.path, res.body);
  };

  return {
    request,
    resetSession: () => {
      session = undefined;
    },
    secrets,
  };
}

/** 401, or 403 with `FORBIDDEN` in the body: the session is stale, authenticate again (NanoDEP, Fleet). */
function needsReauth(res: HttpResult): boolean {
  return res.status === 401 || (res.status === 403 && res.body.includes('FORBIDDEN'));
}

function terminalReason(code: DepErrorCode | undefined): TerminalAuthReason | undefined {
  switch (code) {
    case 'T_C_NOT_SIGNED':
      return 'terms-not-signed';
    case 'ACCESS_DENIED':
      return 'access-denied';
    case 'token_rejected':
      return 'token-rejected';
    case 'signature_invalid':
      return 'signature-invalid';
    default:
      return undefined;
  }
}

function httpError(init: DepHttpErrorInit, res: HttpResult, nowMs: number, userAgent: string): DepHttpError {
  const reason = res.status === 401 || res.status === 403 ? terminalReason(parseDepErrorCode(res.body)) : undefined;
  if (reason) return new DepAuthError(init, reason);
  // Apple's 400 for a User-Agent it refuses, on any endpoint (dep-protocol.md sections 2 and 4).
  const code = res.status === 400 ? parseDepErrorCode(res.body) : undefined;
  if (code === 'USER_AGENT_MISSING' || code === 'USER_AGENT_INVALID') return new DepUserAgentError(init, userAgent);
  return new DepHttpError({ ...init, retryAfterMs: parseRetryAfter(res.headers['retry-after'], nowMs) });
}

function parseJson<T>(endpoint: string, body: string): T {
  try {
    return JSON.parse(body) as T;
  } catch {
    throw new DepProtocolError(endpoint, 'response body is not JSON');
  }
}

