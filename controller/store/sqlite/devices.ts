/**
 * Devices on SQLite. Bulk writes run one prepared statement per row inside a single transaction
 * (better-sqlite3 is synchronous, so this is the fastest path: no round trips, one commit, one
 * fsync per call). Reads page by the (server, serial) primary key.
 */
import type Database from 'better-sqlite3';
import type { Device } from '../../dep/types.js';
import { deviceColumns, filterEntries, fromMs, lastBySerial, toMs, uniqueBySerialSorted } from '../codec.js';
import type { DeviceFilter, DevicePage, DeviceRecord, DeviceResultStatus, DeviceResultUpdate } from '../ports.js';

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
}

const SELECT = `SELECT server, serial, record, desired_profile, result_status, result_at, result_apple_status,
  retry_not_before, observed_at FROM devices`;

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
    this.upsertStmt = db.prepare(`INSERT INTO devices
      (server, serial, profile_uuid, profile_status, device_family, os, model, op_date, record, observed_at)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
      ON CONFLICT (server, serial) DO UPDATE SET profile_uuid = excluded.profile_uuid,
        profile_status = excluded.profile_status, device_family = excluded.device_family, os = excluded.os,
        model = excluded.model, op_date = excluded.op_date, record = excluded.record, observed_at = excluded.observed_at`);
  }

  /** See DeviceStore.upsertDevices. */
  upsert(server: string, devices: readonly Device[], at: Date): number {
    const stmt = this.upsertStmt;
    const atMs = at.getTime();
    const sorted = uniqueBySerialSorted(devices);
    this.db.transaction(() => {
      for (const d of sorted) {
        const c = deviceColumns(d);
        stmt.run(server, c.serial, c.profileUuid, c.profileStatus, c.deviceFamily, c.os, c.model, c.opDate, JSON.stringify(d), atMs);
      }
    })();
    return devices.length;
  }

  /** See DeviceStore.deleteDevices. */
  delete(server: string, serials: readonly string[]): number {
    const stmt = this.db.prepare('DELETE FROM devices WHERE server = ? AND serial = ?');
    let n = 0;
    this.db.transaction(() => {
      for (const s of serials) n += stmt.run(server, s).changes;
    })();
    return n;
  }

  /** See DeviceStore.getDevice. */
  get(server: string, serial: string): DeviceRecord | undefined {
    const row = this.db.prepare(`${SELECT} WHERE server = ? AND serial = ?`).get(server, serial) as DeviceRow | undefined;
    return row && toRecord(row);
  }

  /** See DeviceStore.countDevices. */
  count(server: string, filter?: DeviceFilter): number {
    const f = filterSql(filter);
    const row = this.db.prepare(`SELECT COUNT(*) AS n FROM devices WHERE server = ?${f.sql}`).get(server, ...f.params) as { n: number };
    return row.n;
  }

  /** See DeviceStore.listDevices. */
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

  /** See DeviceStore.setDesiredProfiles. */
  setDesired(server: string, desired: ReadonlyArray<{ serial: string; profile: string | null }>): number {
    const stmt = this.db.prepare('UPDATE devices SET desired_profile = ? WHERE server = ? AND serial = ?');
    let n = 0;
    this.db.transaction(() => {
      for (const d of lastBySerial(desired)) n += stmt.run(d.profile, server, d.serial).changes;
    })();
    return n;
  }

  /** See DeviceStore.recordResults. */
  recordResults(server: string, results: readonly DeviceResultUpdate[]): number {
    const stmt = this.db.prepare(`UPDATE devices SET result_status = ?, result_at = ?, result_apple_status = ?,
      retry_not_before = ?, desired_profile = CASE WHEN ? THEN desired_profile ELSE ? END WHERE server = ? AND serial = ?`);
    let n = 0;
    this.db.transaction(() => {
      for (const r of lastBySerial(results)) {
        const keep = r.desiredProfile === undefined ? 1 : 0;
        n += stmt.run(r.result.status, r.result.at.getTime(), r.result.appleStatus, toMs(r.retryNotBefore), keep, r.desiredProfile ?? null, server, r.serial).changes;
      }
    })();
    return n;
  }

  /** See DeviceStore.listDueForRetry. */
  dueForRetry(server: string, now: Date, limit: number): DeviceRecord[] {
    const rows = this.db
      .prepare(`${SELECT} WHERE server = ? AND retry_not_before IS NOT NULL AND retry_not_before <= ?
        ORDER BY retry_not_before, serial LIMIT ?`)
      .all(server, now.getTime(), limit) as DeviceRow[];
    return rows.map(toRecord);
  }
}
