/**
 * Deterministic, allocation-free pseudo-random helpers. The fleet is never stored as objects: every
 * generated attribute of device `i` is recomputed from `(seed, i, salt)` when a page is rendered, which
 * keeps a 1,000,000-device fleet in a few typed arrays.
 */

/** Mixes three integers into a well-distributed unsigned 32-bit value (a murmur3-style finaliser). */
export function hash32(seed: number, index: number, salt: number): number {
  let h = (seed ^ Math.imul(index + 0x9e3779b9, 0x85ebca6b) ^ Math.imul(salt + 0x632be5ab, 0xc2b2ae35)) >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d);
  h ^= h >>> 15;
  h = Math.imul(h, 0x846ca68b);
  h ^= h >>> 16;
  return h >>> 0;
}

/** A uniform float in [0, 1) derived from `(seed, index, salt)`. */
export function unit(seed: number, index: number, salt: number): number {
  return hash32(seed, index, salt) / 4294967296;
}

/** Picks an index from cumulative weights (ascending, last one is the total) with a uniform `u` in [0, 1). */
export function pickWeighted(cumulative: readonly number[], u: number): number {
  const total = cumulative[cumulative.length - 1] ?? 1;
  const target = u * total;
  for (let i = 0; i < cumulative.length; i++) {
    if (target < (cumulative[i] ?? 0)) return i;
  }
  return cumulative.length - 1;
}

/** `count` upper-case hex digits derived from `(seed, index, salt)`. */
export function hexDigits(seed: number, index: number, salt: number, count: number): string {
  let out = '';
  for (let k = 0; out.length < count; k++) {
    out += hash32(seed, index, salt * 977 + k).toString(16).padStart(8, '0');
  }
  return out.slice(0, count).toUpperCase();
}

/** Normalises any number (including negative or fractional seeds) into an unsigned 32-bit seed. */
export function normaliseSeed(seed: number): number {
  return hash32(Math.trunc(seed) >>> 0, Math.floor(seed / 4294967296), 0x5eed);
}
