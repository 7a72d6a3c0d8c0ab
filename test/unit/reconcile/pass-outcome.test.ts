import { describe, expect, it } from 'vitest';
import { passOutcome } from '../../../controller/reconcile/pass.js';
import { problemFromError } from '../../../controller/reconcile/outcome.js';
import type { ApplyResult, ServerApplyResult } from '../../../controller/reconcile/apply.js';
import type { Plan, ServerPlan } from '../../../controller/reconcile/plan.js';
import { DepAuthError, DepHttpError, DepNetworkError, DepProtocolError } from '../../../controller/dep/errors.js';

function sp(server: string, over: Partial<ServerPlan> = {}): ServerPlan {
  return { server, defines: [], assign: [], remove: [], drift: [], deferred: [], conflicts: [], devices: 10, unchanged: 10, changeCount: 0, maxChanges: null, exceedsMaxChanges: false, error: null, problem: null, ...over };
}

function plan(servers: ServerPlan[]): Plan {
  const summary = { defines: 0, assign: 0, remove: 0, drift: 0, deferred: 0, conflicts: 0, errors: 0 };
  return { version: 1, createdAt: '2026-12-01T10:00:00.000Z', commit: 'abc', configHash: 'c', planHash: 'p', servers, summary };
}

function ar(server: string, over: Partial<ServerApplyResult> = {}): ServerApplyResult {
  return { server, defined: [], succeeded: 0, failed: 0, throttled: 0, notAccessible: 0, removed: 0, error: null, problem: null, earliestRetryAt: null, ...over };
}

function applied(result: ApplyResult['result'], servers: ServerApplyResult[]): ApplyResult {
  return { runId: 7, result, servers };
}

const meta = { revision: 'abc', trigger: 'git' as const };

describe('passOutcome', () => {
  it('a plan with nothing to do is converged and noop', () => {
    const o = passOutcome(plan([sp('paris')]), null, meta);
    expect(o).toEqual({ revision: 'abc', trigger: 'git', result: 'noop', servers: [{ server: 'paris', state: 'converged', problem: null, waiting: 0, failed: 0, conflicts: 0 }], problems: [], nextRetryAt: null, runId: null });
  });

  it('throttled serials only wait for Apple; failed and not-accessible ones make the server partial', () => {
    const p = plan([sp('paris', { changeCount: 5 }), sp('lyon', { changeCount: 3 })]);
    const a = applied('partial', [ar('paris', { succeeded: 4, throttled: 1, earliestRetryAt: '2026-12-01T10:01:00.000Z' }), ar('lyon', { succeeded: 1, failed: 1, notAccessible: 1, earliestRetryAt: '2026-12-01T11:00:00.000Z' })]);
    const o = passOutcome(p, a, meta);
    expect(o.servers).toEqual([
      { server: 'paris', state: 'waiting', problem: null, waiting: 1, failed: 0, conflicts: 0 },
      { server: 'lyon', state: 'partial', problem: null, waiting: 0, failed: 2, conflicts: 0 },
    ]);
    expect(o).toMatchObject({ result: 'partial', nextRetryAt: '2026-12-01T10:01:00.000Z', runId: 7, problems: [] });
  });

  it('deferred groups from earlier passes count: THROTTLED waits, FAILED cool-down is partial', () => {
    const p = plan([
      sp('paris', { deferred: [{ until: '2026-12-01T10:05:00.000Z', lastStatus: 'THROTTLED', serials: ['A', 'B'] }] }),
      sp('lyon', { deferred: [{ until: '2026-12-01T10:30:00.000Z', lastStatus: 'FAILED', serials: ['C'] }] }),
    ]);
    const o = passOutcome(p, null, meta);
    expect(o.servers.map((s) => [s.server, s.state, s.waiting, s.failed])).toEqual([
      ['paris', 'waiting', 2, 0],
      ['lyon', 'partial', 0, 1],
    ]);
    expect(o.nextRetryAt).toBe('2026-12-01T10:05:00.000Z');
    expect(o.result).toBe('noop');
  });

  it('conflicts and a declined apply leave the server partial', () => {
    expect(passOutcome(plan([sp('paris', { conflicts: [{ serial: 'X', message: 'two rules' }] })]), null, meta).servers[0]?.state).toBe('partial');
    expect(passOutcome(plan([sp('paris', { changeCount: 2 })]), null, meta).servers[0]?.state).toBe('partial');
  });

  it('a problem in the plan or in the apply stops the server and is listed once', () => {
    const terms = { server: 'lyon', kind: 'terminal' as const, reason: 'T_C_NOT_SIGNED' as const, message: 'terms', retryAt: null };
    const guard = { server: 'paris', kind: 'guardrail' as const, reason: 'max-changes' as const, message: 'too many', retryAt: null };
    const p = plan([sp('paris', { changeCount: 2000 }), sp('lyon', { error: 'terms', problem: terms })]);
    const a = applied('failed', [ar('paris', { error: 'too many', problem: guard }), ar('lyon', { error: 'terms', problem: terms })]);
    const o = passOutcome(p, a, meta);
    expect(o.problems).toEqual([guard, terms]);
    expect(o.servers.map((s) => s.state)).toEqual(['stopped', 'stopped']);
    expect(o.result).toBe('failed');
  });
});

describe('problemFromError', () => {
  const now = new Date('2026-12-01T10:00:00.000Z');

  it("keeps Apple's terminal code as the reason", () => {
    const err = new DepAuthError({ method: 'POST', endpoint: '/devices/sync', status: 403, body: 'T_C_NOT_SIGNED' }, 'terms-not-signed');
    expect(problemFromError('paris', err, now)).toEqual({ server: 'paris', kind: 'terminal', reason: 'T_C_NOT_SIGNED', message: err.message, retryAt: null });
  });

  it("turns Apple's Retry-After into a retry time", () => {
    const err = new DepHttpError({ method: 'POST', endpoint: '/devices/sync', status: 503, body: 'SERVICE_UNAVAILABLE', retryAfterMs: 120_000 });
    expect(problemFromError('paris', err, now)).toMatchObject({ kind: 'transient', reason: 'apple-error', retryAt: '2026-12-01T10:02:00.000Z' });
  });

  it('a network error is transient and unreachable', () => {
    const err = new DepNetworkError('POST', '/devices/sync', 'ECONNRESET', 'socket hang up');
    expect(problemFromError('paris', err, now)).toEqual({
      server: 'paris',
      kind: 'transient',
      reason: 'unreachable',
      message: "could not reach Apple's DEP service: DEP POST /devices/sync: network error ECONNRESET: socket hang up; nothing is changed on this server until it answers",
      retryAt: null,
    });
  });

  it("an error that is not Apple's (a cut state store connection) is internal, never blamed on Apple", () => {
    const err = Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' });
    const p = problemFromError('paris', err, now);
    expect(p).toMatchObject({ kind: 'transient', reason: 'internal-error', retryAt: null });
    expect(p.message).toMatch(/inside depctl.*not at Apple: terminating connection/);
    expect(p.message).not.toMatch(/could not reach Apple/);
  });

  it("an unusable answer is Apple's error, not unreachable", () => {
    expect(problemFromError('paris', new DepProtocolError('/devices/sync', 'devices should be a list, got nothing'), now)).toMatchObject({ reason: 'apple-error' });
  });
});
