/**
 * The controller loop's decisions, as pure functions (STYLE rule 5): given what the loop remembers, the
 * clock, leadership, what the config source said and the last pass outcome, decide what to do next and
 * which conditions hold. `loop.ts` carries the decisions out (git, validation, the pass, sleeping);
 * everything here is unit-tested with a manual clock.
 *
 * Conditions follow Flux: `Ready` is True only when the newest revision is applied and every server
 * converged or only waits for Apple's retry times; otherwise False with a reason (README, "Conditions").
 */
import type { Condition, ConditionType, ControllerPhase } from './status.js';
import type { PassOutcome, ServerProblem } from './outcome.js';
import type { LoopTrigger } from './ports.js';

/** Timing of the loop. */
export interface LoopTiming {
  /** How often git is polled. */
  pollIntervalMs: number;
  /** How often Apple is synced when nothing else triggers a pass. */
  syncIntervalMs: number;
  /** First retry delay after a transient failure; doubles up to maxBackoffMs. */
  minBackoffMs: number;
  maxBackoffMs: number;
  /** How often a follower tries to become leader. */
  leaderRetryMs: number;
}

/** Default timing (DESIGN.md: `--poll-interval 1m`; Apple sync every 15 minutes). */
export const DEFAULT_TIMING: LoopTiming = {
  pollIntervalMs: 60_000,
  syncIntervalMs: 15 * 60_000,
  minBackoffMs: 5_000,
  maxBackoffMs: 10 * 60_000,
  leaderRetryMs: 10_000,
};

/** What the loop remembers between rounds. */
export interface LoopMemory {
  leader: boolean;
  /** The newest revision that passed validation (its config is held by the loop). */
  good: string | null;
  /** The newest revision, when it failed validation. */
  refused: { revision: string; message: string } | null;
  /** Why the config source could not be read in the latest round, if it could not. */
  sourceError: string | null;
  lastAttempted: string | null;
  /** Moves only when a revision was applied without a server problem. */
  lastApplied: string | null;
  /** Clock time (ms) the last pass ended. */
  lastPassAt: number | null;
  /** The outcome of the last pass that ran to its end. */
  last: PassOutcome | null;
  /** Why the last pass threw (store down, a bug), if it did; cleared by a pass that ends. */
  passError: string | null;
  /** Consecutive transient failures (pass errors, transient server problems, an unreadable source at start). */
  failures: number;
  /** No retry after a failure before this clock time (ms): backoff, or Apple's Retry-After. */
  backoffUntil: number | null;
  /** The revision whose pass stopped on terminal or guardrail problems only; not retried on a schedule. */
  stalledRevision: string | null;
}

/** The memory of a loop that has done nothing yet. */
export const INITIAL_MEMORY: LoopMemory = {
  leader: false,
  good: null,
  refused: null,
  sourceError: null,
  lastAttempted: null,
  lastApplied: null,
  lastPassAt: null,
  last: null,
  passError: null,
  failures: 0,
  backoffUntil: null,
  stalledRevision: null,
};

/** What the config source said this round. */
export type SourceReport =
  /** The revision checked out; `validation` is null when the revision is the one already known. */
  | { ok: true; revision: string; validation: { ok: true } | { ok: false; message: string } | null }
  | { ok: false; message: string };

/** Inputs of one round. */
export interface RoundInput {
  now: number;
  leader: boolean;
  /** A trigger that arrived since the last round (webhook, SIGHUP, API). */
  trigger: LoopTrigger | null;
  /** Null for a follower (it does not read the source). */
  source: SourceReport | null;
  /** Uniform random in [0, 1) for jitter. */
  random: number;
}

/** What to do this round. */
export type RoundStep = { kind: 'follow' } | { kind: 'wait' } | { kind: 'pass'; revision: string; trigger: LoopTrigger };

/** A decision: the new memory, the step, and how long to wait afterwards (for `follow` and `wait`). */
export interface RoundDecision {
  memory: LoopMemory;
  step: RoundStep;
  waitMs: number;
}

