/**
 * Devices on SQLite. Bulk writes run prepared statements inside a single transaction (better-sqlite3 is
 * synchronous, so this is the fastest path: no round trips, one commit, one fsync per call); upserts bind
 * ROWS_PER_UPSERT rows per statement, which costs a third less than one statement per row (fewer calls into
 * the driver, one statement step per group). Reads page by the (server, serial) primary key.
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

/** Rows one upsert statement writes (12 parameters each, far below SQLite's limit of 32,766). */
const ROWS_PER_UPSERT = 100;

const UPSERT_COLUMNS = '(server, serial, profile_uuid, profile_status, device_family, os, model, op_date, migration_deadline, record, observed_at, arrived_at)';
const UPSERT_ROW = '(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)';
const PARAMS_PER_ROW = 12;

/**
 * An upsert of `rows` rows. A new row takes arrived_at from VALUES; an existing row keeps its own (`keep`)
 * or takes the VALUES one (a listed arrival, see `upsert`).
 */
function upsertSql(rows: number, arrival: 'keep' | 'set'): string {
  return `INSERT INTO devices ${UPSERT_COLUMNS} VALUES ${Array<string>(rows).fill(UPSERT_ROW).join(', ')}
    ON CONFLICT (server, serial) DO UPDATE SET profile_uuid = excluded.profile_uuid,
      profile_status = excluded.profile_status, device_family = excluded.device_family, os = excluded.os,
      model = excluded.model, op_date = excluded.op_date, migration_deadline = excluded.migration_deadline,
      record = excluded.record, observed_at = excluded.observed_at${arrival === 'set' ? ', arrived_at = excluded.arrived_at' : ''}`;
}

/** The device half of the SQLite store (synchronous; the store wraps it in promises). */
export class SqliteDevices {
  private readonly db: Database.Database;
  /** Prepared statements, made on first use and kept for the connection's life (keyed by their SQL). */
  private readonly statements = new Map<string, Database.Statement>();

  constructor(db: Database.Database) {
    this.db = db;
  }

  private stmt(sql: string): Database.Statement {
    let s = this.statements.get(sql);
    if (s === undefined) {
      s = this.db.prepare(sql);
      this.statements.set(sql, s);
    }
    return s;
  }

  /**
   * See ObserveStore.upsertDevices. A new row's arrived_at is `at` when new serials arrive (`newArrive`) or
   * the serial is listed in `arrived`; an existing row's is set to `at` only when listed, else kept.
   */
  upsert(server: string, devices: readonly Device[], at: Date, opts: UpsertOptions = {}): number {
    const atMs = at.getTime();
    const sorted = uniqueBySerialSorted(devices);
    const newArrive = opts.newArrive === true;
    const arrived = opts.arrived;
    // A listed arrival is written in a statement of its own (rare: sync `added`, a device back after leaving),
    // because an existing row must take its arrived_at while any other existing row keeps its own.
    const listed: Device[] = [];
    const rows: Device[] = [];
    for (const d of sorted) (arrived !== undefined && arrived.has(d.serial_number) ? listed : rows).push(d);
    const fill = (params: unknown[], k: number, d: Device, arrivedAt: number | null): number => {
      const c = deviceColumns(d);
      params[k] = server;
      params[k + 1] = c.serial;
      params[k + 2] = c.profileUuid;
      params[k + 3] = c.profileStatus;
      params[k + 4] = c.deviceFamily;
      params[k + 5] = c.os;
      params[k + 6] = c.model;
      params[k + 7] = c.opDate;
      params[k + 8] = c.migrationDeadline;
      params[k + 9] = JSON.stringify(d);
      params[k + 10] = atMs;
      params[k + 11] = arrivedAt;
      return k + PARAMS_PER_ROW;
    };
    const many = rows.length >= ROWS_PER_UPSERT ? this.stmt(upsertSql(ROWS_PER_UPSERT, 'keep')) : undefined;
    const one = this.stmt(upsertSql(1, 'keep'));
    const oneArrived = listed.length > 0 ? this.stmt(upsertSql(1, 'set')) : undefined;
    this.db.transaction(() => {
      let i = 0;
      if (many) {
        const params: unknown[] = new Array<unknown>(ROWS_PER_UPSERT * PARAMS_PER_ROW);
        for (; i + ROWS_PER_UPSERT <= rows.length; i += ROWS_PER_UPSERT) {
          let k = 0;
          for (let j = i; j < i + ROWS_PER_UPSERT; j++) k = fill(params, k, rows[j]!, newArrive ? atMs : null);
          many.run(params);
        }
      }
      const params: unknown[] = new Array<unknown>(PARAMS_PER_ROW);
      for (; i < rows.length; i++) {
        fill(params, 0, rows[i]!, newArrive ? atMs : null);
        one.run(params);
      }
      for (const d of listed) {
        fill(params, 0, d, atMs);
        oneArrived!.run(params);
      }
    })();
    return devices.length;
  }

  /** See ObserveStore.deleteDevices. */
  delete(server: string, serials: readonly string[]): number {
    const stmt = this.stmt('DELETE FROM devices WHERE server = ? AND serial = ?');
    let n = 0;
    this.db.transaction(() => {
      for (const s of serials) n += stmt.run(server, s).changes;
    })();
    return n;
  }

  /** See PlanStore.getDevice. */
  get(server: string, serial: string): DeviceRecord | undefined {
    const row = this.stmt(`${SELECT} WHERE server = ? AND serial = ?`).get(server, serial) as DeviceRow | undefined;
    return row && toRecord(row);
  }

  /** See PlanStore.presentSerials: one statement, the serials as a JSON array. */
  present(server: string, serials: readonly string[]): Set<string> {
    if (serials.length === 0) return new Set();
    const rows = this.stmt('SELECT serial FROM devices WHERE server = ? AND serial IN (SELECT value FROM json_each(?))').all(server, JSON.stringify(serials)) as Array<{ serial: string }>;
    return new Set(rows.map((r) => r.serial));
  }

  /** See ObserveStore.countDevices. */
  count(server: string, filter?: DeviceFilter): number {
    const f = filterSql(filter);
    const row = this.stmt(`SELECT COUNT(*) AS n FROM devices WHERE server = ?${f.sql}`).get(server, ...f.params) as { n: number };
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
    const rows = this.stmt(`${SELECT} WHERE server = ? AND serial > ?${f.sql} ORDER BY serial LIMIT ?`)
      .all(server, after ?? '', ...f.params, limit + 1) as DeviceRow[];
    // One row more than asked tells whether another page exists, so `next` is exact.
    const more = rows.length > limit;
    if (more) rows.pop();
    return { devices: rows.map(toRecord), next: more ? (rows[rows.length - 1]?.serial ?? null) : null };
  }

  /** See ApplyStore.recordResults. */
  recordResults(server: string, results: readonly DeviceResultUpdate[]): number {
    const stmt = this.stmt(`UPDATE devices SET result_status = ?, result_at = ?, result_apple_status = ?,
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
