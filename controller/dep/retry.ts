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
import { backoffDelay, parseRetryAfter } from '../util/backoff.js';
import { sleep as realSleep, type SleepFn } from '../util/sleep.js';
import { DepError } from './errors.js';
import type { HttpResult } from './http.js';

/** How the client retries transient failures. */
export interface RetryOptions {
  /** Total attempts including the first (default 5; 1 disables retries). */
  maxAttempts?: number;
  /** First retry delay before jitter (default 500 ms). */
  baseDelayMs?: number;
  /** Cap of a single computed delay (default 30 s). A longer Retry-After is still honoured within the budget. */
  maxDelayMs?: number;
  /** Give up when the next wait would end later than this after the first attempt (default 120 s). */
  maxElapsedMs?: number;
  /** Injectable wait, so tests need no real waiting (default: a real, abortable timer). */
  sleep?: SleepFn;
}

/** Retry settings with every default filled in, plus the clock and random source of the client. */
export interface RetryPolicy {
  maxAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
  maxElapsedMs: number;
  sleep: SleepFn;
  now: () => number;
  random: () => number;
}

/** Fills in the defaults of {@link RetryOptions}. */
export function retryPolicy(opts: RetryOptions | undefined, now: () => number, random: () => number): RetryPolicy {
  return {
    maxAttempts: Math.max(1, opts?.maxAttempts ?? 5),
    baseDelayMs: opts?.baseDelayMs ?? 500,
    maxDelayMs: opts?.maxDelayMs ?? 30_000,
    maxElapsedMs: opts?.maxElapsedMs ?? 120_000,
    sleep: opts?.sleep ?? realSleep,
    now,
    random,
  };
}

/** True for statuses worth retrying: 429 and every 5xx. */
export function isRetryableStatus(status: number): boolean {
  return status === 429 || status >= 500;
}

/**
 * Runs `attempt` until it returns a response whose status is not retryable, or the attempts or time
 * budget run out; then returns the last response (a retryable status included) so the caller can turn
 * it into a typed error. Transient `DepError`s thrown by `attempt` are retried the same way and
 * rethrown at the end; anything else (an abort, a programming error) is rethrown at once.
 */
export async function withRetries(
  policy: RetryPolicy,
  signal: AbortSignal | undefined,
  attempt: () => Promise<HttpResult>,
): Promise<HttpResult> {
  const started = policy.now();
  for (let n = 1; ; n++) {
    let outcome: { result: HttpResult } | { error: DepError };
    try {
      const result = await attempt();
      if (!isRetryableStatus(result.status)) return result;
      outcome = { result };
    } catch (err) {
      if (!(err instanceof DepError) || !err.transient) throw err;
      outcome = { error: err };
    }
    const retryAfter =
      'result' in outcome ? parseRetryAfter(outcome.result.headers['retry-after'], policy.now()) : undefined;
    const delay = Math.max(retryAfter ?? 0, backoffDelay(n, policy));
    const elapsed = policy.now() - started;
    if (n >= policy.maxAttempts || elapsed + delay > policy.maxElapsedMs) {
      if ('result' in outcome) return outcome.result;
      throw outcome.error;
    }
    await policy.sleep(delay, signal);
  }
}
