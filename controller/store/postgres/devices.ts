/**
 * Devices on PostgreSQL. Bulk upserts send one statement per batch of ROWS_PER_STATEMENT rows, the rows
 * as one JSON array expanded by `json_array_elements` (one round trip, one plan and one parameter per
 * batch: a single native JSON.stringify here instead of a stringify per device and pg's escaping of nine
 * text arrays, which halves the client CPU of an upsert), all batches in one transaction. Reads page by
 * the (server, serial) primary key, `COLLATE "C"`.
 */
import type pg from 'pg';
import type { Device } from '../../dep/types.js';
import { deviceColumns, filterEntries, lastBySerial, uniqueBySerialSorted } from '../codec.js';
import type { DeviceFilter, DevicePage, DeviceRecord, DeviceResultStatus, DeviceResultUpdate, MigrationDeadlineCount, ResultCounts, UpsertOptions } from '../ports.js';
import { ROWS_PER_STATEMENT, chunks, inTransaction } from './connection.js';

/** A devices row as pg returns it (timestamptz → Date, jsonb → object). */
interface DeviceRow {
  server: string;
  serial: string;
  record: Device;
  desired_profile: string | null;
  result_status: string | null;
  result_at: Date | null;
  result_apple_status: string | null;
  retry_not_before: Date | null;
  observed_at: Date;
  arrived_at: Date | null;
  attempts: number;
}

const SELECT = `SELECT server, serial, record, desired_profile, result_status, result_at, result_apple_status,
  retry_not_before, observed_at, arrived_at, attempts FROM devices`;

/**
 * A new row arrives when `$3` (new serials arrive) says so; an existing row keeps arrived_at here, and listed
 * arrivals (rare: sync `added`, or a device that left and came back) get it from ARRIVED below, because a
 * per-row flag cannot reach ON CONFLICT's SET. `$4` is a JSON array of UpsertRow; the record goes in as Apple
 * sent it (jsonb), the typed columns as codec.ts derives them (times parsed by JavaScript, as on SQLite).
 */
const UPSERT = `INSERT INTO devices
  (server, serial, profile_uuid, profile_status, device_family, os, model, op_date, migration_deadline, record, observed_at, arrived_at)
  SELECT $1::text, u->>'s', u->>'pu', u->>'ps', u->>'f', u->>'o', u->>'m', (u->>'od')::timestamptz, (u->>'md')::timestamptz,
    (u->'r')::jsonb, $2::timestamptz, CASE WHEN $3::boolean THEN $2::timestamptz END
  FROM json_array_elements($4::json) AS u
  ON CONFLICT (server, serial) DO UPDATE SET profile_uuid = excluded.profile_uuid,
    profile_status = excluded.profile_status, device_family = excluded.device_family, os = excluded.os,
    model = excluded.model, op_date = excluded.op_date, migration_deadline = excluded.migration_deadline,
    record = excluded.record, observed_at = excluded.observed_at`;

/** One row of UPSERT's JSON parameter (short keys: the array is a few hundred KiB per statement). */
interface UpsertRow {
  s: string;
  pu: string | null;
  ps: string | null;
  f: string | null;
  o: string | null;
  m: string | null;
  od: string | null;
  md: string | null;
  r: Device;
}

/** Marks listed arrivals (after UPSERT, in the same transaction). */
const ARRIVED = 'UPDATE devices SET arrived_at = $2 WHERE server = $1 AND serial = ANY($3::text[])';

const isoOrNull = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

function toRecord(row: DeviceRow): DeviceRecord {
  return {
    server: row.server,
    serial: row.serial,
    device: row.record,
    desiredProfile: row.desired_profile,
    lastResult:
      row.result_status === null
        ? null
        : { status: row.result_status as DeviceResultStatus, at: row.result_at ?? new Date(0), appleStatus: row.result_apple_status },
    retryNotBefore: row.retry_not_before,
    observedAt: row.observed_at,
    arrivedAt: row.arrived_at,
    attempts: row.attempts,
  };
}

