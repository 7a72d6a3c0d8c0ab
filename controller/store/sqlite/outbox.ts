/**
 * SQLite part of the notification outbox (controller/notify/ports.ts NotificationOutbox, migration 7).
 */
import type Database from 'better-sqlite3';
import type { OutboxRow } from '../../notify/ports.js';
import type { Notification } from '../../notify/webhook.js';

interface Row {
  id: number;
  key: string;
  notification: string;
  enqueued_at: number;
  attempts: number;
  next_attempt_at: number;
  last_error: string | null;
}

function toRow(r: Row): OutboxRow {
  return {
    id: r.id,
    key: r.key,
    notification: JSON.parse(r.notification) as Notification,
    enqueuedAt: new Date(r.enqueued_at),
    attempts: r.attempts,
    nextAttemptAt: new Date(r.next_attempt_at),
    lastError: r.last_error,
  };
}

/** The outbox on one SQLite database. */
export class SqliteOutbox {
  constructor(private readonly db: Database.Database) {}

  enqueue(key: string, n: Notification, at: Date): boolean {
    const r = this.db
      .prepare(`INSERT INTO notification_outbox (key, notification, enqueued_at, next_attempt_at) VALUES (?, ?, ?, ?)
        ON CONFLICT (key) WHERE active = 1 DO NOTHING`)
      .run(key, JSON.stringify(n), at.getTime(), at.getTime());
    return r.changes === 1;
  }

  settle(prefix: string, active: ReadonlySet<string>): void {
    this.db.transaction(() => {
      const rows = this.db
        .prepare('SELECT id, key FROM notification_outbox WHERE active = 1 AND substr(key, 1, ?) = ?')
        .all(prefix.length, prefix) as Array<{ id: number; key: string }>;
      const off = this.db.prepare('UPDATE notification_outbox SET active = 0 WHERE id = ?');
      for (const r of rows) if (!active.has(r.key)) off.run(r.id);
      this.db.prepare('DELETE FROM notification_outbox WHERE active = 0 AND sent_at IS NOT NULL').run();
    }).immediate();
  }

  due(now: Date, limit: number): OutboxRow[] {
    const rows = this.db.prepare('SELECT * FROM notification_outbox WHERE sent_at IS NULL ORDER BY id LIMIT ?').all(limit) as Row[];
    const out: OutboxRow[] = [];
    for (const r of rows) {
      if (r.next_attempt_at > now.getTime()) break;
      out.push(toRow(r));
    }
    return out;
  }

  markSent(id: number, at: Date): void {
    this.db.prepare('UPDATE notification_outbox SET sent_at = ?, last_error = NULL WHERE id = ?').run(at.getTime(), id);
  }

  markFailed(id: number, nextAttemptAt: Date, error: string): void {
    this.db.prepare('UPDATE notification_outbox SET attempts = attempts + 1, next_attempt_at = ?, last_error = ? WHERE id = ? AND sent_at IS NULL').run(nextAttemptAt.getTime(), error, id);
  }

  dropExpired(olderThan: Date): OutboxRow[] {
    return this.db.transaction((): OutboxRow[] => {
      const rows = this.db.prepare('SELECT * FROM notification_outbox WHERE sent_at IS NULL AND enqueued_at < ? ORDER BY id').all(olderThan.getTime()) as Row[];
      const del = this.db.prepare('DELETE FROM notification_outbox WHERE id = ?');
      for (const r of rows) del.run(r.id);
      return rows.map(toRow);
    }).immediate();
  }

  countUnsent(): number {
    return (this.db.prepare('SELECT COUNT(*) AS n FROM notification_outbox WHERE sent_at IS NULL').get() as { n: number }).n;
  }
}
