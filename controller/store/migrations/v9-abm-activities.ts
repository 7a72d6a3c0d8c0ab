/**
 * Version 9: the Business API activities depctl issued (issue 15, controller/ownership/). A row is written
 * right after Apple's 201, polled while open, and closed with the per-serial results when the activity ends,
 * so a pass can poll across restarts and the next plan knows which devices are already on their way. `seq`
 * keeps creation order; (organization, activity_id) is unique. The partial index holds only open rows (few).
 */

/** Version 9 for SQLite (times as epoch milliseconds, JSON as TEXT). */
export const V9_SQLITE = `
CREATE TABLE abm_activities (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  organization TEXT NOT NULL,
  activity_id TEXT NOT NULL,
  type TEXT NOT NULL,
  server_id TEXT NOT NULL,
  server_name TEXT NOT NULL,
  serials TEXT NOT NULL,
  status TEXT NOT NULL,
  sub_status TEXT,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  completed_at INTEGER,
  results TEXT,
  UNIQUE (organization, activity_id)
);
CREATE INDEX abm_activities_open ON abm_activities (organization, seq) WHERE completed_at IS NULL;
`;

/** Version 9 for PostgreSQL. */
export const V9_POSTGRES = `
CREATE TABLE abm_activities (
  seq BIGSERIAL PRIMARY KEY,
  organization TEXT NOT NULL,
  activity_id TEXT NOT NULL,
  type TEXT NOT NULL,
  server_id TEXT NOT NULL,
  server_name TEXT NOT NULL,
  serials JSONB NOT NULL,
  status TEXT NOT NULL,
  sub_status TEXT,
  created_at TIMESTAMPTZ NOT NULL,
  updated_at TIMESTAMPTZ NOT NULL,
  completed_at TIMESTAMPTZ,
  results JSONB,
  UNIQUE (organization, activity_id)
);
CREATE INDEX abm_activities_open ON abm_activities (organization, seq) WHERE completed_at IS NULL;
`;
