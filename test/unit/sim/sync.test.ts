import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startSimulator } from '../../../controller/sim/index.js';
import type { RunningSimulator } from '../../../controller/sim/api.js';
import { call, type Page, session } from './raw-client.js';

const DAY = 86_400_000;
let clock = Date.UTC(2026, 4, 10, 8, 0, 0);
let sim: RunningSimulator;
let s: string;

beforeEach(async () => {
  clock = Date.UTC(2026, 4, 10, 8, 0, 0);
  sim = await startSimulator({ devices: 12, seed: 21, now: () => clock, sessionTtlMs: 30 * DAY });
  s = await session(sim);
});
afterEach(() => sim.close());

async function post(path: string, body: unknown) {
  return call(sim, 'POST', path, { session: s, body });
}

async function finalFetchCursor(): Promise<{ cursor: string; serials: string[] }> {
  const r = await post('/server/devices', { limit: 1000 });
  const page = r.json as Page;
  return { cursor: page.cursor, serials: page.devices.map((d) => d.serial_number) };
}

async function syncAll(cursor: string, limit?: number): Promise<{ events: Page['devices']; cursor: string; requests: number }> {
  const events: Page['devices'] = [];
  let c = cursor;
  let requests = 0;
  for (;;) {
    const r = await post('/devices/sync', { cursor: c, ...(limit ? { limit } : {}) });
    expect(r.status, r.text).toBe(200);
    const page = r.json as Page;
    requests++;
    events.push(...page.devices);
    c = page.cursor;
    if (!page.more_to_follow) return { events, cursor: c, requests };
  }
}

describe('POST /devices/sync', () => {
  it('reports portal actions as added / deleted / modified events with op_date', async () => {
    const { cursor, serials } = await finalFetchCursor();
    const [a, b, c] = serials as [string, string, string];
    clock += 60_000;
    const added = sim.portal.addDevices(2);
    sim.portal.moveAway([a]);
    sim.portal.moveIn([a]);
    sim.portal.setProfile(b, 'AAAABBBBCCCCDDDDEEEEFFFF00001111');
    sim.portal.markPushed(b);
    sim.portal.moveIn(['C02NEWDEVICE']);
    // Moving in a device that is already here is no operation at all.
    sim.portal.moveIn([c]);
    const { events } = await syncAll(cursor);
    expect(events.map((e) => [e.serial_number, e.op_type])).toEqual([
      [added[0]?.serial_number, 'added'],
      [added[1]?.serial_number, 'added'],
      [a, 'deleted'],
      [a, 'modified'],
      [b, 'modified'],
      [b, 'modified'],
      ['C02NEWDEVICE', 'modified'],
    ]);
    const opDate = new Date(Math.floor(clock / 1000) * 1000).toISOString().replace('.000Z', 'Z');
    expect(events.every((e) => e.op_date === opDate)).toBe(true);
    expect(events[0]).toMatchObject({ op_date: (added[0] as { device_assigned_date: string }).device_assigned_date });
    expect(events.find((e) => e.serial_number === c)).toBeUndefined();
    expect(events[5]).toMatchObject({ profile_status: 'pushed', profile_uuid: 'AAAABBBBCCCCDDDDEEEEFFFF00001111' });
  });

  it('pages through the operation log with more_to_follow, and returns nothing new after', async () => {
    const { cursor } = await finalFetchCursor();
    sim.portal.addDevices(25);
    const { events, cursor: last, requests } = await syncAll(cursor, 10);
    expect(events).toHaveLength(25);
    expect(requests).toBe(3);
    const again = await post('/devices/sync', { cursor: last });
    expect(again.json).toMatchObject({ devices: [], more_to_follow: false });
  });

  it('sync from a mid-fetch cursor delivers the rest of the fleet as added events', async () => {
    const first = await post('/server/devices', { limit: 5 });
    const { events } = await syncAll((first.json as Page).cursor);
    // Sync from a mid-fetch cursor continues along the same log, so nothing is lost.
    expect(events.map((e) => e.op_type)).toEqual(Array(7).fill('added'));
  });

  it('answers CURSOR_REQUIRED, INVALID_CURSOR and EXPIRED_CURSOR (7 days, injected clock)', async () => {
    expect((await post('/devices/sync', {})).text).toBe('CURSOR_REQUIRED');
    expect((await post('/devices/sync', { cursor: '' })).text).toBe('CURSOR_REQUIRED');
    const invalid = await post('/devices/sync', { cursor: 'MDowOjE1MzY0Mjc2OTg5MTQ6MTUzNjQyNzY5ODkxNDp0cnVlOjE1MzY0Mjc2OTg5MTQ' });
    expect([invalid.status, invalid.text]).toEqual([400, 'INVALID_CURSOR']);
    const { cursor } = await finalFetchCursor();
    clock += 7 * DAY - 1000;
    expect((await post('/devices/sync', { cursor })).status).toBe(200);
    clock += 2000;
    const expired = await post('/devices/sync', { cursor });
    expect([expired.status, expired.text]).toEqual([400, 'EXPIRED_CURSOR']);
    const fetchExpired = await post('/server/devices', { cursor });
    expect(fetchExpired.text).toBe('EXPIRED_CURSOR');
  });
});
