/**
 * Devices on PostgreSQL. Bulk upserts send one statement per batch of ROWS_PER_STATEMENT rows, the rows
 * as one JSON array expanded by `json_array_elements` (one round trip, one plan and one parameter per
 * batch: native JSON.stringify of each record into one buffer (connection.ts jsonArrayOfTexts) instead of pg's
 * escaping of nine text arrays, which halves the client CPU of an upsert), all batches in one transaction. Reads page by
 * the (server, serial) primary key, `COLLATE "C"`.
 */
import type pg from 'pg';
import type { Device } from '../../dep/types.js';
import { COLUMN_FIELDS, epochMs, type StateColumns, filterClauses, FILTER_SQL, fromMs, JOINED, joinRecord, lastBySerial, PROFILE_FIELDS, uniqueBySerialSorted } from '../codec.js';
import type { DiffDevice, ObservedDevice } from '../../reconcile/diff.js';
import type { DeviceFilter, DevicePage, DeviceRecord, DeviceResultStatus, DeviceResultUpdate, MigrationDeadlineCount, ResultCounts, UpsertOptions } from '../ports.js';
import { ROWS_PER_STATEMENT, chunks, inTransaction, jsonArrayOfTexts } from './connection.js';

/**
 * A devices row as SELECT below returns it: jsonb → object, and times as epoch milliseconds (float8 → number)
 * rather than timestamptz, whose text pg parses into a Date with a regular expression per value: three or
 * more per device, about 1.4 s of CPU per million rows read.
 */
interface DeviceRow {
  server: string;
  serial: string;
  /** Apple's record without its profile fields, and those fields (see codec.ts PROFILE_FIELDS). */
  record: Record<string, unknown>;
  profile: Record<string, unknown> | null;
  /** The profile fields of a later sync event that left the record alone (device_state), and when. */
  s_profile: Record<string, unknown> | null;
  s_profile_at: number | null;
  desired_profile: string | null;
  result_status: string | null;
  result_at: number | null;
  result_apple_status: string | null;
  retry_not_before: number | null;
  observed_at: number;
  arrived_at: number | null;
  attempts: number;
  /** Typed columns holding fields left out of `record` (codec.ts COLUMN_FIELDS). */
  device_family: string | null;
  os: string | null;
  model: string | null;
}

/** A timestamptz column as epoch milliseconds (the store writes whole milliseconds, so nothing is lost). */
const ms = (column: string, as: string): string => `(extract(epoch FROM ${column}) * 1000)::float8 AS ${as}`;

/** What depctl did to the device (device_state, migration 8): the columns both device reads select (stateOf). */
const STATE_COLUMNS = `s.desired_profile, s.result_status, ${ms('s.result_at', 'result_at')}, s.result_apple_status,
  ${ms('s.retry_not_before', 'retry_not_before')}, ${ms('s.arrived_at', 'arrived_at')}, COALESCE(s.attempts, 0) AS attempts`;

/** Devices with their state; filters name columns of `devices` only, so they need no prefix. */
const SELECT = `SELECT d.server, d.serial, d.record, d.device_family, d.os, d.model, d.profile, s.profile AS s_profile,
  ${ms('s.profile_at', 's_profile_at')}, ${ms('d.observed_at', 'observed_at')}, ${STATE_COLUMNS}
  FROM ${JOINED}`;

/** `d`'s value of `key` when it is a string, else NULL (codec.ts splits off string values only). */
const ifString = (key: string, value: string): string => `CASE WHEN jsonb_typeof(u.d->'${key}') = 'string' THEN ${value} END`;

/**
 * `$3` is a JSON array of upsertRow texts: Apple's record whole, split here the way codec.ts splitRecord splits it (the
 * string values of PROFILE_FIELDS go to `profile`, those of PROFILE_FIELDS and COLUMN_FIELDS leave `record`), the
 * typed columns the values deviceColumns derives (`->>` gives a string verbatim and any other value as its JSON
 * text, as pg sent a non-string column value before). The two times are parsed by JavaScript (as on SQLite) and
 * sent as epoch milliseconds. Splitting in SQL spares the client an object per record, a second record and a
 * JSON text of the split (about a third of a settle's CPU on this path). The array is made jsonb once: with a
 * json element cast to jsonb in the subquery, PostgreSQL inlined the cast into each of the ~30 uses and parsed
 * every record that many times (a 5,000-row statement took 1.0-1.6 s instead of 0.2 s). The device's state is
 * not touched.
 */
