import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { explainSerials, HISTORY_LIMIT, type ExplainInput, type LiveAnswer } from '../../../controller/reconcile/explain.js';
import { profileContentHash } from '../../../controller/reconcile/profile-content.js';
import { normaliseSerial, serialProblem } from '../../../controller/config/serials.js';
import { openStore, type Store } from '../../../controller/store/index.js';
import type { DepConfig, MdmServer } from '../../../controller/config/types.js';
import { assignment, depConfig, device, enrollmentProfile, mdmServer, withProfile } from '../../helpers/reconcile-fakes.js';

const NOW = new Date('2026-12-06T12:00:00Z');
const OBSERVED = new Date('2026-12-06T11:00:00Z');
const IPADS_UUID = 'AAAA0000000000000000000000000001';
const OLD_IPADS_UUID = 'AAAA0000000000000000000000000000';
const FOREIGN_UUID = 'FFFF0000000000000000000000000009';

const ipads = enrollmentProfile('ipads', ['paris', 'lyon'], { department: 'Classrooms' });
const macs = enrollmentProfile('macs', ['paris', 'lyon']);

function config(paris: Partial<MdmServer> = {}): DepConfig {
  return depConfig({
    servers: [mdmServer('paris', { source: { file: 'servers.yaml', line: 1, column: 1 }, ...paris }), mdmServer('lyon', { source: { file: 'servers.yaml', line: 12, column: 1 } })],
    profiles: [ipads, macs],
    assignments: [
      assignment('carts', 'ipads', ['paris', 'lyon'], { serials: ['C02CART00001', 'C02GONE00001'], source: { file: 'assignments/carts.yaml', line: 3, column: 1 } }),
      assignment('all-ipads', 'ipads', ['paris'], { match: { device_family: ['iPad'] }, priority: 10, source: { file: 'assignments/rules.yaml', line: 1, column: 1 } }),
      assignment('all-macs', 'macs', ['paris'], { match: { device_family: ['Mac'] }, priority: 5, source: { file: 'assignments/rules.yaml', line: 9, column: 1 } }),
    ],
  });
}

const normalise: ExplainInput['normalise'] = (raw) => {
  const serial = normaliseSerial(raw);
  return serial !== undefined ? { serial } : { problem: serialProblem(raw) };
};

