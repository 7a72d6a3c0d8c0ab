import Database from 'better-sqlite3';
import { existsSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startSimulator, type RunningSimulator } from '../../controller/sim/index.js';
import { git } from '../helpers/git.js';
import { ipadsYaml } from '../helpers/config-yaml.js';
import { makeWorkspace, type Workspace } from '../helpers/workspace.js';

// `depctl plan --untrusted` on a pull request's checkout: servers connect only as the trusted revision
// defines them. A server the pull request adds, or whose depUrl or token it changes, gets "planned after merge
// only" and the simulator it names sees no request at all; nothing is written to the store.

let trustedSim: RunningSimulator;
let prSim: RunningSimulator;
let ws: Workspace;

const server = (name: string, depUrl: string, token = `${name}/token.p7m`): string => `apiVersion: depctl/v1
kind: MdmServer
metadata: { name: ${name} }
spec:
  token: { file: ${token} }
  privateKey: { file: main/key.pem }
  depUrl: ${depUrl}
`;

function deviceRows(path: string): number {
  if (!existsSync(path)) return 0;
  const db = new Database(path, { readonly: true });
  try {
    return (db.prepare('SELECT count(*) AS n FROM devices').get() as { n: number }).n;
  } finally {
    db.close();
  }
}

beforeEach(async () => {
  trustedSim = await startSimulator({ devices: 4, seed: 5 });
  prSim = await startSimulator({ devices: 4, seed: 6 });
  ws = await makeWorkspace(trustedSim.url);
  await ws.addServerSecrets('main', trustedSim.token);
  delete ws.env['DEPCTL_DEP_URL'];
  ws.env['DEPCTL_ALLOW_DEP_HOSTS'] = `${new URL(trustedSim.url).host},${new URL(prSim.url).host}`;
  await ws.commit({ 'servers.yaml': server('main', trustedSim.url), 'ipads.yaml': ipadsYaml() });
  git(ws.configDir, 'checkout', '-q', '-b', 'pr');
  trustedSim.inspect.resetRequestCounts();
  prSim.inspect.resetRequestCounts();
});

afterEach(async () => {
  await ws.cleanup();
  await trustedSim.close();
  await prSim.close();
});

interface PlanJson {
  servers: { server: string; error: string | null; problem: { reason: string } | null; changeCount: number }[];
}

describe('depctl plan --untrusted', () => {
  it('plans the unchanged server with the trusted values and leaves an added server to after merge, with no call to its host', async () => {
    await ws.commit({ 'evil.yaml': server('evil', prSim.url, 'main/token.p7m'), 'ipads.yaml': ipadsYaml('Annex') }, 'pull request');
    const r = await ws.depctl(['plan', 'config', '--untrusted', '--trusted-ref', 'main', '--format', 'json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const plan = JSON.parse(r.stdout) as PlanJson;
    const main = plan.servers.find((s) => s.server === 'main');
    const evil = plan.servers.find((s) => s.server === 'evil');
    expect(main).toMatchObject({ error: null });
    expect(main?.changeCount).toBeGreaterThan(0);
    expect(evil?.problem?.reason).toBe('untrusted-credential-change');
    expect(evil?.error).toMatch(/new server: .*planned after merge only/);
    expect(prSim.inspect.requestCounts()).toEqual({});
    // Only reads reached the trusted host, and the store holds nothing of them.
    const counts = trustedSim.inspect.requestCounts();
    expect(Object.keys(counts).every((k) => /^(GET \/session|GET \/account|POST \/server\/devices|POST \/devices\/sync|GET \/profile)/.test(k))).toBe(true);
    expect(deviceRows(ws.statePath)).toBe(0);
  });

  it('a pull request that points an existing server at another host gets no call made with it, and exits 0 for the guardrail', async () => {
    await ws.commit({ 'servers.yaml': server('main', prSim.url) }, 'redirect main');
    const r = await ws.depctl(['plan', 'config', '--untrusted', '--trusted-ref', 'main', '--format', 'json']);
    expect(r.code).toBe(0);
    const plan = JSON.parse(r.stdout) as PlanJson;
    expect(plan.servers).toEqual([expect.objectContaining({ server: 'main', problem: expect.objectContaining({ reason: 'untrusted-credential-change' }) })]);
    expect(plan.servers[0]?.error).toMatch(/depUrl differ/);
    expect(prSim.inspect.requestCounts()).toEqual({});
    expect(trustedSim.inspect.requestCounts()).toEqual({});
  });

  it('refuses a trusted ref that does not exist or is not a plain revision name', async () => {
    const missing = await ws.depctl(['plan', 'config', '--untrusted', '--trusted-ref', 'origin/nope']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/--trusted-ref origin\/nope: no such commit/);
    const bad = await ws.depctl(['plan', 'config', '--untrusted', '--trusted-ref', 'main;rm -rf /']);
    expect(bad.code).toBe(2);
    expect(prSim.inspect.requestCounts()).toEqual({});
  });
});
