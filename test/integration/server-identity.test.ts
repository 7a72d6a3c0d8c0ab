import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { request } from 'undici';
import { startSimulatorGroup } from '../../controller/sim/index.js';
import type { RunningSimulatorGroup, SimulatedServer } from '../../controller/sim/api.js';
import type { Device } from '../../controller/dep/types.js';
import type { Plan } from '../../controller/reconcile/plan.js';
import type { ControllerStatus } from '../../controller/reconcile/status.js';
import { startController, type RunningController } from '../../controller/cli/run.js';
import type { AdoptSpec } from '../../controller/reconcile/identity.js';
import type { CliIo } from '../../controller/cli/io.js';
import { createLogger } from '../../controller/util/logger.js';
import { openStore } from '../../controller/store/index.js';
import { git } from '../helpers/git.js';
import { makeWorkspace, type Workspace } from '../helpers/workspace.js';

/** paris clears the profile of every device no assignment names: the setting a swapped token must not reach. */
const config = {
  'servers.yaml': `apiVersion: depctl/v1
kind: MdmServer
metadata: { name: paris }
spec:
  token: { file: paris/token.p7m }
  privateKey: { file: paris/key.pem }
  unassignedDevices: remove
`,
  'profiles.yaml': `apiVersion: depctl/v1
kind: EnrollmentProfile
metadata: { name: ipads }
spec:
  servers: [paris]
  profile:
    profile_name: Classroom iPads
    url: https://mdm.example.com/enroll
    is_supervised: true
`,
  'assignments.yaml': `apiVersion: depctl/v1
kind: Assignment
metadata: { name: all-ipads }
spec:
  profile: ipads
  match: { device_family: [iPad] }
`,
};

const FOREIGN = 'F0F0F0F0F0F0F0F0F0F0F0F0F0F0F0F0';

/** Calls other than GET /session and GET /account: anything that reads devices or writes. */
function deviceCalls(s: SimulatedServer): Record<string, number> {
  return Object.fromEntries(Object.entries(s.inspect.requestCounts()).filter(([k]) => k !== 'GET /session' && k !== 'GET /account'));
}

