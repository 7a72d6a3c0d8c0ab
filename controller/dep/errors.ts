/**
 * The DEP client's typed errors (STYLE rule 3). Every error thrown by controller/dep is a `DepError`
 * (or the caller's own abort reason). Bodies are kept to at most 1 KiB and scrubbed of secrets when the
 * error is constructed, so an error can be logged, stored or shown as is.
 */
import { redact, truncateUtf8 } from '../util/redact.js';
import { DEP_ERROR_CODES, type DepErrorCode } from './types.js';

/** Maximum size of an error body we keep, like NanoDEP (dep-protocol.md section 10). */
export const MAX_ERROR_BODY_BYTES = 1024;

/** What a terminal authentication failure means for the administrator. */
export type TerminalAuthReason =
  | 'terms-not-signed'
  | 'access-denied'
  | 'token-rejected'
  | 'signature-invalid'
  | 'session-unauthorized';

/** Base class of every error the DEP client throws. */
export class DepError extends Error {
  /** True when retrying the same request later may succeed (network, timeout, 5xx, 429). */
  readonly transient: boolean;

  constructor(message: string, transient: boolean, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DepError';
    this.transient = transient;
  }
}

/** Fields of a {@link DepHttpError}. */
export interface DepHttpErrorInit {
  status: number;
  method: string;
  /** Apple's path without query, e.g. `/profile/devices`. */
  endpoint: string;
  body: string;
  /** Secret values to scrub from the body (server token fields, session token). */
  secrets?: readonly (string | undefined)[];
  /** Delay the server asked for (`Retry-After`), in milliseconds. */
  retryAfterMs?: number;
}

/**
 * Apple answered with a non-2xx status. `code` is Apple's error code found in the body, which Apple
 * sends as plain text (`EXPIRED_CURSOR`) and depsim as a JSON string (`"INVALID_CURSOR"`).
 */
export class DepHttpError extends DepError {
  readonly status: number;
  readonly method: string;
  readonly endpoint: string;
  readonly code: DepErrorCode | undefined;
  /** The response body, at most 1 KiB, secrets replaced by `[REDACTED]`. */
  readonly body: string;
  readonly retryAfterMs: number | undefined;

  constructor(init: DepHttpErrorInit, message?: string) {
    const code = parseDepErrorCode(init.body);
    super(
      message ?? `DEP ${init.method} ${init.endpoint} failed: HTTP ${init.status}${code ? ` ${code}` : ''}`,
      init.status >= 500 || init.status === 429,
    );
    this.name = 'DepHttpError';
    this.status = init.status;
    this.method = init.method;
    this.endpoint = init.endpoint;
    this.code = code;
    this.body = truncateUtf8(redact(init.body, init.secrets), MAX_ERROR_BODY_BYTES);
    this.retryAfterMs = init.retryAfterMs;
  }
}

/**
 * Apple refused the server token or the organisation itself; retrying cannot help until a person acts.
 * The message says what to do.
 */
export class DepAuthError extends DepHttpError {
  readonly reason: TerminalAuthReason;

  constructor(init: DepHttpErrorInit, reason: TerminalAuthReason) {
    super(init, terminalAuthMessage(reason, init));
    this.name = 'DepAuthError';
    this.reason = reason;
  }
}

/**
 * Apple refused the User-Agent (400 `USER_AGENT_MISSING` or `USER_AGENT_INVALID`, dep-protocol.md
 * sections 2 and 4). Every call of this client sends the same value, so retrying cannot help: the message
 * says how to send another one.
 */
export class DepUserAgentError extends DepHttpError {
  /** The User-Agent this client sent. */
  readonly userAgent: string;

  constructor(init: DepHttpErrorInit, userAgent: string) {
    const code = parseDepErrorCode(init.body) ?? 'USER_AGENT_INVALID';
    super(
      init,
      `DEP ${init.method} ${init.endpoint} (HTTP ${init.status}): ${code} — Apple refused the User-Agent ${JSON.stringify(userAgent)}. ` +
        'Send another with the --user-agent option or the DEPCTL_USER_AGENT environment variable (Apple does not publish its rules; ' +
        'a product name and version such as "acme-mdm/2.1" is the common form); depctl will not retry this server until then.',
    );
    this.name = 'DepUserAgentError';
    this.userAgent = userAgent;
  }
}

/** The request did not get an HTTP response (connection refused or reset, DNS, TLS). */
export class DepNetworkError extends DepError {
  readonly method: string;
  readonly endpoint: string;
  /** The system or undici error code, e.g. `ECONNRESET`, `UND_ERR_SOCKET`. */
  readonly code: string | undefined;

  constructor(method: string, endpoint: string, code: string | undefined, detail: string, cause?: unknown) {
    super(`DEP ${method} ${endpoint}: network error${code ? ` ${code}` : ''}: ${detail}`, true, { cause });
    this.name = 'DepNetworkError';
    this.method = method;
    this.endpoint = endpoint;
    this.code = code;
  }
}

/** No complete response arrived within the per-request timeout. */
export class DepTimeoutError extends DepError {
  readonly method: string;
  readonly endpoint: string;
  readonly timeoutMs: number;

