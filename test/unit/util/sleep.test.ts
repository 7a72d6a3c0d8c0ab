import { describe, expect, it } from 'vitest';
import { isAbortError, sleep } from '../../../controller/util/sleep.js';

describe('sleep', () => {
  it('resolves after the delay', async () => {
    await expect(sleep(1)).resolves.toBeUndefined();
  });

  it('rejects at once with the abort reason when aborted while waiting', async () => {
    const ac = new AbortController();
    const waiting = sleep(60_000, ac.signal);
    ac.abort();
    const err = await waiting.catch((e: unknown) => e);
    expect(isAbortError(err)).toBe(true);
  });

  it('rejects before waiting when the signal has already aborted', async () => {
    const reason = new Error('stop');
    await expect(sleep(60_000, AbortSignal.abort(reason))).rejects.toBe(reason);
  });
});