/** Decides a round. */
export function decideRound(m: LoopMemory, input: RoundInput, timing: LoopTiming): RoundDecision {
  const { now } = input;
  if (!input.leader) return { memory: { ...m, leader: false }, step: { kind: 'follow' }, waitMs: timing.leaderRetryMs };
  let trigger = input.trigger;
  const next: LoopMemory = { ...m, leader: true };
  // Leadership (re)gained: another replica may have written since; look again now.
  if (!m.leader) trigger ??= 'schedule';
  const src = input.source;
  if (src?.ok) {
    next.sourceError = null;
    if (src.validation?.ok) {
      next.good = src.revision;
      next.refused = null;
      next.stalledRevision = null;
      trigger = trigger === 'manual' ? 'manual' : 'git';
    } else if (src.validation && !src.validation.ok) {
      next.refused = { revision: src.revision, message: src.validation.message };
    }
  } else if (src) {
    next.sourceError = src.message;
  }
  if (next.good === null) {
    if (next.sourceError !== null && next.refused === null) {
      // Nothing to apply and the source cannot be read: back off so a dead remote is not hammered.
      next.failures = m.failures + 1;
      const wait = backoffMs(next.failures, timing, input.random);
      next.backoffUntil = now + wait;
      return { memory: next, step: { kind: 'wait' }, waitMs: wait };
    }
    return { memory: next, step: { kind: 'wait' }, waitMs: timing.pollIntervalMs };
  }
  const dueSync = next.lastPassAt === null || now - next.lastPassAt >= timing.syncIntervalMs;
  const dueRetry = next.last?.nextRetryAt != null && Date.parse(next.last.nextRetryAt) <= now;
  const dueBackoff = next.backoffUntil !== null && next.backoffUntil <= now;
  const stalled = next.stalledRevision !== null && next.stalledRevision === next.good;
  // A stalled revision waits for a person: a new revision, a manual trigger, or the Apple sync interval
  // (a new token dropped into the secrets directory needs no new revision).
  const run = stalled ? trigger === 'manual' || trigger === 'git' || dueSync : trigger !== null || dueSync || dueRetry || dueBackoff;
  if (!run) return { memory: next, step: { kind: 'wait' }, waitMs: untilNextRound(next, now, timing, input.random) };
  const reason: LoopTrigger = trigger ?? 'schedule';
  next.lastAttempted = next.good;
  return { memory: next, step: { kind: 'pass', revision: next.good, trigger: reason }, waitMs: 0 };
}

/** How a pass ended, as the loop saw it. */
export type PassEnd = { ok: true; outcome: PassOutcome } | { ok: false; message: string };

/** Updates the memory after a pass; returns it with how long to wait before the next round. */
export function afterPass(m: LoopMemory, end: PassEnd, now: number, timing: LoopTiming, random: number): { memory: LoopMemory; waitMs: number } {
  const next: LoopMemory = { ...m };
  if (!end.ok) {
    next.passError = end.message;
    next.failures = m.failures + 1;
    next.backoffUntil = now + backoffMs(next.failures, timing, random);
    return { memory: next, waitMs: untilNextRound(next, now, timing, random) };
  }
  const { outcome } = end;
  next.passError = null;
  next.last = outcome;
  next.lastPassAt = now;
  const transient = outcome.problems.filter((p) => p.kind === 'transient');
  if (transient.length > 0) {
    next.failures = m.failures + 1;
    // Apple's Retry-After is a floor for the next attempt.
    const appleSays = Math.max(0, ...transient.map((p) => (p.retryAt ? Date.parse(p.retryAt) - now : 0)).filter(Number.isFinite));
    next.backoffUntil = now + Math.max(backoffMs(next.failures, timing, random), appleSays);
    next.stalledRevision = null;
  } else {
    next.failures = 0;
    next.backoffUntil = null;
    next.stalledRevision = outcome.problems.length > 0 ? m.lastAttempted : null;
  }
  if (outcome.problems.length === 0 && m.lastAttempted !== null) next.lastApplied = m.lastAttempted;
  return { memory: next, waitMs: untilNextRound(next, now, timing, random) };
}

