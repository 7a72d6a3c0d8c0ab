/**
 * SQLite part of the Business API activity table (controller/ownership/ports.ts ActivityStore, migration 9).
 * Synchronous (better-sqlite3); the store class wraps each method in its async port method.
 */
import type Database from 'better-sqlite3';
import type { ActivityRecord, ActivityUpdate } from '../../ownership/ports.js';
import { activityFromRow, type ActivityRow } from '../codec.js';


/** The activity table on one SQLite database. */
export class SqliteAbmActivities {
  constructor(private readonly db: Database.Database) {}

  record(a: ActivityRecord): void {
    this.db
      .prepare(`INSERT INTO abm_activities (organization, activity_id, type, server_id, server_name, serials, status, sub_status, created_at, updated_at, completed_at, results)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (organization, activity_id) DO NOTHING`)
      .run(a.organization, a.activityId, a.type, a.serverId, a.serverName, JSON.stringify(a.serials), a.status, a.subStatus, a.createdAt.getTime(), a.updatedAt.getTime(),
        a.completedAt?.getTime() ?? null, a.results === null ? null : JSON.stringify(a.results));
  }

  /** Updates an open row; false when there is none. Call inside the caller's transaction with its audit. */
  update(organization: string, activityId: string, u: ActivityUpdate): boolean {
    const r = this.db
      .prepare(`UPDATE abm_activities SET status = ?, sub_status = ?, updated_at = ?, completed_at = ?, results = COALESCE(?, results)
        WHERE organization = ? AND activity_id = ? AND completed_at IS NULL`)
      .run(u.status, u.subStatus, u.updatedAt.getTime(), u.completedAt?.getTime() ?? null, u.results === undefined ? null : JSON.stringify(u.results), organization, activityId);
    return r.changes === 1;
  }

  list(organization: string, opts: { open: boolean; limit?: number }): ActivityRecord[] {
    if (opts.open) {
      const rows = this.db.prepare('SELECT * FROM abm_activities WHERE organization = ? AND completed_at IS NULL ORDER BY seq').all(organization) as ActivityRow[];
      return rows.map(activityFromRow);
    }
    const rows = this.db.prepare('SELECT * FROM abm_activities WHERE organization = ? ORDER BY seq DESC LIMIT ?').all(organization, opts.limit ?? -1) as ActivityRow[];
    return rows.reverse().map(activityFromRow);
  }
}
