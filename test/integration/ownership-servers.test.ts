import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createAbmClient, type AbmClient } from '../../controller/abm/index.js';
import type { Plan } from '../../controller/reconcile/plan.js';
import { startSimulatorGroup } from '../../controller/sim/index.js';
import type { RunningSimulatorGroup, SimulatedServer } from '../../controller/sim/api.js';
import { startAbmSimulator, type RunningAbmSimulator } from '../../controller/sim/abm/index.js';
import { openStore } from '../../controller/store/open-store.js';
import { macRecords, makeWorkspace, type Workspace } from '../helpers/workspace.js';
import { organizationYaml } from '../helpers/ownership-yaml.js';

// Issue 15, the MDM servers themselves (API 2.1+), against the Business API simulator: a declared server Apple
// does not have is created from the certificate `depctl keys generate` wrote next to its key (the plan shows
// the create, apply POSTs /v1/mdmServers and tells the admin to download the token), its devices move on the
// next pass, a changed abmServerName renames the server by the id depctl knows (PATCH, never a second server),
// enableMdmDisownFlag is kept in line, and a server no MdmServer declares is reported, never deleted.

let group: RunningSimulatorGroup;
let abm: RunningAbmSimulator;
let ws: Workspace;
let client: AbmClient;
let serials: string[];

function config(opts: { niceName: string; parisName?: string; niceKey?: string }): Record<string, string> {
  return {
    'organization.yaml': organizationYaml(abm),
    'servers.yaml': `apiVersion: depctl/v1
kind: MdmServer
metadata: { name: paris }
spec:
  token: { file: paris/token.p7m }
  privateKey: { file: paris/key.pem }
  organization: acme
  abmServerName: ${opts.parisName ?? 'paris'}
  enableMdmDisownFlag: true
---
apiVersion: depctl/v1
kind: MdmServer
metadata: { name: nice }
spec:
  token: { file: nice/token.p7m }
  privateKey: { file: ${opts.niceKey ?? 'nice/depctl-key.pem'} }
  organization: acme
  abmServerName: ${opts.niceName}
  devices:
    serials: [${serials.slice(0, 3).join(', ')}]
`,
  };
}

const count = (key: string): number => abm.inspect.requestCounts()[key] ?? 0;

async function servers(): Promise<{ id: string; serverName: string; flag: boolean | undefined }[]> {
  return (await client.listMdmServers()).map((s) => ({ id: s.id, serverName: s.serverName, flag: s.enableMdmDisownFlag })).sort((a, b) => a.serverName.localeCompare(b.serverName));
}

beforeEach(async () => {
  group = await startSimulatorGroup({ servers: [{ name: 'paris' }] });
  const paris = group.servers.get('paris') as SimulatedServer;
  serials = paris.portal.addDevices(macRecords(5)).map((d) => d.serial_number);
  abm = await startAbmSimulator({
    servers: [{ serverName: 'paris' }, { serverName: 'Old MDM' }, { serverName: 'Apple Configurator', serverType: 'APPLE_CONFIGURATOR' }],
    orgDevices: serials.map((serialNumber) => ({ serialNumber, serverName: 'paris', attributes: { productFamily: 'Mac' } })),
  });
  client = createAbmClient({ credentials: { clientId: abm.account.clientId, keyId: abm.account.keyId, privateKeyPem: abm.account.privateKeyPem, scope: 'business', apiUrl: abm.apiUrl, tokenUrl: abm.tokenUrl } });
  ws = await makeWorkspace(group.url);
  ws.env['DEPCTL_ALLOW_DEP_HOSTS'] = new URL(abm.url).host;
  await ws.addServerSecrets('paris', paris.token);
  await mkdir(join(ws.secretsDir, 'abm'), { recursive: true });
  await writeFile(join(ws.secretsDir, 'abm', 'key.pem'), abm.account.privateKeyPem, { mode: 0o600 });
});

afterEach(async () => {
  await client?.close();
  await abm?.close();
  await group?.close();
  await ws?.cleanup();
});

