import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Agent, request } from 'undici';
import { runCli } from '../../controller/cli/program.js';
import type { CliIo } from '../../controller/cli/io.js';
import { startSimGroupCommand, type StartedSimGroup } from '../../controller/cli/sim-group.js';
import { createAbmClient, type AbmClient } from '../../controller/abm/index.js';
import { loadConfig } from '../../controller/config/load.js';
import { defaultTrustPolicy, readSecretRef } from '../../controller/config/trust.js';
import { createDepClient, type DepClient } from '../../controller/dep/client.js';
import type { Organization } from '../../controller/config/types.js';

// `depctl sim --servers … --abm` (issue 15): the Business API simulator of the DEP group's organisation, driven
// with the real Business API client from the files the command writes, and its moves seen by the real DEP client.

let dir: string;
let started: StartedSimGroup | undefined;
let agent: Agent;
const clients: { close(): Promise<void> }[] = [];

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'depctl-sim-abm-'));
  agent = new Agent();
});
afterEach(async () => {
  for (const c of clients.splice(0)) await c.close();
  await started?.stop();
  started = undefined;
  await agent.close();
  await rm(dir, { recursive: true, force: true });
});

function depClient(name: string): DepClient {
  const group = started?.group;
  const server = group?.servers.get(name);
  if (!group || !server) throw new Error('not started');
  const c = createDepClient({ baseUrl: group.url, token: server.token, dispatcher: agent });
  clients.push(c);
  return c;
}

/** Serials a DEP server holds, and the cursor after fetching them all. */
async function fetchAll(c: DepClient): Promise<{ serials: string[]; cursor: string }> {
  const serials: string[] = [];
  let cursor = '';
  for await (const page of c.fetchAllDevices({ limit: 1000 })) {
    serials.push(...page.devices.map((d) => d.serial_number));
    cursor = page.cursor ?? cursor;
  }
  return { serials, cursor };
}

/**
 * The Organization the command wrote, loaded as depctl loads a config (the out directory as secrets
 * directory, the simulator's host allowed), and an API client built from that typed model.
 */
async function clientFromWrittenFiles(outDir: string): Promise<{ org: Organization; client: AbmClient }> {
  const abm = started?.abm;
  if (!abm?.files) throw new Error('no files written');
  const configDir = path.join(dir, 'org-config');
  await mkdir(configDir, { recursive: true });
  await writeFile(path.join(configDir, 'organization.yaml'), await readFile(abm.files.organizationPath, 'utf8'));
  const trust = { ...defaultTrustPolicy(outDir), depHosts: [new URL(abm.sim.url).host] };
  const loaded = await loadConfig(configDir, { secretsDir: outDir, trust });
  expect(loaded.problems).toEqual([]);
  const org = loaded.config?.organizations?.[0];
  if (!org) throw new Error('no organization');
  const privateKeyPem = (await readSecretRef(org.privateKey, trust, {}, 'privateKey')).toString('utf8');
  const client = createAbmClient({
    credentials: { clientId: org.clientId, keyId: org.keyId, privateKeyPem, scope: org.scope, apiUrl: org.apiUrl, tokenUrl: org.tokenUrl },
    dispatcher: agent,
    now: () => abm.sim.inspect.now(),
  });
  clients.push(client);
  return { org, client };
}

