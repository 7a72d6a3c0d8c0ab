/**
 * Routing of triggers between HA replicas (issue 13): `POST /api/reconcile` and the git webhook may reach any
 * replica behind a load balancer, but only the leader runs passes. The leader triggers its own loop; a
 * follower hands the trigger to the leader over the store's relay (PostgreSQL LISTEN/NOTIFY,
 * store/postgres/relay.ts) and answers "relayed" only once the leader has acknowledged it. Every replica
 * listens all the time and acts on a request only while it leads, so a new leader needs no set-up.
 *
 * The answer a caller gets (server/http.ts turns it into HTTP):
 * - `local`: this replica leads (or is still starting; its first round runs a pass if it leads) and
 *   queued the pass: 202.
 * - `relayed`: the leader acknowledged the request within `ackTimeoutMs`: 202 with `relayedTo: "leader"`.
 * - `refused`: no relay (SQLite), the relay is down, or no leader acknowledged in time: 503 with a reason and
 *   Retry-After. A 202 never stands for a trigger that may have been dropped.
 */
import { randomUUID } from 'node:crypto';
import type { RelayableTrigger, RelayHealth, RelayMessage, TriggerRelay } from './ports.js';

/** What became of a trigger. */
export type TriggerResult =
  | { kind: 'local' }
  | { kind: 'relayed'; leader: string }
  | { kind: 'refused'; reason: string; retryAfterSeconds: number };

/** How long a follower waits for the leader's ack before answering 503. */
export const DEFAULT_ACK_TIMEOUT_MS = 3_000;
/** Retry-After (seconds) of a refused trigger: about one reconnect or leadership retry. */
export const RETRY_AFTER_SECONDS = 10;

/** What a router needs. */
export interface TriggerRouterDeps {
  /** This replica's id (host, pid and a random part). */
  replica: string;
  /** The store's relay, or null when the store has none (`noRelayReason` says why). */
  relay: TriggerRelay | null;
  noRelayReason?: string;
  /** Whether this replica leads now; null while that is not known yet (before the first round). */
  leader(): boolean | null;
  /** Queues a pass on this replica's loop. */
  trigger(trigger: RelayableTrigger): void;
  /** Counts relayed triggers: `sent` (acknowledged by the leader), `received` (acted on), `failed` (refused). */
  onRelayed?(trigger: RelayableTrigger, direction: 'sent' | 'received' | 'failed'): void;
  /** Logs what happened to relayed requests (never a secret: kinds, reasons, replica ids). */
  onLog?(level: 'info' | 'warn', fields: Record<string, string>, message: string): void;
  ackTimeoutMs?: number;
}

/** Routes triggers to the leader; see the module comment. */
export class TriggerRouter {
  private readonly waiting = new Map<string, (leader: string) => void>();
  private readonly unsubscribe: (() => void) | undefined;

  constructor(private readonly deps: TriggerRouterDeps) {
    this.unsubscribe = deps.relay?.subscribe((m) => this.receive(m));
  }

  /** The relay's health, or undefined when the store has none. */
  health(): RelayHealth | undefined {
    return this.deps.relay?.health();
  }

  /** Runs a trigger here when leading, else relays it to the leader; resolves with what became of it. */
  async route(trigger: RelayableTrigger, reason: string): Promise<TriggerResult> {
    if (this.deps.leader() !== false) {
      this.deps.trigger(trigger);
      return { kind: 'local' };
    }
    const refuse = (why: string): TriggerResult => {
      this.deps.onRelayed?.(trigger, 'failed');
      this.deps.onLog?.('warn', { trigger, reason }, `trigger not relayed: ${why}`);
      return { kind: 'refused', reason: why, retryAfterSeconds: RETRY_AFTER_SECONDS };
    };
    const relay = this.deps.relay;
    if (!relay) return refuse(`this replica is not the leader and ${this.deps.noRelayReason ?? 'the store has no trigger relay'}`);
    const health = relay.health();
    if (!health.up) return refuse(`this replica is not the leader and its trigger relay is down (${health.reason ?? 'unknown'})`);
    const id = randomUUID();
    const acked = new Promise<string | null>((resolve) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        resolve(null);
      }, this.deps.ackTimeoutMs ?? DEFAULT_ACK_TIMEOUT_MS);
      this.waiting.set(id, (leader) => {
        clearTimeout(timer);
        this.waiting.delete(id);
        resolve(leader);
      });
    });
    try {
      await relay.publish({ kind: 'request', id, trigger, reason, origin: this.deps.replica });
    } catch (err) {
      this.waiting.get(id)?.('');
      return refuse(`this replica is not the leader and could not relay the trigger (${(err as Error).message})`);
    }
    const leader = await acked;
    if (!leader) return refuse(`no leader acknowledged the trigger within ${Math.round((this.deps.ackTimeoutMs ?? DEFAULT_ACK_TIMEOUT_MS) / 100) / 10} s`);
    this.deps.onRelayed?.(trigger, 'sent');
    this.deps.onLog?.('info', { trigger, reason, leader }, 'trigger relayed to the leader');
    return { kind: 'relayed', leader };
  }

  /** Stops acting on relayed requests; pending routes answer as unacknowledged. */
  close(): void {
    this.unsubscribe?.();
    for (const done of [...this.waiting.values()]) done('');
  }

  private receive(m: RelayMessage): void {
    if (m.kind === 'ack') {
      this.waiting.get(m.id)?.(m.origin);
      return;
    }
    // Every replica hears every request, its own included; only the one leading now acts and answers.
    if (this.deps.leader() !== true) return;
    this.deps.trigger(m.trigger);
    this.deps.onRelayed?.(m.trigger, 'received');
    this.deps.onLog?.('info', { trigger: m.trigger, reason: m.reason, from: m.origin }, 'relayed trigger received from a follower');
    this.deps.relay?.publish({ kind: 'ack', id: m.id, trigger: m.trigger, reason: m.reason, origin: this.deps.replica }).catch((err: unknown) => {
      this.deps.onLog?.('warn', { trigger: m.trigger, from: m.origin }, `could not acknowledge a relayed trigger (the pass runs anyway): ${(err as Error).message}`);
    });
  }
}

/**
 * A relay inside one process (replicas on one memory store, unit tests): delivers every message to every
 * subscriber asynchronously, as a network transport would.
 */
export class InProcessRelay implements TriggerRelay {
  private readonly handlers = new Set<(m: RelayMessage) => void>();
  private down: string | null = null;

  /** Simulates an outage (tests): while down, publish rejects and nothing is delivered. */
  setDown(reason: string | null): void {
    this.down = reason;
  }

  publish(message: RelayMessage): Promise<void> {
    if (this.down !== null) return Promise.reject(new Error(this.down));
    const copy = { ...message };
    queueMicrotask(() => {
      for (const h of [...this.handlers]) h(copy);
    });
    return Promise.resolve();
  }

  subscribe(handler: (message: RelayMessage) => void): () => void {
    this.handlers.add(handler);
    return () => this.handlers.delete(handler);
  }

  health(): RelayHealth {
    return { backend: 'in-process', up: this.down === null, reason: this.down };
  }

  close(): Promise<void> {
    this.handlers.clear();
    this.down = 'closed';
    return Promise.resolve();
  }
}
