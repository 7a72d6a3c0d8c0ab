/**
 * Version 8: what depctl does to a device (desired profile, last result, retry time, attempts, arrival) moves
 * from the wide `devices` row, which holds Apple's record as JSON, to a narrow `device_state` row of its own
 * (issue 11). An apply records a result for every device it writes; on the wide rows each result rewrote a
 * page of Apple records, found through the primary key's index in an order (Apple's) unrelated to the plan's
 * serial order, so a million results rewrote about a million pages. The narrow rows are keyed and, on SQLite,
 * stored by (server, serial) (WITHOUT ROWID), the order in which plans list serials: a batch of 1,000 results
 * rewrites a few dozen pages, and the whole table stays in the page cache.
 *
 * A device has a `device_state` row once depctl has done something to it (or it arrived, or a sync reported
 * it); no row reads as "nothing yet" (no desired profile, no result, no retry time, no arrival, zero attempts).
 * Rows are deleted with their device.
 *
 * Apple's record is stored in two parts: the fields a profile assignment and every sync event change
 * (PROFILE_FIELDS in codec.ts: `profile_uuid`, `profile_status`, the profile times, `op_type`, `op_date`, when
 * they are strings) in `devices.profile`, the rest in `devices.record`. A sync event that changes only those
 * fields (the echo of an apply: a million devices again) is written to `device_state.profile` with
 * `profile_at` and leaves the wide row alone; a read takes the newer of the two (`profile_at` against
 * `observed_at`). The `devices_result` index (migration 3) goes: a status count scans the narrow table
 * (a million rows in about a third of a second), which is cheaper than keeping an index on every result.
 */

/** Columns moved, in the order both dialects copy them. */
const MOVED = 'desired_profile, result_status, result_at, result_apple_status, retry_not_before, arrived_at, attempts';

/** Rows that carry any state (the others need no device_state row). */
const HAS_STATE = `desired_profile IS NOT NULL OR result_status IS NOT NULL OR retry_not_before IS NOT NULL
  OR arrived_at IS NOT NULL OR attempts <> 0`;

/** The profile fields, as SQL string literals. */
const FIELDS = ['profile_uuid', 'profile_status', 'profile_assign_time', 'profile_push_time', 'op_type', 'op_date'];
const FIELD_LIST = FIELDS.map((f) => `'${f}'`).join(', ');

/** SQLite: each string-valued profile field's path, or a path that removes nothing. */
const SQLITE_REMOVE = FIELDS.map((f) => `CASE WHEN json_type(record, '$.${f}') = 'text' THEN '$.${f}' ELSE '$.depctl_absent' END`).join(',\n    ');

/** Version 8 for SQLite (DROP COLUMN needs SQLite 3.35; better-sqlite3 12 bundles 3.49+). */
export const V8_SQLITE = `
CREATE TABLE device_state (
  server TEXT NOT NULL,
  serial TEXT NOT NULL,
  desired_profile TEXT,
  result_status TEXT,
  result_at INTEGER,
  result_apple_status TEXT,
  retry_not_before INTEGER,
  arrived_at INTEGER,
  attempts INTEGER NOT NULL DEFAULT 0,
  profile TEXT,
  profile_uuid TEXT,
  profile_status TEXT,
  profile_at INTEGER,
  PRIMARY KEY (server, serial)
) WITHOUT ROWID;
INSERT INTO device_state (server, serial, ${MOVED})
  SELECT server, serial, ${MOVED} FROM devices WHERE ${HAS_STATE} ORDER BY server, serial;
CREATE INDEX device_state_retry ON device_state (server, retry_not_before) WHERE retry_not_before IS NOT NULL;
DROP INDEX devices_result;
DROP INDEX devices_retry;
ALTER TABLE devices DROP COLUMN desired_profile;
ALTER TABLE devices DROP COLUMN result_status;
ALTER TABLE devices DROP COLUMN result_at;
ALTER TABLE devices DROP COLUMN result_apple_status;
ALTER TABLE devices DROP COLUMN retry_not_before;
ALTER TABLE devices DROP COLUMN arrived_at;
ALTER TABLE devices DROP COLUMN attempts;
ALTER TABLE devices ADD COLUMN profile TEXT;
UPDATE devices SET
  profile = (SELECT json_group_object(j.key, j.value) FROM json_each(devices.record) AS j WHERE j.key IN (${FIELD_LIST}) AND j.type = 'text'),
  record = json_remove(record,
    ${SQLITE_REMOVE});
`;

/** Version 8 for PostgreSQL (a heap table: narrow rows, so far fewer pages per batch of results). */
export const V8_POSTGRES = `
CREATE TABLE device_state (
  server TEXT COLLATE "C" NOT NULL,
  serial TEXT COLLATE "C" NOT NULL,
  desired_profile TEXT,
  result_status TEXT,
  result_at TIMESTAMPTZ,
  result_apple_status TEXT,
  retry_not_before TIMESTAMPTZ,
  arrived_at TIMESTAMPTZ,
  attempts INTEGER NOT NULL DEFAULT 0,
  profile JSONB,
  profile_uuid TEXT,
  profile_status TEXT,
  profile_at TIMESTAMPTZ,
  PRIMARY KEY (server, serial)
);
INSERT INTO device_state (server, serial, ${MOVED})
  SELECT server, serial, ${MOVED} FROM devices WHERE ${HAS_STATE} ORDER BY server, serial;
CREATE INDEX device_state_retry ON device_state (server, retry_not_before) WHERE retry_not_before IS NOT NULL;
DROP INDEX devices_result;
DROP INDEX devices_retry;
ALTER TABLE devices DROP COLUMN desired_profile, DROP COLUMN result_status, DROP COLUMN result_at,
  DROP COLUMN result_apple_status, DROP COLUMN retry_not_before, DROP COLUMN arrived_at, DROP COLUMN attempts;
ALTER TABLE devices ADD COLUMN profile JSONB;
UPDATE devices SET
  profile = COALESCE((SELECT jsonb_object_agg(j.key, j.value) FROM jsonb_each(devices.record) AS j
    WHERE j.key IN (${FIELD_LIST}) AND jsonb_typeof(j.value) = 'string'), '{}'::jsonb),
  record = devices.record - COALESCE((SELECT array_agg(j.key) FROM jsonb_each(devices.record) AS j
    WHERE j.key IN (${FIELD_LIST}) AND jsonb_typeof(j.value) = 'string'), ARRAY[]::text[]);
`;
