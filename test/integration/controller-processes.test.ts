import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pgLib from 'pg';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { startSimulator, type RunningSimulator } from '../../controller/sim/index.js';
import { openStore } from '../../controller/store/index.js';
import { controllerStatus, killAll, makeControllerDir, spawnController, type ControllerProcess, pushConfig } from '../helpers/controller-process.js';
import { ipadsYaml, MAIN_SERVER_YAML } from '../helpers/config-yaml.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const config = (department: string) => ({
  'servers.yaml': MAIN_SERVER_YAML,
  'ipads.yaml': ipadsYaml(department),
});


describe('depctl run as real processes', () => {
  let sim: RunningSimulator;
  let dir: string;
  const children: ControllerProcess[] = [];

  const push = (files: Record<string, string>): Promise<string> => pushConfig(dir, files);

  function args(name: string, state: string, extra: string[] = []): string[] {
    return ['--repo', join(dir, 'config.git'), '--branch', 'main', '--listen', '127.0.0.1:0', '--work-dir', join(dir, `checkout-${name}`), '--state', state, '--secrets-dir', join(dir, 'secrets'), '--poll-interval', '5s', '--leader-retry-interval', '1s', ...extra];
  }

  beforeEach(async () => {
    expect(existsSync(join(root, 'dist/main.js')), 'npm test builds dist/ first').toBe(true);
    sim = await startSimulator({ devices: 0, seed: 5 });
    dir = await makeControllerDir('depctl-proc-', sim.token);
  });

  afterEach(async () => {
    await killAll(children);
    await sim.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('kill -9 during an apply, restart: converges with no second define and every write in the audit log', async () => {
    sim.portal.addDevices(Array.from({ length: 1205 }, () => ({ device_family: 'iPad', os: 'iPadOS', model: 'iPad' })));
    await push(config('One'));
    const state = `sqlite:${join(dir, 'state.db')}`;
    sim.injectFaults({ latencyMs: 150 });
    const env = { DEPCTL_DEP_URL: sim.url };
    const first = await spawnController(args('a', state), env, dir);
    children.push(first);
    // The first assign call after the define: the define and its 1000 devices are recorded, 205 remain.
    await vi.waitFor(() => expect(sim.inspect.requestCounts()['POST /profile/devices'] ?? 0).toBeGreaterThan(0), { timeout: 30_000, interval: 10 });
    first.child.kill('SIGKILL');
    await first.exited;
    sim.clearFaults();

    const second = await spawnController(args('b', state), env, dir);
    children.push(second);
    await vi.waitFor(async () => expect((await controllerStatus(second.url)).lastAppliedRevision).not.toBeNull(), { timeout: 30_000, interval: 50 });
    expect(sim.inspect.requestCounts()['POST /profile']).toBe(1);
    expect(sim.inspect.profileCount()).toBe(1);

    const store = await openStore(state);
    try {
      const audit = await store.readAudit({ limit: 100_000 });
      const assigns = audit.filter((a) => a.action === 'assign');
      // Every serial that was sent has an entry; the batch cut off by the kill has its pending entries.
      const serials = new Set(assigns.map((a) => a.serial));
      expect(serials.size).toBe(1205);
      expect(audit.filter((a) => a.action === 'define')).toHaveLength(1);
      expect(assigns.some((a) => a.outcome === 'pending')).toBe(true);
    } finally {
      await store.close();
    }
  });

  const pg = process.env['DEPCTL_TEST_POSTGRES_URL'];
  // Runs where PostgreSQL is available: CI installs and starts it (.ci/postgres.sh).
  it.runIf(pg)('two replicas on PostgreSQL: one leader writes; kill it, the other takes over', async () => {
    sim.portal.addDevices(Array.from({ length: 20 }, () => ({ device_family: 'iPad', os: 'iPadOS', model: 'iPad' })));
    await push(config('One'));
    const state = `${pg}${pg?.includes('?') ? '&' : '?'}schema=ha_${process.pid}_${Date.now()}`;
    const env = { DEPCTL_DEP_URL: sim.url };
    const a = await spawnController(args('a', state), env, dir);
    children.push(a);
    await vi.waitFor(async () => expect((await controllerStatus(a.url)).lastAppliedRevision).not.toBeNull(), { timeout: 30_000, interval: 50 });
    const b = await spawnController(args('b', state), env, dir);
    children.push(b);
    await vi.waitFor(async () => expect((await controllerStatus(b.url)).phase).toBe('idle'), { timeout: 30_000, interval: 50 });
    expect((await controllerStatus(a.url)).leader).toBe(true);
    expect((await controllerStatus(b.url)).leader).toBe(false);
    // The follower serves what the leader wrote to the shared store.
    await vi.waitFor(async () => expect(((await controllerStatus(b.url)) as unknown as { servers: { name: string; devices: number }[] }).servers).toEqual([expect.objectContaining({ name: 'main', devices: 20 })]), { timeout: 30_000, interval: 50 });
    expect(sim.inspect.requestCounts()['POST /profile']).toBe(1);

    a.child.kill('SIGKILL');
    await a.exited;
    await vi.waitFor(async () => expect((await controllerStatus(b.url)).leader).toBe(true), { timeout: 30_000, interval: 50 });
    const next = await push(config('Two'));
    await vi.waitFor(async () => expect((await controllerStatus(b.url)).lastAppliedRevision).toBe(next), { timeout: 30_000, interval: 50 });
    expect(sim.inspect.requestCounts()['POST /profile']).toBe(2);
  });

  // Found by the crash soak: a leader whose lock session was cut retried a define Apple had answered 503 after
  // the other replica had taken over and defined the same content: two profiles for one content.
  it.runIf(pg)('a leader whose lock session ends stops its retries at once: the replica that takes over defines the content once', async () => {
    sim.portal.addDevices(Array.from({ length: 20 }, () => ({ device_family: 'iPad', os: 'iPadOS', model: 'iPad' })));
    const commit = await push(config('One'));
    const state = `${pg}${pg?.includes('?') ? '&' : '?'}schema=fence_${process.pid}_${Date.now()}`;
    const env = { DEPCTL_DEP_URL: sim.url };
    // The first define is answered 503 with Retry-After: 3 s during which the leader loses its lock.
    sim.injectFaults({ httpStatus: { status: 503, count: 1, path: '/profile', retryAfter: '3' } });
    const a = await spawnController(args('a', state), env, dir);
    children.push(a);
    await vi.waitFor(() => expect(sim.inspect.requestCounts()['POST /profile']).toBe(1), { timeout: 30_000, interval: 10 });
    const b = await spawnController(args('b', state), env, dir);
    children.push(b);
    await vi.waitFor(async () => expect((await controllerStatus(b.url)).phase).toBe('idle'), { timeout: 30_000, interval: 50 });
    expect((await controllerStatus(b.url)).leader).toBe(false);
    const admin = new pgLib.Client({ connectionString: pg });
    await admin.connect();
    try {
      // Only the leadership connection of replica a (its application_name names its pid).
      const cut = await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1', [`depctl controller pid ${a.child.pid} on ${hostname()}`.slice(0, 63)]);
      expect(cut.rowCount).toBe(1);
    } finally {
      await admin.end();
    }
    // Replica a's pass ends on the lost lock, so the retry it was waiting for is gone with it (before the fence
    // the retry went out after the Retry-After, while b defined the same content).
    await vi.waitFor(() => expect(a.output()).toMatch(/no longer the leader[\s\S]*"result":"failed"[^\n]*reconcile pass finished/), { timeout: 30_000, interval: 20 });
    // Whichever replica leads now (b, or a again if it took the free lock first) converges the fleet.
    const leaderApplied = async (): Promise<string | null> => {
      for (const x of [a, b]) {
        const st = await controllerStatus(x.url);
        if (st.leader) return st.lastAppliedRevision;
      }
      return null;
    };
    await vi.waitFor(async () => expect(await leaderApplied()).toBe(commit), { timeout: 30_000, interval: 50 });
    expect(sim.inspect.profileCount()).toBe(1);
    expect(sim.inspect.requestCounts()['POST /profile']).toBe(2);
  });
});