const UPSERT_HEAD = `INSERT INTO devices
  (server, serial, profile_uuid, profile_status, device_family, os, model, op_date, migration_deadline, record, profile, observed_at)
  SELECT $1::text, u.d->>'serial_number', u.d->>'profile_uuid', u.d->>'profile_status', u.d->>'device_family', u.d->>'os', u.d->>'model',
    to_timestamp(u.od / 1000), to_timestamp(u.md / 1000),
    u.d - array_remove(ARRAY[${[...PROFILE_FIELDS, ...COLUMN_FIELDS].map((k) => ifString(k, `'${k}'`)).join(', ')}]::text[], NULL),
    jsonb_strip_nulls(jsonb_build_object(${PROFILE_FIELDS.map((k) => `'${k}', ${ifString(k, `u.d->'${k}'`)}`).join(', ')})),
    $2::timestamptz
  FROM (SELECT e->'d' AS d, (e->>'od')::float8 AS od, (e->>'md')::float8 AS md FROM jsonb_array_elements($3::json::jsonb) AS e) AS u`;
const UPSERT_CONFLICT = `ON CONFLICT (server, serial) DO UPDATE SET profile_uuid = excluded.profile_uuid,
    profile_status = excluded.profile_status, device_family = excluded.device_family, os = excluded.os,
    model = excluded.model, op_date = excluded.op_date, migration_deadline = excluded.migration_deadline,
    record = excluded.record, profile = excluded.profile, observed_at = excluded.observed_at`;

/** The upsert (the device's state and any later profile fields in device_state are not touched). */
const UPSERT = UPSERT_HEAD + '\n' + UPSERT_CONFLICT;

/**
 * One row of UPSERT's JSON parameter, as text: `op_date` and `mdm_migration_deadline` in epoch milliseconds (null
 * when absent or unparseable: codec.ts epochMs) and the record as Apple sent it.
 */
function upsertRow(d: Device): string {
  return `{"od":${epochMs(d.op_date)},"md":${epochMs(d.mdm_migration_deadline)},"d":${JSON.stringify(d)}}`;
}

/** Marks serials as arrived, whether the store holds them or not (listed arrivals: sync `added`, a return). */
const ARRIVED = `INSERT INTO device_state (server, serial, arrived_at) SELECT $1, s, $2 FROM unnest($3::text[]) AS s
  ON CONFLICT (server, serial) DO UPDATE SET arrived_at = excluded.arrived_at`;

/** Marks as arrived the serials the store does not hold yet (run before their upsert, in its transaction). */
const ARRIVED_NEW = `INSERT INTO device_state (server, serial, arrived_at) SELECT $1, s, $2 FROM unnest($3::text[]) AS s
  WHERE NOT EXISTS (SELECT 1 FROM devices d WHERE d.server = $1 AND d.serial = s)
  ON CONFLICT (server, serial) DO UPDATE SET arrived_at = excluded.arrived_at`;

/** Whether a later sync event's profile fields (device_state) win over those stored with the record. */
const laterProfile = (row: Pick<DeviceRow, 's_profile_at' | 'observed_at'>): boolean => row.s_profile_at !== null && row.s_profile_at >= row.observed_at;

/** What depctl did to a device as both device reads give it; `observedAt` is when its record was (the later of the two times). */
function stateOf(
  row: Pick<DeviceRow, 'desired_profile' | 'result_status' | 'result_at' | 'result_apple_status' | 'retry_not_before' | 'arrived_at' | 'attempts'>,
  observedAt: number,
): Omit<DeviceRecord, 'server' | 'serial' | 'device'> {
  return {
    desiredProfile: row.desired_profile,
    lastResult:
      row.result_status === null
        ? null
        : { status: row.result_status as DeviceResultStatus, at: new Date(row.result_at ?? 0), appleStatus: row.result_apple_status },
    retryNotBefore: fromMs(row.retry_not_before),
    observedAt: new Date(observedAt),
    arrivedAt: fromMs(row.arrived_at),
    attempts: row.attempts,
  };
}

