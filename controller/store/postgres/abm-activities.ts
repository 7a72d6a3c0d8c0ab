/**
 * PostgreSQL part of the Business API activity table (controller/ownership/ports.ts ActivityStore, migration 9).
 */
import type pg from 'pg';
import type { ActivityRecord, ActivityUpdate } from '../../ownership/ports.js';
import type { AuditEntry } from '../../reconcile/ports.js';
import { inTransaction } from './connection.js';
import { insertAudit } from './records.js';
import { activityFromRow, type ActivityRow } from '../codec.js';


/** See ActivityStore.recordActivity. */
export async function recordActivity(pool: pg.Pool, a: ActivityRecord): Promise<void> {
  await pool.query(
    `INSERT INTO abm_activities (organization, activity_id, type, server_id, server_name, serials, status, sub_status, created_at, updated_at, completed_at, results)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT (organization, activity_id) DO NOTHING`,
    [a.organization, a.activityId, a.type, a.serverId, a.serverName, JSON.stringify(a.serials), a.status, a.subStatus, a.createdAt, a.updatedAt, a.completedAt,
      a.results === null ? null : JSON.stringify(a.results)],
  );
}

/** See ActivityStore.updateActivity: the row and its audit entries in one transaction. */
export async function updateActivity(pool: pg.Pool, organization: string, activityId: string, u: ActivityUpdate, audit: readonly AuditEntry[] = []): Promise<boolean> {
  return inTransaction(pool, async (client) => {
    const r = await client.query(
      `UPDATE abm_activities SET status = $1, sub_status = $2, updated_at = $3, completed_at = $4, results = COALESCE($5::jsonb, results)
       WHERE organization = $6 AND activity_id = $7 AND completed_at IS NULL`,
      [u.status, u.subStatus, u.updatedAt, u.completedAt ?? null, u.results === undefined ? null : JSON.stringify(u.results), organization, activityId],
    );
    if (r.rowCount !== 1) return false;
    if (audit.length > 0) await insertAudit(client, audit);
    return true;
  });
}

/** See ActivityStore.listActivities. */
export async function listActivities(pool: pg.Pool, organization: string, opts: { open: boolean; limit?: number }): Promise<ActivityRecord[]> {
  if (opts.open) {
    const { rows } = await pool.query<ActivityRow>('SELECT * FROM abm_activities WHERE organization = $1 AND completed_at IS NULL ORDER BY seq', [organization]);
    return rows.map(activityFromRow);
  }
  const { rows } = await pool.query<ActivityRow>('SELECT * FROM abm_activities WHERE organization = $1 ORDER BY seq DESC LIMIT $2', [organization, opts.limit ?? null]);
  return rows.reverse().map(activityFromRow);
}
