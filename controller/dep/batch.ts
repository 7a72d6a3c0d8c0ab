/**
 * Serial batching: Apple allows at most 1000 serials per assign request and documents no limit for
 * the other serial lists, which clients cap the same way (dep-protocol.md sections 3 and 9).
 */
import { MAX_SERIALS_PER_REQUEST } from './types.js';

/** Splits serials into batches of at most `size`, after dropping duplicates (first occurrence kept). */
export function batchSerials(serials: readonly string[], size: number = MAX_SERIALS_PER_REQUEST): string[][] {
  const unique = [...new Set(serials)];
  const out: string[][] = [];
  for (let i = 0; i < unique.length; i += size) out.push(unique.slice(i, i + size));
  return out;
}

/** A response carrying per-serial results in `devices`. */
export interface PerSerialResponse<V> {
  devices: Record<string, V>;
}

/**
 * Sends each batch in turn and merges the per-serial maps in place (no copying per batch, so a
 * million serials stay linear). `mergeExtra` folds any other field of a later response into the
 * first (e.g. the largest `retry_after_seconds`). Batches run sequentially: Apple throttles per
 * organisation, and a fixed order keeps results reproducible. Returns undefined for no serials.
 */
export async function sendInBatches<V, R extends PerSerialResponse<V>>(
  serials: readonly string[],
  send: (batch: string[]) => Promise<R>,
  mergeExtra?: (acc: R, next: R) => void,
): Promise<R | undefined> {
  const batches = batchSerials(serials);
  // One batch (the common case: apply sends at most 1000 serials per call) needs no merged copy.
  if (batches.length === 1) return send(batches[0]!);
  let acc: R | undefined;
  for (const batch of batches) {
    const res = await send(batch);
    if (acc === undefined) {
      acc = { ...res, devices: { ...res.devices } };
    } else {
      Object.assign(acc.devices, res.devices);
      mergeExtra?.(acc, res);
    }
  }
  return acc;
}
