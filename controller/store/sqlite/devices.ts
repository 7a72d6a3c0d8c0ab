/**
 * Devices on SQLite. Bulk writes run one prepared statement per row inside a single transaction
 * (better-sqlite3 is synchronous, so this is the fastest path: no round trips, one commit, one
 * fsync per call). Reads page by the (server, serial) primary key.
 */
import type Database from 'better-sqlite3';
import type { Device } from '../../dep/types.js';
import { deviceColumns, filterEntries, fromMs, lastBySerial, toMs, uniqueBySerialSorted } from '../codec.js';
import type { DeviceFilter, DevicePage, DeviceRecord, DeviceResultStatus, DeviceResultUpdate, MigrationDeadlineCount, ResultCounts, UpsertOptions } from '../ports.js';

/** A devices row as SQLite returns it. */
interface DeviceRow {
  server: string;
  serial: string;
  record: string;
  desired_profile: string | null;
  result_status: string | null;
  result_at: number | null;
  result_apple_status: string | null;
  retry_not_before: number | null;
  observed_at: number;
  arrived_at: number | null;
  attempts: number;
}

const SELECT = `SELECT server, serial, record, desired_profile, result_status, result_at, result_apple_status,
  retry_not_before, observed_at, arrived_at, attempts FROM devices`;

/** Maps a row to the port's record. */
function toRecord(row: DeviceRow): DeviceRecord {
  return {
    server: row.server,
    serial: row.serial,
    device: JSON.parse(row.record) as Device,
    desiredProfile: row.desired_profile,
    lastResult:
      row.result_status === null
        ? null
        : { status: row.result_status as DeviceResultStatus, at: new Date(row.result_at ?? 0), appleStatus: row.result_apple_status },
    retryNotBefore: fromMs(row.retry_not_before),
    observedAt: new Date(row.observed_at),
    arrivedAt: fromMs(row.arrived_at),
    attempts: row.attempts,
  };
}

/** WHERE fragments and parameters for a filter (`null` means IS NULL). */
function filterSql(filter: DeviceFilter | undefined): { sql: string; params: Array<string | null> } {
  let sql = '';
  const params: Array<string | null> = [];
  for (const [column, value] of filterEntries(filter)) {
    if (value === null) sql += ` AND ${column} IS NULL`;
    else {
      sql += ` AND ${column} = ?`;
      params.push(value);
    }
  }
  return { sql, params };
}

/** The device half of the SQLite store (synchronous; the store wraps it in promises). */
export class SqliteDevices {
  private readonly upsertStmt: Database.Statement;
  private readonly db: Database.Database;

  /** Prepares the hot statements once. */
  constructor(db: Database.Database) {
    this.db = db;
    // The last parameter sets arrived_at of an existing row (a listed arrival) or keeps it (null); a new row
    // takes the VALUES one (every new row when new serials arrive, else only listed ones).
    this.upsertStmt = db.prepare(`INSERT INTO devices
      (server, serial, profile_uuid, profile_status, device_family, os, model, op_date, migration_deadline, record, observed_at, arrived_at)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
      ON CONFLICT (server, serial) DO UPDATE SET profile_uuid = excluded.profile_uuid,
        profile_status = excluded.profile_status, device_family = excluded.device_family, os = excluded.os,
        model = excluded.model, op_date = excluded.op_date, migration_deadline = excluded.migration_deadline,
        record = excluded.record, observed_at = excluded.observed_at, arrived_at = COALESCE(?, devices.arrived_at)`);
  }

  /** See ObserveStore.upsertDevices. */
  upsert(server: string, devices: readonly Device[], at: Date, opts: UpsertOptions = {}): number {
    const stmt = this.upsertStmt;
    const atMs = at.getTime();
    const sorted = uniqueBySerialSorted(devices);
    const newArrive = opts.newArrive === true;
    const arrived = opts.arrived;
    this.db.transaction(() => {
      for (const d of sorted) {
        const c = deviceColumns(d);
        const listed = arrived !== undefined && arrived.has(c.serial);
        stmt.run(server, c.serial, c.profileUuid, c.profileStatus, c.deviceFamily, c.os, c.model, c.opDate, c.migrationDeadline,
          JSON.stringify(d), atMs, newArrive || listed ? atMs : null, listed ? atMs : null);
      }
    })();
    return devices.length;
  }

