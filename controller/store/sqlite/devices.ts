/**
 * Devices on SQLite. Apple's records live in `devices` (one wide row each, the record as JSON); what depctl does
 * to a device (desired profile, last result, retry time, attempts, arrival) lives in the narrow `device_state`
 * (migration 8), stored in (server, serial) order, the order plans list serials in, so a batch of results
 * rewrites a few pages instead of one page per device. Reads join the two (no state row reads as "nothing
 * yet"). Bulk writes run prepared statements inside a single transaction (better-sqlite3 is synchronous, so
 * this is the fastest path: no round trips, one commit per call); upserts bind ROWS_PER_UPSERT rows per
 * statement, which costs a third less than one statement per row. Reads page by the (server, serial) key.
 */
import type Database from 'better-sqlite3';
import type { Device } from '../../dep/types.js';
import type { DiffDevice, ObservedDevice } from '../../reconcile/diff.js';
import { deviceColumns, filterClauses, type StateColumns, FILTER_SQL, JOINED, fromMs, joinRecord, lastBySerial, splitRecord, toMs, uniqueBySerialSorted } from '../codec.js';
import { atomically } from './atomically.js';
import { writeInGroups } from './row-groups.js';
import type { DeviceFilter, DevicePage, DeviceRecord, DeviceResultStatus, DeviceResultUpdate, MigrationDeadlineCount, ResultCounts, UpsertOptions } from '../ports.js';

/**
 * A devices row with its state as SQLite returns it: an array in SELECT's column order (better-sqlite3's raw
 * mode), which a million-row read builds in about 3.1 s of CPU against 4.8–5.6 s for objects keyed by column.
 */
type DeviceRow = [
  server: string,
  serial: string,
  record: string,
  /** Apple's profile fields as stored with the record (JSON). */
  profile: string | null,
  /** The same fields from a later sync event that left the record alone (device_state), and when. */
  sProfile: string | null,
  sProfileAt: number | null,
  desiredProfile: string | null,
  resultStatus: string | null,
  resultAt: number | null,
  resultAppleStatus: string | null,
  retryNotBefore: number | null,
  observedAt: number,
  arrivedAt: number | null,
  attempts: number,
  /** Typed columns holding fields left out of `record` (codec.ts COLUMN_FIELDS). */
  deviceFamily: string | null,
  os: string | null,
  model: string | null,
];

/** Devices with their state, in DeviceRow's column order (filters use FILTER_SQL's expressions over `d` and `s`). */
const SELECT = `SELECT d.server, d.serial, d.record, d.profile, s.profile, s.profile_at, s.desired_profile, s.result_status,
  s.result_at, s.result_apple_status, s.retry_not_before, d.observed_at, s.arrived_at, COALESCE(s.attempts, 0), d.device_family, d.os, d.model
  FROM devices d LEFT JOIN device_state s ON s.server = d.server AND s.serial = d.serial`;

/** Maps a row to the port's record. */
function toRecord(row: DeviceRow): DeviceRecord {
  const [server, serial, record, stored, sProfile, sProfileAt, desiredProfile, resultStatus, resultAt, resultAppleStatus, retryNotBefore, observedAt, arrivedAt, attempts, deviceFamily, os, model] = row;
  // The profile fields of a later sync event (device_state) win over those stored with the record.
  const later = sProfileAt !== null && sProfileAt >= observedAt;
  const profile = later ? sProfile : stored;
  return {
    server,
    serial,
    device: joinRecord(JSON.parse(record) as Record<string, unknown>, profile === null ? null : (JSON.parse(profile) as Record<string, unknown>), { serial, deviceFamily, os, model }),
    desiredProfile,
    lastResult: resultStatus === null ? null : { status: resultStatus as DeviceResultStatus, at: new Date(resultAt ?? 0), appleStatus: resultAppleStatus },
    retryNotBefore: fromMs(retryNotBefore),
    observedAt: new Date(later ? sProfileAt : observedAt),
    arrivedAt: fromMs(arrivedAt),
    attempts,
  };
}

