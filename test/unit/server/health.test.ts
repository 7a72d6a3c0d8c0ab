import { describe, expect, it } from 'vitest';
import { healthFromStatus } from '../../../controller/server/health.js';
import type { ControllerStatus } from '../../../controller/reconcile/status.js';
import { sampleStatus } from './sample-status.js';

const NOW = new Date('2026-11-25T14:00:00.000Z');
const MIN = 60_000;
const at = (ms: number): string => new Date(NOW.getTime() + ms).toISOString();

function status(patch: Partial<ControllerStatus>): ControllerStatus {
  return { ...sampleStatus(NOW), ...patch };
}

describe('healthFromStatus', () => {
  it('is live and ready when idle with a run ahead', () => {
    expect(healthFromStatus(status({ phase: 'idle', nextRunAt: at(4 * MIN) }), NOW)).toEqual({ live: true, ready: true });
  });

  it('stays live while a run is a little overdue, and fails liveness when it is long overdue', () => {
    expect(healthFromStatus(status({ nextRunAt: at(-14 * MIN) }), NOW).live).toBe(true);
    const h = healthFromStatus(status({ phase: 'waiting', nextRunAt: at(-16 * MIN) }), NOW);
    expect(h).toEqual({ live: false, ready: true, reason: `the run due at ${at(-16 * MIN)} has not started` });
    expect(healthFromStatus(status({ nextRunAt: at(-16 * MIN) }), NOW, { maxOverdueMs: 20 * MIN }).live).toBe(true);
  });

  it('fails liveness when a pass runs longer than the maximum', () => {
    const reconciling = (sinceMs: number): ControllerStatus =>
      status({ phase: 'reconciling', nextRunAt: null, conditions: [{ type: 'Reconciling', status: 'True', reason: 'Progressing', message: '', lastTransitionTime: at(sinceMs) }] });
    expect(healthFromStatus(reconciling(-90 * MIN), NOW).live).toBe(true);
    const h = healthFromStatus(reconciling(-121 * MIN), NOW);
    expect(h.live).toBe(false);
    expect(h.reason).toContain('running since');
  });

  it('is not ready while starting or stopping, but a follower is', () => {
    expect(healthFromStatus(status({ phase: 'starting', nextRunAt: null }), NOW)).toEqual({ live: true, ready: false, reason: 'the controller is starting' });
    expect(healthFromStatus(status({ phase: 'stopping', nextRunAt: at(-60 * MIN) }), NOW)).toEqual({ live: true, ready: false, reason: 'the controller is stopping' });
    expect(healthFromStatus(status({ leader: false, phase: 'idle', nextRunAt: at(MIN) }), NOW).ready).toBe(true);
  });
});
