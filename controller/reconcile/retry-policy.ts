/**
 * When depctl tries a serial again, in one place (README, "Apply semantics"):
 * - `THROTTLED`: not before Apple's `retry_after_seconds` (protocol 10); 60 s when Apple gives none
 *   (protocol 9 has THROTTLED without a time; 60 s is depctl's choice, Apple documents no default).
 * - `FAILED` (and a serial Apple left out of its answer): once more within the same apply, through the
 *   assign endpoint, after a short pause — a define's device list cannot answer THROTTLED, so throttling
 *   there shows as FAILED (dep-protocol.md, assign). Then per serial, from the attempts recorded in the
 *   store: 15 min, 1 h, 6 h, 24 h, then daily. `depctl apply --retry-failed` retries them now.
 * - `NOT_ACCESSIBLE`: not retried; the plan reports it as drift until Apple shows the device again.
 * - HTTP 429/503 with a `Retry-After` longer than the client's own retry budget: the pass ends with a
 *   transient problem carrying that time, and the loop schedules the server's next pass then.
 */
import type { DeviceResultStatus } from './ports.js';

/** Seconds to wait after THROTTLED when Apple gives no `retry_after_seconds`. */
export const DEFAULT_THROTTLE_SECONDS = 60;

/** Pause before the one retry of FAILED serials within an apply. */
export const IN_APPLY_RETRY_PAUSE_MS = 2_000;

/** Delay before the next attempt after the n-th failed attempt (n = 1, 2, ...); the last step repeats. */
export const FAILED_SCHEDULE_MS = [15 * 60_000, 3_600_000, 6 * 3_600_000, 24 * 3_600_000] as const;

/** How long to wait after `attempts` consecutive failed attempts (1 or more). */
export function failedRetryDelayMs(attempts: number): number {
  const i = Math.min(Math.max(1, attempts), FAILED_SCHEDULE_MS.length) - 1;
  return FAILED_SCHEDULE_MS[i] as number;
}

/** Apple's per-serial status folded to depctl's result, and whether it is a failure to retry. */
export function resultOf(apple: string | null): { status: DeviceResultStatus; failure: boolean } {
  switch (apple) {
    case 'SUCCESS':
      return { status: 'success', failure: false };
    case 'THROTTLED':
      return { status: 'throttled', failure: false };
    case 'NOT_ACCESSIBLE':
      return { status: 'not-accessible', failure: false };
    case 'FAILED':
      return { status: 'failed', failure: true };
    default:
      // No status for a serial we sent: a failure worth retrying, not a success.
      return { status: 'error', failure: true };
  }
}

/** When a throttled serial may be tried again. */
export function throttledUntil(now: Date, retryAfterSeconds: number | undefined): Date {
  const seconds = retryAfterSeconds !== undefined && Number.isFinite(retryAfterSeconds) && retryAfterSeconds >= 0 ? retryAfterSeconds : DEFAULT_THROTTLE_SECONDS;
  return new Date(now.getTime() + seconds * 1000);
}
