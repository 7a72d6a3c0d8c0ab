/**
 * The machine view of a Plan: `depctl plan --format json`, the file `apply --plan` reads back, described by
 * schemas/plan.schema.json. It shares nothing with the human views but the type (STYLE rule 7).
 */
import type {
  AssignGroup, Conflict, DeferredGroup, DriftItem, MigrationDeadlines, Plan, PlanSummary, ProfileChange, ProfileDefine, ProfileValue, RemoveGroup, ServerPlan,
} from '../../reconcile/plan.js';
import type { ServerProblem } from '../../reconcile/outcome.js';
import type { RecordedIdentity } from '../../reconcile/identity.js';
import { organizationPlanJson } from './plan-ownership.js';

/** The `$id` of the schema every rendered plan matches. */
export const PLAN_SCHEMA_ID = 'plan.schema.json';

// Each object is rebuilt field by field in the schema's order: the output is byte-stable whatever order
// the planner built its objects in, and a stray runtime property (never declared in the type) cannot
// leak into a file that is committed, attached to a pull request, or fed to `apply --plan`.

function define(d: ProfileDefine): ProfileDefine {
  const out: ProfileDefine = { profile: d.profile, contentHash: d.contentHash, reason: d.reason, previousUuids: [...d.previousUuids], devices: d.devices };
  // What changed (or the first content) is optional: plans saved by earlier versions have neither.
  if (d.changesFrom !== undefined) out.changesFrom = d.changesFrom;
  if (d.changes !== undefined) out.changes = d.changes.map(change);
  if (d.content !== undefined) out.content = Object.fromEntries(Object.keys(d.content).sort().map((k) => [k, d.content?.[k] as ProfileValue]));
  return out;
}

function change(c: ProfileChange): ProfileChange {
  return {
    key: c.key,
    before: c.before,
    after: c.after,
    ...(c.added !== undefined ? { added: [...c.added] } : {}),
    ...(c.removed !== undefined ? { removed: [...c.removed] } : {}),
  };
}

function assign(g: AssignGroup): AssignGroup {
  return {
    profile: g.profile,
    profileUuid: g.profileUuid,
    fromUuid: g.fromUuid,
    fromProfile: g.fromProfile,
    reason: g.reason,
    source: g.source,
    assignment: g.assignment,
    serials: g.serials,
  };
}

function remove(g: RemoveGroup): RemoveGroup {
  return { fromUuid: g.fromUuid, fromProfile: g.fromProfile, reason: g.reason, serials: g.serials };
}

function drift(d: DriftItem): DriftItem {
  const out: DriftItem = { kind: d.kind, message: d.message, serials: d.serials, corrected: d.corrected };
  // Device drift only: other findings leave these out rather than carry nulls that mean nothing.
  if (d.current !== undefined) out.current = { uuid: d.current.uuid, profile: d.current.profile, name: d.current.name };
  if (d.desired !== undefined) out.desired = d.desired;
  if (d.since !== undefined) out.since = d.since;
  return out;
}

function deferred(g: DeferredGroup): DeferredGroup {
  return { until: g.until, lastStatus: g.lastStatus, ...(g.attempts !== undefined ? { attempts: g.attempts } : {}), serials: g.serials };
}

function conflict(c: Conflict): Conflict {
  return { serial: c.serial, message: c.message };
}

function server(s: ServerPlan): ServerPlan {
  return {
    server: s.server,
    defines: s.defines.map(define),
    assign: s.assign.map(assign),
    remove: s.remove.map(remove),
    drift: s.drift.map(drift),
    deferred: s.deferred.map(deferred),
    conflicts: s.conflicts.map(conflict),
    devices: s.devices,
    unchanged: s.unchanged,
    changeCount: s.changeCount,
    maxChanges: s.maxChanges,
    exceedsMaxChanges: s.exceedsMaxChanges,
    error: s.error,
    ...(s.problem !== undefined ? { problem: s.problem === null ? null : problem(s.problem) } : {}),
    ...(s.identity !== undefined ? { identity: s.identity === null ? null : identity(s.identity) } : {}),
    ...(s.migrationDeadlines !== undefined ? { migrationDeadlines: migrationDeadlines(s.migrationDeadlines) } : {}),
  };
}

function migrationDeadlines(m: MigrationDeadlines | null): MigrationDeadlines | null {
  return m === null ? null : { devices: m.devices, earliest: m.earliest, planned: m.planned };
}

function identity(i: RecordedIdentity): RecordedIdentity {
  return { serverUuid: i.serverUuid, serverName: i.serverName, orgName: i.orgName, orgType: i.orgType, orgId: i.orgId, checkedAt: i.checkedAt };
}

function problem(p: ServerProblem): ServerProblem {
  return { server: p.server, kind: p.kind, reason: p.reason, message: p.message, retryAt: p.retryAt };
}

function summary(s: PlanSummary): PlanSummary {
  return {
    defines: s.defines,
    assign: s.assign,
    remove: s.remove,
    drift: s.drift,
    deferred: s.deferred,
    conflicts: s.conflicts,
    errors: s.errors,
  };
}

/** The plan with every object's keys in schema order and nothing else; serial arrays are shared, not copied. */
export function planToJson(plan: Plan): Plan {
  return {
    version: plan.version,
    createdAt: plan.createdAt,
    commit: plan.commit,
    configHash: plan.configHash,
    planHash: plan.planHash,
    servers: plan.servers.map(server),
    ...(plan.skippedServers?.length ? { skippedServers: [...plan.skippedServers] } : {}),
    summary: summary(plan.summary),
    ...(plan.organizations !== undefined ? { organizations: plan.organizations.map(organizationPlanJson) } : {}),
  };
}

/**
 * Renders a plan as stable JSON (2-space indent, trailing newline) matching schemas/plan.schema.json;
 * `JSON.parse` of the result deep-equals the plan.
 */
export function renderPlanJson(plan: Plan): string {
  return `${JSON.stringify(planToJson(plan), null, 2)}\n`;
}
