import { describe, expect, it } from 'vitest';
import { passOutcome, type OwnershipFacts } from '../../../controller/reconcile/pass.js';
import { problemFromAbmError, type PassOutcome, type ServerProblem } from '../../../controller/reconcile/outcome.js';
import { conditionsFor, INITIAL_MEMORY, type LoopMemory } from '../../../controller/reconcile/loop-decision.js';
import { notificationsFor } from '../../../controller/notify/events.js';
import { organizationStatuses } from '../../../controller/reconcile/status-details.js';
import { renderStatusText } from '../../../controller/cli/views/status-text.js';
import { renderStatusPage } from '../../../controller/server/status-page.js';
import type { OrganizationStatus } from '../../../controller/reconcile/status.js';
import type { ApplyResult } from '../../../controller/reconcile/apply.js';
import type { Plan, ServerPlan } from '../../../controller/reconcile/plan.js';
import type { OrganizationPlan } from '../../../controller/ownership/plan.js';
import type { OrganizationApplyResult } from '../../../controller/ownership/apply.js';
import type { PollResult } from '../../../controller/ownership/poll.js';
import { AbmAuthError, AbmHttpError, AbmNetworkError, AbmTokenError } from '../../../controller/abm/errors.js';

// Device ownership (issue 15) in the pass outcome: issued activities are a write, a finished activity with
// devices that did not move is partial, a stopped organization fails the pass, and open activities are "in
// progress", never success of the moves. The same facts drive conditions, notifications and the status.

const REV = 'aaaaaaaaaaaa1111111111111111111111111111';
const meta = { revision: REV, trigger: 'git' as const };

function sp(server: string, over: Partial<ServerPlan> = {}): ServerPlan {
  return { server, defines: [], assign: [], remove: [], drift: [], deferred: [], conflicts: [], devices: 10, unchanged: 10, changeCount: 0, maxChanges: null, exceedsMaxChanges: false, error: null, problem: null, ...over };
}

function op(over: Partial<OrganizationPlan> = {}): OrganizationPlan {
  return {
    organization: 'acme', scope: 'business', moves: [], assigns: [], changeCount: 0, maxChanges: null, exceedsMaxChanges: false,
    inProgress: [], unclaimed: null, drift: [], driftPolicy: 'correct', problems: [], error: null, devices: 1500, ...over,
  };
}

function plan(orgs: OrganizationPlan[] | undefined, servers: ServerPlan[] = [sp('paris')]): Plan {
  const summary = { defines: 0, assign: 0, remove: 0, drift: 0, deferred: 0, conflicts: 0, errors: 0 };
  return { version: 1, createdAt: '2026-12-01T10:00:00.000Z', commit: REV, configHash: 'c', planHash: 'p', servers, summary, ...(orgs ? { organizations: orgs } : {}) };
}

function issued(devices: number, activities = 1): OrganizationApplyResult {
  return { organization: 'acme', activities: Array.from({ length: activities }, (_, i) => ({ activityId: `act-${i}`, server: 'lyon', devices: devices / activities })), devices, error: null, stoppedBy: null, problem: null };
}

function facts(over: Partial<OwnershipFacts> = {}): OwnershipFacts {
  return { applied: null, polls: [], problems: new Map(), ...over };
}

const inProgress = { activityId: 'old-1', server: 'lyon', devices: 1000, status: 'IN_PROGRESS', subStatus: 'PROCESSING', createdAt: '2026-12-01T09:00:00.000Z' };

function failedPoll(status: string, succeeded: number, failed: number): PollResult {
  return { organization: 'acme', polled: 1, open: 0, closed: [{ activityId: 'old-1', status, succeeded, failed }], errors: [] };
}

function readyOf(outcome: PassOutcome): { status: string; reason: string; message: string } {
  const m: LoopMemory = { ...INITIAL_MEMORY, leader: true, good: REV, lastAttempted: REV, last: outcome, lastPassAt: 0 };
  const c = conditionsFor(m, null).find((x) => x.type === 'Ready');
  if (!c) throw new Error('no Ready condition');
  return c;
}

