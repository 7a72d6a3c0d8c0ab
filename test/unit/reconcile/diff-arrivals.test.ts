/**
 * ServerDiffer: devices that arrive on a server (assigned once per arrival, even when the UUID matches),
 * devices Apple answered NOT_ACCESSIBLE for (drift, left alone until Apple shows them again), and devices with
 * an MDM migration deadline.
 */
import { describe, expect, it } from 'vitest';
import type { Assignment, MdmServer } from '../../../controller/config/types.js';
import { compileServerRules } from '../../../controller/reconcile/desired.js';
import { ServerDiffer, type KnownProfile, type ObservedDevice } from '../../../controller/reconcile/diff.js';
import type { ServerPlan } from '../../../controller/reconcile/plan.js';
import { profileContentHash } from '../../../controller/reconcile/profile-content.js';
import { assignment, depConfig, device, enrollmentProfile, mdmServer, observed, withProfile } from '../../helpers/reconcile-fakes.js';

const NOW = new Date('2026-11-25T12:00:00Z');
const T0 = new Date('2026-11-25T09:00:00Z');
const T1 = new Date('2026-11-25T10:00:00Z');
const T2 = new Date('2026-11-25T11:00:00Z');
const ipads = enrollmentProfile('ipads', ['paris'], { is_supervised: true });
const IPADS_HASH = profileContentHash(ipads.profile as Record<string, unknown>);
const U_IPADS = 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA1';
const U_FOREIGN = 'FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF1';
const known: KnownProfile[] = [{ name: 'ipads', contentHash: IPADS_HASH, state: 'defined', uuid: U_IPADS }];
const allIpads: Assignment[] = [assignment('all-ipads', 'ipads', ['paris'], { match: { device_family: ['iPad'] } })];

function diff(devices: ObservedDevice[], server: Partial<MdmServer> = {}): ServerPlan {
  const config = depConfig({ servers: [mdmServer('paris', server)], profiles: [ipads], assignments: allIpads });
  const profiles = new Map([['ipads', { profile: ipads, contentHash: IPADS_HASH }]]);
  const d = new ServerDiffer({ rules: compileServerRules(config, 'paris'), profiles, known, now: NOW });
  d.add(devices);
  return d.finish();
}

const success = { status: 'success', at: T0, appleStatus: 'SUCCESS' };
const notAccessibleAt = (at: Date) => ({ status: 'not-accessible', at, appleStatus: 'NOT_ACCESSIBLE' });

describe('ServerDiffer: devices that arrive', () => {
  it('assigns an arrived device once even when it carries its desired UUID; a device that never left is not touched', () => {
    const p = diff([observed(withProfile('IPAD1', U_IPADS), { arrivedAt: T1 }), observed(withProfile('IPAD2', U_IPADS), { arrivedAt: null })]);
    expect(p.assign).toEqual([
      { profile: 'ipads', profileUuid: U_IPADS, fromUuid: U_IPADS, fromProfile: 'ipads', reason: 'arrived', source: 'match', assignment: 'all-ipads', serials: ['IPAD1'] },
    ]);
    expect(p).toMatchObject({ defines: [], remove: [], drift: [], deferred: [], devices: 2, unchanged: 1, changeCount: 1 });
  });

  it('an arrival is not drift: a foreign profile or a lost one is assigned as an arrival, even under driftPolicy report', () => {
    const foreign = observed(withProfile('IPAD1', U_FOREIGN), { arrivedAt: T1 });
    // Assigned by depctl before it left (the store kept the row: Apple's `deleted` was missed), now without a profile.
    const lost = observed(device('IPAD2'), { arrivedAt: T1, desiredProfile: 'ipads', lastResult: success });
    const p = diff([foreign, lost], { driftPolicy: 'report' });
    expect(p.assign).toEqual([
      { profile: 'ipads', profileUuid: U_IPADS, fromUuid: null, fromProfile: null, reason: 'arrived', source: 'match', assignment: 'all-ipads', serials: ['IPAD2'] },
      { profile: 'ipads', profileUuid: U_IPADS, fromUuid: U_FOREIGN, fromProfile: null, reason: 'arrived', source: 'match', assignment: 'all-ipads', serials: ['IPAD1'] },
    ]);
    expect(p.drift).toEqual([]);
  });

  it('under unassignedDevices remove, an arrived device carrying a profile loses it (reason arrived); one carrying none is unchanged', () => {
    const config: Partial<MdmServer> = { unassignedDevices: 'remove' };
    const mac = (serial: string, uuid: string | null) =>
      uuid === null ? device(serial, { device_family: 'Mac', os: 'OSX' }) : withProfile(serial, uuid, { device_family: 'Mac', os: 'OSX' });
    const p = diff([observed(mac('MAC1', U_FOREIGN), { arrivedAt: T1 }), observed(mac('MAC2', null), { arrivedAt: T1 })], config);
    expect(p.remove).toEqual([{ fromUuid: U_FOREIGN, fromProfile: null, reason: 'arrived', serials: ['MAC1'] }]);
    expect(p).toMatchObject({ assign: [], drift: [], unchanged: 1, changeCount: 1 });
  });

  it('an arrived device Apple asked to wait for is deferred like any other', () => {
    const p = diff([observed(withProfile('IPAD1', U_IPADS), { arrivedAt: T1, retryNotBefore: new Date('2026-11-25T12:30:00Z'), lastResult: { status: 'throttled', at: T1, appleStatus: 'THROTTLED' } })]);
    expect(p).toMatchObject({ assign: [], deferred: [{ until: '2026-11-25T12:30:00.000Z', lastStatus: 'THROTTLED', serials: ['IPAD1'] }], changeCount: 0 });
  });
});

