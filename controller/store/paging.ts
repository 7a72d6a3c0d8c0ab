/**
 * Paging helpers shared by every backend, so `iterateDevices` streams identically everywhere.
 */
import type { DeviceRecord } from './ports.js';

/** Validates a page size or limit (a positive integer) and returns it. */
export function checkLimit(limit: number): number {
  if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`limit must be a positive integer, got ${limit}`);
  return limit;
}

/**
 * Walks keyset pages: each page is fetched only when the consumer asks for it, so at most one page
 * is in memory and no row is read twice.
 */
export async function* pageThrough<T extends { serial: string } = DeviceRecord>(fetchPage: (after: string | null) => Promise<{ devices: T[]; next: string | null }>): AsyncGenerator<T[]> {
  let after: string | null = null;
  for (;;) {
    const page = await fetchPage(after);
    if (page.devices.length > 0) yield page.devices;
    if (page.next === null) return;
    after = page.next;
  }
}