describe('explainSerials', () => {
  let store: Store;

  beforeEach(async () => {
    store = await openStore('memory:');
    // ipads: its current content defined as IPADS_UUID, an older content as OLD_IPADS_UUID.
    const old = { ...ipads.profile, department: 'Old' };
    for (const [body, uuid, at] of [[old, OLD_IPADS_UUID, new Date('2026-11-01T00:00:00Z')], [ipads.profile, IPADS_UUID, new Date('2026-12-01T00:00:00Z')]] as const) {
      const key = { server: 'paris', name: 'ipads', contentHash: profileContentHash(body as Record<string, unknown>) };
      await store.beginDefine({ ...key, body, at });
      await store.completeDefine(key, uuid, at);
    }
    await store.upsertDevices('paris', [
      withProfile('C02CART00001', IPADS_UUID, { op_type: 'modified', op_date: '2026-12-05T10:00:00Z' }),
      withProfile('DMPIPAD00002', OLD_IPADS_UUID),
      device('C02MAC000003', { device_family: 'Mac', model: 'MacBook Pro', os: 'OSX' }),
      withProfile('DMPTV0000004', FOREIGN_UUID, { device_family: 'AppleTV', model: 'Apple TV 4K', os: 'tvOS' }),
    ], OBSERVED);
  });

  afterEach(async () => {
    await store.close();
  });

  const explain = (serials: string[], cfg = config(), extra: Partial<ExplainInput> = {}) => explainSerials({ config: cfg, store, serials, now: NOW, normalise, ...extra });

  it('an explicit listing names the Assignment, its file and line; the store says what Apple has', async () => {
    const r = await explain(['  c02cart00001 ']);
    expect(r.serials).toHaveLength(1);
    const s = r.serials[0]!;
    expect(s).toMatchObject({ input: '  c02cart00001 ', serial: 'C02CART00001', found: true, serversAsked: ['paris', 'lyon'] });
    expect(s.servers.map((x) => x.server)).toEqual(['paris', 'lyon']);
    const paris = s.servers[0]!;
    expect(paris.desired).toEqual({ kind: 'profile', profile: 'ipads', source: 'serial', assignment: 'carts', priority: null, defaultFamily: null, location: { file: 'assignments/carts.yaml', line: 3, column: 1 } });
    expect(paris.stored).toEqual({
      profile: { uuid: IPADS_UUID, name: 'ipads', current: true },
      profileStatus: 'assigned',
      profileAssignTime: null,
      opType: 'modified',
      opDate: '2026-12-05T10:00:00Z',
      model: 'iPad Air',
      deviceFamily: 'iPad',
      os: 'iPadOS',
      description: 'IPAD AIR WI-FI 64GB',
      observedAt: '2026-12-06T11:00:00.000Z',
    });
    expect(paris.retry).toEqual({ lastResult: null, attempts: 0, retryNotBefore: null, deferred: false });
    expect(paris.arrivedAt).toBeNull();
    expect(paris.history).toEqual({ entries: [], more: 0 });
    // lyon lists it too, but does not have the device.
    expect(s.servers[1]).toMatchObject({ server: 'lyon', found: false, desired: { kind: 'unknown', listedIn: [{ assignment: 'carts', profile: 'ipads', location: { file: 'assignments/carts.yaml', line: 3, column: 1 } }] } });
  });

  it('a match rule names its Assignment and priority; an older content of the profile is not current', async () => {
    const s = (await explain(['DMPIPAD00002'])).serials[0]!;
    expect(s.servers).toHaveLength(1);
    expect(s.servers[0]!.desired).toEqual({ kind: 'profile', profile: 'ipads', source: 'match', assignment: 'all-ipads', priority: 10, defaultFamily: null, location: { file: 'assignments/rules.yaml', line: 1, column: 1 } });
    expect(s.servers[0]!.stored?.profile).toEqual({ uuid: OLD_IPADS_UUID, name: 'ipads', current: false });
  });

  it("the server's default names the MdmServer document; a foreign profile has no name", async () => {
    const s = (await explain(['DMPTV0000004'], config({ unassignedDevices: 'default', defaultProfile: 'macs' }))).serials[0]!;
    expect(s.servers[0]!.desired).toEqual({ kind: 'profile', profile: 'macs', source: 'default', assignment: null, priority: null, defaultFamily: null, location: { file: 'servers.yaml', line: 1, column: 1 } });
    expect(s.servers[0]!.stored?.profile).toEqual({ uuid: FOREIGN_UUID, name: null, current: false });
  });

  it("a defaultProfiles entry for the device's family is named as such", async () => {
    const s = (await explain(['DMPTV0000004'], config({ unassignedDevices: 'default', defaultProfile: 'macs', defaultProfiles: { AppleTV: 'ipads' } }))).serials[0]!;
    expect(s.servers[0]!.desired).toEqual({ kind: 'profile', profile: 'ipads', source: 'default', assignment: null, priority: null, defaultFamily: 'AppleTV', location: { file: 'servers.yaml', line: 1, column: 1 } });
  });

  it('no rule: the unassignedDevices policy (ignore, remove) and where it is set', async () => {
    const ignore = (await explain(['DMPTV0000004'])).serials[0]!.servers[0]!;
    expect(ignore.desired).toEqual({ kind: 'none', policy: 'ignore', location: { file: 'servers.yaml', line: 1, column: 1 } });
    const remove = (await explain(['DMPTV0000004'], config({ unassignedDevices: 'remove' }))).serials[0]!.servers[0]!;
    expect(remove.desired).toEqual({ kind: 'none', policy: 'remove', location: { file: 'servers.yaml', line: 1, column: 1 } });
  });

  it('two equal-priority rules wanting different profiles are explained as the conflict', async () => {
    const cfg = config();
    cfg.assignments.push(assignment('tv-or-ipads', 'macs', ['paris'], { match: { device_family: ['iPad'] }, priority: 10, source: { file: 'assignments/rules.yaml', line: 17, column: 1 } }));
    const s = (await explain(['DMPIPAD00002'], cfg)).serials[0]!.servers[0]!;
    expect(s.desired).toEqual({ kind: 'conflict', message: 'match rules of assignments "all-ipads" and "tv-or-ipads" both have priority 10 and want different profiles ("ipads", "macs"); give one a higher priority' });
  });

  it('a deferred device shows its last result, attempts and next try; an arrival shows when', async () => {
    await store.upsertDevices('paris', [device('C02MAC000003', { device_family: 'Mac', model: 'MacBook Pro', os: 'OSX' })], new Date('2026-12-06T11:30:00Z'), { arrived: new Set(['C02MAC000003']) });
    await store.recordResults('paris', [{ serial: 'C02MAC000003', result: { status: 'failed', at: new Date('2026-12-06T11:45:00Z'), appleStatus: 'FAILED' }, retryNotBefore: new Date('2026-12-06T12:45:00Z'), attempts: 2 }]);
    const s = (await explain(['C02MAC000003'])).serials[0]!.servers[0]!;
    expect(s.desired).toMatchObject({ kind: 'profile', profile: 'macs', source: 'match', assignment: 'all-macs', priority: 5 });
    expect(s.retry).toEqual({ lastResult: { status: 'failed', appleStatus: 'FAILED', at: '2026-12-06T11:45:00.000Z' }, attempts: 2, retryNotBefore: '2026-12-06T12:45:00.000Z', deferred: true });
    expect(s.arrivedAt).toBe('2026-12-06T11:30:00.000Z');
  });

  it('an unknown serial says no server sees it and lists the servers asked; a non-serial says why', async () => {
    const r = await explain(['ZZZZ99999999', 'no such!', 'C02GONE00001'], config(), { servers: ['paris'] });
    expect(r.serials[0]).toEqual({ input: 'ZZZZ99999999', serial: 'ZZZZ99999999', problem: null, found: false, serversAsked: ['paris'], servers: [] });
    expect(r.serials[1]).toEqual({ input: 'no such!', serial: null, problem: '"no such!" is not a serial number (it contains spaces; list one serial per item)', found: false, serversAsked: ['paris'], servers: [] });
    expect(r.serials[2]).toMatchObject({ serial: 'C02GONE00001', found: false, servers: [{ server: 'paris', found: false, desired: { kind: 'unknown', listedIn: [{ assignment: 'carts' }] } }] });
  });

  it('history: the newest entries, newest last, with the commit of their run and how many were left out', async () => {
    const run = await store.startRun({ startedAt: NOW, commit: 'abcdef0123456789abcdef0123456789abcdef01', planHash: null, trigger: 'cli' });
    const entries = Array.from({ length: HISTORY_LIMIT + 5 }, (_, i) => ({
      runId: run.id, server: 'paris', serial: 'C02CART00001', action: 'assign', before: i === HISTORY_LIMIT + 4 ? OLD_IPADS_UUID : null, after: IPADS_UUID,
      outcome: 'success' as const, appleStatus: 'SUCCESS', at: new Date(NOW.getTime() - (100 - i) * 60_000),
    }));
    await store.appendAudit(entries);
    await store.appendAudit([{ runId: null, server: 'paris', serial: 'DMPIPAD00002', action: 'remove', before: null, after: null, outcome: 'pending', appleStatus: null, at: NOW }]);
    const h = (await explain(['C02CART00001'], config(), { servers: ['paris'] })).serials[0]!.servers[0]!.history;
    expect(h.more).toBe(5);
    expect(h.entries).toHaveLength(HISTORY_LIMIT);
    expect(h.entries.at(-1)).toEqual({ seq: 25, at: new Date(NOW.getTime() - 76 * 60_000).toISOString(), runId: run.id, commit: 'abcdef0123456789abcdef0123456789abcdef01', action: 'assign', before: OLD_IPADS_UUID, after: IPADS_UUID, beforeProfile: 'ipads', afterProfile: 'ipads', outcome: 'success', appleStatus: 'SUCCESS' });
    expect(h.entries[0]!.seq).toBe(6);
  });

  it('live answers: a device only Apple knows is found and decided from its live record; errors are kept per server', async () => {
    const live = new Map<string, LiveAnswer>([
      ['paris', { devices: { C02LIVE00009: { serial_number: 'C02LIVE00009', device_family: 'Mac', model: 'Mac mini', response_status: 'SUCCESS', profile_uuid: IPADS_UUID, profile_status: 'pushed' } } }],
      ['lyon', { error: 'the server token of "lyon" expired on 2026-01-01' }],
    ]);
    const s = (await explain(['C02LIVE00009'], config(), { live })).serials[0]!;
    expect(s.found).toBe(true);
    expect(s.servers[0]).toMatchObject({ server: 'paris', found: true, stored: null, desired: { kind: 'profile', profile: 'macs', source: 'match' }, live: { status: 'SUCCESS', device: { profile: { uuid: IPADS_UUID, name: 'ipads', current: true }, profileStatus: 'pushed' } } });
    expect(s.servers[1]).toMatchObject({ server: 'lyon', found: false, live: { error: 'the server token of "lyon" expired on 2026-01-01' } });
  });
});
