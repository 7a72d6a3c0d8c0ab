import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import pg from 'pg';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Agent } from 'undici';
import { createAbmClient, type AbmClient } from '../../controller/abm/index.js';
import type { MdmServer, Organization } from '../../controller/config/types.js';
import { applyOwnership, planOwnership, type OrganizationHandle, type OwnershipReport } from '../../controller/ownership/engine.js';
import { startAbmSimulator, type RunningAbmSimulator } from '../../controller/sim/abm/index.js';
import { openStore } from '../../controller/store/open-store.js';
import type { Store } from '../../controller/store/ports.js';

// The ownership engine (issue 15) against the Business API simulator over HTTP with the real client and a
// real SQLite store: plan, activities of ≤1000 devices, polling across passes (the simulator's clock, no
// sleeps), failed and partial activities planned again, and a restart in the middle of an activity.

const STEP_MS = 1000;
let dir: string;
let sim: RunningAbmSimulator;
let agent: Agent;
const clients: AbmClient[] = [];
const stores: Store[] = [];

const loc = (line: number) => ({ file: 'org.yaml', line, column: 3 });
const serialsOf = (n: number, prefix = 'C02OWN'): string[] => Array.from({ length: n }, (_, i) => `${prefix}${String(i).padStart(5, '0')}`);

function organization(extra: Partial<Organization> = {}): Organization {
  return {
    name: 'acme', scope: 'business', clientId: sim.account.clientId, keyId: sim.account.keyId, privateKey: { file: 'abm.pem' },
    apiUrl: sim.apiUrl, tokenUrl: sim.tokenUrl, driftPolicy: 'correct', unclaimedDevices: 'ignore', source: loc(1), ...extra,
  };
}

function server(name: string, abmServerName: string, serials: string[]): MdmServer {
  return {
    name, token: { file: `${name}.p7m` }, privateKey: { file: `${name}.pem` }, unassignedDevices: 'ignore', driftPolicy: 'correct', source: loc(10),
    ownership: { organization: 'acme', abmServerName, serials, orderNumbers: [], productFamilies: [], source: loc(10) },
  } as MdmServer;
}

async function start(devices: string[]): Promise<void> {
  sim = await startAbmSimulator({
    now: () => 1_800_000_000_000,
    activityStepMs: STEP_MS,
    servers: [{ serverName: 'Paris MDM' }, { serverName: 'Lyon MDM' }],
    orgDevices: devices.map((serialNumber) => ({ serialNumber, serverName: 'Paris MDM', attributes: { productFamily: 'Mac' } })),
  });
}

/** Waits the client asked for (Retry-After, backoff): recorded, not slept. */
let waits: number[] = [];

function handle(org: Organization): OrganizationHandle {
  const client = createAbmClient({
    credentials: { clientId: sim.account.clientId, keyId: sim.account.keyId, privateKeyPem: sim.account.privateKeyPem, scope: 'business', apiUrl: sim.apiUrl, tokenUrl: sim.tokenUrl },
    dispatcher: agent,
    now: () => sim.inspect.now(),
    retry: {
      maxAttempts: 4,
      sleep: async (ms: number) => {
        waits.push(ms);
      },
    },
  });
  clients.push(client);
  return { organization: org, client, error: null };
}

async function sqlite(): Promise<Store> {
  const s = await openStore(`sqlite:${path.join(dir, 'state.db')}`);
  stores.push(s);
  return s;
}

const now = (): Date => new Date(sim.inspect.now());
const lyonId = (): string => sim.inspect.serverIds()[1] as string;

/** One pass as `apply`/`run` does it: poll, observe, plan, apply. */
async function pass(config: { servers: MdmServer[]; organizations: Organization[] }, h: OrganizationHandle, store: Store, allowLarge = false): Promise<{ report: OwnershipReport; applied: Awaited<ReturnType<typeof applyOwnership>> }> {
  const report = await planOwnership(config, [h], store, { now, poll: true });
  const applied = await applyOwnership(report, [h], store, { now, allowLarge });
  return { report, applied };
}

