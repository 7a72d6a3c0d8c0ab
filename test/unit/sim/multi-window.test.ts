import { describe, expect, it } from 'vitest';
import { DeviceStore } from '../../../controller/sim/device-store.js';
import { generatorBaseForWindow, MAX_GENERATED_DEVICES, serialFor } from '../../../controller/sim/fleet.js';

const middle = (serial: string): string => serial.slice(3, 8);

describe('generator windows (one serial space shared by a group)', () => {
  it('aligns the middle serial characters of any two seeds that start at the same window', () => {
    const [s1, s2] = [0x1234567, 0x9abcdef];
    const [b1, b2] = [generatorBaseForWindow(s1, 5000), generatorBaseForWindow(s2, 5000)];
    expect(b1).not.toBe(b2);
    for (let j = 0; j < 200; j++) expect(middle(serialFor(s1, b1 + j))).toBe(middle(serialFor(s2, b2 + j)));
  });

  it('gives disjoint serials to stores in adjacent windows, and round-trips serials across the wrap-around', () => {
    const seed = 77;
    const n = 500;
    const a = new DeviceStore(seed, 'example.com', generatorBaseForWindow(seed, MAX_GENERATED_DEVICES - n / 2), n);
    const b = new DeviceStore(seed ^ 1, 'example.com', generatorBaseForWindow(seed ^ 1, MAX_GENERATED_DEVICES - n / 2 + n), n);
    a.allocate(n);
    b.allocate(n);
    const sa = Array.from({ length: n }, (_, i) => a.serialOf(i));
    const sb = Array.from({ length: n }, (_, i) => b.serialOf(i));
    const middles = new Set(sa.map(middle));
    expect(middles.size).toBe(n);
    for (const s of sb) expect(middles.has(middle(s))).toBe(false);
    sa.forEach((s, i) => expect(a.indexOf(s)).toBe(i));
    sb.forEach((s, i) => expect(b.indexOf(s)).toBe(i));
    for (const s of sb.slice(0, 20)) expect(a.indexOf(s)).toBe(-1);
  });

  it('refuses to grow a store past its window', () => {
    const store = new DeviceStore(1, 'example.com', 0, 10);
    store.allocate(10);
    expect(() => store.allocate(1)).toThrow(/at most 10 devices/);
  });

  it('leaves a lone store (base 0) exactly as before: slot i is generated device i', () => {
    const store = new DeviceStore(5, 'example.com');
    store.allocate(3);
    expect([0, 1, 2].map((i) => store.serialOf(i))).toEqual([0, 1, 2].map((i) => serialFor(5, i)));
  });
});