  /** See ObserveStore.deleteDevices. */
  delete(server: string, serials: readonly string[]): number {
    const stmt = this.db.prepare('DELETE FROM devices WHERE server = ? AND serial = ?');
    let n = 0;
    this.db.transaction(() => {
      for (const s of serials) n += stmt.run(server, s).changes;
    })();
    return n;
  }

  /** See PlanStore.getDevice. */
  get(server: string, serial: string): DeviceRecord | undefined {
    const row = this.db.prepare(`${SELECT} WHERE server = ? AND serial = ?`).get(server, serial) as DeviceRow | undefined;
    return row && toRecord(row);
  }

  /** See ObserveStore.countDevices. */
  count(server: string, filter?: DeviceFilter): number {
    const f = filterSql(filter);
    const row = this.db.prepare(`SELECT COUNT(*) AS n FROM devices WHERE server = ?${f.sql}`).get(server, ...f.params) as { n: number };
    return row.n;
  }

  /** See StatusStore.countDevicesByProfileUuid: one pass over the server's rows, grouped. */
  countByProfileUuid(server: string): Map<string | null, number> {
    const rows = this.db
      .prepare('SELECT profile_uuid AS uuid, COUNT(*) AS n FROM devices WHERE server = ? GROUP BY profile_uuid')
      .all(server) as Array<{ uuid: string | null; n: number }>;
    return new Map(rows.map((r) => [r.uuid, r.n]));
  }

  /**
   * See StatusStore.countResults. Both counts read a partial index only (devices_result of migration 3,
   * devices_retry of migration 1), in one read transaction so they describe the same moment.
   */
  countResults(server: string, now: Date): ResultCounts {
    return this.db.transaction((): ResultCounts => {
      const rows = this.db
        .prepare('SELECT result_status AS status, COUNT(*) AS n FROM devices WHERE server = ? AND result_status IS NOT NULL GROUP BY result_status')
        .all(server) as Array<{ status: DeviceResultStatus; n: number }>;
      const deferred = this.db
        .prepare('SELECT COUNT(*) AS n FROM devices WHERE server = ? AND retry_not_before IS NOT NULL AND retry_not_before > ?')
        .get(server, now.getTime()) as { n: number };
      const byResult: ResultCounts['byResult'] = {};
      for (const r of rows) byResult[r.status] = r.n;
      return { byResult, deferred: deferred.n };
    })();
  }

  /** See PlanStore.countMigrationDeadlines: answered from the devices_migration partial index (migration 4). */
  countMigrationDeadlines(server: string): MigrationDeadlineCount {
    const row = this.db
      .prepare('SELECT COUNT(*) AS n, MIN(migration_deadline) AS earliest FROM devices WHERE server = ? AND migration_deadline IS NOT NULL')
      .get(server) as { n: number; earliest: number | null };
    return { devices: row.n, earliest: fromMs(row.earliest) };
  }

  /** See Store.listDevices. */
  list(server: string, after: string | null, limit: number, filter?: DeviceFilter): DevicePage {
    const f = filterSql(filter);
    const rows = this.db
      .prepare(`${SELECT} WHERE server = ? AND serial > ?${f.sql} ORDER BY serial LIMIT ?`)
      .all(server, after ?? '', ...f.params, limit + 1) as DeviceRow[];
    // One row more than asked tells whether another page exists, so `next` is exact.
    const more = rows.length > limit;
    if (more) rows.pop();
    return { devices: rows.map(toRecord), next: more ? (rows[rows.length - 1]?.serial ?? null) : null };
  }

  /** See ApplyStore.recordResults. */
  recordResults(server: string, results: readonly DeviceResultUpdate[]): number {
    const stmt = this.db.prepare(`UPDATE devices SET result_status = ?, result_at = ?, result_apple_status = ?,
      retry_not_before = ?, desired_profile = CASE WHEN ? THEN desired_profile ELSE ? END,
      arrived_at = CASE WHEN ? THEN NULL ELSE arrived_at END, attempts = COALESCE(?, attempts) WHERE server = ? AND serial = ?`);
    let n = 0;
    this.db.transaction(() => {
      for (const r of lastBySerial(results)) {
        const keep = r.desiredProfile === undefined ? 1 : 0;
        const handled = r.result.status === 'success' ? 1 : 0;
        n += stmt.run(r.result.status, r.result.at.getTime(), r.result.appleStatus, toMs(r.retryNotBefore), keep, r.desiredProfile ?? null,
          handled, r.attempts ?? null, server, r.serial).changes;
      }
    })();
    return n;
  }
}
