/**
 * Exponential backoff with jitter, and parsing of HTTP `Retry-After`. Pure functions: the random
 * source and the clock are arguments.
 */

/** Parameters of an exponential backoff. */
export interface BackoffOptions {
  /** Delay before the first retry, before jitter (milliseconds). */
  baseDelayMs: number;
  /** Upper bound of any single delay (milliseconds). */
  maxDelayMs: number;
  /** Random source in [0, 1); Math.random by default. */
  random?: () => number;
}

/**
 * Delay before retry number `attempt` (1 for the first retry): `base * 2^(attempt-1)` capped at
 * `maxDelayMs`, with "equal jitter" — half fixed, half random — so that many clients failing at
 * once spread out while each still waits a meaningful minimum.
 */
export function backoffDelay(attempt: number, opts: BackoffOptions): number {
  const random = opts.random ?? Math.random;
  const exp = Math.min(opts.maxDelayMs, opts.baseDelayMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(exp / 2 + random() * (exp / 2));
}

/**
 * Parses a `Retry-After` header value (RFC 9110 section 10.2.3): either a number of seconds or an
 * HTTP date. Returns the delay in milliseconds from `nowMs` (never negative), or undefined when the
 * header is absent or unparseable.
 */
export function parseRetryAfter(value: string | undefined | null, nowMs: number): number | undefined {
  if (value === undefined || value === null) return undefined;
  const trimmed = value.trim();
  if (trimmed === '') return undefined;
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const at = Date.parse(trimmed);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - nowMs);
}
