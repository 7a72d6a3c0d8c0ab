/**
 * Conformance tests for devices: bulk upsert, typed filters, keyset paging, results.
 */
import { describe, expect, it } from 'vitest';
import type { Device } from '../../controller/dep/types.js';
import type { DeviceRecord } from '../../controller/store/ports.js';
import { T0, at, type ConformanceContext } from './conformance-context.js';

/** A device like Apple's fetch response (shared/reference/apple-samples/device_response.json). */
export function device(i: number, extra: Partial<Device> = {}): Device {
  return {
    serial_number: `C02${String(i).padStart(7, '0')}`,
    model: i % 2 === 0 ? 'iPad Air' : 'MacBook Pro',
    description: `device ${i}`,
    color: 'SPACE GRAY',
    device_family: i % 2 === 0 ? 'iPad' : 'Mac',
    os: i % 2 === 0 ? 'iPadOS' : 'OSX',
    profile_status: 'empty',
    device_assigned_date: '2025-09-01T12:00:00Z',
    device_assigned_by: 'admin@example.com',
    imei: ['35 000000 000000 0'],
    ...extra,
  };
}

async function collect(pages: AsyncIterable<DeviceRecord[]>): Promise<{ sizes: number[]; serials: string[] }> {
  const sizes: number[] = [];
  const serials: string[] = [];
  for await (const page of pages) {
    sizes.push(page.length);
    serials.push(...page.map((d) => d.serial));
  }
  return { sizes, serials };
}

