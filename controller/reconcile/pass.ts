/**
 * One reconcile pass: plan → apply → settle → outcome. `depctl apply`, `depctl run` and the tests all go
 * through `runPass`, so what a pass does and how its outcome is judged is written once.
 */
import type { DepConfig } from '../config/types.js';
import { applyPlan, type ApplyProgress, type ApplyResult } from './apply.js';
import type { ObserveProgress } from './observe.js';
import type { OrganizationOutcome, PassOutcome, ServerOutcome, ServerProblem } from './outcome.js';
import { hasAnyChanges, hasChanges, withOrganizations, type Plan } from './plan.js';
import { makePlan, observeSettling, type ServerHandle } from './planner.js';
import type { CallOptions, LoopTrigger, ReconcileDepClient, ReconcileStore, RunResult } from './ports.js';
import type { OutboxEntry } from '../notify/ports.js';
import { applyOwnership, planOwnership, type OrganizationHandle } from '../ownership/engine.js';
import type { OrganizationApplyResult } from '../ownership/apply.js';
import type { PollResult } from '../ownership/poll.js';
import type { ActivityStore } from '../ownership/ports.js';

/** Apple's per-serial status when it asked us to come back later (THROTTLED with retry_after_seconds). */
const APPLE_WAIT_STATUSES = new Set(['THROTTLED', 'throttled']);

/** What a pass needs: the servers (handles with their clients), the store and the clock. */
export interface PassDeps {
  handles: readonly ServerHandle[];
  clients: ReadonlyMap<string, ReconcileDepClient>;
  store: ReconcileStore;
  now: () => Date;
  /**
   * Device ownership in Apple Business/School Manager (issue 15): the Organizations with their API clients and
   * the activity store. Runs before the DEP servers: poll open activities, observe, plan, then issue activities.
   */
  ownership?: { organizations: readonly OrganizationHandle[]; store: ActivityStore };
}

/** Options of one pass. */
export interface PassOptions extends CallOptions {
  commit: string | null;
  /** Called right before each write to Apple; throws to stop the pass's writes (see ApplyOptions.beforeWrite). */
  beforeWrite?: () => Promise<void>;
  trigger: LoopTrigger | 'cli';
  allowLarge: boolean;
  /** Force a full fetch instead of a sync. */
  refresh?: boolean;
  /** Take FAILED serials now instead of at their retry time; THROTTLED serials still wait for Apple. */
  retryFailed?: boolean;
  /**
   * Called with the plan before anything is written; return false to stop there (a person declined, a saved
   * plan is stale). Not called when the plan has no changes.
   */
  beforeApply?: (plan: Plan) => Promise<boolean> | boolean;
  /**
   * Sync each server that was written to after the apply, so the store (and the status built from it) shows
   * what Apple now reports rather than the pre-apply view. Default true.
   */
  settle?: boolean;
  /** Called when the settling sync of a server fails (the pass outcome is not changed by it). */
  onSettleError?: (server: string, err: Error) => void;
  /** Plan and apply only these servers (`--server`); the others are listed in `Plan.skippedServers`. */
  only?: readonly string[];
  /** Progress of each server's fetch or sync (after each page) while planning. */
  onObserveProgress?: (progress: ObserveProgress) => void;
  /** Progress of each server's apply (after each answered request). */
  onApplyProgress?: (progress: ApplyProgress) => void;
  /**
   * The notifications a pass causes (notify/events.ts); those of an apply are stored with the run's end in one
   * transaction (ApplyStore.finishRun), so a crash cannot keep the result and lose its notification.
   */
  notifications?: (plan: Plan, apply: ApplyResult, outcome: PassOutcome) => readonly OutboxEntry[];
}

/** Everything a pass produced. */
export interface PassReport {
  plan: Plan;
  /** Null when nothing was applied (no changes, or `beforeApply` declined). */
  apply: ApplyResult | null;
  /** False when `beforeApply` declined. */
  applied: boolean;
  outcome: PassOutcome;
  /** What the ownership part issued, per Organization; null when there is none or nothing was applied. */
  ownership: OrganizationApplyResult[] | null;
  /** The activities the ownership part polled at the start of the pass, per Organization (empty when none). */
  ownershipPolls: PollResult[];
}

