/**
 * One reconcile pass: plan → apply → settle → outcome. `depctl apply`, `depctl run` and the tests all go
 * through `runPass`, so what a pass does and how its outcome is judged is written once.
 */
import type { DepConfig } from '../config/types.js';
import { applyPlan, type ApplyProgress, type ApplyResult } from './apply.js';
import { observe, type ObserveProgress } from './observe.js';
import type { PassOutcome, ServerOutcome, ServerProblem } from './outcome.js';
import { hasAnyChanges, hasChanges, type Plan } from './plan.js';
import { makePlan, type ServerHandle } from './planner.js';
import type { CallOptions, LoopTrigger, ReconcileDepClient, ReconcileStore } from './ports.js';
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
  if (ownershipReport) plan.organizations = ownershipReport.plans;
  let apply: ApplyResult | null = null;
  let ownership: OrganizationApplyResult[] | null = null;
  let applied = true;
  if (hasAnyChanges(plan)) {
    applied = opts.beforeApply ? await opts.beforeApply(plan) : true;
    if (applied && own && ownershipReport) ownership = await applyOwnership(ownershipReport, own.organizations, own.store, { now, allowLarge: opts.allowLarge, ...signal });
    if (applied && hasChanges(plan)) {
      const notify = opts.notifications;
      apply = await applyPlan(plan, config, deps.clients, store, {
        now,
        allowLarge: opts.allowLarge,
        trigger: opts.trigger,
        ...signal,
        ...(opts.onApplyProgress ? { onProgress: opts.onApplyProgress } : {}),
        ...(notify ? { notificationsAtFinish: (a: ApplyResult) => notify(plan, a, passOutcome(plan, a, { revision: opts.commit, trigger: opts.trigger })) } : {}),
      });
    }
  }
  if (apply && apply.result !== 'noop' && opts.settle !== false) {
    for (const h of deps.handles) {
      const wrote = apply.servers.some((r) => r.server === h.name && r.succeeded + r.removed + r.defined.length > 0);
      if (!h.client || !wrote) continue;
      await observe(h.name, h.client, store, { now, ...signal }).catch((err: Error) => opts.onSettleError?.(h.name, err));
    }
  }
  return { plan, apply, applied, outcome: passOutcome(plan, apply, { revision: opts.commit, trigger: opts.trigger }), ownership, ownershipPolls: ownershipReport?.polls ?? [] };
}

/**
 * Judges a pass from its plan and apply (pure). Per server: `stopped` when the plan or the apply hit a
 * problem; `partial` when serials failed, were not accessible, still wait after a FAILED cool-down, or
 * conflict in the config; `waiting` when the only thing left is serials Apple asked to retry later; else
 * `converged`. A plan that was not applied (declined) leaves its changed servers `partial`.
 */
export function passOutcome(plan: Plan, apply: ApplyResult | null, meta: { revision: string | null; trigger: PassOutcome['trigger'] }): PassOutcome {
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
  const result: PassOutcome['result'] = apply ? apply.result : problems.length > 0 ? 'failed' : 'noop';
  retryTimes.sort();
  return { revision: meta.revision, trigger: meta.trigger, result, servers, problems, nextRetryAt: retryTimes[0] ?? null, runId: apply?.runId ?? null };
}
