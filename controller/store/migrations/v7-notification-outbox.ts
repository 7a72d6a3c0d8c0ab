/**
 * Version 7: the notification outbox (issue 18, controller/notify/ports.ts). One row per notification, sent in
 * `id` order by the leader. `active` says the problem behind `key` is still ongoing (so it is not enqueued
 * again); at most one active row per key (a partial unique index).
 */

/** Version 7 for SQLite (times as epoch milliseconds). */
export const V7_SQLITE = `
CREATE TABLE notification_outbox (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  key TEXT NOT NULL,
  notification TEXT NOT NULL,
  enqueued_at INTEGER NOT NULL,
  active INTEGER NOT NULL DEFAULT 1,
  sent_at INTEGER,
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER NOT NULL,
  last_error TEXT
);
CREATE UNIQUE INDEX notification_outbox_active ON notification_outbox (key) WHERE active = 1;
CREATE INDEX notification_outbox_unsent ON notification_outbox (id) WHERE sent_at IS NULL;
`;

/** Version 7 for PostgreSQL. */
export const V7_POSTGRES = `
CREATE TABLE notification_outbox (
  id BIGSERIAL PRIMARY KEY,
  key TEXT COLLATE "C" NOT NULL,
  notification JSONB NOT NULL,
  enqueued_at TIMESTAMPTZ NOT NULL,
  active BOOLEAN NOT NULL DEFAULT TRUE,
  sent_at TIMESTAMPTZ,
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at TIMESTAMPTZ NOT NULL,
  last_error TEXT
);
CREATE UNIQUE INDEX notification_outbox_active ON notification_outbox (key) WHERE active;
CREATE INDEX notification_outbox_unsent ON notification_outbox (id) WHERE sent_at IS NULL;
`;
