import { describe, expect, it } from 'vitest';
import type { CliIo } from '../../../controller/cli/io.js';
import { createProgress, progressWanted, rateAndEta } from '../../../controller/cli/progress.js';

function fakeIo(isTTY: boolean): { io: CliIo; err: () => string } {
  let err = '';
  return { io: { stdout: () => undefined, stderr: (s) => (err += s), env: {}, cwd: '.', isTTY }, err: () => err };
}

describe('progress on stderr', () => {
  it('is drawn only on a terminal and never for JSON output', () => {
    expect(progressWanted(fakeIo(true).io, 'text')).toBe(true);
    expect(progressWanted(fakeIo(true).io, 'markdown')).toBe(true);
    expect(progressWanted(fakeIo(true).io, 'json')).toBe(false);
    expect(progressWanted(fakeIo(false).io, 'text')).toBe(false);
    const { io, err } = fakeIo(false);
    const p = createProgress(io, progressWanted(io, 'text'));
    p.observe({ server: 'lyon', mode: 'fetch', pages: 1, devices: 1000, total: null });
    p.clear();
    expect(err()).toBe('');
  });

  it('throttles to four redraws a second, shows pages, devices, rate and ETA, and clears the line', () => {
    let t = 0;
    const { io, err } = fakeIo(true);
    const p = createProgress(io, true, { clock: () => t });
    for (let page = 1; page <= 20; page++) {
      t = page * 100;
      p.observe({ server: 'lyon', mode: 'fetch', pages: page, devices: page * 1000, total: 40_000 });
    }
    const draws = err().split('\r\x1b[2K').filter(Boolean);
    // Events every 100 ms over 2 s: at most one draw per 250 ms.
    expect(draws.length).toBeLessThanOrEqual(8);
    expect(draws.at(-1)).toMatch(/^lyon: fetching devices: \d+ pages, [\d,]+\/40,000 \(\d+%\) devices, [\d,]+\/s, ETA \d+s$/);
    p.clear();
    expect(err().endsWith('\r\x1b[2K')).toBe(true);
  });

  it('always draws the end of an apply', () => {
    let t = 0;
    const { io, err } = fakeIo(true);
    const p = createProgress(io, true, { clock: () => t });
    p.apply({ server: 'paris', devices: 1000, total: 2000, requests: 1 });
    t = 10;
    p.apply({ server: 'paris', devices: 2000, total: 2000, requests: 2 });
    expect(err()).toContain('paris: applying: 2,000/2,000 (100%) devices, 2 requests');
  });

  it('gives a rate after a second and an ETA only with a total', () => {
    expect(rateAndEta(500, 1000, 500)).toBe('');
    expect(rateAndEta(1000, 3000, 2000)).toBe(', 500/s, ETA 4s');
    expect(rateAndEta(1000, null, 2000)).toBe(', 500/s');
    expect(rateAndEta(1000, 100_000, 1000)).toBe(', 1,000/s, ETA 1m39s');
  });
});
