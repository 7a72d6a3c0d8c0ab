/**
 * Version 6: the enrollment endpoint's attempts (issue 14, controller/enroll). One row per POST to
 * /enroll/PROFILE; append-only like the audit log. `enrollment_serial` answers "did this serial ever enrol"
 * for the assigned-but-never-enrolled count; `enrollment_profile` the per-profile counts.
 */

/** Version 6 for SQLite (times as epoch milliseconds). */
export const V6_SQLITE = `
CREATE TABLE enrollment_attempts (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  at INTEGER NOT NULL,
  profile TEXT NOT NULL,
  serial TEXT,
  server TEXT,
  outcome TEXT NOT NULL,
  reason TEXT NOT NULL,
  product TEXT,
  os_version TEXT,
  build TEXT
);
CREATE INDEX enrollment_serial ON enrollment_attempts (serial, outcome);
CREATE INDEX enrollment_profile ON enrollment_attempts (profile, outcome);
CREATE TRIGGER enrollment_attempts_no_update BEFORE UPDATE ON enrollment_attempts
  BEGIN SELECT RAISE(ABORT, 'enrollment_attempts is append-only'); END;
`;

/** Version 6 for PostgreSQL. */
export const V6_POSTGRES = `
CREATE TABLE enrollment_attempts (
  id BIGSERIAL PRIMARY KEY,
  at TIMESTAMPTZ NOT NULL,
  profile TEXT COLLATE "C" NOT NULL,
  serial TEXT COLLATE "C",
  server TEXT COLLATE "C",
  outcome TEXT NOT NULL,
  reason TEXT NOT NULL,
  product TEXT,
  os_version TEXT,
  build TEXT
);
CREATE INDEX enrollment_serial ON enrollment_attempts (serial, outcome);
CREATE INDEX enrollment_profile ON enrollment_attempts (profile, outcome);
`;
