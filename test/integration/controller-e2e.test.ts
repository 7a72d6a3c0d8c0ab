import { createHmac } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { startSimulator, type RunningSimulator } from '../../controller/sim/index.js';
import { encryptServerToken, generateKeyPair } from '../../controller/tokens/index.js';
import { startController, type RunningController, type RunOptions } from '../../controller/cli/run.js';
import { createLogger } from '../../controller/util/logger.js';
import type { CliIo } from '../../controller/cli/io.js';
import { git } from '../helpers/git.js';
import { ipadsYaml, MAIN_SERVER_YAML } from '../helpers/config-yaml.js';

const WEBHOOK_SECRET = 'test-webhook-secret';

const server = MAIN_SERVER_YAML;
const profile = ipadsYaml;


describe('depctl run: the controller against a bare git repository and the simulator', () => {
  let sim: RunningSimulator;
  let root: string;
  let work: string;
  let controller: RunningController | undefined;
  let logs: string;

  async function push(files: Record<string, string>, message: string): Promise<string> {
    for (const [rel, content] of Object.entries(files)) await writeFile(join(work, rel), content);
    git(work, 'add', '-A');
    git(work, 'commit', '-q', '-m', message);
    git(work, 'push', '-q', 'origin', 'HEAD:main');
    return git(work, 'rev-parse', 'HEAD');
  }

  async function start(extra: Partial<RunOptions> = {}): Promise<RunningController> {
    const io: CliIo = { stdout: () => {}, stderr: () => {}, cwd: root, env: { DEPCTL_WEBHOOK_SECRET: WEBHOOK_SECRET } };
    logs = '';
    const logger = createLogger({ level: 'debug', format: 'json', write: (s) => (logs += s) });
    const opts: RunOptions = {
      repo: join(root, 'config.git'),
      branch: 'main',
      path: '.',
      pollInterval: 60_000,
      syncInterval: 60_000,
      listen: '127.0.0.1:0',
      workDir: join(root, 'checkout'),
      allowLarge: false,
      logLevel: 'debug',
      logFormat: 'json',
      ...extra,
    };
    controller = await startController(opts, { stateUrl: `sqlite:${join(root, 'state.db')}`, secretsDir: join(root, 'secrets'), depUrlOverride: sim.url }, io, logger);
    return controller;
  }

  beforeEach(async () => {
    sim = await startSimulator({ devices: 0, seed: 11 });
    sim.portal.addDevices(Array.from({ length: 4 }, () => ({ device_family: 'iPad', os: 'iPadOS', model: 'iPad' })));
    root = await mkdtemp(join(tmpdir(), 'depctl-run-'));
    const { privateKeyPem, certificatePem } = generateKeyPair();
    await mkdir(join(root, 'secrets', 'main'), { recursive: true });
    await writeFile(join(root, 'secrets', 'main', 'key.pem'), privateKeyPem, { mode: 0o600 });
    await writeFile(join(root, 'secrets', 'main', 'token.p7m'), encryptServerToken(sim.token, certificatePem));
    git(root, 'init', '-q', '--bare', '-b', 'main', 'config.git');
    work = join(root, 'work');
    git(root, 'clone', '-q', join(root, 'config.git'), 'work');
    git(work, 'checkout', '-q', '-b', 'main');
    await push({ 'servers.yaml': server, 'profiles.yaml': profile('One') }, 'initial config');
  });

  afterEach(async () => {
    await controller?.stop();
    controller = undefined;
    await sim.close();
    await rm(root, { recursive: true, force: true });
  });

  it('applies the repository, then a pushed commit within seconds of the webhook; refuses an invalid commit', async () => {
    const c = await start();
    await vi.waitFor(() => expect(c.loop.current().conditions.find((x) => x.type === 'Ready')?.status).toBe('True'), { timeout: 20_000, interval: 25 });
    const first = c.loop.current().lastAppliedRevision;
    const uuid1 = Object.values(sim.inspect.requestCounts()).length > 0 ? sim.inspect.profileCount() : 0;
    expect(uuid1).toBe(1);

    const second = await push({ 'profiles.yaml': profile('Two') }, 'rename department');
    expect(second).not.toBe(first);
    const body = JSON.stringify({ ref: 'refs/heads/main', after: second });
    const signature = `sha256=${createHmac('sha256', WEBHOOK_SECRET).update(body).digest('hex')}`;
    const hook = await request(`${c.url}/hooks/git`, { method: 'POST', body, headers: { 'content-type': 'application/json', 'x-github-event': 'push', 'x-hub-signature-256': signature } });
    await hook.body.dump();
    expect(hook.statusCode).toBe(202);
    // Poll interval is a minute: only the webhook can make this happen within the wait below.
    await vi.waitFor(() => expect(c.loop.current().lastAppliedRevision).toBe(second), { timeout: 15_000, interval: 25 });
    expect(sim.inspect.profileCount()).toBe(2);

    const status = await request(`${c.url}/api/status`);
    const json = (await status.body.json()) as { lastAppliedRevision: string; servers: { name: string; devices: number; devicesByProfile: Record<string, number> }[] };
    expect(json.lastAppliedRevision).toBe(second);
    expect(json.servers).toEqual([expect.objectContaining({ name: 'main', devices: 4, devicesByProfile: { ipads: 4 } })]);
    const metrics = await (await request(`${c.url}/metrics`)).body.text();
    expect(metrics).toMatch(/depctl_reconcile_runs_total\{[^}]*outcome="success"[^}]*\} [1-9]/);

    // A commit that fails validation is refused; the last good revision stays in force.
    // An assignment that names a profile the repository does not define: a validation error.
    const bad = await push({ 'profiles.yaml': profile('Three').replace('profile: ipads', 'profile: ipadz') }, 'broken');
    const badHook = await request(`${c.url}/hooks/git`, { method: 'POST', body, headers: { 'x-github-event': 'push', 'x-hub-signature-256': signature } });
    await badHook.body.dump();
    await vi.waitFor(() => expect(c.loop.current().refusedRevision?.revision).toBe(bad), { timeout: 15_000, interval: 25 });
    expect(c.loop.current().lastAppliedRevision).toBe(second);
    expect(c.loop.current().refusedRevision?.message).toMatch(/ipadz/);
    expect(sim.inspect.profileCount()).toBe(2);
    // The newest revision is not applied, so the controller is not Ready, and says which revision and why.
    const ready = c.loop.current().conditions.find((x) => x.type === 'Ready');
    expect(ready).toMatchObject({ status: 'False', reason: 'ValidationFailed' });
    expect(ready?.message).toContain(`newest revision ${bad.slice(0, 12)} is invalid and was not applied:`);
    expect(ready?.message).toContain(`revision ${second.slice(0, 12)} stays in force`);
    const page = await (await request(`${c.url}/`)).body.text();
    expect(page).toMatch(/data-testid="ready" data-status="False"[^>]*>not ready · ValidationFailed</);
    // No secret in the logs.
    expect(logs).not.toContain(WEBHOOK_SECRET);
    expect(logs).not.toContain(sim.token.consumer_secret);
    expect(logs).not.toContain(sim.token.access_secret);
  });

  it('a server stalled on the terms: Ready False Stalled, lastAppliedRevision stays on the last revision applied without a problem', async () => {
    const c = await start();
    await vi.waitFor(() => expect(c.loop.current().conditions.find((x) => x.type === 'Ready')?.status).toBe('True'), { timeout: 20_000, interval: 25 });
    const first = c.loop.current().lastAppliedRevision;
    expect(first).not.toBeNull();
    sim.injectFaults({ termsNotSigned: true });
    const next = await push({ 'profiles.yaml': profile('Terms') }, 'edit while the terms are not signed');
    c.loop.trigger('webhook');
    await vi.waitFor(() => expect(c.loop.current().conditions.find((x) => x.type === 'Stalled')?.status).toBe('True'), { timeout: 15_000, interval: 25 });
    const status = c.loop.current();
    expect(status.lastAttemptedRevision).toBe(next);
    expect(status.lastAppliedRevision).toBe(first);
    expect(status.conditions.find((x) => x.type === 'Ready')).toMatchObject({ status: 'False', reason: 'Stalled' });
    expect(status.servers[0]?.problem).toMatchObject({ server: 'main', kind: 'terminal', reason: 'T_C_NOT_SIGNED' });
    const metrics = await (await request(`${c.url}/metrics`)).body.text();
    expect(metrics).toContain('depctl_server_problem{server="main",kind="terminal",reason="T_C_NOT_SIGNED"} 1');
    expect(metrics).toContain('depctl_server_state{server="main",state="stopped"} 1');
  });

  it('results persist: failed and throttled serials stay in status and metrics across a no-op pass', async () => {
    const c = await start();
    const runsTotal = async (): Promise<number> => {
      const text = await (await request(`${c.url}/metrics`)).body.text();
      return [...text.matchAll(/^depctl_reconcile_runs_total\{[^}]*\} (\d+)$/gm)].reduce((n, m) => n + Number(m[1]), 0);
    };
    await vi.waitFor(async () => expect(await runsTotal()).toBe(1), { timeout: 20_000, interval: 25 });
    // Two iPads arrive after the profile is defined, so they are assigned with an assign call, where Apple
    // answers FAILED for one and THROTTLED (retry in an hour) for the other.
    const serials = sim.portal.addDevices([{ device_family: 'iPad', os: 'iPadOS', model: 'iPad' }, { device_family: 'iPad', os: 'iPadOS', model: 'iPad' }]).map((d) => d.serial_number);
    sim.injectFaults({ failedSerials: [serials[0]!], throttledSerials: { serials: [serials[1]!], retryAfterSeconds: 3600 } });
    c.loop.trigger('manual');
    await vi.waitFor(async () => expect(await runsTotal()).toBe(2), { timeout: 20_000, interval: 25 });
    const results = (): unknown => c.loop.current().servers[0]?.devicesByResult;
    expect(results()).toEqual({ success: 4, failed: 1, throttled: 1 });
    expect(c.loop.current().servers[0]?.deferred).toBe(2);
    expect(c.loop.current().conditions.find((x) => x.type === 'Ready')).toMatchObject({ status: 'False', reason: 'PartialApply' });
    // A second pass writes nothing (both serials wait for their retry time) and must not forget them.
    c.loop.trigger('manual');
    await vi.waitFor(async () => expect(await runsTotal()).toBe(3), { timeout: 20_000, interval: 25 });
    expect(results()).toEqual({ success: 4, failed: 1, throttled: 1 });
    expect(c.loop.current().servers[0]?.deferred).toBe(2);
    expect(c.loop.current().conditions.find((x) => x.type === 'Ready')).toMatchObject({ status: 'False', reason: 'PartialApply' });
    const metrics = await (await request(`${c.url}/metrics`)).body.text();
    expect(metrics).toContain('depctl_device_results{server="main",result="failed"} 1');
    expect(metrics).toContain('depctl_device_results{server="main",result="throttled"} 1');
    expect(metrics).toContain('depctl_deferred_serials{server="main"} 2');
    const page = await (await request(`${c.url}/`)).body.text();
    expect(page).toMatch(/data-testid="ready" data-status="False"[^>]*>not ready · PartialApply</);
    expect(page).toMatch(/data-testid="result-main-failed" data-value="1"/);
  });

  it('picks up a pushed commit within one poll interval without a webhook', async () => {
    const c = await start({ pollInterval: 300 });
    await vi.waitFor(() => expect(c.loop.current().lastAppliedRevision).not.toBeNull(), { timeout: 20_000, interval: 25 });
    const next = await push({ 'profiles.yaml': profile('Polled') }, 'edit');
    await vi.waitFor(() => expect(c.loop.current().lastAppliedRevision).toBe(next), { timeout: 15_000, interval: 25 });
    expect(sim.inspect.profileCount()).toBe(2);
  });
});
