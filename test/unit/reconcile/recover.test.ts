import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openStore, type Store } from '../../../controller/store/index.js';
import { adoptCarriedProfiles, MAX_ADOPT_LOOKUPS, recoverDefines } from '../../../controller/reconcile/recover.js';
import { profileContentHash } from '../../../controller/reconcile/profile-content.js';
import { validateProfile } from '../../../controller/sim/profile-validation.js';
import type { Profile } from '../../../controller/dep/types.js';
import { FakeDepClient, appleError, device, manualClock, networkError, withProfile, type ManualClock } from '../../helpers/reconcile-fakes.js';

const body: Profile = { profile_name: 'Classroom iPads', url: 'https://mdm.example.com/enroll', is_supervised: true, skip_setup_items: ['AppleID', 'Siri'] };
const HASH = profileContentHash(body as unknown as Record<string, unknown>);
const U_LOST = '0A0A0A0A0A0A0A0A0A0A0A0A0A0A0A0A';
const U_FOREIGN = 'FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF1';
const U_KNOWN = 'BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB1';

let store: Store;
let clock: ManualClock;
let client: FakeDepClient;

/** What Apple (here: the simulator's rules) returns for a profile defined with `b`: defaults filled in. */
function asApple(b: Profile, uuid: string): Omit<Profile, 'devices'> & { profile_uuid: string } {
  const v = validateProfile({ ...b });
  if (!v.ok) throw new Error(v.code);
  return { ...v.profile, profile_uuid: uuid };
}

beforeEach(async () => {
  store = await openStore('memory:');
  clock = manualClock();
  client = new FakeDepClient();
  // A crash between POST /profile and recording its UUID leaves this row.
  await store.beginDefine({ server: 'paris', name: 'ipads', contentHash: HASH, body, at: clock.now() });
});
afterEach(async () => {
  await store.close();
});

const recover = () => recoverDefines('paris', client, store, { now: clock.now });
const rows = async () => (await store.listProfiles('paris')).map((p) => ({ name: p.name, state: p.state, uuid: p.uuid }));

describe('recoverDefines', () => {
  it('a `defining` row whose content shows up on devices under an unknown UUID is completed with that UUID', async () => {
    await store.upsertDevices('paris', [withProfile('IPAD1', U_LOST), withProfile('IPAD2', U_LOST, { profile_status: 'pushed' }), device('IPAD3')], clock.now());
    client.profiles.set(U_LOST, asApple(body, U_LOST));
    expect(await recover()).toBe(1);
    expect(await rows()).toEqual([{ name: 'ipads', state: 'defined', uuid: U_LOST }]);
    // One GET per candidate UUID, not per device.
    expect(client.calls).toEqual([`getProfile ${U_LOST}`]);
    // The define Apple carried out has its audit row, though its answer was lost.
    expect((await store.readAudit({ server: 'paris', limit: 10 })).map((a) => [a.action, a.after, a.outcome])).toEqual([['recover-define', U_LOST, 'success']]);
  });

  it('a row no device matches is abandoned, so the content is defined again', async () => {
    await store.upsertDevices('paris', [device('IPAD1')], clock.now());
    expect(await recover()).toBe(0);
    expect(await rows()).toEqual([]);
    expect(await store.readAudit({ server: 'paris', limit: 10 })).toEqual([]);
  });

  it('a device carrying a foreign UUID of other content is not taken', async () => {
    await store.upsertDevices('paris', [withProfile('IPAD1', U_FOREIGN)], clock.now());
    client.profiles.set(U_FOREIGN, asApple({ ...body, department: 'Another tool' }, U_FOREIGN));
    expect(await recover()).toBe(0);
    expect(await rows()).toEqual([]);
  });

  it('among several unknown UUIDs, the one with matching content is taken', async () => {
    await store.upsertDevices('paris', [withProfile('IPAD1', U_FOREIGN), withProfile('IPAD2', U_LOST), withProfile('IPAD3', 'GONE')], clock.now());
    client.profiles.set(U_FOREIGN, asApple({ ...body, is_supervised: false }, U_FOREIGN));
    client.profiles.set(U_LOST, asApple(body, U_LOST));
    // 'GONE' is unknown to Apple (400 NOT_FOUND): simply not a candidate.
    expect(await recover()).toBe(1);
    expect(await rows()).toEqual([{ name: 'ipads', state: 'defined', uuid: U_LOST }]);
  });

  it('UUIDs depctl already recorded are not asked about, and a device whose profile was removed is no candidate', async () => {
    await store.beginDefine({ server: 'paris', name: 'macs', contentHash: 'macs-hash', body: { profile_name: 'Macs', url: 'https://mdm.example.com/enroll' }, at: clock.now() });
    await store.completeDefine({ server: 'paris', name: 'macs', contentHash: 'macs-hash' }, U_KNOWN, clock.now());
    await store.upsertDevices('paris', [withProfile('MAC1', U_KNOWN), withProfile('IPAD1', U_LOST, { profile_status: 'removed' })], clock.now());
    client.profiles.set(U_LOST, asApple(body, U_LOST));
    expect(await recover()).toBe(0);
    expect(client.calls).toEqual([]);
    expect(await rows()).toEqual([{ name: 'macs', state: 'defined', uuid: U_KNOWN }]);
  });

  it('with no `defining` row it does nothing at all', async () => {
    await store.abandonDefine({ server: 'paris', name: 'ipads', contentHash: HASH });
    await store.upsertDevices('paris', [withProfile('IPAD1', U_LOST)], clock.now());
    expect(await recover()).toBe(0);
    expect(client.calls).toEqual([]);
  });

  // Regression (fixed in fb90478): every getProfile error used to be swallowed and the row
  // abandoned, so a transient failure led to the same content being defined again under a new UUID.
  it('a transient error while reading a candidate keeps the `defining` row for the next pass', async () => {
    await store.upsertDevices('paris', [withProfile('IPAD1', U_LOST)], clock.now());
    client.profiles.set(U_LOST, asApple(body, U_LOST));
    client.getProfileError = networkError('/profile');
    // The pass fails (the planner then reports the server as unreachable) rather than guessing.
    await expect(recover()).rejects.toThrow(/network error/);
    expect(await rows()).toEqual([{ name: 'ipads', state: 'defining', uuid: null }]);
    client.getProfileError = null;
    await recover();
    expect(await rows()).toEqual([{ name: 'ipads', state: 'defined', uuid: U_LOST }]);
  });

  it('a 400 NOT_FOUND for the only candidate abandons the row (the define never reached a device)', async () => {
    await store.upsertDevices('paris', [withProfile('IPAD1', U_LOST)], clock.now());
    client.getProfileError = appleError(400, 'NOT_FOUND', '/profile', 'GET');
    expect(await recover()).toBe(0);
    expect(await rows()).toEqual([]);
  });
});

