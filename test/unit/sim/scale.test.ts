import { describe, expect, it } from 'vitest';
import { startSimulator } from '../../../controller/sim/index.js';
import { SimState } from '../../../controller/sim/state.js';
import { call, type Page, session } from './raw-client.js';

describe('scale', () => {
  it('holds 1,000,000 devices in typed arrays and serves them by serial and page', async () => {
    const heapBefore = process.memoryUsage().heapUsed;
    const t = performance.now();
    const sim = await startSimulator({ devices: 1_000_000, seed: 99 });
    const ms = performance.now() - t;
    try {
      // Measured at about 0.1 s; the bound only catches an accidental per-device object or quadratic step.
      expect(ms).toBeLessThan(10_000);
      expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(200 * 2 ** 20);
      expect(sim.inspect.deviceCount()).toBe(1_000_000);
      expect(sim.inspect.eventCount()).toBe(1_000_000);
      const s = await session(sim);
      const page = (await call(sim, 'POST', '/server/devices', { session: s, body: { limit: 1000 } })).json as Page;
      expect(page.devices).toHaveLength(1000);
      expect(page.more_to_follow).toBe(true);
      const [added] = sim.portal.addDevices(1);
      const details = await call(sim, 'POST', '/devices', { session: s, body: { devices: [added?.serial_number, page.devices[999]?.serial_number] } });
      expect(Object.values((details.json as { devices: Record<string, { response_status: string }> }).devices).map((d) => d.response_status)).toEqual(['SUCCESS', 'SUCCESS']);
    } finally {
      await sim.close();
    }
  });

  it('pages at the end of a million-entry log as cheaply as at the start', () => {
    const state = new SimState({ seed: 1, orgDomain: 'example.com', newProfileUuid: () => 'X' });
    state.seedFleet(1_000_000, 1_750_000_000);
    const time = (pos: number): number => {
      const t = performance.now();
      for (let k = 0; k < 20; k++) expect(state.fetchPage(pos, 1_000_000, 1000).indices).toHaveLength(1000);
      return performance.now() - t;
    };
    time(0);
    const start = time(0);
    const end = time(998_000);
    expect(end).toBeLessThan(start * 5 + 50);
  });
});
