/**
 * The one suite every TriggerRelay passes (STYLE rule 1): the in-process relay and PostgreSQL LISTEN/NOTIFY.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { RelayMessage, TriggerRelay } from '../../controller/reconcile/ports.js';

/** Two replicas of one store and one replica of another store. */
export interface RelayFixture {
  a: TriggerRelay;
  b: TriggerRelay;
  otherStore: TriggerRelay;
  close(): Promise<void>;
}

const message = (over: Partial<RelayMessage> = {}): RelayMessage => ({ kind: 'request', id: randomUUID(), trigger: 'webhook', reason: 'github', origin: 'a', ...over });

/** Records what a relay delivers; `has(id)` waits until a message with that id arrived. */
function record(relay: TriggerRelay): { got: RelayMessage[]; has(id: string): Promise<RelayMessage>; stop(): void } {
  const got: RelayMessage[] = [];
  const stop = relay.subscribe((m) => void got.push(m));
  return {
    got,
    stop,
    has: (id) =>
      vi.waitFor(() => {
        const m = got.find((x) => x.id === id);
        if (!m) throw new Error(`message ${id} not delivered`);
        return m;
      }, { timeout: 10_000, interval: 5 }),
  };
}

export function runRelayConformance(name: string, open: () => Promise<RelayFixture>): void {
  describe(`trigger relay conformance: ${name}`, () => {
    let fx: RelayFixture | undefined;
    afterEach(async () => {
      await fx?.close();
      fx = undefined;
    });

    it('is up, and delivers each message to every replica of the store, the sender included', async () => {
      fx = await open();
      expect(fx.a.health()).toMatchObject({ up: true, reason: null });
      const ra = record(fx.a);
      const rb = record(fx.b);
      const m = message();
      await fx.a.publish(m);
      expect(await rb.has(m.id)).toEqual(m);
      expect(await ra.has(m.id)).toEqual(m);
      const ack = message({ kind: 'ack', id: m.id, origin: 'b', trigger: 'manual', reason: 'api' });
      await fx.b.publish(ack);
      await vi.waitFor(() => expect(ra.got.filter((x) => x.kind === 'ack')).toEqual([ack]), { timeout: 10_000, interval: 5 });
    });

    it('keeps stores apart and stops delivering to an unsubscribed handler', async () => {
      fx = await open();
      const other = record(fx.otherStore);
      const rb = record(fx.b);
      const gone = record(fx.b);
      gone.stop();
      const m = message();
      await fx.a.publish(m);
      await rb.has(m.id);
      // A message of the other store arrives there; ours, published first, never did.
      const own = message();
      await fx.otherStore.publish(own);
      await other.has(own.id);
      expect(other.got.map((x) => x.id)).toEqual([own.id]);
      expect(gone.got).toEqual([]);
    });

    it('after close it is down and publishing rejects', async () => {
      fx = await open();
      await fx.a.close();
      expect(fx.a.health().up).toBe(false);
      await expect(fx.a.publish(message())).rejects.toThrow();
    });
  });
}
