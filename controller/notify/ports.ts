/**
 * The notification outbox (issue 18): notifications are written to the store first and sent from there by
 * the leader, so a restart, a failover or a receiver that is down loses none and repeats none that were
 * marked sent. Consumer-owned port (STYLE.md rule 1); every store implements it (migration 7 for SQL).
 */
import type { Notification } from './webhook.js';

/** A notification to enqueue under its key (see NotificationOutbox.enqueueNotification). */
export interface OutboxEntry {
  key: string;
  notification: Notification;
}

/** One stored notification. */
export interface OutboxRow {
  /** Enqueue order (a sequence): rows are sent in this order. */
  id: number;
  key: string;
  notification: Notification;
  enqueuedAt: Date;
  /** Failed deliveries so far. */
  attempts: number;
  /** Not before this instant (the backoff after a failure). */
  nextAttemptAt: Date;
  /** The last delivery error (never the URL), or null. */
  lastError: string | null;
}

/** The store side of the outbox. */
export interface NotificationOutbox {
  /**
   * Stores `n` under `key` unless a row with that key is still active (sent or not); returns whether it was
   * stored. A key made inactive by `settle` is enqueued again when the problem comes back.
   */
  enqueueNotification(key: string, n: Notification, at: Date): Promise<boolean>;
  /**
   * Marks the active rows whose key starts with `prefix` and is not in `active` inactive, and deletes inactive
   * rows already sent (unsent inactive rows are still delivered, then deleted by a later settle).
   */
  settleNotifications(prefix: string, active: ReadonlySet<string>): Promise<void>;
  /**
   * Unsent rows in enqueue order, at most `limit`, up to (not including) the first whose next attempt is
   * after `now`: a row waiting for its backoff holds back the rows after it, so delivery keeps the order.
   */
  dueNotifications(now: Date, limit: number): Promise<OutboxRow[]>;
  /** Records a delivery. */
  markNotificationSent(id: number, at: Date): Promise<void>;
  /** Records a failed delivery: one more attempt, next not before `nextAttemptAt`, with the error text. */
  markNotificationFailed(id: number, at: Date, nextAttemptAt: Date, error: string): Promise<void>;
  /** Deletes unsent rows enqueued before `olderThan` (the retention) and returns them, in order, to be logged. */
  dropExpiredNotifications(olderThan: Date): Promise<OutboxRow[]>;
  /** How many rows are unsent (the backlog gauge). */
  countUnsentNotifications(): Promise<number>;
}
