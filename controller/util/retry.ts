/**
 * Retries of transient failures around one HTTP exchange, shared by Apple's two APIs (dep/retry.ts,
 * abm/http.ts): network errors and timeouts (the caller says which thrown errors are transient), 5xx and
 * 429. Never another 4xx: sending the same request again cannot change the answer. Delays grow
 * exponentially with jitter, a `Retry-After` (seconds or HTTP date) is honoured, and attempts and total time
 * are both bounded.
 */
import { backoffDelay, parseRetryAfter } from './backoff.js';
import { sleep as realSleep, type SleepFn } from './sleep.js';

/** How a client retries transient failures. */
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

/** What the retry loop reads of a response. */
export interface RetryableResult {
  status: number;
  headers: Record<string, string | undefined>;
}

/**
 * Runs `attempt` until it returns a response whose status is not retryable, or the attempts or time budget
 * run out; then returns the last response (a retryable status included) so the caller can turn it into a
 * typed error. Errors thrown by `attempt` for which `which.transient` holds are retried the same way and
 * rethrown at the end; anything else (an abort, a programming error) is rethrown at once. `which.status` says
 * which statuses are retried (default {@link isRetryableStatus}).
 */
export async function withRetries<R extends RetryableResult>(
  policy: RetryPolicy,
  signal: AbortSignal | undefined,
  attempt: () => Promise<R>,
  which: { transient: (err: unknown) => boolean; status?: (status: number) => boolean },
): Promise<R> {
  const retryStatus = which.status ?? isRetryableStatus;
  const started = policy.now();
  for (let n = 1; ; n++) {
    let outcome: { result: R } | { error: unknown };
    try {
      const result = await attempt();
      if (!retryStatus(result.status)) return result;
      outcome = { result };
    } catch (err) {
      if (!which.transient(err)) throw err;
      outcome = { error: err };
    }
    const retryAfter = 'result' in outcome ? parseRetryAfter(outcome.result.headers['retry-after'], policy.now()) : undefined;
    const delay = Math.max(retryAfter ?? 0, backoffDelay(n, policy));
    if (n >= policy.maxAttempts || policy.now() - started + delay > policy.maxElapsedMs) {
      if ('result' in outcome) return outcome.result;
      throw outcome.error;
    }
    await policy.sleep(delay, signal);
  }
}
