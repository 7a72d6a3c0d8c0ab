import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Plan } from '../../controller/reconcile/plan.js';
import { startSimulatorGroup } from '../../controller/sim/index.js';
import type { RunningSimulatorGroup, SimulatedServer } from '../../controller/sim/api.js';
import { startAbmSimulator, type RunningAbmSimulator } from '../../controller/sim/abm/index.js';
import { git } from '../helpers/git.js';
import { macRecords, makeWorkspace, type Workspace } from '../helpers/workspace.js';
import { organizationYaml } from '../helpers/ownership-yaml.js';

// `depctl plan --untrusted` of a pull request (issue 15 + 18): an Organization is connected only as the trusted
// revision defines its API account and hosts. A pull request that changes them gets "planned after merge only"
// and the Business API it names sees no request (not even a token request); one that changes only which
// devices a server owns is planned with the trusted credentials.

let group: RunningSimulatorGroup;
let trustedAbm: RunningAbmSimulator;
let prAbm: RunningAbmSimulator;
let ws: Workspace;
let serials: string[];

function files(abm: RunningAbmSimulator, keyFile: string, owned: readonly string[]): Record<string, string> {
  return {
    'organization.yaml': organizationYaml(abm, { keyFile }),
    'servers.yaml': ['paris', 'lyon'].map((n) => `apiVersion: depctl/v1
kind: MdmServer
metadata: { name: ${n} }
spec:
  token: { file: ${n}/token.p7m }
  privateKey: { file: ${n}/key.pem }
  organization: acme
${n === 'lyon' && owned.length > 0 ? `  devices:\n    serials: [${owned.join(', ')}]\n` : ''}`).join('---\n'),
  };
}

beforeEach(async () => {
  group = await startSimulatorGroup({ servers: [{ name: 'paris' }, { name: 'lyon' }] });
  const paris = group.servers.get('paris') as SimulatedServer;
  serials = paris.portal.addDevices(macRecords(3)).map((d) => d.serial_number);
  const orgDevices = serials.map((serialNumber) => ({ serialNumber, serverName: 'paris' }));
  trustedAbm = await startAbmSimulator({ servers: [{ serverName: 'paris' }, { serverName: 'lyon' }], orgDevices });
  prAbm = await startAbmSimulator({ servers: [{ serverName: 'paris' }, { serverName: 'lyon' }], orgDevices });
  ws = await makeWorkspace(group.url);
  ws.env['DEPCTL_ALLOW_DEP_HOSTS'] = `${new URL(trustedAbm.url).host},${new URL(prAbm.url).host}`;
  await ws.addServerSecrets('paris', paris.token);
  await ws.addServerSecrets('lyon', (group.servers.get('lyon') as SimulatedServer).token);
  await mkdir(join(ws.secretsDir, 'abm'), { recursive: true });
  await writeFile(join(ws.secretsDir, 'abm', 'trusted.pem'), trustedAbm.account.privateKeyPem, { mode: 0o600 });
  await writeFile(join(ws.secretsDir, 'abm', 'pr.pem'), prAbm.account.privateKeyPem, { mode: 0o600 });
  await ws.commit(files(trustedAbm, 'abm/trusted.pem', []));
  git(ws.configDir, 'checkout', '-q', '-b', 'pr');
});

afterEach(async () => {
  await ws.cleanup();
  await trustedAbm.close();
  await prAbm.close();
  await group.close();
});

describe('depctl plan --untrusted with an Organization', () => {
  it('plans device moves of a pull request with the trusted API account', async () => {
    await ws.commit(files(trustedAbm, 'abm/trusted.pem', serials));
    const r = await ws.depctl(['plan', 'config', '--untrusted', '--trusted-ref', 'main', '--format', 'json']);
    expect(r.stderr).toBe('');
    const plan = JSON.parse(r.stdout) as Plan;
    expect(plan.organizations?.[0]).toMatchObject({ organization: 'acme', error: null, changeCount: 3 });
    expect(plan.organizations?.[0]?.moves.map((m) => [m.from?.server, m.to.server])).toEqual([['paris', 'lyon']]);
    expect(trustedAbm.inspect.tokensIssued()).toBe(1);
  });

  it('a pull request that adds a server: its certificate is looked for only where the trusted revision names the same key', async () => {
    // The key pair of the new server is in the secrets directory (keys generate), but the PR chooses the path.
    expect((await ws.depctl(['keys', 'generate', '--out', join(ws.secretsDir, 'nice')])).code).toBe(0);
    const added = `${files(trustedAbm, 'abm/trusted.pem', [])['servers.yaml']}---
apiVersion: depctl/v1
kind: MdmServer
metadata: { name: nice }
spec:
  token: { file: nice/token.p7m }
  privateKey: { file: nice/depctl-key.pem }
  organization: acme
  abmServerName: Nice Macs
`;
    await ws.commit({ 'servers.yaml': added });
    const r = await ws.depctl(['plan', 'config', '--untrusted', '--trusted-ref', 'main', '--format', 'json']);
    const plan = JSON.parse(r.stdout) as Plan;
    expect(plan.organizations?.[0]?.serverChanges).toEqual([]);
    expect(plan.organizations?.[0]?.problems.map((p) => p.message).join('\n')).toContain('depctl cannot create it: its privateKey is new or changed in this unmerged revision, so its certificate is looked for after merge only');
    expect(trustedAbm.inspect.requestCounts()['POST /v1/mdmServers'] ?? 0).toBe(0);
    // Once merged, the trusted plan creates it.
    git(ws.configDir, 'checkout', '-q', 'main');
    git(ws.configDir, 'merge', '-q', 'pr');
    const merged = JSON.parse((await ws.depctl(['plan', 'config', '--format', 'json'])).stdout) as Plan;
    expect(merged.organizations?.[0]?.serverChanges?.map((c) => [c.action, c.server])).toEqual([['create', 'nice']]);
  });

  it('a pull request that changes the API account and hosts is planned after merge only, with no request to them', async () => {
    await ws.commit(files(prAbm, 'abm/pr.pem', serials));
    const r = await ws.depctl(['plan', 'config', '--untrusted', '--trusted-ref', 'main', '--format', 'json']);
    const plan = JSON.parse(r.stdout) as Plan;
    const org = plan.organizations?.[0];
    expect(org?.changeCount).toBe(0);
    expect(org?.error).toMatch(/^Organization "acme": credential or endpoint change: planned after merge only \(clientId, keyId, apiUrl, tokenUrl, privateKey differ from the trusted revision\)$/);
    expect(prAbm.inspect.requestCounts()).toEqual({});
    expect(trustedAbm.inspect.requestCounts()).toEqual({});
    // Not a failure of the pull request: the DEP servers are planned as usual.
    expect(r.code).toBe(0);
  });
});
