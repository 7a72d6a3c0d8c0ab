/**
 * The planner after a converged (or almost converged) diff: a sync's devices and those pending last time are
 * diffed, no other (planner.ts incrementalPlan). Checked against the full diff of the same store after every
 * step of a seeded sequence of portal edits, arrivals, departures and applies, on every store; and the claim
 * that keeps a write nobody diffed from hiding under a stored key (crash, failed sync, another process).
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Device } from '../../../controller/dep/types.js';
import { openStore, type Store } from '../../../controller/store/index.js';
import { convergedValue, makePlan, observeSettling, parseConverged, type ServerHandle } from '../../../controller/reconcile/planner.js';
import type { Plan } from '../../../controller/reconcile/plan.js';
import { profileContentHash } from '../../../controller/reconcile/profile-content.js';
import type { ObservedDevice } from '../../../controller/reconcile/diff.js';
import type { ReconcileStore } from '../../../controller/reconcile/ports.js';
import { FakeDepClient, assignment, depConfig, device, enrollmentProfile, manualClock, mdmServer, networkError, page, withProfile, type ManualClock } from '../../helpers/reconcile-fakes.js';
import { storeBackends } from '../../helpers/store-backends.js';
import { runPass } from '../../../controller/reconcile/pass.js';

const backends = storeBackends('depctl-incremental-');

const ipads = enrollmentProfile('ipads', ['paris'], { profile_name: 'iPads' });
const macs = enrollmentProfile('macs', ['paris'], { profile_name: 'Macs' });
const UUID = { ipads: 'U1', macs: 'U2' } as const;

/** Two policies: unassigned devices ignored and drift corrected; unassigned devices cleared and drift only reported. */
function configOf(variant: 'ignore' | 'remove') {
  return depConfig({
    servers: [mdmServer('paris', variant === 'remove' ? { unassignedDevices: 'remove', driftPolicy: 'report' } : {})],
    profiles: [ipads, macs],
    assignments: [
      assignment('carts', 'ipads', ['paris'], { serials: ['IPAD3', 'MISSING1'], priority: 10 }),
      assignment('all-ipads', 'ipads', ['paris'], { match: { device_family: ['iPad'] } }),
      assignment('macs', 'macs', ['paris'], { match: { device_family: ['Mac'] } }),
    ],
  });
}

