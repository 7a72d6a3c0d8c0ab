import { describe, expect, it } from 'vitest';
import {
  afterPass,
  conditionsFor,
  decideRound,
  INITIAL_MEMORY,
  type LoopMemory,
  type LoopTiming,
  type RoundInput,
  type SourceReport,
} from '../../../controller/reconcile/loop-decision.js';
import type { PassOutcome, ServerOutcome, ServerProblem } from '../../../controller/reconcile/outcome.js';

const T0 = Date.parse('2026-12-01T10:00:00.000Z');
const TIMING: LoopTiming = { pollIntervalMs: 60_000, syncIntervalMs: 900_000, minBackoffMs: 5_000, maxBackoffMs: 600_000, leaderRetryMs: 10_000 };
const A = 'aaaaaaaaaaaa1111111111111111111111111111';
const B = 'bbbbbbbbbbbb2222222222222222222222222222';

/** A manual clock and the loop's memory, stepped round by round as the loop would. */
class Harness {
  now = T0;
  memory: LoopMemory = INITIAL_MEMORY;
  leader = true;

  round(source: SourceReport | null, trigger: RoundInput['trigger'] = null, random = 0.5): ReturnType<typeof decideRound> {
    const d = decideRound(this.memory, { now: this.now, leader: this.leader, trigger, source, random }, TIMING);
    this.memory = d.memory;
    return d;
  }

  finish(outcome: PassOutcome | { error: string }, random = 0.5): number {
    const end = 'error' in outcome ? { ok: false as const, message: outcome.error } : { ok: true as const, outcome };
    const a = afterPass(this.memory, end, this.now, TIMING, random);
    this.memory = a.memory;
    return a.waitMs;
  }

  ready(): { status: string; reason: string; message: string } {
    const c = conditionsFor(this.memory, null).find((x) => x.type === 'Ready');
    if (!c) throw new Error('no Ready condition');
    return { status: c.status, reason: c.reason, message: c.message };
  }

  stalled(): { status: string; reason: string } {
    const c = conditionsFor(this.memory, null).find((x) => x.type === 'Stalled');
    if (!c) throw new Error('no Stalled condition');
    return { status: c.status, reason: c.reason };
  }
}

const valid = (revision: string): SourceReport => ({ ok: true, revision, validation: { ok: true } });
const known = (revision: string): SourceReport => ({ ok: true, revision, validation: null });
const invalid = (revision: string, message: string): SourceReport => ({ ok: true, revision, validation: { ok: false, message } });

function server(name: string, over: Partial<ServerOutcome> = {}): ServerOutcome {
  return { server: name, state: 'converged', problem: null, waiting: 0, failed: 0, conflicts: 0, ...over };
}

function outcome(revision: string, servers: ServerOutcome[], over: Partial<PassOutcome> = {}): PassOutcome {
  const problems = servers.map((s) => s.problem).filter((p): p is ServerProblem => p !== null);
  return { revision, trigger: 'git', result: problems.length ? 'failed' : 'success', servers, problems, nextRetryAt: null, runId: 1, ...over };
}

const terms: ServerProblem = { server: 'lyon', kind: 'terminal', reason: 'T_C_NOT_SIGNED', message: 'T_C_NOT_SIGNED — accept the terms', retryAt: null };