/** Runs one pass. Errors of single servers end up in the outcome; only a store failure throws. */
export async function runPass(config: DepConfig, deps: PassDeps, opts: PassOptions): Promise<PassReport> {
  const { now, store } = deps;
  const signal = opts.signal ? { signal: opts.signal } : {};
  // Ownership first: its activities move devices between servers, which the DEP side then sees arrive.
  const own = deps.ownership && deps.ownership.organizations.length > 0 ? deps.ownership : undefined;
  let ownershipRunId: number | null = null;
  const ownershipReport = own ? await planOwnership(config, own.organizations, own.store, { now, poll: true, ...signal }) : null;
  const plan = await makePlan(config, deps.handles, store, {
    now,
    commit: opts.commit,
    refresh: opts.refresh ?? false,
    retryFailed: opts.retryFailed ?? false,
    ...signal,
    ...(opts.only ? { only: opts.only } : {}),
    ...(opts.onObserveProgress ? { onProgress: opts.onObserveProgress } : {}),
  });
  if (ownershipReport) withOrganizations(plan, ownershipReport.plans);
  let apply: ApplyResult | null = null;
  let ownership: OrganizationApplyResult[] | null = null;
  let applied = true;
  const ownershipOf = (): OwnershipFacts => ({ applied: ownership, polls: ownershipReport?.polls ?? [], problems: ownershipReport?.problems ?? new Map() });
  const meta = { revision: opts.commit, trigger: opts.trigger };
  if (hasAnyChanges(plan)) {
    applied = opts.beforeApply ? await opts.beforeApply(plan) : true;
    if (applied && own && ownershipReport) {
      // Activities issued while the DEP side has nothing to write still make a run (recorded with its outcome
      // and notifications), so "issued 3 activities" is never a noop in the run history.
      const ownRun = hasChanges(plan) ? null : await store.startRun({ startedAt: now(), commit: plan.commit, planHash: plan.planHash, trigger: opts.trigger });
      ownership = await applyOwnership(ownershipReport, own.organizations, own.store, { now, allowLarge: opts.allowLarge, runId: ownRun?.id ?? null, ...signal, ...(opts.beforeWrite ? { beforeWrite: opts.beforeWrite } : {}) });
      if (ownRun) {
        const outcome = passOutcome(plan, null, meta, ownershipOf());
        const notes = opts.notifications ? opts.notifications(plan, { runId: ownRun.id, result: outcome.result, servers: [] }, outcome) : undefined;
        await store.finishRun(ownRun.id, { finishedAt: now(), result: outcome.result, summary: { servers: [], organizations: ownershipRunSummary(ownership) } }, notes);
        ownershipRunId = ownRun.id;
      }
    }
    if (applied && hasChanges(plan)) {
      const notify = opts.notifications;
      apply = await applyPlan(plan, config, deps.clients, store, {
        now,
        allowLarge: opts.allowLarge,
        trigger: opts.trigger,
        ...(opts.beforeWrite ? { beforeWrite: opts.beforeWrite } : {}),
        ...signal,
        ...(opts.onApplyProgress ? { onProgress: opts.onApplyProgress } : {}),
        ...(notify ? { notificationsAtFinish: (a: ApplyResult) => notify(plan, a, passOutcome(plan, a, meta, ownershipOf())) } : {}),
        // With Organizations, the stored run says the pass's combined result and what ownership issued.
        ...(ownershipReport ? { runAtFinish: (a: ApplyResult) => ({ result: passOutcome(plan, a, meta, ownershipOf()).result, ...(ownership ? { summary: { organizations: ownershipRunSummary(ownership) } } : {}) }) } : {}),
      });
    }
  }
  if (apply && apply.result !== 'noop' && opts.settle !== false) {
    for (const h of deps.handles) {
      const wrote = apply.servers.some((r) => r.server === h.name && r.succeeded + r.removed + r.defined.length > 0);
      if (!h.client || !wrote) continue;
      // The devices it writes join the converged key's pending serials (planner.ts), so the next pass diffs those.
      await observeSettling(h.name, h.client, store, { now, ...signal }).catch((err: Error) => opts.onSettleError?.(h.name, err));
    }
  }
  const outcome = passOutcome(plan, apply, meta, ownershipReport ? ownershipOf() : undefined);
  if (outcome.runId === null && ownershipRunId !== null) outcome.runId = ownershipRunId;
  return { plan, apply, applied, outcome, ownership, ownershipPolls: ownershipReport?.polls ?? [] };
}

