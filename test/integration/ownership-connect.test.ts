import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { OrganizationClientPool, connectOrganizations, organizationCredentialChange } from '../../controller/cli/organizations.js';
import type { CliIo } from '../../controller/cli/io.js';
import type { RuntimeSettings } from '../../controller/cli/runtime.js';
import type { Organization } from '../../controller/config/types.js';
import { defaultTrustPolicy } from '../../controller/config/trust.js';
import { generateApiAccount, startAbmSimulator, type RunningAbmSimulator } from '../../controller/sim/abm/index.js';

// How `plan`, `apply` and `run` connect an Organization (issue 15): the key through its SecretRef under the
// trust policy, the hosts checked again, errors that name no secret, and (run) clients kept across passes.

let dir: string;
let sim: RunningAbmSimulator;
let settings: RuntimeSettings;
const io: CliIo = { stdout: () => {}, stderr: () => {}, env: {}, cwd: '/' };

function org(extra: Partial<Organization> = {}): Organization {
  return {
    name: 'acme', scope: 'business', clientId: sim.account.clientId, keyId: sim.account.keyId, privateKey: { file: 'abm.pem' },
    apiUrl: sim.apiUrl, tokenUrl: sim.tokenUrl, driftPolicy: 'correct', unclaimedDevices: 'ignore', source: { file: 'o.yaml', line: 1, column: 1 }, ...extra,
  };
}

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'depctl-org-connect-'));
  sim = await startAbmSimulator({ servers: [{ serverName: 'paris' }] });
  await writeFile(path.join(dir, 'abm.pem'), sim.account.privateKeyPem, { mode: 0o600 });
  settings = { stateUrl: 'memory:', secretsDir: dir, depUrlOverride: undefined, trust: { ...defaultTrustPolicy(dir), depHosts: [new URL(sim.url).host] } };
});
afterEach(async () => {
  await sim.close();
  await rm(dir, { recursive: true, force: true });
});

describe('connectOrganizations', () => {
  it('refuses a host the operator did not allow and a key outside the secrets directory, naming no secret', async () => {
    const conns = await connectOrganizations([org(), org({ name: 'far', apiUrl: 'https://example.net/v1' }), org({ name: 'out', privateKey: { file: '../x.pem' } })], { ...settings }, io);
    try {
      expect(conns.handles.map((h) => [h.organization.name, h.client === null])).toEqual([['acme', false], ['far', true], ['out', true]]);
      expect(conns.handles[1]?.error).toMatch(/^Organization "far": apiUrl host example\.net is not Apple's/);
      expect(conns.handles[2]?.error).toMatch(/^Organization "out": privateKey: /);
      for (const h of conns.handles) expect(h.error ?? '').not.toContain('PRIVATE KEY');
      expect((await conns.handles[0]?.client?.listMdmServers())?.map((s) => s.serverName)).toEqual(['paris']);
    } finally {
      await conns.close();
    }
  });

  it('a pool keeps one client (one access token) across passes and replaces it when the key changes', async () => {
    const pool = new OrganizationClientPool();
    try {
      for (let pass = 0; pass < 3; pass++) {
        const conns = await connectOrganizations([org()], settings, io, { pool });
        await conns.handles[0]?.client?.listMdmServers();
        await conns.close();
      }
      expect(sim.inspect.tokensIssued()).toBe(1);
      // A renewed key (another account's, which the simulator refuses) gets a new client, which asks for a token.
      await writeFile(path.join(dir, 'abm.pem'), generateApiAccount('business').privateKeyPem, { mode: 0o600 });
      const conns = await connectOrganizations([org()], settings, io, { pool });
      await expect(conns.handles[0]?.client?.listMdmServers()).rejects.toThrow();
      expect(sim.inspect.tokensIssued()).toBe(1);
    } finally {
      await pool.close();
    }
  });

  it('an unmerged revision may use an Organization only when its account and hosts are the trusted ones', () => {
    const trusted = org();
    expect(organizationCredentialChange(trusted, { ...trusted, maxChanges: 5, driftPolicy: 'report' })).toBeNull();
    expect(organizationCredentialChange(undefined, trusted)).toMatch(/^new Organization/);
    expect(organizationCredentialChange(trusted, { ...trusted, privateKey: { env: 'DEPCTL_ABM_KEY' } })).toMatch(/\(privateKey differ/);
    expect(organizationCredentialChange(trusted, { ...trusted, apiUrl: 'https://api-business.apple.com/v1' })).toMatch(/\(apiUrl differ/);
  });
});