/** A small deterministic generator (mulberry32). */
function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The store, counting full device scans (of whole records, or reduced to what the differ reads). */
function counting(s: Store, reads: { n: number }): ReconcileStore {
  return new Proxy(s, {
    get(target, prop, receiver) {
      if (prop === 'iterateDevices' || prop === 'iterateDiffDevices') {
        return (...args: Parameters<Store['iterateDevices']>) => {
          reads.n++;
          return target[prop](...args);
        };
      }
      const v: unknown = Reflect.get(target, prop, receiver);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
}

async function defineProfiles(store: Store, clock: ManualClock): Promise<void> {
  for (const [p, uuid] of [[ipads, UUID.ipads], [macs, UUID.macs]] as const) {
    const hash = profileContentHash(p.profile as Record<string, unknown>);
    await store.beginDefine({ server: 'paris', name: p.name, contentHash: hash, body: p.profile, at: clock.now() });
    await store.completeDefine({ server: 'paris', name: p.name, contentHash: hash }, uuid, clock.now());
  }
}

function handle(client: FakeDepClient): ServerHandle {
  return { name: 'paris', client, problem: null, tokenExpiresAt: null };
}

/** The plan a full diff of the same store makes now (the stored key put back afterwards, so the chain goes on). */
async function fullPlan(store: Store, cfg: ReturnType<typeof configOf>, client: FakeDepClient, clock: ManualClock, cursor: string): Promise<Plan> {
  const kept = (await store.getServer('paris'))?.convergedKey ?? null;
  await store.setConvergedKey('paris', null);
  client.syncScripts.push([page([], cursor)]);
  const plan = await makePlan(cfg, [handle(client)], store, { now: clock.now });
  await store.setConvergedKey('paris', kept);
  return plan;
}

/** What a plan says, without its creation time. */
const servers = (p: Plan) => p.servers;

for (const b of backends) {
  describe.skipIf(b.skip)(`makePlan after a converged diff: ${b.name}`, () => {
    let cleanup: (() => Promise<void>) | undefined;
    afterEach(async () => {
      await cleanup?.();
      cleanup = undefined;
    });

    async function open(): Promise<Store> {
      const { store, destroy } = await b.open();
      cleanup = async () => {
        await store.close();
        await destroy();
      };
      await store.migrate();
      return store;
    }

    /** A migrated store with both profiles defined, a fake Apple, and device scans counted. */
    async function setUp(variant: 'ignore' | 'remove' = 'ignore') {
      const store = await open();
      const clock = manualClock();
      await defineProfiles(store, clock);
      const client = new FakeDepClient();
      const reads = { n: 0 };
      return { store, clock, cfg: configOf(variant), client, reads, s: counting(store, reads) };
    }

    for (const variant of ['ignore', 'remove'] as const) {
      it(`plans what the full diff plans after every step of a seeded sequence, reading no device scan (${variant})`, async () => {
        const { store, clock, cfg, client, reads, s } = await setUp(variant);
        const random = rng(variant === 'ignore' ? 7 : 11);
        const pick = <T,>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
        const carried = [UUID.ipads, UUID.macs, 'F9', null] as const;
        const make = (serial: string, family: string, uuid: string | null, over: Partial<Device> = {}): Device =>
          uuid === null ? device(serial, { device_family: family, ...over }) : withProfile(serial, uuid, { device_family: family, ...over });
        const fleet = new Map<string, Device>();
        const deadline = (): Partial<Device> => (random() < 0.25 ? { mdm_migration_deadline: `2026-12-${String(10 + Math.floor(random() * 15))}T00:00:00Z` } : {});
        for (let i = 0; i < 24; i++) fleet.set(`IPAD${i}`, make(`IPAD${i}`, 'iPad', pick(carried), deadline()));
        for (let i = 0; i < 10; i++) fleet.set(`MAC${i}`, make(`MAC${i}`, 'Mac', pick(carried), { model: 'MacBook Air', os: 'OSX' }));
        for (let i = 0; i < 6; i++) fleet.set(`TV${i}`, make(`TV${i}`, 'AppleTV', pick(carried), { model: 'Apple TV', os: 'tvOS' }));

        client.fetchScripts.push([page([...fleet.values()], 'c0')]);
        let plan = await makePlan(cfg, [handle(client)], s, { now: clock.now });
        let next = 1;
        let incremental = 0;
        let deadlines = 0;
        for (let step = 0; step < 30; step++) {
          clock.advance(20 * 60_000);
          // Apply part of the last plan: its serials get results (success, a failure with a retry time, or Apple's
          // NOT_ACCESSIBLE), and successful assignments come back in this step's sync, as Apple echoes them.
          const events: Device[] = [];
          const at = clock.now();
          const opDate = at.toISOString().replace(/\.\d{3}Z$/, 'Z');
          const server = plan.servers[0]!;
          if (random() < 0.6) {
            const results = [];
            for (const g of server.assign) {
              for (const serial of g.serials) {
                const r = random();
                if (r < 0.7) {
                  results.push({ serial, result: { status: 'success' as const, at, appleStatus: 'SUCCESS' }, retryNotBefore: null, desiredProfile: g.profile, attempts: 0 });
                  const d = fleet.get(serial);
                  if (d && g.profileUuid) fleet.set(serial, { ...d, profile_uuid: g.profileUuid, profile_status: 'assigned', profile_assign_time: opDate });
                  if (d && g.profileUuid) events.push({ ...fleet.get(serial)!, op_type: 'modified', op_date: opDate });
                } else if (r < 0.9) {
                  results.push({ serial, result: { status: 'failed' as const, at, appleStatus: 'FAILED' }, retryNotBefore: new Date(at.getTime() + 45 * 60_000), desiredProfile: g.profile, attempts: 1 });
                } else {
                  results.push({ serial, result: { status: 'not-accessible' as const, at, appleStatus: 'NOT_ACCESSIBLE' }, retryNotBefore: null, desiredProfile: g.profile, attempts: 0 });
                }
              }
            }
            for (const g of server.remove) {
              for (const serial of g.serials) {
                results.push({ serial, result: { status: 'success' as const, at, appleStatus: 'SUCCESS' }, retryNotBefore: null, desiredProfile: null, attempts: 0 });
                const d = fleet.get(serial);
                if (d) fleet.set(serial, { ...d, profile_status: 'removed' });
                if (d) events.push({ ...fleet.get(serial)!, op_type: 'modified', op_date: opDate });
              }
            }
            if (results.length > 0) await store.recordResults('paris', results);
          }
          // The portal: a profile changed by hand, a device pushed, one added, one released.
          const serials = [...fleet.keys()];
          for (let k = Math.floor(random() * 3); k > 0; k--) {
            const serial = pick(serials);
            const uuid = pick(carried);
            const d = fleet.get(serial)!;
            const changed: Device = uuid === null ? { ...d, profile_status: 'removed' } : { ...d, profile_uuid: uuid, profile_status: random() < 0.5 ? 'assigned' : 'pushed', profile_assign_time: opDate };
            fleet.set(serial, changed);
            events.push({ ...changed, op_type: 'modified', op_date: opDate });
          }
          if (random() < 0.3) {
            const serial = `NEW${step}`;
            const d = make(serial, pick(['iPad', 'Mac', 'AppleTV']), pick(carried), deadline());
            fleet.set(serial, d);
            events.push({ ...d, op_type: 'added', op_date: opDate });
          }
          if (random() < 0.2) {
            const serial = pick([...fleet.keys()]);
            events.push({ ...fleet.get(serial)!, op_type: 'deleted', op_date: opDate });
            fleet.delete(serial);
          }
          client.syncScripts.push([page(events, `c${next++}`)]);
          const before = reads.n;
          plan = await makePlan(cfg, [handle(client)], s, { now: clock.now });
          expect(reads.n - before, `step ${step}: the incremental pass scanned every device`).toBe(0);
          incremental++;
          const full = await fullPlan(store, cfg, client, clock, `c${next++}`);
          expect(servers(plan), `step ${step}`).toEqual(servers(full));
          expect(plan.planHash).toBe(full.planHash);
          expect(plan.servers[0]?.devices).toBe(fleet.size);
          if (full.servers[0]?.migrationDeadlines) deadlines++;
        }
        expect(deadlines).toBeGreaterThan(0);
        expect(incremental).toBe(30);
      });
    }

    it('keeps the devices not as desired with the key, and diffs them again while nothing else changed', async () => {
      const { store, clock, cfg, client, reads, s } = await setUp();
      client.fetchScripts.push([page([withProfile('IPAD1', UUID.ipads), device('IPAD2'), withProfile('MAC1', UUID.macs, { device_family: 'Mac' })], 'c1')]);
      const first = await makePlan(cfg, [handle(client)], s, { now: clock.now });
      expect(first.servers[0]?.assign.flatMap((g) => g.serials)).toEqual(['IPAD2']);
      expect(parseConverged((await store.getServer('paris'))?.convergedKey)).toMatchObject({ devices: 3, pending: ['IPAD2'] });

      client.syncScripts.push([page([], 'c2')]);
      const again = await makePlan(cfg, [handle(client)], s, { now: clock.now });
      expect(reads.n).toBe(0);
      expect(again.servers).toEqual(first.servers);
    });

    it('diffs every device when a sync wrote more than it can follow', async () => {
      const { clock, cfg, client, reads, s } = await setUp();
      client.fetchScripts.push([page([withProfile('IPAD1', UUID.ipads)], 'c1')]);
      await makePlan(cfg, [handle(client)], s, { now: clock.now });
      // A full refetch writes devices the planner did not count: it diffs them all.
      client.fetchScripts.push([page([withProfile('IPAD1', UUID.ipads), device('IPAD2')], 'c2')]);
      const plan = await makePlan(cfg, [handle(client)], s, { now: clock.now, refresh: true });
      expect(reads.n).toBe(1);
      expect(plan.servers[0]?.assign.flatMap((g) => g.serials)).toEqual(['IPAD2']);
    });
  });
}

/** The store with some of its methods replaced (another process's writes, a failing store). */
function overriding(s: ReconcileStore, replaced: Partial<Record<keyof ReconcileStore, unknown>>): ReconcileStore {
  return new Proxy(s, {
    get(target, prop, receiver) {
      if (Object.hasOwn(replaced, prop)) return replaced[prop as keyof ReconcileStore];
      const v: unknown = Reflect.get(target, prop, receiver);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
}

describe('makePlan: the converged key held by a pass (memory store)', () => {
  let store: Store;
  afterEach(async () => {
    await store.close();
  });

  /** A converged server holding `fleet` (a first contact), with device scans counted from then on. */
  async function convergedOn(fleet: Device[]): Promise<{ client: FakeDepClient; clock: ManualClock; reads: { n: number }; s: ReconcileStore }> {
    store = await openStore('memory:');
    const clock = manualClock();
    await defineProfiles(store, clock);
    const client = new FakeDepClient();
    const reads = { n: 0 };
    const s = counting(store, reads);
    client.fetchScripts.push([page(fleet, 'c1')]);
    await makePlan(configOf('ignore'), [handle(client)], s, { now: clock.now });
    expect(parseConverged((await store.getServer('paris'))?.convergedKey)).toMatchObject({ devices: fleet.length, pending: [] });
    return { client, clock, reads, s };
  }
  const two = () => [withProfile('IPAD1', UUID.ipads), withProfile('IPAD2', UUID.ipads)];
  const assigned = (p: Plan) => p.servers[0]?.assign.flatMap((g) => g.serials);

  it('puts the claimed key back when the sync fails before it wrote anything', async () => {
    const { client, clock, reads, s } = await convergedOn(two());
    const value = (await store.getServer('paris'))?.convergedKey;
    client.syncScripts.push([networkError('/devices/sync')]);
    const failed = await makePlan(configOf('ignore'), [handle(client)], s, { now: clock.now });
    expect(failed.servers[0]?.error).not.toBeNull();
    expect((await store.getServer('paris'))?.convergedKey).toBe(value);
    client.syncScripts.push([page([], 'c2')]);
    await makePlan(configOf('ignore'), [handle(client)], s, { now: clock.now });
    expect(reads.n).toBe(0);
  });

  it('leaves the claim when the sync failed after writing, so the next pass diffs every device', async () => {
    const { client, clock, reads, s } = await convergedOn(two());
    // The sync's device is written, then storing the cursor fails (the disk filled up, the database went away).
    const failing = overriding(s, { setCursor: () => Promise.reject(new Error('disk I/O error')) });
    client.syncScripts.push([page([device('IPAD1', { op_type: 'modified', op_date: '2026-11-25T12:30:00Z' })], 'c2')]);
    const failed = await makePlan(configOf('ignore'), [handle(client)], failing, { now: clock.now });
    expect(failed.servers[0]?.error).not.toBeNull();
    expect((await store.getDevice('paris', 'IPAD1'))?.device.profile_status).toBe('empty');
    expect(parseConverged((await store.getServer('paris'))?.convergedKey)?.key).toMatch(/^claimed by a pass /);
    // The cursor did not move, so Apple repeats nothing here; the device written is found by the scan.
    client.syncScripts.push([page([], 'c3')]);
    const plan = await makePlan(configOf('ignore'), [handle(client)], s, { now: clock.now });
    expect(reads.n).toBe(1);
    expect(assigned(plan)).toEqual(['IPAD1']);
  });

  it('diffs every device when another process wrote while the key was claimed', async () => {
    const { client, clock, reads, s } = await convergedOn(two());
    // Another depctl stores a sync of its own (clearing the key, as observe does) while this pass diffs.
    const racing = overriding(s, {
      getDevices: async (server: string, serials: readonly string[]) => {
        await store.setConvergedKey('paris', null);
        await store.upsertDevices('paris', [device('IPAD2', { op_type: 'modified', op_date: '2026-11-25T12:40:00Z' })], clock.now(), { syncEvents: true });
        return store.getDevices!(server, serials);
      },
    });
    client.syncScripts.push([page([withProfile('IPAD1', UUID.ipads, { profile_status: 'pushed', op_type: 'modified', op_date: '2026-11-25T12:30:00Z' })], 'c2')]);
    const plan = await makePlan(configOf('ignore'), [handle(client)], racing, { now: clock.now });
    // The incremental diff saw only IPAD1; the claim was lost, so the full diff ran and found IPAD2.
    expect(reads.n).toBe(1);
    expect(assigned(plan)).toEqual(['IPAD2']);
  });

  it('stores no converged key from a full diff when another process wrote a device after the diff read it', async () => {
    const { client, clock, reads, s } = await convergedOn(two());
    // A forced refetch diffs every device; once the diff has read them, another depctl stores a sync of its own
    // (its pass's marker first, as every writer does) in which IPAD2 lost its profile.
    const afterRead = async function* (pages: AsyncIterable<ObservedDevice[]>): AsyncIterable<ObservedDevice[]> {
      for await (const p of pages) yield p;
      await store.setConvergedKey('paris', 'written by a pass elsewhere');
      await store.upsertDevices('paris', [device('IPAD2', { profile_status: 'removed', op_type: 'modified', op_date: '2026-11-25T12:30:00Z' })], clock.now(), { syncEvents: true });
    };
    const racing = overriding(s, {
      iterateDevices: (...args: Parameters<Store['iterateDevices']>) => afterRead(s.iterateDevices(...args)),
      iterateDiffDevices: (...args: Parameters<Store['iterateDiffDevices']>) => afterRead(s.iterateDiffDevices!(...args)),
    });
    client.fetchScripts.push([page(two(), 'c2')]);
    const raced = await makePlan(configOf('ignore'), [handle(client)], racing, { now: clock.now, refresh: true });
    expect(raced.servers[0]?.assign).toEqual([]);
    // Its "nothing to do" is not stored over the write it did not see: the next pass diffs every device.
    expect((await store.getServer('paris'))?.convergedKey).toBe('written by a pass elsewhere');
    client.syncScripts.push([page([], 'c3')]);
    const next = await makePlan(configOf('ignore'), [handle(client)], s, { now: clock.now });
    expect(reads.n).toBe(2);
    expect(assigned(next)).toEqual(['IPAD2']);
  });

  it("adds what the controller's settling sync writes to the pending serials, so the next pass diffs only those", async () => {
    const { client, clock, reads, s } = await convergedOn([withProfile('IPAD1', UUID.ipads)]);
    client.syncScripts.push([page(['IPAD2', 'IPAD3'].map((serial) => device(serial, { op_type: 'added', op_date: '2026-11-25T12:10:00Z' })), 'c2')]);
    expect(assigned(await makePlan(configOf('ignore'), [handle(client)], s, { now: clock.now }))).toEqual(['IPAD2', 'IPAD3']);
    // The apply (IPAD3 failed: retried in an hour), then the settling sync: Apple's echo of IPAD2, and IPAD1 given
    // a foreign profile in the portal.
    const at = clock.now();
    await store.recordResults('paris', [
      { serial: 'IPAD2', result: { status: 'success', at, appleStatus: 'SUCCESS' }, retryNotBefore: null, desiredProfile: 'ipads', attempts: 0 },
      { serial: 'IPAD3', result: { status: 'failed', at, appleStatus: 'FAILED' }, retryNotBefore: new Date(at.getTime() + 3600_000), desiredProfile: 'ipads', attempts: 1 },
    ]);
    client.syncScripts.push([page([withProfile('IPAD2', UUID.ipads, { op_type: 'modified', op_date: '2026-11-25T12:20:00Z' }), withProfile('IPAD1', 'F9', { op_type: 'modified', op_date: '2026-11-25T12:21:00Z' })], 'c3')]);
    await observeSettling('paris', client, s, { now: clock.now });
    expect(parseConverged((await store.getServer('paris'))?.convergedKey)).toMatchObject({ devices: 3, pending: ['IPAD1', 'IPAD2', 'IPAD3'] });

    client.syncScripts.push([page([], 'c4')]);
    const next = await makePlan(configOf('ignore'), [handle(client)], s, { now: clock.now });
    expect(reads.n).toBe(0);
    expect(assigned(next)).toEqual(['IPAD1']);
    expect(next.servers[0]?.deferred.flatMap((g) => g.serials)).toEqual(['IPAD3']);
    const full = await fullPlan(store, configOf('ignore'), client, clock, 'c5');
    expect(servers(next)).toEqual(servers(full));
  });

  it("keeps the next controller pass incremental through an apply and the pass's settling sync", async () => {
    const { client, clock, reads, s } = await convergedOn([withProfile('IPAD1', UUID.ipads)]);
    client.onAssign = (uuid, serials) => ({ profile_uuid: uuid, devices: Object.fromEntries(serials.map((x) => [x, 'SUCCESS'])) });
    const deps = { handles: [handle(client)], clients: new Map([['paris', client]]), store: s, now: clock.now };
    const opts = { commit: null, trigger: 'schedule' as const, allowLarge: false };
    // A new iPad arrives; the pass assigns it, then its settling sync reads Apple's echo.
    client.syncScripts.push([page([device('IPAD2', { op_type: 'added', op_date: '2026-11-25T12:10:00Z' })], 'c2')]);
    client.syncScripts.push([page([withProfile('IPAD2', UUID.ipads, { op_type: 'modified', op_date: '2026-11-25T12:11:00Z' })], 'c3')]);
    const pass = await runPass(configOf('ignore'), deps, opts);
    expect(pass.apply?.result).toBe('success');
    expect(parseConverged((await store.getServer('paris'))?.convergedKey)).toMatchObject({ devices: 2, pending: ['IPAD2'] });
    // The next pass diffs IPAD2 alone and finds everything as desired.
    client.syncScripts.push([page([], 'c4')]);
    const next = await runPass(configOf('ignore'), deps, opts);
    expect(reads.n).toBe(0);
    expect(next.apply).toBeNull();
    expect(parseConverged((await store.getServer('paris'))?.convergedKey)).toMatchObject({ devices: 2, pending: [] });
  });

  it('puts the key back when the settling sync fails before writing, and leaves a marker when it wrote too much to follow', async () => {
    const { client, clock, reads, s } = await convergedOn([withProfile('IPAD1', UUID.ipads)]);
    const value = (await store.getServer('paris'))?.convergedKey;
    client.syncScripts.push([networkError('/devices/sync')]);
    await expect(observeSettling('paris', client, s, { now: clock.now })).rejects.toThrow();
    expect((await store.getServer('paris'))?.convergedKey).toBe(value);

    // More devices than the pending list holds: the next pass diffs every device.
    const many = Array.from({ length: 5001 }, (_, i) => device(`NEW${i}`, { op_type: 'added', op_date: '2026-11-25T12:30:00Z' }));
    client.syncScripts.push([page(many, 'c2')]);
    await observeSettling('paris', client, s, { now: clock.now });
    expect((await store.getServer('paris'))?.convergedKey).toMatch(/^claimed by a pass /);
    client.syncScripts.push([page([], 'c3')]);
    const next = await makePlan(configOf('ignore'), [handle(client)], s, { now: clock.now });
    expect(reads.n).toBe(1);
    expect(next.servers[0]?.assign.flatMap((g) => g.serials)).toHaveLength(5001);
  });

  it('leaves its marker, not the converged key, when a forced refetch fails after storing devices', async () => {
    const { client, clock, reads, s } = await convergedOn([withProfile('IPAD1', UUID.ipads)]);
    // The refetch stores a new iPad, then the pass fails (the store, once the fetch is stored) or dies there.
    let fetched = false;
    const dying = overriding(s, {
      setCursor: async (...args: Parameters<Store['setCursor']>) => ((fetched ||= args[1].fetchedAt !== undefined), s.setCursor(...args)),
      listProfiles: async (...args: Parameters<Store['listProfiles']>) => (fetched ? Promise.reject(new Error('killed')) : s.listProfiles(...args)),
    });
    client.fetchScripts.push([page([withProfile('IPAD1', UUID.ipads), device('IPAD2')], 'c2')]);
    const failed = await makePlan(configOf('ignore'), [handle(client)], dying, { now: clock.now, refresh: true });
    expect(failed.servers[0]?.error).toMatch(/killed/);
    expect((await store.getServer('paris'))?.convergedKey).toMatch(/^written by a pass /);

    client.syncScripts.push([page([], 'c3')]);
    const next = await makePlan(configOf('ignore'), [handle(client)], s, { now: clock.now });
    expect(reads.n).toBe(1);
    expect(assigned(next)).toEqual(['IPAD2']);
  });
});

describe('convergedValue and parseConverged', () => {
  it('round-trips the key, the count and the pending serials', () => {
    const key = 'a'.repeat(64);
    expect(parseConverged(convergedValue(key, 12))).toEqual({ key, devices: 12, pending: [] });
    expect(parseConverged(convergedValue(key, 12, ['B 1', 'A"2\n']))).toEqual({ key, devices: 12, pending: ['B 1', 'A"2\n'] });
    // As a depctl without pending serials wrote it, and without a count (older still).
    expect(parseConverged(`${key} devices=7`)).toEqual({ key, devices: 7, pending: [] });
    expect(parseConverged(key)).toEqual({ key, devices: null, pending: [] });
  });

  it('reads a damaged pending list as nothing stored', () => {
    const key = 'a'.repeat(64);
    expect(parseConverged(`pending=["X"\n${key} devices=1`)).toBeNull();
    expect(parseConverged(`pending=[1]\n${key} devices=1`)).toBeNull();
    expect(parseConverged('pending=["X"]')).toBeNull();
  });

  it('writes pending serials first, so a reader that knows only "KEY devices=N" matches no key with them', () => {
    const key = 'a'.repeat(64);
    const value = convergedValue(key, 3, ['IPAD2']);
    // The older reader: the key is what precedes the last " devices=".
    const olderKey = value.slice(0, value.lastIndexOf(' devices='));
    expect(olderKey).not.toBe(key);
  });
});
