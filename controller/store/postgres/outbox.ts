/**
 * PostgreSQL part of the notification outbox (controller/notify/ports.ts NotificationOutbox, migration 7).
 */
import type pg from 'pg';
import type { OutboxRow } from '../../notify/ports.js';
import type { Notification } from '../../notify/webhook.js';
import { inTransaction } from './connection.js';

interface Row {
  id: string;
  key: string;
  notification: Notification;
  enqueued_at: Date;
  attempts: number;
  next_attempt_at: Date;
  last_error: string | null;
}

function toRow(r: Row): OutboxRow {
  return {
    id: Number(r.id),
    key: r.key,
    notification: r.notification,
    enqueuedAt: new Date(r.enqueued_at),
    attempts: r.attempts,
    nextAttemptAt: new Date(r.next_attempt_at),
    lastError: r.last_error,
  };
}

/** See NotificationOutbox.enqueueNotification. */
export async function enqueue(pool: pg.Pool | pg.PoolClient, key: string, n: Notification, at: Date): Promise<boolean> {
  const r = await pool.query(
    `INSERT INTO notification_outbox (key, notification, enqueued_at, next_attempt_at) VALUES ($1, $2, $3, $3)
     ON CONFLICT (key) WHERE active DO NOTHING`,
    [key, JSON.stringify(n), at],
  );
  return r.rowCount === 1;
}

/** See NotificationOutbox.settleNotifications. */
export async function settle(pool: pg.Pool, prefix: string, active: ReadonlySet<string>): Promise<void> {
  await inTransaction(pool, async (client) => {
    await client.query('UPDATE notification_outbox SET active = FALSE WHERE active AND left(key, $1) = $2 AND NOT (key = ANY($3::text[]))', [prefix.length, prefix, [...active]]);
    await client.query('DELETE FROM notification_outbox WHERE NOT active AND sent_at IS NOT NULL');
  });
}

/** See NotificationOutbox.dueNotifications. */
export async function due(pool: pg.Pool, now: Date, limit: number): Promise<OutboxRow[]> {
  const { rows } = await pool.query<Row>('SELECT * FROM notification_outbox WHERE sent_at IS NULL ORDER BY id LIMIT $1', [limit]);
  const out: OutboxRow[] = [];
  for (const r of rows) {
    if (new Date(r.next_attempt_at).getTime() > now.getTime()) break;
    out.push(toRow(r));
  }
  return out;
}

/** See NotificationOutbox.markNotificationSent. */
export async function markSent(pool: pg.Pool, id: number, at: Date): Promise<void> {
  await pool.query('UPDATE notification_outbox SET sent_at = $1, last_error = NULL WHERE id = $2', [at, id]);
}

/** See NotificationOutbox.markNotificationFailed. */
export async function markFailed(pool: pg.Pool, id: number, nextAttemptAt: Date, error: string): Promise<void> {
  await pool.query('UPDATE notification_outbox SET attempts = attempts + 1, next_attempt_at = $1, last_error = $2 WHERE id = $3 AND sent_at IS NULL', [nextAttemptAt, error, id]);
}

/** See NotificationOutbox.dropExpiredNotifications. */
export async function dropExpired(pool: pg.Pool, olderThan: Date): Promise<OutboxRow[]> {
  const { rows } = await pool.query<Row>('DELETE FROM notification_outbox WHERE sent_at IS NULL AND enqueued_at < $1 RETURNING *', [olderThan]);
  return rows.map(toRow).sort((a, b) => a.id - b.id);
}

/** See NotificationOutbox.countUnsentNotifications. */
export async function countUnsent(pool: pg.Pool): Promise<number> {
  const { rows } = await pool.query<{ n: string }>('SELECT COUNT(*) AS n FROM notification_outbox WHERE sent_at IS NULL');
  return Number(rows[0]?.n ?? 0);
}
