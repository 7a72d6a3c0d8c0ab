import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { startSimulator, type RunningSimulator } from '../../controller/sim/index.js';
import { createDepClient } from '../../controller/dep/index.js';
import type { Device, Profile } from '../../controller/dep/types.js';
import { makeWorkspace, type Workspace } from '../helpers/workspace.js';

const serverDoc = (name: string, depUrl: string) => `apiVersion: depctl/v1
kind: MdmServer
metadata: { name: ${name} }
spec:
  token: { file: ${name}/token.p7m }
  privateKey: { file: ${name}/key.pem }
  depUrl: ${depUrl}
`;

/** Write calls to Apple in the simulator's request counts. */
function writes(sim: RunningSimulator): Record<string, number> {
  return Object.fromEntries(Object.entries(sim.inspect.requestCounts()).filter(([k]) => /^(POST|PUT|DELETE) \/profile/.test(k)));
}

/** Defines a profile on the simulator the way another tool would, assigning it to `devices`. */
async function defineElsewhere(sim: RunningSimulator, profile: Profile, devices: readonly Device[]): Promise<string> {
  const client = createDepClient({ baseUrl: sim.url, token: sim.token });
  try {
    const res = await client.defineProfile({ ...profile, devices: devices.map((d) => d.serial_number) });
    return res.profile_uuid;
  } finally {
    await client.close();
  }
}

const ipadProfile: Profile = {
  profile_name: 'Classroom iPads',
  url: 'https://mdm.example.com/enroll',
  is_supervised: true,
  is_mdm_removable: false,
  allow_pairing: true,
  department: 'Lycée Voltaire',
  support_phone_number: '+33 1 23 45 67 89',
  skip_setup_items: ['Siri', 'AppleID', 'Location'],
};
const macProfile: Profile = { profile_name: 'Staff Macs', url: 'https://mdm.example.com/enroll', await_device_configured: true, is_supervised: true };

