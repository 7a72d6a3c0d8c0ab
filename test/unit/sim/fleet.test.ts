import { describe, expect, it } from 'vitest';
import { fillAssignedDates, generateDevice, indexOfSerial, serialFor } from '../../../controller/sim/fleet.js';
import { normaliseSeed } from '../../../controller/sim/rng.js';

const SERIAL = /^[0-9A-HJ-NP-Z]{12}$/;
const FAMILY_OS: Record<string, string> = { iPad: 'iPadOS', iPhone: 'iOS', Mac: 'OSX', AppleTV: 'tvOS', Vision: 'visionOS' };

describe('fleet generator', () => {
  it('is deterministic: the same seed gives the same devices, another seed others', () => {
    const a = Array.from({ length: 200 }, (_, i) => generateDevice(normaliseSeed(7), i, 'example.com'));
    const b = Array.from({ length: 200 }, (_, i) => generateDevice(normaliseSeed(7), i, 'example.com'));
    const c = Array.from({ length: 200 }, (_, i) => generateDevice(normaliseSeed(8), i, 'example.com'));
    expect(b).toEqual(a);
    const same = a.filter((d, i) => d.serial_number === c[i]?.serial_number).length;
    expect(same).toBe(0);
    const datesA = new Uint32Array(100);
    const datesB = new Uint32Array(100);
    fillAssignedDates(normaliseSeed(7), 100, 1_750_000_000, datesA);
    fillAssignedDates(normaliseSeed(7), 100, 1_750_000_000, datesB);
    expect(datesB).toEqual(datesA);
  });

  it('makes unique 12-character Apple-like serials, invertible to their index', () => {
    const seed = normaliseSeed(3);
    const seen = new Set<string>();
    const malformed: string[] = [];
    const notInverted: number[] = [];
    for (let i = 0; i < 100_000; i++) {
      const s = serialFor(seed, i);
      if (!SERIAL.test(s)) malformed.push(s);
      seen.add(s);
      if (indexOfSerial(seed, s) !== i) notInverted.push(i);
    }
    expect(malformed).toEqual([]);
    expect(notInverted).toEqual([]);
    expect(seen.size).toBe(100_000);
    expect(indexOfSerial(seed, 'C02T0HL0GGC0')).toBe(-1);
    expect(indexOfSerial(seed, 'short')).toBe(-1);
  });

  it('keeps device_family and os consistent, with a realistic mix of products', () => {
    const seed = normaliseSeed(11);
    const families: Record<string, number> = {};
    const problems: string[] = [];
    for (let i = 0; i < 20_000; i++) {
      const d = generateDevice(seed, i, 'example.com');
      if (d.entry.os !== FAMILY_OS[d.entry.family]) problems.push(`${i}: ${d.entry.family}/${d.entry.os}`);
      if (d.description !== d.description.toUpperCase() || !d.description.includes(d.color)) problems.push(`${i}: ${d.description}`);
      if (!/@example\.com$|^system_user$/.test(d.device_assigned_by)) problems.push(`${i}: ${d.device_assigned_by}`);
      if (d.entry.family === 'iPhone' && !/^\d{15}$/.test(d.imei?.[0] ?? '')) problems.push(`${i}: imei ${d.imei}`);
      families[d.entry.family] = (families[d.entry.family] ?? 0) + 1;
    }
    expect(problems).toEqual([]);
    const share = (f: string): number => (families[f] ?? 0) / 20_000;
    expect(share('iPad')).toBeGreaterThan(0.3);
    expect(share('Mac')).toBeGreaterThan(0.2);
    expect(share('iPhone')).toBeGreaterThan(0.2);
    expect(share('AppleTV')).toBeGreaterThan(0.005);
    expect(share('Vision')).toBeGreaterThan(0.001);
    expect(share('Vision')).toBeLessThan(0.02);
  });

  it('spreads assignment dates in ascending order over the two years before the anchor', () => {
    const anchor = 1_750_000_000;
    const dates = new Uint32Array(10_000);
    fillAssignedDates(normaliseSeed(1), 10_000, anchor, dates);
    const descending = dates.findIndex((d, i) => i > 0 && d < (dates[i - 1] as number));
    expect(descending).toBe(-1);
    expect(dates[0]).toBeGreaterThanOrEqual(anchor - 730 * 86400);
    expect(dates[dates.length - 1]).toBeLessThan(anchor);
  });
});

describe('state: hand-given serials never collide with generated ones', () => {
  it('skips a generated serial that a hand-added device already took', async () => {
    const { SimState } = await import('../../../controller/sim/state.js');
    const state = new SimState({ seed: normaliseSeed(2), orgDomain: 'example.com', newProfileUuid: () => 'X' });
    state.seedFleet(3, 1_750_000_000);
    // The hand-added device lands in slot 3 but claims slot 4's generated serial.
    const taken = serialFor(normaliseSeed(2), 4);
    const custom = state.addCustom({ serial_number: taken, model: 'Mac mini' }, 1_750_000_100);
    const generated = state.addCustom({ model: 'iMac' }, 1_750_000_200);
    const more = state.addGenerated(2, 1_750_000_300);
    const serials = [custom, generated, ...more].map((i) => state.devices.serialOf(i));
    expect(serials[0]).toBe(taken);
    expect([custom, generated]).toEqual([3, 5]);
    expect(state.isOnServer(4)).toBe(false);
    expect(new Set(serials).size).toBe(serials.length);
    expect(serials.map((s) => state.devices.indexOf(s))).toEqual([custom, generated, ...more]);
  });
});
