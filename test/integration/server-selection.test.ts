import { readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startSimulatorGroup } from '../../controller/sim/index.js';
import type { RunningSimulatorGroup, SimulatedServer } from '../../controller/sim/api.js';
import type { Plan } from '../../controller/reconcile/plan.js';
import { makeWorkspace, type Workspace } from '../helpers/workspace.js';
import { runCli } from '../../controller/cli/program.js';

const MISSING = 'ZZZZ00000001';
const validatePlan = new Ajv2020({ strict: true, allErrors: true }).compile(JSON.parse(readFileSync(new URL('../../schemas/plan.schema.json', import.meta.url), 'utf8')) as object);

function config(lyonSerial: string, parisSerial: string): Record<string, string> {
  return {
    'servers.yaml': ['lyon', 'paris'].map((n) => `apiVersion: depctl/v1
kind: MdmServer
metadata: { name: ${n} }
spec:
  token: { file: ${n}/token.p7m }
  privateKey: { file: ${n}/key.pem }
`).join('---\n'),
    'profiles.yaml': `apiVersion: depctl/v1
kind: EnrollmentProfile
metadata: { name: ipads }
spec:
  servers: [lyon, paris]
  profile: { profile_name: iPads, url: "https://mdm.example.com/enroll", is_supervised: true }
`,
    // One assignment spans both servers (its paris serial must not count as missing when only lyon is planned);
    // the other is lyon's alone, so its missing serial is reported.
    'assignments.yaml': `apiVersion: depctl/v1
kind: Assignment
metadata: { name: both }
spec:
  profile: ipads
  servers: [lyon, paris]
  serials: [${lyonSerial}, ${parisSerial}]
---
apiVersion: depctl/v1
kind: Assignment
metadata: { name: lyon-only }
spec:
  profile: ipads
  servers: [lyon]
  serials: [${MISSING}]
`,
  };
}

describe('--server: plan and apply one server of several', () => {
  let group: RunningSimulatorGroup;
  let ws: Workspace;
  let lyon: SimulatedServer;
  let paris: SimulatedServer;

  beforeEach(async () => {
    group = await startSimulatorGroup({ servers: [{ name: 'lyon' }, { name: 'paris' }] });
    lyon = group.servers.get('lyon') as SimulatedServer;
    paris = group.servers.get('paris') as SimulatedServer;
    const [l] = lyon.portal.addDevices([{ device_family: 'iPad', os: 'iPadOS', model: 'iPad' }]);
    const [p] = paris.portal.addDevices([{ device_family: 'iPad', os: 'iPadOS', model: 'iPad' }]);
    ws = await makeWorkspace(group.url);
    await ws.addServerSecrets('lyon', lyon.token);
    await ws.addServerSecrets('paris', paris.token);
    await ws.commit(config(l?.serial_number ?? '', p?.serial_number ?? ''));
  });

  afterEach(async () => {
    await group.close();
    await ws.cleanup();
  });

  it('refuses an unknown server, naming the configured ones', async () => {
    for (const command of ['plan', 'apply']) {
      const r = await ws.depctl([command, '--server', 'nantes', '--yes', 'config'].filter((a) => command === 'apply' || a !== '--yes'));
      expect(r.code).toBe(2);
      expect(r.stderr).toContain('--server: no MdmServer named "nantes" in the configuration (configured: lyon, paris)');
    }
  });

  it('plans only the chosen server, says what was left out, and reports no serial the left-out server may hold', async () => {
    const json = await ws.depctl(['plan', '--server', 'lyon', '--format', 'json', 'config']);
    expect(json.code, json.stderr).toBe(0);
    const plan = JSON.parse(json.stdout) as Plan;
    expect(validatePlan(plan), JSON.stringify(validatePlan.errors?.slice(0, 3))).toBe(true);
    expect(plan.servers.map((s) => s.server)).toEqual(['lyon']);
    expect(plan.skippedServers).toEqual(['paris']);
    const notSeen = plan.servers.flatMap((s) => s.drift).filter((d) => d.kind === 'serials-not-seen');
    expect(notSeen.flatMap((d) => d.serials)).toEqual([MISSING]);
    expect(paris.inspect.requestCounts()).toEqual({});

    const text = await ws.depctl(['plan', '--server', 'lyon', 'config']);
    expect(text.stdout).toContain('left out: paris (--server)');
    const md = await ws.depctl(['plan', '--server', 'lyon', '--format', 'markdown', 'config']);
    expect(md.stdout).toContain('left out: paris (--server)');
  });

  it('shows progress on a terminal, cleared before the plan, and none with --format json', async () => {
    const run = async (args: string[]): Promise<{ code: number; out: string; err: string }> => {
      let out = '';
      let err = '';
      const code = await runCli(args, { stdout: (t) => (out += t), stderr: (t) => (err += t), env: ws.env, cwd: ws.root, isTTY: true });
      return { code, out, err };
    };
    const text = await run(['apply', '--yes', '--server', 'lyon', 'config']);
    expect(text.code, text.err).toBe(0);
    expect(text.err).toContain('\r\x1b[2Klyon: fetching devices: 1 page, 1 device');
    expect(text.err).toContain('\r\x1b[2Klyon: applying: 1/1 (100%) devices, 1 request');
    // Cleared at the end: the last thing on stderr erases the line.
    expect(text.err.endsWith('\r\x1b[2K')).toBe(true);
    const json = await run(['plan', '--refresh', '--format', 'json', 'config']);
    expect(json.code, json.err).toBe(0);
    expect(json.err).not.toContain('\x1b');
  });

  it('applies only the chosen server; a plan saved for other servers is refused', async () => {
    const saved = await ws.depctl(['plan', '--server', 'paris', '--out', 'paris.json', 'config']);
    expect(saved.code, saved.stderr).toBe(0);
    const stale = await ws.depctl(['apply', '--plan', 'paris.json', '--server', 'lyon', 'config']);
    expect(stale.code).toBe(1);
    expect(stale.stderr).toContain('it was made for other servers (--server)');

    const r = await ws.depctl(['apply', '--yes', '--server', 'lyon', 'config']);
    expect(r.code, r.stderr).toBe(0);
    expect(lyon.inspect.requestCounts()['POST /profile']).toBe(1);
    expect(paris.inspect.requestCounts()['POST /profile']).toBeUndefined();
  });
});