describe('pass outcome with device ownership', () => {
  it('without Organizations the outcome has no organizations field (unchanged)', () => {
    expect(passOutcome(plan(undefined), null, meta).organizations).toBeUndefined();
  });

  it('a pass that only issued activities is a success, and the organization is in progress (not converged)', () => {
    const p = plan([op({ changeCount: 1500 })]);
    const o = passOutcome(p, null, meta, facts({ applied: [issued(1500, 2)] }));
    expect(o.result).toBe('success');
    expect(o.organizations).toEqual([{
      organization: 'acme', state: 'in-progress', problem: null, issued: 2, issuedDevices: 1500, openActivities: 2, movesInProgress: 1500,
      pendingMoves: 0, failedActivities: [], errors: 0, unclaimed: null,
    }]);
    const ready = readyOf(o);
    expect(ready.status).toBe('Unknown');
    expect(ready.reason).toBe('MovesInProgress');
    expect(ready.message).toContain('organization acme: 1500 device(s) in 2 activities');
  });

  it('open activities bring the next pass forward (2 min after the plan) to poll them; none, or a stopped organization, does not', () => {
    const p = plan([op({ inProgress: [inProgress] })]);
    expect(passOutcome(p, null, meta, facts()).nextRetryAt).toBe('2026-12-01T10:02:00.000Z');
    expect(passOutcome(plan([op()]), null, meta, facts()).nextRetryAt).toBeNull();
    const earlier = plan([op({ inProgress: [inProgress] })], [sp('paris', { deferred: [{ until: '2026-12-01T10:01:00.000Z', lastStatus: 'THROTTLED', serials: ['A'] }] })]);
    expect(passOutcome(earlier, null, meta, facts()).nextRetryAt).toBe('2026-12-01T10:01:00.000Z');
  });

  it('nothing to do with no open activity is noop and converged; open activities of earlier passes stay in progress', () => {
    expect(passOutcome(plan([op()]), null, meta, facts()).organizations?.[0]?.state).toBe('converged');
    expect(passOutcome(plan([op()]), null, meta, facts()).result).toBe('noop');
    const o = passOutcome(plan([op({ inProgress: [inProgress] })]), null, meta, facts());
    expect(o.result).toBe('noop');
    expect(o.organizations?.[0]).toMatchObject({ state: 'in-progress', openActivities: 1, movesInProgress: 1000 });
  });

  it.each([
    ['FAILED', 0, 10],
    ['STOPPED', 0, 10],
    ['COMPLETED', 8, 2],
  ])('an activity that ended %s with devices that did not move makes the pass partial', (status, moved, notMoved) => {
    const o = passOutcome(plan([op({ changeCount: notMoved })]), null, meta, facts({ applied: [issued(notMoved)], polls: [failedPoll(status, moved, notMoved)] }));
    expect(o.result).toBe('partial');
    expect(o.organizations?.[0]?.state).toBe('partial');
    expect(o.organizations?.[0]?.failedActivities).toEqual([{ activityId: 'old-1', status, moved, notMoved }]);
    const ready = readyOf(o);
    expect([ready.status, ready.reason]).toEqual(['False', 'PartialApply']);
    expect(ready.message).toContain(`organization acme: ${notMoved} device(s) not moved by 1 activity (old-1 ${status}), planned again`);
  });

  it('a COMPLETED activity where every device moved is not partial', () => {
    const o = passOutcome(plan([op()]), null, meta, facts({ polls: [failedPoll('COMPLETED', 10, 0)] }));
    expect(o.result).toBe('noop');
    expect(o.organizations?.[0]?.state).toBe('converged');
  });

  it('an organization that could not be read fails the pass with its typed problem, which joins the problems', () => {
    const problem: ServerProblem = { server: 'organization acme', organization: 'acme', kind: 'terminal', reason: 'api-account-rejected', message: 'Apple token endpoint refused the API account credentials', retryAt: null };
    const o = passOutcome(plan([op({ error: problem.message, devices: 0 })]), null, meta, facts({ problems: new Map([['acme', problem]]) }));
    expect(o.result).toBe('failed');
    expect(o.organizations?.[0]).toMatchObject({ state: 'stopped', problem });
    expect(o.problems).toEqual([problem]);
    const ready = readyOf(o);
    expect([ready.status, ready.reason]).toEqual(['False', 'Stalled']);
    expect(ready.message).toContain('organization acme: Apple token endpoint refused');
  });

  it('the guardrail stops the organization (failed, max-changes) and its moves stay pending', () => {
    const stopped: OrganizationApplyResult = { organization: 'acme', activities: [], devices: 0, error: '1500 changes exceed maxChanges (1000)', stoppedBy: 'guardrail', problem: { server: 'organization acme', organization: 'acme', kind: 'guardrail', reason: 'max-changes', message: '1500 changes exceed maxChanges (1000)', retryAt: null } };
    const o = passOutcome(plan([op({ changeCount: 1500, maxChanges: 1000, exceedsMaxChanges: true })]), null, meta, facts({ applied: [stopped] }));
    expect(o.result).toBe('failed');
    expect(o.organizations?.[0]).toMatchObject({ state: 'stopped', pendingMoves: 1500 });
    expect(readyOf(o).reason).toBe('MaxChangesExceeded');
  });

  it('a declared server Apple does not have leaves the organization partial', () => {
    const o = passOutcome(plan([op({ problems: [{ severity: 'error', code: 'abm-server-missing', message: 'no MDM server named "Lyon"' }] })]), null, meta, facts());
    expect(o.organizations?.[0]).toMatchObject({ state: 'partial', errors: 1 });
  });

  it('the worst of the DEP result and the organizations wins', () => {
    const depApply: ApplyResult = { runId: 3, result: 'success', servers: [{ server: 'paris', defined: [], succeeded: 5, failed: 0, throttled: 0, notAccessible: 0, removed: 0, error: null, problem: null, earliestRetryAt: null }] };
    const p = plan([op({ changeCount: 10 })], [sp('paris', { changeCount: 5 })]);
    expect(passOutcome(p, depApply, meta, facts({ applied: [issued(10)], polls: [failedPoll('FAILED', 0, 10)] })).result).toBe('partial');
    expect(passOutcome(p, { ...depApply, result: 'failed' }, meta, facts({ applied: [issued(10)] })).result).toBe('failed');
    expect(passOutcome(p, depApply, meta, facts({ applied: [issued(10)] })).runId).toBe(3);
  });
});

