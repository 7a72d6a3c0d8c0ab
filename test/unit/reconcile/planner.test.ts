import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openStore, type Store } from '../../../controller/store/index.js';
import { configHash, hashChanges, makePlan, type ServerHandle } from '../../../controller/reconcile/planner.js';
import { hasChanges } from '../../../controller/reconcile/plan.js';
import type { DepConfig } from '../../../controller/config/types.js';
import { profileChanges, profileContentHash } from '../../../controller/reconcile/profile-content.js';
import {
  DAY_MS,
  FakeDepClient,
  assignment,
  depConfig,
  device,
  enrollmentProfile,
  manualClock,
  mdmServer,
  networkError,
  page,
  termsNotSigned,
  withProfile,
  type ManualClock,
} from '../../helpers/reconcile-fakes.js';

const FOREIGN = 'FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF1';
let store: Store;
let clock: ManualClock;

beforeEach(async () => {
  store = await openStore('memory:');
  clock = manualClock();
});
afterEach(async () => {
  await store.close();
});

function handle(name: string, client: FakeDepClient | null, over: Partial<ServerHandle> = {}): ServerHandle {
  const problem = client ? null : { server: name, kind: 'terminal' as const, reason: 'token-unavailable' as const, message: 'no token', retryAt: null };
  return { name, client, problem, tokenExpiresAt: null, ...over };
}

function noToken(server: string, message: string): Partial<ServerHandle> {
  return { problem: { server, kind: 'terminal', reason: 'token-unavailable', message, retryAt: null } };
}

/** iPads get `ipads`; every other device on paris loses its profile (`unassignedDevices: remove`). */
const removeConfig = depConfig({
  servers: [mdmServer('paris', { unassignedDevices: 'remove' })],
  profiles: [enrollmentProfile('ipads', ['paris'])],
  assignments: [assignment('all-ipads', 'ipads', ['paris'], { match: { device_family: ['iPad'] } })],
});

