import { describe, expect, it } from 'vitest';
import { progressLog } from '../../../controller/cli/run.js';

describe('the controller logs progress instead of drawing it', () => {
  it('writes one info line per 100 pages of a fetch and per 100 apply requests', () => {
    const lines: { fields: Record<string, unknown>; msg: string }[] = [];
    const log = { info: (fields: Record<string, unknown>, msg: string) => void lines.push({ fields, msg }) };
    const p = progressLog(log as never);
    for (let pages = 1; pages <= 250; pages++) p.onObserveProgress({ server: 'lyon', mode: 'fetch', pages, devices: pages * 1000, total: 300_000 });
    for (let requests = 1; requests <= 120; requests++) p.onApplyProgress({ server: 'lyon', requests, devices: requests * 1000, total: 120_000 });
    expect(lines).toEqual([
      { fields: { server: 'lyon', mode: 'fetch', pages: 100, devices: 100_000, total: 300_000 }, msg: 'observe progress' },
      { fields: { server: 'lyon', mode: 'fetch', pages: 200, devices: 200_000, total: 300_000 }, msg: 'observe progress' },
      { fields: { server: 'lyon', requests: 100, devices: 100_000, total: 120_000 }, msg: 'apply progress' },
    ]);
  });
});