describe('server identity against the simulator: a token that now opens another MDM server', () => {
  let group: RunningSimulatorGroup;
  let ws: Workspace;
  let paris: SimulatedServer;
  let lyon: SimulatedServer;
  let lyonMacs: Device[];

  beforeEach(async () => {
    group = await startSimulatorGroup({
      servers: [
        { name: 'paris', serverName: 'Paris MDM', extraDevices: [{ device_family: 'iPad', os: 'iPadOS', model: 'iPad Air' }] },
        { name: 'lyon', serverName: 'Lyon MDM', extraDevices: [{ device_family: 'iPad', os: 'iPadOS', model: 'iPad Air' }] },
      ],
      orgName: 'Lycée Voltaire',
    });
    paris = group.servers.get('paris') as SimulatedServer;
    lyon = group.servers.get('lyon') as SimulatedServer;
    // Lyon's Macs carry another MDM's profile: a diff of them under paris's config would remove every one.
    lyonMacs = lyon.portal.addDevices([{ device_family: 'Mac', os: 'OSX', model: 'MacBook Air' }, { device_family: 'Mac', os: 'OSX', model: 'MacBook Air' }]);
    for (const d of lyonMacs) lyon.portal.setProfile(d.serial_number, FOREIGN);
    ws = await makeWorkspace(group.url);
    await ws.addServerSecrets('paris', paris.token);
    await ws.commit(config);
  });

  afterEach(async () => {
    await group.close();
    await ws.cleanup();
  });

  it('stops the server with server-changed and no changes, then `depctl apply --adopt-server` accepts it', async () => {
    const first = await ws.depctl(['apply', 'config', '--yes']);
    expect(first.code, first.stdout + first.stderr).toBe(0);
    const parisUuid = (await serverState('paris')).server_uuid;
    const lyonUuid = (await serverState('lyon')).server_uuid;
    expect(first.stdout).toContain(`paris → Apple server "Paris MDM" (org Lycée Voltaire, uuid ${parisUuid})`);

    // The administrator's mix-up, over the simulator's HTTP admin API: paris's token file now opens Lyon MDM.
    const swapped = await request(`${group.url}/_sim/servers/paris/swap-token`, { method: 'POST', body: JSON.stringify({ with: 'lyon' }), headers: { 'content-type': 'application/json' } });
    expect(swapped.statusCode).toBe(200);
    await swapped.body.dump();
    paris.inspect.resetRequestCounts();
    lyon.inspect.resetRequestCounts();

    const plan = await ws.depctl(['plan', 'config', '--format', 'json']);
    expect(plan.code).toBe(1);
    const p = JSON.parse(plan.stdout) as Plan;
    expect(p.summary).toEqual({ defines: 0, assign: 0, remove: 0, drift: 0, deferred: 0, conflicts: 0, errors: 1 });
    expect(p.servers[0]?.problem).toEqual({
      server: 'paris',
      kind: 'terminal',
      reason: 'server-changed',
      retryAt: null,
      message:
        `the token of server "paris" now belongs to another MDM server: it was "Paris MDM" (uuid ${parisUuid}), ` +
        `it is now "Lyon MDM" (uuid ${lyonUuid}); nothing was fetched or changed on this server. ` +
        'If the new token is right, accept the change with `depctl apply --adopt-server paris` (for the controller: `depctl run --adopt-server paris`), ' +
        'which records the new server and forgets the devices stored for the old one; otherwise put back the token of "Paris MDM"',
    });
    // Only the identity was asked: no fetch, no sync, no write, on either server.
    expect(lyon.inspect.requestCounts()).toEqual({ 'GET /session': 1, 'GET /account': 1 });
    expect(deviceCalls(paris)).toEqual({});

    // The text view: the header shows the recorded server, the block says why paris stopped.
    const text = await ws.depctl(['plan', 'config']);
    expect(text.stdout).toContain(`paris → Apple server "Paris MDM" (org Lycée Voltaire, uuid ${parisUuid}), as recorded: the token now opens another server (see below)`);
    expect(text.stdout).toMatch(/Server paris: failed, no changes planned/);
    const markdown = await ws.depctl(['plan', 'config', '--format', 'markdown']);
    expect(markdown.stdout).toContain(`paris → Apple server "Paris MDM" (org Lycée Voltaire, uuid ${parisUuid}), as recorded: the token now opens another server (see below)\n`);

    // import would adopt Lyon's devices under paris's name: it stops too, and writes nothing.
    const imported = await ws.depctl(['import', 'config', '--server', 'paris']);
    expect(imported.code).toBe(1);
    expect(imported.stderr).toContain('depctl: MdmServer "paris": the token of server "paris" now belongs to another MDM server');
    expect(imported.stderr).toContain('nothing was written');
    expect(deviceCalls(lyon)).toEqual({});

    // apply without the operator's word changes nothing either.
    const refused = await ws.depctl(['apply', 'config', '--yes']);
    expect(refused.code).toBe(1);
    expect(deviceCalls(lyon)).toEqual({});
    for (const d of lyonMacs) expect(lyon.inspect.device(d.serial_number)?.profile_uuid).toBe(FOREIGN);

    const adopted = await ws.depctl(['apply', 'config', '--yes', '--adopt-server', 'paris']);
    expect(adopted.code, adopted.stdout + adopted.stderr).toBe(0);
    expect(adopted.stdout).toContain(
      `paris: adopted Apple server "Lyon MDM" (org Lycée Voltaire, uuid ${lyonUuid}) in place of "Paris MDM" (uuid ${parisUuid}); the devices stored for the old server were forgotten, this pass is a first contact`,
    );
    expect(adopted.stdout).toContain(`paris → Apple server "Lyon MDM" (org Lycée Voltaire, uuid ${lyonUuid})`);
    // A first contact with Lyon MDM: one full fetch, then what the configuration says for its devices.
    expect(lyon.inspect.requestCounts()['POST /server/devices']).toBe(1);
    const store = await openStore(`sqlite:${ws.statePath}`);
    try {
      expect(await store.getServer('paris')).toMatchObject({ serverUuid: lyonUuid, appleServerName: 'Lyon MDM', orgName: 'Lycée Voltaire' });
      expect(await store.countDevices('paris')).toBe(3);
    } finally {
      await store.close();
    }

    // The next plan passes the identity check and is converged.
    const after = await ws.depctl(['plan', 'config', '--detailed-exitcode']);
    expect(after.code, after.stdout + after.stderr).toBe(0);
  });

  it('`token inspect` shows the identity: recorded in the state store, or asked of the DEP service', async () => {
    const token = join(ws.secretsDir, 'paris', 'token.p7m');
    const key = join(ws.secretsDir, 'paris', 'key.pem');
    const offline = await ws.depctl(['token', 'inspect', token, '--key', key, '--state', 'sqlite:state/none.db']);
    expect(offline.code).toBe(0);
    expect(offline.stdout).toMatch(/^Apple server: +unknown \(no state store at .*none\.db\)$/m);

    expect((await ws.depctl(['plan', 'config'])).code).toBe(0);
    const parisUuid = (await serverState('paris')).server_uuid;
    const stored = await ws.depctl(['token', 'inspect', token, '--key', key, '--format', 'json']);
    expect(JSON.parse(stored.stdout)).toMatchObject({
      account: { source: 'store', server: 'paris', serverUuid: parisUuid, serverName: 'Paris MDM', orgName: 'Lycée Voltaire', orgType: 'org' },
      accountNote: null,
    });

    group.swapTokens('paris', 'lyon');
    const live = await ws.depctl(['token', 'inspect', token, '--key', key, '--dep-url', group.url]);
    expect(live.code, live.stderr).toBe(0);
    expect(live.stdout).toMatch(new RegExp(`^Apple server: +"Lyon MDM" \\(uuid ${(await serverState('lyon')).server_uuid}\\)$`, 'm'));
    expect(live.stdout).toMatch(/^Organisation: +Lycée Voltaire \(org, id \d+\)$/m);
    expect(live.stdout).toMatch(/^Known from: +GET \/account, /m);
  });

  /** GET /_sim/servers: the account identity each server reports. */
  async function serverState(name: string): Promise<{ server_uuid: string; server_name: string }> {
    return simServer(group, name);
  }

  it('depctl run: Ready False ServerChanged with the identity on /api/status, then --adopt-server NAME=UUID on the next start', async () => {
    git(ws.root, 'init', '-q', '--bare', '-b', 'main', 'config.git');
    git(ws.configDir, 'push', '-q', join(ws.root, 'config.git'), 'HEAD:main');
    let controller: RunningController | undefined;
    const start = async (adoptServer: AdoptSpec[] = []): Promise<RunningController> => {
      const io: CliIo = { stdout: () => {}, stderr: () => {}, cwd: ws.root, env: {} };
      const logger = createLogger({ level: 'error', format: 'json', write: () => {} });
      controller = await startController(
        { repo: join(ws.root, 'config.git'), branch: 'main', path: '.', pollInterval: 60_000, syncInterval: 60_000, listen: '127.0.0.1:0', workDir: join(ws.root, 'checkout'), allowLarge: false, logLevel: 'error', logFormat: 'json', adoptServer },
        { stateUrl: `sqlite:${ws.statePath}`, secretsDir: ws.secretsDir, depUrlOverride: group.url },
        io,
        logger,
      );
      return controller;
    };
    const status = async (c: RunningController): Promise<ControllerStatus> => (await (await request(`${c.url}/api/status`)).body.json()) as ControllerStatus;
    const ready = (c: RunningController) => c.loop.current().conditions.find((x) => x.type === 'Ready');
    try {
      const parisUuid = (await serverState('paris')).server_uuid;
      const lyonUuid = (await serverState('lyon')).server_uuid;
      let c = await start();
      await vi.waitFor(() => expect(ready(c)?.status).toBe('True'), { timeout: 20_000, interval: 25 });
      expect((await status(c)).servers[0]?.account).toMatchObject({ serverUuid: parisUuid, serverName: 'Paris MDM', orgName: 'Lycée Voltaire', orgType: 'org' });

      group.swapTokens('paris', 'lyon');
      c.loop.trigger('manual');
      await vi.waitFor(() => expect(ready(c)).toMatchObject({ status: 'False', reason: 'ServerChanged' }), { timeout: 20_000, interval: 25 });
      const stopped = await status(c);
      expect(stopped.servers[0]?.problem).toMatchObject({ kind: 'terminal', reason: 'server-changed' });
      expect(stopped.servers[0]?.account).toMatchObject({ serverUuid: parisUuid });
      expect(deviceCalls(lyon)).toEqual({});
      for (const d of lyonMacs) expect(lyon.inspect.device(d.serial_number)?.profile_uuid).toBe(FOREIGN);
      await c.stop();

      // A pin for another server accepts nothing; the right one does, on the first pass.
      c = await start([{ server: 'paris', expectUuid: 'ABCDEF' }]);
      await vi.waitFor(() => expect(ready(c)).toMatchObject({ status: 'False', reason: 'ServerChanged' }), { timeout: 20_000, interval: 25 });
      await c.stop();
      c = await start([{ server: 'paris', expectUuid: lyonUuid }]);
      await vi.waitFor(() => expect(ready(c)?.status).toBe('True'), { timeout: 20_000, interval: 25 });
      const adopted = await status(c);
      expect(adopted.servers[0]?.account).toMatchObject({ serverUuid: lyonUuid, serverName: 'Lyon MDM' });
      expect(adopted.servers[0]?.devices).toBe(3);
    } finally {
      await controller?.stop();
    }
  });
});

/** GET /_sim/servers: the account identity one server of the group reports. */
async function simServer(group: RunningSimulatorGroup, name: string): Promise<{ server_uuid: string; server_name: string }> {
  const res = await request(`${group.url}/_sim/servers`);
  const body = (await res.body.json()) as { servers: { name: string; server_uuid: string; server_name: string }[] };
  const s = body.servers.find((x) => x.name === name);
  if (!s) throw new Error(`no server ${name}`);
  return s;
}