describe('makePlan: an unreachable or refused server changes nothing', () => {
  async function seededClient(): Promise<FakeDepClient> {
    const client = new FakeDepClient();
    client.fetchScripts.push([page([device('IPAD1'), withProfile('PHONE1', FOREIGN, { device_family: 'iPhone', os: 'iOS' })], 'c1')]);
    const first = await makePlan(removeConfig, [handle('paris', client)], store, { now: clock.now });
    // The control: while Apple answers, this config really does remove and assign.
    expect(first.servers[0]).toMatchObject({ error: null, remove: [expect.objectContaining({ serials: ['PHONE1'] })], assign: [expect.objectContaining({ serials: ['IPAD1'] })] });
    return client;
  }

  it('a network error gives the server an error and no removals or changes, even with unassignedDevices: remove', async () => {
    const client = await seededClient();
    client.failAll = networkError('/devices/sync');
    clock.advance(60_000);
    const plan = await makePlan(removeConfig, [handle('paris', client)], store, { now: clock.now });
    const sp = plan.servers[0]!;
    expect(sp.error).toMatch(/could not reach Apple's DEP service/);
    expect(sp.problem).toMatchObject({ server: 'paris', kind: 'transient', reason: 'unreachable', retryAt: null });
    expect(sp).toMatchObject({ defines: [], assign: [], remove: [], changeCount: 0, exceedsMaxChanges: false });
    expect(plan.summary).toMatchObject({ errors: 1, assign: 0, remove: 0, defines: 0 });
    expect(hasChanges(plan)).toBe(false);
    // The store still holds what Apple said last time: nothing was deleted on the way.
    expect(await store.countDevices('paris')).toBe(2);
  });

  it('a sync that fails after its first page is an error too, not a partial view', async () => {
    const client = await seededClient();
    client.syncScripts.push([page([withProfile('IPAD1', FOREIGN)], 'c2', true), networkError('/devices/sync')]);
    const plan = await makePlan(removeConfig, [handle('paris', client)], store, { now: clock.now });
    expect(plan.servers[0]).toMatchObject({ assign: [], remove: [], changeCount: 0 });
    expect(plan.servers[0]?.error).toBeTruthy();
  });

  it("a terminal auth error keeps Apple's guidance as the server's error", async () => {
    const client = new FakeDepClient();
    const err = termsNotSigned();
    client.failAll = err;
    const plan = await makePlan(removeConfig, [handle('paris', client)], store, { now: clock.now });
    expect(plan.servers[0]?.error).toBe(err.message);
    expect(plan.servers[0]?.error).toMatch(/T_C_NOT_SIGNED.*accept/);
    expect(plan.servers[0]?.problem).toMatchObject({ server: 'paris', kind: 'terminal', reason: 'T_C_NOT_SIGNED' });
  });

  it('a server without a client reports why, and one server failing does not stop the others', async () => {
    const config = depConfig({
      servers: [mdmServer('paris'), mdmServer('lyon')],
      profiles: [enrollmentProfile('ipads', ['paris', 'lyon'])],
      assignments: [assignment('all-ipads', 'ipads', ['paris', 'lyon'], { match: { device_family: ['iPad'] } })],
    });
    const lyon = new FakeDepClient();
    lyon.fetchScripts.push([page([device('IPAD1')], 'c1')]);
    const plan = await makePlan(config, [handle('paris', null, noToken('paris', 'token file paris/token.p7m not found')), handle('lyon', lyon)], store, { now: clock.now });
    expect(plan.servers.map((s) => [s.server, s.error])).toEqual([
      ['paris', 'token file paris/token.p7m not found'],
      ['lyon', null],
    ]);
    expect(plan.servers[1]?.assign.flatMap((g) => g.serials)).toEqual(['IPAD1']);
  });
});

describe('makePlan: a converged server', () => {
  it('costs one sync call (after the identity check) and plans nothing', async () => {
    const ipads = removeConfig.profiles[0]!;
    const hash = profileContentHash(ipads.profile as Record<string, unknown>);
    await store.beginDefine({ server: 'paris', name: 'ipads', contentHash: hash, body: ipads.profile, at: clock.now() });
    await store.completeDefine({ server: 'paris', name: 'ipads', contentHash: hash }, 'U1', clock.now());
    const client = new FakeDepClient();
    client.fetchScripts.push([page([withProfile('IPAD1', 'U1'), device('PHONE1', { device_family: 'iPhone' })], 'c1')]);
    await makePlan(removeConfig, [handle('paris', client)], store, { now: clock.now });
    client.calls.length = 0;
    client.syncScripts.push([page([], 'c2')]);
    const plan = await makePlan(removeConfig, [handle('paris', client)], store, { now: clock.now });
    // GET /account first: the token must still open the same MDM server (identity.ts).
    expect(client.calls).toEqual(['account', 'sync c1']);
    expect(hasChanges(plan)).toBe(false);
    expect(plan.servers[0]).toMatchObject({ devices: 2, unchanged: 2, drift: [], error: null });
  });
});

describe('makePlan: an interrupted define', () => {
  it('a `defining` row Apple cannot be asked about stops the server and survives for the next plan', async () => {
    const client = new FakeDepClient();
    client.fetchScripts.push([page([withProfile('IPAD1', 'LOST0000000000000000000000000000')], 'c1')]);
    const ipads = removeConfig.profiles[0]!;
    await store.beginDefine({ server: 'paris', name: 'ipads', contentHash: 'h', body: ipads.profile, at: clock.now() });
    client.getProfileError = networkError('/profile');
    const plan = await makePlan(removeConfig, [handle('paris', client)], store, { now: clock.now });
    expect(plan.servers[0]).toMatchObject({ assign: [], remove: [], defines: [], changeCount: 0, problem: expect.objectContaining({ kind: 'transient' }) });
    expect(plan.servers[0]?.error).toMatch(/could not reach/);
    expect(await store.listProfiles('paris', { state: 'defining' })).toHaveLength(1);
  });
});

describe('makePlan: token expiry drift', () => {
  const config = depConfig({ servers: [mdmServer('paris')] });

  async function tokenDrift(expiresInMs: number) {
    const client = new FakeDepClient();
    client.fetchScripts.push([page([], 'c1')]);
    const plan = await makePlan(config, [handle('paris', client, { tokenExpiresAt: new Date(clock.now().getTime() + expiresInMs) })], store, { now: clock.now });
    return plan.servers[0]!.drift.filter((d) => d.kind === 'token-expiry');
  }

  it.each([
    [31, null],
    [30, /expires in 30 day/],
    [14, /expires in 14 day/],
    [7, /expires in 7 day/],
    [1, /expires in 1 day/],
    [0, /expires in 0 day/],
    [-1, /expired on/],
  ])('%i day(s) (and an hour) before expiry', async (days, message) => {
    const drift = await tokenDrift(days * DAY_MS + 3600_000);
    if (message === null) {
      expect(drift).toEqual([]);
      return;
    }
    expect(drift).toEqual([{ kind: 'token-expiry', message: expect.stringMatching(message), serials: [], corrected: false }]);
    expect(drift[0]?.message).toMatch(/Apple Business Manager/);
  });

  it('exactly 30 days before expiry warns, exactly 31 does not', async () => {
    expect(await tokenDrift(30 * DAY_MS)).toHaveLength(1);
    expect(await tokenDrift(31 * DAY_MS)).toEqual([]);
  });

  it('a server that cannot be reached still reports its expired token', async () => {
    const plan = await makePlan(config, [handle('paris', null, { ...noToken('paris', 'Apple refused the token'), tokenExpiresAt: new Date(clock.now().getTime() - 2 * DAY_MS) })], store, { now: clock.now });
    expect(plan.servers[0]?.drift).toEqual([expect.objectContaining({ kind: 'token-expiry', message: expect.stringMatching(/expired on/) })]);
  });
});

describe('makePlan: serials in the config that no listed server has', () => {
  it('a serial on any of its assignment’s servers is seen; one on none of them is reported once', async () => {
    const config = depConfig({
      servers: [mdmServer('paris'), mdmServer('lyon'), mdmServer('nice')],
      profiles: [enrollmentProfile('ipads', ['paris', 'lyon', 'nice'])],
      assignments: [
        assignment('both', 'ipads', ['paris', 'lyon'], { serials: ['ONPARIS', 'ONLYON', 'NOWHERE1', 'NOWHERE2'] }),
        // On paris, but this assignment lists only lyon: that is "not seen" (wrong server in the portal).
        assignment('lyon-only', 'ipads', ['lyon'], { serials: ['ONPARIS2'] }),
        // nice cannot be reached: whether its serials exist is unknown, so nothing is claimed.
        assignment('with-nice', 'ipads', ['paris', 'nice'], { serials: ['UNKNOWN1'] }),
      ],
    });
    const paris = new FakeDepClient();
    paris.fetchScripts.push([page([device('ONPARIS'), device('ONPARIS2')], 'p1')]);
    const lyon = new FakeDepClient();
    lyon.fetchScripts.push([page([device('ONLYON')], 'l1')]);
    const nice = new FakeDepClient();
    nice.failAll = networkError();
    const plan = await makePlan(config, [handle('paris', paris), handle('lyon', lyon), handle('nice', nice)], store, { now: clock.now });
    const notSeen = plan.servers.flatMap((s) => s.drift.filter((d) => d.kind === 'serials-not-seen').map((d) => ({ server: s.server, serials: d.serials, message: d.message })));
    expect(notSeen).toEqual([
      { server: 'paris', serials: ['NOWHERE1', 'NOWHERE2'], message: expect.stringContaining('"both"') },
      { server: 'lyon', serials: ['ONPARIS2'], message: expect.stringContaining('"lyon-only"') },
    ]);
    expect(notSeen.every((d) => d.message.length > 0)).toBe(true);
  });
});

describe('configHash and planHash', () => {
  const base = (): DepConfig =>
    depConfig({
      servers: [mdmServer('paris', { maxChanges: 100 })],
      profiles: [enrollmentProfile('ipads', ['paris'], { department: 'Classrooms' })],
      assignments: [assignment('carts', 'ipads', ['paris'], { serials: ['IPAD1'], priority: 1 })],
    });

  it('configHash changes with any content change and not with where the files are', () => {
    const h = configHash(base());
    expect(h).toBe(configHash(base()));
    const moved = base();
    moved.dir = '/elsewhere/checkout';
    for (const d of [...moved.servers, ...moved.profiles, ...moved.assignments]) d.source = { file: 'other.yaml', line: 42, column: 7 };
    expect(configHash(moved)).toBe(h);

    const edits: ((c: DepConfig) => void)[] = [
      (c) => c.assignments[0]!.serials.push('IPAD2'),
      (c) => (c.assignments[0]!.priority = 2),
      (c) => (c.profiles[0]!.profile.department = 'Staff'),
      (c) => (c.servers[0]!.maxChanges = 101),
      (c) => (c.servers[0]!.unassignedDevices = 'remove'),
      (c) => (c.servers[0]!.driftPolicy = 'report'),
    ];
    for (const edit of edits) {
      const c = base();
      edit(c);
      expect(configHash(c), edit.toString()).not.toBe(h);
    }
  });

  it('planHash follows the changes, not the time the plan was made', async () => {
    const config = base();
    const client = new FakeDepClient();
    client.fetchScripts.push([page([device('IPAD1')], 'c1')]);
    client.syncScripts.push([page([], 'c2')], [page([device('IPAD2')], 'c3')]);
    const first = await makePlan(config, [handle('paris', client)], store, { now: clock.now });
    clock.advance(3600_000);
    const second = await makePlan(config, [handle('paris', client)], store, { now: clock.now });
    expect(second.createdAt).not.toBe(first.createdAt);
    expect(second.planHash).toBe(first.planHash);
    expect(second.configHash).toBe(first.configHash);

    // IPAD2 appears on the server but no assignment names it: still no change, same hash.
    const third = await makePlan(config, [handle('paris', client)], store, { now: clock.now });
    expect(third.planHash).toBe(first.planHash);

    const more = base();
    more.assignments[0]!.serials.push('IPAD2');
    client.syncScripts.push([page([], 'c4')]);
    const fourth = await makePlan(more, [handle('paris', client)], store, { now: clock.now });
    // IPAD2 arrived by sync after the first full fetch (a serial the store did not hold): its own group.
    expect(fourth.servers[0]?.assign.map((g) => [g.reason, g.serials])).toEqual([['arrived', ['IPAD2']], ['unassigned', ['IPAD1']]]);
    expect(fourth.planHash).not.toBe(first.planHash);
  });

  it('hashChanges differs when only the serials, the target, a removal, a define or the server error differ', () => {
    const sp = (over: object) => ({ server: 'paris', defines: [], assign: [], remove: [], drift: [], deferred: [], conflicts: [], devices: 1, unchanged: 0, changeCount: 1, maxChanges: null, exceedsMaxChanges: false, error: null, ...over });
    const group = { profile: 'ipads', profileUuid: 'U1', fromUuid: null, fromProfile: null, reason: 'unassigned' as const, source: 'match' as const, assignment: 'a', serials: ['IPAD1'] };
    const h = hashChanges([sp({ assign: [group] })]);
    expect(hashChanges([sp({ assign: [group] })])).toBe(h);
    expect(hashChanges([sp({ assign: [{ ...group, serials: ['IPAD2'] }] })])).not.toBe(h);
    expect(hashChanges([sp({ assign: [{ ...group, profileUuid: 'U2' }] })])).not.toBe(h);
    expect(hashChanges([sp({ assign: [group], error: 'x' })])).not.toBe(h);
    const removal = { fromUuid: 'U1', fromProfile: 'ipads', reason: 'unassigned-remove' as const, serials: ['PHONE1'] };
    expect(hashChanges([sp({ assign: [group], remove: [removal] })])).not.toBe(h);
    expect(hashChanges([sp({ assign: [group], remove: [{ ...removal, serials: ['PHONE2'] }] })])).not.toBe(hashChanges([sp({ assign: [group], remove: [removal] })]));
    expect(hashChanges([sp({ assign: [group], defines: [{ profile: 'ipads', contentHash: 'h2', reason: 'changed', previousUuids: ['U0'], devices: 1 }] })])).not.toBe(h);
    // Drift and counts are not changes.
    expect(hashChanges([sp({ assign: [group], drift: [{ kind: 'foreign-profile', message: 'm', serials: [], corrected: true }], unchanged: 9 })])).toBe(h);
  });
});

describe('makePlan: names of the foreign profiles drifted devices carry', () => {
  const OTHER = '1A2B3C4D5E6F708192A3B4C5D6E7F801';
  const GONE = '9F8E7D6C5B4A39281706F5E4D3C2B1A0';
  const config = depConfig({
    servers: [mdmServer('paris')],
    profiles: [enrollmentProfile('ipads', ['paris']), enrollmentProfile('macs', ['paris'])],
    assignments: [
      assignment('all-ipads', 'ipads', ['paris'], { match: { device_family: ['iPad'] } }),
      assignment('all-macs', 'macs', ['paris'], { match: { device_family: ['Mac'] } }),
    ],
  });
  const mac = (serial: string, uuid: string) => withProfile(serial, uuid, { device_family: 'Mac', os: 'OSX', profile_assign_time: '2026-11-20T10:00:00Z' });
  /** Not a first contact: the store records an earlier content of macs, so no profile is looked up for adoption. */
  async function knownServer(): Promise<void> {
    const key = { server: 'paris', name: 'macs', contentHash: 'an earlier content' };
    await store.beginDefine({ ...key, body: { profile_name: 'macs', url: 'https://mdm.example.com/old' }, at: clock.now() });
    await store.completeDefine(key, 'E0E0E0E0E0E0E0E0E0E0E0E0E0E0E0E0', clock.now());
  }

  it("looks each foreign UUID up once; Apple's name where it answers, null where the look-up throws", async () => {
    const client = new FakeDepClient();
    client.profiles.set(OTHER, { profile_name: 'Other MDM Profile', url: 'https://other.example/enroll', profile_uuid: OTHER });
    // GONE is unknown to the fake: getProfile throws Apple's 400 NOT_FOUND for it.
    client.fetchScripts.push([
      page([withProfile('IPAD1', OTHER, { profile_assign_time: '2026-11-21T08:00:00Z' }), mac('MAC1', OTHER), withProfile('IPAD2', GONE), withProfile('IPAD3', GONE)], 'c1'),
    ]);
    const plan = await makePlan(config, [handle('paris', client)], store, { now: clock.now });
    const sp = plan.servers[0]!;
    expect(sp.error).toBeNull();
    expect(client.calls.filter((c) => c.startsWith('getProfile')).sort()).toEqual([`getProfile ${OTHER}`, `getProfile ${GONE}`].sort());
    expect(sp.drift).toEqual([
      {
        kind: 'foreign-profile',
        message: '1 device(s) carry "Other MDM Profile" (foreign UUID 1A2B3C4D…, not defined by depctl) instead of "ipads", since 2026-11-21; apply reassigns them',
        serials: ['IPAD1'],
        corrected: true,
        current: { uuid: OTHER, profile: null, name: 'Other MDM Profile' },
        desired: 'ipads',
        since: '2026-11-21T08:00:00Z',
      },
      {
        kind: 'foreign-profile',
        message: '2 device(s) carry foreign profile 9F8E7D6C… (not defined by depctl) instead of "ipads"; apply reassigns them',
        serials: ['IPAD2', 'IPAD3'],
        corrected: true,
        current: { uuid: GONE, profile: null, name: null },
        desired: 'ipads',
        since: null,
      },
      {
        kind: 'foreign-profile',
        message: '1 device(s) carry "Other MDM Profile" (foreign UUID 1A2B3C4D…, not defined by depctl) instead of "macs", since 2026-11-20; apply reassigns them',
        serials: ['MAC1'],
        corrected: true,
        current: { uuid: OTHER, profile: null, name: 'Other MDM Profile' },
        desired: 'macs',
        since: '2026-11-20T10:00:00Z',
      },
    ]);
  });

  it('a network error on every look-up leaves the names null and the plan whole', async () => {
    await knownServer();
    const client = new FakeDepClient();
    client.getProfileError = networkError('/profile');
    client.fetchScripts.push([page([withProfile('IPAD1', OTHER)], 'c1')]);
    const plan = await makePlan(config, [handle('paris', client)], store, { now: clock.now });
    expect(plan.servers[0]).toMatchObject({ error: null, assign: [expect.objectContaining({ serials: ['IPAD1'], fromUuid: OTHER })] });
    expect(plan.servers[0]?.drift).toEqual([expect.objectContaining({ current: { uuid: OTHER, profile: null, name: null } })]);
    expect(plan.servers[0]?.drift[0]?.message).toBe('1 device(s) carry foreign profile 1A2B3C4D… (not defined by depctl) instead of "ipads"; apply reassigns them');
  });

  it('looks up at most 20 foreign UUIDs per server and pass, those on the most devices first', async () => {
    await knownServer();
    const client = new FakeDepClient();
    const uuids = Array.from({ length: 25 }, (_, i) => `F${String(i).padStart(31, '0')}`);
    for (const uuid of uuids) client.profiles.set(uuid, { profile_name: `Profile ${uuid.slice(-2)}`, url: 'https://other.example', profile_uuid: uuid });
    // The last UUID is on two devices, so it is among the 20; of the others, the lowest UUIDs go first.
    const devices = uuids.map((uuid, i) => withProfile(`IPAD${String(i).padStart(2, '0')}`, uuid));
    devices.push(withProfile('IPAD99', uuids[24]!));
    client.fetchScripts.push([page(devices, 'c1')]);
    const plan = await makePlan(config, [handle('paris', client)], store, { now: clock.now });
    expect(client.calls.filter((c) => c.startsWith('getProfile'))).toHaveLength(20);
    const named = Object.fromEntries(plan.servers[0]!.drift.map((d) => [d.current?.uuid, d.current?.name]));
    expect(named).toMatchObject({ F0000000000000000000000000000024: 'Profile 24', F0000000000000000000000000000000: 'Profile 00', F0000000000000000000000000000018: 'Profile 18' });
    expect(Object.entries(named).filter(([, name]) => name === null).map(([uuid]) => uuid)).toEqual([
      'F0000000000000000000000000000019',
      'F0000000000000000000000000000020',
      'F0000000000000000000000000000021',
      'F0000000000000000000000000000022',
      'F0000000000000000000000000000023',
    ]);
  });
});

describe('makePlan: what a define brings', () => {
  const U1 = 'A1A1A1A1A1A1A1A1A1A1A1A1A1A1A1A1';
  const v1 = { profile_name: 'ipads', url: 'https://mdm.example.com/enroll', is_mdm_removable: false, department: 'IT', skip_setup_items: ['AppleID', 'Location'] };
  const config = (body: Record<string, unknown>) =>
    depConfig({
      servers: [mdmServer('paris')],
      profiles: [enrollmentProfile('ipads', ['paris'], body)],
      assignments: [assignment('all-ipads', 'ipads', ['paris'], { match: { device_family: ['iPad'] } })],
    });

  async function definedV1(): Promise<FakeDepClient> {
    const key = { server: 'paris', name: 'ipads', contentHash: profileContentHash(v1) };
    await store.beginDefine({ ...key, body: v1 as never, at: clock.now() });
    await store.completeDefine(key, U1, clock.now());
    const client = new FakeDepClient();
    client.fetchScripts.push([page([withProfile('IPAD1', U1)], 'c1')]);
    return client;
  }

  it('a changed profile lists each changed key against the stored content it replaces; an explicit Apple default is no change', async () => {
    const client = await definedV1();
    // allow_pairing: true is Apple's default; is_mdm_removable left out means Apple's default, true.
    const plan = await makePlan(config({ department: 'Ops', allow_pairing: true, skip_setup_items: ['Siri', 'AppleID'] }), [handle('paris', client)], store, { now: clock.now });
    expect(plan.servers[0]?.defines).toEqual([
      {
        profile: 'ipads',
        contentHash: expect.any(String),
        reason: 'changed',
        previousUuids: [U1],
        devices: 1,
        changesFrom: U1,
        changes: [
          { key: 'department', before: 'IT', after: 'Ops' },
          { key: 'is_mdm_removable', before: false, after: true },
          { key: 'skip_setup_items', before: ['AppleID', 'Location'], after: ['AppleID', 'Siri'], added: ['Siri'], removed: ['Location'] },
        ],
      },
    ]);
  });

  it('a first define carries its whole content, keys sorted, as written', async () => {
    const client = new FakeDepClient();
    client.fetchScripts.push([page([device('IPAD1')], 'c1')]);
    const plan = await makePlan(config({ allow_pairing: true, department: 'Ops' }), [handle('paris', client)], store, { now: clock.now });
    const d = plan.servers[0]?.defines[0];
    expect(d).toMatchObject({ reason: 'new', content: { allow_pairing: true, department: 'Ops', profile_name: 'ipads', url: 'https://mdm.example.com/enroll' } });
    expect(Object.keys(d?.content ?? {})).toEqual(['allow_pairing', 'department', 'profile_name', 'url']);
    expect(d?.changes).toBeUndefined();
  });
});

describe('makePlan: a first contact adopts the profiles Apple already has', () => {
  const U_IPADS = 'C1C1C1C1C1C1C1C1C1C1C1C1C1C1C1C1';
  const U_OTHER = 'D2D2D2D2D2D2D2D2D2D2D2D2D2D2D2D2';
  const ipadsBody = { is_supervised: true, skip_setup_items: ['Siri', 'AppleID'] };
  const config = depConfig({
    servers: [mdmServer('paris')],
    profiles: [enrollmentProfile('ipads', ['paris'], ipadsBody), enrollmentProfile('macs', ['paris'])],
    assignments: [
      assignment('all-ipads', 'ipads', ['paris'], { match: { device_family: ['iPad'] } }),
      assignment('all-macs', 'macs', ['paris'], { match: { device_family: ['Mac'] } }),
    ],
  });
  const mac = (serial: string, uuid?: string) => device(serial, { device_family: 'Mac', os: 'OSX', ...(uuid ? { profile_uuid: uuid, profile_status: 'assigned' } : {}) });

  function client(): FakeDepClient {
    const c = new FakeDepClient();
    // Apple answers with its defaults filled in and the set in its own order: the same canonical content.
    c.profiles.set(U_IPADS, { profile_name: 'ipads', url: 'https://mdm.example.com/enroll', allow_pairing: true, is_mdm_removable: true, is_supervised: true, skip_setup_items: ['AppleID', 'Siri'], profile_uuid: U_IPADS });
    c.profiles.set(U_OTHER, { profile_name: 'Other MDM', url: 'https://other.example/enroll', profile_uuid: U_OTHER });
    c.fetchScripts.push([page([withProfile('IPAD1', U_IPADS), withProfile('IPAD2', U_IPADS), device('IPAD3'), mac('MAC1', U_OTHER)], 'c1')]);
    return c;
  }

  it('records a carried UUID whose content is configured as defined, audited, and plans no define or assign for its devices', async () => {
    const c = client();
    const plan = await makePlan(config, [handle('paris', c)], store, { now: clock.now });
    const sp = plan.servers[0]!;
    expect(sp.error).toBeNull();
    expect(sp.defines.map((d) => [d.profile, d.reason])).toEqual([['macs', 'new']]);
    expect(sp.assign.map((g) => [g.profile, g.profileUuid, g.serials])).toEqual([
      ['ipads', U_IPADS, ['IPAD3']],
      ['macs', null, ['MAC1']],
    ]);
    expect(sp.unchanged).toBe(2);
    expect((await store.listProfiles('paris')).map((p) => [p.name, p.state, p.uuid])).toEqual([['ipads', 'defined', U_IPADS]]);
    expect((await store.readAudit({ server: 'paris', limit: 10 })).map((a) => [a.action, a.before, a.after, a.outcome])).toEqual([['adopt-profile', null, U_IPADS, 'success']]);
    // Each UUID is read once: the foreign profile's name for the drift comes from the adoption's look-up.
    expect(c.calls.filter((x) => x.startsWith('getProfile')).sort()).toEqual([`getProfile ${U_IPADS}`, `getProfile ${U_OTHER}`]);
    expect(sp.drift).toEqual([expect.objectContaining({ kind: 'foreign-profile', serials: ['MAC1'], current: { uuid: U_OTHER, profile: null, name: 'Other MDM' } })]);
  });

  it('does not look again once the store records a profile for the server', async () => {
    await makePlan(config, [handle('paris', client())], store, { now: clock.now });
    const c = new FakeDepClient();
    c.syncScripts.push([page([], 'c2')]);
    await makePlan(config, [handle('paris', c)], store, { now: clock.now });
    expect(c.calls.filter((x) => x.startsWith('getProfile'))).toEqual([`getProfile ${U_OTHER}`]);
  });

  it('stops the server when Apple cannot be asked (never defines what may already exist), and records nothing', async () => {
    const c = client();
    c.getProfileError = networkError('/profile');
    const plan = await makePlan(config, [handle('paris', c)], store, { now: clock.now });
    expect(plan.servers[0]).toMatchObject({ defines: [], assign: [], problem: expect.objectContaining({ kind: 'transient' }) });
    expect(await store.listProfiles('paris')).toEqual([]);
  });

  it('reads at most 50 UUIDs per server and pass, those on the most devices first', async () => {
    const c = new FakeDepClient();
    const uuids = Array.from({ length: 60 }, (_, i) => `F${String(i).padStart(31, '0')}`);
    const devices = uuids.map((uuid, i) => withProfile(`IPAD${String(i).padStart(2, '0')}`, uuid));
    // The last UUID is on two devices and carries the configured content: it is among the 50 and adopted.
    devices.push(withProfile('IPAD99', uuids[59]!));
    c.profiles.set(uuids[59]!, { profile_name: 'ipads', url: 'https://mdm.example.com/enroll', is_supervised: true, skip_setup_items: ['AppleID', 'Siri'], profile_uuid: uuids[59]! });
    c.fetchScripts.push([page(devices, 'c1')]);
    const plan = await makePlan(config, [handle('paris', c)], store, { now: clock.now });
    const lookups = c.calls.filter((x) => x.startsWith('getProfile'));
    // 50 for the adoption (the adopted one first), then the 10 left over only to name the drift: each UUID once.
    expect(lookups).toHaveLength(60);
    expect(new Set(lookups).size).toBe(60);
    expect(lookups[0]).toBe(`getProfile ${uuids[59]}`);
    expect(lookups.slice(50).sort()).toEqual(uuids.slice(49, 59).map((u) => `getProfile ${u}`));
    expect(plan.servers[0]?.defines).toEqual([]);
    expect((await store.listProfiles('paris')).map((p) => p.uuid)).toEqual([uuids[59]]);
  });
});

describe('profileChanges: what the plan says changed in a profile', () => {
  const base = { profile_name: 'Macs', url: 'https://mdm.example.com/enroll' };

  it('an Apple default written out, key order and the order of a set are no change', () => {
    expect(profileChanges({ ...base, skip_setup_items: ['Siri', 'AppleID'] }, { allow_pairing: true, is_mdm_removable: true, skip_setup_items: ['AppleID', 'Siri', 'Siri'], ...base })).toEqual([]);
  });

  it('a key left out reads as Apple default, or null when it has none', () => {
    expect(profileChanges({ ...base, allow_pairing: false, department: 'IT' }, base)).toEqual([
      { key: 'allow_pairing', before: false, after: true },
      { key: 'department', before: 'IT', after: null },
    ]);
  });

  it('certificates are compared without whitespace and listed as items added and removed', () => {
    const changes = profileChanges({ ...base, anchor_certs: ['MIIB AAA=', 'MIIBBBB='] }, { ...base, anchor_certs: ['MIIBAAA=', 'MIIBCCC='] });
    expect(changes).toEqual([{ key: 'anchor_certs', before: ['MIIBAAA=', 'MIIBBBB='], after: ['MIIBAAA=', 'MIIBCCC='], added: ['MIIBCCC='], removed: ['MIIBBBB='] }]);
  });
});
