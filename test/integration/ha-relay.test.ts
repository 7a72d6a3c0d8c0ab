import { createHmac } from 'node:crypto';
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { request } from 'undici';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { startSimulator, type RunningSimulator } from '../../controller/sim/index.js';
import { controllerStatus, killAll, makeControllerDir, spawnController, type ControllerProcess, pushConfig } from '../helpers/controller-process.js';
import { ipadsYaml, MAIN_SERVER_YAML } from '../helpers/config-yaml.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const WEBHOOK_SECRET = 'ha-relay-webhook-secret';
const API_TOKEN = 'ha-relay-api-token';
const config = (department: string) => ({ 'servers.yaml': MAIN_SERVER_YAML, 'ipads.yaml': ipadsYaml(department) });
const pgUrl = process.env['DEPCTL_TEST_POSTGRES_URL'];

interface Status {
  leader: boolean;
  phase: string;
  lastAppliedRevision: string | null;
  recentRuns: { id: number; trigger: string; commit: string | null }[];
  relay?: { backend: string; up: boolean; reason: string | null };
}
const status = async (url: string): Promise<Status> => (await controllerStatus(url)) as unknown as Status;

async function metrics(url: string): Promise<string> {
  const res = await request(`${url}/metrics`);
  return res.body.text();
}

/** A GitHub push delivery, signed with the webhook secret. */
async function githubPush(url: string, after: string): Promise<{ status: number; retryAfter: unknown; body: Record<string, unknown> }> {
  const body = JSON.stringify({ ref: 'refs/heads/main', after });
  const signature = `sha256=${createHmac('sha256', WEBHOOK_SECRET).update(body).digest('hex')}`;
  const res = await request(`${url}/hooks/git`, { method: 'POST', body, headers: { 'content-type': 'application/json', 'x-github-event': 'push', 'x-hub-signature-256': signature } });
  return { status: res.statusCode, retryAfter: res.headers['retry-after'], body: (await res.body.json()) as Record<string, unknown> };
}

async function manual(url: string): Promise<{ status: number; retryAfter: unknown; body: Record<string, unknown> }> {
  const res = await request(`${url}/api/reconcile`, { method: 'POST', headers: { authorization: `Bearer ${API_TOKEN}` } });
  return { status: res.statusCode, retryAfter: res.headers['retry-after'], body: (await res.body.json()) as Record<string, unknown> };
}