function toRecord(row: DeviceRow): DeviceRecord {
  const profile = laterProfile(row) ? row.s_profile : row.profile;
  const device = joinRecord(row.record, profile, { serial: row.serial, deviceFamily: row.device_family, os: row.os, model: row.model });
  return { server: row.server, serial: row.serial, device, ...stateOf(row, laterProfile(row) ? row.s_profile_at! : row.observed_at) };
}

/** The profile fields (PROFILE_FIELDS) the differ reads. */
const DIFF_PROFILE_FIELDS = ['profile_uuid', 'profile_status', 'profile_assign_time', 'op_type', 'op_date'] as const;

/** The string fields of a diff read's row (each the device's value when it is a string, else null), copied into the differ's device when not null. */
const DIFF_FIELDS = ['device_family', 'os', 'model', 'description', 'color', 'mdm_migration_deadline', ...DIFF_PROFILE_FIELDS] as const;

/** A field of a jsonb value when it is a string, else NULL (`->>` would turn a number into text). */
const pick = (json: string, field: string): string => `CASE WHEN jsonb_typeof(${json}->'${field}') = 'string' THEN ${json}->>'${field}' END`;

/** Whether device_state holds profile fields of a later sync event than the record's (laterProfile, in SQL). */
const LATER = 's.profile_at >= d.observed_at';

/**
 * Devices reduced to what the differ reads, every field chosen by PostgreSQL: the typed columns, three values
 * picked out of the record, and the profile fields picked out of the newer of the row's and device_state's
 * profile (as toRecord chooses). Neither the record's jsonb nor a profile's is sent or parsed; every value is a
 * string, a number or null.
 */
const SELECT_DIFF = `SELECT d.serial, d.device_family, d.os, d.model, ${pick('d.record', 'description')} AS description,
  ${pick('d.record', 'color')} AS color, ${pick('d.record', 'mdm_migration_deadline')} AS mdm_migration_deadline,
  ${DIFF_PROFILE_FIELDS.map((k) => `${pick(`(CASE WHEN ${LATER} THEN s.profile ELSE d.profile END)`, k)} AS ${k}`).join(', ')},
  ${ms(`CASE WHEN ${LATER} THEN s.profile_at ELSE d.observed_at END`, 'observed_at')}, ${STATE_COLUMNS}
  FROM ${JOINED}`;

/**
 * A diff read's row as one page's JSON gives it: the serial, the observation time (the later of the record's and
 * device_state's, as SELECT_DIFF chooses), the state (stateOf's columns; times as epoch milliseconds), then the
 * values of DIFF_FIELDS in their order.
 */
type DiffTuple = [serial: string, observedAt: number, ...state: StateColumns, ...fields: Array<string | null>];

/** Where DIFF_FIELDS' values start in a DiffTuple. */
const FIELDS_AT = 9;

/**
 * One page of the diff read as a single JSON text: an array of DiffTuples in serial order. pg decodes every value
 * of every row into a string of its own (a million rows of 20 values cost about 4 s of a settle's CPU in pg's row
 * parsing and Buffer slicing); one text per page and one JSON.parse of it cost about half that, and JSON carries
 * any character a value holds. Times are whole epoch milliseconds (int8, a JSON number).
 */
const SELECT_DIFF_PAGE = `SELECT json_agg(json_build_array(p.serial, p.observed_at::int8, p.desired_profile, p.result_status,
  p.result_at::int8, p.result_apple_status, p.retry_not_before::int8, p.arrived_at::int8, p.attempts, ${DIFF_FIELDS.map((k) => `p.${k}`).join(', ')})
  ORDER BY p.serial)::text AS page
  FROM (${SELECT_DIFF} WHERE d.server = $1 AND d.serial > $2 ORDER BY d.serial LIMIT $3) p`;

