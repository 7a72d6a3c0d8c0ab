import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startSimulator } from '../../../controller/sim/index.js';
import type { RunningSimulator } from '../../../controller/sim/api.js';
import { call, type Page, session } from './raw-client.js';

let sim: RunningSimulator;
let s: string;

beforeEach(async () => {
  sim = await startSimulator({ devices: 400, seed: 13 });
  s = await session(sim);
});
afterEach(() => sim.close());

const api = (path: string, body?: unknown, version = 10) => call(sim, 'POST', path, { session: s, body, version });

async function firstOf(family: string, version = 10): Promise<Record<string, unknown>> {
  const r = await api('/server/devices', { limit: 1000 }, version);
  const all = (r.json as Page).devices as unknown as Record<string, unknown>[];
  // The inspect view always shows every field, so it tells the family whatever the wire version.
  return all.find((d) => sim.inspect.device(d.serial_number as string)?.device_family === family) ?? {};
}

describe('POST /devices (details)', () => {
  it('returns full records with SUCCESS, and only NOT_ACCESSIBLE for unknown serials', async () => {
    const [a] = ((await api('/server/devices', { limit: 2 })).json as Page).devices.map((d) => d.serial_number) as [string];
    const r = await api('/devices', { devices: [a, 'NOTMYSERIAL1'] });
    const devices = (r.json as { devices: Record<string, Record<string, unknown>> }).devices;
    expect(devices[a]).toMatchObject({ serial_number: a, response_status: 'SUCCESS', model: expect.any(String), profile_status: 'empty' });
    expect(devices.NOTMYSERIAL1).toEqual({ response_status: 'NOT_ACCESSIBLE' });
    expect((await api('/devices', { devices: [] })).text).toBe('DEVICE_ID_REQUIRED');
    expect((await api('/devices', {})).text).toBe('DEVICE_ID_REQUIRED');
  });
});

describe('POST /devices/disown', () => {
  it('disowns for good: SUCCESS, then NOT_ACCESSIBLE, a sync deleted event, gone from fetch', async () => {
    const first = (await api('/server/devices', { limit: 1000 })).json as Page;
    const a = first.devices[0]?.serial_number as string;
    expect((await api('/devices/disown', { devices: [a] })).json).toEqual({ devices: { [a]: 'SUCCESS' } });
    expect((await api('/devices/disown', { devices: [a] })).json).toEqual({ devices: { [a]: 'NOT_ACCESSIBLE' } });
    const sync = (await api('/devices/sync', { cursor: first.cursor })).json as Page;
    expect(sync.devices.map((d) => [d.serial_number, d.op_type])).toEqual([[a, 'deleted']]);
    const again = (await api('/server/devices', { limit: 1000 })).json as Page;
    expect(again.devices.map((d) => d.serial_number)).not.toContain(a);
    expect(() => sim.portal.moveIn([a])).toThrow(/disowned/);
  });
});

describe('fields by X-Server-Protocol-Version', () => {
  it('adds os/device_family from v2, iPadOS from v7, radios from v10', async () => {
    expect(await firstOf('iPad', 1)).not.toHaveProperty('os');
    expect(await firstOf('iPad', 3)).toMatchObject({ os: 'iOS', device_family: 'iPad' });
    const v7 = await firstOf('iPad', 7);
    expect(v7).toMatchObject({ os: 'iPadOS', device_family: 'iPad' });
    expect(v7).not.toHaveProperty('wifi_mac_address');
    expect(await firstOf('iPhone', 10)).toMatchObject({ os: 'iOS', imei: [expect.stringMatching(/^\d{15}$/)], is_replacement_device: false, wifi_mac_address: expect.stringMatching(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/) });
    expect(await firstOf('Mac', 10)).toMatchObject({ os: 'OSX' });
  });

  it('GET /account: 32-hex server_uuid; urls with Apple limits from v3', async () => {
    const v1 = await call(sim, 'GET', '/account', { session: s, version: 1 });
    expect(v1.json).not.toHaveProperty('urls');
    const r = await call(sim, 'GET', '/account', { session: s, version: 10 });
    const account = r.json as { server_uuid: string; urls: { uri: string; http_method: string[]; limit?: unknown }[]; org_type: string };
    expect(account.server_uuid).toMatch(/^[0-9A-F]{32}$/);
    expect(account.org_type).toBe('org');
    expect(account.urls.find((u) => u.uri === '/server/devices')).toEqual({ uri: '/server/devices', http_method: ['POST'], limit: { default: 100, maximum: 1000 } });
    expect(account.urls.find((u) => u.uri === '/profile/devices')?.http_method.sort()).toEqual(['DELETE', 'POST', 'PUT']);
  });
});