describe('depctl sim --abm', () => {
  it('serves the DEP fleet in the Business API; an ASSIGN_DEVICES activity moves devices in the DEP syncs', async () => {
    started = await startSimGroupCommand({ listen: '127.0.0.1:0', devices: 6, seed: 3, servers: ['jamf', 'intune'], out: 'secrets', cwd: dir, abm: { listen: '127.0.0.1:0' } });
    const abm = started.abm;
    if (!abm) throw new Error('no abm');
    const outDir = path.join(dir, 'secrets');
    // The account as Apple hands it out: the private key (0600) and the IDs the portal shows.
    expect((await stat(path.join(outDir, 'abm-api-account.pem'))).mode & 0o777).toBe(0o600);
    const account = JSON.parse(await readFile(path.join(outDir, 'abm-api-account.json'), 'utf8')) as { clientId: string; keyId: string; scope: string };
    expect(account).toEqual({ clientId: abm.sim.account.clientId, keyId: abm.sim.account.keyId, scope: 'business' });

    const { org, client } = await clientFromWrittenFiles(outDir);
    expect(org).toMatchObject({ clientId: account.clientId, keyId: account.keyId, apiUrl: abm.sim.apiUrl, tokenUrl: abm.sim.tokenUrl });

    // The servers are the group's, and every device of the DEP fleet is in the organisation on its server.
    const servers = await client.listMdmServers();
    expect(servers.map((s) => s.attributes.serverName)).toEqual(['jamf', 'intune']);
    const idOf = (name: string): string => servers.find((s) => s.attributes.serverName === name)?.id ?? '';
    const jamf = depClient('jamf');
    const intune = depClient('intune');
    const before = { jamf: await fetchAll(jamf), intune: await fetchAll(intune) };
    expect(before.jamf.serials).toHaveLength(6);
    const orgDevices: { serial: string; family: unknown }[] = [];
    for await (const d of client.listOrgDevices()) orgDevices.push({ serial: d.id, family: d.attributes.productFamily });
    expect(orgDevices.map((d) => d.serial).sort()).toEqual([...before.jamf.serials, ...before.intune.serials].sort());
    expect(await client.getAssignedServer(before.jamf.serials[0] as string)).toBe(idOf('jamf'));
    expect(await client.getAssignedServer(before.intune.serials[0] as string)).toBe(idOf('intune'));
    expect(orgDevices.every((d) => typeof d.family === 'string')).toBe(true);

    // Three of jamf's devices go to intune.
    const moved = before.jamf.serials.slice(0, 3);
    const activity = await client.createActivity({ type: 'ASSIGN_DEVICES', serverId: idOf('intune'), serials: moved });
    const final = await client.waitForActivity(activity.id, { intervalMs: 1000, sleep: async (ms) => abm.sim.advanceClock(ms) });
    expect(final.subStatus).toBe('COMPLETED_WITH_SUCCESS');

    const syncJamf = await jamf.syncDevices({ cursor: before.jamf.cursor });
    expect(syncJamf.devices.map((d) => [d.serial_number, d.op_type]).sort()).toEqual(moved.map((s) => [s, 'deleted']).sort());
    const syncIntune = await intune.syncDevices({ cursor: before.intune.cursor });
    expect(syncIntune.devices.map((d) => [d.serial_number, d.op_type]).sort()).toEqual(moved.map((s) => [s, 'added']).sort());
    expect((await fetchAll(intune)).serials).toHaveLength(9);
    expect(await client.getAssignedServer(moved[0] as string)).toBe(idOf('intune'));
  });

  it('takes the config’s scope, names the servers after abmServerName and adds listed serials no DEP server holds', async () => {
    const config = path.join(dir, 'config');
    await mkdir(config, { recursive: true });
    const server = (name: string, extra: string): string => `apiVersion: depctl/v1\nkind: MdmServer\nmetadata: { name: ${name} }\nspec:\n  token: { file: ${name}/token.p7m }\n  privateKey: { file: ${name}/key.pem }\n${extra}`;
    await writeFile(
      path.join(config, 'servers.yaml'),
      `apiVersion: depctl/v1\nkind: Organization\nmetadata: { name: acme }\nspec:\n  scope: school\n  clientId: SCHOOLAPI.1\n  keyId: k\n  privateKey: { file: abm-api-account.pem }\n---\n` +
        server('paris', '  organization: acme\n  abmServerName: Paris MDM\n  devices:\n    serials: [C02NEWDEVICE1]\n') +
        '---\n' +
        server('lyon', '  organization: acme\n'),
    );
    started = await startSimGroupCommand({ listen: '127.0.0.1:0', devices: 2, config: 'config', out: 'secrets', cwd: dir, abm: { listen: '127.0.0.1:0' } });
    const abm = started.abm;
    if (!abm?.files) throw new Error('no abm');
    expect(await readFile(abm.files.organizationPath, 'utf8')).toMatch(/^metadata: \{ name: acme \}\nspec:\n {2}scope: school\n {2}clientId: SCHOOLAPI\./m);
    const { client } = await clientFromWrittenFiles(path.join(dir, 'secrets'));
    expect((await client.listMdmServers()).map((s) => s.attributes.serverName)).toEqual(['Paris MDM', 'lyon']);
    expect(abm.sim.inspect.deviceCount()).toBe(5);
    expect(await client.getAssignedServer('C02NEWDEVICE1')).toBeNull();
  });

  it('runs from the command line: prints the Business API URL, the host to allow and the Organization, then stops', async () => {
    const ac = new AbortController();
    let out = '';
    let announce: () => void = () => {};
    const announced = new Promise<void>((resolve) => (announce = resolve));
    const io: CliIo = {
      stdout: (s) => {
        out += s;
        if (/Stop with Ctrl-C/.test(out)) announce();
      },
      stderr: (s) => (out += s),
      env: {},
      cwd: dir,
      signal: ac.signal,
    };
    const exit = runCli(['sim', '--listen', '127.0.0.1:0', '--servers', 'north,south', '--devices', '2', '--abm', '--abm-listen', '127.0.0.1:0', '--out', 'secrets'], io);
    await announced;
    const url = /^Apple Business API simulator listening on (\S+) \(4 devices, 2 MDM servers/m.exec(out)?.[1];
    expect(url).toBeDefined();
    expect(out).toContain(`DEPCTL_ALLOW_DEP_HOSTS=${new URL(url as string).host}\n`);
    expect(out).toMatch(/^ {2}kind: Organization$/m);
    expect(out).toContain(`  apiUrl: ${url}\n`);
    expect(out).toContain(path.join(dir, 'secrets', 'abm-api-account.pem'));
    const res = await request(`${url}/v1/orgDevices`, { dispatcher: agent });
    expect(res.statusCode).toBe(401);
    await res.body.text();
    ac.abort();
    expect(await exit).toBe(0);
    expect(out).toMatch(/DEP and Business API simulators stopped\./);
    await expect(request(`${url}/v1/orgDevices`)).rejects.toThrow();
  });

  it('exits 2 when --abm has no servers to move devices between, or the scope is unknown', async () => {
    let err = '';
    const io: CliIo = { stdout: () => {}, stderr: (s) => (err += s), env: {}, cwd: dir, signal: AbortSignal.abort() };
    expect(await runCli(['sim', '--listen', '127.0.0.1:0', '--abm'], io)).toBe(2);
    expect(err).toMatch(/--abm needs --servers or --config/);
    expect(await runCli(['sim', '--listen', '127.0.0.1:0', '--servers', 'a,b', '--abm', '--abm-scope', 'college'], io)).toBe(2);
    expect(err).toMatch(/--abm-scope must be business or school/);
  });
});