/** A row of the differ's read without the record (DIFF_SELECT, raw mode). */
type DiffRow = [
  serial: string,
  deviceFamily: string | null,
  os: string | null,
  model: string | null,
  /** The record's `mdm_migration_deadline`, read from it only where the text names the field. */
  migrationDeadline: unknown,
  /** The profile fields as the device reads now: a later sync event's (device_state) or the record's, and when. */
  profile: string | null,
  observedAt: number,
  ...state: StateColumns,
];

/**
 * The differ's read when no match rule reads `description` or `color`: the typed columns, the profile fields (the
 * small JSON of the record's or of a later sync event's) and the state, without Apple's record, which is neither
 * sent nor decoded. The migration deadline is the one field of the record the differ still reads; json_extract
 * runs only on the few records whose text names it (instr is a byte search).
 */
const DIFF_SELECT = `SELECT d.serial, d.device_family, d.os, d.model,
  CASE WHEN instr(d.record, '"mdm_migration_deadline"') > 0 THEN json_extract(d.record, '$.mdm_migration_deadline') END,
  CASE WHEN s.profile_at >= d.observed_at THEN s.profile ELSE d.profile END,
  CASE WHEN s.profile_at >= d.observed_at THEN s.profile_at ELSE d.observed_at END, s.desired_profile, s.result_status, s.result_at, s.result_apple_status,
  s.retry_not_before, s.arrived_at, COALESCE(s.attempts, 0)
  FROM devices d LEFT JOIN device_state s ON s.server = d.server AND s.serial = d.serial`;

/** A DiffRow as the differ reads it: every field of diff.ts DiffDevice but description and color, as toRecord gives them. */
function toDiffDevice(row: DiffRow): ObservedDevice {
  const [serial, deviceFamily, os, model, migrationDeadline, profile, observedAt, desiredProfile, resultStatus, resultAt, resultAppleStatus, retryNotBefore, arrivedAt, attempts] = row;
  // The parsed profile fields become the device: copying them into a new object cost 2.9 s per million, against 0.5 s.
  const device = (profile === null ? {} : JSON.parse(profile)) as DiffDevice;
  device.serial_number = serial;
  if (deviceFamily !== null) device.device_family = deviceFamily;
  if (os !== null) device.os = os;
  if (model !== null) device.model = model;
  if (typeof migrationDeadline === 'string') device.mdm_migration_deadline = migrationDeadline;
  return {
    serial,
    device,
    desiredProfile,
    lastResult: resultStatus === null ? null : { status: resultStatus as DeviceResultStatus, at: new Date(resultAt ?? 0), appleStatus: resultAppleStatus },
    retryNotBefore: fromMs(retryNotBefore),
    observedAt: new Date(observedAt),
    arrivedAt: fromMs(arrivedAt),
    attempts,
  };
}

/** WHERE fragments and parameters for a filter (codec.ts filterClauses). */
function filterSql(filter: DeviceFilter | undefined): { sql: string; params: string[]; state: boolean } {
  return filterClauses(filter, () => '?');
}

/** Rows one upsert statement writes (12 parameters each, far below SQLite's limit of 32,766). */
const ROWS_PER_UPSERT = 100;

const UPSERT_COLUMNS = '(server, serial, profile_uuid, profile_status, device_family, os, model, op_date, migration_deadline, record, profile, observed_at)';
const UPSERT_ROW = '(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)';
const PARAMS_PER_ROW = 12;

/** The WHERE of a sync events' upsert: the row changes only when the record or a column holding part of it does. */
const KEEP_SAME_RECORD = `
    WHERE devices.record IS NOT excluded.record OR devices.model IS NOT excluded.model OR devices.os IS NOT excluded.os
      OR devices.device_family IS NOT excluded.device_family`;

/**
 * An upsert of `rows` device rows (Apple's record and its typed columns; the state is not touched). For sync
 * events (`keepSameRecord`) an existing row whose record (without the profile fields) and the typed columns
 * holding fields left out of it (codec.ts COLUMN_FIELDS) are unchanged is left alone: its new profile fields
 * go to device_state (PROFILE_UPSERT), so the echo of an apply rewrites no page of Apple's records.
 */
