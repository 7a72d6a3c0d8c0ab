/**
 * Conformance tests for sync events (`UpsertOptions.syncEvents`): a record whose only changes are its profile
 * fields may be stored beside Apple's record (SQL stores: device_state) instead of rewriting it, and every read
 * (device, listing, filters, counts) must show the newer of the two, whole and in Apple's values.
 */
import { describe, expect, it } from 'vitest';
import type { Device } from '../../controller/dep/types.js';
import { T0, at, type ConformanceContext } from './conformance-context.js';
import { device } from './conformance-devices.js';

const serial = (i: number): string => device(i).serial_number;

/** The echo of an assignment: the same device, new profile fields and operation. */
function assigned(i: number, uuid: string, when: Date, extra: Partial<Device> = {}): Device {
  const iso = when.toISOString().replace(/\.\d{3}Z$/, 'Z');
  return device(i, { profile_uuid: uuid, profile_status: 'assigned', profile_assign_time: iso, op_type: 'modified', op_date: iso, ...extra });
}

/** Registers the sync-event group. */
export function defineSyncEventConformance(ctx: ConformanceContext): void {
  describe('sync events: profile fields beside the record', () => {
    it('reads back exactly what the last event said, with the profile fields only changed or the record too', async () => {
      const s = ctx.store;
      await s.upsertDevices('paris', [device(1), device(2), device(3)], T0);
      // The echo of an apply: only the profile fields changed for 1 and 2; device 3 was also renamed.
      const echo = [assigned(1, 'U1', at(1)), assigned(2, 'U2', at(1)), assigned(3, 'U1', at(1), { description: 'renamed' })];
      await s.upsertDevices('paris', echo, at(2), { syncEvents: true, newArrive: true });
      for (const d of echo) {
        const r = await s.getDevice('paris', d.serial_number);
        expect(r?.device).toEqual(d);
        expect(r?.observedAt).toEqual(at(2));
        expect(r?.arrivedAt).toBeNull();
      }
      const listed = (await s.listDevices('paris', { limit: 10 })).devices.map((r) => r.device);
      expect(listed).toEqual(echo);
    });

    it('marks as arrived the serials it did not hold, in statement groups and single rows, and keeps marks on echoes', async () => {
      const s = ctx.store;
      const range = (from: number, to: number): number[] => Array.from({ length: to - from }, (_, k) => from + k);
      // 150 held from a first fetch; then sync events for 100..249 (100 of them new: 150..249), 120 listed as
      // `added` although held. 150 rows make one group of 100 and 50 single rows on SQLite.
      await s.upsertDevices('paris', range(0, 150).map((i) => device(i)), T0);
      const events = range(100, 250).map((i) => (i % 3 === 0 ? device(i, { description: `renamed ${i}` }) : assigned(i, 'U1', at(1))));
      await s.upsertDevices('paris', events, at(1), { syncEvents: true, newArrive: true, arrived: new Set([serial(120)]) });
      const arrivals = new Map<number, Date | null>();
      for await (const page of s.iterateDevices('paris', { pageSize: 1000 })) {
        for (const r of page) arrivals.set(Number(r.serial.slice(3)), r.arrivedAt);
      }
      expect(arrivals.size).toBe(250);
      for (const [i, when] of arrivals) expect([i, when]).toEqual([i, i >= 150 || i === 120 ? at(1) : null]);
      // An echo of profile fields only (held, not listed) keeps the mark of an arrived device and adds none.
      await s.upsertDevices('paris', [assigned(160, 'U2', at(3)), assigned(10, 'U2', at(3))], at(3), { syncEvents: true, newArrive: true });
      expect((await s.getDevice('paris', serial(160)))?.arrivedAt).toEqual(at(1));
      expect((await s.getDevice('paris', serial(10)))?.arrivedAt).toBeNull();
      expect((await s.getDevice('paris', serial(160)))?.device).toEqual(assigned(160, 'U2', at(3)));
      // Without `newArrive`, a new serial from a sync event is not marked.
      await s.upsertDevices('paris', [assigned(300, 'U1', at(4))], at(4), { syncEvents: true });
      expect((await s.getDevice('paris', serial(300)))?.arrivedAt).toBeNull();
    });

    it('filters and counts by the newer profile fields', async () => {
      const s = ctx.store;
      await s.upsertDevices('paris', [device(1), device(2), device(3), device(4, { profile_uuid: 'OLD', profile_status: 'pushed' })], T0);
      await s.upsertDevices('paris', [assigned(1, 'U1', at(1)), assigned(2, 'U1', at(1)), assigned(4, 'U2', at(1))], at(1), { syncEvents: true });
      expect(await s.countDevices('paris', { profileUuid: 'U1' })).toBe(2);
      expect(await s.countDevices('paris', { profileUuid: 'OLD' })).toBe(0);
      expect(await s.countDevices('paris', { profileStatus: 'assigned' })).toBe(3);
      expect(await s.countDevices('paris', { profileStatus: 'empty' })).toBe(1);
      expect(await s.countDevices('paris', { profileUuid: null })).toBe(1);
      expect(await s.countDevicesByProfileUuid('paris')).toEqual(new Map<string | null, number>([['U1', 2], ['U2', 1], [null, 1]]));
      const page = await s.listDevices('paris', { limit: 10, filter: { profileUuid: 'U1', deviceFamily: 'iPad' } });
      expect(page.devices.map((r) => r.serial)).toEqual([serial(2)]);
    });

    it('lets a later full fetch win over an earlier event, and a later event over the fetch', async () => {
      const s = ctx.store;
      await s.upsertDevices('paris', [device(1)], T0);
      await s.upsertDevices('paris', [assigned(1, 'U1', at(1))], at(1), { syncEvents: true });
      // A weekly refetch lists the device without a profile (removed in the portal meanwhile).
      const fetched = device(1, { profile_status: 'removed' });
      await s.upsertDevices('paris', [fetched], at(2));
      expect((await s.getDevice('paris', serial(1)))?.device).toEqual(fetched);
      expect(await s.countDevices('paris', { profileUuid: 'U1' })).toBe(0);
      const again = assigned(1, 'U3', at(3));
      await s.upsertDevices('paris', [again], at(3), { syncEvents: true });
      expect((await s.getDevice('paris', serial(1)))?.device).toEqual(again);
      expect(await s.countDevices('paris', { profileUuid: 'U3' })).toBe(1);
    });

    it('keeps profile fields that are not strings inside the record, and keeps results across events', async () => {
      const s = ctx.store;
      const odd = device(5, { profile_uuid: null as unknown as string, op_date: 12 as unknown as string });
      await s.upsertDevices('paris', [odd], T0, { syncEvents: true });
      expect((await s.getDevice('paris', serial(5)))?.device).toEqual(odd);
      await s.recordResults('paris', [{ serial: serial(5), result: { status: 'success', at: at(1), appleStatus: 'SUCCESS' }, retryNotBefore: null, desiredProfile: 'macs' }]);
      await s.upsertDevices('paris', [assigned(5, 'U9', at(2))], at(2), { syncEvents: true });
      const r = await s.getDevice('paris', serial(5));
      expect(r?.device.profile_uuid).toBe('U9');
      expect(r?.desiredProfile).toBe('macs');
      expect(r?.lastResult?.status).toBe('success');
      // A device deleted and observed again starts without the old profile fields or state.
      await s.deleteDevices('paris', [serial(5)]);
      await s.upsertDevices('paris', [device(5)], at(3), { syncEvents: true });
      expect((await s.getDevice('paris', serial(5)))).toMatchObject({ device: device(5), desiredProfile: null, lastResult: null });
    });
  });
}
