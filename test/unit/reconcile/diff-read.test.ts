/**
 * The planner diffs stored devices through the store's read for the differ (iterateDiffDevices: on PostgreSQL only
 * the fields the differ reads; on SQLite whole records, or no record when no rule reads description or colour;
 * memory gives whole records). On each backend (PostgreSQL: a real server,
 * DEPCTL_TEST_POSTGRES_URL, as test/store/postgres.test.ts), a varied fleet (match rules on description, colour, model and serial prefix, family
 * defaults, drift, foreign profiles, deferrals, NOT_ACCESSIBLE, arrivals, migration deadlines, null values) must
 * give exactly the plan that the whole records give.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Device } from '../../../controller/dep/types.js';
import { compileServerRules } from '../../../controller/reconcile/desired.js';
import { ServerDiffer, type KnownProfile, type ObservedDevice } from '../../../controller/reconcile/diff.js';
import type { ServerPlan } from '../../../controller/reconcile/plan.js';
import { profileContentHash } from '../../../controller/reconcile/profile-content.js';
import { openStore, type Store } from '../../../controller/store/index.js';
import { assignment, depConfig, enrollmentProfile, mdmServer } from '../../helpers/reconcile-fakes.js';

const NOW = new Date('2026-11-25T12:00:00Z');
const profiles = [enrollmentProfile('carts', ['paris'], { department: 'Carts' }), enrollmentProfile('silver', ['paris']), enrollmentProfile('laptops', ['paris']), enrollmentProfile('ipads', ['paris']), enrollmentProfile('fallback', ['paris'])];
const hash = (name: string): string => profileContentHash(profiles.find((p) => p.name === name)!.profile as Record<string, unknown>);
const uuid = (n: number): string => `${String(n).padStart(2, '0')}${'A'.repeat(30)}`;
const known: KnownProfile[] = [
  { name: 'carts', contentHash: hash('carts'), state: 'defined', uuid: uuid(1) },
  { name: 'silver', contentHash: hash('silver'), state: 'defined', uuid: uuid(2) },
  { name: 'laptops', contentHash: 'older content', state: 'defined', uuid: uuid(3) },
  { name: 'ipads', contentHash: hash('ipads'), state: 'defined', uuid: uuid(4) },
  // `fallback` is not defined yet: its devices make a define.
];
const config = depConfig({
  servers: [mdmServer('paris', { unassignedDevices: 'default', defaultProfile: 'fallback', defaultProfiles: { iPad: 'ipads' } })],
  profiles,
  assignments: [
    assignment('carts', 'carts', ['paris'], { match: { description: ['*cart*'] }, priority: 30 }),
    assignment('silver', 'silver', ['paris'], { match: { color: ['SILVER'] }, priority: 20 }),
    assignment('laptops', 'laptops', ['paris'], { match: { model: ['MacBook*'] }, priority: 10 }),
    assignment('prefix', 'carts', ['paris'], { match: { serialPrefix: ['QX'] }, priority: 5 }),
    assignment('explicit', 'silver', ['paris'], { serials: ['C0000007', 'C0000031'] }),
  ],
});

const iso = (ms: number): string => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
const T0 = NOW.getTime() - 86_400_000;

/** Device i of a fleet where every few devices differ in one more way (deterministic). */
function fleetDevice(i: number): Device {
  const d: Record<string, unknown> = {
    serial_number: i % 11 === 0 ? `QX${String(i).padStart(6, '0')}` : `C${String(i).padStart(7, '0')}`,
    model: ['MacBook Air', 'iPad Pro', 'iMac', 'MacBook Pro'][i % 4],
    description: i % 5 === 0 ? `Classroom cart ${i}` : `device ${i}`,
    color: i % 6 === 0 ? 'SILVER' : 'SPACE GRAY',
    device_family: i % 4 === 1 ? 'iPad' : 'Mac',
    os: i % 4 === 1 ? 'iPadOS' : 'OSX',
    profile_status: 'empty',
    device_assigned_by: 'admin@example.com',
  };
  if (i % 7 === 0) d['description'] = null;
  if (i % 13 === 0) d['color'] = null;
  if (i % 17 === 0) d['model'] = null;
  if (i % 19 === 0) delete d['device_family'];
  if (i % 9 === 0) d['mdm_migration_deadline'] = iso(NOW.getTime() + i * 3_600_000);
  if (i % 23 === 0) d['mdm_migration_deadline'] = 'soon';
  // What it carries: ours (sometimes an outdated UUID), a foreign one, or nothing.
  const carried = i % 8;
  if (carried === 1 || carried === 2) Object.assign(d, { profile_uuid: uuid(carried), profile_status: i % 16 === 2 ? 'pushed' : 'assigned', profile_assign_time: iso(T0 - i * 1000) });
  if (carried === 3) Object.assign(d, { profile_uuid: uuid(3), profile_status: 'assigned', profile_assign_time: iso(T0) });
  if (carried === 4) Object.assign(d, { profile_uuid: 'FOREIGN0000000000000000000000001', profile_status: 'assigned', profile_assign_time: iso(T0 - 5000) });
  if (carried === 5) Object.assign(d, { profile_uuid: uuid(4), profile_status: 'removed' });
  if (i % 29 === 0) d['op_type'] = null;
  return d as unknown as Device;
}