function upsertSql(rows: number, keepSameRecord: boolean): string {
  return `INSERT INTO devices ${UPSERT_COLUMNS} VALUES ${Array<string>(rows).fill(UPSERT_ROW).join(', ')}
    ON CONFLICT (server, serial) DO UPDATE SET profile_uuid = excluded.profile_uuid,
      profile_status = excluded.profile_status, device_family = excluded.device_family, os = excluded.os,
      model = excluded.model, op_date = excluded.op_date, migration_deadline = excluded.migration_deadline,
      record = excluded.record, profile = excluded.profile, observed_at = excluded.observed_at${keepSameRecord ? KEEP_SAME_RECORD : ''}`;
}

/** Parameters of one row of a profile upsert (profileUpsertSql; as many rows per statement as the devices upsert). */
const PROFILE_PARAMS = 6;

/** Stores sync events' profile fields in device_state (the newer of these and the record's is read). */
function profileUpsertSql(rows: number): string {
  return `INSERT INTO device_state (server, serial, profile, profile_uuid, profile_status, profile_at)
    VALUES ${Array<string>(rows).fill('(?, ?, ?, ?, ?, ?)').join(', ')}
    ON CONFLICT (server, serial) DO UPDATE SET profile = excluded.profile, profile_uuid = excluded.profile_uuid,
      profile_status = excluded.profile_status, profile_at = excluded.profile_at`;
}

/** Marks one device as arrived (a listed arrival: whether or not the store holds it). */
const ARRIVE = `INSERT INTO device_state (server, serial, arrived_at) VALUES (?, ?, ?)
  ON CONFLICT (server, serial) DO UPDATE SET arrived_at = excluded.arrived_at`;

/** Marks as arrived the serials of a JSON array that the store does not hold yet (run before their upsert). */
const ARRIVE_NEW = `INSERT INTO device_state (server, serial, arrived_at)
  SELECT @server, j.value, @at FROM json_each(@serials) AS j
    WHERE NOT EXISTS (SELECT 1 FROM devices WHERE server = @server AND serial = j.value)
  ON CONFLICT (server, serial) DO UPDATE SET arrived_at = excluded.arrived_at`;

/** Results one recordResults statement writes, and the parameters of each (recordResultSql). */
const RESULTS_PER_STATEMENT = 100;
const RESULT_PARAMS = 8;

/**
 * Records `rows` results: a device the store holds gets a state row or has it updated; an unknown serial is
 * ignored. Each row: server, serial, status, at, Apple's status, retry time, desired profile, attempts. What an
 * update keeps is the statement's, not the row's (ON CONFLICT sees only the row inserted): with `keepDesired`
 * the stored desired profile stays (a new row gets null), with `keepAttempts` the stored attempts (a new row 0).
 * A success clears the arrival mark. Many rows per statement cost about a third less than one statement per row
 * (a million results: 2.6 s of CPU against 3.6–4.0 s).
 */
function recordResultSql(rows: number, keepDesired: boolean, keepAttempts: boolean): string {
  return `INSERT INTO device_state (server, serial, result_status, result_at, result_apple_status, retry_not_before, desired_profile, attempts)
  SELECT v.column1, v.column2, v.column3, v.column4, v.column5, v.column6, v.column7, v.column8
    FROM (VALUES ${Array<string>(rows).fill('(?, ?, ?, ?, ?, ?, ?, ?)').join(', ')}) AS v
    WHERE EXISTS (SELECT 1 FROM devices d WHERE d.server = v.column1 AND d.serial = v.column2)
  ON CONFLICT (server, serial) DO UPDATE SET result_status = excluded.result_status, result_at = excluded.result_at,
    result_apple_status = excluded.result_apple_status, retry_not_before = excluded.retry_not_before,
    desired_profile = ${keepDesired ? 'device_state.desired_profile' : 'excluded.desired_profile'},
    arrived_at = CASE WHEN excluded.result_status = 'success' THEN NULL ELSE device_state.arrived_at END,
    attempts = ${keepAttempts ? 'device_state.attempts' : 'excluded.attempts'}`;
}

/** The device half of the SQLite store (synchronous; the store wraps it in promises). */
export class SqliteDevices {
  private readonly db: Database.Database;
  /** Prepared statements, made on first use and kept for the connection's life (keyed by their SQL). */
  private readonly statements = new Map<string, Database.Statement>();

