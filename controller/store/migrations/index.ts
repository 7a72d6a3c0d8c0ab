/**
 * Versioned schema migrations, one entry per version with the same change written for each SQL
 * dialect, so SQLite and PostgreSQL share one numbering and one story. Never edit a released entry:
 * append a new version. Runners record applied versions in `schema_migrations` and apply pending
 * ones inside a transaction (see sqlite/migrate.ts and postgres/migrate.ts).
 */
import { V1_POSTGRES, V1_SQLITE } from './v1-initial.js';

/** One schema version. */
export interface Migration {
  /** 1, 2, 3, ... without gaps. */
  version: number;
  /** Short description recorded with the version. */
  name: string;
  /** Statements for SQLite (times as epoch milliseconds, JSON as TEXT). */
  sqlite: string;
  /** Statements for PostgreSQL (TIMESTAMPTZ, JSONB, `COLLATE "C"` keys for byte-order paging). */
  postgres: string;
}

/** Every migration in version order. */
export const MIGRATIONS: readonly Migration[] = [
  { version: 1, name: 'initial schema', sqlite: V1_SQLITE, postgres: V1_POSTGRES },
  {
    version: 2,
    name: 'servers.converged_key',
    // The inputs under which a server's last full diff found nothing to do (see ServerStore.setConvergedKey).
    sqlite: 'ALTER TABLE servers ADD COLUMN converged_key TEXT;',
    postgres: 'ALTER TABLE servers ADD COLUMN converged_key TEXT;',
  },
];

/** The schema version this build expects. */
export const LATEST_VERSION = MIGRATIONS.length;

/** Migrations newer than `current`, ascending. */
export function pendingMigrations(current: number): Migration[] {
  return MIGRATIONS.filter((m) => m.version > current);
}
