import { describe, expect, it } from 'vitest';
import type { Assignment, MdmServer } from '../../../controller/config/types.js';
import { compileServerRules } from '../../../controller/reconcile/desired.js';
import { currentProfileUuid, ServerDiffer, type KnownProfile, type ObservedDevice } from '../../../controller/reconcile/diff.js';
import type { ServerPlan } from '../../../controller/reconcile/plan.js';
import { profileContentHash } from '../../../controller/reconcile/profile-content.js';
import { assignment, depConfig, device, enrollmentProfile, mdmServer, observed, withProfile } from '../../helpers/reconcile-fakes.js';

const NOW = new Date('2026-11-25T12:00:00Z');
const ipads = enrollmentProfile('ipads', ['paris'], { is_supervised: true, department: 'Classrooms' });
const macs = enrollmentProfile('macs', ['paris'], { await_device_configured: true });
const IPADS_HASH = profileContentHash(ipads.profile as Record<string, unknown>);
const MACS_HASH = profileContentHash(macs.profile as Record<string, unknown>);
const U_IPADS = 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA1';
const U_IPADS_OLD = 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA0';
const U_MACS = 'BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB1';
const U_FOREIGN = 'FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF1';

const definedIpads: KnownProfile = { name: 'ipads', contentHash: IPADS_HASH, state: 'defined', uuid: U_IPADS };
const oldIpads: KnownProfile = { name: 'ipads', contentHash: 'old-content', state: 'defined', uuid: U_IPADS_OLD };
const definedMacs: KnownProfile = { name: 'macs', contentHash: MACS_HASH, state: 'defined', uuid: U_MACS };

/** iPads (by family) get `ipads`, Macs get `macs`; explicit serials can be added per test. */
const byFamily: Assignment[] = [
  assignment('all-ipads', 'ipads', ['paris'], { match: { device_family: ['iPad'] } }),
  assignment('all-macs', 'macs', ['paris'], { match: { device_family: ['Mac'] } }),
];

function diff(pages: ObservedDevice[][], opts: { server?: Partial<MdmServer>; assignments?: Assignment[]; known?: KnownProfile[]; now?: Date; retryFailed?: boolean } = {}): ServerPlan {
  const config = depConfig({ servers: [mdmServer('paris', opts.server)], profiles: [ipads, macs], assignments: opts.assignments ?? byFamily });
  const profiles = new Map(config.profiles.map((p) => [p.name, { profile: p, contentHash: profileContentHash(p.profile as Record<string, unknown>) }]));
  const d = new ServerDiffer({ rules: compileServerRules(config, 'paris'), profiles, known: opts.known ?? [definedIpads, definedMacs], now: opts.now ?? NOW, retryFailed: opts.retryFailed ?? false });
  for (const p of pages) d.add(p);
  return d.finish();
}

const mac = (serial: string, over: Parameters<typeof device>[1] = {}) => device(serial, { device_family: 'Mac', os: 'OSX', model: 'MacBook Pro', ...over });
const assigned = (p: ServerPlan) => p.assign.flatMap((g) => g.serials).sort();

