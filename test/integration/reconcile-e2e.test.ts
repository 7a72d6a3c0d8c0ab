import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startSimulator, type RunningSimulator } from '../../controller/sim/index.js';
import type { Device } from '../../controller/dep/types.js';
import { openStore } from '../../controller/store/index.js';
import { parseConverged } from '../../controller/reconcile/planner.js';
import { MAIN_SERVER_DEFAULT_MACS_YAML } from '../helpers/config-yaml.js';
import { ipadRecords, macRecords, mainWorkspace, type Workspace } from '../helpers/workspace.js';

const server = MAIN_SERVER_DEFAULT_MACS_YAML;
const profiles = (ipadDepartment = 'Classrooms') => `apiVersion: depctl/v1
kind: EnrollmentProfile
metadata: { name: ipads }
spec:
  servers: [main]
  profile:
    profile_name: Classroom iPads
    url: https://mdm.example.com/enroll
    is_supervised: true
    is_mdm_removable: false
    department: ${ipadDepartment}
    skip_setup_items: [AppleID, Siri]
---
apiVersion: depctl/v1
kind: EnrollmentProfile
metadata: { name: macs }
spec:
  servers: [main]
  profile:
    profile_name: Staff Macs
    url: https://mdm.example.com/enroll
    await_device_configured: true
    is_supervised: true
`;
const assignments = (serials: string[]) => `apiVersion: depctl/v1
kind: Assignment
metadata: { name: carts }
spec:
  profile: ipads
  serials: [${serials.join(', ')}]
---
apiVersion: depctl/v1
kind: Assignment
metadata: { name: all-ipads }
spec:
  profile: ipads
  match: { device_family: [iPad] }
  priority: 10
`;

/** The parts of `depctl plan --format json` these tests read. */
interface PlanJson {
  servers: { devices: number; assign: { profile: string; profileUuid: string | null; reason: string; serials: string[] }[]; drift: { kind: string; serials: string[] }[] }[];
}

/** Write calls to Apple in the simulator's request counts. */
function writes(sim: RunningSimulator): Record<string, number> {
  return Object.fromEntries(Object.entries(sim.inspect.requestCounts()).filter(([k]) => /^(POST \/profile|PUT \/profile|DELETE \/profile)/.test(k)));
}

