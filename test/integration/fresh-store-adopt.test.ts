import { rm } from 'node:fs/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startSimulator, type RunningSimulator } from '../../controller/sim/index.js';
import type { Device } from '../../controller/dep/types.js';
import { openStore } from '../../controller/store/index.js';
import { MAIN_SERVER_DEFAULT_MACS_YAML } from '../helpers/config-yaml.js';
import { ipadRecords, macRecords, mainWorkspace, type Workspace } from '../helpers/workspace.js';

const server = MAIN_SERVER_DEFAULT_MACS_YAML;
// The state store records these without Apple's defaults; Apple answers GET /profile with them filled in.
const profiles = `apiVersion: depctl/v1
kind: EnrollmentProfile
metadata: { name: ipads }
spec:
  servers: [main]
  profile:
    profile_name: Classroom iPads
    url: https://mdm.example.com/enroll
    is_supervised: true
    is_mdm_removable: false
    department: Classrooms
    skip_setup_items: [Siri, AppleID]
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
    allow_pairing: true
`;
const assignments = `apiVersion: depctl/v1
kind: Assignment
metadata: { name: all-ipads }
spec:
  profile: ipads
  match: { device_family: [iPad] }
`;

/** Write calls to Apple in the simulator's request counts. */
function writes(sim: RunningSimulator): Record<string, number> {
  return Object.fromEntries(Object.entries(sim.inspect.requestCounts()).filter(([k]) => /^(POST \/profile|PUT \/profile|DELETE \/profile)/.test(k)));
}

interface PlanJson {
  servers: { error: string | null; devices: number; unchanged: number; defines: unknown[]; assign: unknown[]; remove: unknown[]; drift: unknown[] }[];
  summary: { defines: number; assign: number; remove: number };
}

describe('a new, empty state store against a server depctl already configured', () => {
  let sim: RunningSimulator;
  let ws: Workspace;
  let macs: Device[];
  let ipads: Device[];

  beforeEach(async () => {
    sim = await startSimulator({ devices: 0, seed: 11 });
    macs = sim.portal.addDevices(macRecords(4));
    ipads = sim.portal.addDevices(ipadRecords(5));
    ws = await mainWorkspace(sim);
    await ws.commit({ 'servers.yaml': server, 'profiles.yaml': profiles, 'assignments.yaml': assignments });
  });

  afterEach(async () => {
    await sim.close();
    await ws.cleanup();
  });

  it('adopts the profiles Apple has (GET /profile on the carried UUIDs): no define, no assign, a plan with no changes', async () => {
    const first = await ws.depctl(['apply', 'config', '--yes']);
    expect(first.code, first.stdout + first.stderr).toBe(0);
    expect(writes(sim)).toEqual({ 'POST /profile': 2 });
    const ipadUuid = sim.inspect.device(ipads[0]!.serial_number)!.profile_uuid!;
    const macUuid = sim.inspect.device(macs[0]!.serial_number)!.profile_uuid!;

    // Store A is lost: the next plan and apply start from an empty state file.
    for (const suffix of ['', '-wal', '-shm']) await rm(`${ws.statePath}${suffix}`, { force: true });
    sim.inspect.resetRequestCounts();

    const plan = await ws.depctl(['plan', 'config', '--format', 'json']);
    expect(plan.code, plan.stderr).toBe(0);
    const parsed = JSON.parse(plan.stdout) as PlanJson;
    expect(parsed.servers[0]).toMatchObject({ error: null, devices: 9, unchanged: 9, defines: [], assign: [], remove: [], drift: [] });
    expect(parsed.summary).toMatchObject({ defines: 0, assign: 0, remove: 0 });
    // One look-up per distinct UUID the devices carry, and nothing written.
    expect(sim.inspect.requestCounts()).toMatchObject({ 'GET /profile': 2 });
    expect(writes(sim)).toEqual({});

    const apply = await ws.depctl(['apply', 'config', '--yes']);
    expect(apply.code, apply.stdout + apply.stderr).toBe(0);
    expect(apply.stdout).toMatch(/No changes/);
    expect(writes(sim)['POST /profile'] ?? 0).toBe(0);
    expect(writes(sim)).toEqual({});
    for (const d of ipads) expect(sim.inspect.device(d.serial_number)?.profile_uuid).toBe(ipadUuid);
    for (const d of macs) expect(sim.inspect.device(d.serial_number)?.profile_uuid).toBe(macUuid);

    const text = await ws.depctl(['plan', 'config']);
    expect(text.stdout).toContain('No changes. Apple is in line with the configuration.');

    // The new store records both UUIDs as defined, and the audit says they were adopted.
    const store = await openStore(`sqlite:${ws.statePath}`);
    try {
      expect((await store.listProfiles('main')).map((p) => [p.name, p.state, p.uuid])).toEqual([
        ['ipads', 'defined', ipadUuid],
        ['macs', 'defined', macUuid],
      ]);
      const audit = await store.readAudit({ server: 'main', limit: 100 });
      expect(audit.filter((a) => a.action === 'adopt-profile').map((a) => a.after).sort()).toEqual([ipadUuid, macUuid].sort());
    } finally {
      await store.close();
    }
  });

  it('adopts only what matches: a profile whose content changed in the repository meanwhile is defined again', async () => {
    expect((await ws.depctl(['apply', 'config', '--yes'])).code).toBe(0);
    for (const suffix of ['', '-wal', '-shm']) await rm(`${ws.statePath}${suffix}`, { force: true });
    await ws.commit({ 'profiles.yaml': profiles.replace('department: Classrooms', 'department: Labs') }, 'change the iPad profile');
    sim.inspect.resetRequestCounts();

    const plan = JSON.parse((await ws.depctl(['plan', 'config', '--format', 'json'])).stdout) as { servers: { defines: { profile: string; reason: string }[]; assign: { serials: string[] }[] }[] };
    expect(plan.servers[0]?.defines.map((d) => [d.profile, d.reason])).toEqual([['ipads', 'new']]);
    expect(plan.servers[0]?.assign.flatMap((g) => g.serials).sort()).toEqual(ipads.map((d) => d.serial_number).sort());
    expect(writes(sim)).toEqual({});
  });
});
