/**
 * Conformance tests for the device fields of migration 4: arrivals (`arrivedAt`, set by observe's upserts,
 * cleared by a successful result), `attempts`, and the MDM migration deadline count.
 */
import { describe, expect, it } from 'vitest';
import { T0, at, type ConformanceContext } from './conformance-context.js';
import { device } from './conformance-devices.js';

const serial = (i: number): string => device(i).serial_number;

/** Registers the arrival and migration-deadline group. */
export function defineArrivalConformance(ctx: ConformanceContext): void {
  describe('device arrivals, attempts and migration deadlines', () => {
    it('marks new serials only when asked, listed serials always, and keeps a mark across re-observation', async () => {
      const s = ctx.store;
      const arrivedAt = async (i: number): Promise<Date | null | undefined> => (await s.getDevice('paris', serial(i)))?.arrivedAt;
      // A first full fetch: nothing arrives.
      await s.upsertDevices('paris', [device(1), device(2)], T0);
      expect([await arrivedAt(1), await arrivedAt(2)]).toEqual([null, null]);
      // A later fetch or sync: the serial the store did not hold arrives, the one it held does not.
      await s.upsertDevices('paris', [device(1), device(3)], at(1), { newArrive: true });
      expect([await arrivedAt(1), await arrivedAt(3)]).toEqual([null, at(1)]);
      // A listed serial arrives although the store holds it (sync `added`).
      await s.upsertDevices('paris', [device(2), device(1)], at(2), { newArrive: true, arrived: new Set([serial(2)]) });
      expect([await arrivedAt(1), await arrivedAt(2)]).toEqual([null, at(2)]);
      // Re-observation without a mark keeps it; a new arrival moves it.
      await s.upsertDevices('paris', [device(3)], at(3));
      expect(await arrivedAt(3)).toEqual(at(1));
      await s.upsertDevices('paris', [device(3)], at(5), { arrived: new Set([serial(3)]) });
      expect(await arrivedAt(3)).toEqual(at(5));
      // Listed and new without `newArrive`; new and not listed.
      await s.upsertDevices('paris', [device(4), device(5)], at(4), { arrived: new Set([serial(4), 'NOT-SENT']) });
      expect([await arrivedAt(4), await arrivedAt(5)]).toEqual([at(4), null]);
      expect(await s.countDevices('paris')).toBe(5);
      expect((await s.getDevice('lyon', serial(4)))).toBeUndefined();
    });

    it('clears an arrival with a successful result in the same write, and stores attempts only when given', async () => {
      const s = ctx.store;
      await s.upsertDevices('paris', [device(1), device(2), device(3)], T0, { newArrive: true });
      const ok = { status: 'success' as const, at: at(1), appleStatus: 'SUCCESS' };
      const failed = { status: 'failed' as const, at: at(1), appleStatus: 'FAILED' };
      const gone = { status: 'not-accessible' as const, at: at(1), appleStatus: 'NOT_ACCESSIBLE' };
      expect(await s.recordResults('paris', [
        { serial: serial(1), result: ok, retryNotBefore: null, desiredProfile: 'ipads' },
        { serial: serial(2), result: failed, retryNotBefore: at(900), attempts: 1 },
        { serial: serial(3), result: gone, retryNotBefore: null },
      ])).toBe(3);
      expect(await s.getDevice('paris', serial(1))).toMatchObject({ arrivedAt: null, attempts: 0, desiredProfile: 'ipads', lastResult: ok });
      expect(await s.getDevice('paris', serial(2))).toMatchObject({ arrivedAt: T0, attempts: 1, lastResult: failed, retryNotBefore: at(900) });
      expect(await s.getDevice('paris', serial(3))).toMatchObject({ arrivedAt: T0, attempts: 0, lastResult: gone });
      // Undefined attempts keep the count; a re-observation keeps it too.
      await s.recordResults('paris', [{ serial: serial(2), result: failed, retryNotBefore: at(3600) }]);
      await s.upsertDevices('paris', [device(2)], at(2), { newArrive: true });
      expect(await s.getDevice('paris', serial(2))).toMatchObject({ arrivedAt: T0, attempts: 1 });
      await s.recordResults('paris', [{ serial: serial(2), result: ok, retryNotBefore: null, attempts: 0 }]);
      expect(await s.getDevice('paris', serial(2))).toMatchObject({ arrivedAt: null, attempts: 0, lastResult: ok, retryNotBefore: null });
    });

    it('marks listed arrivals beyond one statement batch', async () => {
      const s = ctx.store;
      const n = 6_001;
      await s.upsertDevices('paris', Array.from({ length: n }, (_, i) => device(i)), T0);
      const listed = new Set(Array.from({ length: 5_001 }, (_, i) => serial(i + 1000)));
      await s.upsertDevices('paris', Array.from({ length: n }, (_, i) => device(i)), at(1), { newArrive: true, arrived: listed });
      let arrived = 0;
      for await (const page of s.iterateDevices('paris', { pageSize: 5000 })) {
        for (const d of page) {
          expect(d.arrivedAt).toEqual(listed.has(d.serial) ? at(1) : null);
          if (d.arrivedAt) arrived++;
        }
      }
      expect(arrived).toBe(5_001);
    });

    it('counts devices with an MDM migration deadline and the earliest, per server, as re-observation changes them', async () => {
      const s = ctx.store;
      expect(await s.countMigrationDeadlines('paris')).toEqual({ devices: 0, earliest: null });
      await s.upsertDevices('paris', [
        device(0, { mdm_migration_deadline: '2026-06-01T00:00:00Z' }),
        device(1, { mdm_migration_deadline: '2026-05-15T12:00:00Z' }),
        device(2),
        device(3, { mdm_migration_deadline: 'soon' }),
      ], T0);
      await s.upsertDevices('lyon', [device(4, { mdm_migration_deadline: '2026-04-01T00:00:00Z' })], T0);
      expect(await s.countMigrationDeadlines('paris')).toEqual({ devices: 2, earliest: new Date('2026-05-15T12:00:00Z') });
      expect(await s.countMigrationDeadlines('lyon')).toEqual({ devices: 1, earliest: new Date('2026-04-01T00:00:00Z') });
      // Apple's value is kept verbatim in the record, even when it is not a time.
      expect((await s.getDevice('paris', serial(3)))?.device.mdm_migration_deadline).toBe('soon');
      // The instant to the millisecond, whatever the offset it is written with.
      await s.upsertDevices('paris', [device(5, { mdm_migration_deadline: '2026-05-15T13:59:59.987+02:00' })], T0);
      expect(await s.countMigrationDeadlines('paris')).toEqual({ devices: 3, earliest: new Date('2026-05-15T11:59:59.987Z') });
      expect((await s.getDevice('paris', serial(5)))?.device.mdm_migration_deadline).toBe('2026-05-15T13:59:59.987+02:00');
      await s.deleteDevices('paris', [serial(5)]);
      // A time JavaScript parses but no backend holds (PostgreSQL's timestamps start in 4714 BC) is kept in the
      // record, counts as no deadline, and never fails the batch it came in.
      const ancient = '-271821-04-20T00:00:00Z';
      await s.upsertDevices('paris', [device(6, { mdm_migration_deadline: ancient, op_date: '-004714-11-23T23:59:59.999Z' }), device(7)], T0);
      expect(await s.countMigrationDeadlines('paris')).toEqual({ devices: 2, earliest: new Date('2026-05-15T12:00:00Z') });
      expect((await s.getDevice('paris', serial(6)))?.device).toMatchObject({ mdm_migration_deadline: ancient, op_date: '-004714-11-23T23:59:59.999Z' });
      expect(await s.getDevice('paris', serial(7))).toBeDefined();
      await s.deleteDevices('paris', [serial(6), serial(7)]);
      await s.upsertDevices('paris', [device(1)], at(1));
      expect(await s.countMigrationDeadlines('paris')).toEqual({ devices: 1, earliest: new Date('2026-06-01T00:00:00Z') });
      await s.deleteDevices('paris', [serial(0)]);
      expect(await s.countMigrationDeadlines('paris')).toEqual({ devices: 0, earliest: null });
    });
  });
}