beforeEach(async () => {
  waits = [];
  dir = await mkdtemp(path.join(tmpdir(), 'depctl-ownership-'));
  agent = new Agent();
});
afterEach(async () => {
  for (const c of clients.splice(0)) await c.close();
  for (const s of stores.splice(0)) await s.close();
  await sim?.close();
  await agent.close();
  await rm(dir, { recursive: true, force: true });
});

describe('ownership engine against the Business API simulator', () => {
  it('moves 1,500 devices in two activities, polls them across passes to completion and then has nothing to do', async () => {
    const serials = serialsOf(1500);
    await start(serials);
    const org = organization({ maxChanges: 1000 });
    const config = { servers: [server('paris', 'Paris MDM', []), server('lyon', 'Lyon MDM', serials)], organizations: [org] };
    const h = handle(org);
    const store = await sqlite();

    // The guardrail refuses 1,500 changes over maxChanges 1,000 and sends nothing.
    const refused = await pass(config, h, store);
    expect(refused.report.plans[0]).toMatchObject({ changeCount: 1500, exceedsMaxChanges: true, error: null });
    expect(refused.report.plans[0]?.moves.map((m) => [m.from?.abmServerName, m.to.server, m.serials.length])).toEqual([['Paris MDM', 'lyon', 1500]]);
    expect(refused.applied[0]).toMatchObject({ stoppedBy: 'guardrail', activities: [], error: '1500 changes exceed maxChanges (1000) on organization acme; review the plan and run apply with --allow-large' });
    expect(sim.inspect.requestCounts()['POST /v1/orgDeviceActivities']).toBeUndefined();

    const first = await pass(config, h, store, true);
    expect(first.applied[0]?.activities.map((a) => a.devices)).toEqual([1000, 500]);
    expect(sim.inspect.requestCounts()['POST /v1/orgDeviceActivities']).toBe(2);
    expect((await store.listActivities('acme', { open: true })).map((a) => [a.serials.length, a.status])).toEqual([[1000, 'IN_PROGRESS'], [500, 'IN_PROGRESS']]);
    // The intent was audited per serial before the POST.
    const pending = await store.readAudit({ server: 'lyon', limit: 2000 });
    expect(pending).toHaveLength(1500);
    expect(pending.every((e) => e.action === 'abm-assign' && e.outcome === 'pending' && e.before === 'Paris MDM' && e.after === 'lyon')).toBe(true);

    // Next pass, Apple still works on them: in progress, not planned again, nothing posted.
    sim.advanceClock(2 * STEP_MS);
    const second = await pass(config, h, store, true);
    expect(second.report.polls[0]).toMatchObject({ polled: 2, open: 2, closed: [] });
    expect(second.report.plans[0]?.changeCount).toBe(0);
    expect(second.report.plans[0]?.inProgress.map((a) => [a.devices, a.subStatus])).toEqual([[1000, 'PENDING'], [500, 'PENDING']]);
    expect(sim.inspect.requestCounts()['POST /v1/orgDeviceActivities']).toBe(2);

    sim.advanceClock(3 * STEP_MS);
    const third = await pass(config, h, store, true);
    expect(third.report.polls[0]?.closed.map((c) => [c.status, c.succeeded, c.failed])).toEqual([['COMPLETED', 1000, 0], ['COMPLETED', 500, 0]]);
    expect(third.report.plans[0]).toMatchObject({ changeCount: 0, inProgress: [], drift: [] });
    expect(sim.inspect.serialsOf(lyonId())).toHaveLength(1500);
    const audit = await store.readAudit({ server: 'lyon', limit: 4000 });
    expect(audit.filter((e) => e.outcome === 'success')).toHaveLength(1500);
    expect(await store.listActivities('acme', { open: true })).toEqual([]);
  });

  it('unclaimedDevices unassign: devices taken out of the YAML are unassigned from the declared server they are on, audited, and never those of an undeclared server', async () => {
    const serials = serialsOf(10);
    sim = await startAbmSimulator({
      now: () => 1_800_000_000_000,
      activityStepMs: STEP_MS,
      servers: [{ serverName: 'Paris MDM' }, { serverName: 'Lyon MDM' }, { serverName: 'Other MDM' }],
      orgDevices: [
        ...serials.map((serialNumber) => ({ serialNumber, serverName: 'Lyon MDM', attributes: { productFamily: 'Mac' } })),
        { serialNumber: 'C02FOREIGN01', serverName: 'Other MDM', attributes: { productFamily: 'Mac' } },
      ],
    });
    const [parisId, lyon, otherId] = sim.inspect.serverIds() as [string, string, string];
    // The YAML keeps 7 of lyon's 10 devices; the other MDM's device is claimed by nobody either.
    const kept = serials.slice(0, 7);
    const org = organization({ unclaimedDevices: 'unassign' });
    const config = { servers: [server('paris', 'Paris MDM', []), server('lyon', 'Lyon MDM', kept)], organizations: [org] };
    const h = handle(org);
    const store = await sqlite();

    const first = await pass(config, h, store);
    const plan = first.report.plans[0];
    expect(plan?.unassigns).toEqual([{ from: { server: 'lyon', abmServerName: 'Lyon MDM', id: lyon }, serials: serials.slice(7) }]);
    expect(plan).toMatchObject({ changeCount: 3, unclaimed: { count: 4 } });
    expect(first.applied[0]?.activities.map((a) => [a.server, a.devices])).toEqual([['lyon', 3]]);
    const intents = await store.readAudit({ server: 'lyon', limit: 100 });
    expect(intents.map((e) => [e.action, e.outcome, e.before, e.after])).toEqual(Array(3).fill(['abm-unassign', 'pending', 'lyon', null]));

    sim.advanceClock(5 * STEP_MS);
    const second = await pass(config, h, store);
    expect(second.report.polls[0]?.closed.map((c) => [c.status, c.succeeded, c.failed])).toEqual([['COMPLETED', 3, 0]]);
    expect(second.report.plans[0]).toMatchObject({ changeCount: 0, unassigns: [], drift: [] });
    expect(sim.inspect.serialsOf(lyon).sort()).toEqual(kept);
    expect(sim.inspect.serialsOf(otherId)).toEqual(['C02FOREIGN01']);
    expect(sim.inspect.serialsOf(parisId)).toEqual([]);
    const outcomes = (await store.readAudit({ server: 'lyon', limit: 100 })).filter((e) => e.outcome === 'success');
    expect(outcomes.map((e) => [e.action, e.before, e.after])).toEqual(Array(3).fill(['abm-unassign', 'lyon', null]));
  });

  it('429s: waits out Retry-After while creating and polling activities; when Apple keeps refusing, the organization stops cleanly with the intent audited and the next pass converges', async () => {
    const serials = serialsOf(4);
    await start(serials);
    const org = organization();
    const config = { servers: [server('paris', 'Paris MDM', []), server('lyon', 'Lyon MDM', serials)], organizations: [org] };
    const h = handle(org);
    const store = await sqlite();

    // Two 429s on the activity POST: waited out (Retry-After 7 s), then the activity is created once.
    sim.injectFaults({ httpStatus: { status: 429, count: 2, retryAfter: '7', path: '/v1/orgDeviceActivities' } });
    const first = await pass(config, h, store);
    expect(first.applied[0]).toMatchObject({ stoppedBy: null, devices: 4 });
    expect(waits.filter((ms) => ms >= 7000)).toHaveLength(2);
    expect(sim.inspect.requestCounts()['POST /v1/orgDeviceActivities']).toBe(3);

    // A 429 while polling is waited out too; the activity completes.
    sim.advanceClock(5 * STEP_MS);
    const activityId = first.applied[0]?.activities[0]?.activityId as string;
    sim.injectFaults({ httpStatus: { status: 429, count: 1, retryAfter: '2', path: `/v1/orgDeviceActivities/${activityId}` } });
    const second = await pass(config, h, store);
    expect(second.report.polls[0]?.closed.map((c) => [c.status, c.succeeded])).toEqual([['COMPLETED', 4]]);
    expect(sim.inspect.serialsOf(lyonId())).toHaveLength(4);

    // Apple refuses the POST for longer than the client waits (its 4 tries): the organization stops with a
    // transient problem, the intents get their `error` outcome, nothing is recorded as issued; the next pass,
    // with Apple answering again, moves the devices.
    const back = { ...config, servers: [server('paris', 'Paris MDM', serials), server('lyon', 'Lyon MDM', [])] };
    sim.injectFaults({ httpStatus: { status: 429, count: 4, retryAfter: '30', path: '/v1/orgDeviceActivities' } });
    const refused = await pass(back, h, store);
    expect(refused.applied[0]).toMatchObject({ stoppedBy: 'apple', activities: [], problem: { kind: 'transient' } });
    expect(await store.listActivities('acme', { open: true })).toEqual([]);
    const refusedAudit = (await store.readAudit({ server: 'paris', limit: 100 })).map((e) => [e.action, e.outcome, e.appleStatus]);
    expect(refusedAudit).toEqual([...Array(4).fill(['abm-assign', 'pending', null]), ...Array(4).fill(['abm-assign', 'error', 'HTTP 429'])]);
    const retried = await pass(back, h, store);
    expect(retried.applied[0]).toMatchObject({ stoppedBy: null, devices: 4 });
    sim.advanceClock(5 * STEP_MS);
    await pass(back, h, store);
    expect(sim.inspect.serialsOf(lyonId())).toEqual([]);
  });

  it('a FAILED activity and a serial that failed inside a completed one are partial, audited failed and planned again', async () => {
    const serials = serialsOf(6);
    await start(serials);
    const org = organization();
    const config = { servers: [server('paris', 'Paris MDM', []), server('lyon', 'Lyon MDM', serials)], organizations: [org] };
    const h = handle(org);
    const store = await sqlite();

    sim.injectFaults({ failActivities: 1 });
    await pass(config, h, store);
    sim.advanceClock(5 * STEP_MS);
    const afterFail = await pass(config, h, store);
    expect(afterFail.report.polls[0]?.closed).toEqual([expect.objectContaining({ status: 'FAILED', succeeded: 0, failed: 6 })]);
    // Nothing moved, so the same six are planned and sent again in the same pass.
    expect(afterFail.report.plans[0]?.changeCount).toBe(6);
    expect(afterFail.applied[0]?.activities.map((a) => a.devices)).toEqual([6]);
    const failedAudit = (await store.readAudit({ server: 'lyon', limit: 100 })).filter((e) => e.outcome === 'failed');
    expect(failedAudit.map((e) => e.appleStatus)).toEqual(Array(6).fill('FAILED'));

    // The retry: one serial fails inside an otherwise successful activity.
    sim.injectFaults({ failedSerials: [serials[2] as string] });
    sim.advanceClock(5 * STEP_MS);
    const partial = await pass(config, h, store);
    expect(partial.report.polls[0]?.closed).toEqual([expect.objectContaining({ status: 'COMPLETED', succeeded: 5, failed: 1 })]);
    expect(partial.report.plans[0]?.moves.flatMap((m) => m.serials)).toEqual([serials[2]]);
    sim.clearFaults();
    sim.advanceClock(5 * STEP_MS);
    const done = await pass(config, h, store);
    expect(done.report.polls[0]?.closed).toEqual([expect.objectContaining({ succeeded: 1, failed: 0 })]);
    expect(done.report.plans[0]?.changeCount).toBe(0);
    expect(sim.inspect.serialsOf(lyonId()).sort()).toEqual([...serials].sort());
  });

  it('after a restart (a new store handle on the same SQLite file) the next pass polls the open activity to its end', async () => {
    const serials = serialsOf(3);
    await start(serials);
    const org = organization();
    const config = { servers: [server('paris', 'Paris MDM', []), server('lyon', 'Lyon MDM', serials)], organizations: [org] };
    const before = await sqlite();
    await pass(config, handle(org), before);
    expect(await before.listActivities('acme', { open: true })).toHaveLength(1);
    await before.close();
    stores.splice(stores.indexOf(before), 1);

    sim.advanceClock(5 * STEP_MS);
    const after = await sqlite();
    const resumed = await pass(config, handle(org), after);
    expect(resumed.report.polls[0]?.closed).toEqual([expect.objectContaining({ status: 'COMPLETED', succeeded: 3 })]);
    expect(resumed.report.plans[0]?.changeCount).toBe(0);
    expect(sim.inspect.requestCounts()['POST /v1/orgDeviceActivities']).toBe(1);
  });

  it('an activity Apple no longer knows is closed as NOT_FOUND and its devices audited failed and planned again', async () => {
    const serials = serialsOf(2);
    await start(serials);
    const org = organization();
    const config = { servers: [server('paris', 'Paris MDM', []), server('lyon', 'Lyon MDM', serials)], organizations: [org] };
    const store = await sqlite();
    const t = now();
    // As if a pass stored the row and Apple then forgot the activity (kept 30 days).
    await store.recordActivity({ organization: 'acme', activityId: 'gone-1', type: 'ASSIGN_DEVICES', serverId: lyonId(), serverName: 'lyon', serials, status: 'IN_PROGRESS', subStatus: 'PENDING', createdAt: t, updatedAt: t, completedAt: null, results: null });
    const before = await planOwnership(config, [handle(org)], store, { now, poll: false });
    expect(before.plans[0]).toMatchObject({ changeCount: 0, inProgress: [expect.objectContaining({ activityId: 'gone-1', devices: 2 })] });
    const r = await pass(config, handle(org), store);
    expect(r.report.polls[0]?.closed).toEqual([{ activityId: 'gone-1', status: 'NOT_FOUND', succeeded: 0, failed: 2 }]);
    expect(r.applied[0]?.activities.map((a) => a.devices)).toEqual([2]);
    const audit = (await store.readAudit({ server: 'lyon', limit: 10 })).filter((e) => e.outcome === 'failed');
    expect(audit.map((e) => [e.serial, e.appleStatus])).toEqual(serials.map((s) => [s, 'NOT_FOUND']));
  });

  it("Apple's refusal of an activity stops the organization with Apple's message; the intent is audited, then its error", async () => {
    const serials = serialsOf(3);
    await start(serials);
    const org = organization();
    const config = { servers: [server('paris', 'Paris MDM', []), server('lyon', 'Lyon MDM', serials)], organizations: [org] };
    const h = handle(org);
    const store = await sqlite();
    const report = await planOwnership(config, [h], store, { now, poll: true });
    expect(report.plans[0]?.changeCount).toBe(3);
    // Between plan and apply the target server is deleted in the portal: Apple answers 409 for its id.
    await (h.client as AbmClient).deleteMdmServer(lyonId());
    const applied = await applyOwnership(report, [h], store, { now, allowLarge: false });
    expect(applied[0]).toMatchObject({ stoppedBy: 'apple', activities: [] });
    expect(applied[0]?.error).toMatch(/409/);
    // No activity was stored (the table also keeps the ids of the servers depctl saw: SERVER_SEEN rows).
    expect((await store.listActivities('acme', { open: false })).filter((a) => a.type === 'ASSIGN_DEVICES')).toEqual([]);
    expect((await store.readAudit({ server: 'lyon', limit: 10 })).map((e) => [e.outcome, e.appleStatus])).toEqual([
      ...Array(3).fill(['pending', null]),
      ...Array(3).fill(['error', 'HTTP 409']),
    ]);
    // The next plan says what is wrong instead of trying again.
    const next = await planOwnership(config, [h], store, { now, poll: true });
    expect(next.plans[0]?.problems.map((p) => p.code)).toContain('abm-server-missing');
    expect(next.plans[0]?.changeCount).toBe(0);
  });

  it('drift: a device depctl moved that someone moved back is moved again (correct) or only reported (report)', async () => {
    const serials = serialsOf(2);
    await start(serials);
    const store = await sqlite();
    const org = organization({ driftPolicy: 'report' });
    const config = { servers: [server('paris', 'Paris MDM', []), server('lyon', 'Lyon MDM', serials)], organizations: [org] };
    const h = handle(org);
    await pass(config, h, store);
    sim.advanceClock(5 * STEP_MS);
    await pass(config, h, store);
    // Someone moves one back in the portal (here: another API client).
    const other = h.client as AbmClient;
    const paris = sim.inspect.serverIds()[0] as string;
    await other.createActivity({ type: 'ASSIGN_DEVICES', serverId: paris, serials: [serials[0] as string] });
    sim.advanceClock(5 * STEP_MS);
    const reported = await pass(config, h, store);
    expect(reported.report.plans[0]?.drift).toEqual([{ serial: serials[0], expected: 'lyon', actual: 'Paris MDM' }]);
    expect(reported.report.plans[0]?.changeCount).toBe(0);
    const corrected = await pass({ ...config, organizations: [{ ...org, driftPolicy: 'correct' }] }, { ...h, organization: { ...org, driftPolicy: 'correct' } }, store);
    expect(corrected.report.plans[0]?.drift).toHaveLength(1);
    expect(corrected.applied[0]?.activities.map((a) => a.devices)).toEqual([1]);
  });
});

