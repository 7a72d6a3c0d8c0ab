import { randomBytes, randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { RelayHealth, RelayMessage } from '../../controller/reconcile/ports.js';
import { runRelayConformance } from './relay-conformance.js';
import { openPostgresRelay, parseRelayMessage, relayChannel, type PostgresTriggerRelay } from '../../controller/store/postgres/relay.js';

// A real server (CI: .ci/postgres.sh); reported as skipped where DEPCTL_TEST_POSTGRES_URL is not set.
const url = process.env.DEPCTL_TEST_POSTGRES_URL;

const withSchema = (schema: string): string => `${url}${url?.includes('?') ? '&' : '?'}schema=${schema}`;
const message = (over: Partial<RelayMessage> = {}): RelayMessage => ({ kind: 'request', id: randomUUID(), trigger: 'webhook', reason: 'github', origin: 'replica-a', ...over });

/** Collects what a relay receives; `next(pred)` resolves with the first message matching. */
function inbox(relay: PostgresTriggerRelay) {
  const got: RelayMessage[] = [];
  relay.subscribe((m) => void got.push(m));
  return {
    got,
    next: (id: string) => vi.waitFor(() => {
      const m = got.find((x) => x.id === id);
      if (!m) throw new Error(`message ${id} not received`);
      return m;
    }, { timeout: 10_000, interval: 10 }),
  };
}

describe('relay messages', () => {
  it('accepts only well-formed, small messages', () => {
    const m = message();
    expect(parseRelayMessage(JSON.stringify(m))).toEqual(m);
    expect(parseRelayMessage(JSON.stringify({ ...m, trigger: 'schedule' }))).toBeNull();
    expect(parseRelayMessage(JSON.stringify({ ...m, kind: 'run' }))).toBeNull();
    expect(parseRelayMessage('not json')).toBeNull();
    expect(parseRelayMessage(JSON.stringify({ ...m, origin: 'x'.repeat(500) }))).toBeNull();
    expect(parseRelayMessage(undefined)).toBeNull();
  });

  it('one channel per store: a digest of the schema, a valid identifier', () => {
    expect(relayChannel('a')).not.toBe(relayChannel('b'));
    expect(relayChannel(null)).toMatch(/^depctl_triggers_[0-9a-f]{16}$/);
    expect(relayChannel('x'.repeat(63)).length).toBeLessThan(64);
  });
});

describe.skipIf(!url)('PostgreSQL trigger relay (LISTEN/NOTIFY)', () => {
  runRelayConformance('postgres', async () => {
    const schema = `relay_${randomBytes(5).toString('hex')}`;
    const [a, b, otherStore] = await Promise.all([schema, schema, `${schema}_other`].map((s) => openPostgresRelay(withSchema(s))));
    return { a: a!, b: b!, otherStore: otherStore!, close: async () => void (await Promise.all([a!.close(), b!.close(), otherStore!.close()])) };
  });

  const relays: PostgresTriggerRelay[] = [];
  afterEach(async () => {
    for (const r of relays.splice(0)) await r.close();
  });

  async function open(schema: string, onHealth?: (h: RelayHealth) => void): Promise<PostgresTriggerRelay> {
    const r = await openPostgresRelay(withSchema(schema), { baseDelayMs: 50, maxDelayMs: 200, ...(onHealth ? { onHealth } : {}) });
    relays.push(r);
    return r;
  }

  it('a terminated connection: health says down, it reconnects with backoff and delivers again', async () => {
    const schema = `relay_${randomBytes(5).toString('hex')}`;
    const health: RelayHealth[] = [];
    const whileDown: Promise<string>[] = [];
    const listener = await open(schema, (h) => {
      health.push(h);
      // Sent the moment it goes down: publishing must say so instead of pretending.
      if (!h.up) whileDown.push(listener.publish(message()).then(() => 'sent', (err: Error) => err.message));
    });
    const sender = await open(schema);
    const inb = inbox(listener);
    const first = message();
    await sender.publish(first);
    await inb.next(first.id);

    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    try {
      // Both relays' sessions (this process's relays, found by their application_name): both must come back.
      const { rows } = await admin.query<{ ok: boolean }>(
        'SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE application_name = $1',
        [`depctl relay pid ${process.pid}`],
      );
      expect(rows).toEqual([{ ok: true }, { ok: true }]);
    } finally {
      await admin.end();
    }
    await vi.waitFor(() => expect(health.some((h) => !h.up)).toBe(true), { timeout: 10_000, interval: 10 });
    const down = health.find((h) => !h.up);
    expect(down?.reason).toMatch(/terminat|closed|unexpected/i);
    expect(whileDown.length).toBeGreaterThan(0);
    for (const p of whileDown) expect(await p).toMatch(/^trigger relay is down: /);
    await vi.waitFor(() => expect([listener.health().up, sender.health().up]).toEqual([true, true]), { timeout: 10_000, interval: 10 });
    const second = message();
    await sender.publish(second);
    expect(await inb.next(second.id)).toEqual(second);
    // And it can send again on its new connection.
    const inSender = inbox(sender);
    const third = message({ origin: 'listener' });
    await listener.publish(third);
    await inSender.next(third.id);
  });

  it('an unreachable server: down with the reason, publish rejects, close stops the retries', async () => {
    const bad = new URL(url!);
    bad.port = '1';
    const r = await openPostgresRelay(bad.toString(), { baseDelayMs: 20, maxDelayMs: 50 });
    relays.push(r);
    expect(r.health()).toMatchObject({ backend: 'postgres', up: false });
    expect(r.health().reason).toMatch(/ECONNREFUSED|connect/);
    await expect(r.publish(message())).rejects.toThrow(/trigger relay is down/);
    await r.close();
    expect(r.health()).toEqual({ backend: 'postgres', up: false, reason: 'closed' });
  });
});
