/**
 * Plans served to pull requests (issue 13 part 2, issue 18): a running controller (in-process), a real bare
 * git repository with a main branch and pull-request refs, the real DEP client against the simulator over
 * HTTP, a real SQLite store. `depctl plan --remote` of a pull request must equal the local plan of its
 * checkout, make no write call to Apple and leave the store as it was; a pull request that changes
 * credentials or endpoints, or adds a server, is planned after merge only, with no call made with its values.
 */
import { mkdir, mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { defaultTrustPolicy } from '../../controller/config/trust.js';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startSimulator, type RunningSimulator } from '../../controller/sim/index.js';
import { encryptServerToken, generateKeyPair } from '../../controller/tokens/index.js';
import { startController, type RunningController } from '../../controller/cli/run.js';
import { createLogger } from '../../controller/util/logger.js';
import type { CliIo } from '../../controller/cli/io.js';
import type { Plan } from '../../controller/reconcile/plan.js';
import { git } from '../helpers/git.js';
import { ipadsYaml } from '../helpers/config-yaml.js';
import { runDepctl } from '../helpers/cli.js';
import { loadContract } from '../helpers/openapi-contract.js';

const require = createRequire(import.meta.url);
const TOKEN = 'remote-plan-api-token-7f3c';
/** DEP calls that only read; anything else the simulator counts is a write. */
const READS = new Set(['GET /session', 'GET /account', 'POST /server/devices', 'POST /devices/sync', 'GET /profile']);
const contract = loadContract();

function serverYaml(name: string, depUrl: string, token = `${name}/token.p7m`): string {
  return `apiVersion: depctl/v1
kind: MdmServer
metadata: { name: ${name} }
spec:
  token: { file: ${token} }
  privateKey: { file: main/key.pem }
  depUrl: ${depUrl}
`;
}

/**
 * Every row of every table of the SQLite store, for a before/after comparison; only the leader lock's
 * heartbeat is left out (the controller renews it on its own timer, whatever plans run).
 */
function dumpStore(path: string): Record<string, unknown[]> {
  const Database = require('better-sqlite3') as new (p: string, o: { readonly: boolean }) => { prepare(sql: string): { all(): unknown[] }; close(): void };
  const db = new Database(path, { readonly: true });
  try {
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as { name: string }[];
    // WITHOUT ROWID tables (device_state) are ordered by their primary key, the first columns.
    const order = (name: string): string => (name === 'device_state' ? 'server, serial' : 'rowid');
    const rows = (name: string): unknown[] =>
      db.prepare(`SELECT * FROM "${name}" ORDER BY ${order(name)}`).all().map((r) => (name === 'leader_locks' ? { ...(r as Record<string, unknown>), heartbeat: null } : r));
    return Object.fromEntries(tables.map((t) => [t.name, rows(t.name)]));
  } finally {
    db.close();
  }
}

/** The plan without its timestamps: when it was made, and when each server's identity was last checked. */
function timeless(plan: Plan): unknown {
  const { createdAt: _c, ...rest } = plan;
  return { ...rest, servers: plan.servers.map((s) => ({ ...s, identity: s.identity ? { ...s.identity, checkedAt: null } : s.identity })) };
}