  constructor(method: string, endpoint: string, timeoutMs: number) {
    super(`DEP ${method} ${endpoint}: no response within ${timeoutMs} ms`, true);
    this.name = 'DepTimeoutError';
    this.method = method;
    this.endpoint = endpoint;
    this.timeoutMs = timeoutMs;
  }
}

/** Apple answered 2xx with something we cannot use (not JSON, empty session token, a cursor that never advances). */
export class DepProtocolError extends DepError {
  readonly endpoint: string;

  constructor(endpoint: string, detail: string) {
    super(`DEP ${endpoint}: unexpected response: ${detail}`, false);
    this.name = 'DepProtocolError';
    this.endpoint = endpoint;
  }
}

// Longest first, so that PROFILE_NOT_FOUND wins over NOT_FOUND when both are substrings.
const CODES_LONGEST_FIRST = [...DEP_ERROR_CODES].sort((a, b) => b.length - a.length);

/**
 * Finds Apple's error code in a response body by substring, as NanoDEP does, because Apple sends
 * plain text and depsim a quoted JSON string (dep-protocol.md section 4). Returns undefined when no
 * known code appears.
 */
export function parseDepErrorCode(body: string): DepErrorCode | undefined {
  const trimmed = body.trim().replace(/^"|"$/g, '');
  const exact = DEP_ERROR_CODES.find((c) => c === trimmed);
  if (exact) return exact;
  return CODES_LONGEST_FIRST.find((c) => body.includes(c));
}

function terminalAuthMessage(reason: TerminalAuthReason, init: DepHttpErrorInit): string {
  const where = `DEP ${init.method} ${init.endpoint} (HTTP ${init.status})`;
  switch (reason) {
    case 'terms-not-signed':
      return `${where}: T_C_NOT_SIGNED — the organisation has not accepted Apple's latest terms and conditions. An administrator must sign in to Apple Business Manager (or Apple School Manager) and accept them; depctl will not retry this server until then.`;
    case 'access-denied':
      return `${where}: ACCESS_DENIED — this server token may not perform this request. Check the MDM server's permissions in Apple Business Manager, or download a new token for it.`;
    case 'token-rejected':
      return `${where}: token_rejected — Apple no longer accepts this server token (revoked, replaced or expired). Download a new token for this MDM server in Apple Business Manager and replace the old one.`;
    case 'signature-invalid':
      return `${where}: signature_invalid — Apple rejected the token's signature, which happens when the token was replaced in the portal. Download a new token for this MDM server in Apple Business Manager and replace the old one.`;
    case 'session-unauthorized':
      return `${where}: Apple refused to open a session with this server token (invalid, expired or revoked). Check the token's expiry with \`depctl token inspect\`; download a new token for this MDM server in Apple Business Manager if it has expired or was replaced.`;
  }
}

/** True for any error thrown by the DEP client (not for the caller's own abort). */
export function isDepError(err: unknown): err is DepError {
  return err instanceof DepError;
}

/** True for an HTTP error response from Apple. */
export function isDepHttpError(err: unknown): err is DepHttpError {
  return err instanceof DepHttpError;
}

/** True when Apple will not serve this server until a person acts (terms, revoked or replaced token). */
export function isTerminalAuthError(err: unknown): err is DepAuthError {
  return err instanceof DepAuthError;
}

/** True when Apple refused the User-Agent: terminal until another one is configured. */
export function isUserAgentRejected(err: unknown): err is DepUserAgentError {
  return err instanceof DepUserAgentError;
}

/** True when retrying later may succeed: network errors, timeouts, 5xx and 429. */
export function isTransientDepError(err: unknown): boolean {
  return err instanceof DepError && err.transient;
}

function hasCode(err: unknown, status: number, code: DepErrorCode): boolean {
  return err instanceof DepHttpError && err.status === status && err.code === code;
}

/** The sync cursor is older than 7 days: start again with a full fetch. */
export function isCursorExpired(err: unknown): boolean {
  return hasCode(err, 400, 'EXPIRED_CURSOR');
}

/** Apple does not know the cursor: start again with a full fetch. */
export function isCursorInvalid(err: unknown): boolean {
  return hasCode(err, 400, 'INVALID_CURSOR');
}

/** The fetch is complete and its cursor used up: switch to sync (NanoDEP and MicroMDM do the same). */
export function isCursorExhausted(err: unknown): boolean {
  return hasCode(err, 400, 'EXHAUSTED_CURSOR');
}

/** Sync was called without a cursor. */
export function isCursorRequired(err: unknown): boolean {
  return hasCode(err, 400, 'CURSOR_REQUIRED');
}

/**
 * Apple does not know the profile UUID: 400 `NOT_FOUND` per Apple's docs for GET /profile, 404
 * `PROFILE_NOT_FOUND` per older clients, and a bare 404 on assign (dep-protocol.md section 3).
 */
export function isProfileNotFound(err: unknown): boolean {
  if (!(err instanceof DepHttpError)) return false;
  if (err.status !== 400 && err.status !== 404) return false;
  if (err.code === 'PROFILE_NOT_FOUND' || err.code === 'NOT_FOUND') return true;
  return err.status === 404 && err.endpoint.startsWith('/profile');
}

/** The request listed no serials (Apple's 400 `DEVICE_ID_REQUIRED`). */
export function isDeviceIdRequired(err: unknown): boolean {
  return hasCode(err, 400, 'DEVICE_ID_REQUIRED');
}
