import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { startSimulator, type RunningSimulator } from '../../controller/sim/index.js';
import { loadConfig } from '../../controller/config/load.js';
import { openStore, type Store } from '../../controller/store/index.js';
import { createDepClient } from '../../controller/dep/index.js';
import { loadServerToken } from '../../controller/tokens/index.js';
import { makePlan } from '../../controller/reconcile/planner.js';
import { applyPlan } from '../../controller/reconcile/apply.js';
import { makeWorkspace, type Workspace } from '../helpers/workspace.js';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ipadsYaml, MAIN_SERVER_YAML } from '../helpers/config-yaml.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const config = {
  'servers.yaml': MAIN_SERVER_YAML,
  'profiles.yaml': ipadsYaml(),
};

describe('crash safety of apply', () => {
  let sim: RunningSimulator;
  let ws: Workspace;

  beforeEach(async () => {
    sim = await startSimulator({ devices: 0, seed: 3 });
    // More than one batch: the define carries the first 1000 serials, an assign call carries the rest.
    sim.portal.addDevices(Array.from({ length: 1005 }, () => ({ device_family: 'iPad', os: 'iPadOS', model: 'iPad' })));
    ws = await makeWorkspace(sim.url);
    await ws.addServerSecrets('main', sim.token);
    await ws.commit(config);
  });

  afterEach(async () => {
    await sim.close();
    await ws.cleanup();
  });

  it('a process killed (SIGKILL) between define and assign: the rerun converges without a second define', async () => {
    expect(existsSync(join(root, 'dist/main.js')), 'npm test builds dist/ first').toBe(true);
    sim.injectFaults({ latencyMs: 200 });
    const child = spawn(process.execPath, [join(root, 'bin/depctl.js'), 'apply', 'config', '--yes'], { cwd: ws.root, env: { ...process.env, ...ws.env }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    // The assign request reaching Apple means the define finished and its UUID was recorded before it.
    const assignSeen = vi.waitFor(() => expect(sim.inspect.requestCounts()['POST /profile/devices'] ?? 0).toBeGreaterThan(0), { timeout: 30_000, interval: 20 });
    const first = await Promise.race([assignSeen.then(() => 'assign' as const), exited.then(() => 'exited' as const)]);
    expect(first, `depctl exited before its assign call: ${stderr}`).toBe('assign');
    child.kill('SIGKILL');
    await exited;
    sim.clearFaults();
    expect(sim.inspect.requestCounts()['POST /profile']).toBe(1);

    const rerun = await ws.depctl(['apply', 'config', '--yes']);
    expect(rerun.code, rerun.stdout + rerun.stderr).toBe(0);
    expect(sim.inspect.requestCounts()['POST /profile']).toBe(1);
    expect(sim.inspect.profileCount()).toBe(1);
    const again = await ws.depctl(['plan', 'config', '--detailed-exitcode']);
    expect(again.code, again.stdout).toBe(0);
  });

  it('a crash after Apple defined the profile but before its UUID was recorded is recovered from the devices', async () => {
    const loaded = await loadConfig(ws.configDir);
    const cfg = loaded.config!;
    const token = loadServerToken(await readFile(join(ws.secretsDir, 'main/token.p7m')), await readFile(join(ws.secretsDir, 'main/key.pem')));
    const client = createDepClient({ baseUrl: sim.url, token });
    const store: Store = await openStore(`sqlite:${ws.statePath}`);
    const handles = [{ name: 'main', client, problem: null, tokenExpiresAt: null }];
    const now = (): Date => new Date();
    try {
      // The process dies right after POST /profile answered: completeDefine never runs.
      const crashing = new Proxy(store, {
        get(target, prop, receiver) {
          if (prop === 'completeDefine') return () => Promise.reject(new Error('simulated crash'));
          const v: unknown = Reflect.get(target, prop, receiver);
          return typeof v === 'function' ? v.bind(target) : v;
        },
      });
      const plan = await makePlan(cfg, handles, crashing, { now });
      const first = await applyPlan(plan, cfg, new Map([['main', client]]), crashing, { now });
      expect(first.result).toBe('failed');
      expect(sim.inspect.requestCounts()['POST /profile']).toBe(1);
      expect((await store.listProfiles('main', { state: 'defining' })).length).toBe(1);

      // The next run finds the UUID on the devices that rode along with the define, checks its content, and
      // records it: no second define.
      const second = await makePlan(cfg, handles, store, { now });
      expect(second.servers[0]?.defines).toEqual([]);
      expect((await store.listProfiles('main', { state: 'defined' })).length).toBe(1);
      const result = await applyPlan(second, cfg, new Map([['main', client]]), store, { now });
      expect(result.result).toBe('success');
      expect(sim.inspect.requestCounts()['POST /profile']).toBe(1);
      expect(sim.inspect.profileCount()).toBe(1);
    } finally {
      await client.close();
      await store.close();
    }
  });
});
