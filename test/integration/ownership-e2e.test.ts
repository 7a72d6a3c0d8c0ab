import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { startController } from '../../controller/cli/run.js';
import { createLogger } from '../../controller/util/logger.js';
import { defaultTrustPolicy } from '../../controller/config/trust.js';
import type { ControllerStatus } from '../../controller/reconcile/status.js';
import { runDepctl } from '../helpers/cli.js';
import type { Plan } from '../../controller/reconcile/plan.js';
import { startSimulatorGroup } from '../../controller/sim/index.js';
import type { RunningSimulatorGroup, SimulatedServer } from '../../controller/sim/api.js';
import { connectAbmToDep, startAbmSimulator, type RunningAbmSimulator } from '../../controller/sim/abm/index.js';
import { openStore } from '../../controller/store/open-store.js';
import { macRecords, makeWorkspace, type Workspace } from '../helpers/workspace.js';
import { organizationYaml } from '../helpers/ownership-yaml.js';

// Issue 15 end to end: a DEP simulator group with two servers and the Business API simulator of their
// organisation, bridged (a finished activity shows in DEP sync). The YAML declares on lyon devices the
// simulators have on paris. `depctl plan` shows the move, `depctl apply` issues the activities, later applies
// (each a new process: a new store handle on the same SQLite file) poll them as the simulator's clock
// advances, and once Apple has moved the devices the DEP side of lyon sees them arrive and assigns lyon's
// profile. No sleeps: the Business API simulator's clock is driven.

const STEP_MS = 1000;
const DONE_MS = 5 * STEP_MS;

let group: RunningSimulatorGroup;
let abm: RunningAbmSimulator;
let ws: Workspace;
let paris: SimulatedServer;
let lyon: SimulatedServer;
let serials: string[];

function configFiles(owned: readonly string[], maxChanges: number): Record<string, string> {
  return {
    'organization.yaml': organizationYaml(abm, { extra: `  maxChanges: ${maxChanges}\n  unclaimedDevices: report\n` }),
    'servers.yaml': `apiVersion: depctl/v1
kind: MdmServer
metadata: { name: paris }
spec:
  token: { file: paris/token.p7m }
  privateKey: { file: paris/key.pem }
  organization: acme
---
apiVersion: depctl/v1
kind: MdmServer
metadata: { name: lyon }
spec:
  token: { file: lyon/token.p7m }
  privateKey: { file: lyon/key.pem }
  defaultProfile: lyon-macs
  unassignedDevices: default
  organization: acme
  devices:
    serialFiles: [lyon-owned.txt]
`,
    'lyon-owned.txt': `${owned.join('\n')}\n`,
    'profiles.yaml': `apiVersion: depctl/v1
kind: EnrollmentProfile
metadata: { name: lyon-macs }
spec:
  servers: [lyon]
  profile: { profile_name: Lyon Macs, url: "https://mdm.example.com/enroll", is_supervised: true }
`,
  };
}

async function start(devices: number): Promise<void> {
  group = await startSimulatorGroup({ servers: [{ name: 'paris' }, { name: 'lyon' }] });
  paris = group.servers.get('paris') as SimulatedServer;
  lyon = group.servers.get('lyon') as SimulatedServer;
  serials = paris.portal.addDevices(macRecords(devices)).map((d) => d.serial_number);
  abm = await startAbmSimulator({
    activityStepMs: STEP_MS,
    servers: [{ serverName: 'paris' }, { serverName: 'lyon' }],
    orgDevices: serials.map((serialNumber) => ({ serialNumber, serverName: 'paris', attributes: { productFamily: 'Mac' } })),
  });
  const [parisId, lyonId] = abm.inspect.serverIds() as [string, string];
  connectAbmToDep(abm, group, { [parisId]: 'paris', [lyonId]: 'lyon' });
  ws = await makeWorkspace(group.url);
  ws.env['DEPCTL_ALLOW_DEP_HOSTS'] = new URL(abm.url).host;
  await ws.addServerSecrets('paris', paris.token);
  await ws.addServerSecrets('lyon', lyon.token);
  await mkdir(join(ws.secretsDir, 'abm'), { recursive: true });
  await writeFile(join(ws.secretsDir, 'abm', 'key.pem'), abm.account.privateKeyPem, { mode: 0o600 });
}

const posts = (): number => abm.inspect.requestCounts()['POST /v1/orgDeviceActivities'] ?? 0;
const lyonId = (): string => abm.inspect.serverIds()[1] as string;

