import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startSimulator } from '../../../controller/sim/index.js';
import type { RunningSimulator } from '../../../controller/sim/api.js';
import { call, type Page, session } from './raw-client.js';

let clock = Date.UTC(2026, 8, 1);
let sim: RunningSimulator;

beforeEach(async () => {
  clock = Date.UTC(2026, 8, 1);
  sim = await startSimulator({ devices: 5, seed: 23, now: () => clock, sessionTtlMs: 30 * 86_400_000 });
});
afterEach(() => sim.close());

const admin = (method: string, path: string, body?: unknown) => call(sim, method, `/_sim${path}`, { body });

describe('/_sim admin endpoints', () => {
  it('GET /_sim/state and /_sim/token describe the simulator', async () => {
    const state = await admin('GET', '/state');
    expect(state.headers['content-type']).toBe('application/json');
    expect(state.json).toMatchObject({ url: sim.url, devices: 5, profiles: 0, events: 5, faults: {}, now: '2026-09-01T00:00:00.000Z' });
    expect((await admin('GET', '/token')).json).toEqual(sim.token);
  });

  it('drives portal actions that show in sync', async () => {
    const s = await session(sim);
    const fetched = (await call(sim, 'POST', '/server/devices', { session: s, body: {} })).json as Page;
    const [a, b] = fetched.devices.map((d) => d.serial_number) as [string, string];
    const added = (await admin('POST', '/devices', { count: 2 })).json as { devices: { serial_number: string }[] };
    expect(added.devices).toHaveLength(2);
    const custom = await admin('POST', '/devices', { devices: [{ serial_number: 'C02CUSTOM001', model: 'MacBook Air', device_family: 'Mac', os: 'OSX' }] });
    expect(custom.json).toMatchObject({ devices: [{ serial_number: 'C02CUSTOM001', model: 'MacBook Air' }] });
    const ipad = await admin('POST', '/devices', { devices: [{ serial_number: 'DMPCUSTOM002', model: 'iPad Air', device_family: 'iPad' }] });
    expect(ipad.json).toMatchObject({ devices: [{ device_family: 'iPad', os: 'iPadOS' }] });
    expect((await admin('POST', '/devices', { devices: [{ serial_number: 'DMPCUSTOM002' }] })).json).toEqual({ error: 'serial DMPCUSTOM002 already exists' });
    expect((await admin('POST', '/devices/move-away', { serials: [a] })).status).toBe(200);
    expect((await admin('POST', '/devices/move-in', { serials: [a] })).status).toBe(200);
    const put = await admin('PUT', `/devices/${b}/profile`, { profile_uuid: 'ABCDEF0123456789ABCDEF0123456789' });
    expect(put.json).toMatchObject({ serial_number: b, profile_status: 'assigned', profile_uuid: 'ABCDEF0123456789ABCDEF0123456789' });
    expect((await admin('POST', `/devices/${b}/pushed`)).json).toMatchObject({ profile_status: 'pushed' });
    expect((await admin('GET', `/devices/${b}`)).json).toMatchObject({ serial_number: b });
    const sync = (await call(sim, 'POST', '/devices/sync', { session: s, body: { cursor: fetched.cursor } })).json as Page;
    expect(sync.devices.map((d) => d.op_type)).toEqual(['added', 'added', 'added', 'added', 'deleted', 'modified', 'modified', 'modified']);
    expect((await admin('GET', '/profiles/ABCDEF0123456789ABCDEF0123456789')).status).toBe(200);
    expect((await admin('DELETE', '/profiles/ABCDEF0123456789ABCDEF0123456789')).status).toBe(200);
    expect((await admin('GET', '/profiles/ABCDEF0123456789ABCDEF0123456789')).status).toBe(404);
  });

  it('moves a device away and back: it keeps the profile Apple held for it, and sync says deleted, then modified', async () => {
    const s = await session(sim);
    const fetched = (await call(sim, 'POST', '/server/devices', { session: s, body: {} })).json as Page;
    const a = fetched.devices[0]?.serial_number as string;
    const uuid = 'ABCDEF0123456789ABCDEF0123456789';
    await admin('PUT', `/devices/${a}/profile`, { profile_uuid: uuid });
    const before = (await admin('GET', `/devices/${a}`)).json as Record<string, unknown>;
    clock += 3_600_000;
    expect((await admin('POST', '/devices/move-away', { serials: [a] })).json).toEqual({ serials: [a] });
    expect((await admin('GET', `/devices/${a}`)).status).toBe(404);
    // Assigning a device that is on another server: NOT_ACCESSIBLE.
    const away = await call(sim, 'PUT', '/profile/devices', { session: s, body: { profile_uuid: uuid, devices: [a] } });
    expect(away.json).toMatchObject({ devices: { [a]: 'NOT_ACCESSIBLE' } });
    clock += 3_600_000;
    expect((await admin('POST', '/devices/move-in', { serials: [a] })).json).toEqual({ serials: [a] });
    const back = (await admin('GET', `/devices/${a}`)).json as Record<string, unknown>;
    expect(back).toMatchObject({ profile_uuid: uuid, profile_status: 'assigned', profile_assign_time: before.profile_assign_time, device_assigned_date: '2026-09-01T02:00:00Z' });
    const sync = (await call(sim, 'POST', '/devices/sync', { session: s, body: { cursor: fetched.cursor } })).json as Page;
    expect(sync.devices.map((d) => [d.serial_number, d.op_type, d.op_date, d.profile_uuid])).toEqual([
      [a, 'modified', '2026-09-01T00:00:00Z', uuid],
      [a, 'deleted', '2026-09-01T01:00:00Z', uuid],
      [a, 'modified', '2026-09-01T02:00:00Z', uuid],
    ]);
  });

  it('sets, reads and clears faults', async () => {
    const s = await session(sim);
    const set = await admin('POST', '/faults', { httpStatus: { status: 502, count: 1 }, termsNotSigned: false });
    expect(set.json).toMatchObject({ httpStatus: { status: 502, count: 1 } });
    expect((await call(sim, 'GET', '/account', { session: s })).status).toBe(502);
    expect((await admin('GET', '/faults')).json).toMatchObject({ httpStatus: { count: 0 } });
    await admin('POST', '/faults', { termsNotSigned: true });
    expect((await call(sim, 'GET', '/account', { session: s })).text).toBe('T_C_NOT_SIGNED');
    await admin('DELETE', '/faults');
    expect((await call(sim, 'GET', '/account', { session: s })).status).toBe(200);
  });

  it('reads and resets request counts, and advances the clock (EXPIRED_CURSOR)', async () => {
    const s = await session(sim);
    const page = (await call(sim, 'POST', '/server/devices', { session: s, body: {} })).json as Page;
    expect((await admin('GET', '/requests')).json).toEqual({ 'GET /session': 1, 'POST /server/devices': 1 });
    await admin('DELETE', '/requests');
    expect((await admin('GET', '/requests')).json).toEqual({});
    const advanced = await admin('POST', '/clock', { advanceMs: 8 * 86_400_000 });
    expect(advanced.json).toEqual({ now: '2026-09-09T00:00:00.000Z' });
    const r = await call(sim, 'POST', '/devices/sync', { session: s, body: { cursor: page.cursor } });
    expect(r.text).toBe('EXPIRED_CURSOR');
  });

  it('answers 400 with a message for bad input and 404 for unknown endpoints', async () => {
    expect((await admin('POST', '/devices/move-away', { serials: ['NOSUCHSERIAL'] })).json).toEqual({ error: 'unknown serial NOSUCHSERIAL' });
    expect((await admin('POST', '/devices', { count: 'x' })).status).toBe(400);
    expect((await admin('POST', '/clock', { advanceMs: -1 })).status).toBe(400);
    expect((await call(sim, 'POST', '/_sim/faults', { rawBody: '{' })).status).toBe(400);
    expect((await admin('POST', '/faults', { httpStatus: { status: 418, count: 1 } })).json).toEqual({ error: 'malformed fault httpStatus' });
    expect((await admin('POST', '/faults', { gremlins: true })).json).toEqual({ error: 'unknown fault gremlins' });
    expect((await admin('GET', '/faults')).json).toEqual({});
    expect((await admin('GET', '/nothing')).status).toBe(404);
    expect((await admin('GET', '')).status).toBe(404);
  });
});