/** WHERE fragments for a filter, numbering parameters from `first`. */
function filterSql(filter: DeviceFilter | undefined, first: number): { sql: string; params: Array<string | null> } {
  let sql = '';
  const params: Array<string | null> = [];
  for (const [column, value] of filterEntries(filter)) {
    if (value === null) sql += ` AND ${column} IS NULL`;
    else {
      params.push(value);
      sql += ` AND ${column} = $${first + params.length - 1}`;
    }
  }
  return { sql, params };
}

/** See ObserveStore.upsertDevices. */
export async function upsertDevices(pool: pg.Pool, server: string, devices: readonly Device[], at: Date, opts: UpsertOptions = {}): Promise<number> {
  // One statement may not touch a row twice in PostgreSQL, so duplicates must go before batching.
  const unique = uniqueBySerialSorted(devices);
  const listed = opts.arrived === undefined ? [] : unique.filter((d) => opts.arrived?.has(d.serial_number)).map((d) => d.serial_number);
  await inTransaction(pool, async (client) => {
    for (const batch of chunks(unique, ROWS_PER_STATEMENT)) {
      const rows = batch.map((d): UpsertRow => {
        const c = deviceColumns(d);
        return { s: c.serial, pu: c.profileUuid, ps: c.profileStatus, f: c.deviceFamily, o: c.os, m: c.model, od: isoOrNull(c.opDate), md: isoOrNull(c.migrationDeadline), r: d };
      });
      await client.query(UPSERT, [server, at.toISOString(), opts.newArrive === true, JSON.stringify(rows)]);
    }
    for (const batch of chunks(listed, ROWS_PER_STATEMENT)) await client.query(ARRIVED, [server, at.toISOString(), batch]);
  });
  return devices.length;
}

/** See ObserveStore.deleteDevices. */
export async function deleteDevices(pool: pg.Pool, server: string, serials: readonly string[]): Promise<number> {
  return inTransaction(pool, async (client) => {
    let n = 0;
    for (const batch of chunks(serials, ROWS_PER_STATEMENT)) {
      const r = await client.query('DELETE FROM devices WHERE server = $1 AND serial = ANY($2::text[])', [server, batch]);
      n += r.rowCount ?? 0;
    }
    return n;
  });
}

/** See PlanStore.getDevice. */
export async function getDevice(pool: pg.Pool, server: string, serial: string): Promise<DeviceRecord | undefined> {
  const { rows } = await pool.query<DeviceRow>(`${SELECT} WHERE server = $1 AND serial = $2`, [server, serial]);
  return rows[0] && toRecord(rows[0]);
}

/** See PlanStore.presentSerials (one query per ROWS_PER_STATEMENT serials). */
export async function presentSerials(pool: pg.Pool, server: string, serials: readonly string[]): Promise<Set<string>> {
  const present = new Set<string>();
  for (const batch of chunks(serials, ROWS_PER_STATEMENT)) {
    const { rows } = await pool.query<{ serial: string }>('SELECT serial FROM devices WHERE server = $1 AND serial = ANY($2::text[])', [server, batch]);
    for (const r of rows) present.add(r.serial);
  }
  return present;
}

/** See ObserveStore.countDevices. */
export async function countDevices(pool: pg.Pool, server: string, filter?: DeviceFilter): Promise<number> {
  const f = filterSql(filter, 2);
  const { rows } = await pool.query<{ n: string }>(`SELECT COUNT(*) AS n FROM devices WHERE server = $1${f.sql}`, [server, ...f.params]);
  return Number(rows[0]?.n ?? 0);
}

/** See StatusStore.countDevicesByProfileUuid: one pass over the server's rows, grouped. */
export async function countDevicesByProfileUuid(pool: pg.Pool, server: string): Promise<Map<string | null, number>> {
  const { rows } = await pool.query<{ uuid: string | null; n: string }>(
    'SELECT profile_uuid AS uuid, COUNT(*) AS n FROM devices WHERE server = $1 GROUP BY profile_uuid',
    [server],
  );
  return new Map(rows.map((r) => [r.uuid, Number(r.n)]));
}

/**
 * See StatusStore.countResults. One statement (one snapshot): the statuses from the devices_result partial
 * index (migration 3), the deferred count from devices_retry (migration 1); the row with a null status is
 * the deferred count.
 */
