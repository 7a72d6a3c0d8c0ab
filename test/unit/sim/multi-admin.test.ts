import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { startSimulatorGroup } from '../../../controller/sim/index.js';
import type { RunningSimulatorGroup } from '../../../controller/sim/api.js';

let group: RunningSimulatorGroup;

beforeEach(async () => {
  group = await startSimulatorGroup({ servers: [{ name: 'paris', devices: 3 }, { name: 'lyon', devices: 4, serverName: 'Lyon campus' }], now: () => Date.UTC(2026, 8, 1) });
});
afterEach(() => group.close());

async function admin(method: string, path: string, body?: unknown): Promise<{ status: number; json: unknown }> {
  const res = await request(`${group.url}/_sim${path}`, { method: method as 'GET', ...(body !== undefined ? { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } } : {}) });
  return { status: res.statusCode, json: await res.body.json() };
}

describe('group admin endpoints', () => {
  it('lists the servers with their identities and counts', async () => {
    const { status, json } = await admin('GET', '/servers');
    expect(status).toBe(200);
    expect(json).toMatchObject({
      servers: [
        { name: 'paris', server_name: 'paris', devices: 3, profiles: 0, admin: '/_sim/servers/paris' },
        { name: 'lyon', server_name: 'Lyon campus', devices: 4, admin: '/_sim/servers/lyon' },
      ],
    });
  });

  it('serves the single-server table per server, and the plain paths on the first server', async () => {
    expect((await admin('GET', '/servers/lyon')).json).toMatchObject({ name: 'lyon', url: group.url, devices: 4 });
    expect((await admin('GET', '/servers/lyon/token')).json).toEqual(group.servers.get('lyon')?.token);
    expect((await admin('GET', '/token')).json).toEqual(group.servers.get('paris')?.token);
    expect((await admin('GET', '/state')).json).toMatchObject({ name: 'paris', devices: 3 });

    const added = (await admin('POST', '/servers/lyon/devices', { count: 2 })).json as { devices: { serial_number: string }[] };
    expect(added.devices).toHaveLength(2);
    expect(group.servers.get('lyon')?.inspect.deviceCount()).toBe(6);
    expect(group.servers.get('paris')?.inspect.deviceCount()).toBe(3);
    const serial = added.devices[0]?.serial_number as string;
    expect((await admin('GET', `/servers/lyon/devices/${serial}`)).status).toBe(200);
    expect((await admin('GET', `/servers/paris/devices/${serial}`)).status).toBe(404);
    // The portal keeps one device on one server: moving it in takes it away from lyon.
    expect((await admin('POST', '/servers/paris/devices/move-in', { serials: [serial] })).status).toBe(200);
    expect((await admin('GET', `/servers/lyon/devices/${serial}`)).status).toBe(404);
    expect((await admin('POST', '/servers/lyon/devices', { devices: [{ serial_number: serial }] })).json).toEqual({ error: `serial ${serial} is already on server paris` });

    await admin('POST', '/servers/lyon/faults', { termsNotSigned: true });
    expect(group.servers.get('lyon')?.inspect.faults()).toEqual({ termsNotSigned: true });
    expect(group.servers.get('paris')?.inspect.faults()).toEqual({});
    expect((await admin('DELETE', '/servers/lyon/faults')).status).toBe(200);
    expect(group.servers.get('lyon')?.inspect.faults()).toEqual({});

    const clock = (await admin('POST', '/servers/lyon/clock', { advanceMs: 60_000 })).json;
    expect(clock).toEqual({ now: '2026-09-01T00:01:00.000Z' });
    expect(group.servers.get('paris')?.inspect.now()).toBe(Date.UTC(2026, 8, 1, 0, 1));
  });

  it('answers 404 for an unknown server and 400 for a body that is not JSON', async () => {
    expect(await admin('GET', '/servers/nantes/state')).toEqual({ status: 404, json: { error: 'no server named nantes' } });
    expect((await admin('POST', '/servers')).status).toBe(404);
    const res = await request(`${group.url}/_sim/servers/lyon/devices`, { method: 'POST', body: '{nope' });
    expect([res.statusCode, await res.body.json()]).toEqual([400, { error: 'body is not JSON' }]);
  });
});