const N = 120;

/** Stores the fleet with a history: first fetch, results, then sync events (echoes, changes, arrivals). */
async function seed(store: Store): Promise<void> {
  const fleet = Array.from({ length: N }, (_, i) => fleetDevice(i));
  await store.upsertDevices('paris', fleet, new Date(T0));
  const serial = (i: number): string => fleet[i]!.serial_number;
  const results = [];
  for (let i = 0; i < N; i += 3) results.push({ serial: serial(i), result: { status: 'success' as const, at: new Date(T0 + 1000), appleStatus: 'SUCCESS' }, retryNotBefore: null, desiredProfile: ['carts', 'silver', 'laptops', 'ipads'][i % 4]! });
  for (let i = 1; i < N; i += 10) results.push({ serial: serial(i), result: { status: 'failed' as const, at: new Date(T0 + 1000), appleStatus: 'FAILED' }, retryNotBefore: new Date(NOW.getTime() + (i % 20 === 1 ? 3_600_000 : -60_000)), attempts: 2 });
  for (let i = 4; i < N; i += 14) results.push({ serial: serial(i), result: { status: 'not-accessible' as const, at: new Date(T0 + 2000), appleStatus: 'NOT_ACCESSIBLE' }, retryNotBefore: null });
  // The two explicit serials were assigned by depctl; 7 then lost its profile (the sync below), 31 never showed it.
  for (const i of [7, 31]) results.push({ serial: serial(i), result: { status: 'success' as const, at: new Date(T0 + 2000), appleStatus: 'SUCCESS' }, retryNotBefore: null, desiredProfile: 'silver' });
  await store.recordResults('paris', results);
  // A sync: echoes of assignments (profile fields only), one device renamed onto a cart, one seen again after
  // NOT_ACCESSIBLE, and two new serials.
  const events: Device[] = [];
  for (let i = 0; i < N; i += 12) events.push({ ...fleet[i]!, profile_uuid: uuid(1), profile_status: 'assigned', profile_assign_time: iso(T0 + 3000), op_type: 'modified', op_date: iso(T0 + 3000) });
  events.push({ ...fleet[10]!, description: 'Moved to cart', op_type: 'modified', op_date: iso(T0 + 3000) });
  events.push({ ...fleet[18]!, op_type: 'modified', op_date: iso(T0 + 3000) });
  events.push({ ...fleet[7]!, profile_uuid: uuid(2), profile_status: 'removed', op_type: 'modified', op_date: iso(T0 + 3500) });
  events.push({ ...fleetDevice(N), op_type: 'added', op_date: iso(T0 + 3000) }, { ...fleetDevice(N + 1), op_type: 'added', op_date: iso(T0 + 3000) });
  await store.upsertDevices('paris', events, new Date(T0 + 4000), { syncEvents: true, newArrive: true });
}