describe('HA: triggers that reach a follower reach the leader (real depctl run processes)', () => {
  let sim: RunningSimulator;
  let dir: string;
  const children: ControllerProcess[] = [];
  let schema: string | undefined;

  const push = (files: Record<string, string>): Promise<string> => pushConfig(dir, files);

  /** Polling and Apple sync an hour apart: within this test only a trigger can start a pass. */
  async function replica(name: string, state: string): Promise<ControllerProcess> {
    const args = ['--repo', join(dir, 'config.git'), '--branch', 'main', '--listen', '127.0.0.1:0', '--work-dir', join(dir, `checkout-${name}`), '--state', state, '--secrets-dir', join(dir, 'secrets'), '--poll-interval', '1h', '--sync-interval', '1h', '--leader-retry-interval', '1s'];
    const env = { DEPCTL_DEP_URL: sim.url, DEPCTL_WEBHOOK_SECRET: WEBHOOK_SECRET, DEPCTL_API_TOKEN: API_TOKEN };
    const c = await spawnController(args, env, dir);
    children.push(c);
    return c;
  }

  const until = (fn: () => Promise<void>): Promise<void> => vi.waitFor(fn, { timeout: 20_000, interval: 50 });

  beforeEach(async () => {
    expect(existsSync(join(root, 'dist/main.js')), 'npm test builds dist/ first').toBe(true);
    sim = await startSimulator({ devices: 0, seed: 13 });
    sim.portal.addDevices(Array.from({ length: 10 }, () => ({ device_family: 'iPad', os: 'iPadOS', model: 'iPad' })));
    dir = await makeControllerDir('depctl-ha-relay-', sim.token);
  });

  afterEach(async () => {
    await killAll(children);
    await sim.close();
    await rm(dir, { recursive: true, force: true });
    if (schema) {
      const admin = new pg.Client({ connectionString: pgUrl });
      await admin.connect();
      await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).finally(() => admin.end());
      schema = undefined;
    }
  });

  it.runIf(pgUrl)('PostgreSQL: a webhook and POST /api/reconcile sent to the follower make the leader run a pass; after a failover the new leader does', async () => {
    const first = await push(config('One'));
    schema = `ha_relay_${process.pid}_${Date.now()}`;
    const state = `${pgUrl}${pgUrl?.includes('?') ? '&' : '?'}schema=${schema}`;
    const a = await replica('a', state);
    await until(async () => expect((await status(a.url)).lastAppliedRevision).toBe(first));
    const b = await replica('b', state);
    await until(async () => expect((await status(b.url)).phase).toBe('idle'));
    expect((await status(a.url)).leader).toBe(true);
    const fb = await status(b.url);
    expect(fb.leader).toBe(false);
    expect(fb.relay).toEqual({ backend: 'postgres', up: true, reason: null });
    expect(sim.inspect.requestCounts()['POST /profile']).toBe(1);

    // A push announced to the follower: the leader fetches and applies it, an hour before its next poll.
    const second = await push(config('Two'));
    const hook = await githubPush(b.url, second);
    expect(hook.status).toBe(202);
    expect(hook.body).toMatchObject({ triggered: true, reason: 'webhook', relayedTo: 'leader' });
    expect(String(hook.body['leader'])).toContain(`/${a.child.pid}/`);
    await until(async () => expect((await status(a.url)).lastAppliedRevision).toBe(second));
    expect(sim.inspect.requestCounts()['POST /profile']).toBe(2);
    expect((await status(a.url)).recentRuns[0]).toMatchObject({ trigger: 'git', commit: second });

    // A manual pass asked of the follower runs on the leader, recorded as manual: it finds the devices added in
    // the portal since (a pass with nothing to write records no run) and assigns them.
    const newIpads = (): unknown => sim.portal.addDevices(Array.from({ length: 3 }, () => ({ device_family: 'iPad', os: 'iPadOS', model: 'iPad' })));
    newIpads();
    const manualRuns = async (url: string): Promise<number> => (await status(url)).recentRuns.filter((r) => r.trigger === 'manual').length;
    expect(await manualRuns(a.url)).toBe(0);
    const m = await manual(b.url);
    expect(m).toMatchObject({ status: 202, body: { triggered: true, reason: 'manual', relayedTo: 'leader' } });
    await until(async () => expect(await manualRuns(a.url)).toBe(1));
    // The follower ran nothing itself: it never leads, and Apple saw one define per revision.
    expect((await status(b.url)).leader).toBe(false);
    expect(sim.inspect.requestCounts()['POST /profile']).toBe(2);

    expect(await metrics(b.url)).toMatch(/depctl_triggers_relayed_total\{trigger="webhook",direction="sent"\} 1\n/);
    expect(await metrics(b.url)).toMatch(/depctl_triggers_relayed_total\{trigger="manual",direction="sent"\} 1\n/);
    expect(await metrics(b.url)).toMatch(/depctl_trigger_relay_up\{backend="postgres"\} 1\n/);
    expect(await metrics(a.url)).toMatch(/depctl_triggers_relayed_total\{trigger="webhook",direction="received"\} 1\n/);

    // Failover: the old follower leads; a new replica relays to it.
    a.child.kill('SIGKILL');
    await a.exited;
    await until(async () => expect((await status(b.url)).leader).toBe(true));
    const c = await replica('c', state);
    await until(async () => expect((await status(c.url)).phase).toBe('idle'));
    expect((await status(c.url)).leader).toBe(false);
    const before = await manualRuns(b.url);
    newIpads();
    const m2 = await manual(c.url);
    expect(m2).toMatchObject({ status: 202, body: { relayedTo: 'leader' } });
    expect(String(m2.body['leader'])).toContain(`/${b.child.pid}/`);
    await until(async () => expect(await manualRuns(b.url)).toBe(before + 1));
    expect(await metrics(b.url)).toMatch(/depctl_triggers_relayed_total\{trigger="manual",direction="received"\} 1\n/);
  });

  it('SQLite: a follower has no relay and says so with 503 and Retry-After instead of dropping the trigger', async () => {
    const first = await push(config('One'));
    const state = `sqlite:${join(dir, 'state.db')}`;
    const a = await replica('a', state);
    await until(async () => expect((await status(a.url)).lastAppliedRevision).toBe(first));
    const b = await replica('b', state);
    await until(async () => expect((await status(b.url)).phase).toBe('idle'));
    expect((await status(b.url)).leader).toBe(false);
    expect((await status(b.url)).relay).toBeUndefined();

    const hook = await githubPush(b.url, first);
    expect(hook).toMatchObject({ status: 503, retryAfter: '10', body: { triggered: false, reason: 'webhook' } });
    expect(String(hook.body['error'])).toMatch(/not the leader and SQLite state has no trigger relay/);
    expect(await manual(b.url)).toMatchObject({ status: 503, retryAfter: '10' });
    expect(await metrics(b.url)).toMatch(/depctl_triggers_relayed_total\{trigger="webhook",direction="failed"\} 1\n/);
    // The leader itself takes triggers as before (new devices give the manual pass something to record).
    sim.portal.addDevices(Array.from({ length: 2 }, () => ({ device_family: 'iPad', os: 'iPadOS', model: 'iPad' })));
    expect(await manual(a.url)).toMatchObject({ status: 202, body: { triggered: true, reason: 'manual' } });
    await until(async () => expect((await status(a.url)).recentRuns.some((r) => r.trigger === 'manual')).toBe(true));
  });
});
