import { describe, expect, it } from 'vitest';
import { deviceForSerial, familyForProfile, seedFromConfig, type SeedConfig } from '../../../controller/sim/config-seed.js';
import { DeviceStore } from '../../../controller/sim/device-store.js';
import { generateDevice } from '../../../controller/sim/fleet.js';
import { startSimulatorGroup } from '../../../controller/sim/index.js';

const OS: Record<string, string> = { iPad: 'iPadOS', Mac: 'OSX', AppleTV: 'tvOS', iPhone: 'iOS' };

describe('config seeding heuristic', () => {
  it('reads the family from the profile name, then its profile_name', () => {
    expect(familyForProfile('classroom-ipads', 'Classroom')).toBe('iPad');
    expect(familyForProfile('staff-macs')).toBe('Mac');
    expect(familyForProfile('lobby-appletv', 'Lobby Apple TV')).toBe('AppleTV');
    expect(familyForProfile('sales-IPhone')).toBe('iPhone');
    expect(familyForProfile('kiosk', 'Reception iPad')).toBe('iPad');
    expect(familyForProfile('kiosk', 'Reception')).toBeUndefined();
    // The config name wins over profile_name.
    expect(familyForProfile('teachers-macs', 'Teacher iPads')).toBe('Mac');
  });

  it('builds one consistent product per serial: family, os, model and radios agree, and are stable', () => {
    for (const family of ['iPad', 'Mac', 'AppleTV', 'iPhone'] as const) {
      for (const serial of ['F9FXK1ABCD12', 'J7HQ2M4XKV', 'C07ZK1MLJ1GR', 'DMPZK3L7Q1GH']) {
        const d = deviceForSerial(serial, family);
        expect(d).toMatchObject({ serial_number: serial, device_family: family, os: OS[family] });
        expect(deviceForSerial(serial, family)).toEqual(d);
        if (family === 'Mac' || family === 'AppleTV') expect(d.imei).toBeUndefined();
        if (family === 'iPhone') expect(d.imei?.[0]).toMatch(/^35\d{13}$/);
        if (family === 'AppleTV') expect(d.ethernet_mac_address).toMatch(/^f0:18:98:/);
      }
    }
  });

  it('places each listed serial on one server: the first of its assignment\'s servers in the group', () => {
    const config: SeedConfig = {
      servers: [{ name: 'paris' }, { name: 'lyon' }],
      profiles: [
        { name: 'tv', profile: { profile_name: 'Lobby' } },
        { name: 'carts', profile: { profile_name: 'Classroom iPad' } },
      ],
      assignments: [
        { name: 'lobby', profile: 'tv', servers: ['paris', 'lyon'], serials: ['C07ZK1MLJ1GR'] },
        { name: 'lyon-carts', profile: 'carts', servers: ['lyon'], serials: ['J7HQ2M4XKV', 'C07ZK1MLJ1GR'] },
        { name: 'nantes', profile: 'carts', servers: ['nantes'], serials: ['H4WQ9X7L2V', 'J7HQ2M4XKV'] },
      ],
    };
    const { devices, skipped } = seedFromConfig(config, ['paris', 'lyon']);
    expect(devices.get('paris')?.map((d) => [d.serial_number, d.device_family])).toEqual([['C07ZK1MLJ1GR', 'AppleTV']]);
    expect(devices.get('lyon')?.map((d) => [d.serial_number, d.device_family])).toEqual([['J7HQ2M4XKV', 'iPad']]);
    expect(skipped).toBe(1);
    // Only lyon in the group: the lobby serial goes there instead.
    expect(seedFromConfig(config, ['lyon']).devices.get('lyon')?.map((d) => d.serial_number)).toEqual(['C07ZK1MLJ1GR', 'J7HQ2M4XKV']);
  });

  it('renders a seeded Mac without the radios of the generated iPhone its slot would have held', () => {
    const store = new DeviceStore(3, 'example.com');
    let slot = 0;
    while (generateDevice(3, slot, 'example.com').imei === undefined) slot++;
    store.allocate(slot + 1);
    store.setOverrides(slot, deviceForSerial('C02SEEDMAC01', 'Mac'));
    const shown = store.render(slot, 10, () => undefined);
    expect(shown).toMatchObject({ serial_number: 'C02SEEDMAC01', device_family: 'Mac', os: 'OSX' });
    expect(['imei', 'eid'].filter((k) => k in shown)).toEqual([]);
  });

  it('serves seeded devices as given through a group', async () => {
    const mac = deviceForSerial('C02SEEDMAC01', 'Mac');
    const group = await startSimulatorGroup({ servers: [{ name: 'a', devices: 50, extraDevices: [mac] }] });
    try {
      const shown = group.servers.get('a')?.inspect.device('C02SEEDMAC01');
      expect(shown).toMatchObject({ device_family: 'Mac', os: 'OSX', model: mac.model, description: mac.description, color: mac.color });
      expect(shown && 'imei' in shown).toBe(false);
      expect(shown && 'eid' in shown).toBe(false);
    } finally {
      await group.close();
    }
  });
});