/** Thrown by `depctl run`'s write fence when this replica no longer holds leadership (PassOptions.beforeWrite). */
export class LeadershipLostError extends Error {
  constructor() {
    super('this replica is no longer the leader (its state store session ended); it stops writing to Apple and the replica that took over carries on');
    this.name = 'LeadershipLostError';
  }
}

/** What the ownership part of a pass did, for {@link passOutcome}. */
export interface OwnershipFacts {
  /** What each organization issued; null when nothing was applied (no changes, or the plan was declined). */
  applied: readonly OrganizationApplyResult[] | null;
  /** The activities polled at the start of the pass. */
  polls: readonly PollResult[];
  /** The typed problem of each organization whose plan has an error. */
  problems: ReadonlyMap<string, ServerProblem>;
}

/** The organizations' part of a run's stored summary (no serials). */
function ownershipRunSummary(results: readonly OrganizationApplyResult[]): { organization: string; activities: number; devices: number; error: string | null }[] {
  return results.map((r) => ({ organization: r.organization, activities: r.activities.length, devices: r.devices, error: r.error }));
}

const RESULT_RANK: Record<RunResult, number> = { noop: 0, success: 1, partial: 2, failed: 3 };

/** How soon after a pass with open Business API activities the controller polls them again (depctl's choice). */
export const OWNERSHIP_POLL_MS = 2 * 60_000;

/**
 * Judges each organization of a pass (pure): `stopped` by a problem (its credentials, Apple's refusal, the
 * guardrail); `partial` when an activity finished with devices that did not move, a declared server is missing
 * or ambiguous, or moves were planned but not sent; `in-progress` while activities are running at Apple;
 * else `converged`. Its share of the pass result: stopped → failed, a failed activity → partial, activities
 * issued → success.
 */
export function organizationOutcomes(plan: Plan, facts: OwnershipFacts): { outcomes: OrganizationOutcome[]; result: RunResult } {
  const outcomes: OrganizationOutcome[] = [];
  let result: RunResult = 'noop';
  const worse = (r: RunResult): void => {
    if (RESULT_RANK[r] > RESULT_RANK[result]) result = r;
  };
  for (const op of plan.organizations ?? []) {
    const applied = facts.applied?.find((a) => a.organization === op.organization);
    const problem: ServerProblem | null = applied?.problem
      ?? (op.error !== null ? (facts.problems.get(op.organization) ?? { server: `organization ${op.organization}`, organization: op.organization, kind: 'terminal', reason: 'token-unavailable', message: op.error, retryAt: null }) : null);
    const poll = facts.polls.find((p) => p.organization === op.organization);
    const failedActivities = (poll?.closed ?? []).filter((c) => c.failed > 0).map((c) => ({ activityId: c.activityId, status: c.status, moved: c.succeeded, notMoved: c.failed }));
    const issued = applied?.activities.length ?? 0;
    const issuedDevices = applied?.devices ?? 0;
    const openActivities = op.inProgress.length + issued;
    const movesInProgress = op.inProgress.reduce((n, a) => n + a.devices, 0) + issuedDevices;
    const pendingMoves = Math.max(0, op.changeCount - issuedDevices);
    const errors = op.problems.filter((p) => p.severity === 'error').length;
    const state: OrganizationOutcome['state'] = problem ? 'stopped' : failedActivities.length > 0 || errors > 0 || pendingMoves > 0 ? 'partial' : openActivities > 0 ? 'in-progress' : 'converged';
    outcomes.push({ organization: op.organization, state, problem, issued, issuedDevices, openActivities, movesInProgress, pendingMoves, failedActivities, errors, unclaimed: op.unclaimed?.count ?? null });
    if (problem) worse('failed');
    else if (failedActivities.length > 0) worse('partial');
    else if (issued > 0 || (applied?.servers?.length ?? 0) > 0) worse('success');
  }
  return { outcomes, result };
}