describe('ServerDiffer', () => {
  it('devices already carrying their target (assigned or pushed) are unchanged, and the plan is empty', () => {
    const p = diff([[observed(withProfile('IPAD1', U_IPADS)), observed(withProfile('IPAD2', U_IPADS, { profile_status: 'pushed' })), observed(withProfile('MAC1', U_MACS, { device_family: 'Mac' }))]]);
    expect(p).toMatchObject({ server: 'paris', defines: [], assign: [], remove: [], drift: [], deferred: [], conflicts: [], devices: 3, unchanged: 3, changeCount: 0, error: null });
  });

  it('an unassigned device whose profile is not defined yet gets an assign with profileUuid null and a define', () => {
    const p = diff([[observed(device('IPAD2')), observed(device('IPAD1'))]], { known: [] });
    expect(p.defines).toEqual([{ profile: 'ipads', contentHash: IPADS_HASH, reason: 'new', previousUuids: [], devices: 2 }]);
    expect(p.assign).toEqual([{ profile: 'ipads', profileUuid: null, fromUuid: null, fromProfile: null, reason: 'unassigned', source: 'match', assignment: 'all-ipads', serials: ['IPAD1', 'IPAD2'] }]);
    expect(p.changeCount).toBe(3);
  });

  it('an unassigned device whose profile is defined is assigned its UUID, with no define', () => {
    const p = diff([[observed(device('IPAD1'))]]);
    expect(p.defines).toEqual([]);
    expect(p.assign).toEqual([expect.objectContaining({ profile: 'ipads', profileUuid: U_IPADS, fromUuid: null, reason: 'unassigned' })]);
  });

  it('a `defining` row (a crash before the UUID was recorded) is not a target: the content is defined again', () => {
    const p = diff([[observed(device('IPAD1'))]], { known: [{ ...definedIpads, state: 'defining', uuid: null }] });
    expect(p.assign[0]?.profileUuid).toBeNull();
    expect(p.defines.map((d) => d.profile)).toEqual(['ipads']);
  });

  it('profile_status removed, empty or "" means the device carries no profile, whatever profile_uuid says', () => {
    for (const status of ['removed', 'empty', ''] as const) {
      expect(currentProfileUuid(withProfile('X', U_IPADS, { profile_status: status })), status).toBeNull();
      const p = diff([[observed(withProfile('IPAD1', U_IPADS, { profile_status: status }))]]);
      expect(p.assign, status).toEqual([expect.objectContaining({ profileUuid: U_IPADS, fromUuid: null, reason: 'unassigned', serials: ['IPAD1'] })]);
    }
  });

  it('a device carrying an older UUID of the same profile is content-changed, and the define names the old UUID', () => {
    const p = diff([[observed(withProfile('IPAD1', U_IPADS_OLD))]], { known: [oldIpads, definedMacs] });
    expect(p.assign).toEqual([{ profile: 'ipads', profileUuid: null, fromUuid: U_IPADS_OLD, fromProfile: 'ipads', reason: 'content-changed', source: 'match', assignment: 'all-ipads', serials: ['IPAD1'] }]);
    expect(p.defines).toEqual([{ profile: 'ipads', contentHash: IPADS_HASH, reason: 'changed', previousUuids: [U_IPADS_OLD], devices: 1 }]);
    expect(p.drift).toEqual([]);
  });

  it('a device depctl assigned before that now carries another profile is drift, corrected on apply', () => {
    const before = { desiredProfile: 'ipads', lastResult: { status: 'success', at: NOW, appleStatus: 'SUCCESS' } };
    const p = diff([[observed(withProfile('IPAD1', U_MACS), before), observed(withProfile('IPAD2', U_MACS))]], { known: [definedIpads, oldIpads, definedMacs] });
    const bySerial = Object.fromEntries(p.assign.flatMap((g) => g.serials.map((s) => [s, g.reason])));
    expect(bySerial).toEqual({ IPAD1: 'drift', IPAD2: 'different-profile' });
    expect(p.drift).toEqual([
      {
        kind: 'profile-changed',
        message: '1 device(s) now carry "macs" instead of "ipads"; apply reassigns them',
        serials: ['IPAD1'],
        corrected: true,
        current: { uuid: U_MACS, profile: 'macs', name: null },
        desired: 'ipads',
        since: null,
      },
    ]);
  });

  it('a failed earlier assign is not drift: the device never carried what depctl wanted', () => {
    const p = diff([[observed(withProfile('IPAD1', U_MACS), { desiredProfile: 'ipads', lastResult: { status: 'failed', at: NOW, appleStatus: 'FAILED' } })]]);
    expect(p.assign[0]?.reason).toBe('different-profile');
    expect(p.drift).toEqual([]);
  });

  it('driftPolicy report: drift is reported (corrected: false) and left unplanned, other changes still planned', () => {
    const before = { desiredProfile: 'ipads', lastResult: { status: 'success', at: NOW, appleStatus: 'SUCCESS' } };
    const p = diff([[observed(withProfile('IPAD1', U_MACS), before), observed(device('IPAD2'))]], { server: { driftPolicy: 'report' } });
    expect(assigned(p)).toEqual(['IPAD2']);
    expect(p.drift).toEqual([
      {
        kind: 'profile-changed',
        message: '1 device(s) now carry "macs" instead of "ipads"; driftPolicy is "report": apply leaves them',
        serials: ['IPAD1'],
        corrected: false,
        current: { uuid: U_MACS, profile: 'macs', name: null },
        desired: 'ipads',
        since: null,
      },
    ]);
    expect(p.changeCount).toBe(1);
  });

  // Regression (fixed in fb90478): foreign-profile drift used to say `corrected: true` for a
  // device that driftPolicy "report" left unplanned.
  it('driftPolicy report: no drift item claims apply corrects a device it leaves alone', () => {
    const before = { desiredProfile: 'ipads', lastResult: { status: 'success', at: NOW, appleStatus: 'SUCCESS' } };
    const p = diff([[observed(withProfile('IPAD1', U_FOREIGN), before)]], { server: { driftPolicy: 'report' } });
    expect(assigned(p)).toEqual([]);
    const naming = p.drift.filter((d) => d.serials.includes('IPAD1'));
    expect(naming.map((d) => d.kind)).toEqual(['profile-changed']);
    expect(naming.filter((d) => d.corrected)).toEqual([]);
  });

  // Regression (fixed in fb90478): a profile removed outside depctl used to be planned as
  // plain 'unassigned', so it was neither reported as drift nor left alone under driftPolicy "report".
  it('a profile depctl assigned and someone removed in the portal is drift; driftPolicy report leaves it', () => {
    const before = { desiredProfile: 'ipads', lastResult: { status: 'success', at: NOW, appleStatus: 'SUCCESS' } };
    const removed = observed(withProfile('IPAD1', U_IPADS, { profile_status: 'removed' }), before);
    const corrected = diff([[removed]]);
    expect(corrected.assign).toEqual([expect.objectContaining({ serials: ['IPAD1'], reason: 'drift' })]);
    expect(corrected.drift).toEqual([
      expect.objectContaining({ kind: 'profile-changed', serials: ['IPAD1'], corrected: true, current: { uuid: null, profile: null, name: null }, desired: 'ipads', message: '1 device(s) now carry no profile instead of "ipads"; apply reassigns them' }),
    ]);
    const reportOnly = diff([[removed]], { server: { driftPolicy: 'report' } });
    expect(reportOnly.assign).toEqual([]);
    expect(reportOnly.drift).toEqual([expect.objectContaining({ kind: 'profile-changed', serials: ['IPAD1'], corrected: false })]);
  });

  it('a device carrying a profile depctl did not define is reported as foreign and reassigned', () => {
    const p = diff([[observed(withProfile('IPAD1', U_FOREIGN))]]);
    expect(p.assign).toEqual([expect.objectContaining({ fromUuid: U_FOREIGN, fromProfile: null, reason: 'different-profile', serials: ['IPAD1'] })]);
    expect(p.drift).toEqual([
      {
        kind: 'foreign-profile',
        message: '1 device(s) carry foreign profile FFFFFFFF… (not defined by depctl) instead of "ipads"; apply reassigns them',
        serials: ['IPAD1'],
        corrected: true,
        current: { uuid: U_FOREIGN, profile: null, name: null },
        desired: 'ipads',
        since: null,
      },
    ]);
  });

  // Issue "Drift says what is there": a device depctl assigned that now carries a foreign profile used to be
  // in two findings (profile-changed and foreign-profile), so one change sent two notifications.
  it('a device depctl assigned that now carries a foreign profile is one profile-changed finding, dated by Apple', () => {
    const before = { desiredProfile: 'ipads', lastResult: { status: 'success', at: NOW, appleStatus: 'SUCCESS' } };
    const p = diff([[observed(withProfile('IPAD1', U_FOREIGN, { profile_assign_time: '2026-11-30T09:15:00Z' }), before)]]);
    expect(p.drift).toEqual([
      {
        kind: 'profile-changed',
        message: '1 device(s) now carry foreign profile FFFFFFFF… (not defined by depctl) instead of "ipads", since 2026-11-30; apply reassigns them',
        serials: ['IPAD1'],
        corrected: true,
        current: { uuid: U_FOREIGN, profile: null, name: null },
        desired: 'ipads',
        since: '2026-11-30T09:15:00Z',
      },
    ]);
    expect(p.assign).toEqual([expect.objectContaining({ fromUuid: U_FOREIGN, reason: 'drift', serials: ['IPAD1'] })]);
  });

  it('drift is grouped by (kind, current UUID, desired profile); every device is in exactly one group', () => {
    const before = (profile: string) => ({ desiredProfile: profile, lastResult: { status: 'success', at: NOW, appleStatus: 'SUCCESS' } });
    const p = diff([
      [
        observed(withProfile('IPAD2', U_FOREIGN, { profile_assign_time: '2026-11-30T09:15:00Z' }), before('ipads')),
        observed(withProfile('IPAD1', U_FOREIGN, { profile_assign_time: '2026-11-29T17:02:11Z', op_date: '2026-11-29T17:05:00Z' }), before('ipads')),
        // No profile_assign_time: the sync's op_date dates the change.
        observed(withProfile('IPAD3', U_FOREIGN, { op_date: '2026-11-30T08:00:00Z' }), before('ipads')),
        observed(withProfile('MAC1', U_FOREIGN, { device_family: 'Mac', profile_assign_time: '2026-11-28T10:00:00Z' }), before('macs')),
        // Never assigned by depctl: foreign, not drift of something depctl did.
        observed(withProfile('IPAD4', U_FOREIGN, { profile_assign_time: '2026-11-01T00:00:00Z' })),
        // Removed in the portal: its profile_assign_time dates the profile it lost, so only op_date counts.
        observed(withProfile('IPAD5', U_IPADS, { profile_status: 'removed', profile_assign_time: '2026-10-01T00:00:00Z', op_date: '2026-12-01T07:30:00Z' }), before('ipads')),
      ],
    ]);
    expect(p.drift.map((d) => ({ kind: d.kind, serials: d.serials, current: d.current, desired: d.desired, since: d.since }))).toEqual([
      { kind: 'profile-changed', serials: ['IPAD5'], current: { uuid: null, profile: null, name: null }, desired: 'ipads', since: '2026-12-01T07:30:00Z' },
      { kind: 'profile-changed', serials: ['IPAD1', 'IPAD2', 'IPAD3'], current: { uuid: U_FOREIGN, profile: null, name: null }, desired: 'ipads', since: '2026-11-29T17:02:11Z' },
      { kind: 'profile-changed', serials: ['MAC1'], current: { uuid: U_FOREIGN, profile: null, name: null }, desired: 'macs', since: '2026-11-28T10:00:00Z' },
      { kind: 'foreign-profile', serials: ['IPAD4'], current: { uuid: U_FOREIGN, profile: null, name: null }, desired: 'ipads', since: '2026-11-01T00:00:00Z' },
    ]);
    expect(p.drift[1]?.message).toBe('3 device(s) now carry foreign profile FFFFFFFF… (not defined by depctl) instead of "ipads", since 2026-11-29; apply reassigns them');
  });

  it('unassignedDevices remove: a foreign profile is foreign-profile drift that should be none; one depctl cleared and someone set again is profile-changed', () => {
    const cleared = { desiredProfile: null, lastResult: { status: 'success', at: NOW, appleStatus: 'SUCCESS' } };
    const phone = (serial: string, uuid: string, over: Parameters<typeof device>[1] = {}) => withProfile(serial, uuid, { device_family: 'iPhone', ...over });
    const pages = [
      [observed(phone('X1', U_FOREIGN, { profile_assign_time: '2026-11-20T12:00:00Z' })), observed(phone('X2', U_MACS, { profile_assign_time: '2026-11-24T12:00:00Z' }), cleared)],
      [observed(phone('X3', U_IPADS)), observed(phone('X4', U_MACS))],
    ];
    const p = diff(pages, { server: { unassignedDevices: 'remove' } });
    expect(p.drift).toEqual([
      {
        kind: 'profile-changed',
        message: '1 device(s) now carry "macs" instead of no profile, since 2026-11-24; apply removes their profile',
        serials: ['X2'],
        corrected: true,
        current: { uuid: U_MACS, profile: 'macs', name: null },
        desired: null,
        since: '2026-11-24T12:00:00Z',
      },
      {
        kind: 'foreign-profile',
        message: '1 device(s) carry foreign profile FFFFFFFF… (not defined by depctl) instead of no profile, since 2026-11-20; apply removes their profile',
        serials: ['X1'],
        corrected: true,
        current: { uuid: U_FOREIGN, profile: null, name: null },
        desired: null,
        since: '2026-11-20T12:00:00Z',
      },
    ]);
    expect(p.remove).toEqual([
      { fromUuid: U_IPADS, fromProfile: 'ipads', reason: 'unassigned-remove', serials: ['X3'] },
      { fromUuid: U_MACS, fromProfile: 'macs', reason: 'drift', serials: ['X2'] },
      { fromUuid: U_MACS, fromProfile: 'macs', reason: 'unassigned-remove', serials: ['X4'] },
      { fromUuid: U_FOREIGN, fromProfile: null, reason: 'unassigned-remove', serials: ['X1'] },
    ]);
    expect(diff([[...pages[1]!].reverse(), [...pages[0]!].reverse()], { server: { unassignedDevices: 'remove' } })).toEqual(p);
    // driftPolicy report leaves the device someone changed; the foreign profile depctl never touched still goes.
    const report = diff(pages, { server: { unassignedDevices: 'remove', driftPolicy: 'report' } });
    expect(report.remove.flatMap((g) => g.serials)).toEqual(['X3', 'X4', 'X1']);
    expect(report.drift.map((d) => [d.kind, d.serials, d.corrected])).toEqual([
      ['profile-changed', ['X2'], false],
      ['foreign-profile', ['X1'], true],
    ]);
  });

  it('devices Apple asked us to wait for are deferred, grouped by time and status; due ones are planned', () => {
    const later = new Date(NOW.getTime() + 3600_000);
    const evenLater = new Date(NOW.getTime() + 7200_000);
    const throttled = { lastResult: { status: 'throttled', at: NOW, appleStatus: 'THROTTLED' }, retryNotBefore: later };
    const p = diff([
      [
        observed(device('IPAD4'), throttled),
        observed(device('IPAD1'), throttled),
        observed(device('IPAD2'), { lastResult: { status: 'failed', at: NOW, appleStatus: 'FAILED' }, retryNotBefore: later, attempts: 2 }),
        observed(device('IPAD3'), { lastResult: { status: 'error', at: NOW, appleStatus: null }, retryNotBefore: evenLater, attempts: 1 }),
        observed(device('IPAD5'), { lastResult: { status: 'failed', at: NOW, appleStatus: 'FAILED' }, retryNotBefore: NOW }),
        observed(device('IPAD6'), { lastResult: { status: 'throttled', at: NOW, appleStatus: 'THROTTLED' }, retryNotBefore: new Date(NOW.getTime() - 1) }),
      ],
    ]);
    expect(p.deferred).toEqual(
      expect.arrayContaining([
        { until: later.toISOString(), lastStatus: 'THROTTLED', attempts: 0, serials: ['IPAD1', 'IPAD4'] },
        { until: later.toISOString(), lastStatus: 'FAILED', attempts: 2, serials: ['IPAD2'] },
        { until: evenLater.toISOString(), lastStatus: 'error', attempts: 1, serials: ['IPAD3'] },
      ]),
    );
    expect(p.deferred).toHaveLength(3);
    expect(p.deferred.at(-1)?.until).toBe(evenLater.toISOString());
    expect(assigned(p)).toEqual(['IPAD5', 'IPAD6']);
    expect(p.changeCount).toBe(2);
  });

  it('--retry-failed takes FAILED and unanswered serials now, but THROTTLED ones still wait for Apple', () => {
    const later = new Date(NOW.getTime() + 3600_000);
    const p = diff(
      [
        [
          observed(device('IPAD1'), { lastResult: { status: 'throttled', at: NOW, appleStatus: 'THROTTLED' }, retryNotBefore: later }),
          observed(device('IPAD2'), { lastResult: { status: 'failed', at: NOW, appleStatus: 'FAILED' }, retryNotBefore: later, attempts: 3 }),
          observed(device('IPAD3'), { lastResult: { status: 'error', at: NOW, appleStatus: null }, retryNotBefore: later, attempts: 1 }),
        ],
      ],
      { retryFailed: true },
    );
    expect(p.deferred).toEqual([{ until: later.toISOString(), lastStatus: 'THROTTLED', attempts: 0, serials: ['IPAD1'] }]);
    expect(assigned(p)).toEqual(['IPAD2', 'IPAD3']);
  });

  it('unassignedDevices remove: one remove group per current UUID; devices without a profile are unchanged', () => {
    const p = diff(
      [[observed(withProfile('X2', U_IPADS, { device_family: 'iPhone' })), observed(withProfile('X1', U_IPADS, { device_family: 'iPhone' })), observed(withProfile('X3', U_FOREIGN, { device_family: 'iPhone' })), observed(device('X4', { device_family: 'iPhone' }))]],
      { server: { unassignedDevices: 'remove' } },
    );
    expect(p.remove).toEqual([
      { fromUuid: U_IPADS, fromProfile: 'ipads', reason: 'unassigned-remove', serials: ['X1', 'X2'] },
      { fromUuid: U_FOREIGN, fromProfile: null, reason: 'unassigned-remove', serials: ['X3'] },
    ]);
    expect(p.assign).toEqual([]);
    expect(p.unchanged).toBe(1);
    expect(p.changeCount).toBe(3);
  });

  it('unassignedDevices remove waits for deferred devices too', () => {
    const p = diff([[observed(withProfile('X1', U_IPADS, { device_family: 'iPhone' }), { lastResult: { status: 'failed', at: NOW, appleStatus: 'FAILED' }, retryNotBefore: new Date(NOW.getTime() + 1000) })]], { server: { unassignedDevices: 'remove' } });
    expect(p.remove).toEqual([]);
    expect(p.deferred.map((g) => g.serials)).toEqual([['X1']]);
  });

  it('maxChanges counts defines, assigned and removed serials; exceeding it (not reaching it) is flagged', () => {
    const pages = [[observed(device('IPAD1')), observed(device('IPAD2')), observed(mac('MAC1'))]];
    const at = diff(pages, { known: [definedMacs], server: { maxChanges: 4 } });
    expect(at).toMatchObject({ changeCount: 4, maxChanges: 4, exceedsMaxChanges: false });
    const over = diff(pages, { known: [definedMacs], server: { maxChanges: 3 } });
    expect(over).toMatchObject({ changeCount: 4, maxChanges: 3, exceedsMaxChanges: true });
    expect(diff(pages)).toMatchObject({ maxChanges: null, exceedsMaxChanges: false });
  });

  it('groups are keyed by (from, to, reason, source); serials are sorted in each group across pages', () => {
    const rules = [...byFamily, assignment('carts', 'ipads', ['paris'], { serials: ['IPAD9', 'IPAD3'] })];
    const p = diff(
      [
        [observed(device('IPAD8')), observed(device('IPAD9')), observed(withProfile('IPAD7', U_MACS))],
        [observed(device('IPAD2')), observed(device('IPAD3')), observed(withProfile('IPAD1', U_MACS)), observed(withProfile('IPAD5', U_IPADS_OLD))],
      ],
      { assignments: rules, known: [definedIpads, oldIpads, definedMacs] },
    );
    expect(p.assign.map((g) => ({ from: g.fromUuid, reason: g.reason, source: g.source, serials: g.serials }))).toEqual(
      expect.arrayContaining([
        { from: null, reason: 'unassigned', source: 'match', serials: ['IPAD2', 'IPAD8'] },
        { from: null, reason: 'unassigned', source: 'serial', serials: ['IPAD3', 'IPAD9'] },
        { from: U_MACS, reason: 'different-profile', source: 'match', serials: ['IPAD1', 'IPAD7'] },
        { from: U_IPADS_OLD, reason: 'content-changed', source: 'match', serials: ['IPAD5'] },
      ]),
    );
    expect(p.assign).toHaveLength(4);
    expect(p.assign.every((g) => g.profile === 'ipads' && g.profileUuid === U_IPADS)).toBe(true);
  });

  it('the same devices in another page order give the same plan', () => {
    const devices = ['IPAD3', 'IPAD1', 'IPAD2'].map((s) => observed(device(s)));
    const macsToo = [observed(mac('MAC2')), observed(withProfile('MAC1', U_IPADS, { device_family: 'Mac' }))];
    const a = diff([[...devices, ...macsToo]]);
    const b = diff([[macsToo[1]!], [devices[2]!, devices[0]!], [macsToo[0]!, devices[1]!]]);
    expect(b).toEqual(a);
  });

  it('conflicting rules and profiles not defined on this server are per-device conflicts, sorted, not changes', () => {
    const rules = [
      assignment('by-family', 'ipads', ['paris'], { match: { device_family: ['iPad'] }, priority: 1 }),
      assignment('by-model', 'macs', ['paris'], { match: { model: ['iPad*'] }, priority: 1 }),
    ];
    const p = diff([[observed(device('IPAD2')), observed(device('IPAD1'))]], { assignments: rules });
    expect(p.conflicts.map((c) => c.serial)).toEqual(['IPAD1', 'IPAD2']);
    expect(p.conflicts[0]?.message).toMatch(/by-family.*by-model/);
    expect(p).toMatchObject({ assign: [], changeCount: 0 });

    const elsewhere = [assignment('lost', 'nowhere', ['paris'], { serials: ['IPAD1'] })];
    const q = diff([[observed(device('IPAD1'))]], { assignments: elsewhere });
    expect(q.conflicts).toEqual([{ serial: 'IPAD1', message: expect.stringContaining('"nowhere"') }]);
  });

  it('seenExplicit holds the explicitly listed serials this server has', () => {
    const config = depConfig({ servers: [mdmServer('paris')], profiles: [ipads, macs], assignments: [assignment('carts', 'ipads', ['paris'], { serials: ['IPAD1', 'IPAD9'] })] });
    const d = new ServerDiffer({ rules: compileServerRules(config, 'paris'), profiles: new Map([['ipads', { profile: ipads, contentHash: IPADS_HASH }]]), known: [], now: NOW });
    d.add([observed(device('IPAD1')), observed(device('IPAD2'))]);
    expect([...d.seenExplicit]).toEqual(['IPAD1']);
  });
});
