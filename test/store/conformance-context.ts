/**
 * Shared pieces of the conformance suite: the per-test context and fixed instants.
 */
import type { Store } from '../../controller/store/ports.js';

/** What each test group receives: the first handle, and a way to open more on the same database. */
export interface ConformanceContext {
  store: Store;
  open(opts?: { migrate?: boolean }): Promise<Store>;
}

/** A fixed instant with milliseconds, so results never depend on the wall clock. */
export const T0 = new Date('2026-03-01T10:00:00.123Z');

/** `T0` plus `seconds`. */
export function at(seconds: number): Date {
  return new Date(T0.getTime() + seconds * 1000);
}
