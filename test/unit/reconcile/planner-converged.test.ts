import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openStore, type Store } from '../../../controller/store/index.js';
import { makePlan, type ServerHandle } from '../../../controller/reconcile/planner.js';
import { observe } from '../../../controller/reconcile/observe.js';
import { profileContentHash } from '../../../controller/reconcile/profile-content.js';
import type { ReconcileStore } from '../../../controller/reconcile/ports.js';
import { FakeDepClient, assignment, depConfig, device, enrollmentProfile, manualClock, mdmServer, page, withProfile, type ManualClock } from '../../helpers/reconcile-fakes.js';

let store: Store;
let clock: ManualClock;
let reads: number;

/** The store, counting full device scans (of whole records, or reduced to what the differ reads). */
function counting(s: Store): ReconcileStore {
  return new Proxy(s, {
    get(target, prop, receiver) {
      if (prop === 'iterateDevices') {
        return (...args: Parameters<Store['iterateDevices']>) => {
          reads++;
          return target.iterateDevices(...args);
        };
      }
      if (prop === 'iterateDiffDevices') {
        return (...args: Parameters<Store['iterateDiffDevices']>) => {
          reads++;
          return target.iterateDiffDevices(...args);
        };
      }
      const v: unknown = Reflect.get(target, prop, receiver);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
}

const ipads = enrollmentProfile('ipads', ['paris'], { profile_name: 'iPads' });
const config = (department?: string) =>
  depConfig({
    servers: [mdmServer('paris')],
    profiles: [department ? enrollmentProfile('ipads', ['paris'], { profile_name: 'iPads', department }) : ipads],
    assignments: [assignment('carts', 'ipads', ['paris'], { serials: ['IPAD1', 'MISSING1'] }), assignment('all', 'ipads', ['paris'], { serials: [], match: { device_family: ['iPad'] } })],
  });

beforeEach(async () => {
  store = await openStore('memory:');
  clock = manualClock();
  reads = 0;
  const hash = profileContentHash(ipads.profile as Record<string, unknown>);
  await store.beginDefine({ server: 'paris', name: 'ipads', contentHash: hash, body: ipads.profile, at: clock.now() });
  await store.completeDefine({ server: 'paris', name: 'ipads', contentHash: hash }, 'U1', clock.now());
});
afterEach(async () => {
  await store.close();
});

function handle(client: FakeDepClient): ServerHandle {
  return { name: 'paris', client, problem: null, tokenExpiresAt: null };
}

describe('makePlan: skipping the device scan of a converged server', () => {
  it('reads every device once, then not again while the sync is empty and nothing else changed', async () => {
    const client = new FakeDepClient();
    client.fetchScripts.push([page([withProfile('IPAD1', 'U1'), withProfile('IPAD2', 'U1')], 'c1')]);
    const s = counting(store);
    const first = await makePlan(config(), [handle(client)], s, { now: clock.now });
    // First contact: the devices are diffed as they are fetched; nothing is read back from the store.
    expect(reads).toBe(0);
    expect(first.servers[0]?.drift.map((d) => d.kind)).toEqual(['serials-not-seen']);

    client.syncScripts.push([page([], 'c2')]);
    const fast = await makePlan(config(), [handle(client)], s, { now: clock.now });
    expect(reads).toBe(0);
    // The same plan, serials not seen included (they are looked up one by one, not by a scan).
    expect(fast.servers).toEqual(first.servers);
    expect(fast.planHash).toBe(first.planHash);
  });

  it('shows the same MDM migration deadlines without the scan as with it', async () => {
    const client = new FakeDepClient();
    const migrating = [withProfile('IPAD1', 'U1', { mdm_migration_deadline: '2026-12-20T00:00:00Z' }), withProfile('IPAD2', 'U1', { mdm_migration_deadline: '2026-12-05T08:00:00Z' })];
    client.fetchScripts.push([page(migrating, 'c1')]);
    const cfg = depConfig({ servers: [mdmServer('paris')], profiles: [ipads], assignments: [assignment('carts', 'ipads', ['paris'], { serials: ['IPAD1', 'IPAD2'] })] });
    const s = counting(store);
    const first = await makePlan(cfg, [handle(client)], s, { now: clock.now });
    expect(first.servers[0]?.migrationDeadlines).toEqual({ devices: 2, earliest: '2026-12-05T08:00:00Z', planned: 0 });
    client.syncScripts.push([page([], 'c2')]);
    const fast = await makePlan(cfg, [handle(client)], s, { now: clock.now });
    expect(reads).toBe(0);
    expect(fast.servers).toEqual(first.servers);
  });

  it('diffs only the device a sync reports, and scans again when the config or a profile record changes', async () => {
    const client = new FakeDepClient();
    const cfg = depConfig({ servers: [mdmServer('paris')], profiles: [ipads], assignments: [assignment('carts', 'ipads', ['paris'], { serials: ['IPAD1'] })] });
    client.fetchScripts.push([page([withProfile('IPAD1', 'U1')], 'c1')]);
    const s = counting(store);
    await makePlan(cfg, [handle(client)], s, { now: clock.now });
    expect(reads).toBe(0);
    reads = 1;
    client.syncScripts.push([page([], 'c2')]);
    await makePlan(cfg, [handle(client)], s, { now: clock.now });
    expect(reads).toBe(1);

    // Someone changed the device in the portal: the sync reports it, and the plan reassigns it, read alone.
    client.syncScripts.push([page([device('IPAD1', { op_type: 'modified', op_date: '2026-11-25T12:00:00Z' })], 'c3')]);
    const drifted = await makePlan(cfg, [handle(client)], s, { now: clock.now });
    expect(reads).toBe(1);
    expect(drifted.servers[0]?.assign.flatMap((g) => g.serials)).toEqual(['IPAD1']);

    // A config edit changes the key even with an empty sync.
    client.syncScripts.push([page([], 'c4')]);
    const edited = depConfig({ ...cfg, profiles: [enrollmentProfile('ipads', ['paris'], { profile_name: 'iPads', department: 'New' })] });
    const plan = await makePlan(edited, [handle(client)], s, { now: clock.now });
    expect(reads).toBe(2);
    expect(plan.servers[0]?.defines.map((d) => d.profile)).toEqual(['ipads']);
  });
  it('does not trust a converged key over devices a sync wrote before a crash (the next pass scans and plans them)', async () => {
    const client = new FakeDepClient();
    const cfg = depConfig({ servers: [mdmServer('paris')], profiles: [ipads], assignments: [assignment('carts', 'ipads', ['paris'], { serials: ['IPAD1'] })] });
    client.fetchScripts.push([page([withProfile('IPAD1', 'U1')], 'c1')]);
    const s = counting(store);
    await makePlan(cfg, [handle(client)], s, { now: clock.now });
    expect((await store.getServer('paris'))?.convergedKey).not.toBeNull();

    // The portal changes the device; a pass stores the sync (the cursor moves) and dies before its diff.
    client.syncScripts.push([page([device('IPAD1', { op_type: 'modified', op_date: '2026-11-25T12:00:00Z' })], 'c2')]);
    const observed = await observe('paris', client, s, { now: clock.now });
    expect(observed).toMatchObject({ mode: 'sync', upserted: 1 });
    expect((await store.getServer('paris'))?.convergedKey).toBeNull();

    // The next pass's sync is empty, yet the device is diffed and assigned again.
    client.syncScripts.push([page([], 'c3')]);
    const plan = await makePlan(cfg, [handle(client)], s, { now: clock.now });
    expect(reads).toBe(1);
    expect(plan.servers[0]?.assign.flatMap((g) => g.serials)).toEqual(['IPAD1']);
  });

  it('does not trust a converged key over devices a full refetch wrote before a crash', async () => {
    const client = new FakeDepClient();
    const cfg = depConfig({ servers: [mdmServer('paris')], profiles: [ipads], assignments: [assignment('all', 'ipads', ['paris'], { serials: [], match: { device_family: ['iPad'] } })] });
    client.fetchScripts.push([page([withProfile('IPAD1', 'U1')], 'c1')]);
    const s = counting(store);
    await makePlan(cfg, [handle(client)], s, { now: clock.now });
    expect((await store.getServer('paris'))?.convergedKey).not.toBeNull();

    // A weekly refetch (forced here) lists a new iPad; the pass stores it, moves the cursor and dies before its diff.
    client.fetchScripts.push([page([withProfile('IPAD1', 'U1'), device('IPAD2')], 'c2')]);
    const observed = await observe('paris', client, s, { now: clock.now, refresh: true });
    expect(observed).toMatchObject({ mode: 'fetch', upserted: 2 });
    expect((await store.getServer('paris'))?.convergedKey).toBeNull();

    // The next pass's sync is empty, yet the new iPad is diffed and assigned.
    client.syncScripts.push([page([], 'c3')]);
    const plan = await makePlan(cfg, [handle(client)], s, { now: clock.now });
    expect(reads).toBe(1);
    expect(plan.servers[0]?.assign.flatMap((g) => g.serials)).toEqual(['IPAD2']);
  });

  it('answers the device count of a converged server from what the full diff stored, not from a count', async () => {
    const client = new FakeDepClient();
    client.fetchScripts.push([page([withProfile('IPAD1', 'U1'), withProfile('IPAD2', 'U1')], 'c1')]);
    let counts = 0;
    const s = new Proxy(counting(store), {
      get(target, prop, receiver) {
        if (prop === 'countDevices') return (...args: Parameters<Store['countDevices']>) => (counts++, target.countDevices(...args));
        const v: unknown = Reflect.get(target, prop, receiver);
        return typeof v === 'function' ? v.bind(target) : v;
      },
    });
    const first = await makePlan(config(), [handle(client)], s, { now: clock.now });
    client.syncScripts.push([page([], 'c2')]);
    const fast = await makePlan(config(), [handle(client)], s, { now: clock.now });
    expect(fast.servers[0]?.devices).toBe(2);
    expect(fast.servers[0]?.devices).toBe(first.servers[0]?.devices);
    // Only observe's first-contact check counted (before the first fetch); the no-op pass counted nothing.
    expect(counts).toBe(1);
  });
});

describe('makePlan: first contact', () => {
  it('diffs the fetched devices as they arrive and plans exactly what a scan of the store would', async () => {
    const cfg = config();
    const fetched = [withProfile('IPAD1', 'U1'), device('IPAD2'), device('PHONE1', { device_family: 'iPhone', os: 'iOS' })];
    const streamedClient = new FakeDepClient();
    streamedClient.fetchScripts.push([page(fetched.slice(0, 2), 'c1', true), page(fetched.slice(2), 'c2')]);
    const s = counting(store);
    const streamed = await makePlan(cfg, [handle(streamedClient)], s, { now: clock.now });
    expect(reads).toBe(0);

    // The same devices through the store (a second, empty store, with a forced refresh that scans).
    const other = await openStore('memory:');
    try {
      const hash = profileContentHash(ipads.profile as Record<string, unknown>);
      await other.beginDefine({ server: 'paris', name: 'ipads', contentHash: hash, body: ipads.profile, at: clock.now() });
      await other.completeDefine({ server: 'paris', name: 'ipads', contentHash: hash }, 'U1', clock.now());
      await other.upsertDevices('paris', fetched, clock.now());
      await other.setCursor('paris', { cursor: 'c0', fetchStartedAt: clock.now(), fetchedAt: clock.now(), syncedAt: clock.now() });
      const scannedClient = new FakeDepClient();
      scannedClient.fetchScripts.push([page(fetched, 'c1')]);
      const scanned = await makePlan(cfg, [handle(scannedClient)], other, { now: clock.now, refresh: true });
      expect(streamed.servers).toEqual(scanned.servers);
      expect(streamed.servers[0]?.assign.flatMap((g) => g.serials).sort()).toEqual(['IPAD2']);
    } finally {
      await other.close();
    }
  });
});
