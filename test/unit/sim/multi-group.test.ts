import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startSimulatorGroup } from '../../../controller/sim/index.js';
import type { RunningSimulator, RunningSimulatorGroup, SimulatedServer } from '../../../controller/sim/api.js';
import { call, type Page, session } from './raw-client.js';

let clock = Date.UTC(2026, 8, 1);
let group: RunningSimulatorGroup;

/** One server of the group seen through the raw client's RunningSimulator shape (group URL, server token). */
function view(name: string): RunningSimulator {
  const server = group.servers.get(name) as SimulatedServer;
  return { ...server, url: group.url, advanceClock: group.advanceClock, close: group.close };
}

async function fetchAll(sim: RunningSimulator, s: string): Promise<string[]> {
  const out: string[] = [];
  let cursor: string | undefined;
  for (;;) {
    const page = (await call(sim, 'POST', '/server/devices', { session: s, body: { limit: 1000, ...(cursor ? { cursor } : {}) } })).json as Page;
    out.push(...page.devices.map((d) => d.serial_number));
    cursor = page.cursor;
    if (!page.more_to_follow) return out;
  }
}

beforeEach(async () => {
  clock = Date.UTC(2026, 8, 1);
  group = await startSimulatorGroup({ servers: [{ name: 'paris', devices: 5 }, { name: 'lyon', devices: 7 }], now: () => clock });
});
afterEach(() => group.close());

describe('startSimulatorGroup: several MDM servers on one listener', () => {
  it('gives each server its own token, account and fleet; each token sees only its own devices', async () => {
    const paris = view('paris');
    const lyon = view('lyon');
    expect([...group.servers.keys()]).toEqual(['paris', 'lyon']);
    expect(paris.token.consumer_key).not.toBe(lyon.token.consumer_key);
    expect(paris.token.access_token).not.toBe(lyon.token.access_token);
    const [sp, sl] = [await session(paris), await session(lyon)];
    const [fp, fl] = [await fetchAll(paris, sp), await fetchAll(lyon, sl)];
    expect(fp).toHaveLength(5);
    expect(fl).toHaveLength(7);
    expect(fp.filter((s) => fl.includes(s))).toEqual([]);
    for (const s of fp) expect(paris.inspect.device(s)).toBeDefined();
    for (const s of fl) expect(lyon.inspect.device(s)).toBeDefined();
    const accounts = await Promise.all([call(paris, 'GET', '/account', { session: sp }), call(lyon, 'GET', '/account', { session: sl })]);
    const [ap, al] = accounts.map((a) => a.json as { server_name: string; server_uuid: string; org_id: string });
    expect([ap?.server_name, al?.server_name]).toEqual(['paris', 'lyon']);
    expect(ap?.server_uuid).not.toBe(al?.server_uuid);
    // One organisation: the servers share it, as the MDM servers of one Apple Business Manager account.
    expect(ap?.org_id).toBe(al?.org_id);
  });

  it('keeps a session of one server away from the other server\'s devices and profiles', async () => {
    const paris = view('paris');
    const lyon = view('lyon');
    const sp = await session(paris);
    const sl = await session(lyon);
    const lyonSerial = (await fetchAll(lyon, sl))[0] as string;
    const details = await call(paris, 'POST', '/devices', { session: sp, body: { devices: [lyonSerial] } });
    expect(details.json).toEqual({ devices: { [lyonSerial]: { response_status: 'NOT_ACCESSIBLE' } } });
    const { profile_uuid } = (await call(lyon, 'POST', '/profile', { session: sl, body: { profile_name: 'Lyon', url: 'https://mdm.example.com/e' } })).json as { profile_uuid: string };
    expect((await call(paris, 'GET', `/profile?profile_uuid=${profile_uuid}`, { session: sp })).text).toBe('NOT_FOUND');
    const assign = await call(paris, 'POST', '/profile/devices', { session: sp, body: { profile_uuid, devices: [lyonSerial] } });
    expect(assign.status).toBe(404);
    expect(lyon.inspect.device(lyonSerial)?.profile_status).toBe('empty');
    expect(paris.inspect.profileCount()).toBe(0);
    expect(lyon.inspect.profileCount()).toBe(1);
    // Request counts are per server too.
    expect(paris.inspect.requestCounts()['POST /profile']).toBeUndefined();
    expect(lyon.inspect.requestCounts()['POST /profile']).toBe(1);
  });

  it('rejects a session request that mixes one server\'s consumer key with another\'s token', async () => {
    const paris = view('paris');
    const lyon = view('lyon');
    await expect(session(paris, { consumerKey: lyon.token.consumer_key })).rejects.toThrow(/401/);
  });

  it('applies faults to one server only', async () => {
    const paris = view('paris');
    const lyon = view('lyon');
    const sp = await session(paris);
    const sl = await session(lyon);
    paris.injectFaults({ httpStatus: { status: 503, count: 5 }, expireSessions: { forbidden: true } });
    expect((await call(lyon, 'GET', '/account', { session: sl })).status).toBe(200);
    expect((await call(paris, 'GET', '/account', { session: sp })).status).toBe(503);
    paris.clearFaults();
    paris.injectFaults({ expireSessions: { forbidden: true } });
    // The revoked session still reaches its own server, which answers like depsim after a restart.
    expect((await call(paris, 'GET', '/account', { session: sp })).text).toBe('FORBIDDEN');
    expect((await call(lyon, 'GET', '/account', { session: sl })).status).toBe(200);
    paris.injectFaults({ tokenRevoked: true, termsNotSigned: true });
    await expect(session(paris)).rejects.toThrow(/token_rejected/);
    await expect(session(lyon)).resolves.toMatch(/^[0-9A-F]{128}$/);
    expect(lyon.inspect.faults()).toEqual({});
  });

  it('routes a rotated session token to the server that issued it', async () => {
    const lyon = view('lyon');
    const sl = await session(lyon);
    lyon.injectFaults({ rotateSession: { every: 1 } });
    const first = await call(lyon, 'GET', '/account', { session: sl });
    const fresh = first.headers['x-adm-auth-session'] as string;
    expect(fresh).toMatch(/^[0-9A-F]{128}$/);
    expect((await call(lyon, 'GET', '/account', { session: sl })).status).toBe(401);
    const again = await call(lyon, 'GET', '/account', { session: fresh });
    expect((again.json as { server_name: string }).server_name).toBe('lyon');
  });

  it('ages every server\'s sessions with the one shared clock', async () => {
    const paris = view('paris');
    const lyon = view('lyon');
    const sp = await session(paris);
    const sl = await session(lyon);
    group.advanceClock(31 * 60 * 1000);
    expect(paris.inspect.now()).toBe(lyon.inspect.now());
    expect((await call(paris, 'GET', '/account', { session: sp })).status).toBe(401);
    expect((await call(lyon, 'GET', '/account', { session: sl })).status).toBe(401);
  });
});

