/**
 * The Apple Business API client's typed errors (STYLE rule 3). Every error thrown by controller/abm is an
 * `AbmError` (or the caller's own abort reason). Messages and kept bodies are bounded and scrubbed of the
 * bearer token, the client assertion and anything that looks like a JWT or a PEM key when the error is
 * constructed, so an error can be logged, stored or shown as is.
 */
import { redact, truncateUtf8, REDACTED } from '../util/redact.js';
import type { AbmApiErrorEntry } from './types.js';

/** Maximum size of an error body (or a detail taken from one) that an error keeps. */
export const MAX_ABM_ERROR_BODY_BYTES = 1024;

const JWT_PATTERN = /\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*/g;
const PEM_PATTERN = /-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)/g;
const BEARER_PATTERN = /(Bearer\s+)[A-Za-z0-9._~+/=-]+/gi;
const FORM_SECRET_PATTERN = /((?:client_assertion|access_token)["']?\s*[:=]\s*["']?)[^"'\s&,}]+/gi;
/** Signatures of presigned download URLs (S3-style and generic). */
const PRESIGNED_PATTERN = /((?:X-Amz-Signature|X-Amz-Credential|X-Amz-Security-Token|Signature|sig)=)[^&\s"'<]+/gi;

/** Scrubs known secrets and secret-looking values (JWTs, PEM keys, bearer tokens) from `text`. */
export function redactAbm(text: string, secrets: readonly (string | undefined)[] = []): string {
  return redact(text, secrets)
    .replace(PEM_PATTERN, REDACTED)
    .replace(JWT_PATTERN, REDACTED)
    .replace(BEARER_PATTERN, (_m, p: string) => `${p}${REDACTED}`)
    .replace(FORM_SECRET_PATTERN, (_m, p: string) => `${p}${REDACTED}`)
    .replace(PRESIGNED_PATTERN, (_m, p: string) => `${p}${REDACTED}`);
}

function clean(text: string, secrets?: readonly (string | undefined)[]): string {
  return truncateUtf8(redactAbm(text, secrets), MAX_ABM_ERROR_BODY_BYTES);
}

/** Base class of every error the ABM client throws. */
export class AbmError extends Error {
  /** True when the same request may succeed later (network, timeout, 5xx, 429). */
  readonly transient: boolean;

  constructor(message: string, transient: boolean, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AbmError';
    this.transient = transient;
  }
}

/** The API account's credentials cannot be used as given (unreadable PEM, wrong key type, bad IDs). */
export class AbmCredentialsError extends AbmError {
  constructor(message: string) {
    super(message, false);
    this.name = 'AbmCredentialsError';
  }
}

/** Fields of an {@link AbmHttpError}. */
export interface AbmHttpErrorInit {
  status: number;
  method: string;
  /** Path without query, e.g. `/v1/orgDevices`. */
  endpoint: string;
  body: string;
  secrets?: readonly (string | undefined)[];
  retryAfterMs?: number;
}

/**
 * The API answered a non-2xx status. `errors` holds Apple's JSON:API error entries (scrubbed and
 * bounded); `code` is the first entry's dotted code.
 */
export class AbmHttpError extends AbmError {
  readonly status: number;
  readonly method: string;
  readonly endpoint: string;
  readonly errors: AbmApiErrorEntry[];
  readonly code: string | undefined;
  /** The response body, at most 1 KiB, secrets replaced by `[REDACTED]`. */
  readonly body: string;
  readonly retryAfterMs: number | undefined;

  constructor(init: AbmHttpErrorInit, message?: string) {
    const errors = parseApiErrors(init.body, init.secrets);
    const first = errors[0];
    const what = first ? ` ${first.code ?? ''}${first.detail ? `: ${first.detail}` : first.title ? `: ${first.title}` : ''}`.trimEnd() : '';
    super(message ?? `Apple Business API ${init.method} ${init.endpoint} failed: HTTP ${init.status}${what}`, init.status >= 500 || init.status === 429);
    this.name = 'AbmHttpError';
    this.status = init.status;
    this.method = init.method;
    this.endpoint = init.endpoint;
    this.errors = errors;
    this.code = first?.code;
    this.body = clean(init.body, init.secrets);
    this.retryAfterMs = init.retryAfterMs;
  }
}

/** The API refused the bearer token twice in a row (a fresh one included): the API account lost access. */
export class AbmAuthError extends AbmHttpError {
  constructor(init: AbmHttpErrorInit) {
    super(
      init,
      `Apple Business API ${init.method} ${init.endpoint} (HTTP ${init.status}): the API refused a freshly issued access token. ` +
        'Check that the API account still exists and has the permissions this call needs (Apple Business Manager → Preferences → API).',
    );
    this.name = 'AbmAuthError';
  }
}

/**
 * The token endpoint refused the client assertion (RFC 6749 section 5.2 `{error, error_description}`).
 * `error` is the OAuth code (`invalid_client`, `invalid_grant`, `invalid_scope`, …).
 */
export class AbmTokenError extends AbmError {
  readonly status: number;
  readonly error: string | undefined;
  readonly errorDescription: string | undefined;
  readonly errorUri: string | undefined;

  constructor(status: number, body: string, secrets: readonly (string | undefined)[]) {
    const parsed = parseOAuthError(body);
    const error = parsed.error === undefined ? undefined : clean(parsed.error, secrets);
    const description = parsed.error_description === undefined ? undefined : clean(parsed.error_description, secrets);
    const hint =
      error === 'invalid_client'
        ? ' Apple did not accept the client assertion: check the client ID, the key ID and that the private key is the one downloaded for this API account (and not revoked).'
        : error === 'invalid_scope'
          ? ' Check that the scope (business or school) matches the kind of organisation.'
          : '';
    super(
      `Apple token endpoint refused the API account credentials: HTTP ${status}${error ? ` ${error}` : ''}${description ? ` (${description})` : ''}.${hint}`,
      status >= 500 || status === 429,
    );
    this.name = 'AbmTokenError';
    this.status = status;
    this.error = error;
    this.errorDescription = description;
    this.errorUri = parsed.error_uri === undefined ? undefined : clean(parsed.error_uri, secrets);
  }
}

/** The request got no HTTP response (connection refused or reset, DNS, TLS). */
export class AbmNetworkError extends AbmError {
  readonly method: string;
  readonly endpoint: string;
  readonly code: string | undefined;

  constructor(method: string, endpoint: string, code: string | undefined, detail: string) {
    super(`Apple Business API ${method} ${endpoint}: network error${code ? ` ${code}` : ''}: ${detail}`, true);
    this.name = 'AbmNetworkError';
    this.method = method;
    this.endpoint = endpoint;
    this.code = code;
  }
}

/** No complete response within the per-request timeout. */
export class AbmTimeoutError extends AbmError {
  readonly method: string;
  readonly endpoint: string;
  readonly timeoutMs: number;

  constructor(method: string, endpoint: string, timeoutMs: number) {
    super(`Apple Business API ${method} ${endpoint}: no response within ${timeoutMs} ms`, true);
    this.name = 'AbmTimeoutError';
    this.method = method;
    this.endpoint = endpoint;
    this.timeoutMs = timeoutMs;
  }
}

/** A 2xx answer we cannot use (not JSON, a missing field, a cursor that never advances, an oversized download). */
export class AbmProtocolError extends AbmError {
  readonly endpoint: string;

  constructor(endpoint: string, detail: string) {
    super(`Apple Business API ${endpoint}: unexpected response: ${detail}`, false);
    this.name = 'AbmProtocolError';
    this.endpoint = endpoint;
  }
}

/** True for any error thrown by the ABM client. */
export function isAbmError(err: unknown): err is AbmError {
  return err instanceof AbmError;
}

/** True when retrying later may succeed. */
export function isTransientAbmError(err: unknown): boolean {
  return err instanceof AbmError && err.transient;
}

/** True for a 409 (unknown MDM server id, unknown serial, bad deadline on activity creation). */
export function isAbmConflict(err: unknown): err is AbmHttpError {
  return err instanceof AbmHttpError && err.status === 409;
}

/** True for a 404 (unknown device, server or activity). */
export function isAbmNotFound(err: unknown): err is AbmHttpError {
  return err instanceof AbmHttpError && err.status === 404;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function str(v: unknown, secrets?: readonly (string | undefined)[]): string | undefined {
  return typeof v === 'string' ? clean(v, secrets) : typeof v === 'number' ? String(v) : undefined;
}

/** Apple's `{errors:[…]}` entries, at most 20, each field scrubbed and bounded; [] when the body is something else. */
export function parseApiErrors(body: string, secrets?: readonly (string | undefined)[]): AbmApiErrorEntry[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return [];
  }
  if (!isObject(parsed) || !Array.isArray(parsed.errors)) return [];
  const out: AbmApiErrorEntry[] = [];
  for (const e of parsed.errors.slice(0, 20)) {
    if (!isObject(e)) continue;
    const entry: AbmApiErrorEntry = {};
    const id = str(e.id, secrets);
    const status = str(e.status, secrets);
    const code = str(e.code, secrets);
    const title = str(e.title, secrets);
    const detail = str(e.detail, secrets);
    if (id !== undefined) entry.id = id;
    if (status !== undefined) entry.status = status;
    if (code !== undefined) entry.code = code;
    if (title !== undefined) entry.title = title;
    if (detail !== undefined) entry.detail = detail;
    if (isObject(e.source)) {
      const pointer = str(e.source.pointer, secrets);
      const parameter = str(e.source.parameter, secrets);
      entry.source = { ...(pointer !== undefined ? { pointer } : {}), ...(parameter !== undefined ? { parameter } : {}) };
    }
    out.push(entry);
  }
  return out;
}

function parseOAuthError(body: string): { error?: string; error_description?: string; error_uri?: string } {
  try {
    const v: unknown = JSON.parse(body);
    if (!isObject(v)) return {};
    return {
      ...(typeof v.error === 'string' ? { error: v.error } : {}),
      ...(typeof v.error_description === 'string' ? { error_description: v.error_description } : {}),
      ...(typeof v.error_uri === 'string' ? { error_uri: v.error_uri } : {}),
    };
  } catch {
    return {};
  }
}
