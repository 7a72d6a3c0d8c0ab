/**
 * Conformance tests for the enrollment attempts (issue 14, migration 6): recording with an audit entry,
 * listing, per-profile counts, and the devices DEP pushed a profile to that never enrolled.
 */
import { describe, expect, it } from 'vitest';
import type { EnrollmentAttempt } from '../../controller/store/ports.js';
import { at, T0, type ConformanceContext } from './conformance-context.js';
import { device } from './conformance-devices.js';

function attempt(over: Partial<EnrollmentAttempt>): EnrollmentAttempt {
  return { at: T0, profile: 'staff', serial: 'C02AAA', server: 'paris', outcome: 'enrolled', reason: 'enrolled', product: 'iPhone15,2', osVersion: '17.4', build: '21E236', ...over };
}

/** Registers the enrollment group. */
export function defineEnrollConformance(ctx: ConformanceContext): void {
  describe('enrollment attempts', () => {
    it('records attempts with ids, lists them newest first (by serial too) and writes one audit entry each', async () => {
      const s = ctx.store;
      const a = await s.recordEnrollmentAttempt(attempt({ serial: 'C02AAA', outcome: 'refused', reason: 'os-too-old', at: at(1) }));
      const b = await s.recordEnrollmentAttempt(attempt({ serial: 'C02BBB', at: at(2) }));
      await s.recordEnrollmentAttempt(attempt({ serial: null, server: null, outcome: 'bad-request', reason: 'malformed', product: null, osVersion: null, build: null, at: at(3) }));
      expect(b.id).toBeGreaterThan(a.id);
      const all = await s.listEnrollmentAttempts({ limit: 10 });
      expect(all.map((x) => [x.serial, x.outcome, x.reason])).toEqual([
        [null, 'bad-request', 'malformed'],
        ['C02BBB', 'enrolled', 'enrolled'],
        ['C02AAA', 'refused', 'os-too-old'],
      ]);
      expect(all[2]).toEqual({ ...attempt({ serial: 'C02AAA', outcome: 'refused', reason: 'os-too-old', at: at(1) }), id: a.id });
      expect((await s.listEnrollmentAttempts({ serial: 'C02AAA', limit: 10 })).map((x) => x.id)).toEqual([a.id]);
      const audit = await s.readAudit({ limit: 10 });
      expect(audit.map((e) => [e.action, e.server, e.serial, e.after, e.outcome])).toEqual([
        ['enroll', 'paris', 'C02AAA', 'staff: refused (os-too-old)', 'failed'],
        ['enroll', 'paris', 'C02BBB', 'staff: enrolled (enrolled)', 'success'],
        ['enroll', '(none)', null, 'staff: bad-request (malformed)', 'failed'],
      ]);
    });

    it('counts attempts per profile and outcome, across handles', async () => {
      const s = ctx.store;
      await s.recordEnrollmentAttempt(attempt({ serial: 'A1' }));
      await s.recordEnrollmentAttempt(attempt({ serial: 'A2' }));
      await s.recordEnrollmentAttempt(attempt({ serial: 'A3', outcome: 'held-for-update', reason: 'os-update-required' }));
      await s.recordEnrollmentAttempt(attempt({ profile: 'lab', serial: 'A4', outcome: 'refused', reason: 'unknown-serial' }));
      const other = await ctx.open();
      expect(await other.countEnrollmentAttempts()).toEqual([
        { profile: 'lab', outcome: 'refused', count: 1 },
        { profile: 'staff', outcome: 'enrolled', count: 2 },
        { profile: 'staff', outcome: 'held-for-update', count: 1 },
      ]);
    });

    it('counts pushed devices with no enrolled attempt, by profile UUID and per server', async () => {
      const s = ctx.store;
      const pushed = (i: number, uuid: string) => ({ ...device(i), profile_uuid: uuid, profile_status: 'pushed' as const });
      await s.upsertDevices('paris', [pushed(0, 'U1'), pushed(1, 'U1'), pushed(2, 'U2'), { ...device(3), profile_uuid: 'U1', profile_status: 'assigned' as const }, device(4)], T0);
      await s.upsertDevices('lyon', [pushed(5, 'U1')], T0);
      expect(await s.countPushedNeverEnrolled('paris')).toEqual(new Map([['U1', 2], ['U2', 1]]));
      // A refused attempt does not count as enrolled; an enrolled one does.
      await s.recordEnrollmentAttempt(attempt({ serial: device(0).serial_number, outcome: 'refused', reason: 'wrong-profile' }));
      await s.recordEnrollmentAttempt(attempt({ serial: device(1).serial_number }));
      expect(await s.countPushedNeverEnrolled('paris')).toEqual(new Map([['U1', 1], ['U2', 1]]));
      expect(await s.countPushedNeverEnrolled('lyon')).toEqual(new Map([['U1', 1]]));
      expect(await s.countPushedNeverEnrolled('nowhere')).toEqual(new Map());
    });
  });
}