/** Jittered exponential backoff for the n-th consecutive failure. */
export function backoffMs(failures: number, timing: LoopTiming, random: number): number {
  const base = Math.min(timing.maxBackoffMs, timing.minBackoffMs * 2 ** Math.max(0, failures - 1));
  return Math.round(base * (0.5 + random / 2));
}

/** Until the next round: the git poll (jittered ±10 %), or earlier when a sync, Apple retry time or backoff is due. */
export function untilNextRound(m: LoopMemory, now: number, timing: LoopTiming, random: number): number {
  const candidates = [Math.round(timing.pollIntervalMs * (0.9 + random * 0.2))];
  const stalled = m.stalledRevision !== null && m.stalledRevision === m.good;
  if (m.lastPassAt !== null) candidates.push(m.lastPassAt + timing.syncIntervalMs - now);
  if (!stalled && m.last?.nextRetryAt) candidates.push(Date.parse(m.last.nextRetryAt) - now);
  if (m.backoffUntil !== null) candidates.push(m.backoffUntil - now);
  return Math.max(0, Math.min(...candidates.filter(Number.isFinite)));
}

/** The phase shown while not in a pass. */
export function restingPhase(m: LoopMemory): ControllerPhase {
  return m.backoffUntil !== null ? 'waiting' : 'idle';
}

/** A condition without its transition time. */
export type ConditionValue = Omit<Condition, 'lastTransitionTime'>;

/** The conditions that hold given the memory; `reconciling` is the pass in progress, if one is. */
export function conditionsFor(m: LoopMemory, reconciling: { revision: string; trigger: LoopTrigger } | null): ConditionValue[] {
  const c = (type: ConditionType, status: Condition['status'], reason: string, message: string): ConditionValue => ({ type, status, reason, message });
  if (!m.leader) {
    return [
      c('Ready', 'Unknown', 'Follower', 'another replica holds the leader lock and reconciles; this one serves read endpoints from the shared store'),
      c('Reconciling', 'False', 'Follower', 'another replica holds the leader lock'),
      c('Stalled', 'Unknown', 'Follower', ''),
    ];
  }
  const recon = reconciling
    ? c('Reconciling', 'True', 'Progressing', `reconciling revision ${short(reconciling.revision)} (${reconciling.trigger})`)
    : c('Reconciling', 'False', m.last ? 'Done' : 'Idle', m.last ? `last pass: ${m.last.result}` : 'no pass yet');
  return [ready(m), recon, stalledCondition(m)];
}

function stalledCondition(m: LoopMemory): ConditionValue {
  if (m.good === null && m.refused) return { type: 'Stalled', status: 'True', reason: 'ValidationFailed', message: refusedMessage(m.refused) };
  const stalled = m.stalledRevision !== null && m.stalledRevision === m.good && m.last;
  if (stalled) {
    const problems = m.last?.problems ?? [];
    return { type: 'Stalled', status: 'True', reason: stallReason(problems), message: problemsMessage(problems) };
  }
  return { type: 'Stalled', status: 'False', reason: 'NotStalled', message: '' };
}