describe('MDM servers as code (issue 15, API 2.1+)', () => {
  it('creates a missing server from its certificate, moves its devices on the next pass, renames it by id, keeps the flag in line, reports undeclared servers', async () => {
    // The admin's step for a new server: a key and its certificate in the server's secrets directory.
    const keys = await ws.depctl(['keys', 'generate', '--out', join(ws.secretsDir, 'nice')]);
    expect(keys.code, keys.stderr).toBe(0);
    await ws.commit(config({ niceName: 'Nice Macs' }));

    const plan = await ws.depctl(['plan', 'config']);
    expect(plan.stdout).toContain('Organization acme: create MDM server "Nice Macs" for nice; then download its token once in Apple Business Manager (Preferences > your MDM server > Download Token) and put it where spec.token points (file nice/token.p7m)');
    expect(plan.stdout).toMatch(/Organization acme: update MDM server paris \(\S+\): enableMdmDisownFlag false → true/);
    expect(plan.stdout).toMatch(/drift: 1 MDM server no MdmServer declares \(reported, never deleted\): "Old MDM" \(\S+\)/);
    expect(plan.stdout).not.toContain('Apple Configurator');
    const json = JSON.parse((await ws.depctl(['plan', '--format', 'json', 'config'])).stdout) as Plan;
    expect(json.organizations?.[0]?.serverChanges?.map((c) => [c.action, c.server, c.abmServerName])).toEqual([['update', 'paris', 'paris'], ['create', 'nice', 'Nice Macs']]);
    expect(json.organizations?.[0]?.undeclaredServers?.map((s) => s.serverName)).toEqual(['Old MDM']);
    expect(count('POST /v1/mdmServers')).toBe(0);

    // nice has no DEP token yet, so the pass as a whole is not clean (exit 1); the ABM side is done.
    const first = await ws.depctl(['apply', '--yes', 'config']);
    expect(first.stdout).toMatch(/Organization acme: created MDM server "Nice Macs" \(\S+\) for nice\. Download its server token once in Apple Business Manager or Apple School Manager \(Preferences > your MDM server > Download Token\) and put it where spec.token points \(file nice\/token.p7m\)/);
    expect(count('POST /v1/mdmServers')).toBe(1);
    expect(count('PATCH /v1/mdmServers/{id}')).toBe(1);
    const afterCreate = await servers();
    expect(afterCreate.map((s) => [s.serverName, s.flag])).toEqual([['Apple Configurator', false], ['Nice Macs', false], ['Old MDM', false], ['paris', true]]);
    const niceId = afterCreate.find((s) => s.serverName === 'Nice Macs')?.id as string;

    // The next pass moves nice's devices to the server it created; nothing is created again.
    const second = await ws.depctl(['apply', '--yes', 'config']);
    expect(second.stdout).toContain('Organization acme: move 3 devices paris → nice');
    expect(count('POST /v1/orgDeviceActivities')).toBe(1);
    expect(count('POST /v1/mdmServers')).toBe(1);

    // A new abmServerName renames the server by the id depctl recorded at the create (PATCH), and paris's by
    // the id depctl saw: no second server is created, and nothing moves.
    await ws.commit(config({ niceName: 'Nice Classroom', parisName: 'Paris Staff' }));
    const renamePlan = await ws.depctl(['plan', 'config']);
    expect(renamePlan.stdout).toContain(`Organization acme: update MDM server nice (${niceId}): rename "Nice Macs" → "Nice Classroom"`);
    expect(renamePlan.stdout).toMatch(/Organization acme: update MDM server paris \(\S+\): rename "paris" → "Paris Staff"/);
    expect(renamePlan.stdout).not.toContain('create MDM server');
    await ws.depctl(['apply', '--yes', 'config']);
    expect(count('POST /v1/mdmServers')).toBe(1);
    const renamed = await servers();
    expect(renamed.map((s) => s.serverName)).toEqual(['Apple Configurator', 'Nice Classroom', 'Old MDM', 'Paris Staff']);
    expect(renamed.find((s) => s.serverName === 'Nice Classroom')?.id).toBe(niceId);
    // Undeclared servers are never deleted.
    expect(count('DELETE /v1/mdmServers/{id}')).toBe(0);
    const after = await ws.depctl(['plan', 'config']);
    expect(after.stdout).not.toMatch(/update MDM server|create MDM server/);

    const store = await openStore(`sqlite:${ws.statePath}`);
    try {
      const rows = await store.listActivities('acme', { open: false });
      expect(rows.filter((r) => r.type === 'CREATE_SERVER').map((r) => [r.serverName, r.serverId])).toEqual([['nice', niceId]]);
    } finally {
      await store.close();
    }
  });

  it('without a certificate next to the key the missing server stays an error and nothing is created', async () => {
    await mkdir(join(ws.secretsDir, 'nice'), { recursive: true });
    await writeFile(join(ws.secretsDir, 'nice', 'key.pem'), abm.account.privateKeyPem, { mode: 0o600 });
    await ws.commit(config({ niceName: 'Nice Macs', niceKey: 'nice/key.pem' }));
    const plan = await ws.depctl(['plan', 'config']);
    expect(plan.code).toBe(1);
    expect(plan.stdout).toContain('organization acme has no MDM server named "Nice Macs"; create it in Apple Business Manager');
    expect(plan.stdout).not.toContain('create MDM server');
    await ws.depctl(['apply', '--yes', 'config']);
    expect(count('POST /v1/mdmServers')).toBe(0);
  });

  it('a certificate of another key is refused with the reason, and nothing is created', async () => {
    expect((await ws.depctl(['keys', 'generate', '--out', join(ws.secretsDir, 'nice')])).code).toBe(0);
    // The key the MdmServer names is another one than the certificate's.
    await writeFile(join(ws.secretsDir, 'nice', 'other.pem'), abm.account.privateKeyPem, { mode: 0o600 });
    await writeFile(join(ws.secretsDir, 'nice', 'other.cert.pem'), await (await import('node:fs/promises')).readFile(join(ws.secretsDir, 'nice', 'depctl-cert.pem')));
    await ws.commit(config({ niceName: 'Nice Macs', niceKey: 'nice/other.pem' }));
    const plan = await ws.depctl(['plan', 'config']);
    expect(plan.stdout).toContain('depctl cannot create it: nice/other.cert.pem is not the certificate of the key nice/other.pem');
    await ws.depctl(['apply', '--yes', 'config']);
    expect(count('POST /v1/mdmServers')).toBe(0);
  });
});