describe('problemFromAbmError', () => {
  const now = new Date('2026-12-01T10:00:00.000Z');
  it('a refused API account needs a person; Apple’s 5xx and the network are retried', () => {
    const token = new AbmTokenError(400, JSON.stringify({ error: 'invalid_client' }), []);
    expect(problemFromAbmError('acme', token, now)).toMatchObject({ server: 'organization acme', organization: 'acme', kind: 'terminal', reason: 'api-account-rejected' });
    const auth = new AbmAuthError({ status: 401, method: 'GET', endpoint: '/v1/mdmServers', body: '' });
    expect(problemFromAbmError('acme', auth, now)).toMatchObject({ kind: 'terminal', reason: 'api-account-rejected' });
    const busy = new AbmHttpError({ status: 503, method: 'GET', endpoint: '/v1/orgDevices', body: '', retryAfterMs: 120_000 });
    expect(problemFromAbmError('acme', busy, now)).toMatchObject({ kind: 'transient', reason: 'apple-error', retryAt: '2026-12-01T10:02:00.000Z' });
    expect(problemFromAbmError('acme', new AbmNetworkError('GET', '/v1/orgDevices', 'ECONNREFUSED', 'refused'), now)).toMatchObject({ kind: 'transient', reason: 'unreachable' });
    expect(problemFromAbmError('acme', new Error('disk full'), now)).toMatchObject({ kind: 'transient', reason: 'internal-error' });
  });
});