describe('decideRound and afterPass', () => {
  it('applies a new valid revision at once, and Ready is True only after its pass converged', () => {
    const h = new Harness();
    const d = h.round(valid(A));
    expect(d.step).toEqual({ kind: 'pass', revision: A, trigger: 'git' });
    expect(h.ready()).toEqual({ status: 'Unknown', reason: 'Progressing', message: 'revision aaaaaaaaaaaa has not been applied yet' });
    h.finish(outcome(A, [server('paris')]));
    expect(h.ready()).toEqual({ status: 'True', reason: 'ReconciliationSucceeded', message: 'revision aaaaaaaaaaaa is applied' });
    expect(h.memory).toMatchObject({ lastApplied: A, lastAttempted: A });
  });

  it('a refused newest revision makes Ready False ValidationFailed without a pass, and the last good one stays applied', () => {
    const h = new Harness();
    h.round(valid(A));
    h.finish(outcome(A, [server('paris')]));
    h.now += 30_000;
    const d = h.round(invalid(B, 'a.yaml:3:1: unknown profile "x"'));
    expect(d.step).toEqual({ kind: 'wait' });
    expect(h.ready()).toEqual({
      status: 'False',
      reason: 'ValidationFailed',
      message: 'newest revision bbbbbbbbbbbb is invalid and was not applied: a.yaml:3:1: unknown profile "x"; revision aaaaaaaaaaaa stays in force',
    });
    expect(h.memory).toMatchObject({ lastApplied: A, lastAttempted: A, refused: { revision: B } });
    // Still refused on the next rounds (the source reports the same revision, already judged).
    h.now += 60_000;
    h.round(known(B));
    expect(h.ready().reason).toBe('ValidationFailed');
    // A fixed revision clears it.
    const fixed = h.round(valid('c'.repeat(40)));
    expect(fixed.step).toMatchObject({ kind: 'pass', trigger: 'git' });
  });

  it('with no valid revision at all, Ready and Stalled are ValidationFailed and nothing runs', () => {
    const h = new Harness();
    const d = h.round(invalid(A, 'bad'));
    expect(d).toMatchObject({ step: { kind: 'wait' }, waitMs: 60_000 });
    expect(h.ready()).toMatchObject({ status: 'False', reason: 'ValidationFailed' });
    expect(h.stalled()).toEqual({ status: 'True', reason: 'ValidationFailed' });
  });

  it('a server stalled on the terms: Ready False Stalled, lastAppliedRevision does not move, no retry until asked or the sync interval', () => {
    const h = new Harness();
    h.round(valid(A));
    h.finish(outcome(A, [server('paris')]));
    h.round(valid(B));
    h.finish(outcome(B, [server('paris'), server('lyon', { state: 'stopped', problem: terms })]));
    expect(h.memory).toMatchObject({ lastApplied: A, lastAttempted: B, stalledRevision: B });
    expect(h.ready()).toEqual({ status: 'False', reason: 'Stalled', message: 'lyon: T_C_NOT_SIGNED — accept the terms' });
    expect(h.stalled()).toEqual({ status: 'True', reason: 'Stalled' });
    h.now += 5 * 60_000;
    expect(h.round(known(B)).step).toEqual({ kind: 'wait' });
    expect(h.round(known(B), 'webhook').step).toEqual({ kind: 'wait' });
    expect(h.round(known(B), 'manual').step).toEqual({ kind: 'pass', revision: B, trigger: 'manual' });
    h.finish(outcome(B, [server('paris'), server('lyon', { state: 'stopped', problem: terms })]));
    h.now += 900_000;
    expect(h.round(known(B)).step).toEqual({ kind: 'pass', revision: B, trigger: 'schedule' });
    h.finish(outcome(B, [server('paris'), server('lyon')]));
    expect(h.memory).toMatchObject({ lastApplied: B, stalledRevision: null });
    expect(h.ready().status).toBe('True');
  });

  it('a changed server identity is its own reason', () => {
    const h = new Harness();
    h.round(valid(A));
    h.finish(outcome(A, [server('paris', { state: 'stopped', problem: { server: 'paris', kind: 'terminal', reason: 'server-changed', message: 'the token now belongs to another MDM server', retryAt: null } })]));
    expect(h.ready()).toMatchObject({ status: 'False', reason: 'ServerChanged' });
    expect(h.stalled()).toEqual({ status: 'True', reason: 'ServerChanged' });
  });

  it('transient problems back off exponentially with jitter, and success resets the count', () => {
    const h = new Harness();
    const down: ServerProblem = { server: 'paris', kind: 'transient', reason: 'unreachable', message: 'ECONNRESET', retryAt: null };
    h.round(valid(A));
    // random 0 → half the base: 2.5 s, then 5 s, then 10 s.
    expect(h.finish(outcome(A, [server('paris', { state: 'stopped', problem: down })]), 0)).toBe(2_500);
    expect(h.ready()).toEqual({ status: 'False', reason: 'RetryingAfterFailure', message: 'paris: ECONNRESET (attempt 1; retrying at 2026-12-01T10:00:02.500Z)' });
    expect(h.round(known(A)).step).toEqual({ kind: 'wait' });
    h.now += 2_500;
    expect(h.round(known(A)).step).toEqual({ kind: 'pass', revision: A, trigger: 'schedule' });
    expect(h.finish(outcome(A, [server('paris', { state: 'stopped', problem: down })]), 0)).toBe(5_000);
    h.now += 5_000;
    h.round(known(A));
    expect(h.finish(outcome(A, [server('paris', { state: 'stopped', problem: down })]), 0)).toBe(10_000);
    expect(h.memory.lastApplied).toBeNull();
    h.now += 10_000;
    h.round(known(A));
    h.finish(outcome(A, [server('paris')]));
    expect(h.memory).toMatchObject({ failures: 0, backoffUntil: null, lastApplied: A });
  });

  it("Apple's Retry-After is a floor for the next attempt", () => {
    const h = new Harness();
    h.round(valid(A));
    const busy: ServerProblem = { server: 'paris', kind: 'transient', reason: 'apple-error', message: 'HTTP 503', retryAt: new Date(T0 + 120_000).toISOString() };
    expect(h.finish(outcome(A, [server('paris', { state: 'stopped', problem: busy })]), 0)).toBe(60_000 * 0.9);
    expect(h.memory.backoffUntil).toBe(T0 + 120_000);
    h.now += 60_000;
    expect(h.round(known(A)).step).toEqual({ kind: 'wait' });
    h.now += 60_000;
    expect(h.round(known(A)).step).toMatchObject({ kind: 'pass' });
  });

  it('a partial apply is applied (lastAppliedRevision moves) but not Ready, and its retry time brings the next pass', () => {
    const h = new Harness();
    h.round(valid(A));
    const retry = new Date(T0 + 3_600_000).toISOString();
    h.finish(outcome(A, [server('paris', { state: 'partial', failed: 3 })], { result: 'partial', nextRetryAt: retry }));
    expect(h.memory.lastApplied).toBe(A);
    expect(h.ready()).toEqual({ status: 'False', reason: 'PartialApply', message: `revision aaaaaaaaaaaa applied partly (paris: 3 serial(s) failed or not accessible); retried from ${retry}` });
    h.now += 900_000;
    // The sync interval is due first: a scheduled pass, still partial.
    expect(h.round(known(A)).step).toMatchObject({ kind: 'pass', trigger: 'schedule' });
    h.finish(outcome(A, [server('paris', { state: 'partial', failed: 3 })], { result: 'noop', nextRetryAt: retry }));
    expect(h.ready().reason).toBe('PartialApply');
  });

  it("serials that only wait for Apple's retry time leave Ready True, saying so", () => {
    const h = new Harness();
    h.round(valid(A));
    const retry = new Date(T0 + 60_000).toISOString();
    h.finish(outcome(A, [server('paris', { state: 'waiting', waiting: 40 })], { result: 'partial', nextRetryAt: retry }));
    expect(h.ready()).toEqual({ status: 'True', reason: 'ReconciliationSucceeded', message: `revision aaaaaaaaaaaa is applied; 40 serial(s) wait for Apple's retry time (from ${retry})` });
    h.now += 30_000;
    expect(h.round(known(A)).step).toEqual({ kind: 'wait' });
    h.now += 30_000;
    expect(h.round(known(A)).step).toMatchObject({ kind: 'pass', trigger: 'schedule' });
  });

  it('a pass that throws is retried with backoff and shown as RetryingAfterFailure', () => {
    const h = new Harness();
    h.round(valid(A));
    expect(h.finish({ error: 'database is locked' }, 0)).toBe(2_500);
    expect(h.ready()).toEqual({ status: 'False', reason: 'RetryingAfterFailure', message: 'reconcile of aaaaaaaaaaaa failed: database is locked (attempt 1)' });
    expect(h.memory.lastApplied).toBeNull();
  });

  it('an unreadable source: backoff before any revision; with one in force, Ready False SourceUnavailable and no pass', () => {
    const h = new Harness();
    const d = h.round({ ok: false, message: 'git fetch failed' }, null, 0);
    expect(d).toEqual({ memory: expect.objectContaining({ failures: 1 }), step: { kind: 'wait' }, waitMs: 2_500 });
    expect(h.ready()).toEqual({ status: 'False', reason: 'SourceUnavailable', message: 'git fetch failed' });
    h.round(valid(A));
    h.finish(outcome(A, [server('paris')]));
    h.now += 60_000;
    expect(h.round({ ok: false, message: 'git fetch failed' }).step).toEqual({ kind: 'wait' });
    expect(h.ready()).toEqual({ status: 'False', reason: 'SourceUnavailable', message: 'git fetch failed; revision aaaaaaaaaaaa stays in force' });
    expect(h.memory.lastApplied).toBe(A);
  });

  it('leadership lost: follow without a pass; regained: a pass at once (another replica may have written)', () => {
    const h = new Harness();
    h.round(valid(A));
    h.finish(outcome(A, [server('paris')]));
    h.leader = false;
    const f = h.round(null, 'webhook');
    expect(f).toMatchObject({ step: { kind: 'follow' }, waitMs: 10_000 });
    expect(h.ready()).toMatchObject({ status: 'Unknown', reason: 'Follower' });
    h.now += 10_000;
    h.leader = true;
    expect(h.round(known(A)).step).toEqual({ kind: 'pass', revision: A, trigger: 'schedule' });
  });

  it('waits for the nearest of the git poll, the Apple sync interval and a retry time', () => {
    const h = new Harness();
    h.round(valid(A));
    expect(h.finish(outcome(A, [server('paris')]), 0.5)).toBe(60_000);
    h.now += 870_000;
    // 30 s until the sync interval is due, which is nearer than the next poll.
    expect(h.round(known(A))).toMatchObject({ step: { kind: 'wait' }, waitMs: 30_000 });
  });
});
