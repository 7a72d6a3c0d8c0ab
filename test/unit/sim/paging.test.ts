import { afterEach, describe, expect, it } from 'vitest';
import { startSimulator } from '../../../controller/sim/index.js';
import type { RunningSimulator } from '../../../controller/sim/api.js';
import { call, type Page, session } from './raw-client.js';

let sim: RunningSimulator | undefined;
afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

async function boot(devices: number): Promise<string> {
  sim = await startSimulator({ devices, seed: 9 });
  return session(sim);
}

async function fetchPage(s: string, body: Record<string, unknown>): Promise<Page> {
  const r = await call(sim as RunningSimulator, 'POST', '/server/devices', { session: s, body });
  expect(r.status, r.text).toBe(200);
  return r.json as Page;
}

async function fetchAll(s: string, limit?: number): Promise<{ pages: Page[]; serials: string[] }> {
  const pages: Page[] = [];
  let cursor: string | undefined;
  do {
    const page = await fetchPage(s, { ...(cursor ? { cursor } : {}), ...(limit ? { limit } : {}) });
    pages.push(page);
    cursor = page.cursor;
  } while (pages[pages.length - 1]?.more_to_follow);
  return { pages, serials: pages.flatMap((p) => p.devices.map((d) => d.serial_number)) };
}

describe('POST /server/devices paging at the boundaries (limit 1000)', () => {
  for (const [n, pages] of [
    [0, 1],
    [1, 1],
    [999, 1],
    [1000, 1],
    [1001, 2],
  ] as const) {
    it(`${n} devices: ${pages} page(s), every device once, then EXHAUSTED_CURSOR`, async () => {
      const s = await boot(n);
      const all = await fetchAll(s, 1000);
      expect(all.pages).toHaveLength(pages);
      expect(all.serials).toHaveLength(n);
      expect(new Set(all.serials).size).toBe(n);
      expect(all.pages.map((p) => p.more_to_follow)).toEqual([...Array(pages - 1).fill(true), false]);
      const again = await call(sim as RunningSimulator, 'POST', '/server/devices', { session: s, body: { cursor: all.pages[pages - 1]?.cursor } });
      expect([again.status, again.text]).toEqual([400, 'EXHAUSTED_CURSOR']);
    });
  }
});

describe('POST /server/devices', () => {
  it('defaults to 100 per page and clamps larger limits to 1000', async () => {
    const s = await boot(2500);
    expect((await fetchPage(s, {})).devices).toHaveLength(100);
    expect((await fetchPage(s, { limit: 5000 })).devices).toHaveLength(1000);
    expect((await fetchPage(s, { limit: 7 })).devices).toHaveLength(7);
  });

  it('lists devices in chronological order of their last operation, without op_type', async () => {
    const s = await boot(50);
    const first = await fetchAll(s, 1000);
    const dates = first.pages[0]?.devices.map((d) => d.device_assigned_date) ?? [];
    // Every device has a date (else the order check below would hold for an empty or undefined list).
    expect(dates.filter((d) => typeof d === 'string' && /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/.test(d))).toHaveLength(50);
    expect(new Set(dates).size).toBeGreaterThan(1);
    expect([...dates].sort()).toEqual(dates);
    expect(first.pages[0]?.devices.some((d) => 'op_type' in d || 'op_date' in d)).toBe(false);
    // A device changed later moves to the end of a new fetch.
    const moved = first.serials[0] as string;
    sim?.portal.setProfile(moved, null);
    sim?.portal.moveAway([moved]);
    sim?.portal.moveIn([moved]);
    const second = await fetchAll(s, 1000);
    expect(second.serials).toHaveLength(50);
    expect(second.serials[49]).toBe(moved);
  });

  it('replays a page for a repeated mid-fetch cursor, and EXHAUSTED_CURSOR for a sync cursor', async () => {
    const s = await boot(30);
    const p1 = await fetchPage(s, { limit: 10 });
    const a = await fetchPage(s, { cursor: p1.cursor, limit: 10 });
    const b = await fetchPage(s, { cursor: p1.cursor, limit: 10 });
    expect(b.devices).toEqual(a.devices);
    const sync = await call(sim as RunningSimulator, 'POST', '/devices/sync', { session: s, body: { cursor: a.cursor } });
    const r = await call(sim as RunningSimulator, 'POST', '/server/devices', { session: s, body: { cursor: (sync.json as Page).cursor } });
    expect([r.status, r.text]).toEqual([400, 'EXHAUSTED_CURSOR']);
  });

  it('answers INVALID_CURSOR, MALFORMED_REQUEST_BODY and the JSON content type', async () => {
    const s = await boot(3);
    const bad = await call(sim as RunningSimulator, 'POST', '/server/devices', { session: s, body: { cursor: 'MDowOjE1MzY0Mjc2OTg5MTQ6' } });
    expect([bad.status, bad.text]).toEqual([400, 'INVALID_CURSOR']);
    const malformed = await call(sim as RunningSimulator, 'POST', '/server/devices', { session: s, rawBody: '{"limit":' });
    expect([malformed.status, malformed.text]).toEqual([400, 'MALFORMED_REQUEST_BODY']);
    const ok = await call(sim as RunningSimulator, 'POST', '/server/devices', { session: s });
    expect(ok.headers['content-type']).toBe('application/json;charset=UTF8');
    expect(ok.json).toMatchObject({ more_to_follow: false, fetched_until: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/) });
  });

  it('a fetch walks the snapshot it began with; later changes come through sync', async () => {
    const s = await boot(20);
    const p1 = await fetchPage(s, { limit: 10 });
    const added = sim?.portal.addDevices(5).map((d) => d.serial_number) ?? [];
    const p2 = await fetchPage(s, { cursor: p1.cursor, limit: 10 });
    expect(p2.more_to_follow).toBe(false);
    expect([...p1.devices, ...p2.devices]).toHaveLength(20);
    const sync = await call(sim as RunningSimulator, 'POST', '/devices/sync', { session: s, body: { cursor: p2.cursor } });
    expect((sync.json as Page).devices.map((d) => [d.serial_number, d.op_type])).toEqual(added.map((a) => [a, 'added']));
  });
});
