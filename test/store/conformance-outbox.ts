/**
 * Conformance tests for the notification outbox (issue 18, migration 7): enqueue order, de-duplication while
 * a key is active, re-enqueue after settle, the backoff holding later rows back, retention, across handles.
 */
import { describe, expect, it } from 'vitest';
import type { Notification } from '../../controller/notify/webhook.js';
import { at, T0, type ConformanceContext } from './conformance-context.js';

function note(text: string): Notification {
  return { kind: 'drift', severity: 'warning', server: 'paris', text, details: { count: 1 } };
}

/** Registers the outbox group. */
export function defineOutboxConformance(ctx: ConformanceContext): void {
  describe('notification outbox', () => {
    it('returns unsent rows in enqueue order and keeps one active row per key', async () => {
      const s = ctx.store;
      expect(await s.enqueueNotification('drift:b', note('second'), at(1))).toBe(true);
      expect(await s.enqueueNotification('drift:a', note('first?'), at(0))).toBe(true);
      expect(await s.enqueueNotification('drift:b', note('again'), at(2))).toBe(false);
      const due = await s.dueNotifications(at(5), 10);
      expect(due.map((r) => [r.key, r.notification.text, r.attempts, r.lastError])).toEqual([
        ['drift:b', 'second', 0, null],
        ['drift:a', 'first?', 0, null],
      ]);
      expect(due[0]!.notification).toEqual(note('second'));
      expect(due[0]!.enqueuedAt).toEqual(at(1));
      expect(due[1]!.id).toBeGreaterThan(due[0]!.id);
      expect(await s.countUnsentNotifications()).toBe(2);
      expect((await s.dueNotifications(at(5), 1)).map((r) => r.key)).toEqual(['drift:b']);
    });

    it("stores a run's notifications with the run's end, in one transaction", async () => {
      const s = ctx.store;
      await s.enqueueNotification('run-partial:paris:abc', note('already there'), T0);
      const run = await s.startRun({ startedAt: T0, commit: 'abc', planHash: null, trigger: 'schedule' });
      await s.finishRun(run.id, { finishedAt: at(4), result: 'partial', summary: null }, [
        { key: 'run-partial:paris:abc', notification: note('duplicate key') },
        { key: 'run-partial:lyon:abc', notification: note('lyon partial') },
      ]);
      const due = await s.dueNotifications(at(5), 10);
      expect(due.map((r) => [r.key, r.notification.text])).toEqual([
        ['run-partial:paris:abc', 'already there'],
        ['run-partial:lyon:abc', 'lyon partial'],
      ]);
      expect(due[1]!.enqueuedAt).toEqual(at(4));
      // An unknown run: the update fails, and the notification is not stored either.
      await expect(s.finishRun(run.id + 1000, { finishedAt: at(6), result: 'success', summary: null }, [{ key: 'orphan', notification: note('orphan') }])).rejects.toMatchObject({ code: 'store-not-found' });
      expect((await s.dueNotifications(at(7), 10)).map((r) => r.key)).not.toContain('orphan');
      expect((await s.listRuns({ limit: 1 }))[0]).toMatchObject({ id: run.id, result: 'partial' });
    });

    it('marks rows sent (another handle no longer sees them due) and still de-duplicates a sent active key', async () => {
      const s = ctx.store;
      await s.enqueueNotification('k1', note('one'), T0);
      await s.enqueueNotification('k2', note('two'), T0);
      const [first] = await s.dueNotifications(at(1), 10);
      await s.markNotificationSent(first!.id, at(1));
      const other = await ctx.open();
      expect((await other.dueNotifications(at(2), 10)).map((r) => r.key)).toEqual(['k2']);
      expect(await other.enqueueNotification('k1', note('one again'), at(3))).toBe(false);
      expect(await other.countUnsentNotifications()).toBe(1);
    });

    it('enqueues a key again after settle made it inactive, and deletes settled rows already sent', async () => {
      const s = ctx.store;
      await s.enqueueNotification('drift:x', note('x'), T0);
      await s.enqueueNotification('drift:y', note('y'), T0);
      await s.enqueueNotification('token:z', note('z'), T0);
      for (const r of await s.dueNotifications(at(1), 10)) await s.markNotificationSent(r.id, at(1));
      await s.settleNotifications('drift:', new Set(['drift:y']));
      // x went away: a new occurrence is enqueued; y is still active; other prefixes are untouched.
      expect(await s.enqueueNotification('drift:x', note('x back'), at(2))).toBe(true);
      expect(await s.enqueueNotification('drift:y', note('y again'), at(2))).toBe(false);
      expect(await s.enqueueNotification('token:z', note('z again'), at(2))).toBe(false);
      expect((await s.dueNotifications(at(3), 10)).map((r) => r.notification.text)).toEqual(['x back']);
    });

    it('still delivers a settled row that was not sent yet', async () => {
      const s = ctx.store;
      await s.enqueueNotification('drift:gone', note('gone'), T0);
      await s.settleNotifications('drift:', new Set());
      expect((await s.dueNotifications(at(1), 10)).map((r) => r.key)).toEqual(['drift:gone']);
      expect(await s.enqueueNotification('drift:gone', note('back'), at(2))).toBe(true);
      expect((await s.dueNotifications(at(3), 10)).map((r) => r.notification.text)).toEqual(['gone', 'back']);
    });

    it('backs a failed row off and holds the rows after it until its next attempt time', async () => {
      const s = ctx.store;
      await s.enqueueNotification('a', note('a'), T0);
      await s.enqueueNotification('b', note('b'), T0);
      const [a] = await s.dueNotifications(T0, 10);
      await s.markNotificationFailed(a!.id, T0, at(5), 'notification to hooks.example failed: HTTP 503');
      expect(await s.dueNotifications(at(4), 10)).toEqual([]);
      const due = await s.dueNotifications(at(5), 10);
      expect(due.map((r) => [r.key, r.attempts, r.lastError])).toEqual([
        ['a', 1, 'notification to hooks.example failed: HTTP 503'],
        ['b', 0, null],
      ]);
      expect(due[0]!.nextAttemptAt).toEqual(at(5));
      await s.markNotificationFailed(a!.id, at(5), at(15), 'again');
      expect((await s.dueNotifications(at(15), 10))[0]).toMatchObject({ key: 'a', attempts: 2, lastError: 'again' });
      await s.markNotificationSent(a!.id, at(15));
      expect((await s.dueNotifications(at(15), 10)).map((r) => r.key)).toEqual(['b']);
    });

    it('drops unsent rows older than the retention, returns them in order, and keeps sent and newer ones', async () => {
      const s = ctx.store;
      await s.enqueueNotification('old1', note('old1'), at(0));
      await s.enqueueNotification('old2', note('old2'), at(1));
      await s.enqueueNotification('sent', note('sent'), at(1));
      await s.enqueueNotification('new', note('new'), at(100));
      const sent = (await s.dueNotifications(at(200), 10)).find((r) => r.key === 'sent');
      await s.markNotificationSent(sent!.id, at(2));
      const dropped = await s.dropExpiredNotifications(at(50));
      expect(dropped.map((r) => [r.key, r.notification.text])).toEqual([['old1', 'old1'], ['old2', 'old2']]);
      expect((await s.dueNotifications(at(200), 10)).map((r) => r.key)).toEqual(['new']);
      expect(await s.dropExpiredNotifications(at(50))).toEqual([]);
      // A dropped key is gone: the problem can be enqueued again.
      expect(await s.enqueueNotification('old1', note('old1 again'), at(201))).toBe(true);
    });
  });
}
