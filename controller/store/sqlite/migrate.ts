/**
 * The SQLite migration runner. Pending versions are applied in one `BEGIN IMMEDIATE` transaction:
 * it takes SQLite's write lock before reading `schema_migrations`, so a second process on the same
 * file waits (busy_timeout) and then finds nothing left to do.
 */
import type Database from 'better-sqlite3';
import { LATEST_VERSION, pendingMigrations } from '../migrations/index.js';
import { StoreError } from '../errors.js';
import type { MigrationReport } from '../ports.js';

/** Applies pending migrations to an open SQLite database. */
export function migrateSqlite(db: Database.Database, now: () => Date): MigrationReport {
  db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)`);
  const run = db.transaction((): MigrationReport => {
    const row = db.prepare('SELECT COALESCE(MAX(version), 0) AS v FROM schema_migrations').get() as { v: number };
    if (row.v > LATEST_VERSION) {
      throw new StoreError('store-schema', `store schema version ${row.v} is newer than this depctl supports (${LATEST_VERSION})`);
    }
    const record = db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)');
    const applied: number[] = [];
    for (const m of pendingMigrations(row.v)) {
      db.exec(m.sqlite);
      record.run(m.version, m.name, now().getTime());
      applied.push(m.version);
    }
    return { applied, version: Math.max(row.v, ...applied) };
  });
  return run.immediate();
}

/** The recorded schema version (0 for a fresh file). */
export function sqliteSchemaVersion(db: Database.Database): number {
  const exists = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'").get();
  if (!exists) return 0;
  return (db.prepare('SELECT COALESCE(MAX(version), 0) AS v FROM schema_migrations').get() as { v: number }).v;
}
