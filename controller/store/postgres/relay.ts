/**
 * The trigger relay on PostgreSQL (reconcile/trigger-relay.ts): every replica LISTENs on one channel per
 * store (derived from the schema, so stores sharing a database stay apart) on a dedicated connection, and
 * messages are sent with `pg_notify` on that same connection, so "up" means both directions work.
 * PostgreSQL delivers a NOTIFY to every listening session of the database, the sender's included, once
 * the sending transaction commits (here: at once, autocommit).
 *
 * A dropped connection (server restart, `pg_terminate_backend`, network) marks the relay down with the
 * reason and reconnects with exponential backoff; a periodic `SELECT 1` notices a connection that died
 * without a word. Notifications sent while a replica was disconnected are lost for it (PostgreSQL does not
 * queue them), which is why a follower only answers "relayed" once the leader has acknowledged.
 */
import { createHash } from 'node:crypto';
import { Socket } from 'node:net';
import pg from 'pg';
import type { RelayHealth, RelayMessage, TriggerRelay } from '../../reconcile/ports.js';
import { backoffDelay } from '../../util/backoff.js';
import { clientConfig, postgresSettings } from './connection.js';

/** Options of {@link PostgresTriggerRelay}. */
export interface PostgresRelayOptions {
  /** Called when the relay goes up or down (logs). */
  onHealth?: (health: RelayHealth) => void;
  /** First reconnect delay (default 500 ms); doubles up to `maxDelayMs` (default 30 s), with jitter. */
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** How often the connection is checked with `SELECT 1` (default 15 s). */
  pingMs?: number;
}

/** The LISTEN channel of a store: a fixed prefix and a digest of its schema (an identifier of at most 63 bytes). */
export function relayChannel(schema: string | null): string {
  return `depctl_triggers_${createHash('sha256').update(schema ?? '').digest('hex').slice(0, 16)}`;
}

const KINDS = new Set(['request', 'ack']);
const TRIGGERS = new Set(['manual', 'webhook']);

/** Parses a notification payload; null for anything that is not a well-formed relay message. */
export function parseRelayMessage(payload: string | undefined): RelayMessage | null {
  if (payload === undefined || payload.length > 2000) return null;
  let v: unknown;
  try {
    v = JSON.parse(payload);
  } catch {
    return null;
  }
  if (typeof v !== 'object' || v === null) return null;
  const o = v as Record<string, unknown>;
  const str = (k: string): string | null => (typeof o[k] === 'string' && (o[k] as string).length <= 200 ? (o[k] as string) : null);
  const kind = str('kind');
  const id = str('id');
  const trigger = str('trigger');
  const reason = str('reason');
  const origin = str('origin');
  if (!kind || !KINDS.has(kind) || !id || !trigger || !TRIGGERS.has(trigger) || reason === null || !origin) return null;
  return { kind: kind as RelayMessage['kind'], id, trigger: trigger as RelayMessage['trigger'], reason, origin };
}

/** LISTEN/NOTIFY relay on one dedicated connection; construct with {@link openPostgresRelay}. */
export class PostgresTriggerRelay implements TriggerRelay {
  private readonly handlers = new Set<(m: RelayMessage) => void>();
  private client: pg.Client | null = null;
  private up = false;
  private reason: string | null = 'connecting';
  private attempts = 0;
  private timer: NodeJS.Timeout | undefined;
  private ping: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly config: pg.ClientConfig,
    readonly channel: string,
    private readonly opts: PostgresRelayOptions = {},
  ) {}

  /** Starts connecting; resolves after the first attempt, whether it succeeded or not (then it retries). */
  async start(): Promise<void> {
    await this.connect();
  }

  health(): RelayHealth {
    return { backend: 'postgres', up: this.up, reason: this.up ? null : this.reason };
  }

  subscribe(handler: (message: RelayMessage) => void): () => void {
    this.handlers.add(handler);
    return () => this.handlers.delete(handler);
  }

  async publish(message: RelayMessage): Promise<void> {
    const client = this.client;
    if (!this.up || !client) throw new Error(`trigger relay is down: ${this.reason ?? 'unknown'}`);
    await client.query('SELECT pg_notify($1, $2)', [this.channel, JSON.stringify(message)]);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    clearInterval(this.ping);
    this.handlers.clear();
    const client = this.client;
    this.client = null;
    this.up = false;
    this.reason = 'closed';
    await client?.end().catch(() => undefined);
  }

  private async connect(): Promise<void> {
    if (this.closed) return;
    const client = new pg.Client({ ...this.config, application_name: `depctl relay pid ${process.pid}`.slice(0, 63), keepAlive: true, stream: unrefSocket });
    // Registered before connecting: a connection that fails or drops emits 'error' (and 'end').
    client.on('error', (err) => this.dropped(client, err.message));
    client.on('end', () => this.dropped(client, 'connection closed'));
    client.on('notification', (n) => {
      if (n.channel !== this.channel) return;
      const m = parseRelayMessage(n.payload);
      if (m) for (const h of [...this.handlers]) h(m);
    });
    this.client = client;
    try {
      await client.connect();
      // The channel is a fixed prefix and hex digits, so it needs no quoting.
      await client.query(`LISTEN ${this.channel}`);
    } catch (err) {
      this.dropped(client, (err as Error).message);
      return;
    }
    if (this.closed || this.client !== client) {
      await client.end().catch(() => undefined);
      return;
    }
    this.attempts = 0;
    this.setHealth(true, null);
    clearInterval(this.ping);
    this.ping = setInterval(() => {
      client.query('SELECT 1').catch((err: unknown) => this.dropped(client, (err as Error).message));
    }, this.opts.pingMs ?? 15_000);
    this.ping.unref();
  }

  /** The connection failed or dropped: mark down, close it, reconnect later (once per connection). */
  private dropped(client: pg.Client, reason: string): void {
    if (this.client !== client || this.closed) return;
    this.client = null;
    clearInterval(this.ping);
    client.end().catch(() => undefined);
    this.setHealth(false, reason);
    this.attempts++;
    const wait = backoffDelay(this.attempts, { baseDelayMs: this.opts.baseDelayMs ?? 500, maxDelayMs: this.opts.maxDelayMs ?? 30_000 });
    this.timer = setTimeout(() => void this.connect(), wait);
    this.timer.unref();
  }

  private setHealth(up: boolean, reason: string | null): void {
    const changed = up !== this.up || (!up && reason !== this.reason);
    this.up = up;
    this.reason = reason;
    if (changed) this.opts.onHealth?.(this.health());
  }
}

/**
 * The relay's socket never keeps the process alive by itself (like its timers): a controller that fails to
 * start, or has stopped, exits even if nobody closed the relay. TLS, when configured, wraps this socket.
 */
function unrefSocket(): Socket {
  return new Socket().unref();
}

/** Opens the relay of the store at a `postgres://` state URL (`?schema=` picks the store, as for the store). */
export async function openPostgresRelay(url: string, opts: PostgresRelayOptions = {}): Promise<PostgresTriggerRelay> {
  const settings = postgresSettings(url);
  const relay = new PostgresTriggerRelay(clientConfig(settings), relayChannel(settings.schema), opts);
  await relay.start();
  return relay;
}
