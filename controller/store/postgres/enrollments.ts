/**
 * PostgreSQL part of the enrollment store (controller/enroll/ports.ts EnrollStore, migration 6).
 */
import type pg from 'pg';
import { enrollmentAuditEntry } from '../../enroll/audit.js';
import type { EnrollmentAttempt, EnrollmentAttemptRecord, EnrollmentCount, EnrollmentOutcome } from '../../enroll/ports.js';
import { FILTER_SQL, JOINED, attemptFromRow, type EnrollmentAttemptRow } from '../codec.js';
import { inTransaction } from './connection.js';
import { insertAudit } from './records.js';


/** See EnrollStore.recordEnrollmentAttempt: the row and its audit entry in one transaction. */
export async function recordEnrollmentAttempt(pool: pg.Pool, a: EnrollmentAttempt): Promise<EnrollmentAttemptRecord> {
  return inTransaction(pool, async (client) => {
    const { rows } = await client.query<{ id: string }>(
      `INSERT INTO enrollment_attempts (at, profile, serial, server, outcome, reason, product, os_version, build)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id`,
      [a.at, a.profile, a.serial, a.server, a.outcome, a.reason, a.product, a.osVersion, a.build],
    );
    await insertAudit(client, [enrollmentAuditEntry(a)]);
    return { ...a, at: new Date(a.at), id: Number(rows[0]?.id) };
  });
}

/** See EnrollStore.listEnrollmentAttempts. */
export async function listEnrollmentAttempts(pool: pg.Pool, q: { serial?: string; limit: number }): Promise<EnrollmentAttemptRecord[]> {
  const { rows } = q.serial === undefined
    ? await pool.query<EnrollmentAttemptRow>('SELECT * FROM enrollment_attempts ORDER BY id DESC LIMIT $1', [q.limit])
    : await pool.query<EnrollmentAttemptRow>('SELECT * FROM enrollment_attempts WHERE serial = $1 ORDER BY id DESC LIMIT $2', [q.serial, q.limit]);
  return rows.map(attemptFromRow);
}

/** See EnrollStore.countEnrollmentAttempts. */
export async function countEnrollmentAttempts(pool: pg.Pool): Promise<EnrollmentCount[]> {
  const { rows } = await pool.query<{ profile: string; outcome: EnrollmentOutcome; n: string }>(
    'SELECT profile, outcome, COUNT(*) AS n FROM enrollment_attempts GROUP BY profile, outcome ORDER BY profile, outcome',
  );
  return rows.map((r) => ({ profile: r.profile, outcome: r.outcome, count: Number(r.n) }));
}

/** See EnrollStore.countPushedNeverEnrolled. */
export async function countPushedNeverEnrolled(pool: pg.Pool, server: string): Promise<Map<string | null, number>> {
  const { rows } = await pool.query<{ uuid: string | null; n: string }>(
    `SELECT ${FILTER_SQL.profileUuid} AS uuid, COUNT(*) AS n FROM ${JOINED}
     WHERE d.server = $1 AND ${FILTER_SQL.profileStatus} = 'pushed'
       AND NOT EXISTS (SELECT 1 FROM enrollment_attempts e WHERE e.serial = d.serial AND e.outcome = 'enrolled')
     GROUP BY 1`,
    [server],
  );
  return new Map(rows.map((r) => [r.uuid, Number(r.n)]));
}
