/**
 * Versioned schema migrations, one entry per version with the same change written for each SQL
 * dialect, so SQLite and PostgreSQL share one numbering and one story. Never edit a released entry:
 * append a new version. Runners record applied versions in `schema_migrations` and apply pending
 * ones inside a transaction (see sqlite/migrate.ts and postgres/migrate.ts).
 */
import { V1_POSTGRES, V1_SQLITE } from './v1-initial.js';
import { V5_POSTGRES, V5_SQLITE } from './v5-server-identity.js';
import { V6_POSTGRES, V6_SQLITE } from './v6-enrollment-attempts.js';
import { V7_POSTGRES, V7_SQLITE } from './v7-notification-outbox.js';
import { V8_POSTGRES, V8_SQLITE } from './v8-device-state.js';
import { V9_POSTGRES, V9_SQLITE } from './v9-abm-activities.js';

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
  {
    version: 4,
    name: 'devices arrived_at, attempts, migration_deadline',
    // arrived_at: a device that arrives on a server may keep the profile UUID Apple held from before and not
    // get it in Setup Assistant until it is assigned again (Fleet re-assigns every added device: fleetdm/fleet
    // server/mdm/apple/apple_mdm.go, processDeviceResponse), so observe marks arrivals and a successful
    // apply clears them. attempts: apply's retry schedule. migration_deadline: Apple's mdm_migration_deadline
    // (protocol 8) as a typed column, backfilled from the stored record, with a partial index that holds only
    // devices that have one (few), so counting them reads no device and bulk upserts of others never touch it.
    sqlite: `ALTER TABLE devices ADD COLUMN arrived_at INTEGER;
ALTER TABLE devices ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE devices ADD COLUMN migration_deadline INTEGER;
UPDATE devices SET migration_deadline = CAST(strftime('%s', json_extract(record, '$.mdm_migration_deadline')) AS INTEGER) * 1000
  WHERE json_extract(record, '$.mdm_migration_deadline') IS NOT NULL;
CREATE INDEX devices_migration ON devices (server, migration_deadline) WHERE migration_deadline IS NOT NULL;`,
    postgres: `ALTER TABLE devices ADD COLUMN arrived_at TIMESTAMPTZ;
ALTER TABLE devices ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE devices ADD COLUMN migration_deadline TIMESTAMPTZ;
UPDATE devices SET migration_deadline = (record->>'mdm_migration_deadline')::timestamptz
  WHERE record->>'mdm_migration_deadline' ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})$';
CREATE INDEX devices_migration ON devices (server, migration_deadline) WHERE migration_deadline IS NOT NULL;`,
  },
  // Who Apple says each server token belongs to (GET /account, reconcile/identity.ts): names and check time.
  { version: 5, name: 'servers identity (apple_server_name, org_name, org_type, org_id, identity_checked_at)', sqlite: V5_SQLITE, postgres: V5_POSTGRES },
  // The enrollment endpoint's attempts (issue 14): per-profile outcomes and "assigned, never enrolled".
  { version: 6, name: 'enrollment_attempts', sqlite: V6_SQLITE, postgres: V6_POSTGRES },
  // The notification outbox (issue 18): notifications survive restarts and failover, sent once in order.
  { version: 7, name: 'notification_outbox', sqlite: V7_SQLITE, postgres: V7_POSTGRES },
  // Per-device bookkeeping in a narrow table of its own (issue 11): results no longer rewrite Apple's records.
  { version: 8, name: 'device_state', sqlite: V8_SQLITE, postgres: V8_POSTGRES },
  // The Business API activities depctl issued (issue 15): polled across passes and restarts.
  { version: 9, name: 'abm_activities', sqlite: V9_SQLITE, postgres: V9_POSTGRES },
  {
    version: 10,
    name: 'devices.record without the typed columns\' fields',
    // From this version devices.record leaves out the string values of serial_number, device_family, os and
    // model, which the row's typed columns hold (codec.ts COLUMN_FIELDS; issue 11). Rows written before keep
    // them and read the same, so nothing is rewritten; the version is there so that an older depctl, which
    // would read records without those fields, refuses the store ("newer than this depctl supports").
    sqlite: 'SELECT 1;',
    postgres: 'SELECT 1;',
  },
];

/** The schema version this build expects. */
export const LATEST_VERSION = MIGRATIONS.length;

/** Migrations newer than `current`, ascending. */
export function pendingMigrations(current: number): Migration[] {
  return MIGRATIONS.filter((m) => m.version > current);
}
