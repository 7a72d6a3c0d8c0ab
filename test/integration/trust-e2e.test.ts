import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startSimulator, type RunningSimulator } from '../../controller/sim/index.js';
import { makeWorkspace, type Workspace } from '../helpers/workspace.js';
import { ipadsYaml } from '../helpers/config-yaml.js';

// The configuration names the DEP endpoint; the operator decides which hosts that may be. A depUrl the
// operator did not allow gets no call at all (the simulator counts none), with a reason in the plan; the
// same configuration works once the operator allows the host.

let sim: RunningSimulator;
let ws: Workspace;

const server = (depUrl: string): string => `apiVersion: depctl/v1
kind: MdmServer
metadata: { name: main }
spec:
  token: { file: main/token.p7m }
  privateKey: { file: main/key.pem }
  depUrl: ${depUrl}
`;

beforeEach(async () => {
  sim = await startSimulator({ devices: 5, seed: 3 });
  ws = await makeWorkspace(sim.url);
  await ws.addServerSecrets('main', sim.token);
  delete ws.env['DEPCTL_DEP_URL'];
  await ws.commit({ 'server.yaml': server(sim.url), 'ipads.yaml': ipadsYaml() });
  sim.inspect.resetRequestCounts();
});

afterEach(async () => {
  await ws.cleanup();
  await sim.close();
});

describe('depUrl is limited to the hosts the operator allows', () => {
  it('validate reports the host, and plan makes no call to it', async () => {
    const validate = await ws.depctl(['validate', 'config']);
    expect(validate.code).toBe(1);
    expect(validate.stdout).toMatch(/server\.yaml:7:11: error: depUrl host 127\.0\.0\.1:\d+ is not Apple's .*\[dep-url-host\]/);
    const plan = await ws.depctl(['plan', 'config']);
    expect(plan.code).not.toBe(0);
    expect(plan.stderr).toMatch(/dep-url-host/);
    expect(sim.inspect.requestCounts()).toEqual({});
  });

  it('the same configuration plans once the operator allows the host (flag or environment)', async () => {
    const host = new URL(sim.url).host;
    const byFlag = await ws.depctl(['--allow-dep-host', host, 'plan', 'config', '--format', 'json']);
    expect(byFlag.stderr).toBe('');
    const plan = JSON.parse(byFlag.stdout) as { servers: { server: string; error: string | null }[] };
    expect(plan.servers).toEqual([expect.objectContaining({ server: 'main', error: null })]);
    expect(sim.inspect.requestCounts()['GET /account']).toBeGreaterThan(0);

    ws.env['DEPCTL_ALLOW_DEP_HOSTS'] = `other.example:443, ${host}`;
    const byEnv = await ws.depctl(['validate', 'config']);
    expect(byEnv.code).toBe(0);
  });
});