describe('plan and apply against the simulator, with a git checkout of the config', () => {
  let sim: RunningSimulator;
  let ws: Workspace;
  let macs: Device[];
  let ipads: Device[];

  beforeEach(async () => {
    sim = await startSimulator({ devices: 0, seed: 7 });
    macs = sim.portal.addDevices(macRecords(5));
    ipads = sim.portal.addDevices(ipadRecords(6));
    ws = await mainWorkspace(sim);
    await ws.commit({ 'servers.yaml': server, 'profiles.yaml': profiles(), 'assignments.yaml': assignments([ipads[0]!.serial_number]) });
  });

  afterEach(async () => {
    await sim.close();
    await ws.cleanup();
  });

  it('converges from empty, then a second apply makes zero write calls', async () => {
    const plan = await ws.depctl(['plan', 'config', '--detailed-exitcode']);
    expect(plan.stderr).toBe('');
    expect(plan.code).toBe(2);
    expect(writes(sim)).toEqual({});

    const first = await ws.depctl(['apply', 'config', '--yes']);
    expect(first.code, first.stdout + first.stderr).toBe(0);
    expect(first.stdout).toMatch(/Apply complete/);
    // One define per profile; the first batch of devices rides along with each define, so no assign call is needed.
    expect(writes(sim)).toEqual({ 'POST /profile': 2 });
    const ipadUuid = sim.inspect.device(ipads[0]!.serial_number)?.profile_uuid;
    const macUuid = sim.inspect.device(macs[0]!.serial_number)?.profile_uuid;
    expect(ipadUuid).toMatch(/^[0-9A-F]{32}$/);
    expect(macUuid).toMatch(/^[0-9A-F]{32}$/);
    expect(ipadUuid).not.toBe(macUuid);
    for (const d of ipads) expect(sim.inspect.device(d.serial_number)?.profile_uuid).toBe(ipadUuid);
    for (const d of macs) expect(sim.inspect.device(d.serial_number)?.profile_uuid).toBe(macUuid);
    expect(sim.inspect.profile(ipadUuid!)).toEqual(expect.objectContaining({ profile_name: 'Classroom iPads', department: 'Classrooms', is_mdm_removable: false }));

    sim.inspect.resetRequestCounts();
    const second = await ws.depctl(['apply', 'config', '--yes']);
    expect(second.code, second.stdout + second.stderr).toBe(0);
    expect(second.stdout).toMatch(/No changes/);
    expect(writes(sim)).toEqual({});
    // An unchanged repository costs one sync call (plus the session and the identity check) and no writes.
    expect(sim.inspect.requestCounts()).toEqual({ 'GET /session': 1, 'GET /account': 1, 'POST /devices/sync': 1 });

    const detailed = await ws.depctl(['plan', 'config', '--detailed-exitcode']);
    expect(detailed.code).toBe(0);
  });

  it('a profile edit defines one new profile and reassigns every device that carries it', async () => {
    expect((await ws.depctl(['apply', 'config', '--yes'])).code).toBe(0);
    const before = sim.inspect.device(ipads[1]!.serial_number)?.profile_uuid;
    const macBefore = sim.inspect.device(macs[0]!.serial_number)?.profile_uuid;
    const edit = await ws.commit({ 'profiles.yaml': profiles('Lycée Voltaire') }, 'rename department');
    sim.inspect.resetRequestCounts();

    const plan = await ws.depctl(['plan', 'config', '--format', 'json']);
    const parsed = JSON.parse(plan.stdout) as { commit: string; servers: { defines: { profile: string; reason: string }[]; assign: { reason: string; serials: string[] }[] }[] };
    expect(parsed.commit).toBe(edit);
    expect(parsed.servers[0]?.defines).toEqual([expect.objectContaining({ profile: 'ipads', reason: 'changed' })]);
    expect(parsed.servers[0]?.assign.flatMap((g) => g.serials).sort()).toEqual(ipads.map((d) => d.serial_number).sort());
    expect(new Set(parsed.servers[0]?.assign.map((g) => g.reason))).toEqual(new Set(['content-changed']));

    const apply = await ws.depctl(['apply', 'config', '--yes']);
    expect(apply.code, apply.stdout).toBe(0);
    expect(writes(sim)).toEqual({ 'POST /profile': 1 });
    const after = sim.inspect.device(ipads[1]!.serial_number)?.profile_uuid;
    expect(after).not.toBe(before);
    expect(sim.inspect.profile(after!)?.department).toBe('Lycée Voltaire');
    expect(sim.inspect.device(macs[0]!.serial_number)?.profile_uuid).toBe(macBefore);
  });

  it('reports an out-of-band change as drift in plan and corrects it on apply', async () => {
    expect((await ws.depctl(['apply', 'config', '--yes'])).code).toBe(0);
    const wanted = sim.inspect.device(ipads[2]!.serial_number)?.profile_uuid;
    const macUuid = sim.inspect.device(macs[0]!.serial_number)?.profile_uuid;
    sim.portal.setProfile(ipads[2]!.serial_number, macUuid!);

    const plan = await ws.depctl(['plan', 'config', '--format', 'json']);
    const parsed = JSON.parse(plan.stdout) as { servers: { drift: { kind: string; serials: string[] }[]; assign: { reason: string; serials: string[] }[] }[] };
    expect(parsed.servers[0]?.drift).toEqual([expect.objectContaining({ kind: 'profile-changed', serials: [ipads[2]!.serial_number] })]);
    expect(parsed.servers[0]?.assign).toEqual([expect.objectContaining({ reason: 'drift', serials: [ipads[2]!.serial_number] })]);

    sim.inspect.resetRequestCounts();
    expect((await ws.depctl(['apply', 'config', '--yes'])).code).toBe(0);
    expect(writes(sim)).toEqual({ 'POST /profile/devices': 1 });
    expect(sim.inspect.device(ipads[2]!.serial_number)?.profile_uuid).toBe(wanted);
  });

  it('defines the content again when Apple no longer knows a recorded profile UUID (404 on assign)', async () => {
    expect((await ws.depctl(['apply', 'config', '--yes'])).code).toBe(0);
    const gone = sim.inspect.device(ipads[0]!.serial_number)!.profile_uuid!;
    sim.portal.forgetProfile(gone);
    const [newcomer] = sim.portal.addDevices([{ device_family: 'iPad', os: 'iPadOS', model: 'iPad Air' }]);
    sim.inspect.resetRequestCounts();
    const r = await ws.depctl(['apply', 'config', '--yes']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    // The assign to the forgotten UUID got a 404; the same content was defined once more and carried the device.
    expect(writes(sim)).toEqual({ 'POST /profile/devices': 1, 'POST /profile': 1 });
    const fresh = sim.inspect.device(newcomer!.serial_number)?.profile_uuid;
    expect(fresh).toMatch(/^[0-9A-F]{32}$/);
    expect(fresh).not.toBe(gone);
    expect(sim.inspect.profile(fresh!)).toEqual(expect.objectContaining({ profile_name: 'Classroom iPads' }));
    // The other iPads still carry the forgotten UUID: the next plan moves them to the new one.
    const next = await ws.depctl(['plan', 'config', '--format', 'json']);
    const parsed = JSON.parse(next.stdout) as { servers: { defines: unknown[]; assign: { profileUuid: string; serials: string[] }[] }[] };
    expect(parsed.servers[0]?.defines).toEqual([]);
    expect(parsed.servers[0]?.assign.flatMap((g) => g.serials).sort()).toEqual(ipads.map((d) => d.serial_number).sort());
    expect(new Set(parsed.servers[0]?.assign.map((g) => g.profileUuid))).toEqual(new Set([fresh]));
  });

  it('assigns a device that moved away and came back with its old UUID exactly once (reason arrived); one that never left is not touched', async () => {
    expect((await ws.depctl(['apply', 'config', '--yes'])).code).toBe(0);
    const back = ipads[1]!.serial_number;
    const backLater = macs[1]!.serial_number;
    const stayed = ipads[2]!.serial_number;
    const ipadUuid = sim.inspect.device(back)!.profile_uuid!;
    const macUuid = sim.inspect.device(backLater)!.profile_uuid!;
    const stayedBefore = sim.inspect.device(stayed);
    // One device leaves and comes back between two syncs (Apple lists `deleted`, then `modified`); the other
    // leaves, depctl sees it go, and then it comes back (a `modified` for a serial the store no longer holds).
    sim.portal.moveAway([back, backLater]);
    sim.portal.moveIn([back]);
    const between = JSON.parse((await ws.depctl(['plan', 'config', '--format', 'json'])).stdout) as PlanJson;
    // The first is an arrival already (its `deleted` and its `modified` came in one sync); the other has left.
    expect(between.servers[0]?.assign.map((g) => [g.reason, g.serials])).toEqual([['arrived', [back]]]);
    expect(between.servers[0]).toMatchObject({ drift: [], devices: 10 });
    sim.portal.moveIn([backLater]);
    // Apple kept their mappings: each carries the UUID of the profile depctl wants for it.
    expect(sim.inspect.device(back)).toMatchObject({ profile_uuid: ipadUuid, profile_status: 'assigned' });
    expect(sim.inspect.device(backLater)).toMatchObject({ profile_uuid: macUuid, profile_status: 'assigned' });

    const plan = JSON.parse((await ws.depctl(['plan', 'config', '--format', 'json'])).stdout) as PlanJson;
    expect(plan.servers[0]?.assign).toEqual([
      { profile: 'ipads', profileUuid: ipadUuid, fromUuid: ipadUuid, fromProfile: 'ipads', reason: 'arrived', source: 'match', assignment: 'all-ipads', serials: [back] },
      { profile: 'macs', profileUuid: macUuid, fromUuid: macUuid, fromProfile: 'macs', reason: 'arrived', source: 'default', assignment: null, serials: [backLater] },
    ]);
    expect(plan.servers[0]?.drift).toEqual([]);

    sim.inspect.resetRequestCounts();
    const apply = await ws.depctl(['apply', 'config', '--yes']);
    expect(apply.code, apply.stdout + apply.stderr).toBe(0);
    // One assign call per target profile, each with its one device.
    expect(writes(sim)).toEqual({ 'POST /profile/devices': 2 });
    const store = await openStore(`sqlite:${ws.statePath}`);
    try {
      for (const serial of [back, backLater, stayed]) {
        const audit = await store.readAudit({ serial, limit: 100 });
        const assigned = audit.filter((e) => e.action === 'assign' && e.outcome === 'success');
        expect(assigned.length, serial).toBe(serial === stayed ? 1 : 2);
      }
      expect((await store.getDevice('main', back))?.arrivedAt).toBeNull();
    } finally {
      await store.close();
    }
    expect(sim.inspect.device(stayed)).toEqual(stayedBefore);

    sim.inspect.resetRequestCounts();
    const next = await ws.depctl(['plan', 'config', '--detailed-exitcode']);
    expect(next.code, next.stdout).toBe(0);
    const again = await ws.depctl(['apply', 'config', '--yes']);
    expect(again.stdout).toMatch(/No changes/);
    expect(writes(sim)).toEqual({});
  });

  it('after convergence, plans from the devices a sync lists what a full diff plans, and keeps those not as desired with the key', async () => {
    expect((await ws.depctl(['apply', 'config', '--yes'])).code).toBe(0);
    expect((await ws.depctl(['apply', 'config', '--yes'])).stdout).toMatch(/No changes/);
    const storedKey = async (): Promise<ReturnType<typeof parseConverged>> => {
      const store = await openStore(`sqlite:${ws.statePath}`);
      try {
        return parseConverged((await store.getServer('main'))?.convergedKey);
      } finally {
        await store.close();
      }
    };
    expect(await storedKey()).toMatchObject({ devices: 11, pending: [] });
    // The portal: an iPad gets the Macs' profile by hand, a Mac enrols (profile pushed), a new iPad arrives, a Mac leaves.
    const macUuid = sim.inspect.device(macs[0]!.serial_number)!.profile_uuid!;
    sim.portal.setProfile(ipads[3]!.serial_number, macUuid);
    sim.portal.markPushed(macs[2]!.serial_number);
    const [arrived] = sim.portal.addDevices(ipadRecords(1).map((d) => ({ ...d, serial_number: 'DMPNEWIPAD01' })));
    sim.portal.moveAway([macs[4]!.serial_number]);

    const plan = JSON.parse((await ws.depctl(['plan', 'config', '--format', 'json'])).stdout) as PlanJson;
    expect(plan.servers[0]?.assign.flatMap((g) => g.serials).sort()).toEqual([arrived!.serial_number, ipads[3]!.serial_number].sort());
    expect(plan.servers[0]?.devices).toBe(11);
    // The devices not as desired are kept with the key: the next pass diffs them again, not every device.
    expect(await storedKey()).toMatchObject({ devices: 11, pending: [arrived!.serial_number, ipads[3]!.serial_number].sort() });

    // The same plan from a diff of every device (the key forgotten, an empty sync).
    const store = await openStore(`sqlite:${ws.statePath}`);
    try {
      await store.setConvergedKey('main', null);
    } finally {
      await store.close();
    }
    const full = JSON.parse((await ws.depctl(['plan', 'config', '--format', 'json'])).stdout) as PlanJson;
    // Everything but when the plan was made and when the pass checked the server's identity.
    const timeless = (p: PlanJson): unknown => JSON.parse(JSON.stringify(p, (k, v: unknown) => (k === 'createdAt' || k === 'checkedAt' ? null : v)));
    expect(timeless(full)).toEqual(timeless(plan));

    expect((await ws.depctl(['apply', 'config', '--yes'])).code).toBe(0);
    expect((await ws.depctl(['apply', 'config', '--yes'])).stdout).toMatch(/No changes/);
    expect(await storedKey()).toMatchObject({ devices: 11, pending: [] });
  });

  it('refuses a saved plan once Apple moved, and applies it while it is current', async () => {
    const saved = await ws.depctl(['plan', 'config', '--out', 'plan.json']);
    expect(saved.code).toBe(0);
    sim.portal.addDevices([{ device_family: 'Mac', os: 'OSX', model: 'iMac' }]);
    const stale = await ws.depctl(['apply', 'config', '--plan', 'plan.json']);
    expect(stale.code).toBe(1);
    expect(stale.stderr).toMatch(/saved plan is stale/);
    expect(writes(sim)).toEqual({});

    expect((await ws.depctl(['plan', 'config', '--out', 'plan.json'])).code).toBe(0);
    const ok = await ws.depctl(['apply', 'config', '--plan', 'plan.json']);
    expect(ok.code, ok.stdout + ok.stderr).toBe(0);
  });

  it('T_C_NOT_SIGNED stops with a clear message and no writes', async () => {
    sim.injectFaults({ termsNotSigned: true });
    const r = await ws.depctl(['apply', 'config', '--yes']);
    expect(r.code).toBe(1);
    expect(r.stdout + r.stderr).toMatch(/terms/i);
    expect(writes(sim)).toEqual({});
  });

  it('throttled serials make a partial apply, are deferred, and converge once the wait is over', async () => {
    let clock = Date.now();
    const now = (): Date => new Date(clock);
    expect((await ws.depctl(['apply', 'config', '--yes'], { now })).code).toBe(0);
    const serial = ipads[3]!.serial_number;
    const wanted = sim.inspect.device(serial)?.profile_uuid;
    sim.portal.setProfile(serial, null);
    sim.injectFaults({ throttledSerials: { serials: [serial], retryAfterSeconds: 600 } });

    const partial = await ws.depctl(['apply', 'config', '--yes'], { now });
    expect(partial.code).toBe(1);
    expect(partial.stdout).toMatch(/1 throttled/);
    expect(partial.stdout).toMatch(/Apply PARTIAL/);

    // Until Apple's retry time the device is deferred, not retried.
    sim.inspect.resetRequestCounts();
    const waiting = await ws.depctl(['plan', 'config', '--format', 'json'], { now });
    const parsed = JSON.parse(waiting.stdout) as { servers: { deferred: { lastStatus: string; serials: string[]; until: string }[]; assign: unknown[] }[] };
    expect(parsed.servers[0]?.assign).toEqual([]);
    expect(parsed.servers[0]?.deferred).toEqual([{ lastStatus: 'THROTTLED', attempts: 0, serials: [serial], until: new Date(clock + 600_000).toISOString() }]);
    expect(writes(sim)).toEqual({});

    clock += 601_000;
    sim.clearFaults();
    const done = await ws.depctl(['apply', 'config', '--yes'], { now });
    expect(done.code, done.stdout).toBe(0);
    expect(sim.inspect.device(serial)?.profile_uuid).toBe(wanted);
  });

  it('converges through expired sessions, 5xx answers and connection resets', async () => {
    sim.injectFaults({ httpStatus: { status: 503, count: 2, retryAfter: '0' }, connectionResets: { count: 1, path: '/profile' } });
    const first = await ws.depctl(['apply', 'config', '--yes']);
    expect(first.code, first.stdout + first.stderr).toBe(0);
    sim.portal.setProfile(ipads[4]!.serial_number, null);
    sim.injectFaults({ expireSessions: { forbidden: true } });
    const second = await ws.depctl(['apply', 'config', '--yes']);
    expect(second.code, second.stdout + second.stderr).toBe(0);
    expect(sim.inspect.device(ipads[4]!.serial_number)?.profile_uuid).toMatch(/^[0-9A-F]{32}$/);
  });

  it('falls back to a full fetch when the cursor expired, and still converges', async () => {
    await sim.close();
    sim = await startSimulator({ devices: 0, seed: 7, token: sim.token, oauthTimestampToleranceMs: Infinity });
    ipads = sim.portal.addDevices(Array.from({ length: 3 }, () => ({ device_family: 'iPad', os: 'iPadOS', model: 'iPad' })));
    ws.env['DEPCTL_DEP_URL'] = sim.url;
    await ws.commit({ 'assignments.yaml': assignments([ipads[0]!.serial_number]) });
    expect((await ws.depctl(['apply', 'config', '--yes'])).code).toBe(0);
    sim.advanceClock(8 * 24 * 3600 * 1000);
    sim.portal.addDevices([{ device_family: 'iPad', os: 'iPadOS', model: 'iPad' }]);
    sim.inspect.resetRequestCounts();
    const r = await ws.depctl(['apply', 'config', '--yes']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const counts = sim.inspect.requestCounts();
    expect(counts['POST /devices/sync']).toBe(1);
    expect(counts['POST /server/devices']).toBe(1);
    expect(writes(sim)).toEqual({ 'POST /profile/devices': 1 });
  });
});
