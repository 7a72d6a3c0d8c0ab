import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startSimulator, type RunningSimulator } from '../../controller/sim/index.js';
import type { Device } from '../../controller/dep/types.js';
import type { Plan } from '../../controller/reconcile/plan.js';
import { makeWorkspace, type Workspace } from '../helpers/workspace.js';
import { ipadsYaml, MAIN_SERVER_YAML } from '../helpers/config-yaml.js';

const config = {
  'servers.yaml': MAIN_SERVER_YAML,
  'profiles.yaml': ipadsYaml(),
};

/** Assign calls the simulator answered (PUT or POST /profile/devices). */
function assignCalls(sim: RunningSimulator): number {
  return Object.entries(sim.inspect.requestCounts())
    .filter(([k]) => /^(PUT|POST) \/profile\/devices$/.test(k))
    .reduce((n, [, v]) => n + v, 0);
}

describe('the retry policy against the simulator, through the CLI', () => {
  let sim: RunningSimulator;
  let ws: Workspace;
  let ipads: Device[];

  beforeEach(async () => {
    sim = await startSimulator({ devices: 0, seed: 3 });
    ipads = sim.portal.addDevices(Array.from({ length: 3 }, () => ({ device_family: 'iPad', os: 'iPadOS', model: 'iPad' })));
    ws = await makeWorkspace(sim.url);
    await ws.addServerSecrets('main', sim.token);
    await ws.commit(config);
    const first = await ws.depctl(['apply', 'config', '--yes']);
    expect(first.code, first.stdout + first.stderr).toBe(0);
  });

  afterEach(async () => {
    await sim.close();
    await ws.cleanup();
  });

  it('FAILED is retried once within the apply, then waits; THROTTLED waits for Apple; --retry-failed takes only the FAILED one now', async () => {
    const [failing, throttled] = sim.portal.addDevices([{ device_family: 'iPad', os: 'iPadOS', model: 'iPad' }, { device_family: 'iPad', os: 'iPadOS', model: 'iPad' }]).map((d) => d.serial_number);
    sim.injectFaults({ failedSerials: [failing!], throttledSerials: { serials: [throttled!], retryAfterSeconds: 600 } });
    sim.inspect.resetRequestCounts();
    const partial = await ws.depctl(['apply', 'config', '--yes']);
    expect(partial.code).toBe(1);
    expect(partial.stdout).toMatch(/main: 0 assigned, 1 throttled \(retried later\), 1 failed \(retried later\)/);
    expect(partial.stdout).toMatch(/Apply PARTIAL/);
    // The first call with both serials, then the in-apply retry of the FAILED one.
    expect(assignCalls(sim)).toBe(2);

    sim.inspect.resetRequestCounts();
    const waiting = await ws.depctl(['apply', 'config', '--yes', '--format', 'json']);
    expect(assignCalls(sim)).toBe(0);
    const plan = JSON.parse(waiting.stdout) as Plan;
    expect(plan.servers[0]?.deferred.map((g) => [g.lastStatus, g.serials])).toEqual(
      expect.arrayContaining([
        ['FAILED', [failing]],
        ['THROTTLED', [throttled]],
      ]),
    );

    sim.injectFaults({ failedSerials: [], throttledSerials: { serials: [], retryAfterSeconds: 0 } });
    sim.inspect.resetRequestCounts();
    const retried = await ws.depctl(['apply', 'config', '--yes', '--retry-failed']);
    expect(retried.stdout).toMatch(/main: 1 assigned/);
    expect(assignCalls(sim)).toBe(1);
    expect(sim.inspect.device(failing!)?.profile_uuid).toBe(sim.inspect.device(ipads[0]!.serial_number)?.profile_uuid);
    expect(sim.inspect.device(throttled!)?.profile_status).not.toBe('assigned');
  });

  it("a 503 with a Retry-After beyond the client's budget ends the server's pass at once with Apple's time", async () => {
    sim.injectFaults({ httpStatus: { status: 503, count: 100, path: '/devices/sync', retryAfter: '600' } });
    sim.inspect.resetRequestCounts();
    const started = Date.now();
    const res = await ws.depctl(['plan', 'config', '--format', 'json']);
    expect(res.code).toBe(1);
    // One sync request: the client did not sleep ten minutes, nor hammer Apple.
    expect(sim.inspect.requestCounts()['POST /devices/sync']).toBe(1);
    const plan = JSON.parse(res.stdout) as Plan;
    const problem = plan.servers[0]?.problem;
    expect(problem).toMatchObject({ server: 'main', kind: 'transient', reason: 'apple-error' });
    const retryAt = Date.parse(problem?.retryAt ?? '');
    expect(retryAt - started).toBeGreaterThanOrEqual(599_000);
    expect(retryAt - Date.now()).toBeLessThanOrEqual(600_000);
  });
});