function ready(m: LoopMemory): ConditionValue {
  const r = (status: Condition['status'], reason: string, message: string): ConditionValue => ({ type: 'Ready', status, reason, message });
  if (m.good === null) {
    if (m.refused) return r('False', 'ValidationFailed', refusedMessage(m.refused));
    if (m.sourceError) return r('False', 'SourceUnavailable', m.sourceError);
    return r('Unknown', 'Starting', 'no revision has been read yet');
  }
  const inForce = `revision ${short(m.good)} stays in force`;
  if (m.refused) return r('False', 'ValidationFailed', `newest ${refusedMessage(m.refused)}; ${inForce}`);
  if (m.passError) return r('False', 'RetryingAfterFailure', `reconcile of ${short(m.good)} failed: ${m.passError} (attempt ${m.failures})`);
  const last = m.last && m.last.revision === m.good ? m.last : null;
  if (!last) return r('Unknown', 'Progressing', `revision ${short(m.good)} has not been applied yet`);
  const problems = last.problems;
  const transient = problems.filter((p) => p.kind === 'transient');
  if (problems.length > 0 && transient.length === 0) return r('False', stallReason(problems), problemsMessage(problems));
  if (transient.length > 0) {
    const when = m.backoffUntil !== null ? `; retrying at ${new Date(m.backoffUntil).toISOString()}` : '';
    return r('False', 'RetryingAfterFailure', `${problemsMessage(problems)} (attempt ${m.failures}${when})`);
  }
  if (m.sourceError) return r('False', 'SourceUnavailable', `${m.sourceError}; ${inForce}`);
  const partial = last.servers.filter((s) => s.state === 'partial');
  const orgs = last.organizations ?? [];
  const orgPartial = orgs.filter((o) => o.state === 'partial');
  if (partial.length > 0 || orgPartial.length > 0) {
    const parts = partial.map((s) => `${s.server}: ${[s.failed ? `${s.failed} serial(s) failed or not accessible` : '', s.conflicts ? `${s.conflicts} conflict(s)` : ''].filter(Boolean).join(', ') || 'changes not applied'}`);
    for (const o of orgPartial) {
      const notMoved = o.failedActivities.reduce((n, a) => n + a.notMoved, 0);
      const what = [
        o.failedActivities.length > 0 ? `${notMoved} device(s) not moved by ${o.failedActivities.length} activit${o.failedActivities.length === 1 ? 'y' : 'ies'} (${o.failedActivities.map((a) => `${a.activityId} ${a.status}`).join(', ')}), planned again` : '',
        o.errors > 0 ? `${o.errors} server problem(s) in the plan` : '',
        o.pendingMoves > 0 && o.failedActivities.length === 0 && o.errors === 0 ? `${o.pendingMoves} device move(s) not applied` : '',
      ].filter(Boolean);
      parts.push(`organization ${o.organization}: ${what.join(', ')}`);
    }
    const retry = last.nextRetryAt ? `; retried from ${last.nextRetryAt}` : '';
    return r('False', 'PartialApply', `revision ${short(m.good)} applied partly (${parts.join('; ')})${retry}`);
  }
  // Activities Apple has not finished: the moves are not done, so this is not success yet (nor a failure).
  const moving = orgs.filter((o) => o.state === 'in-progress');
  if (moving.length > 0) {
    const parts = moving.map((o) => `organization ${o.organization}: ${o.movesInProgress} device(s) in ${o.openActivities} activit${o.openActivities === 1 ? 'y' : 'ies'}`);
    return r('Unknown', 'MovesInProgress', `revision ${short(m.good)} is applied; device moves in progress at Apple (${parts.join('; ')}), polled every pass`);
  }
  const waiting = last.servers.reduce((n, s) => n + (s.state === 'waiting' ? s.waiting : 0), 0);
  const note = waiting > 0 ? `; ${waiting} serial(s) wait for Apple's retry time${last.nextRetryAt ? ` (from ${last.nextRetryAt})` : ''}` : '';
  return r('True', 'ReconciliationSucceeded', `revision ${short(m.good)} is applied${note}`);
}

/** The Ready/Stalled reason for terminal and guardrail problems. */
function stallReason(problems: readonly ServerProblem[]): string {
  if (problems.some((p) => p.reason === 'server-changed')) return 'ServerChanged';
  if (problems.some((p) => p.kind === 'terminal')) return 'Stalled';
  return 'MaxChangesExceeded';
}

function problemsMessage(problems: readonly ServerProblem[]): string {
  return problems.map((p) => `${p.server}: ${p.message}`).join('; ');
}

function refusedMessage(refused: { revision: string; message: string }): string {
  return `revision ${short(refused.revision)} is invalid and was not applied: ${refused.message}`;
}

/** Carries transition times over from the previous conditions: a condition's time moves when its status or reason does. */
export function withTransitions(prev: readonly Condition[], next: readonly ConditionValue[], nowIso: string): Condition[] {
  return next.map((c) => {
    const p = prev.find((x) => x.type === c.type);
    const same = p && p.status === c.status && p.reason === c.reason;
    return { ...c, lastTransitionTime: same ? p.lastTransitionTime : nowIso };
  });
}

function short(rev: string): string {
  return rev.slice(0, 12);
}
