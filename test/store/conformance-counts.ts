/**
 * Conformance tests for the status counts: devices by stored last result (with the deferred count) and
 * devices by the profile UUID they carry.
 */
import { describe, expect, it } from 'vitest';
import type { DeviceResult, DeviceResultStatus } from '../../controller/store/ports.js';
import { T0, at, type ConformanceContext } from './conformance-context.js';
import { device } from './conformance-devices.js';

const APPLE: Record<DeviceResultStatus, string | null> = {
  success: 'SUCCESS', failed: 'FAILED', throttled: 'THROTTLED', 'not-accessible': 'NOT_ACCESSIBLE', error: null,
};

/** A result recorded at `T0`. */
function result(status: DeviceResultStatus): DeviceResult {
  return { status, at: T0, appleStatus: APPLE[status] };
}

/** The serial of `device(i)`. */
const serial = (i: number): string => device(i).serial_number;

/** Registers the counts group. */
export function defineCountConformance(ctx: ConformanceContext): void {
  describe('result counts', () => {
    it('counts devices by last result, and those whose retry is still ahead', async () => {
      const s = ctx.store;
      await s.upsertDevices('paris', Array.from({ length: 5 }, (_, i) => device(i)), T0);
      await s.upsertDevices('lyon', [device(0), device(1)], T0);
      expect(await s.countResults('paris', T0)).toEqual({ byResult: {}, deferred: 0 });

      await s.recordResults('paris', [
        { serial: serial(0), result: result('failed'), retryNotBefore: null },
        { serial: serial(1), result: result('failed'), retryNotBefore: null },
        { serial: serial(2), result: result('throttled'), retryNotBefore: at(60) },
      ]);
      await s.recordResults('lyon', [
        { serial: serial(0), result: result('failed'), retryNotBefore: at(3600) },
        { serial: serial(1), result: result('not-accessible'), retryNotBefore: at(60) },
      ]);
      expect(await s.countResults('paris', T0)).toEqual({ byResult: { failed: 2, throttled: 1 }, deferred: 1 });
      expect(await s.countResults('paris', at(59))).toEqual({ byResult: { failed: 2, throttled: 1 }, deferred: 1 });
      // Due exactly now is no longer deferred.
      expect(await s.countResults('paris', at(60))).toEqual({ byResult: { failed: 2, throttled: 1 }, deferred: 0 });

      await s.recordResults('paris', [{ serial: serial(0), result: result('success'), retryNotBefore: null }]);
      expect(await s.countResults('paris', T0)).toEqual({ byResult: { failed: 1, success: 1, throttled: 1 }, deferred: 1 });

      expect(await s.countResults('lyon', T0)).toEqual({ byResult: { failed: 1, 'not-accessible': 1 }, deferred: 2 });
      expect(await s.countResults('lyon', at(60))).toEqual({ byResult: { failed: 1, 'not-accessible': 1 }, deferred: 1 });
      expect(await s.countResults('nowhere', T0)).toEqual({ byResult: {}, deferred: 0 });
    });

    it('keeps counting results across re-observation, and forgets deleted devices', async () => {
      const s = ctx.store;
      await s.upsertDevices('paris', [device(0), device(1), device(2)], T0);
      await s.recordResults('paris', [
        { serial: serial(0), result: result('error'), retryNotBefore: at(60) },
        { serial: serial(1), result: result('failed'), retryNotBefore: at(3600) },
        { serial: serial(2), result: result('success'), retryNotBefore: null },
      ]);
      await s.upsertDevices('paris', [device(0, { profile_status: 'assigned', profile_uuid: 'UUID-A' }), device(1), device(3)], at(1));
      expect(await s.countResults('paris', T0)).toEqual({ byResult: { error: 1, failed: 1, success: 1 }, deferred: 2 });
      await s.deleteDevices('paris', [serial(1)]);
      expect(await s.countResults('paris', T0)).toEqual({ byResult: { error: 1, success: 1 }, deferred: 1 });
    });
  });

  describe('devices by profile UUID', () => {
    it('counts a server\'s devices per profile_uuid in one answer, null for none', async () => {
      const s = ctx.store;
      const carrying = (uuid: string) => ({ profile_status: 'assigned' as const, profile_uuid: uuid });
      await s.upsertDevices('paris', [
        ...[0, 1, 2].map((i) => device(i, carrying('UUID-A'))),
        ...[3, 4].map((i) => device(i, carrying('UUID-B'))),
        ...[5, 6, 7, 8].map((i) => device(i)),
      ], T0);
      await s.upsertDevices('lyon', [device(0, carrying('UUID-A')), device(9, carrying('UUID-C'))], T0);
      expect(await s.countDevicesByProfileUuid('paris')).toEqual(new Map<string | null, number>([['UUID-A', 3], ['UUID-B', 2], [null, 4]]));
      expect(await s.countDevicesByProfileUuid('lyon')).toEqual(new Map<string | null, number>([['UUID-A', 1], ['UUID-C', 1]]));
      expect(await s.countDevicesByProfileUuid('nowhere')).toEqual(new Map());

      // The same numbers as one filtered count per UUID, after a device moves from one profile to none.
      await s.upsertDevices('paris', [device(3)], at(1));
      const counts = await s.countDevicesByProfileUuid('paris');
      expect(counts).toEqual(new Map<string | null, number>([['UUID-A', 3], ['UUID-B', 1], [null, 5]]));
      for (const [uuid, n] of counts) expect(await s.countDevices('paris', { profileUuid: uuid })).toBe(n);
    });
  });
}