  constructor(db: Database.Database) {
    this.db = db;
  }

  /** A SELECT of DeviceRows (raw mode: each row an array). */
  private rows(sql: string): Database.Statement {
    // Kept apart from stmt()'s: the same SQL through stmt() must not come back in raw mode.
    const key = `raw ${sql}`;
    let s = this.statements.get(key);
    if (s === undefined) {
      s = this.db.prepare(sql).raw(true);
      this.statements.set(key, s);
    }
    return s;
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
    const rows = uniqueBySerialSorted(devices);
    const arrived = opts.arrived;
    const sync = opts.syncEvents === true;
    atomically(this.db, () => {
      // Arrivals first: "new" means not held before this upsert. A listed arrival (rare: sync `added`, a device
      // back after leaving) is marked whether the store held it or not.
      if (opts.newArrive === true && rows.length > 0) this.stmt(ARRIVE_NEW).run({ server, at: atMs, serials: JSON.stringify(rows.map((d) => d.serial_number)) });
      if (arrived !== undefined && arrived.size > 0) {
        const arrive = this.stmt(ARRIVE);
        for (const d of rows) if (arrived.has(d.serial_number)) arrive.run(server, d.serial_number, atMs);
      }
      // Groups of ROWS_PER_UPSERT rows per statement, the rest one by one. Each group's records are split and
      // encoded just before its statements run (for the devices row and, for sync events, the device_state row),
      // so the strings die young: encoding a whole call's 20,000 records first kept them alive across young-
      // generation collections, which then copied and promoted them.
      let i = 0;
      for (const size of [ROWS_PER_UPSERT, 1]) {
        const devicesRow = this.stmt(upsertSql(size, sync));
        const profileRow = sync ? this.stmt(profileUpsertSql(size)) : undefined;
        const params = new Array<unknown>(size * PARAMS_PER_ROW);
        const profileParams = new Array<unknown>(size * PROFILE_PARAMS);
        for (; i + size <= rows.length; i += size) {
          for (let j = 0; j < size; j++) {
            const d = rows[i + j]!;
            const c = deviceColumns(d);
            const split = splitRecord(d);
            const profile = JSON.stringify(split.profile);
            const k = j * PARAMS_PER_ROW;
            params[k] = server;
            params[k + 1] = c.serial;
            params[k + 2] = c.profileUuid;
            params[k + 3] = c.profileStatus;
            params[k + 4] = c.deviceFamily;
            params[k + 5] = c.os;
            params[k + 6] = c.model;
            params[k + 7] = c.opDate;
            params[k + 8] = c.migrationDeadline;
            params[k + 9] = JSON.stringify(split.rest);
            params[k + 10] = profile;
            params[k + 11] = atMs;
            if (!profileRow) continue;
            const q = j * PROFILE_PARAMS;
            profileParams[q] = server;
            profileParams[q + 1] = c.serial;
            profileParams[q + 2] = profile;
            profileParams[q + 3] = c.profileUuid;
            profileParams[q + 4] = c.profileStatus;
            profileParams[q + 5] = atMs;
          }
          devicesRow.run(params);
          profileRow?.run(profileParams);
        }
      }
    });
    return devices.length;
  }

  /** See ObserveStore.deleteDevices. */
  delete(server: string, serials: readonly string[]): number {
    const stmt = this.stmt('DELETE FROM devices WHERE server = ? AND serial = ?');
    const state = this.stmt('DELETE FROM device_state WHERE server = ? AND serial = ?');
    let n = 0;
    atomically(this.db, () => {
      for (const s of serials) {
        n += stmt.run(server, s).changes;
        state.run(server, s);
      }
    });
    return n;
  }

  /** See PlanStore.getDevice. */
  get(server: string, serial: string): DeviceRecord | undefined {
    const row = this.rows(`${SELECT} WHERE d.server = ? AND d.serial = ?`).get(server, serial) as DeviceRow | undefined;
    return row && toRecord(row);
  }