/** Registers the device group. */
export function defineDeviceConformance(ctx: ConformanceContext): void {
  describe('devices', () => {
    it('stores every DEP field and keeps depctl fields across re-observation', async () => {
      const s = ctx.store;
      const d = device(1, { op_type: 'modified', op_date: '2026-02-01T08:00:00Z', is_replacement_device: false });
      expect(await s.upsertDevices('paris', [d], T0)).toBe(1);
      expect(await s.getDevice('paris', d.serial_number)).toEqual({
        server: 'paris', serial: d.serial_number, device: d, desiredProfile: null, lastResult: null, retryNotBefore: null, observedAt: T0,
        arrivedAt: null, attempts: 0,
      });
      const result = { status: 'throttled' as const, at: at(1), appleStatus: 'THROTTLED' };
      await s.recordResults('paris', [{ serial: d.serial_number, result, retryNotBefore: at(61), desiredProfile: 'staff-macs' }]);
      const changed = { ...d, profile_status: 'assigned' as const, profile_uuid: 'UUID-1' };
      await s.upsertDevices('paris', [changed], at(2));
      expect(await s.getDevice('paris', d.serial_number)).toEqual({
        server: 'paris', serial: d.serial_number, device: changed, desiredProfile: 'staff-macs', lastResult: result,
        retryNotBefore: at(61), observedAt: at(2), arrivedAt: null, attempts: 0,
      });
      expect(await s.getDevice('lyon', d.serial_number)).toBeUndefined();
    });

    it('stores text beyond ASCII as given, in records, sync events and desired profiles', async () => {
      const s = ctx.store;
      const accented = device(7, { asset_tag: 'Salle Ézé 12 🍎', description: 'iPad Pro 11″ — 教室', color: 'Space\tGray' });
      const plain = device(8);
      await s.upsertDevices('paris', [plain, accented], T0);
      expect((await s.getDevice('paris', accented.serial_number))?.device).toEqual(accented);
      const echoed = { ...accented, profile_status: 'assigned' as const, profile_uuid: 'UUID-É', op_type: 'modified' as const, op_date: '2026-02-01T08:00:00Z' };
      await s.upsertDevices('paris', [echoed, plain], at(1), { syncEvents: true, newArrive: true });
      await s.recordResults('paris', [{ serial: accented.serial_number, result: { status: 'success', at: at(2), appleStatus: 'SUCCESS' }, retryNotBefore: null, desiredProfile: 'salle-é' }]);
      const back = await s.getDevice('paris', accented.serial_number);
      expect(back?.device).toEqual(echoed);
      expect(back?.desiredProfile).toBe('salle-é');
      expect((await s.listDevices('paris', { limit: 10 })).devices.map((r) => r.device)).toEqual([echoed, plain]);
    });

    it('gives back serial, family, OS and model as Apple sent them: strings, other values or absent, and after a sync event changed only one', async () => {
      const s = ctx.store;
      const odd = { ...device(3), os: null, model: 42 } as unknown as Device;
      const { device_family: _f, os: _o, model: _m, ...rest } = device(4);
      const bare = rest as Device;
      await s.upsertDevices('paris', [device(1), odd, bare], T0);
      expect((await s.getDevice('paris', device(1).serial_number))?.device).toEqual(device(1));
      expect((await s.getDevice('paris', odd.serial_number))?.device).toEqual(odd);
      expect((await s.getDevice('paris', bare.serial_number))?.device).toEqual(bare);
      // A sync event whose only change is the model (Apple corrects a model name; no profile field moves).
      const remodelled = device(1, { model: 'MacBook Pro (M4)', op_type: 'modified', op_date: '2026-02-01T08:00:00Z' });
      const refamilied = device(5, { device_family: 'Mac', os: 'macOS', op_type: 'modified', op_date: '2026-02-01T08:00:00Z' });
      await s.upsertDevices('paris', [device(5)], T0);
      await s.upsertDevices('paris', [remodelled, refamilied], at(1), { syncEvents: true });
      expect((await s.getDevice('paris', remodelled.serial_number))?.device).toEqual(remodelled);
      expect((await s.getDevice('paris', refamilied.serial_number))?.device).toEqual(refamilied);
      expect((await s.listDevices('paris', { filter: { model: 'MacBook Pro (M4)' }, limit: 10 })).devices.map((d) => d.serial)).toEqual([remodelled.serial_number]);
      expect((await s.listDevices('paris', { filter: { os: 'macOS' }, limit: 10 })).devices.map((d) => d.serial)).toEqual([refamilied.serial_number]);
    });

    it('lets the last of duplicate serials in one upsert win (sync may repeat a device)', async () => {
      const s = ctx.store;
      await s.upsertDevices('paris', [device(1, { color: 'RED' }), device(2), device(1, { color: 'BLUE' })], T0);
      expect(await s.countDevices('paris')).toBe(2);
      expect((await s.getDevice('paris', device(1).serial_number))?.device.color).toBe('BLUE');
    });

    it('hands out copies: changing a returned record does not change the store', async () => {
      const s = ctx.store;
      const d = device(1);
      await s.upsertDevices('paris', [d], T0);
      d.color = 'CHANGED';
      const got = (await s.getDevice('paris', d.serial_number))!;
      got.device.model = 'CHANGED';
      expect((await s.getDevice('paris', d.serial_number))?.device).toEqual({ ...device(1) });
    });

    it('counts and lists by the typed columns', async () => {
      const s = ctx.store;
      const list = Array.from({ length: 10 }, (_, i) =>
        device(i, i < 3 ? { profile_uuid: 'UUID-A', profile_status: 'assigned' } : {}),
      );
      await s.upsertDevices('paris', list, T0);
      await s.upsertDevices('lyon', [device(100)], T0);
      expect(await s.countDevices('paris')).toBe(10);
      expect(await s.countDevices('paris', { deviceFamily: 'iPad' })).toBe(5);
      expect(await s.countDevices('paris', { deviceFamily: 'iPad', os: 'iPadOS', model: 'iPad Air' })).toBe(5);
      expect(await s.countDevices('paris', { profileUuid: 'UUID-A' })).toBe(3);
      expect(await s.countDevices('paris', { profileUuid: null })).toBe(7);
      expect(await s.countDevices('paris', { profileStatus: 'assigned', deviceFamily: 'Mac' })).toBe(1);
      const page = await s.listDevices('paris', { limit: 10, filter: { profileUuid: 'UUID-A', deviceFamily: 'iPad' } });
      expect(page.devices.map((d) => d.serial)).toEqual([device(0).serial_number, device(2).serial_number]);
      expect(page.next).toBeNull();
    });

    it('pages in serial byte order with an exact `next`, and streams without repeats', async () => {
      const s = ctx.store;
      // Mixed case and digits: byte order puts digits before upper before lower case.
      const serials = ['b0001', 'A0001', '90001', 'Z0001', 'a0001', 'B0001'];
      const many = Array.from({ length: 19 }, (_, i) => device(i));
      await s.upsertDevices('paris', [...serials.map((serial) => device(0, { serial_number: serial })), ...many.reverse()], T0);
      const expected = [...serials, ...many.map((d) => d.serial_number)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
      expect([...expected.slice(0, 3), ...expected.slice(22)]).toEqual(['90001', 'A0001', 'B0001', 'Z0001', 'a0001', 'b0001']);

      const first = await s.listDevices('paris', { limit: 10 });
      expect(first.devices.map((d) => d.serial)).toEqual(expected.slice(0, 10));
      expect(first.next).toBe(expected[9]);
      const second = await s.listDevices('paris', { after: first.next, limit: 15 });
      expect(second.devices.map((d) => d.serial)).toEqual(expected.slice(10));
      expect(second.next).toBeNull();
      const exact = await s.listDevices('paris', { after: expected[4], limit: 20 });
      expect(exact.devices).toHaveLength(20);
      expect(exact.next).toBeNull();

      const streamed = await collect(s.iterateDevices('paris', { pageSize: 5 }));
      expect(streamed.serials).toEqual(expected);
      expect(streamed.sizes).toEqual([5, 5, 5, 5, 5]);
      const ipads = await collect(s.iterateDevices('paris', { pageSize: 4, filter: { deviceFamily: 'iPad' } }));
      expect(ipads.serials).toEqual(expected.filter((serial) => serial.startsWith('C02') ? Number(serial.slice(3)) % 2 === 0 : true));
      await expect(s.listDevices('paris', { limit: 0 })).rejects.toThrow(RangeError);
    });

    it('writes and reads back more devices than one write batch', async () => {
      const s = ctx.store;
      const n = 12_345;
      await s.upsertDevices('paris', Array.from({ length: n }, (_, i) => device(i)), T0);
      expect(await s.countDevices('paris')).toBe(n);
      const streamed = await collect(s.iterateDevices('paris', { pageSize: 5000 }));
      expect(streamed.sizes).toEqual([5000, 5000, 2345]);
      expect(new Set(streamed.serials).size).toBe(n);
      const ok = { status: 'success' as const, at: T0, appleStatus: 'SUCCESS' };
      const results = Array.from({ length: n }, (_, i) => ({
        serial: device(i).serial_number, result: ok, retryNotBefore: null, desiredProfile: i % 3 === 0 ? 'p3' : null,
      }));
      expect(await s.recordResults('paris', results)).toBe(n);
      const deleted = await s.deleteDevices('paris', Array.from({ length: 6000 }, (_, i) => device(i).serial_number));
      expect(deleted).toBe(6000);
      expect(await s.countDevices('paris')).toBe(6345);
      expect((await s.getDevice('paris', device(6003).serial_number))?.desiredProfile).toBe('p3');
      expect(await s.countResults('paris', T0)).toEqual({ byResult: { success: 6345 }, deferred: 0 });
    });

    it('ignores unknown serials, lets the last entry win, and deletes only the given server', async () => {
      const s = ctx.store;
      await s.upsertDevices('paris', [device(1), device(2)], T0);
      await s.upsertDevices('lyon', [device(1)], T0);
      const a = device(1).serial_number;
      const r = { status: 'failed' as const, at: T0, appleStatus: 'FAILED' };
      const ok = { status: 'success' as const, at: at(1), appleStatus: 'SUCCESS' };
      expect(await s.recordResults('paris', [
        { serial: a, result: r, retryNotBefore: at(60), desiredProfile: 'x' },
        { serial: 'NOPE', result: r, retryNotBefore: null, desiredProfile: 'x' },
        { serial: a, result: ok, retryNotBefore: null, desiredProfile: 'y' },
      ])).toBe(1);
      expect(await s.getDevice('paris', a)).toMatchObject({ desiredProfile: 'y', lastResult: ok, retryNotBefore: null });
      expect(await s.getDevice('lyon', a)).toMatchObject({ desiredProfile: null, lastResult: null });
      expect(await s.recordResults('paris', [{ serial: 'NOPE', result: r, retryNotBefore: null }])).toBe(0);
      expect(await s.deleteDevices('paris', [a, 'NOPE'])).toBe(1);
      expect(await s.getDevice('lyon', a)).toBeDefined();
      expect(await s.countDevices('paris')).toBe(1);
    });

    it('records a large batch of mixed results: what each keeps, arrivals cleared by success, unknown serials ignored', async () => {
      const s = ctx.store;
      const n = 400;
      await s.upsertDevices('paris', Array.from({ length: n }, (_, i) => device(i)), T0);
      // Every device first gets a desired profile, 3 attempts and an arrival mark.
      const failed = { status: 'failed' as const, at: T0, appleStatus: 'FAILED' };
      await s.recordResults('paris', Array.from({ length: n }, (_, i) => ({ serial: device(i).serial_number, result: failed, retryNotBefore: at(60), desiredProfile: 'old', attempts: 3 })));
      await s.upsertDevices('paris', Array.from({ length: n }, (_, i) => device(i)), at(1), { arrived: new Set(Array.from({ length: n }, (_, i) => device(i).serial_number)) });
      // Then one batch: four kinds of update in turn (desired given or kept × attempts given or kept), successes on
      // even devices, and unknown serials among them.
      const ok = { status: 'success' as const, at: at(2), appleStatus: 'SUCCESS' };
      const batch = Array.from({ length: n }, (_, i) => ({
        serial: device(i).serial_number,
        result: i % 2 === 0 ? ok : failed,
        retryNotBefore: i % 2 === 0 ? null : at(120),
        ...(i % 4 < 2 ? { desiredProfile: i % 8 === 0 ? null : `p${i}` } : {}),
        ...(i % 4 === 0 || i % 4 === 2 ? { attempts: i } : {}),
      }));
      const unknown = Array.from({ length: 150 }, (_, i) => ({ serial: `UNKNOWN${i}`, result: ok, retryNotBefore: null, desiredProfile: 'x', attempts: 1 }));
      expect(await s.recordResults('paris', [...unknown.slice(0, 75), ...batch, ...unknown.slice(75)])).toBe(n);
      for (const i of [0, 1, 2, 3, 4, 5, 6, 7, 8, 201, 202, 203, 399]) {
        const d = await s.getDevice('paris', device(i).serial_number);
        expect(d, `device ${i}`).toMatchObject({
          desiredProfile: i % 4 < 2 ? (i % 8 === 0 ? null : `p${i}`) : 'old',
          attempts: i % 4 === 0 || i % 4 === 2 ? i : 3,
          lastResult: i % 2 === 0 ? ok : failed,
          retryNotBefore: i % 2 === 0 ? null : at(120),
          arrivedAt: i % 2 === 0 ? null : at(1),
        });
      }
      expect(await s.countDevices('paris')).toBe(n);
      expect(await s.getDevice('paris', 'UNKNOWN0')).toBeUndefined();
    });

    it('sets the desired profile with a result when given, and keeps it when not', async () => {
      const s = ctx.store;
      await s.upsertDevices('paris', [device(0), device(1)], T0);
      const ok = { status: 'success' as const, at: T0, appleStatus: 'SUCCESS' };
      await s.recordResults('paris', [{ serial: device(1).serial_number, result: ok, retryNotBefore: null, desiredProfile: 'macs' }]);
      await s.recordResults('paris', [
        { serial: device(0).serial_number, result: ok, retryNotBefore: null, desiredProfile: 'ipads' },
        { serial: device(1).serial_number, result: ok, retryNotBefore: null },
      ]);
      expect((await s.getDevice('paris', device(0).serial_number))?.desiredProfile).toBe('ipads');
      expect((await s.getDevice('paris', device(1).serial_number))?.desiredProfile).toBe('macs');
      await s.recordResults('paris', [{ serial: device(1).serial_number, result: ok, retryNotBefore: null, desiredProfile: null }]);
      expect(await s.getDevice('paris', device(1).serial_number)).toMatchObject({ desiredProfile: null, lastResult: ok });
    });
  });
}
