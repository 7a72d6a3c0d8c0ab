/**
 * Conformance tests for the Business API activity table (issue 15, migration 9): a row as stored right after
 * Apple's 201, polled (status updates) and closed with per-serial results and their audit in one go; open and
 * all listings in creation order; a closed row is never reopened; rows seen from another handle.
 */
import { describe, expect, it } from 'vitest';
import type { ActivityRecord } from '../../controller/ownership/ports.js';
import type { AuditEntry } from '../../controller/reconcile/ports.js';
import { at, T0, type ConformanceContext } from './conformance-context.js';

function activity(id: string, organization = 'acme', serials = ['S1', 'S2']): ActivityRecord {
  return {
    organization, activityId: id, type: 'ASSIGN_DEVICES', serverId: 'SRV-B', serverName: 'lyon', serials, status: 'IN_PROGRESS', subStatus: 'SUBMITTED',
    createdAt: T0, updatedAt: T0, completedAt: null, results: null,
  };
}

function audit(serial: string, outcome: AuditEntry['outcome']): AuditEntry {
  return { runId: null, server: 'lyon', serial, action: 'abm-assign', before: 'Paris', after: 'Lyon', outcome, appleStatus: outcome === 'success' ? 'SUCCESS' : 'FAILED', at: at(30) };
}

/** Registers the activity group. */
export function defineAbmActivityConformance(ctx: ConformanceContext): void {
  describe('abm activities', () => {
    it('stores an activity, updates it while open and closes it with results and audit together', async () => {
      const s = ctx.store;
      await s.recordActivity(activity('a-1'));
      await s.recordActivity(activity('a-2', 'acme', ['S3']));
      await s.recordActivity(activity('a-9', 'other'));
      // Storing the same id again keeps the first row.
      await s.recordActivity({ ...activity('a-1'), serials: ['ZZ'] });
      expect(await s.listActivities('acme', { open: true })).toEqual([activity('a-1'), activity('a-2', 'acme', ['S3'])]);

      expect(await s.updateActivity('acme', 'a-1', { status: 'IN_PROGRESS', subStatus: 'PROCESSING', updatedAt: at(10) })).toBe(true);
      const results = [{ serial: 'S1', status: 'SUCCESS' }, { serial: 'S2', status: 'FAILED', message: 'Simulated failure' }];
      const closed = await s.updateActivity('acme', 'a-1', { status: 'COMPLETED', subStatus: 'COMPLETED_WITH_ERROR', updatedAt: at(30), completedAt: at(30), results }, [audit('S1', 'success'), audit('S2', 'failed')]);
      expect(closed).toBe(true);
      expect((await s.listActivities('acme', { open: true })).map((a) => a.activityId)).toEqual(['a-2']);
      const all = await s.listActivities('acme', { open: false });
      expect(all.map((a) => a.activityId)).toEqual(['a-1', 'a-2']);
      expect(all[0]).toEqual({ ...activity('a-1'), status: 'COMPLETED', subStatus: 'COMPLETED_WITH_ERROR', updatedAt: at(30), completedAt: at(30), results });
      const rows = await s.readAudit({ server: 'lyon', limit: 10 });
      expect(rows.map((r) => [r.serial, r.action, r.outcome, r.appleStatus])).toEqual([['S1', 'abm-assign', 'success', 'SUCCESS'], ['S2', 'abm-assign', 'failed', 'FAILED']]);

      // A closed row is not reopened or closed twice, and writes no audit then.
      expect(await s.updateActivity('acme', 'a-1', { status: 'FAILED', subStatus: null, updatedAt: at(40), completedAt: at(40), results: [] }, [audit('S1', 'failed')])).toBe(false);
      expect(await s.updateActivity('acme', 'nope', { status: 'IN_PROGRESS', subStatus: null, updatedAt: at(40) })).toBe(false);
      expect((await s.listActivities('acme', { open: false }))[0]?.status).toBe('COMPLETED');
      expect(await s.readAudit({ server: 'lyon', limit: 10 })).toHaveLength(2);
      expect((await s.listActivities('other', { open: true })).map((a) => a.activityId)).toEqual(['a-9']);
    });

    it('lists the newest activities oldest first under a limit, and another handle sees them', async () => {
      const s = ctx.store;
      for (const id of ['b-1', 'b-2', 'b-3']) await s.recordActivity(activity(id));
      expect((await s.listActivities('acme', { open: false, limit: 2 })).map((a) => a.activityId)).toEqual(['b-2', 'b-3']);
      const other = await ctx.open();
      await other.updateActivity('acme', 'b-2', { status: 'STOPPED', subStatus: 'STOPPING', updatedAt: at(5), completedAt: at(5), results: [] });
      expect((await s.listActivities('acme', { open: true })).map((a) => a.activityId)).toEqual(['b-1', 'b-3']);
      expect((await other.listActivities('acme', { open: false }))[1]).toMatchObject({ activityId: 'b-2', status: 'STOPPED', results: [], completedAt: at(5) });
    });
  });
}
