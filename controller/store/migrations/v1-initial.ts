/**
 * Version 1: servers (token facts and cursor), profiles (intent → UUID), devices, runs and the
 * append-only audit log. Device keys are (server, serial); paging walks that primary key.
 *
 * Devices carry no secondary index on the filter columns (profile_uuid, family, ...): Apple hands
 * out devices in operation order, so serials arrive in random key order, and every extra index
 * cost about a third of the bulk-upsert rate at 1,000,000 devices, while a filtered count scans one
 * server's rows in a fraction of a second. The partial retry index stays: it holds only devices
 * that are waiting for a retry.
 */

/** Version 1 for SQLite. `run_trigger`/`commit_sha` avoid SQL keywords. */
export const V1_SQLITE = `
CREATE TABLE servers (
  name TEXT PRIMARY KEY,
  token_fingerprint TEXT,
  token_expires_at INTEGER,
  server_uuid TEXT,
  cursor TEXT,
  fetch_started_at INTEGER,
  fetched_at INTEGER,
  synced_at INTEGER,
  updated_at INTEGER NOT NULL
);
CREATE TABLE profiles (
  server TEXT NOT NULL,
  name TEXT NOT NULL,
  content_hash TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('defining', 'defined')),
  uuid TEXT,
  body TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  defined_at INTEGER,
  PRIMARY KEY (server, name, content_hash),
  CHECK ((state = 'defined') = (uuid IS NOT NULL))
);
CREATE UNIQUE INDEX profiles_uuid ON profiles (server, uuid) WHERE uuid IS NOT NULL;
CREATE TABLE devices (
  server TEXT NOT NULL,
  serial TEXT NOT NULL,
  profile_uuid TEXT,
  profile_status TEXT,
  device_family TEXT,
  os TEXT,
  model TEXT,
  op_date INTEGER,
  record TEXT NOT NULL,
  desired_profile TEXT,
  result_status TEXT,
  result_at INTEGER,
  result_apple_status TEXT,
  retry_not_before INTEGER,
  observed_at INTEGER NOT NULL,
  PRIMARY KEY (server, serial)
);
CREATE INDEX devices_retry ON devices (server, retry_not_before) WHERE retry_not_before IS NOT NULL;
CREATE TABLE runs (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  started_at INTEGER NOT NULL,
  finished_at INTEGER,
  commit_sha TEXT,
  plan_hash TEXT,
  run_trigger TEXT NOT NULL,
  result TEXT CHECK (result IN ('success', 'partial', 'failed', 'noop')),
  summary TEXT
);
CREATE TABLE audit_log (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  run_id INTEGER,
  server TEXT NOT NULL,
  serial TEXT,
  action TEXT NOT NULL,
  before_value TEXT,
  after_value TEXT,
  outcome TEXT NOT NULL,
  apple_status TEXT,
  at INTEGER NOT NULL
);
CREATE INDEX audit_run ON audit_log (run_id, seq);
CREATE INDEX audit_serial ON audit_log (server, serial, seq);
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
  BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
  BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
`;

/** Version 1 for PostgreSQL. Keys use `COLLATE "C"` so serial order is byte order, as on SQLite. */
export const V1_POSTGRES = `
CREATE TABLE servers (
  name TEXT COLLATE "C" PRIMARY KEY,
  token_fingerprint TEXT,
  token_expires_at TIMESTAMPTZ,
  server_uuid TEXT,
  cursor TEXT,
  fetch_started_at TIMESTAMPTZ,
  fetched_at TIMESTAMPTZ,
  synced_at TIMESTAMPTZ,
  updated_at TIMESTAMPTZ NOT NULL
);
CREATE TABLE profiles (
  server TEXT COLLATE "C" NOT NULL,
  name TEXT COLLATE "C" NOT NULL,
  content_hash TEXT COLLATE "C" NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('defining', 'defined')),
  uuid TEXT,
  body JSONB NOT NULL,
  created_at TIMESTAMPTZ NOT NULL,
  defined_at TIMESTAMPTZ,
  PRIMARY KEY (server, name, content_hash),
  CHECK ((state = 'defined') = (uuid IS NOT NULL))
);
CREATE UNIQUE INDEX profiles_uuid ON profiles (server, uuid) WHERE uuid IS NOT NULL;
CREATE TABLE devices (
  server TEXT COLLATE "C" NOT NULL,
  serial TEXT COLLATE "C" NOT NULL,
  profile_uuid TEXT,
  profile_status TEXT,
  device_family TEXT,
  os TEXT,
  model TEXT,
  op_date TIMESTAMPTZ,
  record JSONB NOT NULL,
  desired_profile TEXT,
  result_status TEXT,
  result_at TIMESTAMPTZ,
  result_apple_status TEXT,
  retry_not_before TIMESTAMPTZ,
  observed_at TIMESTAMPTZ NOT NULL,
  PRIMARY KEY (server, serial)
);
CREATE INDEX devices_retry ON devices (server, retry_not_before) WHERE retry_not_before IS NOT NULL;
CREATE TABLE runs (
  id BIGSERIAL PRIMARY KEY,
  started_at TIMESTAMPTZ NOT NULL,
  finished_at TIMESTAMPTZ,
  commit_sha TEXT,
  plan_hash TEXT,
  run_trigger TEXT NOT NULL,
  result TEXT CHECK (result IN ('success', 'partial', 'failed', 'noop')),
  summary JSONB
);
CREATE TABLE audit_log (
  seq BIGSERIAL PRIMARY KEY,
  run_id BIGINT,
  server TEXT NOT NULL,
  serial TEXT,
  action TEXT NOT NULL,
  before_value TEXT,
  after_value TEXT,
  outcome TEXT NOT NULL,
  apple_status TEXT,
  at TIMESTAMPTZ NOT NULL
);
CREATE INDEX audit_run ON audit_log (run_id, seq);
CREATE INDEX audit_serial ON audit_log (server, serial, seq);
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_log is append-only';
END
$$;
CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
  FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
  FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
`;
