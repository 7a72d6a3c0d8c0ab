import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openStore, type Store } from '../../../controller/store/index.js';
import { makePlan, type ServerHandle } from '../../../controller/reconcile/planner.js';
import { applyPlan, type ApplyOptions } from '../../../controller/reconcile/apply.js';
import { profileContentHash } from '../../../controller/reconcile/profile-content.js';
import type { DepConfig } from '../../../controller/config/types.js';
import type { Device } from '../../../controller/dep/types.js';
import type { Plan } from '../../../controller/reconcile/plan.js';
import { FakeDepClient, appleError, assignment, depConfig, device, enrollmentProfile, manualClock, mdmServer, page, withProfile, type ManualClock } from '../../helpers/reconcile-fakes.js';

const ipads = enrollmentProfile('ipads', ['paris'], { is_supervised: true, department: 'Classrooms' });
const IPADS_HASH = profileContentHash(ipads.profile as Record<string, unknown>);
const U_OLD = '0000000000000000000000000000000A';
const config = (server: Parameters<typeof mdmServer>[1] = {}): DepConfig =>
  depConfig({ servers: [mdmServer('paris', server)], profiles: [ipads], assignments: [assignment('all-ipads', 'ipads', ['paris'], { match: { device_family: ['iPad'] } })] });
const serials = (n: number, prefix = 'IPAD'): string[] => Array.from({ length: n }, (_, i) => `${prefix}${String(i).padStart(5, '0')}`);

let store: Store;
let clock: ManualClock;
let client: FakeDepClient;
let minted: number;
/** Pauses apply asked for (the in-apply retry of FAILED serials); nothing really waits. */
let pauses: number[];

beforeEach(async () => {
  store = await openStore('memory:');
  clock = manualClock();
  client = new FakeDepClient();
  minted = 0;
  pauses = [];
  client.onDefine = (p) => ({ profile_uuid: `UUID${++minted}`, devices: Object.fromEntries((p.devices ?? []).map((s) => [s, 'SUCCESS'])) });
  client.onAssign = (uuid, ss) => ({ profile_uuid: uuid, devices: Object.fromEntries(ss.map((s) => [s, 'SUCCESS'])) });
  client.onRemove = (ss) => ({ devices: Object.fromEntries(ss.map((s) => [s, 'SUCCESS'])) });
});
afterEach(async () => {
  await store.close();
});

const handle = (): ServerHandle => ({ name: 'paris', client, problem: null, tokenExpiresAt: null });
async function plan(c: DepConfig, devices: Device[] | null): Promise<Plan> {
  if (devices) client.fetchScripts.push([page(devices, `c${client.calls.length}`)]);
  else client.syncScripts.push([page([], `s${client.calls.length}`)]);
  return makePlan(c, [handle()], store, { now: clock.now });
}
async function defineIpads(uuid: string): Promise<void> {
  await store.beginDefine({ server: 'paris', name: 'ipads', contentHash: IPADS_HASH, body: ipads.profile, at: clock.now() });
  await store.completeDefine({ server: 'paris', name: 'ipads', contentHash: IPADS_HASH }, uuid, clock.now());
}
const apply = (p: Plan, c: DepConfig, opts: Partial<ApplyOptions> = {}) =>
  applyPlan(p, c, new Map([['paris', client]]), store, { now: clock.now, sleep: async (ms) => void pauses.push(ms), ...opts });
const MIN = 60_000;
const HOUR = 3_600_000;

