/**
 * Polls the open activities of an organization once each (one GET, never a wait), so a pass never blocks on
 * Apple's asynchronous assignment. A COMPLETED activity's result file is read and each serial's outcome
 * audited (`success` or `failed`) in the same transaction that closes the row. FAILED and STOPPED are partial,
 * never success: serials without a SUCCESS row are audited `failed`, and the next plan, which observes Apple
 * again, plans those devices again. An activity Apple no longer knows (kept 30 days) is closed as NOT_FOUND.
 */
import { isAbmNotFound } from '../abm/errors.js';
import type { OrgDeviceActivity } from '../abm/types.js';
import type { AuditEntry } from '../reconcile/ports.js';
import type { ActivityRecord, ActivitySerialResult, ActivityStore, OwnershipAbmClient } from './ports.js';

/** What polling one organization found. */
export interface PollResult {
  organization: string;
  /** Activities asked about. */
  polled: number;
  /** Activities still running at Apple. */
  open: number;
  /** Activities closed now, by Apple's final status. */
  closed: { activityId: string; status: string; succeeded: number; failed: number }[];
  /** Errors reading single activities (they stay open and are asked about next pass). */
  errors: string[];
}

/** Options of {@link pollOrganization}. */
export interface PollOptions {
  now: () => Date;
  runId?: number | null;
  signal?: AbortSignal;
}

function isSuccess(status: string): boolean {
  return status.trim().toUpperCase() === 'SUCCESS';
}

/** The per-serial outcome of a finished activity: Apple's rows, and a row for each serial Apple left out. */
async function finalResults(row: ActivityRecord, a: OrgDeviceActivity, client: OwnershipAbmClient, signal: AbortSignal | undefined): Promise<ActivitySerialResult[]> {
  const read = a.downloadUrl !== undefined ? await client.readActivityResults(a, signal ? { signal } : {}) : [];
  const bySerial = new Map(read.map((r) => [r.serial, r]));
  return row.serials.map((serial) => {
    const r = bySerial.get(serial);
    if (r) return { serial, status: r.status, ...(r.message !== undefined ? { message: r.message } : {}) };
    // No row: the activity did not carry this serial out (a FAILED or STOPPED activity has no file at all).
    return { serial, status: a.status === 'COMPLETED' ? 'MISSING' : a.status, message: a.status === 'COMPLETED' ? 'not in the activity result file' : `activity ${a.status} (${a.subStatus})` };
  });
}

/** Polls each open activity of `organization` once. */
export async function pollOrganization(organization: string, client: OwnershipAbmClient, store: ActivityStore, opts: PollOptions): Promise<PollResult> {
  const out: PollResult = { organization, polled: 0, open: 0, closed: [], errors: [] };
  const signal = opts.signal;
  for (const row of await store.listActivities(organization, { open: true })) {
    out.polled++;
    let a: OrgDeviceActivity;
    try {
      a = await client.getActivity(row.activityId, signal ? { signal } : {});
    } catch (err) {
      if (!isAbmNotFound(err)) {
        out.errors.push(`activity ${row.activityId}: ${err instanceof Error ? err.message : String(err)}`);
        out.open++;
        continue;
      }
      const now = opts.now();
      const results = row.serials.map((serial) => ({ serial, status: 'NOT_FOUND', message: 'Apple no longer knows this activity' }));
      await store.updateActivity(organization, row.activityId, { status: 'NOT_FOUND', subStatus: null, updatedAt: now, completedAt: now, results }, audits(row, results, opts.runId ?? null, now));
      out.closed.push({ activityId: row.activityId, status: 'NOT_FOUND', succeeded: 0, failed: results.length });
      continue;
    }
    const now = opts.now();
    if (a.status === 'IN_PROGRESS') {
      out.open++;
      if (a.subStatus !== row.subStatus || row.status !== a.status) await store.updateActivity(organization, row.activityId, { status: a.status, subStatus: a.subStatus, updatedAt: now });
      continue;
    }
    let results: ActivitySerialResult[];
    try {
      results = await finalResults(row, a, client, signal);
    } catch (err) {
      // The result file could not be read: leave the row open and read it again next pass.
      out.errors.push(`activity ${row.activityId} results: ${err instanceof Error ? err.message : String(err)}`);
      out.open++;
      continue;
    }
    const completed = a.completedDateTime !== undefined && !Number.isNaN(Date.parse(a.completedDateTime)) ? new Date(a.completedDateTime) : now;
    const closed = await store.updateActivity(organization, row.activityId, { status: a.status, subStatus: a.subStatus, updatedAt: now, completedAt: completed, results }, audits(row, results, opts.runId ?? null, now));
    if (!closed) continue; // another process closed it first
    const succeeded = results.filter((r) => isSuccess(r.status)).length;
    out.closed.push({ activityId: row.activityId, status: a.status, succeeded, failed: results.length - succeeded });
  }
  return out;
}

function audits(row: ActivityRecord, results: readonly ActivitySerialResult[], runId: number | null, at: Date): AuditEntry[] {
  const unassign = row.type === 'UNASSIGN_DEVICES';
  return results.map((r) => ({
    runId, server: row.serverName, serial: r.serial, action: unassign ? 'abm-unassign' : 'abm-assign', before: unassign ? row.serverName : null, after: unassign ? null : row.serverName,
    outcome: isSuccess(r.status) ? 'success' : 'failed', appleStatus: r.status.slice(0, 100), at,
  }));
}
