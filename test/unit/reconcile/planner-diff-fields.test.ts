/**
 * The planner asks the store's read for the differ (iterateDiffDevices) for `description` and `color` only when a
 * match rule of the server tests them; SQLite then reads without Apple's record. On a real SQLite file: a rule on
 * description still matches after a full diff (the planner asked for the field), and without such a rule the read
 * leaves the record out and the plan is the one whole records give.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DepConfig } from '../../../controller/config/types.js';
import { makePlan, type ServerHandle } from '../../../controller/reconcile/planner.js';
import { compileServerRules } from '../../../controller/reconcile/desired.js';
import type { DiffReadOptions, ReconcileStore } from '../../../controller/reconcile/ports.js';
import { profileContentHash } from '../../../controller/reconcile/profile-content.js';
import { openStore, type Store } from '../../../controller/store/index.js';
import { FakeDepClient, assignment, depConfig, device, enrollmentProfile, manualClock, mdmServer, page } from '../../helpers/reconcile-fakes.js';

const carts = enrollmentProfile('carts', ['paris'], { profile_name: 'Carts' });
const ipads = enrollmentProfile('ipads', ['paris'], { profile_name: 'iPads' });

/** Carts by description (the differ reads it), or by serial prefix (it does not); every iPad else gets `ipads`. */
function config(cartsBy: 'description' | 'prefix'): DepConfig {
  return depConfig({
    servers: [mdmServer('paris')],
    profiles: [carts, ipads],
    assignments: [
      assignment('carts', 'carts', ['paris'], { serials: [], match: cartsBy === 'description' ? { description: ['*cart*'] } : { serialPrefix: ['CART'] }, priority: 20 }),
      assignment('ipads', 'ipads', ['paris'], { serials: [], match: { device_family: ['iPad'] }, priority: 10 }),
    ],
  });
}

const fleet = [
  device('CART01', { description: 'Classroom cart 1' }),
  device('CART02', { description: 'Classroom cart 2', mdm_migration_deadline: '2026-12-20T00:00:00Z' }),
  device('IPAD01'),
  device('IPAD02', { color: 'SILVER' }),
];

let dir: string;
let store: Store;
let asked: DiffReadOptions[];

/** The store, recording what the planner asks of the differ's read. */
function recording(s: Store): ReconcileStore {
  return new Proxy(s, {
    get(target, prop, receiver) {
      if (prop === 'iterateDiffDevices') {
        return (server: string, opts: DiffReadOptions = {}) => {
          asked.push(opts);
          return target.iterateDiffDevices(server, opts);
        };
      }
      const v: unknown = Reflect.get(target, prop, receiver);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'depctl-diff-fields-'));
  store = await openStore(`sqlite:${join(dir, 'state.db')}`);
  asked = [];
  const at = new Date('2026-11-25T12:00:00Z');
  for (const [p, uuid] of [[carts, 'UCARTS'], [ipads, 'UIPADS']] as const) {
    const contentHash = profileContentHash(p.profile as Record<string, unknown>);
    await store.beginDefine({ server: 'paris', name: p.name, contentHash, body: p.profile, at });
    await store.completeDefine({ server: 'paris', name: p.name, contentHash }, uuid, at);
  }
});
afterEach(async () => {
  await store.close();
  await rm(dir, { recursive: true, force: true });
});

/** First contact (diffed as fetched), then a forced refetch, whose plan diffs the stored devices. */
async function refetchPlan(cfg: DepConfig) {
  const clock = manualClock();
  const client = new FakeDepClient();
  client.fetchScripts.push([page(fleet, 'c1')], [page(fleet, 'c2')]);
  const handle: ServerHandle = { name: 'paris', client, problem: null, tokenExpiresAt: null };
  const first = await makePlan(cfg, [handle], recording(store), { now: clock.now });
  expect(asked).toEqual([]);
  const again = await makePlan(cfg, [handle], recording(store), { now: clock.now, refresh: true });
  const assigned = (plan: typeof first) => Object.fromEntries((plan.servers[0]?.assign ?? []).map((g) => [g.profile, [...g.serials].sort()]));
  return { first: assigned(first), again: assigned(again), plan: again.servers[0] };
}

describe('the fields the planner asks of the differ\'s read (SQLite)', () => {
  it('asks for description and color when a match rule tests one, and the rule still matches after a full diff', async () => {
    expect(compileServerRules(config('description'), 'paris').readsDescriptionOrColor).toBe(true);
    const { first, again } = await refetchPlan(config('description'));
    expect(asked).toEqual([{ descriptionAndColor: true }]);
    expect(first).toEqual({ carts: ['CART01', 'CART02'], ipads: ['IPAD01', 'IPAD02'] });
    expect(again).toEqual(first);
  });

  it('reads without them otherwise, with the same plan and migration deadlines as whole records give', async () => {
    expect(compileServerRules(config('prefix'), 'paris').readsDescriptionOrColor).toBe(false);
    const { first, again, plan } = await refetchPlan(config('prefix'));
    expect(asked).toEqual([{ descriptionAndColor: false }]);
    expect(first).toEqual({ carts: ['CART01', 'CART02'], ipads: ['IPAD01', 'IPAD02'] });
    expect(again).toEqual(first);
    expect(plan?.migrationDeadlines).toMatchObject({ devices: 1, earliest: '2026-12-20T00:00:00Z' });
  });

  it('leaves the record out of the read (so a rule on description could not match from it)', async () => {
    await store.upsertDevices('paris', fleet, new Date('2026-11-25T12:00:00Z'));
    const narrow: unknown[] = [];
    for await (const p of store.iterateDiffDevices('paris', { descriptionAndColor: false })) narrow.push(...p.map((d) => d.device));
    expect(narrow).toContainEqual({ serial_number: 'CART02', device_family: 'iPad', os: 'iPadOS', model: 'iPad Air', profile_status: 'empty', mdm_migration_deadline: '2026-12-20T00:00:00Z' });
    expect(narrow.some((d) => Object.hasOwn(d as object, 'description') || Object.hasOwn(d as object, 'color'))).toBe(false);
  });
});
