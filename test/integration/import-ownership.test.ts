import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startSimulatorGroup } from '../../controller/sim/index.js';
import type { RunningSimulatorGroup, SimulatedServer } from '../../controller/sim/api.js';
import { startAbmSimulator, type RunningAbmSimulator } from '../../controller/sim/abm/index.js';
import type { Plan } from '../../controller/reconcile/plan.js';
import { insertSerialFile } from '../../controller/cli/import-ownership.js';
import { macRecords, makeWorkspace, type Workspace } from '../helpers/workspace.js';
import { organizationYaml } from '../helpers/ownership-yaml.js';

// Issue 15: `depctl import --server NAME` of a server that belongs to an Organization also declares the
// ownership Apple Business Manager has now (a serial file named by the server's devices.serialFiles), so the
// first plan after the import moves nothing; without it the plan would move them (lyon claims every Mac).

let group: RunningSimulatorGroup;
let abm: RunningAbmSimulator;
let ws: Workspace;
let serials: string[];

const files = (): Record<string, string> => ({
  'organization.yaml': organizationYaml(abm),
  'servers.yaml': `apiVersion: depctl/v1
kind: MdmServer
metadata: { name: paris }
spec:
  token: { file: paris/token.p7m }
  privateKey: { file: paris/key.pem }
  # the organization whose devices paris holds
  organization: acme
---
apiVersion: depctl/v1
kind: MdmServer
metadata: { name: lyon }
spec:
  token: { file: lyon/token.p7m }
  privateKey: { file: lyon/key.pem }
  organization: acme
  devices:
    productFamilies: [Mac]
`,
});

beforeEach(async () => {
  group = await startSimulatorGroup({ servers: [{ name: 'paris' }, { name: 'lyon' }] });
  const paris = group.servers.get('paris') as SimulatedServer;
  const lyon = group.servers.get('lyon') as SimulatedServer;
  serials = paris.portal.addDevices(macRecords(6)).map((d) => d.serial_number);
  abm = await startAbmSimulator({
    servers: [{ serverName: 'paris' }, { serverName: 'lyon' }],
    // Five Macs on paris, one on lyon already.
    orgDevices: serials.map((serialNumber, i) => ({ serialNumber, serverName: i < 5 ? 'paris' : 'lyon', attributes: { productFamily: 'Mac' } })),
  });
  ws = await makeWorkspace(group.url);
  ws.env['DEPCTL_ALLOW_DEP_HOSTS'] = new URL(abm.url).host;
  await ws.addServerSecrets('paris', paris.token);
  await ws.addServerSecrets('lyon', lyon.token);
  await mkdir(join(ws.secretsDir, 'abm'), { recursive: true });
  await writeFile(join(ws.secretsDir, 'abm', 'key.pem'), abm.account.privateKeyPem, { mode: 0o600 });
});

afterEach(async () => {
  await abm?.close();
  await group?.close();
  await ws?.cleanup();
});

describe('depctl import with an Organization (issue 15)', () => {
  it('writes the serials ABM has on the server and names the file in its devices, so the next plan moves nothing', async () => {
    await ws.commit(files());
    const before = JSON.parse((await ws.depctl(['plan', '--format', 'json', 'config'])).stdout) as Plan;
    expect(before.organizations?.[0]?.changeCount).toBe(5);

    const imported = await ws.depctl(['import', '--server', 'paris', 'config']);
    expect(imported.code, imported.stderr).toBe(0);
    expect(imported.stdout).toContain('Ownership: 5 device(s) on "paris" written to imported/paris/ownership.txt.');
    expect(imported.stdout).toContain('MdmServer "paris" (servers.yaml) now lists it in spec.devices.serialFiles.');
    const list = await readFile(join(ws.configDir, 'imported', 'paris', 'ownership.txt'), 'utf8');
    expect(list.split('\n').filter((l) => l !== '' && !l.startsWith('#'))).toEqual([...serials.slice(0, 5)].sort());
    const yaml = await readFile(join(ws.configDir, 'servers.yaml'), 'utf8');
    expect(yaml).toContain('  # the organization whose devices paris holds\n  organization: acme\n  devices: { serialFiles: [imported/paris/ownership.txt] }\n---');

    expect((await ws.depctl(['validate', 'config'])).code).toBe(0);
    const after = JSON.parse((await ws.depctl(['plan', '--format', 'json', 'config'])).stdout) as Plan;
    expect(after.organizations?.[0]).toMatchObject({ changeCount: 0, moves: [], assigns: [], error: null });

    // Importing again finds them declared and writes nothing (the YAML stays as it is).
    const again = await ws.depctl(['import', '--server', 'paris', '--force', 'config']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain('Ownership: the 5 device(s) on "paris" are already declared; nothing written.');
    expect(await readFile(join(ws.configDir, 'servers.yaml'), 'utf8')).toBe(yaml);
  });
});

describe('depctl import with an Organization: loses nothing (issue 15)', () => {
  it('refuses to overwrite an ownership file it did not write this time, and leaves the MdmServer YAML alone', async () => {
    await ws.commit({ ...files(), 'imported/paris/ownership.txt': '# kept by hand\nC02KEEPME\n' });
    const yaml = await readFile(join(ws.configDir, 'servers.yaml'), 'utf8');
    const r = await ws.depctl(['import', '--server', 'paris', 'config']);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('Ownership not imported: refusing to overwrite imported/paris/ownership.txt; pass --force to replace a previous import');
    expect(await readFile(join(ws.configDir, 'imported', 'paris', 'ownership.txt'), 'utf8')).toBe('# kept by hand\nC02KEEPME\n');
    expect(await readFile(join(ws.configDir, 'servers.yaml'), 'utf8')).toBe(yaml);
  });
});

describe('insertSerialFile', () => {
  const doc = 'kind: MdmServer\nspec:\n  token: { file: t }\n  organization: acme\n  abmServerName: X\n---\nkind: MdmServer\n';
  it('adds a devices line after a block-style organization line', () => {
    expect(insertSerialFile(doc, 4, 3, 'imported/a/ownership.txt')).toBe('kind: MdmServer\nspec:\n  token: { file: t }\n  organization: acme\n  devices: { serialFiles: [imported/a/ownership.txt] }\n  abmServerName: X\n---\nkind: MdmServer\n');
  });
  it('refuses where a line cannot be added safely: devices already there (before or after), a flow mapping, a wrong location', () => {
    expect(insertSerialFile('spec:\n  organization: acme\n  devices:\n    serials: [A]\n', 2, 3, 'f.txt')).toBeNull();
    expect(insertSerialFile('spec:\n  devices: { serials: [A] }\n  organization: acme\n', 3, 3, 'f.txt')).toBeNull();
    expect(insertSerialFile('spec: { organization: acme, token: { file: t } }\n', 1, 9, 'f.txt')).toBeNull();
    expect(insertSerialFile(doc, 3, 3, 'f.txt')).toBeNull();
  });
});