export async function countResults(pool: pg.Pool, server: string, now: Date): Promise<ResultCounts> {
  const { rows } = await pool.query<{ status: DeviceResultStatus | null; n: string }>(
    `SELECT result_status AS status, COUNT(*) AS n FROM devices
      WHERE server = $1 AND result_status IS NOT NULL GROUP BY result_status
     UNION ALL
     SELECT NULL, COUNT(*) FROM devices WHERE server = $1 AND retry_not_before IS NOT NULL AND retry_not_before > $2`,
    [server, now.toISOString()],
  );
  const out: ResultCounts = { byResult: {}, deferred: 0 };
  for (const r of rows) {
    if (r.status === null) out.deferred = Number(r.n);
    else out.byResult[r.status] = Number(r.n);
  }
  return out;
}

/** See PlanStore.countMigrationDeadlines: answered from the devices_migration partial index (migration 4). */
export async function countMigrationDeadlines(pool: pg.Pool, server: string): Promise<MigrationDeadlineCount> {
  const { rows } = await pool.query<{ n: string; earliest: Date | null }>(
    'SELECT COUNT(*) AS n, MIN(migration_deadline) AS earliest FROM devices WHERE server = $1 AND migration_deadline IS NOT NULL',
    [server],
  );
  return { devices: Number(rows[0]?.n ?? 0), earliest: rows[0]?.earliest ?? null };
}

/** See Store.listDevices (one extra row tells whether another page exists). */
export async function listDevices(pool: pg.Pool, server: string, after: string | null, limit: number, filter?: DeviceFilter): Promise<DevicePage> {
  const f = filterSql(filter, 4);
  const { rows } = await pool.query<DeviceRow>(
    `${SELECT} WHERE server = $1 AND serial > $2${f.sql} ORDER BY serial LIMIT $3`,
    [server, after ?? '', limit + 1, ...f.params],
  );
  const more = rows.length > limit;
  if (more) rows.pop();
  return { devices: rows.map(toRecord), next: more ? (rows[rows.length - 1]?.serial ?? null) : null };
}

/**
 * One row of recordResults' JSON parameter: serial, status, at, Apple's status, retry time, keep the desired
 * profile, desired profile, attempts.
 */
interface ResultRow {
  s: string;
  st: string;
  at: string;
  ap: string | null;
  rt: string | null;
  k: boolean;
  d: string | null;
  a: number | null;
}

/** See ApplyStore.recordResults (each batch one JSON array, as UPSERT). */
export async function recordResults(pool: pg.Pool, server: string, results: readonly DeviceResultUpdate[], alsoInTransaction?: (client: pg.PoolClient) => Promise<void>): Promise<number> {
  return inTransaction(pool, async (client) => {
    await alsoInTransaction?.(client);
    let n = 0;
    for (const batch of chunks(lastBySerial(results), ROWS_PER_STATEMENT)) {
      const rows = batch.map((r): ResultRow => ({
        s: r.serial,
        st: r.result.status,
        at: r.result.at.toISOString(),
        ap: r.result.appleStatus,
        rt: r.retryNotBefore?.toISOString() ?? null,
        k: r.desiredProfile === undefined,
        d: r.desiredProfile ?? null,
        a: r.attempts ?? null,
      }));
      const r = await client.query(
        `UPDATE devices d SET result_status = u->>'st', result_at = (u->>'at')::timestamptz, result_apple_status = u->>'ap',
            retry_not_before = (u->>'rt')::timestamptz, desired_profile = CASE WHEN (u->>'k')::boolean THEN d.desired_profile ELSE u->>'d' END,
            arrived_at = CASE WHEN u->>'st' = 'success' THEN NULL ELSE d.arrived_at END, attempts = COALESCE((u->>'a')::integer, d.attempts)
          FROM json_array_elements($2::json) AS u
          WHERE d.server = $1 AND d.serial = (u->>'s') COLLATE "C"`,
        [server, JSON.stringify(rows)],
      );
      n += r.rowCount ?? 0;
    }
    return n;
  });
}