describe('ownership notifications', () => {
  it('a failed activity is notified once per activity; a terminal organization problem once per revision and reason; a transient one not', () => {
    const terminal: ServerProblem = { server: 'organization acme', organization: 'acme', kind: 'terminal', reason: 'api-account-rejected', message: 'refused', retryAt: null };
    const p = plan([op({ changeCount: 10 })]);
    const o = passOutcome(p, null, meta, facts({ applied: [issued(10)], polls: [failedPoll('STOPPED', 0, 10)] }));
    const n = notificationsFor(p, null, o, new Map(), new Date());
    expect(n.map((x) => x.key)).toEqual(['abm-activity:acme:old-1']);
    expect(n[0]?.notification).toMatchObject({ kind: 'run-partial', server: null, details: { organization: 'acme', status: 'STOPPED', notMoved: 10 } });
    expect(n[0]?.notification.text).toContain('activity old-1 ended STOPPED: 0 moved, 10 not moved');

    const stopped = passOutcome(plan([op({ error: 'refused' })]), null, meta, facts({ problems: new Map([['acme', terminal]]) }));
    const m = notificationsFor(plan([op({ error: 'refused' })]), null, stopped, new Map(), new Date());
    expect(m.map((x) => x.key)).toEqual([`abm-error:acme:${REV.slice(0, 12)}:api-account-rejected`]);
    expect(m[0]?.notification).toMatchObject({ kind: 'run-failed', severity: 'critical', server: null });

    const transient = passOutcome(plan([op({ error: 'down' })]), null, meta, facts({ problems: new Map([['acme', { ...terminal, kind: 'transient', reason: 'unreachable' }]]) }));
    expect(notificationsFor(plan([op({ error: 'down' })]), null, transient, new Map(), new Date())).toEqual([]);
  });
});

describe('ownership in the status', () => {
  it('per organization: state, open activities, pending moves, unclaimed, last error; unknown when not observed', () => {
    const p = plan([op({ changeCount: 1500, inProgress: [inProgress], unclaimed: { count: 7, sample: [] } }), op({ organization: 'school', scope: 'school', error: 'could not read organization school', devices: 0 })]);
    const problem: ServerProblem = { server: 'organization school', organization: 'school', kind: 'transient', reason: 'unreachable', message: 'could not read organization school', retryAt: null };
    const o = passOutcome(p, null, meta, facts({ applied: [issued(1000), { organization: 'school', activities: [], devices: 0, error: problem.message, stoppedBy: 'plan', problem }] }));
    const statuses = organizationStatuses(p, o.organizations ?? []);
    expect(statuses).toEqual([
      { name: 'acme', scope: 'business', state: 'partial', openActivities: 2, movesInProgress: 2000, pendingMoves: 500, unclaimed: 7, devices: 1500, failedActivities: [], lastError: null, problem: null },
      { name: 'school', scope: 'school', state: 'unknown', openActivities: null, movesInProgress: null, pendingMoves: null, unclaimed: null, devices: null, failedActivities: [], lastError: problem.message, problem },
    ]);
    const text = renderStatusText({ source: { kind: 'controller', url: 'http://x/api/status' }, generatedAt: '2026-12-01T10:00:00.000Z', controller: null, servers: [], organizations: statuses, recentRuns: [] });
    expect(text).toContain('Organization acme (Apple Business Manager)');
    expect(text).toContain('  in progress     2,000 devices in 2 open activities');
    expect(text).toContain('  pending moves   500 devices');
    expect(text).toContain('Organization school (Apple School Manager)');
    expect(text).toContain('  state           unknown');
    expect(text).toContain('  problem         transient unreachable: could not read organization school');
    expect(text).toContain('  in progress     unknown');
    const html = renderStatusPage({
      phase: 'idle', leader: true, conditions: [], lastAppliedRevision: REV, lastAttemptedRevision: REV, refusedRevision: null, nextRunAt: null, lastError: null,
      servers: [], recentRuns: [], version: 'test', organizations: [...statuses, { ...(statuses[1] as OrganizationStatus), name: '<b>x</b>' }],
    });
    expect(html).toContain('<tr data-testid="organization-acme" data-state="partial"><td>acme</td><td class="bad">partial</td><td class="num">1,500</td><td class="num">2,000 in 2</td><td class="num">500</td><td class="num">7</td><td></td></tr>');
    expect(html).toMatch(/data-testid="organization-school" data-state="unknown"><td>school<\/td><td class="warn">unknown<\/td><td class="num">unknown<\/td><td class="num">unknown<\/td>/);
    expect(html).toContain('transient unreachable: could not read organization school');
    expect(html).not.toContain('<b>x</b>');
  });
});
