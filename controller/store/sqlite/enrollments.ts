/**
 * SQLite part of the enrollment store (controller/enroll/ports.ts EnrollStore, migration 6).
 */
import type Database from 'better-sqlite3';
import { enrollmentAuditEntry } from '../../enroll/audit.js';
import type { EnrollmentAttempt, EnrollmentAttemptRecord, EnrollmentCount, EnrollmentOutcome } from '../../enroll/ports.js';
import type { AuditEntry } from '../ports.js';
import { FILTER_SQL, JOINED, attemptFromRow, type EnrollmentAttemptRow } from '../codec.js';


/** Enrollment attempts on one SQLite database. */
export class SqliteEnrollments {
  constructor(
    private readonly db: Database.Database,
    private readonly appendAudit: (entries: readonly AuditEntry[]) => void,
  ) {}

  /** See EnrollStore.recordEnrollmentAttempt: the row and its audit entry in one transaction. */
  record(a: EnrollmentAttempt): EnrollmentAttemptRecord {
    return this.db.transaction((): EnrollmentAttemptRecord => {
      const r = this.db
        .prepare(`INSERT INTO enrollment_attempts (at, profile, serial, server, outcome, reason, product, os_version, build)
          VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`)
        .run(a.at.getTime(), a.profile, a.serial, a.server, a.outcome, a.reason, a.product, a.osVersion, a.build);
      this.appendAudit([enrollmentAuditEntry(a)]);
      return { ...a, at: new Date(a.at), id: Number(r.lastInsertRowid) };
    }).immediate();
  }

  /** See EnrollStore.listEnrollmentAttempts. */
  list(q: { serial?: string; limit: number }): EnrollmentAttemptRecord[] {
    const rows = (q.serial === undefined
      ? this.db.prepare('SELECT * FROM enrollment_attempts ORDER BY id DESC LIMIT ?').all(q.limit)
      : this.db.prepare('SELECT * FROM enrollment_attempts WHERE serial = ? ORDER BY id DESC LIMIT ?').all(q.serial, q.limit)) as EnrollmentAttemptRow[];
    return rows.map(attemptFromRow);
  }

  /** See EnrollStore.countEnrollmentAttempts. */
  count(): EnrollmentCount[] {
    const rows = this.db
      .prepare('SELECT profile, outcome, COUNT(*) AS n FROM enrollment_attempts GROUP BY profile, outcome ORDER BY profile, outcome')
      .all() as Array<{ profile: string; outcome: EnrollmentOutcome; n: number }>;
    return rows.map((r) => ({ profile: r.profile, outcome: r.outcome, count: r.n }));
  }

  /** See EnrollStore.countPushedNeverEnrolled. */
  pushedNeverEnrolled(server: string): Map<string | null, number> {
    const rows = this.db
      .prepare(`SELECT ${FILTER_SQL.profileUuid} AS uuid, COUNT(*) AS n FROM ${JOINED}
        WHERE d.server = ? AND ${FILTER_SQL.profileStatus} = 'pushed'
          AND NOT EXISTS (SELECT 1 FROM enrollment_attempts e WHERE e.serial = d.serial AND e.outcome = 'enrolled')
        GROUP BY 1`)
      .all(server) as Array<{ uuid: string | null; n: number }>;
    return new Map(rows.map((r) => [r.uuid, r.n]));
  }
}
