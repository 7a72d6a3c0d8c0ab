import { afterEach, describe, expect, it } from 'vitest';
import { startAbmSimulator, type RunningAbmSimulator } from '../../../../controller/sim/abm/index.js';

// Explicit organisation devices (startAbmSimulator's orgDevices): how `depctl sim --abm` gives the Business
// API simulator the DEP fleet, each device on its server.

let sim: RunningAbmSimulator | undefined;
afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

describe('orgDevices', () => {
  it('adds each device with its attributes, on the named server or unassigned, after the generated ones', async () => {
    sim = await startAbmSimulator({
      devices: 2,
      servers: [{ serverName: 'jamf' }, { serverName: 'intune' }],
      orgDevices: [
        { serialNumber: 'C02AAAAAAAA1', serverName: 'intune', attributes: { productFamily: 'Mac', orderNumber: 'SIM0100000', serialNumber: 'IGNORED' } },
        { serialNumber: 'C02AAAAAAAA2' },
      ],
      now: () => Date.UTC(2026, 0, 1),
    });
    const [, intune] = sim.inspect.serverIds();
    expect(sim.inspect.deviceCount()).toBe(4);
    expect(sim.inspect.serialsOf(intune as string)).toEqual(['C02AAAAAAAA1']);
    expect(sim.inspect.device('C02AAAAAAAA1')?.attributes).toMatchObject({ serialNumber: 'C02AAAAAAAA1', productFamily: 'Mac', orderNumber: 'SIM0100000', status: 'ASSIGNED', addedToOrgDateTime: '2026-01-01T00:00:00.000Z' });
    expect(sim.inspect.device('C02AAAAAAAA2')).toMatchObject({ assignedServerId: null, attributes: { status: 'UNASSIGNED' } });
  });

  it('refuses a server it does not have and a serial given twice', async () => {
    await expect(startAbmSimulator({ servers: [{ serverName: 'jamf' }], orgDevices: [{ serialNumber: 'C02AAAAAAAA1', serverName: 'mosyle' }] })).rejects.toThrow(/no server named mosyle/);
    await expect(startAbmSimulator({ orgDevices: [{ serialNumber: 'C02AAAAAAAA1' }, { serialNumber: 'C02AAAAAAAA1' }] })).rejects.toThrow(/given twice/);
  });
});
