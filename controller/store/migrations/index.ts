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
    // The inputs under which a server's last full diff found nothing to do (see PlanStore.setConvergedKey).
    sqlite: 'ALTER TABLE servers ADD COLUMN converged_key TEXT;',
    postgres: 'ALTER TABLE servers ADD COLUMN converged_key TEXT;',
  },
  {
    version: 3,
    name: 'devices_result index',
    // StatusStore.countResults groups a server's devices by last result without reading the devices: the
    // index holds only devices with a result (none right after a fetch), so bulk upserts of new devices do
    // not maintain it, and an upsert of a known device changes no column it covers. The deferred count uses
    // devices_retry (version 1).
    sqlite: 'CREATE INDEX devices_result ON devices (server, result_status) WHERE result_status IS NOT NULL;',
    postgres: 'CREATE INDEX devices_result ON devices (server, result_status) WHERE result_status IS NOT NULL;',
  },
];

/** The schema version this build expects. */
export const LATEST_VERSION = MIGRATIONS.length;

/** Migrations newer than `current`, ascending. */
export function pendingMigrations(current: number): Migration[] {
  return MIGRATIONS.filter((m) => m.version > current);
}