describe('depctl import adopts a fleet managed by another tool', () => {
  let sim: RunningSimulator;
  let other: RunningSimulator;
  let ws: Workspace;
  let ipads: Device[];
  let macs: Device[];
  let loose: Device[];
  let ipadUuid: string;
  let macUuid: string;
  let twinUuid: string;

  beforeEach(async () => {
    sim = await startSimulator({ devices: 0, seed: 11 });
    other = await startSimulator({ devices: 3, seed: 12 });
    ipads = sim.portal.addDevices(Array.from({ length: 8 }, () => ({ device_family: 'iPad', os: 'iPadOS', model: 'iPad Air' })));
    macs = sim.portal.addDevices(Array.from({ length: 4 }, () => ({ device_family: 'Mac', os: 'OSX', model: 'MacBook Pro' })));
    loose = sim.portal.addDevices(Array.from({ length: 2 }, () => ({ device_family: 'Mac', os: 'OSX', model: 'iMac' })));
    ipadUuid = await defineElsewhere(sim, ipadProfile, ipads.slice(0, 6));
    // A second profile with the same profile_name: the slug must be made unique.
    twinUuid = await defineElsewhere(sim, { ...ipadProfile, department: 'Annex' }, ipads.slice(6));
    macUuid = await defineElsewhere(sim, macProfile, macs);
    ws = await makeWorkspace(sim.url);
    await ws.addServerSecrets('main', sim.token);
    await ws.addServerSecrets('branch', other.token);
    // Each server has its own simulator (no DEPCTL_DEP_URL override), so "branch" can be seen untouched.
    delete ws.env['DEPCTL_DEP_URL'];
    // The configuration's depUrls name loopback simulators: hosts the operator must allow (config/trust.ts).
    ws.env['DEPCTL_ALLOW_DEP_HOSTS'] = `${new URL(sim.url).host},${new URL(other.url).host}`;
    await ws.commit({ 'servers.yaml': `${serverDoc('main', sim.url)}---\n${serverDoc('branch', other.url)}` });
    sim.inspect.resetRequestCounts();
  });

  afterEach(async () => {
    await sim.close();
    await other.close();
    await ws.cleanup();
  });

  const importDir = (): string => join(ws.configDir, 'imported', 'main');

  it('writes profiles and assignments that make plan show no changes and apply write nothing', async () => {
    const r = await ws.depctl(['import', 'config', '--server', 'main', '--csv-threshold', '5']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/Imported 3 profile\(s\)/);
    expect(r.stdout).toMatch(/2 device\(s\) carry no profile/);
    expect(r.stdout).toMatch(/depctl plan/);
    // Only reads on the imported server; the other server is not contacted at all.
    expect(writes(sim)).toEqual({});
    expect(other.inspect.requestCounts()).toEqual({});

    const files = (await readdir(importDir())).sort();
    expect(files).toEqual(['classroom-ipads-2.yaml', 'classroom-ipads.csv', 'classroom-ipads.yaml', 'staff-macs.yaml']);
    // Devices without a profile are not listed anywhere (the server ignores unassigned devices).
    const written = (await Promise.all(files.map((f) => readFile(join(importDir(), f), 'utf8')))).join('\n');
    for (const d of loose) expect(written).not.toContain(d.serial_number);
    const text = await readFile(join(importDir(), 'classroom-ipads.yaml'), 'utf8');
    expect(text).toMatch(/^# Imported by depctl import from MdmServer "main"/);
    expect(text).toContain(ipadUuid);
    const [profileDoc, assignmentDoc] = parseAllDocuments(text).map((d) => d.toJS() as { kind: string; metadata: { name: string }; spec: Record<string, unknown> });
    expect(profileDoc?.spec).toEqual({
      servers: ['main'],
      profile: {
        profile_name: 'Classroom iPads',
        url: 'https://mdm.example.com/enroll',
        is_supervised: true,
        is_mdm_removable: false,
        support_phone_number: '+33 1 23 45 67 89',
        skip_setup_items: ['Siri', 'AppleID', 'Location'],
        department: 'Lycée Voltaire',
      },
    });
    // Six serials exceed the threshold of five: they go to a CSV with Apple's header.
    expect(assignmentDoc?.spec).toEqual({ profile: 'classroom-ipads', serialFiles: ['classroom-ipads.csv'] });
    const csv = (await readFile(join(importDir(), 'classroom-ipads.csv'), 'utf8')).trim().split('\n');
    expect(csv[0]).toBe('Serial Number');
    expect(csv.slice(1)).toEqual(ipads.slice(0, 6).map((d) => d.serial_number).sort());
    const twin = parseAllDocuments(await readFile(join(importDir(), 'classroom-ipads-2.yaml'), 'utf8')).map((d) => d.toJS() as { spec: Record<string, unknown> });
    expect(twin[1]?.spec).toEqual({ profile: 'classroom-ipads-2', serials: ipads.slice(6).map((d) => d.serial_number).sort() });
    expect(await readFile(join(importDir(), 'classroom-ipads-2.yaml'), 'utf8')).toContain(twinUuid);
    expect(await readFile(join(importDir(), 'staff-macs.yaml'), 'utf8')).toContain(macUuid);

    expect((await ws.depctl(['validate', 'config'])).code).toBe(0);
    await ws.commit({}, 'import main');
    const plan = await ws.depctl(['plan', 'config', '--detailed-exitcode']);
    // "branch" has no profiles and ignores unassigned devices: nothing to change there either.
    expect(plan.code, plan.stdout + plan.stderr).toBe(0);
    sim.inspect.resetRequestCounts();
    const apply = await ws.depctl(['apply', 'config', '--yes']);
    expect(apply.code, apply.stdout + apply.stderr).toBe(0);
    expect(writes(sim)).toEqual({});
    for (const d of ipads.slice(0, 6)) expect(sim.inspect.device(d.serial_number)?.profile_uuid).toBe(ipadUuid);
  });

  it('a second import without --force finds nothing new to adopt; --force replaces the previous import', async () => {
    expect((await ws.depctl(['import', 'config', '--server', 'main'])).code).toBe(0);
    await ws.commit({}, 'import main');
    // Another tool moves a Mac to the iPad profile: a new import must see it.
    sim.portal.setProfile(macs[0]!.serial_number, ipadUuid);

    const again = await ws.depctl(['import', 'config', '--server', 'main']);
    // Without --force the previous import counts as existing config: its profiles are already managed.
    expect(again.code, again.stdout + again.stderr).toBe(0);
    expect(again.stdout).toMatch(/Nothing to import/);
    expect(again.stdout).toMatch(/14 device\(s\), none carrying/);
    const before = await readFile(join(importDir(), 'staff-macs.yaml'), 'utf8');

    const forced = await ws.depctl(['import', 'config', '--server', 'main', '--force']);
    expect(forced.code, forced.stdout + forced.stderr).toBe(0);
    expect(forced.stdout).toMatch(/Imported 3 profile\(s\)/);
    const ipadDocs = parseAllDocuments(await readFile(join(importDir(), 'classroom-ipads.yaml'), 'utf8')).map((d) => d.toJS() as { spec: { serials?: string[] } });
    expect(ipadDocs[1]?.spec.serials).toContain(macs[0]!.serial_number);
    expect(await readFile(join(importDir(), 'staff-macs.yaml'), 'utf8')).not.toBe(before);
    expect((await readdir(importDir())).sort()).toEqual(['classroom-ipads-2.yaml', 'classroom-ipads.yaml', 'staff-macs.yaml']);

    await ws.commit({}, 're-import main');
    const plan = await ws.depctl(['plan', 'config', '--detailed-exitcode']);
    expect(plan.code, plan.stdout + plan.stderr).toBe(0);
  });

  it('refuses to overwrite files it did not write, even with names it would use', async () => {
    await ws.commit({ 'imported/main/staff-macs.yaml': '# my notes\n' });
    const r = await ws.depctl(['import', 'config', '--server', 'main']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/refusing to overwrite imported\/main\/staff-macs\.yaml/);
    expect(await readFile(join(importDir(), 'staff-macs.yaml'), 'utf8')).toBe('# my notes\n');
    expect(await readdir(importDir())).toEqual(['staff-macs.yaml']);
  });

  it('leaves out serials existing assignments list and names that collide with existing documents', async () => {
    await ws.commit({
      'mine.yaml': `apiVersion: depctl/v1
kind: EnrollmentProfile
metadata: { name: staff-macs }
spec:
  servers: [main]
  profile: { profile_name: Mine, url: https://mdm.example.com/other }
---
apiVersion: depctl/v1
kind: Assignment
metadata: { name: pinned }
spec:
  profile: staff-macs
  serials: [${macs[0]!.serial_number}]
`,
    });
    const r = await ws.depctl(['import', 'config', '--server', 'main']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/1 serial\(s\) carrying \w+ are already listed by assignment "pinned"/);
    expect(r.stdout).toMatch(/staff-macs-2 .*\(name "staff-macs" was taken\)/);
    const docs = parseAllDocuments(await readFile(join(importDir(), 'staff-macs-2.yaml'), 'utf8')).map((d) => d.toJS() as { spec: { serials?: string[] } });
    expect(docs[1]?.spec.serials).toEqual(macs.slice(1).map((d) => d.serial_number).sort());
    expect((await ws.depctl(['validate', 'config'])).code).toBe(0);
  });

  it('reports and skips a profile UUID Apple no longer knows', async () => {
    sim.portal.forgetProfile(macUuid);
    const r = await ws.depctl(['import', 'config', '--server', 'main']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain(`profile ${macUuid} is no longer known to Apple: its 4 device(s) were not imported`);
    expect((await readdir(importDir())).sort()).toEqual(['classroom-ipads-2.yaml', 'classroom-ipads.yaml']);
  });

  it('leaves out a profile that does not validate, and imports the rest', async () => {
    // The simulator, like Apple, takes an upper-case language; the config schema wants ISO 639 lower case.
    const odd = sim.portal.addDevices([{ device_family: 'AppleTV', os: 'tvOS', model: 'Apple TV' }]);
    const oddUuid = await defineElsewhere(sim, { profile_name: 'Lobby TV', url: 'https://mdm.example.com/enroll', language: 'EN' }, odd);
    const r = await ws.depctl(['import', 'config', '--server', 'main']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`profile ${oddUuid} was not imported: does not validate: .*language`));
    expect((await readdir(importDir())).sort()).toEqual(['classroom-ipads-2.yaml', 'classroom-ipads.yaml', 'staff-macs.yaml']);
    await ws.commit({}, 'import main');
    expect((await ws.depctl(['plan', 'config', '--detailed-exitcode'])).code).toBe(0);
  });

  it('adopts only the foreign profiles of a server depctl already manages in part', async () => {
    await ws.commit({
      'lab.yaml': `apiVersion: depctl/v1
kind: EnrollmentProfile
metadata: { name: lab }
spec:
  servers: [main]
  profile: { profile_name: Lab, url: https://mdm.example.com/enroll }
---
apiVersion: depctl/v1
kind: Assignment
metadata: { name: lab }
spec:
  profile: lab
  serials: [${loose[0]!.serial_number}]
`,
    });
    expect((await ws.depctl(['apply', 'config', '--yes'])).code).toBe(0);
    const labUuid = sim.inspect.device(loose[0]!.serial_number)?.profile_uuid;
    expect(labUuid).toMatch(/^[0-9A-F]{32}$/);
    sim.inspect.resetRequestCounts();
    const r = await ws.depctl(['import', 'config', '--server', 'main']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/Imported 3 profile\(s\)/);
    expect(r.stdout).toMatch(/1 device\(s\) carry profiles depctl already manages/);
    // Three GET /profile for the foreign UUIDs; depctl's own profile is not read back.
    expect(sim.inspect.requestCounts()['GET /profile']).toBe(3);
    await ws.commit({}, 'import main');
    expect((await ws.depctl(['plan', 'config', '--detailed-exitcode'])).code).toBe(0);
    expect(sim.inspect.device(loose[0]!.serial_number)?.profile_uuid).toBe(labUuid);
  });

  it('refuses an output directory the config loader would not read', async () => {
    const r = await ws.depctl(['import', 'config', '--server', 'main', '--out', '.imports']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/hidden directory/);
  });

  it('stops with Apple\'s message and writes nothing when the terms are not signed', async () => {
    sim.injectFaults({ termsNotSigned: true });
    const r = await ws.depctl(['import', 'config', '--server', 'main']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/terms/i);
    expect(r.stderr).toMatch(/nothing was written/);
    await expect(readdir(importDir())).rejects.toThrow(/ENOENT/);
  });

  it('fails on an unknown server', async () => {
    const r = await ws.depctl(['import', 'config', '--server', 'nope']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/MdmServer "nope" is not in config/);
  });
});