/**
 * A stored device reduced to the fields the differ reads (reconcile/diff.ts DiffDevice): the same values the whole
 * read (joinRecord) gives those fields, null values left out. The typed columns hold the record's COLUMN_FIELDS
 * verbatim (deviceColumns), so rows that still carry them in the record (schema 9 and older) read the same.
 */
function toObserved(t: DiffTuple): ObservedDevice {
  const [serial, observedAt, desired_profile, result_status, result_at, result_apple_status, retry_not_before, arrived_at, attempts] = t;
  const device: DiffDevice = { serial_number: serial };
  for (let i = 0; i < DIFF_FIELDS.length; i++) {
    const v = t[FIELDS_AT + i];
    if (typeof v === 'string') device[DIFF_FIELDS[i]!] = v;
  }
  return { serial, device, ...stateOf({ desired_profile, result_status, result_at, result_apple_status, retry_not_before, arrived_at, attempts }, observedAt) };
}

/** See PlanStore.iterateDiffDevices: one page after `after`. */
export async function listDiffDevices(pool: pg.Pool, server: string, after: string | null, limit: number): Promise<{ devices: ObservedDevice[]; next: string | null }> {
  const { rows } = await pool.query<{ page: string | null }>(SELECT_DIFF_PAGE, [server, after ?? '', limit + 1]);
  const page = rows[0]?.page;
  const tuples = page === null || page === undefined ? [] : (JSON.parse(page) as DiffTuple[]);
  const more = tuples.length > limit;
  if (more) tuples.pop();
  return { devices: tuples.map(toObserved), next: more ? (tuples[tuples.length - 1]?.[0] ?? null) : null };
}

/** WHERE fragments for a filter, numbering parameters from `first` (codec.ts filterClauses). */
function filterSql(filter: DeviceFilter | undefined, first: number): { sql: string; params: string[]; state: boolean } {
  return filterClauses(filter, (n) => `$${first + n}`);
}

/** See ObserveStore.upsertDevices. */
export async function upsertDevices(pool: pg.Pool, server: string, devices: readonly Device[], at: Date, opts: UpsertOptions = {}): Promise<number> {
  // One statement may not touch a row twice in PostgreSQL, so duplicates must go before batching.
  const unique = uniqueBySerialSorted(devices);
  const listed = opts.arrived === undefined ? [] : unique.filter((d) => opts.arrived?.has(d.serial_number)).map((d) => d.serial_number);
  await inTransaction(pool, async (client) => {
    for (const batch of chunks(unique, ROWS_PER_STATEMENT)) {
      if (opts.newArrive === true) await client.query(ARRIVED_NEW, [server, at.toISOString(), batch.map((d) => d.serial_number)]);
      // Sync events are written like any record here: on PostgreSQL the echo's compare-and-skip plus the second
      // statement into device_state cost more than rewriting the rows (a million-device settle took 41 s of depctl
      // CPU and 229 s wall against 30 s and 104 s), so `syncEvents` is SQLite's optimisation only.
      await client.query(UPSERT, [server, at.toISOString(), jsonArrayOfTexts(batch.map(upsertRow))]);
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
      await client.query('DELETE FROM device_state WHERE server = $1 AND serial = ANY($2::text[])', [server, batch]);
      n += r.rowCount ?? 0;
    }
    return n;
  });
}

/** See PlanStore.getDevice. */
export async function getDevice(pool: pg.Pool, server: string, serial: string): Promise<DeviceRecord | undefined> {
  const { rows } = await pool.query<DeviceRow>(`${SELECT} WHERE d.server = $1 AND d.serial = $2`, [server, serial]);
  return rows[0] && toRecord(rows[0]);
}