/** The same fleet's rules without description or colour: carts by serial prefix, silver by model. */
const configWithoutText = depConfig({
  ...config,
  assignments: config.assignments.map((a) =>
    a.name === 'carts' ? { ...a, match: { serialPrefix: ['C00000'] } } : a.name === 'silver' ? { ...a, match: { model: ['iMac'] } } : a,
  ),
});

function differ(cfg: typeof config): ServerDiffer {
  const entries = new Map(profiles.map((p) => [p.name, { profile: p, contentHash: hash(p.name) }]));
  return new ServerDiffer({ rules: compileServerRules(cfg, 'paris'), profiles: entries, known, now: NOW });
}

async function planFrom(pages: AsyncIterable<readonly ObservedDevice[]>, cfg = config): Promise<ServerPlan> {
  const d = differ(cfg);
  for await (const page of pages) d.add(page);
  return d.finish();
}

const postgresUrl = process.env.DEPCTL_TEST_POSTGRES_URL;

/** Runs one statement as a separate session (dropping the test's schema). */
async function raw(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: postgresUrl });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

for (const backend of ['postgres', 'sqlite', 'memory'] as const) {
  describe.skipIf(backend === 'postgres' && !postgresUrl)(`the plan from the differ's read equals the plan from whole records (${backend})`, () => {
    let dir: string;
    let store: Store;
    let schema: string;
    beforeEach(async () => {
      dir = await mkdtemp(join(tmpdir(), 'depctl-diff-read-'));
      schema = `depctl_t_${randomBytes(6).toString('hex')}`;
      store = backend === 'postgres' ? await openStore(postgresUrl!, { schema, poolSize: 2 }) : await openStore(backend === 'sqlite' ? `sqlite:${join(dir, 'state.db')}` : 'memory:');
      await seed(store);
    });
    afterEach(async () => {
      await store.close();
      if (backend === 'postgres') await raw(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await rm(dir, { recursive: true, force: true });
    });

    it('gives the same assignments, removals, defines, drift, deferrals, conflicts and counts', async () => {
      const reduced = await planFrom(store.iterateDiffDevices('paris', { pageSize: 7 }));
      const whole = await planFrom(store.iterateDevices('paris', { pageSize: 7 }));
      expect(reduced).toEqual(whole);
      // The fleet exercises what the comparison is about (else it could pass on an empty plan).
      expect(whole.devices).toBe(N + 2);
      expect(new Set(whole.assign.map((g) => g.profile))).toEqual(new Set(['carts', 'silver', 'laptops', 'ipads', 'fallback']));
      expect(new Set(whole.assign.map((g) => g.reason))).toEqual(new Set(['arrived', 'content-changed', 'different-profile', 'drift', 'unassigned']));
      expect(whole.assign.some((g) => g.source === 'serial')).toBe(true);
      expect(whole.defines.map((d) => [d.profile, d.reason])).toEqual([['fallback', 'new'], ['laptops', 'changed']]);
      expect(new Set(whole.drift.map((d) => d.kind))).toEqual(new Set(['foreign-profile', 'not-accessible', 'profile-changed']));
      expect(whole.drift.find((d) => d.kind === 'profile-changed')?.since).not.toBeNull();
      expect(whole.deferred.length).toBeGreaterThan(0);
      expect(whole.migrationDeadlines?.devices).toBeGreaterThan(0);
    });

    it('gives the same plan without description and colour when no rule reads them (SQLite reads no record then)', async () => {
      expect(compileServerRules(configWithoutText, 'paris').readsDescriptionOrColor).toBe(false);
      const reduced = await planFrom(store.iterateDiffDevices('paris', { pageSize: 7, descriptionAndColor: false }), configWithoutText);
      const whole = await planFrom(store.iterateDevices('paris', { pageSize: 7 }), configWithoutText);
      expect(reduced).toEqual(whole);
      expect(new Set(whole.assign.map((g) => g.profile))).toEqual(new Set(['carts', 'silver', 'laptops', 'ipads', 'fallback']));
      expect(new Set(whole.drift.map((d) => d.kind))).toEqual(new Set(['foreign-profile', 'not-accessible', 'profile-changed']));
      expect(whole.deferred.length).toBeGreaterThan(0);
      expect(whole.migrationDeadlines?.devices).toBeGreaterThan(0);
    });
  });
}
