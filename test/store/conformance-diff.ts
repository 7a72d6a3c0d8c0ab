/**
 * Conformance tests for the differ's read (`iterateDiffDevices`): every device of `iterateDevices`, in the same
 * order and pages, with the same state, and the same values in every field reconcile/diff.ts reads (a backend may
 * give the whole record or only those fields; null may be left out). PostgreSQL builds it from columns and parts
 * of the row, so a field it would miss, a wrong choice between the record's profile fields and a later sync
 * event's, or a state column out of place fails here.
 */
import { describe, expect, it } from 'vitest';
import type { Device } from '../../controller/dep/types.js';
import type { ObservedDevice } from '../../controller/reconcile/diff.js';
import type { DeviceRecord } from '../../controller/store/ports.js';
import { T0, at, type ConformanceContext } from './conformance-context.js';
import { device } from './conformance-devices.js';

/** The fields of Apple's record the differ reads, written out here rather than taken from the code under test. */
const DIFF_FIELDS = ['serial_number', 'device_family', 'os', 'model', 'description', 'color', 'profile_uuid', 'profile_status', 'profile_assign_time', 'op_date', 'op_type', 'mdm_migration_deadline'];

/** What the differ sees of a device: its fields with a string value (without description and color: `text` false). */
function seen(d: ObservedDevice['device'], text = true): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of DIFF_FIELDS) {
    if (!text && (key === 'description' || key === 'color')) continue;
    const v = (d as unknown as Record<string, unknown>)[key];
    if (typeof v === 'string') out[key] = v;
  }
  return out;
}

/** What the differ's read must give for a record read whole. */
function expected(r: DeviceRecord, text = true): unknown {
  return { serial: r.serial, device: seen(r.device, text), desiredProfile: r.desiredProfile, lastResult: r.lastResult, retryNotBefore: r.retryNotBefore, observedAt: r.observedAt, arrivedAt: r.arrivedAt, attempts: r.attempts };
}

/** ObservedDevice's own fields, the device as the differ sees it (a backend may hand more). */
function own(d: ObservedDevice, text = true): unknown {
  return { serial: d.serial, device: seen(d.device, text), desiredProfile: d.desiredProfile, lastResult: d.lastResult, retryNotBefore: d.retryNotBefore, observedAt: d.observedAt ?? null, arrivedAt: d.arrivedAt ?? null, attempts: d.attempts ?? 0 };
}

/** A description with every kind of character an encoding of the read must escape or carry. */
const TRICKY = 'quote " backslash \\ newline \n tab \t control \u0001 \u001f bracket ], comma , brace } emoji 😀 Ωmega';

/** A record with values Apple's schema does not promise (null where a string is expected). */
const odd = (d: Device, extra: Record<string, unknown>): Device => ({ ...d, ...extra }) as Device;