/** See PlanStore.getDevices (one query per ROWS_PER_STATEMENT serials). */
export async function getDevices(pool: pg.Pool, server: string, serials: readonly string[]): Promise<DeviceRecord[]> {
  const found: DeviceRecord[] = [];
  for (const batch of chunks([...new Set(serials)], ROWS_PER_STATEMENT)) {
    const { rows } = await pool.query<DeviceRow>(`${SELECT} WHERE d.server = $1 AND d.serial = ANY($2::text[])`, [server, batch]);
    for (const r of rows) found.push(toRecord(r));
  }
  return found;
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
  const { rows } = await pool.query<{ n: string }>(`SELECT COUNT(*) AS n FROM ${f.state ? JOINED : 'devices d'} WHERE d.server = $1${f.sql}`, [server, ...f.params]);
  return Number(rows[0]?.n ?? 0);
}

/** See StatusStore.countDevicesByProfileUuid: one pass over the server's rows, grouped. */
export async function countDevicesByProfileUuid(pool: pg.Pool, server: string): Promise<Map<string | null, number>> {
  const { rows } = await pool.query<{ uuid: string | null; n: string }>(
    `SELECT ${FILTER_SQL.profileUuid} AS uuid, COUNT(*) AS n FROM ${JOINED} WHERE d.server = $1 GROUP BY 1`,
    [server],
  );
  return new Map(rows.map((r) => [r.uuid, Number(r.n)]));
}

/**
 * See StatusStore.countResults. One statement (one snapshot): the statuses from a scan of the narrow
 * device_state (migration 8), the deferred count from its partial retry index; the row with a null status is
 * the deferred count.
 */
export async function countResults(pool: pg.Pool, server: string, now: Date): Promise<ResultCounts> {
  const { rows } = await pool.query<{ status: DeviceResultStatus | null; n: string }>(
    `SELECT result_status AS status, COUNT(*) AS n FROM device_state
      WHERE server = $1 AND result_status IS NOT NULL GROUP BY result_status
     UNION ALL
     SELECT NULL, COUNT(*) FROM device_state WHERE server = $1 AND retry_not_before IS NOT NULL AND retry_not_before > $2`,
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
    `${SELECT} WHERE d.server = $1 AND d.serial > $2${f.sql} ORDER BY d.serial LIMIT $3`,
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
      // Existing state rows are updated in place, devices the store holds without one get one; an unknown serial
      // is ignored. (ON CONFLICT's SET cannot see a row's "keep" flag, hence the two statements in one.)
      const r = await client.query<{ n: string }>(
        `WITH u AS (
           SELECT (e->>'s') COLLATE "C" AS s, e->>'st' AS st, (e->>'at')::timestamptz AS at, e->>'ap' AS ap,
             (e->>'rt')::timestamptz AS rt, (e->>'k')::boolean AS k, e->>'d' AS d, (e->>'a')::integer AS a
           FROM json_array_elements($2::json) AS e
           WHERE EXISTS (SELECT 1 FROM devices v WHERE v.server = $1 AND v.serial = (e->>'s') COLLATE "C")),
         upd AS (
           UPDATE device_state t SET result_status = u.st, result_at = u.at, result_apple_status = u.ap, retry_not_before = u.rt,
             desired_profile = CASE WHEN u.k THEN t.desired_profile ELSE u.d END,
             arrived_at = CASE WHEN u.st = 'success' THEN NULL ELSE t.arrived_at END, attempts = COALESCE(u.a, t.attempts)
           FROM u WHERE t.server = $1 AND t.serial = u.s
           RETURNING t.serial),
         ins AS (
           INSERT INTO device_state (server, serial, result_status, result_at, result_apple_status, retry_not_before, desired_profile, attempts)
           SELECT $1, u.s, u.st, u.at, u.ap, u.rt, CASE WHEN u.k THEN NULL ELSE u.d END, COALESCE(u.a, 0)
           FROM u WHERE NOT EXISTS (SELECT 1 FROM device_state t WHERE t.server = $1 AND t.serial = u.s)
           ON CONFLICT (server, serial) DO NOTHING
           RETURNING serial)
         SELECT (SELECT COUNT(*) FROM upd) + (SELECT COUNT(*) FROM ins) AS n`,
        [server, JSON.stringify(rows)],
      );
      n += Number(r.rows[0]?.n ?? 0);
    }
    return n;
  });
}
