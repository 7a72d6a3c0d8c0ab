/**
 * Retries of transient failures around one HTTP exchange: network errors (ECONNRESET and friends),
 * timeouts, 5xx and 429. Never a 4xx other than 429 — Apple's 4xx codes describe the request, and
 * sending it again cannot change the answer. Delays grow exponentially with jitter, and a
 * `Retry-After` (seconds or HTTP date) is honoured. Attempts and total time are both bounded.
 *
 * Every endpoint is retried, POST /profile included. Assign, remove, details and disown are idempotent
 * per serial; define is not (each define mints a new UUID, dep-protocol.md section 3), so a define
 * whose response was lost may leave an unused profile behind. That is harmless: Apple has no profile
 * list, and only the UUID we receive is recorded and assigned.
 */
import { withRetries as retryLoop, type RetryPolicy } from '../util/retry.js';
import { DepError } from './errors.js';
import type { HttpResult } from './http.js';

export { isRetryableStatus, retryPolicy, type RetryOptions, type RetryPolicy } from '../util/retry.js';

/** The shared retry loop (util/retry.ts) with `DepError`s marked transient retried like 5xx. */
export function withRetries(policy: RetryPolicy, signal: AbortSignal | undefined, attempt: () => Promise<HttpResult>): Promise<HttpResult> {
  return retryLoop(policy, signal, attempt, { transient: (err) => err instanceof DepError && err.transient });
}