  /** See PlanStore.getDevices: one statement, the serials as a JSON array. */
  getMany(server: string, serials: readonly string[]): DeviceRecord[] {
    if (serials.length === 0) return [];
    const rows = this.rows(`${SELECT} WHERE d.server = ? AND d.serial IN (SELECT value FROM json_each(?))`).all(server, JSON.stringify(serials)) as DeviceRow[];
    return rows.map(toRecord);
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
    const row = this.stmt(`SELECT COUNT(*) AS n FROM ${f.state ? JOINED : 'devices d'} WHERE d.server = ?${f.sql}`).get(server, ...f.params) as { n: number };
    return row.n;
  }

  /** See StatusStore.countDevicesByProfileUuid: one pass over the server's rows, grouped. */
  countByProfileUuid(server: string): Map<string | null, number> {
    const rows = this.db
      .prepare(`SELECT ${FILTER_SQL.profileUuid} AS uuid, COUNT(*) AS n FROM ${JOINED} WHERE d.server = ? GROUP BY 1`)
      .all(server) as Array<{ uuid: string | null; n: number }>;
    return new Map(rows.map((r) => [r.uuid, r.n]));
  }

  /**
   * See StatusStore.countResults: the statuses from a scan of the narrow device_state (a million rows in about a
   * third of a second), the deferred count from its partial retry index, in one read transaction so they
   * describe the same moment.
   */
  countResults(server: string, now: Date): ResultCounts {
    return this.db.transaction((): ResultCounts => {
      const rows = this.db
        .prepare('SELECT result_status AS status, COUNT(*) AS n FROM device_state WHERE server = ? AND result_status IS NOT NULL GROUP BY result_status')
        .all(server) as Array<{ status: DeviceResultStatus; n: number }>;
      const deferred = this.db
        .prepare('SELECT COUNT(*) AS n FROM device_state WHERE server = ? AND retry_not_before IS NOT NULL AND retry_not_before > ?')
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
    const rows = this.rows(`${SELECT} WHERE d.server = ? AND d.serial > ?${f.sql} ORDER BY d.serial LIMIT ?`)
      .all(server, after ?? '', ...f.params, limit + 1) as DeviceRow[];
    // One row more than asked tells whether another page exists, so `next` is exact.
    const more = rows.length > limit;
    if (more) rows.pop();
    return { devices: rows.map(toRecord), next: more ? (rows[rows.length - 1]?.[1] ?? null) : null };
  }

  /** A page of the differ's read without the record (DIFF_SELECT), in serial order; `next` as in list. */
  listDiff(server: string, after: string | null, limit: number): { devices: ObservedDevice[]; next: string | null } {
    const rows = this.rows(`${DIFF_SELECT} WHERE d.server = ? AND d.serial > ? ORDER BY d.serial LIMIT ?`).all(server, after ?? '', limit + 1) as DiffRow[];
    const more = rows.length > limit;
    if (more) rows.pop();
    return { devices: rows.map(toDiffDevice), next: more ? (rows[rows.length - 1]?.[0] ?? null) : null };
  }

  /**
   * See ApplyStore.recordResults: state rows only (narrow, in serial order), one transaction; the results are
   * written in four groups by what an update keeps (recordResultSql), each in statements of many rows.
   */
  recordResults(server: string, results: readonly DeviceResultUpdate[]): number {
    const groups = new Map<number, DeviceResultUpdate[]>();
    for (const r of lastBySerial(results)) {
      const key = (r.desiredProfile === undefined ? 1 : 0) + (r.attempts === undefined ? 2 : 0);
      const g = groups.get(key);
      if (g) g.push(r);
      else groups.set(key, [r]);
    }
    let n = 0;
    atomically(this.db, () => {
      for (const [key, rows] of groups) {
        const statement = (size: number): Database.Statement => this.stmt(recordResultSql(size, (key & 1) === 1, (key & 2) === 2));
        n += writeInGroups(rows, RESULT_PARAMS, RESULTS_PER_STATEMENT, statement, (params, k, r) => {
          params[k] = server;
          params[k + 1] = r.serial;
          params[k + 2] = r.result.status;
          params[k + 3] = r.result.at.getTime();
          params[k + 4] = r.result.appleStatus;
          params[k + 5] = toMs(r.retryNotBefore);
          params[k + 6] = r.desiredProfile ?? null;
          params[k + 7] = r.attempts ?? 0;
        });
      }
    });
    return n;
  }
}
