import { pino } from 'pino';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { InProcessRelay, TriggerRouter, type TriggerRouterDeps } from '../../../controller/reconcile/trigger-relay.js';
import type { RelayableTrigger } from '../../../controller/reconcile/ports.js';
import { createMetrics } from '../../../controller/server/metrics.js';
import { startControlServer, type ControlServer } from '../../../controller/server/http.js';
import { sampleStatus } from '../server/sample-status.js';

/** A replica: a router whose leadership the test sets, and the passes its loop was asked for. */
function replica(name: string, relay: InProcessRelay | null, leader: boolean | null, extra: Partial<TriggerRouterDeps> = {}) {
  const r = { leader, triggers: [] as RelayableTrigger[], relayed: [] as string[], router: undefined as unknown as TriggerRouter };
  r.router = new TriggerRouter({
    replica: name,
    relay,
    leader: () => r.leader,
    trigger: (t) => void r.triggers.push(t),
    onRelayed: (t, d) => void r.relayed.push(`${t}:${d}`),
    ackTimeoutMs: 200,
    ...extra,
  });
  return r;
}

describe('TriggerRouter', () => {
  it('a leader runs the trigger itself; nothing goes over the relay', async () => {
    const relay = new InProcessRelay();
    const sent: string[] = [];
    relay.subscribe((m) => void sent.push(m.kind));
    const a = replica('a', relay, true);
    expect(await a.router.route('webhook', 'github')).toEqual({ kind: 'local' });
    expect(a.triggers).toEqual(['webhook']);
    expect(sent).toEqual([]);
  });

  it('a follower relays to the leader, which runs the pass and acknowledges; the follower runs nothing', async () => {
    const relay = new InProcessRelay();
    const leader = replica('lead', relay, true);
    const follower = replica('follow', relay, false);
    const third = replica('other-follower', relay, false);
    expect(await follower.router.route('manual', 'api')).toEqual({ kind: 'relayed', leader: 'lead' });
    expect(leader.triggers).toEqual(['manual']);
    expect(follower.triggers).toEqual([]);
    expect(third.triggers).toEqual([]);
    expect(leader.relayed).toEqual(['manual:received']);
    expect(follower.relayed).toEqual(['manual:sent']);
  });

  it('no leader listening: the follower refuses after the ack timeout instead of pretending', async () => {
    const relay = new InProcessRelay();
    const follower = replica('follow', relay, false);
    replica('other', relay, false);
    const r = await follower.router.route('webhook', 'gitlab');
    expect(r).toMatchObject({ kind: 'refused', retryAfterSeconds: 10 });
    expect(r.kind === 'refused' && r.reason).toMatch(/no leader acknowledged/);
    expect(follower.relayed).toEqual(['webhook:failed']);
  });

  it('relay down or absent: refused at once with the reason', async () => {
    const relay = new InProcessRelay();
    const leader = replica('lead', relay, true);
    const follower = replica('follow', relay, false);
    relay.setDown('connection terminated');
    const r = await follower.router.route('webhook', 'github');
    expect(r.kind === 'refused' && r.reason).toMatch(/relay is down \(connection terminated\)/);
    expect(leader.triggers).toEqual([]);
    const sqlite = replica('s', null, false, { noRelayReason: 'SQLite state has no trigger relay' });
    const s = await sqlite.router.route('manual', 'api');
    expect(s.kind === 'refused' && s.reason).toMatch(/not the leader and SQLite state has no trigger relay/);
  });

  it('a replica that is still starting queues the trigger (its first round decides)', async () => {
    const a = replica('a', new InProcessRelay(), null);
    expect(await a.router.route('manual', 'api')).toEqual({ kind: 'local' });
    expect(a.triggers).toEqual(['manual']);
  });

  it('leadership moves: the new leader acts on the next relayed trigger, the old one no longer does', async () => {
    const relay = new InProcessRelay();
    const a = replica('a', relay, true);
    const b = replica('b', relay, false);
    const c = replica('c', relay, false);
    expect(await c.router.route('webhook', 'github')).toEqual({ kind: 'relayed', leader: 'a' });
    a.leader = false;
    b.leader = true;
    expect(await c.router.route('webhook', 'github')).toEqual({ kind: 'relayed', leader: 'b' });
    expect(a.triggers).toEqual(['webhook']);
    expect(b.triggers).toEqual(['webhook']);
  });

  it('a follower that became leader while its own request was on the wire acts on it itself', async () => {
    const relay = new InProcessRelay();
    const a = replica('a', relay, false);
    const pending = a.router.route('manual', 'api');
    a.leader = true;
    expect(await pending).toEqual({ kind: 'relayed', leader: 'a' });
    expect(a.triggers).toEqual(['manual']);
  });
});

describe('control server answers for relayed triggers', () => {
  let server: ControlServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  async function post(result: Awaited<ReturnType<TriggerRouter['route']>>): Promise<{ status: number; retryAfter: unknown; body: unknown }> {
    server = await startControlServer({
      listen: '127.0.0.1:0',
      status: () => sampleStatus(new Date()),
      metrics: createMetrics({ defaultMetrics: false }),
      health: () => ({ live: true, ready: true }),
      trigger: () => Promise.resolve(result),
      apiToken: 'tok',
      logger: pino({ level: 'silent' }),
    });
    const res = await request(`${server.url}/api/reconcile`, { method: 'POST', headers: { authorization: 'Bearer tok' } });
    return { status: res.statusCode, retryAfter: res.headers['retry-after'], body: await res.body.json() };
  }

  it('202 with relayedTo once the leader acknowledged', async () => {
    expect(await post({ kind: 'relayed', leader: 'host/12/ab' })).toEqual({ status: 202, retryAfter: undefined, body: { triggered: true, reason: 'manual', relayedTo: 'leader', leader: 'host/12/ab' } });
  });

  it('503 with Retry-After and the reason when it could not be relayed', async () => {
    expect(await post({ kind: 'refused', reason: 'relay is down', retryAfterSeconds: 10 })).toEqual({ status: 503, retryAfter: '10', body: { triggered: false, reason: 'manual', error: 'relay is down' } });
  });

  it('202 without relayedTo when queued locally', async () => {
    expect(await post({ kind: 'local' })).toEqual({ status: 202, retryAfter: undefined, body: { triggered: true, reason: 'manual' } });
  });
});
