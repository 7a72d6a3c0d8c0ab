import { describe, expect, it } from 'vitest';
import { backoffDelay, parseRetryAfter } from '../../../controller/util/backoff.js';

describe('backoffDelay', () => {
  it('doubles per attempt, caps at maxDelayMs and jitters within the upper half', () => {
    const opts = { baseDelayMs: 100, maxDelayMs: 1000 };
    expect(backoffDelay(1, { ...opts, random: () => 0 })).toBe(50);
    expect(backoffDelay(1, { ...opts, random: () => 0.999999 })).toBe(100);
    expect(backoffDelay(3, { ...opts, random: () => 0 })).toBe(200);
    expect(backoffDelay(10, { ...opts, random: () => 0.999999 })).toBe(1000);
  });
});

describe('parseRetryAfter', () => {
  const now = Date.parse('2026-11-25T12:00:00Z');
  it('reads seconds', () => {
    expect(parseRetryAfter('7', now)).toBe(7000);
  });
  it('reads an HTTP date relative to the clock, never negative', () => {
    expect(parseRetryAfter('Wed, 25 Nov 2026 12:00:30 GMT', now)).toBe(30_000);
    expect(parseRetryAfter('Wed, 25 Nov 2026 11:00:00 GMT', now)).toBe(0);
  });
  it('returns undefined for absent or garbage values', () => {
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
    expect(parseRetryAfter('', now)).toBeUndefined();
    expect(parseRetryAfter('soon', now)).toBeUndefined();
  });
});
