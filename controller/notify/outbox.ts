/**
 * Notifications through the store's outbox (issue 18). `OutboxGate` only writes: a notification is enqueued
 * under its key (once while the problem stays active); `OutboxSender` is run by the leader alone and drains the
 * outbox in enqueue order with the webhook notifier, marking each row sent after the receiver took it. A failed
 * delivery stops the drain (later rows wait, so the order holds) and backs that row off exponentially; rows
 * older than the retention are dropped with one warning each.
 *
 * Delivery is at least once with one narrow window: a process killed after the receiver answered and before
 * the row was marked sent sends that row again after the restart (the `id` field lets a receiver drop it).
 */
import type { NotificationOutbox, OutboxRow } from './ports.js';
import type { Notification, Notifier } from './webhook.js';

/** Retention of unsent notifications (24 h): a receiver down for longer loses the older ones, each logged. */
export const DEFAULT_RETENTION_MS = 24 * 60 * 60 * 1000;
/** First backoff after a failed delivery, doubled per failure up to `MAX_BACKOFF_MS`. */
export const FIRST_BACKOFF_MS = 5_000;
export const MAX_BACKOFF_MS = 5 * 60_000;

/** The backoff after `attempts` failed deliveries (1, 2, ...): 5 s, 10 s, 20 s, ... capped at 5 min. */
export function backoffMs(attempts: number): number {
  return Math.min(MAX_BACKOFF_MS, FIRST_BACKOFF_MS * 2 ** Math.max(0, Math.min(attempts - 1, 20)));
}

/** Enqueues notifications (same shape as the old in-memory gate, so callers change little). */
export class OutboxGate {
  constructor(
    private readonly outbox: NotificationOutbox,
    private readonly now: () => Date,
    private readonly onEnqueued: () => void = () => undefined,
  ) {}

  /** Stores `n` unless `key` is still active; returns whether it was stored. */
  async notify(key: string, n: Notification): Promise<boolean> {
    const fresh = await this.outbox.enqueueNotification(key, n, this.now());
    if (fresh) this.onEnqueued();
    return fresh;
  }

  /** Keys with this prefix not in `active` are over: the problem is enqueued again if it comes back. */
  async settle(prefix: string, active: ReadonlySet<string>): Promise<void> {
    await this.outbox.settleNotifications(prefix, active);
  }
}

/** What the sender reports (for logs and metrics). */
export interface SenderEvents {
  sent(row: OutboxRow): void;
  failed(row: OutboxRow, error: string, nextAttemptAt: Date): void;
  expired(row: OutboxRow): void;
  backlog(unsent: number): void;
  /** The store failed during a drain (the next drain tries again). */
  error(err: Error): void;
}

/** Options of the sender. */
export interface SenderOptions {
  outbox: NotificationOutbox;
  notifier: Pick<Notifier, 'deliver'>;
  now: () => Date;
  /** Whether this replica leads now; a follower never sends. */
  leader: () => boolean;
  retentionMs?: number;
  events?: Partial<SenderEvents>;
}

/** Drains the outbox; one drain at a time per process. */
export class OutboxSender {
  private running: Promise<void> | null = null;
  private again = false;

  constructor(private readonly opts: SenderOptions) {}

  /** Sends what is due, in order; resolves when done. Never throws (store errors are reported as failures). */
  drain(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      try {
        do {
          this.again = false;
          try {
            await this.drainOnce();
          } catch (err) {
            this.opts.events?.error?.(err instanceof Error ? err : new Error(String(err)));
          }
        } while (this.again);
      } finally {
        this.running = null;
      }
    })();
    return this.running;
  }

  private async drainOnce(): Promise<void> {
    const { outbox, notifier, now, events } = this.opts;
    if (!this.opts.leader()) return;
    const expired = await outbox.dropExpiredNotifications(new Date(now().getTime() - (this.opts.retentionMs ?? DEFAULT_RETENTION_MS)));
    for (const row of expired) events?.expired?.(row);
    try {
      for (;;) {
        const rows = await outbox.dueNotifications(now(), 50);
        if (rows.length === 0) return;
        for (const row of rows) {
          if (!this.opts.leader()) return;
          const r = await notifier.deliver(row.notification, `depctl-${row.id}`);
          if (r.ok) {
            await outbox.markNotificationSent(row.id, now());
            events?.sent?.(row);
          } else {
            const next = new Date(now().getTime() + backoffMs(row.attempts + 1));
            await outbox.markNotificationFailed(row.id, now(), next, r.error);
            events?.failed?.(row, r.error, next);
            return;
          }
        }
      }
    } finally {
      events?.backlog?.(await outbox.countUnsentNotifications());
    }
  }
}