describe('adoptCarriedProfiles (first contact with an empty store)', () => {
  const U_A = 'A0A0A0A0A0A0A0A0A0A0A0A0A0A0A0A0';
  const U_B = 'B0B0B0B0B0B0B0B0B0B0B0B0B0B0B0B0';
  const configured = (...names: string[]) => new Map(names.map((name) => [name, { profile: { profile: body as never }, contentHash: HASH }]));
  const adopt = (profiles = configured('ipads'), carried?: Map<string, number>) =>
    adoptCarriedProfiles({ server: 'lyon', profiles, ...(carried ? { carried } : {}) }, client, store, { now: clock.now });
  const lyonRows = async () => (await store.listProfiles('lyon')).map((p) => ({ name: p.name, state: p.state, uuid: p.uuid, hash: p.contentHash }));

  it('a content on two UUIDs is adopted with the one on the most devices; both are read once', async () => {
    await store.upsertDevices('lyon', [withProfile('IPAD1', U_A), withProfile('IPAD2', U_B), withProfile('IPAD3', U_B), device('IPAD4')], clock.now());
    client.profiles.set(U_A, asApple(body, U_A));
    client.profiles.set(U_B, asApple(body, U_B));
    const r = await adopt();
    expect(r.adopted).toEqual([{ profile: 'ipads', uuid: U_B }]);
    expect(await lyonRows()).toEqual([{ name: 'ipads', state: 'defined', uuid: U_B, hash: HASH }]);
    expect(client.calls).toEqual([`getProfile ${U_B}`, `getProfile ${U_A}`]);
    expect([...r.lookedUp.keys()]).toEqual([U_B, U_A]);
    const audit = await store.readAudit({ server: 'lyon', limit: 10 });
    expect(audit.map((a) => ({ action: a.action, serial: a.serial, before: a.before, after: a.after, outcome: a.outcome, runId: a.runId }))).toEqual([
      { action: 'adopt-profile', serial: null, before: null, after: U_B, outcome: 'success', runId: null },
    ]);
  });

  it('two configured profiles with the same content: the first by name gets the UUID', async () => {
    await store.upsertDevices('lyon', [withProfile('IPAD1', U_A)], clock.now());
    client.profiles.set(U_A, asApple(body, U_A));
    expect((await adopt(configured('tablets', 'ipads'))).adopted).toEqual([{ profile: 'ipads', uuid: U_A }]);
  });

  it('uses the counts it is given instead of reading the devices, and reads at most MAX_ADOPT_LOOKUPS', async () => {
    const carried = new Map(Array.from({ length: MAX_ADOPT_LOOKUPS + 5 }, (_, i) => [`C${String(i).padStart(31, '0')}`, 1] as [string, number]));
    const r = await adopt(configured('ipads'), carried);
    expect(r.adopted).toEqual([]);
    expect(client.calls).toHaveLength(MAX_ADOPT_LOOKUPS);
    // Unknown to Apple: answered null, not thrown.
    expect([...r.lookedUp.values()].every((v) => v === null)).toBe(true);
  });

  it('does nothing when the store records any profile for the server, or nothing is configured', async () => {
    await store.upsertDevices('paris', [withProfile('IPAD1', U_A)], clock.now());
    expect(await adoptCarriedProfiles({ server: 'paris', profiles: configured('ipads') }, client, store, { now: clock.now })).toMatchObject({ adopted: [] });
    await store.upsertDevices('lyon', [withProfile('IPAD1', U_A)], clock.now());
    expect((await adopt(new Map())).adopted).toEqual([]);
    expect(client.calls).toEqual([]);
  });

  it('a failed look-up (not NOT_FOUND) is thrown and records nothing', async () => {
    await store.upsertDevices('lyon', [withProfile('IPAD1', U_A)], clock.now());
    client.getProfileError = networkError('/profile');
    await expect(adopt()).rejects.toThrow();
    expect(await lyonRows()).toEqual([]);
  });
});