/** Registers the diff-read group. */
export function defineDiffReadConformance(ctx: ConformanceContext): void {
  describe("the differ's read (iterateDiffDevices)", () => {
    it("gives every device's differ fields and state as the whole read does, page for page", async () => {
      const s = ctx.store;
      const iso = (t: Date): string => t.toISOString().replace(/\.\d{3}Z$/, 'Z');
      await s.upsertDevices('paris', [
        device(0),
        odd(device(1), { description: null, color: null, model: null, os: null, device_family: null }),
        device(2, { mdm_migration_deadline: '2026-09-01T00:00:00Z', profile_uuid: 'U-OLD', profile_status: 'assigned', profile_assign_time: '2026-01-05T00:00:00Z', profile_push_time: '2026-01-06T00:00:00Z' }),
        odd(device(3), { op_type: null, profile_uuid: null, mdm_migration_deadline: 'not a date' }),
        device(4, { profile_uuid: 'U-OLD', profile_status: 'pushed' }),
        odd(device(5), { description: undefined, color: undefined }),
        device(6),
        // Text a backend must carry through any encoding of its read (PostgreSQL sends each page as one JSON text).
        device(8, { description: TRICKY, color: 'Ωmega 😀' }),
      ], T0);
      // Another server's devices never show.
      await s.upsertDevices('lyon', [device(0), device(7)], T0);
      // Sync events: 0 and 4 only change their profile fields (stored beside the record on SQL), 6 changes its record too,
      // 9 is new (arrives), 3 has its op_type.
      await s.upsertDevices('paris', [
        device(0, { profile_uuid: 'U1', profile_status: 'assigned', profile_assign_time: iso(at(5)), op_type: 'modified', op_date: iso(at(5)) }),
        device(4, { profile_uuid: 'U2', profile_status: 'removed', op_type: 'modified', op_date: iso(at(5)) }),
        device(6, { description: 'renamed', op_type: 'modified', op_date: iso(at(5)) }),
        device(9, { op_type: 'added', op_date: iso(at(5)) }),
      ], at(10), { syncEvents: true, newArrive: true });
      await s.recordResults('paris', [
        { serial: device(0).serial_number, result: { status: 'success', at: at(4), appleStatus: 'SUCCESS' }, retryNotBefore: null, desiredProfile: 'staff' },
        { serial: device(2).serial_number, result: { status: 'failed', at: at(4), appleStatus: 'FAILED' }, retryNotBefore: at(600), desiredProfile: 'staff', attempts: 2 },
        { serial: device(3).serial_number, result: { status: 'not-accessible', at: at(4), appleStatus: 'NOT_ACCESSIBLE' }, retryNotBefore: null },
      ]);

      const whole: DeviceRecord[][] = [];
      for await (const page of s.iterateDevices('paris', { pageSize: 3 })) whole.push(page);
      const reduced: unknown[][] = [];
      for await (const page of s.iterateDiffDevices('paris', { pageSize: 3 })) reduced.push(page.map((d) => own(d)));
      expect(whole.map((p) => p.length)).toEqual([3, 3, 3]);
      expect(reduced).toEqual(whole.map((p) => p.map((r) => expected(r))));
      // Without description and color (no match rule reads them; SQLite then reads no record): every other field.
      const narrow: unknown[][] = [];
      for await (const page of s.iterateDiffDevices('paris', { pageSize: 3, descriptionAndColor: false })) narrow.push(page.map((d) => own(d, false)));
      expect(narrow).toEqual(whole.map((p) => p.map((r) => expected(r, false))));

      // Spot checks, so the comparison above cannot pass by both reads losing the same thing.
      const bySerial = new Map(reduced.flat().map((d) => [(d as ObservedDevice).serial, d as ObservedDevice]));
      expect(bySerial.get(device(0).serial_number)?.device).toEqual({
        serial_number: device(0).serial_number, device_family: 'iPad', os: 'iPadOS', model: 'iPad Air', description: 'device 0', color: 'SPACE GRAY',
        profile_uuid: 'U1', profile_status: 'assigned', profile_assign_time: iso(at(5)), op_type: 'modified', op_date: iso(at(5)),
      });
      expect(bySerial.get(device(0).serial_number)?.desiredProfile).toBe('staff');
      expect(bySerial.get(device(1).serial_number)?.device).toEqual({ serial_number: device(1).serial_number, profile_status: 'empty' });
      expect(bySerial.get(device(2).serial_number)?.device).toMatchObject({ mdm_migration_deadline: '2026-09-01T00:00:00Z', profile_uuid: 'U-OLD', profile_assign_time: '2026-01-05T00:00:00Z' });
      expect(bySerial.get(device(2).serial_number)).toMatchObject({ retryNotBefore: at(600), attempts: 2, lastResult: { status: 'failed', appleStatus: 'FAILED' } });
      expect(bySerial.get(device(3).serial_number)?.device).toMatchObject({ mdm_migration_deadline: 'not a date' });
      expect(bySerial.get(device(3).serial_number)?.device).not.toHaveProperty('op_type');
      expect(bySerial.get(device(4).serial_number)?.device).toMatchObject({ profile_uuid: 'U2', profile_status: 'removed', op_type: 'modified' });
      expect(bySerial.get(device(4).serial_number)?.observedAt).toEqual(at(10));
      expect(bySerial.get(device(6).serial_number)?.device).toMatchObject({ description: 'renamed', op_type: 'modified' });
      expect(bySerial.get(device(9).serial_number)?.arrivedAt).toEqual(at(10));
      expect(bySerial.get(device(5).serial_number)?.device).not.toHaveProperty('description');
      expect(bySerial.get(device(8).serial_number)?.device).toMatchObject({ description: TRICKY, color: 'Ωmega 😀' });
      expect([...bySerial.keys()]).not.toContain(device(7).serial_number);
    });

    it('gives nothing for a server without devices', async () => {
      const pages: ObservedDevice[][] = [];
      for await (const page of ctx.store.iterateDiffDevices('nowhere')) pages.push(page);
      expect(pages).toEqual([]);
    });
  });
}