describe('applyPlan', () => {
  it("stores the notifications of the final result with the run's end, and nothing when asked for none", async () => {
    const c = config();
    const p = await plan(c, [device('IPAD1'), device('IPAD2')]);
    client.onDefine = (pr) => ({ profile_uuid: 'UUID1', devices: Object.fromEntries((pr.devices ?? []).map((s) => [s, s === 'IPAD2' ? 'FAILED' : 'SUCCESS'])) });
    client.onAssign = (uuid, ss) => ({ profile_uuid: uuid, devices: Object.fromEntries(ss.map((s) => [s, 'FAILED'])) });
    const seen: string[] = [];
    const r = await apply(p, c, {
      notificationsAtFinish: (result) => {
        seen.push(`${result.result}:${result.servers[0]?.succeeded}/${result.servers[0]?.failed}`);
        return [{ key: `run-partial:paris:${result.runId}`, notification: { kind: 'run-partial', severity: 'warning', server: 'paris', text: 'partial', details: {} } }];
      },
    });
    expect(seen).toEqual(['partial:1/1']);
    const due = await store.dueNotifications(clock.now(), 10);
    expect(due.map((n) => n.key)).toEqual([`run-partial:paris:${r.runId}`]);
    expect((await store.listRuns({ limit: 1 }))[0]).toMatchObject({ id: r.runId, result: 'partial' });
  });

  it('stores the result and summary the pass judges (runAtFinish: device ownership partial), and its own without it', async () => {
    const c = config();
    const p = await plan(c, [device('IPAD1')]);
    const r = await apply(p, c, { runAtFinish: (a) => ({ result: a.result === 'success' ? 'partial' : a.result, summary: { organizations: [{ organization: 'acme', activities: 1, devices: 3, error: null }] } }) });
    expect(r.result).toBe('success');
    const run = (await store.listRuns({ limit: 1 }))[0];
    expect(run).toMatchObject({ id: r.runId, result: 'partial' });
    expect(run?.summary).toMatchObject({ servers: [expect.objectContaining({ server: 'paris', succeeded: 1 })], organizations: [{ organization: 'acme', activities: 1, devices: 3, error: null }] });
  });

  it('beforeWrite (the leadership fence) is asked before every write; once it throws nothing more is sent to Apple', async () => {
    const c = config();
    const all = serials(2500);
    const p = await plan(c, all.map((s) => device(s)));
    let allowed = 2;
    const asked: number[] = [];
    const r = await apply(p, c, {
      concurrency: 1,
      beforeWrite: async () => {
        asked.push(client.defines.length + client.assigns.length);
        if (allowed-- <= 0) throw new Error('this replica is no longer the leader');
      },
    });
    // The define and one assign went out; the third write was refused before its call.
    expect(asked).toEqual([0, 1, 2]);
    expect(client.defines).toHaveLength(1);
    expect(client.assigns).toHaveLength(1);
    expect(r.result).toBe('failed');
    expect(r.servers[0]?.error).toContain('no longer the leader');
  });

  it('a new profile is defined once, carrying its devices; results, desired profile and audit are recorded', async () => {
    const c = config();
    const p = await plan(c, [device('IPAD2'), device('IPAD1')]);
    const r = await apply(p, c);
    expect(r).toMatchObject({ result: 'success', servers: [{ server: 'paris', defined: [{ profile: 'ipads', uuid: 'UUID1' }], succeeded: 2, failed: 0, error: null }] });
    expect(client.defines).toEqual([expect.objectContaining({ profile_name: 'ipads', department: 'Classrooms', devices: ['IPAD1', 'IPAD2'] })]);
    expect(client.assigns).toEqual([]);
    expect(await store.getProfile({ server: 'paris', name: 'ipads', contentHash: IPADS_HASH })).toMatchObject({ state: 'defined', uuid: 'UUID1' });
    expect(await store.getDevice('paris', 'IPAD1')).toMatchObject({ desiredProfile: 'ipads', lastResult: { status: 'success', appleStatus: 'SUCCESS' }, retryNotBefore: null });
    const audit = await store.readAudit({ runId: r.runId, limit: 100 });
    // Each write is audited as pending before the call, then with Apple's answer.
    expect(audit.map((a) => [a.action, a.serial, a.after, a.outcome])).toEqual([
      ['assign', 'IPAD1', '(new ipads)', 'pending'],
      ['assign', 'IPAD2', '(new ipads)', 'pending'],
      ['define', null, 'UUID1', 'success'],
      ['assign', 'IPAD1', 'UUID1', 'success'],
      ['assign', 'IPAD2', 'UUID1', 'success'],
    ]);
  });

  it('assigns go in batches of at most 1000 serials; the define carries the first 1000', async () => {
    const c = config();
    const all = serials(2005);
    const r = await apply(await plan(c, all.map((s) => device(s))), c);
    expect(r.result).toBe('success');
    expect(client.defines.map((d) => d.devices?.length)).toEqual([1000]);
    expect(client.assigns.map((a) => a.serials.length).sort((x, y) => y - x)).toEqual([1000, 5]);
    const sent = [...(client.defines[0]?.devices ?? []), ...client.assigns.flatMap((a) => a.serials)];
    expect(new Set(sent).size).toBe(2005);
    expect(r.servers[0]?.succeeded).toBe(2005);
  });

  it("Apple's per-serial statuses become results and retry times; a partial apply is reported as partial", async () => {
    const c = config();
    await defineIpads('UUID9');
    const status: Record<string, string> = { IPAD1: 'SUCCESS', IPAD2: 'THROTTLED', IPAD3: 'FAILED', IPAD4: 'NOT_ACCESSIBLE' };
    client.onAssign = (uuid, ss) => ({ profile_uuid: uuid, devices: Object.fromEntries(ss.map((s) => [s, status[s]!])), retry_after_seconds: 120 });
    const r = await apply(await plan(c, Object.keys(status).map((s) => device(s))), c);
    expect(r.result).toBe('partial');
    expect(r.servers[0]).toMatchObject({ succeeded: 1, throttled: 1, failed: 1, notAccessible: 1, error: null });
    const now = clock.now().getTime();
    const rec = async (s: string) => store.getDevice('paris', s);
    expect(await rec('IPAD1')).toMatchObject({ lastResult: { status: 'success', appleStatus: 'SUCCESS' }, retryNotBefore: null });
    expect(await rec('IPAD2')).toMatchObject({ lastResult: { status: 'throttled', appleStatus: 'THROTTLED' }, retryNotBefore: new Date(now + 120_000) });
    // FAILED is tried once more within the apply (after a 2 s pause), then waits 15 minutes: attempt 1.
    expect(await rec('IPAD3')).toMatchObject({ lastResult: { status: 'failed', appleStatus: 'FAILED' }, retryNotBefore: new Date(now + 15 * MIN), attempts: 1 });
    expect(pauses).toEqual([2_000]);
    expect(client.assigns.map((a) => a.serials)).toEqual([['IPAD1', 'IPAD2', 'IPAD3', 'IPAD4'], ['IPAD3']]);
    expect(await rec('IPAD4')).toMatchObject({ lastResult: { status: 'not-accessible', appleStatus: 'NOT_ACCESSIBLE' } });

    // The next plan (Apple now shows IPAD1 with its profile) leaves the waiting devices alone until their time,
    // then takes them up again.
    client.syncScripts.push([page([withProfile('IPAD1', 'UUID9', { op_type: 'modified', op_date: '2026-11-25T12:00:01Z' })], 's1')]);
    const next = await makePlan(c, [handle()], store, { now: clock.now });
    expect(next.servers[0]?.deferred.flatMap((g) => g.serials).sort()).toEqual(['IPAD2', 'IPAD3']);
    expect(next.servers[0]?.assign.flatMap((g) => g.serials)).not.toContain('IPAD1');
    clock.advance(15 * MIN);
    const later = await plan(c, null);
    expect(later.servers[0]?.deferred).toEqual([]);
    expect(later.servers[0]?.assign.flatMap((g) => g.serials)).toEqual(expect.arrayContaining(['IPAD2', 'IPAD3']));
  });

  // Regression (fixed in 8874474): serials Apple left out of an assign answer were never recorded.
  it('a serial Apple leaves out of an assign answer is recorded as an error, retried, and makes the apply partial', async () => {
    const c = config();
    await defineIpads('UUID9');
    client.onAssign = (uuid, ss) => ({ profile_uuid: uuid, devices: Object.fromEntries(ss.filter((s) => s !== 'IPAD2').map((s) => [s, 'SUCCESS'])) });
    const r = await apply(await plan(c, [device('IPAD1'), device('IPAD2')]), c);
    expect(r.result).toBe('partial');
    expect(r.servers[0]).toMatchObject({ succeeded: 1, failed: 1 });
    const missing = await store.getDevice('paris', 'IPAD2');
    expect(missing).toMatchObject({ lastResult: { status: 'error', appleStatus: null }, attempts: 1, retryNotBefore: new Date(clock.now().getTime() + 15 * MIN) });
    const audit = await store.readAudit({ runId: r.runId, limit: 100 });
    // Both tries of IPAD2 are audited: the first and the in-apply retry.
    expect(audit.filter((a) => a.outcome !== 'pending').map((a) => [a.serial, a.outcome]).sort()).toEqual([['IPAD1', 'success'], ['IPAD2', 'error'], ['IPAD2', 'error']]);
  });

  it("an answer is read by its own keys only: a serial named like an Object method that Apple leaves out is an error", async () => {
    const c = config();
    await defineIpads('UUID9');
    client.onAssign = (uuid, ss) => ({ profile_uuid: uuid, devices: Object.fromEntries(ss.filter((s) => s === 'IPAD1').map((s) => [s, 'SUCCESS'])) });
    const r = await apply(await plan(c, [device('IPAD1'), device('constructor'), device('toString')]), c);
    expect(r.servers[0]).toMatchObject({ succeeded: 1, failed: 2 });
    for (const serial of ['constructor', 'toString']) {
      expect(await store.getDevice('paris', serial)).toMatchObject({ lastResult: { status: 'error', appleStatus: null }, attempts: 1 });
    }
    const audit = await store.readAudit({ runId: r.runId, limit: 100 });
    expect(audit.filter((a) => a.outcome !== 'pending').map((a) => [a.serial, a.outcome, a.appleStatus]).sort()).toEqual([
      ['IPAD1', 'success', 'SUCCESS'],
      ['constructor', 'error', null],
      ['constructor', 'error', null],
      ['toString', 'error', null],
      ['toString', 'error', null],
    ]);
  });

  it('a FAILED serial that succeeds on the in-apply retry is a success, and both tries are audited', async () => {
    const c = config();
    await defineIpads('UUID9');
    let first = true;
    client.onAssign = (uuid, ss) => {
      const answer = Object.fromEntries(ss.map((s) => [s, s === 'IPAD2' && first ? 'FAILED' : 'SUCCESS']));
      first = false;
      return { profile_uuid: uuid, devices: answer };
    };
    const r = await apply(await plan(c, [device('IPAD1'), device('IPAD2')]), c);
    expect(r).toMatchObject({ result: 'success', servers: [{ succeeded: 2, failed: 0 }] });
    expect(client.assigns.map((a) => a.serials)).toEqual([['IPAD1', 'IPAD2'], ['IPAD2']]);
    expect(await store.getDevice('paris', 'IPAD2')).toMatchObject({ lastResult: { status: 'success' }, retryNotBefore: null, attempts: 0 });
    const audit = await store.readAudit({ runId: r.runId, limit: 100 });
    expect(audit.filter((a) => a.serial === 'IPAD2' && a.outcome !== 'pending').map((a) => a.outcome)).toEqual(['failed', 'success']);
  });

  it('devices that fail with a define are retried through the assign endpoint (a define cannot answer THROTTLED)', async () => {
    const c = config();
    client.onDefine = (p) => ({ profile_uuid: 'UUID1', devices: Object.fromEntries((p.devices ?? []).map((s) => [s, s === 'IPAD2' ? 'FAILED' : 'SUCCESS'])) });
    client.onAssign = (uuid, ss) => ({ profile_uuid: uuid, devices: Object.fromEntries(ss.map((s) => [s, 'THROTTLED'])), retry_after_seconds: 300 });
    const r = await apply(await plan(c, [device('IPAD1'), device('IPAD2')]), c);
    expect(client.assigns).toEqual([{ uuid: 'UUID1', serials: ['IPAD2'] }]);
    expect(r).toMatchObject({ result: 'partial', servers: [{ succeeded: 1, throttled: 1, failed: 0 }] });
    expect(await store.getDevice('paris', 'IPAD2')).toMatchObject({ lastResult: { status: 'throttled' }, retryNotBefore: new Date(clock.now().getTime() + 300_000) });
  });

  it('a serial that keeps failing waits 15 min, 1 h, 6 h, 24 h, then a day each time', async () => {
    const c = config();
    await defineIpads('UUID9');
    client.onAssign = (uuid, ss) => ({ profile_uuid: uuid, devices: Object.fromEntries(ss.map((s) => [s, 'FAILED'])) });
    const waits: number[] = [];
    let p = await plan(c, [device('IPAD1')]);
    for (let i = 0; i < 6; i++) {
      await apply(p, c);
      const rec = await store.getDevice('paris', 'IPAD1');
      const wait = (rec?.retryNotBefore?.getTime() ?? 0) - clock.now().getTime();
      waits.push(wait);
      expect(rec?.attempts).toBe(i + 1);
      clock.advance(wait);
      p = await plan(c, null);
      expect(p.servers[0]?.assign.flatMap((g) => g.serials)).toEqual(['IPAD1']);
    }
    expect(waits).toEqual([15 * MIN, HOUR, 6 * HOUR, 24 * HOUR, 24 * HOUR, 24 * HOUR]);
    // Two assign calls per apply: the first try and the in-apply retry.
    expect(client.assigns).toHaveLength(12);
  });

  it('serials are packed per target UUID across assignments: 1,174 devices of two assignments cost one define and one assign', async () => {
    const listed = serials(174, 'LIST');
    const c = depConfig({
      servers: [mdmServer('paris')],
      profiles: [ipads],
      assignments: [assignment('listed', 'ipads', ['paris'], { serials: listed }), assignment('all-ipads', 'ipads', ['paris'], { match: { device_family: ['iPad'] } })],
    });
    const all = [...listed, ...serials(1000)];
    const p = await plan(c, all.map((s) => device(s)));
    expect(p.servers[0]?.assign.length).toBe(2);
    const r = await apply(p, c);
    expect(r).toMatchObject({ result: 'success', servers: [{ succeeded: 1174 }] });
    expect(client.defines.map((d) => d.devices?.length)).toEqual([1000]);
    expect(client.assigns.map((a) => a.serials.length)).toEqual([174]);
  });

  it('devices coming from several current profiles to one target UUID share assign calls', async () => {
    const c = config();
    await defineIpads('UUID9');
    // Three plan groups (no profile, and two foreign profiles), 300 devices each: one call of 900, not three.
    const devices = [...serials(300, 'A').map((s) => device(s)), ...serials(300, 'B').map((s) => withProfile(s, 'FOREIGN1')), ...serials(300, 'C').map((s) => withProfile(s, 'FOREIGN2'))];
    const p = await plan(c, devices);
    expect(p.servers[0]?.assign.length).toBe(3);
    const r = await apply(p, c);
    expect(r).toMatchObject({ result: 'success', servers: [{ succeeded: 900 }] });
    expect(client.defines).toEqual([]);
    expect(client.assigns.map((a) => [a.uuid, a.serials.length])).toEqual([['UUID9', 900]]);
    const audit = await store.readAudit({ runId: r.runId, limit: 5000 });
    expect(audit.find((a) => a.serial === 'C00299' && a.outcome === 'success')).toMatchObject({ before: 'FOREIGN2', after: 'UUID9' });
  });

  it('assign calls sweep the serials once across profiles: ordered by first serial, still a thousand to a call', async () => {
    const macs = enrollmentProfile('macs', ['paris'], { department: 'Studio' });
    const c = depConfig({
      servers: [mdmServer('paris')],
      profiles: [ipads, macs],
      assignments: [
        assignment('all-ipads', 'ipads', ['paris'], { match: { device_family: ['iPad'] } }),
        assignment('all-macs', 'macs', ['paris'], { match: { device_family: ['Mac'] } }),
      ],
    });
    await defineIpads('UUID-IPADS');
    const macsKey = { server: 'paris', name: 'macs', contentHash: profileContentHash(macs.profile as Record<string, unknown>) };
    await store.beginDefine({ ...macsKey, body: macs.profile, at: clock.now() });
    await store.completeDefine(macsKey, 'UUID-MACS', clock.now());
    // 3,000 devices, iPads and Macs alternating by serial: 1,500 each, two calls each.
    const all = serials(3000, 'D');
    const p = await plan(c, all.map((s, i) => device(s, i % 2 === 0 ? {} : { device_family: 'Mac', model: 'MacBook Air', os: 'OSX' })));
    const r = await apply(p, c, { concurrency: 1 });
    expect(r).toMatchObject({ result: 'success', servers: [{ succeeded: 3000 }] });
    expect(client.assigns.map((a) => [a.uuid, a.serials[0], a.serials.length])).toEqual([
      ['UUID-IPADS', 'D00000', 1000],
      ['UUID-MACS', 'D00001', 1000],
      ['UUID-IPADS', 'D02000', 500],
      ['UUID-MACS', 'D02001', 500],
    ]);
    for (const a of client.assigns) expect(a.serials).toEqual([...a.serials].sort());
  });

  it("a target's serials gathered from several plan groups are sent in serial order", async () => {
    const c = config();
    await defineIpads('UUID9');
    // The group of devices without a profile lists Z…, the group of a foreign profile A…: one call, sorted.
    const devices = [...serials(3, 'Z').map((s) => device(s)), ...serials(3, 'A').map((s) => withProfile(s, 'FOREIGN1'))];
    const p = await plan(c, devices);
    await apply(p, c);
    expect(client.assigns.map((a) => a.serials)).toEqual([['A00000', 'A00001', 'A00002', 'Z00000', 'Z00001', 'Z00002']]);
  });

  it('removals from several profiles are packed into requests of 1000', async () => {
    const c = depConfig({ servers: [mdmServer('paris', { unassignedDevices: 'remove' })], profiles: [ipads], assignments: [] });
    const devices = ['U1', 'U2', 'U3'].flatMap((u) => serials(400, u).map((s) => withProfile(s, `${u}000000000000000000000000000000`)));
    const p = await plan(c, devices);
    expect(p.servers[0]?.remove.length).toBe(3);
    const r = await apply(p, c);
    expect(r).toMatchObject({ result: 'success', servers: [{ removed: 1200 }] });
    expect(client.removes.map((x) => x.length)).toEqual([1000, 200]);
    // The audit keeps each device's own previous profile.
    const audit = await store.readAudit({ runId: r.runId, limit: 5000 });
    expect(audit.find((a) => a.serial === 'U300399' && a.outcome === 'success')).toMatchObject({ action: 'remove', before: 'U3000000000000000000000000000000', after: null });
  });

  it('a profile Apple no longer knows (404 on assign) is defined again once, and every batch goes to the new UUID', async () => {
    const c = config();
    await defineIpads('GONE');
    client.onAssign = (uuid, ss) => {
      if (uuid === 'GONE') throw appleError(404, 'PROFILE_NOT_FOUND', '/profile/devices');
      return { profile_uuid: uuid, devices: Object.fromEntries(ss.map((s) => [s, 'SUCCESS'])) };
    };
    const all = serials(2500);
    const p = await plan(c, all.map((s) => device(s)));
    expect(p.servers[0]?.assign.map((g) => g.profileUuid)).toEqual(['GONE']);
    const r = await apply(p, c);
    expect(r).toMatchObject({ result: 'success', servers: [{ succeeded: 2500, error: null, defined: [{ profile: 'ipads', uuid: 'UUID1' }] }] });
    expect(client.defines).toHaveLength(1);
    const sent = [...(client.defines[0]?.devices ?? []), ...client.assigns.filter((a) => a.uuid === 'UUID1').flatMap((a) => a.serials)];
    expect(sent.sort()).toEqual(all);
    expect((await store.listProfiles('paris')).map((x) => [x.state, x.uuid])).toEqual([['defined', 'UUID1']]);
    expect((await store.getDevice('paris', all[2499]!))?.lastResult?.status).toBe('success');
    const audit = await store.readAudit({ runId: r.runId, limit: 10_000 });
    expect(audit.filter((a) => a.action === 'forget-profile').map((a) => a.before)).toEqual(['GONE']);
  });

  it('maxChanges stops the server unless --allow-large; nothing is written', async () => {
    const c = config({ maxChanges: 2 });
    const p = await plan(c, serials(3).map((s) => device(s)));
    expect(p.servers[0]?.exceedsMaxChanges).toBe(true);
    const r = await apply(p, c);
    expect(r.result).toBe('failed');
    expect(r.servers[0]?.error).toMatch(/maxChanges \(2\).*--allow-large/);
    expect(client.defines).toEqual([]);
    expect(client.assigns).toEqual([]);
    const forced = await apply(p, c, { allowLarge: true });
    expect(forced.result).toBe('success');
  });

  it('a server whose plan has an error is not touched', async () => {
    const c = config();
    const p = await plan(c, [device('IPAD1')]);
    p.servers[0] = { ...p.servers[0]!, error: 'could not reach Apple' };
    const r = await apply(p, c);
    expect(r.servers[0]?.error).toBe('could not reach Apple');
    expect(r.result).toBe('failed');
    expect(client.defines).toEqual([]);
  });

  it('an unchanged plan is a no-op', async () => {
    const c = config();
    await defineIpads('UUID9');
    const r = await apply(await plan(c, [withProfile('IPAD1', 'UUID9')]), c);
    expect(r.result).toBe('noop');
    expect(client.calls.filter((x) => !x.startsWith('fetch') && x !== 'account')).toEqual([]);
  });

  // Regression (fixed in 8874474): a define's first batch was skipped when the content was already defined.
  it('when the content turns out to be defined already, its devices are still assigned', async () => {
    const c = config();
    const p = await plan(c, [device('IPAD1'), device('IPAD2')]);
    expect(p.servers[0]?.defines).toHaveLength(1);
    // Meanwhile another run defined the same content.
    await defineIpads('UUID7');
    const r = await apply(p, c);
    expect(client.defines).toEqual([]);
    expect(client.assigns.flatMap((a) => a.serials.map((s) => [a.uuid, s])).sort()).toEqual([
      ['UUID7', 'IPAD1'],
      ['UUID7', 'IPAD2'],
    ]);
    expect(r.servers[0]?.succeeded).toBe(2);
  });

  // Found by the crash soak with two replicas: a replica that lost leadership while its define was in flight
  // recorded the content under its UUID while the new leader defined it again; the new leader's define, which
  // Apple made, lost its audit row with the failed completeDefine.
  it('a define recorded meanwhile under another UUID still gets its audit row, and the recorded UUID stays', async () => {
    const c = config();
    const p = await plan(c, [device('IPAD1')]);
    expect(p.servers[0]?.defines).toHaveLength(1);
    client.onDefine = (pr) => {
      // The other replica's answer is recorded while this define is at Apple.
      void store.completeDefine({ server: 'paris', name: 'ipads', contentHash: IPADS_HASH }, 'UUID-OTHER', clock.now());
      return { profile_uuid: 'UUID-MINE', devices: Object.fromEntries((pr.devices ?? []).map((s) => [s, 'SUCCESS'])) };
    };
    const r = await apply(p, c);
    expect(r.result).toBe('failed');
    expect(r.servers[0]?.problem?.message).toMatch(/already defined as UUID-OTHER/);
    const audit = await store.readAudit({ runId: r.runId, limit: 100 });
    expect(audit.filter((a) => a.action === 'define')).toMatchObject([{ after: 'UUID-MINE', outcome: 'success', serial: null }]);
    expect((await store.listProfiles('paris')).map((x) => [x.state, x.uuid])).toEqual([['defined', 'UUID-OTHER']]);
  });

  // Regression (fixed in 8874474): serials sent with a define were audited with `before: null`.
  it('the audit of serials sent with a define keeps the profile each device had before', async () => {
    const c = config();
    await store.beginDefine({ server: 'paris', name: 'ipads', contentHash: 'older-content', body: { ...ipads.profile, department: 'Old' }, at: clock.now() });
    await store.completeDefine({ server: 'paris', name: 'ipads', contentHash: 'older-content' }, U_OLD, clock.now());
    const p = await plan(c, [withProfile('IPAD1', U_OLD), device('IPAD2')]);
    expect(p.servers[0]?.assign.map((g) => [g.reason, g.fromUuid])).toEqual(expect.arrayContaining([['content-changed', U_OLD], ['unassigned', null]]));
    const r = await apply(p, c);
    const audit = await store.readAudit({ runId: r.runId, limit: 100 });
    for (const pending of [false, true]) {
      const before = Object.fromEntries(audit.filter((a) => a.action === 'assign' && (a.outcome === 'pending') === pending).map((a) => [a.serial, a.before]));
      expect(before, pending ? 'pending entries' : 'outcomes').toEqual({ IPAD1: U_OLD, IPAD2: null });
    }
  });

  // Regression (fixed in 8874474): a remove left desiredProfile set, which diff.ts then read as "depctl assigned it".
  it('after a successful remove the device no longer records a desired profile', async () => {
    const c = config();
    const first = await plan(c, [device('IPAD1')]);
    await apply(first, c);
    expect((await store.getDevice('paris', 'IPAD1'))?.desiredProfile).toBe('ipads');
    // The device leaves every assignment and the server now removes unassigned profiles.
    const removing = depConfig({ servers: [mdmServer('paris', { unassignedDevices: 'remove' })], profiles: [ipads], assignments: [] });
    client.syncScripts.push([page([withProfile('IPAD1', 'UUID1')], 's-x')]);
    const p = await makePlan(removing, [handle()], store, { now: clock.now });
    expect(p.servers[0]?.remove.flatMap((g) => g.serials)).toEqual(['IPAD1']);
    const r = await apply(p, removing);
    expect(r.servers[0]?.removed).toBe(1);
    expect(await store.getDevice('paris', 'IPAD1')).toMatchObject({ desiredProfile: null, lastResult: { status: 'success' } });
  });

  it('a device depctl cleared is not drift when the config wants a profile for it again', async () => {
    const c = config({ driftPolicy: 'report' });
    await apply(await plan(c, [device('IPAD1')]), c);
    const removing = depConfig({ servers: [mdmServer('paris', { unassignedDevices: 'remove', driftPolicy: 'report' })], profiles: [ipads], assignments: [] });
    client.syncScripts.push([page([withProfile('IPAD1', 'UUID1', { op_type: 'modified', op_date: '2026-11-25T12:01:00Z' })], 's-a')]);
    await apply(await makePlan(removing, [handle()], store, { now: clock.now }), removing);
    expect(client.removes).toEqual([['IPAD1']]);
    // Apple now shows the device without a profile, and the config wants ipads for it again.
    client.syncScripts.push([page([device('IPAD1', { profile_status: 'removed', profile_uuid: 'UUID1', op_type: 'modified', op_date: '2026-11-25T12:02:00Z' })], 's-b')]);
    const again = await makePlan(c, [handle()], store, { now: clock.now });
    expect(again.servers[0]?.drift.filter((d) => d.kind === 'profile-changed')).toEqual([]);
    expect(again.servers[0]?.assign).toEqual([expect.objectContaining({ serials: ['IPAD1'], reason: 'unassigned' })]);
  });
});
