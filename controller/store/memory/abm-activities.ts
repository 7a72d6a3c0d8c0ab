/**
 * In-memory part of the Business API activity table (controller/ownership/ports.ts ActivityStore): rows kept
 * per MemoryDatabase, so every handle on one database sees them, as with the SQL backends.
 */
import type { ActivityRecord, ActivityUpdate } from '../../ownership/ports.js';
import type { MemoryDatabase } from './memory-database.js';

const tables = new WeakMap<MemoryDatabase, ActivityRecord[]>();

function table(db: MemoryDatabase): ActivityRecord[] {
  let t = tables.get(db);
  if (!t) {
    t = [];
    tables.set(db, t);
  }
  return t;
}

function copy(a: ActivityRecord): ActivityRecord {
  return {
    ...a,
    serials: [...a.serials],
    createdAt: new Date(a.createdAt),
    updatedAt: new Date(a.updatedAt),
    completedAt: a.completedAt === null ? null : new Date(a.completedAt),
    results: a.results === null ? null : a.results.map((r) => ({ ...r })),
  };
}

/** The activity table of one memory database. */
export class MemoryAbmActivities {
  constructor(private readonly db: MemoryDatabase) {}

  record(a: ActivityRecord): void {
    const t = table(this.db);
    if (t.some((r) => r.organization === a.organization && r.activityId === a.activityId)) return;
    t.push(copy(a));
  }

  /** Updates an open row; false when there is none. */
  update(organization: string, activityId: string, u: ActivityUpdate): boolean {
    const row = table(this.db).find((r) => r.organization === organization && r.activityId === activityId && r.completedAt === null);
    if (!row) return false;
    row.status = u.status;
    row.subStatus = u.subStatus;
    row.updatedAt = new Date(u.updatedAt);
    row.completedAt = u.completedAt ? new Date(u.completedAt) : null;
    if (u.results !== undefined) row.results = u.results.map((r) => ({ ...r }));
    return true;
  }

  /** Whether an open row exists (the store checks before writing the audit of an update). */
  isOpen(organization: string, activityId: string): boolean {
    return table(this.db).some((r) => r.organization === organization && r.activityId === activityId && r.completedAt === null);
  }

  list(organization: string, opts: { open: boolean; limit?: number }): ActivityRecord[] {
    const rows = table(this.db).filter((r) => r.organization === organization && (!opts.open || r.completedAt === null));
    const kept = opts.open || opts.limit === undefined ? rows : rows.slice(Math.max(0, rows.length - opts.limit));
    return kept.map(copy);
  }
}
