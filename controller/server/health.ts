/**
 * Liveness and readiness derived from the status snapshot alone, for composition roots that have nothing
 * better (STYLE rule 6: readiness is distinct from liveness). Liveness fails only when the loop has visibly
 * stopped making progress, because a failing liveness probe gets the process restarted: a pass that runs
 * far longer than any pass should, or a scheduled run that is long overdue. Readiness says whether the
 * controller has come up and is not shutting down; a follower replica is ready, since it serves the read
 * endpoints, and so is a leader whose config is invalid (the status page is how one finds out why).
 */
import type { ControllerStatus } from '../reconcile/status.js';
import type { HealthReport } from './http.js';

/** Thresholds of {@link healthFromStatus}. */
export interface HealthThresholds {
  /** A pass running longer than this means the loop is stuck. Default 2 h (a first fetch of a million devices plus throttling fits). */
  maxPassMs?: number;
  /** A scheduled run overdue by more than this means the loop is stuck. Default 15 min (a slow git fetch runs before the status changes). */
  maxOverdueMs?: number;
}

/** Default thresholds. */
export const DEFAULT_HEALTH_THRESHOLDS: Required<HealthThresholds> = {
  maxPassMs: 2 * 3_600_000,
  maxOverdueMs: 15 * 60_000,
};

/** Derives the probes' answers from a snapshot at time `now`. */
export function healthFromStatus(status: ControllerStatus, now: Date, thresholds: HealthThresholds = {}): HealthReport {
  const t = { ...DEFAULT_HEALTH_THRESHOLDS, ...thresholds };
  const reasons: string[] = [];
  let live = true;
  if (status.phase === 'reconciling') {
    const since = Date.parse(status.conditions.find((c) => c.type === 'Reconciling' && c.status === 'True')?.lastTransitionTime ?? '');
    if (Number.isFinite(since) && now.getTime() - since > t.maxPassMs) {
      live = false;
      reasons.push(`a reconcile pass has been running since ${new Date(since).toISOString()}`);
    }
  } else if (status.nextRunAt !== null && status.phase !== 'stopping') {
    const due = Date.parse(status.nextRunAt);
    if (Number.isFinite(due) && now.getTime() - due > t.maxOverdueMs) {
      live = false;
      reasons.push(`the run due at ${status.nextRunAt} has not started`);
    }
  }
  const ready = status.phase !== 'starting' && status.phase !== 'stopping';
  if (!ready) reasons.push(`the controller is ${status.phase}`);
  return reasons.length > 0 ? { live, ready, reason: reasons.join('; ') } : { live, ready };
}