/**
 * Judges a pass from its plan and apply (pure). Per server: `stopped` when the plan or the apply hit a
 * problem; `partial` when serials failed, were not accessible, still wait after a FAILED cool-down, or
 * conflict in the config; `waiting` when the only thing left is serials Apple asked to retry later; else
 * `converged`. A plan that was not applied (declined) leaves its changed servers `partial`. Organizations
 * (device ownership, issue 15) are judged by {@link organizationOutcomes} and join the result and problems.
 */
export function passOutcome(plan: Plan, apply: ApplyResult | null, meta: { revision: string | null; trigger: PassOutcome['trigger'] }, ownership?: OwnershipFacts): PassOutcome {
  const servers: ServerOutcome[] = [];
  const problems: ServerProblem[] = [];
  const retryTimes: string[] = [];
  for (const sp of plan.servers) {
    const ar = apply?.servers.find((r) => r.server === sp.server);
    const problem = sp.problem ?? ar?.problem ?? null;
    if (problem) problems.push(problem);
    let waiting = 0;
    let failed = 0;
    for (const g of sp.deferred) {
      retryTimes.push(g.until);
      if (APPLE_WAIT_STATUSES.has(g.lastStatus)) waiting += g.serials.length;
      else failed += g.serials.length;
    }
    if (ar) {
      waiting += ar.throttled;
      failed += ar.failed + ar.notAccessible;
      if (ar.earliestRetryAt) retryTimes.push(ar.earliestRetryAt);
    }
    const unapplied = !apply && sp.changeCount > 0;
    const conflicts = sp.conflicts.length;
    const state: ServerOutcome['state'] = problem ? 'stopped' : failed > 0 || conflicts > 0 || unapplied ? 'partial' : waiting > 0 ? 'waiting' : 'converged';
    servers.push({ server: sp.server, state, problem, waiting, failed, conflicts });
  }
  let result: PassOutcome['result'] = apply ? apply.result : problems.length > 0 ? 'failed' : 'noop';
  retryTimes.sort();
  const out: PassOutcome = { revision: meta.revision, trigger: meta.trigger, result, servers, problems, nextRetryAt: retryTimes[0] ?? null, runId: apply?.runId ?? null };
  if (plan.organizations !== undefined) {
    // Device ownership counts in the same result: issued activities are a write, a failed one is partial and
    // a stopped organization fails the pass; its problems join the servers' (backoff, stall, conditions).
    const own = organizationOutcomes(plan, ownership ?? { applied: null, polls: [], problems: new Map() });
    out.organizations = own.outcomes;
    for (const o of own.outcomes) if (o.problem) problems.push(o.problem);
    // While Apple carries out activities, the controller comes back to poll them soon rather than at the next
    // sync interval (each poll is one GET per open activity, then the usual observe).
    if (own.outcomes.some((o) => o.openActivities > 0 && o.problem === null)) {
      const poll = new Date(Date.parse(plan.createdAt) + OWNERSHIP_POLL_MS).toISOString();
      if (Number.isFinite(Date.parse(poll)) && (out.nextRetryAt === null || poll < out.nextRetryAt)) out.nextRetryAt = poll;
    }
    if (RESULT_RANK[own.result] > RESULT_RANK[result]) result = own.result;
    out.result = result;
  }
  return out;
}