describe('depctl plan --remote: a running controller plans pull requests, writing nothing', () => {
  let sim: RunningSimulator;
  let other: RunningSimulator;
  let root: string;
  let work: string;
  let controller: RunningController;
  let logs = '';
  const statePath = (): string => join(root, 'state.db');

  async function pushTo(ref: string, files: Record<string, string>, message: string): Promise<string> {
    git(work, 'checkout', '-q', '--detach', 'origin/main');
    for (const [rel, content] of Object.entries(files)) await writeFile(join(work, rel), content);
    git(work, 'add', '-A');
    git(work, 'commit', '-q', '-m', message);
    git(work, 'push', '-q', '-f', 'origin', `HEAD:${ref}`);
    return git(work, 'rev-parse', 'HEAD');
  }

  const remote = (args: string[], env: Record<string, string> = { DEPCTL_API_TOKEN: TOKEN }): ReturnType<typeof runDepctl> =>
    runDepctl(['plan', '--remote', controller.url, ...args], { cwd: root, env });

  const simHosts = (): string[] => [new URL(sim.url).host, new URL(other.url).host];

  async function api(query: string, token: string | null = TOKEN): Promise<{ status: number; json: unknown }> {
    const res = await request(`${controller.url}/api/plan?${query}`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
    const json = (await res.body.json()) as unknown;
    contract.check('/api/plan', 'get', res.statusCode, json);
    return { status: res.statusCode, json };
  }

  beforeAll(async () => {
    sim = await startSimulator({ devices: 0, seed: 31 });
    sim.portal.addDevices(Array.from({ length: 4 }, () => ({ device_family: 'iPad', os: 'iPadOS', model: 'iPad' })));
    sim.portal.addDevices(Array.from({ length: 2 }, () => ({ device_family: 'Mac', os: 'OSX', model: 'MacBook Air' })));
    other = await startSimulator({ devices: 3, seed: 32 });
    root = await mkdtemp(join(tmpdir(), 'depctl-remote-plan-'));
    const { privateKeyPem, certificatePem } = generateKeyPair();
    await mkdir(join(root, 'secrets', 'main'), { recursive: true });
    await writeFile(join(root, 'secrets', 'main', 'key.pem'), privateKeyPem, { mode: 0o600 });
    await writeFile(join(root, 'secrets', 'main', 'token.p7m'), encryptServerToken(sim.token, certificatePem));
    // A token a pull request may name: it opens the other simulator, so any use of it would show there.
    await mkdir(join(root, 'secrets', 'pr'), { recursive: true });
    await writeFile(join(root, 'secrets', 'pr', 'other.p7m'), encryptServerToken(other.token, certificatePem));
    git(root, 'init', '-q', '--bare', '-b', 'main', 'config.git');
    work = join(root, 'work');
    git(root, 'clone', '-q', join(root, 'config.git'), 'work');
    git(work, 'checkout', '-q', '-b', 'main');
    await writeFile(join(work, 'servers.yaml'), serverYaml('main', sim.url));
    await writeFile(join(work, 'profiles.yaml'), ipadsYaml('One'));
    git(work, 'add', '-A');
    git(work, 'commit', '-q', '-m', 'initial config');
    git(work, 'push', '-q', 'origin', 'HEAD:main');
    git(work, 'fetch', '-q', 'origin');

    const io: CliIo = { stdout: () => {}, stderr: () => {}, cwd: root, env: { DEPCTL_API_TOKEN: TOKEN } };
    const logger = createLogger({ level: 'debug', format: 'json', write: (s) => (logs += s) });
    controller = await startController(
      { repo: join(root, 'config.git'), branch: 'main', path: '.', pollInterval: 3_600_000, syncInterval: 3_600_000, listen: '127.0.0.1:0', workDir: join(root, 'checkout'), allowLarge: false, logLevel: 'debug', logFormat: 'json' },
      // The config's depUrls name loopback simulators: hosts the operator allows (config/trust.ts).
      { stateUrl: `sqlite:${statePath()}`, secretsDir: join(root, 'secrets'), depUrlOverride: undefined, trust: { ...defaultTrustPolicy(join(root, 'secrets')), depHosts: simHosts() } },
      io,
      logger,
    );
    await vi.waitFor(() => expect(controller.loop.current().conditions.find((x) => x.type === 'Ready')?.status, logs.slice(-2000)).toBe('True'), { timeout: 30_000, interval: 25 });
    expect(sim.inspect.profileCount()).toBe(1);
  }, 60_000);

  afterAll(async () => {
    await controller?.stop();
    await sim?.close();
    await other?.close();
    await rm(root, { recursive: true, force: true });
  });

  it('the plan of a pull request equals the local plan of its checkout; no write call, the store unchanged', async () => {
    const sha = await pushTo('refs/pull/7/head', { 'profiles.yaml': ipadsYaml('Two') }, 'rename the department');
    const before = dumpStore(statePath());
    sim.inspect.resetRequestCounts();
    // A scratch checkout left by a process that died during a plan is removed by the next plan.
    await mkdir(join(root, 'checkout-plans', 'plan-stale'), { recursive: true });
    await writeFile(join(root, 'checkout-plans', 'plan-stale', 'servers.yaml'), 'left over');

    const r = await remote(['--ref', 'refs/pull/7/head', '--format', 'json', '--detailed-exitcode']);
    expect(await readdir(join(root, 'checkout-plans'))).toEqual([]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(2);
    const remotePlan = JSON.parse(r.stdout) as Plan;
    expect(remotePlan.commit).toBe(sha);
    expect(remotePlan.summary).toMatchObject({ defines: 1, assign: 4, errors: 0 });
    const calls = sim.inspect.requestCounts();
    expect(Object.keys(calls).length).toBeGreaterThan(0);
    expect(Object.keys(calls).filter((k) => !READS.has(k))).toEqual([]);
    expect(dumpStore(statePath())).toEqual(before);
    expect(sim.inspect.profileCount()).toBe(1);

    // The same commit checked out and planned locally, with the same store and secrets.
    git(root, 'clone', '-q', join(root, 'config.git'), 'pr');
    git(join(root, 'pr'), 'fetch', '-q', 'origin', 'refs/pull/7/head');
    git(join(root, 'pr'), 'checkout', '-q', '--detach', 'FETCH_HEAD');
    const local = await runDepctl(['plan', 'pr', '--format', 'json'], { cwd: root, env: { DEPCTL_STATE: `sqlite:${statePath()}`, DEPCTL_SECRETS_DIR: join(root, 'secrets'), DEPCTL_ALLOW_DEP_HOSTS: simHosts().join(',') } });
    expect(local.stderr).toBe('');
    expect(timeless(remotePlan)).toEqual(timeless(JSON.parse(local.stdout) as Plan));

    // Text and Markdown say which commit was planned and against which revision.
    const text = await remote(['--ref', 'refs/pull/7/head', '--sha', sha]);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(`plan of refs/pull/7/head at ${sha.slice(0, 12)}, compared with the controller's revision ${controller.loop.current().lastAppliedRevision?.slice(0, 12)}`);
    const md = await remote(['--ref', 'refs/pull/7/head', '--format', 'markdown']);
    expect(md.stdout).toContain('| main |');
    // The real controller's status and document match the OpenAPI document too.
    for (const path of ['/api/status', '/api/openapi.json']) {
      const res = await request(`${controller.url}${path}`);
      contract.check(path, 'get', res.statusCode, await res.body.json());
    }
    // The API's own JSON answer matches the OpenAPI document (checked in api()).
    expect((await api('ref=refs%2Fpull%2F7%2Fhead')).status).toBe(200);
    expect(logs).not.toContain(TOKEN);
  }, 60_000);

  it('a pull request that changes a token or adds a server is planned after merge only, with no call made with its values', async () => {
    await pushTo(
      'refs/pull/8/head',
      { 'servers.yaml': `${serverYaml('main', sim.url, 'pr/other.p7m')}---\n${serverYaml('lyon', other.url, 'pr/other.p7m')}` },
      'swap the token, add a server',
    );
    sim.inspect.resetRequestCounts();
    other.inspect.resetRequestCounts();
    const before = dumpStore(statePath());
    const r = await remote(['--ref', 'refs/pull/8/head', '--format', 'json']);
    expect(r.code, r.stderr).toBe(0);
    const plan = JSON.parse(r.stdout) as Plan;
    const problems = Object.fromEntries(plan.servers.map((s) => [s.server, s.problem]));
    expect(problems['main']).toMatchObject({ kind: 'guardrail', reason: 'untrusted-credential-change' });
    expect(problems['main']?.message).toMatch(/credential or endpoint change: planned after merge only \(token differ/);
    expect(problems['lyon']).toMatchObject({ kind: 'guardrail', reason: 'untrusted-credential-change' });
    expect(problems['lyon']?.message).toMatch(/^new server/);
    expect(other.inspect.requestCounts()).toEqual({});
    expect(sim.inspect.requestCounts(), logs.slice(-3000)).toEqual({});
    expect(dumpStore(statePath()), logs.slice(-3000)).toEqual(before);

    // depUrl alone: the same.
    await pushTo('refs/pull/9/head', { 'servers.yaml': serverYaml('main', other.url) }, 'point main elsewhere');
    const md = await remote(['--ref', 'refs/pull/9/head', '--format', 'markdown']);
    expect(md.code, md.stderr).toBe(0);
    expect(md.stdout).toContain('planned after merge only');
    expect(other.inspect.requestCounts()).toEqual({});
    expect(sim.inspect.requestCounts()).toEqual({});
  }, 60_000);

  it('refuses refs outside the repository, unknown refs and commits, invalid configs, and wrong tokens', async () => {
    const tag = await remote(['--ref', 'refs/tags/v1']);
    expect(tag.code).toBe(1);
    expect(tag.stderr).toMatch(/not a branch or a pull\/merge request head of the configured repository/);
    expect((await api('ref=..%2Fother')).status).toBe(400);
    expect((await api(`ref=${encodeURIComponent('https://evil.example/x.git')}`)).status).toBe(400);
    expect((await api('ref=no-such-branch')).status).toBe(404);
    const main = git(root, '--git-dir', join(root, 'config.git'), 'rev-parse', 'main');
    expect((await api(`ref=refs%2Fpull%2F7%2Fhead&sha=${'0'.repeat(40)}`)).status).toBe(404);
    // A commit of the repository given as the ref itself.
    expect((await api(`ref=${main}`)).status).toBe(200);

    await pushTo('refs/pull/10/head', { 'profiles.yaml': ipadsYaml('Bad').replace('profile: ipads', 'profile: ipadz') }, 'broken');
    const bad = await remote(['--ref', 'refs/pull/10/head']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/validation error\(s\) in refs\/pull\/10\/head/);
    expect(bad.stderr).toMatch(/ipadz/);

    // A symbolic link in a pull request is checked out as a plain file holding its target's path: the loader
    // never follows it out of the tree (here to the secrets directory).
    git(work, 'checkout', '-q', '--detach', 'origin/main');
    await symlink(join(root, 'secrets', 'main', 'key.pem'), join(work, 'leak.yaml'));
    git(work, 'add', '-A');
    git(work, 'commit', '-q', '-m', 'a link out of the tree');
    git(work, 'push', '-q', '-f', 'origin', 'HEAD:refs/pull/11/head');
    const link = await remote(['--ref', 'refs/pull/11/head']);
    expect(link.code).toBe(1);
    expect(link.stderr).toMatch(/validation error\(s\) in refs\/pull\/11\/head/);
    expect(link.stderr).not.toContain('PRIVATE KEY');

    const wrong = await remote(['--ref', 'main'], { DEPCTL_API_TOKEN: 'not-the-token' });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/refused the API token \(401\)/);
    expect((await api('ref=main', null)).status).toBe(401);
    const none = await remote(['--ref', 'main'], {});
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/DEPCTL_API_TOKEN/);
    const unreachable = await runDepctl(['plan', '--remote', 'http://127.0.0.1:1', '--ref', 'main'], { cwd: root, env: { DEPCTL_API_TOKEN: TOKEN } });
    expect(unreachable.code).toBe(1);
    expect(unreachable.stderr).toMatch(/cannot reach the controller at http:\/\/127\.0\.0\.1:1\/api\/plan/);
  }, 60_000);

  it('runs one plan at a time: a second request while one waits on Apple gets 429', async () => {
    sim.inspect.resetRequestCounts();
    sim.injectFaults({ latencyMs: 2_000 });
    const first = remote(['--ref', 'refs/pull/7/head', '--format', 'json']);
    await vi.waitFor(() => expect(Object.keys(sim.inspect.requestCounts()).length).toBeGreaterThan(0), { timeout: 20_000, interval: 10 });
    const busy = await remote(['--ref', 'refs/pull/7/head']);
    expect(busy.code).toBe(1);
    expect(busy.stderr).toMatch(/busy or rate-limits this client \(429\).*retry after \d+ s/);
    sim.clearFaults();
    expect((await first).code).toBe(0);
  }, 60_000);
});
