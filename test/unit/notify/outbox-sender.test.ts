/**
 * The outbox sender (notify/outbox.ts) on the memory store with a manual clock: order, stop on failure,
 * exponential backoff per row, leader only, retention with one report per dropped row, and a webhook URL
 * that never reaches the error text.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { backoffMs, OutboxGate, OutboxSender } from '../../../controller/notify/outbox.js';
import { createWebhookNotifier, type DeliveryResult, type Notification } from '../../../controller/notify/webhook.js';
import { MemoryDatabase, MemoryStore } from '../../../controller/store/memory/memory-store.js';

const T0 = new Date('2026-03-01T10:00:00.000Z');
const note = (text: string): Notification => ({ kind: 'run-failed', severity: 'critical', server: 'paris', text });

async function setup(answers: boolean[]) {
  const store = new MemoryStore(new MemoryDatabase());
  await store.migrate();
  let t = T0.getTime();
  const clock = { now: () => new Date(t), advance: (ms: number) => (t += ms) };
  const delivered: string[] = [];
  const attempts: string[] = [];
  let leader = true;
  const log: string[] = [];
  const sender = new OutboxSender({
    outbox: store,
    now: clock.now,
    leader: () => leader,
    notifier: {
      async deliver(n): Promise<DeliveryResult> {
        attempts.push(n.text);
        const ok = answers.length ? answers.shift()! : true;
        if (ok) delivered.push(n.text);
        return ok ? { ok: true } : { ok: false, error: 'HTTP 503' };
      },
    },
    events: {
      failed: (row, _e, next) => log.push(`failed ${row.notification.text} until +${(next.getTime() - t) / 1000}s`),
      expired: (row) => log.push(`expired ${row.notification.text}`),
      backlog: (n) => log.push(`backlog ${n}`),
    },
  });
  const gate = new OutboxGate(store, clock.now);
  return { store, clock, sender, gate, delivered, attempts, log, setLeader: (v: boolean) => (leader = v) };
}

describe('OutboxSender', () => {
  it('backs off 5 s doubling to 5 min', () => {
    expect([1, 2, 3, 4, 6, 7, 20].map(backoffMs)).toEqual([5_000, 10_000, 20_000, 40_000, 160_000, 300_000, 300_000]);
  });

  it('sends in enqueue order, stops at a failure, and retries that row first after its backoff', async () => {
    const h = await setup([true, false, false]);
    for (const x of ['a', 'b', 'c']) await h.gate.notify(x, note(x));
    expect(await h.gate.notify('a', note('a twice'))).toBe(false);
    await h.sender.drain();
    expect(h.delivered).toEqual(['a']);
    expect(h.log).toEqual(['failed b until +5s', 'backlog 2']);
    h.clock.advance(4_999);
    await h.sender.drain();
    expect(h.attempts).toEqual(['a', 'b']);
    h.clock.advance(1);
    await h.sender.drain();
    expect(h.log.at(-2)).toBe('failed b until +10s');
    h.clock.advance(10_000);
    await h.sender.drain();
    expect(h.delivered).toEqual(['a', 'b', 'c']);
    expect(await h.store.countUnsentNotifications()).toBe(0);
    await h.sender.drain();
    expect(h.attempts).toEqual(['a', 'b', 'b', 'b', 'c']);
  });

  it('sends nothing on a follower', async () => {
    const h = await setup([]);
    await h.gate.notify('a', note('a'));
    h.setLeader(false);
    await h.sender.drain();
    expect(h.attempts).toEqual([]);
    h.setLeader(true);
    await h.sender.drain();
    expect(h.delivered).toEqual(['a']);
  });

  it('drops unsent notifications older than the retention, reporting each once', async () => {
    const h = await setup([false, false, false]);
    await h.gate.notify('old', note('old'));
    await h.sender.drain();
    h.clock.advance(24 * 3600_000 - 1);
    await h.gate.notify('new', note('new'));
    h.clock.advance(2);
    await h.sender.drain();
    expect(h.log.filter((l) => l.startsWith('expired'))).toEqual(['expired old']);
    expect(h.attempts).toEqual(['old', 'new']);
  });
});

describe('createWebhookNotifier.deliver', () => {
  let server: Server | undefined;
  afterEach(async () => {
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    server = undefined;
  });

  it('reports a non-2xx answer with the host only, and success with the row id sent along', async () => {
    const bodies: unknown[] = [];
    let status = 503;
    server = createServer((req, res) => {
      let b = '';
      req.on('data', (c: Buffer) => (b += c.toString()));
      req.on('end', () => {
        bodies.push(JSON.parse(b));
        res.writeHead(status).end();
      });
    });
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
    const n = createWebhookNotifier({ url: `http://${host}/services/T0/B0/TOKEN-123` });
    const failed = await n.deliver(note('x'), 'depctl-1');
    expect(failed).toEqual({ ok: false, error: `notification to ${host} failed: notification webhook answered HTTP 503` });
    status = 200;
    expect(await n.deliver(note('x'), 'depctl-1')).toEqual({ ok: true });
    expect(bodies[1]).toMatchObject({ id: 'depctl-1', kind: 'run-failed', text: 'x', source: 'depctl' });
    const down = await createWebhookNotifier({ url: 'http://127.0.0.1:1/TOKEN-123', timeoutMs: 2_000 }).deliver(note('y'));
    expect(down.ok).toBe(false);
    expect(JSON.stringify(down)).not.toContain('TOKEN-123');
  });
});
