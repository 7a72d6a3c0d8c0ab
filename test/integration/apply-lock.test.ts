import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startSimulator, type RunningSimulator } from '../../controller/sim/index.js';
import { makeWorkspace, type Workspace } from '../helpers/workspace.js';
import { ipadsYaml, MAIN_SERVER_YAML } from '../helpers/config-yaml.js';

const root = fileURLToPath(new URL('../../', import.meta.url));

const config = {
  'servers.yaml': MAIN_SERVER_YAML,
  'ipads.yaml': ipadsYaml(),
};

interface Exit {
  code: number;
  stdout: string;
  stderr: string;
}

/** `node bin/depctl.js ARGS` (the build in dist/) as its own process. */
function depctlProcess(args: string[], env: Record<string, string>, cwd: string): Promise<Exit> {
  return new Promise((resolve) => {
    execFile(process.execPath, [`${root}bin/depctl.js`, ...args], { cwd, env: { ...process.env, ...env } }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

const pg = process.env['DEPCTL_TEST_POSTGRES_URL'];

describe('two applies at once: exactly one writes (the same lock as depctl run)', () => {
  let sim: RunningSimulator;
  let ws: Workspace;

  beforeEach(async () => {
    expect(existsSync(`${root}dist/main.js`), 'npm test builds dist/ first').toBe(true);
    sim = await startSimulator({ devices: 0, seed: 7 });
    sim.portal.addDevices(Array.from({ length: 30 }, () => ({ device_family: 'iPad', os: 'iPadOS', model: 'iPad' })));
    // Slow answers keep the first apply holding the lock while the second starts.
    sim.injectFaults({ latencyMs: 400 });
    ws = await makeWorkspace(sim.url);
    await ws.addServerSecrets('main', sim.token);
    await ws.commit(config);
  });

  afterEach(async () => {
    await sim.close();
    await ws.cleanup();
  });

  async function race(state: string): Promise<void> {
    const env = { ...ws.env, DEPCTL_STATE: state };
    const runs = await Promise.all([0, 1].map(() => depctlProcess(['apply', '--yes', 'config'], env, ws.root)));
    const won = runs.filter((r) => r.code === 0);
    const refused = runs.filter((r) => r.code !== 0);
    expect(won, runs.map((r) => r.stderr).join('\n---\n')).toHaveLength(1);
    expect(refused).toHaveLength(1);
    expect(refused[0]?.code).toBe(1);
    expect(refused[0]?.stderr).toMatch(/^depctl: another depctl \(apply pid \d+ on host \S+ since \d{4}-\d\d-\d\dT[\d:]+Z\) holds the lock; try again later\n$/);
    expect(won[0]?.stdout).toContain('Apply complete.');
    // One define, one writer.
    expect(sim.inspect.requestCounts()['POST /profile']).toBe(1);
  }

  it('on SQLite (two processes on one file)', async () => {
    await race(`sqlite:${ws.statePath}`);
  }, 60_000);

  // CI sets DEPCTL_TEST_POSTGRES_URL (.ci/postgres.sh); without it there is no server to test against.
  it.runIf(pg)('on PostgreSQL (advisory lock)', async () => {
    await race(`${pg}${pg?.includes('?') ? '&' : '?'}schema=lock_${process.pid}_${Date.now()}`);
  }, 60_000);
});
