/**
 * Abort-aware waiting. Every wait in depctl goes through a function of this shape so that tests
 * can inject one that resolves at once (and advances a fake clock) instead of really waiting.
 */

/** A wait of `ms` milliseconds that rejects with the signal's reason when the signal aborts. */
export type SleepFn = (ms: number, signal?: AbortSignal) => Promise<void>;

/** Throws the signal's abort reason if it has already aborted (an `AbortError` DOMException by default). */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  signal?.throwIfAborted();
}

/** True when `err` is what an aborted operation throws (a DOMException or Error named `AbortError`). */
export function isAbortError(err: unknown): boolean {
  return err instanceof Error && err.name === 'AbortError';
}

/**
 * Waits `ms` milliseconds (0 or less resolves on the next macrotask). Rejects with `signal.reason`
 * as soon as `signal` aborts, and clears its timer so an aborted wait keeps no process alive.
 */
export const sleep: SleepFn = (ms, signal) =>
  new Promise<void>((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, Math.max(0, ms));
    signal?.addEventListener('abort', onAbort, { once: true });
  });