/** The results of the recorded runs, oldest first. */
async function runResults(): Promise<(string | null)[]> {
  const store = await openStore(`sqlite:${ws.statePath}`);
  try {
    return (await store.listRuns({ limit: 100 })).map((r) => r.result).reverse();
  } finally {
    await store.close();
  }
}

async function openActivities(): Promise<{ id: string; serials: number; status: string }[]> {
  const store = await openStore(`sqlite:${ws.statePath}`);
  try {
    return (await store.listActivities('acme', { open: true })).map((a) => ({ id: a.activityId, serials: a.serials.length, status: a.status }));
  } finally {
    await store.close();
  }
}

afterEach(async () => {
  await abm?.close();
  await group?.close();
  await ws?.cleanup();
});

describe('device ownership end to end (issue 15)', () => {
  beforeEach(async () => {
    await start(1500);
  });

  it('plans the move of 1,500 devices, applies it as two activities, polls them to completion, and DEP then assigns lyon’s profile', async () => {
    await ws.commit(configFiles(serials, 2000));

    const plan = await ws.depctl(['plan', 'config']);
    expect(plan.stderr).toBe('');
    expect(plan.code).toBe(0);
    expect(plan.stdout).toContain('Organization acme: move 1500 devices paris → lyon');
    expect(plan.stdout).toContain('unclaimed: 0 devices no server claims');
    expect(plan.stdout).toContain('Plan: 1,500 devices to move between MDM servers in Apple Business/School Manager; no DEP changes.');
    const json = await ws.depctl(['plan', '--format', 'json', 'config']);
    const parsed = JSON.parse(json.stdout) as Plan;
    expect(parsed.organizations?.[0]).toMatchObject({ organization: 'acme', changeCount: 1500, error: null, unclaimed: { count: 0, sample: [] } });
    expect(parsed.organizations?.[0]?.moves.map((m) => [m.from?.server, m.to.server, m.serials.length])).toEqual([['paris', 'lyon', 1500]]);
    const exit2 = await ws.depctl(['plan', '--detailed-exitcode', 'config']);
    expect(exit2.code).toBe(2);
    expect(posts()).toBe(0);

    const applied = await ws.depctl(['apply', '--yes', 'config']);
    expect(applied.code, applied.stderr).toBe(0);
    expect(applied.stdout).toMatch(/Organization acme: 2 activities created for 1500 devices/);
    expect(posts()).toBe(2);
    expect((await openActivities()).map((a) => [a.serials, a.status])).toEqual([[1000, 'IN_PROGRESS'], [500, 'IN_PROGRESS']]);

    // A new process (a restart) in the middle of the activities: it polls them, plans nothing again.
    abm.advanceClock(2 * STEP_MS);
    const midway = await ws.depctl(['plan', 'config']);
    expect(midway.stdout).toMatch(/in progress: activity \S+ → lyon, 1000 devices \(IN_PROGRESS/);
    expect(midway.stdout).not.toContain('move 1500 devices');
    const again = await ws.depctl(['apply', '--yes', 'config']);
    expect(again.code, again.stderr).toBe(0);
    expect(posts()).toBe(2);
    expect((await openActivities()).map((a) => a.status)).toEqual(['IN_PROGRESS', 'IN_PROGRESS']);
    expect(lyon.inspect.deviceCount()).toBe(0);

    // Apple finishes: the devices leave paris and arrive on lyon in DEP; the next pass closes the activities,
    // and its DEP part syncs lyon, sees the 1,500 arrive and assigns lyon's default profile.
    abm.advanceClock(DONE_MS);
    expect(abm.inspect.serialsOf(lyonId())).toHaveLength(1500);
    const done = await ws.depctl(['apply', '--yes', 'config']);
    expect(done.code, done.stderr).toBe(0);
    expect(done.stdout.match(/Organization acme: activity \S+ COMPLETED: \d+ moved, 0 not moved/g)?.map((l) => l.replace(/activity \S+/, 'activity'))).toEqual([
      'Organization acme: activity COMPLETED: 1000 moved, 0 not moved',
      'Organization acme: activity COMPLETED: 500 moved, 0 not moved',
    ]);
    expect(await openActivities()).toEqual([]);
    expect(lyon.inspect.deviceCount()).toBe(1500);
    const profiled = serials.map((s) => lyon.inspect.device(s)?.profile_uuid ?? null);
    expect(profiled.every((u) => typeof u === 'string' && u !== '')).toBe(true);
    expect(new Set(profiled).size).toBe(1);
    expect(lyon.inspect.profile(profiled[0] as string)?.profile_name).toBe('Lyon Macs');

    // Converged: nothing left to move, every serial audited success.
    const final = await ws.depctl(['plan', '--detailed-exitcode', 'config']);
    expect(final.code).toBe(0);
    expect(final.stdout).toContain('Organization acme (Apple Business Manager, 1500 devices): no changes');
    const store = await openStore(`sqlite:${ws.statePath}`);
    try {
      const audit = await store.readAudit({ server: 'lyon', limit: 10_000 });
      const abmAudit = audit.filter((e) => e.action === 'abm-assign');
      expect(abmAudit.filter((e) => e.outcome === 'pending')).toHaveLength(1500);
      expect(abmAudit.filter((e) => e.outcome === 'success')).toHaveLength(1500);
    } finally {
      await store.close();
    }
  });

  it('depctl run issues the activities in one pass and polls them to completion in a later one', async () => {
    await ws.commit(configFiles(serials, 2000));
    const run = (): ReturnType<Workspace['depctl']> => ws.depctl(['run', '--repo', ws.configDir, '--once', '--listen', '127.0.0.1:0', '--log-format', 'json']);
    const first = await run();
    expect(first.code, first.stderr).toBe(0);
    expect(posts()).toBe(2);
    const logs = `${first.stdout}${first.stderr}`;
    expect(logs).toMatch(/"organization":"acme","activities":2,"devices":1500,"msg":"activities created"/);
    // A pass that only issued activities is a write: recorded success, not noop.
    expect(logs).toMatch(/"result":"success"[^\n]*"msg":"reconcile pass finished"/);
    expect(await runResults()).toEqual(['success']);
    abm.advanceClock(DONE_MS);
    const second = await run();
    expect(second.code, second.stderr).toBe(0);
    expect(posts()).toBe(2);
    expect(await openActivities()).toEqual([]);
    expect(lyon.inspect.deviceCount()).toBe(1500);
    expect(serials.every((s) => typeof lyon.inspect.device(s)?.profile_uuid === 'string')).toBe(true);
  });

  it('apply --plan refuses a saved plan whose device moves changed (planHash covers them), and applies a fresh one', async () => {
    await ws.commit(configFiles(serials, 2000));
    const saved = join(ws.root, 'plan.json');
    expect((await ws.depctl(['plan', '--out', saved, 'config'])).code).toBe(0);
    const first = JSON.parse(await readFile(saved, 'utf8')) as Plan;
    // Someone else applies in between: the moves are now in progress, so the saved plan's moves are not what apply would do.
    expect((await ws.depctl(['apply', '--yes', 'config'])).code).toBe(0);
    expect(posts()).toBe(2);
    const stale = await ws.depctl(['apply', '--plan', saved, 'config']);
    expect(stale.code).toBe(1);
    expect(stale.stderr).toContain('the saved plan is stale: Apple or the store changed since it was made, so the changes (assignments or device moves) differ');
    expect(posts()).toBe(2);
    const fresh = join(ws.root, 'fresh.json');
    expect((await ws.depctl(['plan', '--out', fresh, 'config'])).code).toBe(0);
    const second = JSON.parse(await readFile(fresh, 'utf8')) as Plan;
    expect(second.configHash).toBe(first.configHash);
    expect(second.planHash).not.toBe(first.planHash);
    expect((await ws.depctl(['apply', '--plan', fresh, 'config'])).code).toBe(0);
  });

  it('a running controller shows ownership in /api/status and depctl status --url: MovesInProgress while Apple works, then converged', async () => {
    await ws.commit(configFiles(serials, 2000));
    const logger = createLogger({ level: 'error', format: 'json', write: () => {} });
    const c = await startController(
      { repo: ws.configDir, branch: 'main', path: '.', pollInterval: 60_000, syncInterval: 60_000, listen: '127.0.0.1:0', workDir: join(ws.root, 'checkout'), allowLarge: false, logLevel: 'error', logFormat: 'json' },
      { stateUrl: `sqlite:${ws.statePath}`, secretsDir: ws.secretsDir, depUrlOverride: group.url, trust: { ...defaultTrustPolicy(ws.secretsDir), depHosts: [new URL(abm.url).host] } },
      { stdout: () => {}, stderr: () => {}, cwd: ws.root, env: {} },
      logger,
    );
    try {
      const ready = (): { status: string; reason: string; message: string } | undefined => c.loop.current().conditions.find((x) => x.type === 'Ready');
      await vi.waitFor(() => expect(ready()?.reason).toBe('MovesInProgress'), { timeout: 20_000, interval: 25 });
      expect(ready()?.status).toBe('Unknown');
      expect(ready()?.message).toContain('organization acme: 1500 device(s) in 2 activities');
      const status = (await (await fetch(`${c.url}/api/status`)).json()) as ControllerStatus;
      expect(status.organizations).toEqual([{
        name: 'acme', scope: 'business', state: 'in-progress', openActivities: 2, movesInProgress: 1500, pendingMoves: 0, unclaimed: 0, devices: 1500,
        failedActivities: [], lastError: null, problem: null,
      }]);
      expect(status.recentRuns.map((r) => [r.result, r.counts])).toEqual([['success', { activities: 2, 'devices moving': 1500 }]]);
      const text = await runDepctl(['status', '--url', c.url]);
      expect(text.stdout).toContain('\nOrganization acme (Apple Business Manager)\n  state           in-progress\n');
      expect(text.stdout).toContain('  in progress     1,500 devices in 2 open activities\n');

      abm.advanceClock(DONE_MS);
      c.loop.trigger('manual');
      await vi.waitFor(() => expect(ready()?.reason).toBe('ReconciliationSucceeded'), { timeout: 20_000, interval: 25 });
      const done = (await (await fetch(`${c.url}/api/status`)).json()) as ControllerStatus;
      expect(done.organizations?.[0]).toMatchObject({ state: 'converged', openActivities: 0, movesInProgress: 0, pendingMoves: 0 });
    } finally {
      await c.stop();
    }
  });

  it('refuses more moves than maxChanges without --allow-large', async () => {
    await ws.commit(configFiles(serials, 1000));
    const plan = await ws.depctl(['plan', 'config']);
    expect(plan.stdout).toContain('Apply needs --allow-large: 1500 changes exceed maxChanges (1000).');
    const refused = await ws.depctl(['apply', '--yes', 'config']);
    expect(refused.code).toBe(1);
    expect(refused.stdout).toContain('Organization acme: stopped: 1500 changes exceed maxChanges (1000) on organization acme; review the plan and run apply with --allow-large');
    expect(posts()).toBe(0);
    const allowed = await ws.depctl(['apply', '--yes', '--allow-large', 'config']);
    expect(allowed.code, allowed.stderr).toBe(0);
    expect(posts()).toBe(2);
  });
});

describe('device ownership end to end: a failed activity (issue 15)', () => {
  beforeEach(async () => {
    await start(20);
  });

  it('a FAILED activity is partial: its devices are planned again and the next pass moves them', async () => {
    const owned = serials.slice(0, 10);
    await ws.commit(configFiles(owned, 1000));
    abm.injectFaults({ failActivities: 1 });
    expect((await ws.depctl(['apply', '--yes', 'config'])).code).toBe(0);
    expect(posts()).toBe(1);

    abm.advanceClock(DONE_MS);
    // The pass reads the FAILED activity, audits its devices failed, and, as nothing moved, issues a new one.
    // The pass is partial (devices Apple did not move), so apply exits 1 as for failed serials.
    const retry = await ws.depctl(['apply', '--yes', 'config']);
    expect(retry.code, retry.stderr).toBe(1);
    // The first apply issued (success); the second found the FAILED activity (partial) and issued again.
    expect(await runResults()).toEqual(['success', 'partial']);
    expect(retry.stdout).toMatch(/Organization acme: activity \S+ FAILED: 0 moved, 10 not moved \(planned again\)/);
    expect(retry.stdout).toContain('Device moves PARTIAL (acme: 10 device(s) not moved by 1 activity); they are planned again.');
    expect(retry.stdout).toMatch(/Organization acme: move 10 devices paris → lyon/);
    expect(posts()).toBe(2);
    const store = await openStore(`sqlite:${ws.statePath}`);
    try {
      const all = (await store.listActivities('acme', { open: false })).filter((a) => a.type === 'ASSIGN_DEVICES');
      expect(all.map((a) => [a.status, a.completedAt === null])).toEqual([['FAILED', false], ['IN_PROGRESS', true]]);
      expect(all[0]?.results?.every((r) => r.status === 'FAILED')).toBe(true);
      const failed = (await store.readAudit({ server: 'lyon', limit: 100 })).filter((e) => e.action === 'abm-assign' && e.outcome === 'failed');
      expect(failed.map((e) => e.serial).sort()).toEqual([...owned].sort());
    } finally {
      await store.close();
    }

    abm.advanceClock(DONE_MS);
    expect((await ws.depctl(['apply', '--yes', 'config'])).code).toBe(0);
    expect(await openActivities()).toEqual([]);
    expect(abm.inspect.serialsOf(lyonId()).sort()).toEqual([...owned].sort());
    expect(lyon.inspect.deviceCount()).toBe(10);
    const plan = await ws.depctl(['plan', 'config']);
    expect(plan.stdout).toContain('unclaimed: 10 devices no server claims');
  });
});