describe('ServerDiffer: devices Apple answered NOT_ACCESSIBLE for', () => {
  const message = (n: number) =>
    `${n} serial(s) are not accessible to this server (Apple answered NOT_ACCESSIBLE: moved to another MDM server in Apple Business Manager, or released)`;

  it('are drift, not changes, until Apple shows them again; a full fetch does not count, a later sync event or arrival does', () => {
    const synced = (serial: string, over: Partial<ObservedDevice>) => observed(device(serial, { op_type: 'modified', op_date: '2026-11-25T08:00:00Z' }), over);
    const p = diff([
      // Seen by sync before the apply that answered NOT_ACCESSIBLE.
      synced('IPAD1', { lastResult: notAccessibleAt(T1), observedAt: T0 }),
      // A full fetch listed it after that apply: fetched records carry no op_type.
      observed(device('IPAD2'), { lastResult: notAccessibleAt(T1), observedAt: T2 }),
      // It arrived, was tried, and Apple answered NOT_ACCESSIBLE after the arrival.
      observed(device('IPAD3'), { lastResult: notAccessibleAt(T1), arrivedAt: T0, observedAt: T0 }),
      // A sync event after the apply: Apple shows it on this server again.
      synced('IPAD4', { lastResult: notAccessibleAt(T1), observedAt: T2 }),
      // An arrival after the apply.
      observed(withProfile('IPAD5', U_IPADS), { lastResult: notAccessibleAt(T1), arrivedAt: T2, observedAt: T2 }),
    ]);
    expect(p.drift).toEqual([{ kind: 'not-accessible', message: message(3), serials: ['IPAD1', 'IPAD2', 'IPAD3'], corrected: false }]);
    expect(p.assign).toEqual([
      { profile: 'ipads', profileUuid: U_IPADS, fromUuid: null, fromProfile: null, reason: 'unassigned', source: 'match', assignment: 'all-ipads', serials: ['IPAD4'] },
      { profile: 'ipads', profileUuid: U_IPADS, fromUuid: U_IPADS, fromProfile: 'ipads', reason: 'arrived', source: 'match', assignment: 'all-ipads', serials: ['IPAD5'] },
    ]);
    expect(p).toMatchObject({ remove: [], deferred: [], devices: 5, unchanged: 0, changeCount: 2 });
  });

  it('a record whose op_type is null is not a sync event (as when it is absent)', () => {
    const nullOp = observed({ ...device('IPAD1'), op_type: null } as unknown as Parameters<typeof observed>[0], { lastResult: notAccessibleAt(T1), observedAt: T2 });
    expect(diff([nullOp]).drift).toEqual([{ kind: 'not-accessible', message: message(1), serials: ['IPAD1'], corrected: false }]);
  });

  it('are not removed again either; a device the configuration ignores is not reported', () => {
    const macOf = (serial: string) => withProfile(serial, U_FOREIGN, { device_family: 'Mac', os: 'OSX' });
    const removing = diff([observed(macOf('MAC1'), { lastResult: notAccessibleAt(T1), observedAt: T0 })], { unassignedDevices: 'remove' });
    expect(removing).toMatchObject({ remove: [], drift: [{ kind: 'not-accessible', message: message(1), serials: ['MAC1'], corrected: false }], changeCount: 0 });
    const ignoring = diff([observed(macOf('MAC1'), { lastResult: notAccessibleAt(T1), observedAt: T0 })]);
    expect(ignoring).toMatchObject({ remove: [], drift: [], unchanged: 1 });
  });
});

describe('ServerDiffer: MDM migration deadlines', () => {
  it('counts devices with a deadline, the earliest, and how many this plan changes', () => {
    const p = diff([
      observed(device('IPAD1', { mdm_migration_deadline: '2026-12-15T00:00:00Z' })),
      observed(withProfile('IPAD2', U_IPADS, { mdm_migration_deadline: '2026-12-01T17:00:00Z' })),
      observed(withProfile('IPAD3', U_IPADS, { mdm_migration_deadline: 'soon' })),
      observed(device('IPAD4')),
    ]);
    expect(p.migrationDeadlines).toEqual({ devices: 2, earliest: '2026-12-01T17:00:00Z', planned: 1 });
  });

  it('is null when no device has one', () => {
    expect(diff([observed(device('IPAD1'))]).migrationDeadlines).toBeNull();
  });
});