// The same polling across passes and a restart on PostgreSQL (a fresh schema, dropped afterwards).
const pgUrl = process.env.DEPCTL_TEST_POSTGRES_URL;

describe.skipIf(!pgUrl)('ownership engine on PostgreSQL (DEPCTL_TEST_POSTGRES_URL)', () => {
  const schema = `depctl_own_${randomBytes(6).toString('hex')}`;
  afterEach(async () => {
    for (const st of stores.splice(0)) await st.close();
    const c = new pg.Client({ connectionString: pgUrl });
    await c.connect();
    try {
      await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    } finally {
      await c.end();
    }
  });

  it('stores the activities, and a new store handle after a restart polls them to completion', async () => {
    const serials = serialsOf(1200);
    await start(serials);
    const org = organization();
    const config = { servers: [server('paris', 'Paris MDM', []), server('lyon', 'Lyon MDM', serials)], organizations: [org] };
    const open = async (): Promise<Store> => {
      const s = await openStore(pgUrl as string, { schema, poolSize: 2 });
      stores.push(s);
      return s;
    };
    const first = await open();
    const applied = await pass(config, handle(org), first);
    expect(applied.applied[0]?.activities.map((a) => a.devices)).toEqual([1000, 200]);
    expect((await first.readAudit({ server: 'lyon', limit: 2000 })).filter((e) => e.outcome === 'pending')).toHaveLength(1200);
    await first.close();
    stores.splice(stores.indexOf(first), 1);

    sim.advanceClock(5 * STEP_MS);
    const second = await open();
    const resumed = await pass(config, handle(org), second);
    expect(resumed.report.polls[0]?.closed.map((c) => [c.status, c.succeeded])).toEqual([['COMPLETED', 1000], ['COMPLETED', 200]]);
    expect(resumed.report.plans[0]?.changeCount).toBe(0);
    expect(await second.listActivities('acme', { open: true })).toEqual([]);
    expect((await second.readAudit({ server: 'lyon', limit: 5000 })).filter((e) => e.outcome === 'success')).toHaveLength(1200);
    expect(sim.inspect.requestCounts()['POST /v1/orgDeviceActivities']).toBe(2);
  });
});