describe('startSimulatorGroup: one device, one server', () => {
  it('never generates one serial on two servers, even with the same seed and large fleets', async () => {
    const big = await startSimulatorGroup({ servers: [{ name: 'a', devices: 3000, seed: 9 }, { name: 'b', devices: 3000, seed: 9 }, { name: 'c', devices: 3000, seed: 9 }] });
    try {
      const all: string[] = [];
      for (const name of ['a', 'b', 'c']) {
        const server = big.servers.get(name) as SimulatedServer;
        const sim: RunningSimulator = { ...server, url: big.url, advanceClock: big.advanceClock, close: big.close };
        const serials = await fetchAll(sim, await session(sim));
        expect(serials).toHaveLength(3000);
        // Every generated serial maps back to its own server (the windowed generator is invertible).
        for (const s of serials.slice(0, 50)) expect(server.inspect.device(s)?.serial_number).toBe(s);
        all.push(...serials);
      }
      expect(new Set(all).size).toBe(9000);
    } finally {
      await big.close();
    }
  });

  it('rejects a hand-given serial that another server holds', async () => {
    const lyonSerial = view('lyon').inspect.device(await firstSerial('lyon'))?.serial_number as string;
    expect(() => view('paris').portal.addDevices([{ serial_number: lyonSerial }])).toThrow(/already on server lyon/);
    await expect(startSimulatorGroup({ servers: [{ name: 'a', extraDevices: [{ serial_number: 'F9FXK1ABCD12' }] }, { name: 'b', extraDevices: [{ serial_number: 'F9FXK1ABCD12' }] }] })).rejects.toThrow(/already on server a/);
  });

  it('moves a device from one server to another with its product', async () => {
    const serial = await firstSerial('lyon');
    const before = view('lyon').inspect.device(serial);
    view('paris').portal.moveIn([serial]);
    expect(view('lyon').inspect.device(serial)).toBeUndefined();
    const after = view('paris').inspect.device(serial);
    expect(after).toMatchObject({ serial_number: serial, model: before?.model, description: before?.description, device_family: before?.device_family, os: before?.os });
    expect(after?.imei).toEqual(before?.imei);
    expect(view('paris').inspect.deviceCount()).toBe(6);
    expect(view('lyon').inspect.deviceCount()).toBe(6);
  });

  it('derives tokens from name and seed: same inputs, same token; rejects duplicate or unsafe names', async () => {
    const again = await startSimulatorGroup({ servers: [{ name: 'lyon', devices: 1 }], now: () => clock });
    try {
      expect(again.servers.get('lyon')?.token).toEqual(group.servers.get('lyon')?.token);
    } finally {
      await again.close();
    }
    const reseeded = await startSimulatorGroup({ servers: [{ name: 'lyon', seed: 2 }], now: () => clock });
    try {
      expect(reseeded.servers.get('lyon')?.token.consumer_key).not.toBe(group.servers.get('lyon')?.token.consumer_key);
    } finally {
      await reseeded.close();
    }
    await expect(startSimulatorGroup({ servers: [{ name: 'x' }, { name: 'x' }] })).rejects.toThrow(/given twice/);
    await expect(startSimulatorGroup({ servers: [{ name: '../x' }] })).rejects.toThrow(/must be letters/);
    await expect(startSimulatorGroup({ servers: [] })).rejects.toThrow(/at least one server/);
  });
});

async function firstSerial(name: string): Promise<string> {
  const sim = view(name);
  return (await fetchAll(sim, await session(sim)))[0] as string;
}
