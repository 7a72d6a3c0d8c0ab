/**
 * The ownership plan of one organization (issue 15), pure: which devices move between MDM servers, which are
 * assigned to one for the first time, which activities are still running, which devices no server claims,
 * what drifted, and what stops the plan (a declared server Apple does not have, a serial Apple does not
 * list). Moves are grouped by (from, to) for the reader; apply issues one activity per target server and
 * batch of ≤1000 devices.
 */
import { desiredOwner, type OrganizationOwnership, type OwnershipIndex } from '../config/ownership.js';
import type { SourceLoc } from '../config/problems.js';
import type { Organization } from '../config/types.js';
import type { ObservedServer, OrganizationObservation } from './observe.js';
import type { ActivityRecord } from './ports.js';

/** How many serials a plan lists per group in its sample fields (the counts are always exact). */
export const PLAN_SAMPLE_SERIALS = 20;

/** Devices going from one server (null: none) to a declared one. */
export interface OwnershipMove {
  /** The ABM server the devices are on now, or null when they are assigned to none. */
  from: { id: string; abmServerName: string; server?: string } | null;
  /** The declared server (depctl MdmServer name) and its ABM counterpart. */
  to: { server: string; abmServerName: string; id: string };
  serials: string[];
}

/** Devices no server claims, to unassign from a declared server (unclaimedDevices: unassign). */
export interface OwnershipUnassign {
  /** The declared server (depctl MdmServer name) they are on, and its ABM counterpart. */
  from: { server: string; abmServerName: string; id: string };
  serials: string[];
}

/** An activity depctl issued that Apple has not finished. */
export interface InProgressActivity {
  activityId: string;
  server: string;
  devices: number;
  status: string;
  subStatus: string | null;
  createdAt: string;
}

/** A device depctl moved (Apple reported success) that is now on another server. */
export interface OwnershipDrift {
  serial: string;
  /** The declared server (depctl name) depctl moved it to. */
  expected: string;
  /** The ABM server name it is on now, or null when unassigned. */
  actual: string | null;
}

/**
 * A change to an MDM server itself (API 2.1+): `create` a declared server Apple does not have (depctl found
 * its certificate), or `update` one to the declared `serverName` (a rename, by the id depctl knows) or
 * `enableMdmDisownFlag`. Servers are never deleted.
 */
export interface OwnershipServerChange {
  action: 'create' | 'update';
  /** The depctl MdmServer name. */
  server: string;
  /** The declared name in Apple Business/School Manager. */
  abmServerName: string;
  /** The ABM server id (update), or null (create). */
  id: string | null;
  changes: { field: 'serverName' | 'enableMdmDisownFlag'; before: string | boolean | null; after: string | boolean }[];
  /** Where the admin puts the server token downloaded after a create (`spec.token`, e.g. `file lyon/token.p7m`). */
  token?: string;
}

/** Something in the way of the plan. Errors stop the devices they concern; warnings only inform. */
export interface OwnershipProblem {
  severity: 'error' | 'warning';
  code: 'abm-server-missing' | 'abm-server-ambiguous' | 'serial-not-in-organization' | 'activity-poll-failed';
  message: string;
  source?: SourceLoc;
}

/** The ownership plan of one organization. */
export interface OrganizationPlan {
  organization: string;
  scope: Organization['scope'];
  /** Moves from another server, grouped by (from, to). */
  moves: OwnershipMove[];
  /** First assignments (devices on no server), grouped by target. */
  assigns: OwnershipMove[];
  /** Unclaimed devices to unassign from a declared server (unclaimedDevices: unassign); absent in older plans. */
  unassigns?: OwnershipUnassign[];
  /** Devices moved, assigned or unassigned. */
  changeCount: number;
  maxChanges: number | null;
  exceedsMaxChanges: boolean;
  inProgress: InProgressActivity[];
  /** Devices no server claims, when the Organization asks to report or unassign them (unclaimedDevices). */
  unclaimed: { count: number; sample: string[] } | null;
  drift: OwnershipDrift[];
  driftPolicy: Organization['driftPolicy'];
  problems: OwnershipProblem[];
  /** Why the organization could not be planned (credentials, Apple unreachable); nothing else is set then. */
  error: string | null;
  /** Devices in the organization, as Apple listed them. */
  devices: number;
  /** Servers to create or update (API 2.1+); absent in plans of earlier versions. */
  serverChanges?: OwnershipServerChange[];
  /** MDM servers of the organization that no MdmServer declares (reported, never deleted); absent in older plans. */
  undeclaredServers?: { id: string; serverName: string }[];
}

/** The inputs of {@link planOrganization}. */
export interface OrganizationPlanInput {
  organization: Organization;
  index: OwnershipIndex;
  observation: OrganizationObservation;
  /** Open activities of this organization (from the store). */
  openActivities: readonly ActivityRecord[];
  /** Closed activities of this organization, oldest first (for drift: where depctl last put each serial). */
  closedActivities: readonly ActivityRecord[];
  /**
   * Declared servers whose certificate depctl found (`depctl keys generate` next to `privateKey`): a missing one
   * is created. Otherwise, the reason it cannot be (shown in the missing-server error).
   */
  certificates?: ReadonlyMap<string, { ok: true } | { ok: false; reason: string }>;
}

/** The id of each declared server that depctl created or saw (its stored rows: activities, creates), latest wins. */
export function knownServerIds(rows: readonly ActivityRecord[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const r of rows) out.set(r.serverName, r.serverId);
  return out;
}

/** The text of a SecretRef for people: `file lyon/token.p7m` or `env LYON_TOKEN`. */
function refText(ref: { file: string } | { env: string }): string {
  return 'file' in ref ? `file ${ref.file}` : `env ${ref.env}`;
}

const MANAGER = { business: 'Apple Business Manager', school: 'Apple School Manager' } as const;

/** An empty plan carrying an error (the organization could not be observed). */
export function erroredOrganizationPlan(org: Organization, error: string): OrganizationPlan {
  return {
    organization: org.name, scope: org.scope, moves: [], assigns: [], changeCount: 0, maxChanges: org.maxChanges ?? null, exceedsMaxChanges: false,
    inProgress: [], unclaimed: null, drift: [], driftPolicy: org.driftPolicy, problems: [], error, devices: 0, serverChanges: [], undeclaredServers: [],
  };
}

/**
 * Finds each declared server's ABM server by name, or by the id depctl knows (a rename). A missing one is
 * created when its certificate was found, else an error; an ambiguous name is an error. Plans the updates of
 * `serverName` and `enableMdmDisownFlag`, and lists the servers no MdmServer declares.
 */
function resolveServers(input: OrganizationPlanInput, rules: OrganizationOwnership, plan: OrganizationPlan, known: ReadonlyMap<string, string>): Map<string, ObservedServer> {
  const { organization: org, observation: obs } = input;
  const problems = plan.problems;
  const live = obs.servers.filter((s) => s.status !== 'DELETED');
  const byName = new Map<string, ObservedServer[]>();
  for (const s of live) {
    const list = byName.get(s.serverName) ?? [];
    list.push(s);
    byName.set(s.serverName, list);
  }
  const byId = new Map(live.map((s) => [s.id, s]));
  const out = new Map<string, ObservedServer>();
  const changes: OwnershipServerChange[] = [];
  for (const server of rules.servers) {
    const own = server.ownership;
    if (!own) continue;
    const found = byName.get(own.abmServerName) ?? [];
    if (found.length > 1) {
      problems.push({
        severity: 'error', code: 'abm-server-ambiguous', source: own.source,
        message: `MdmServer ${server.name}: organization ${org.name} has ${found.length} MDM servers named "${own.abmServerName}" (ids ${found.map((s) => s.id).join(', ')}); rename all but one in ${MANAGER[org.scope]}`,
      });
      continue;
    }
    // By name; else by the id depctl created or saw it under (abmServerName changed: a rename, never a new server).
    const knownId = known.get(server.name);
    const target = found[0] ?? (knownId !== undefined ? byId.get(knownId) : undefined);
    if (target) {
      out.set(server.name, target);
      const fields: OwnershipServerChange['changes'] = [];
      if (target.serverName !== own.abmServerName) fields.push({ field: 'serverName', before: target.serverName, after: own.abmServerName });
      if (own.enableMdmDisownFlag !== undefined && target.enableMdmDisownFlag !== undefined && target.enableMdmDisownFlag !== own.enableMdmDisownFlag) {
        fields.push({ field: 'enableMdmDisownFlag', before: target.enableMdmDisownFlag, after: own.enableMdmDisownFlag });
      }
      if (fields.length > 0) changes.push({ action: 'update', server: server.name, abmServerName: own.abmServerName, id: target.id, changes: fields });
      continue;
    }
    const cert = input.certificates?.get(server.name);
    if (cert?.ok) {
      const fields: OwnershipServerChange['changes'] = [{ field: 'serverName', before: null, after: own.abmServerName }];
      if (own.enableMdmDisownFlag !== undefined) fields.push({ field: 'enableMdmDisownFlag', before: null, after: own.enableMdmDisownFlag });
      changes.push({ action: 'create', server: server.name, abmServerName: own.abmServerName, id: null, changes: fields, token: refText(server.token) });
      continue;
    }
    const why = cert && !cert.ok ? `; depctl cannot create it: ${cert.reason}` : '';
    problems.push({
      severity: 'error', code: 'abm-server-missing', source: own.source,
      message: `MdmServer ${server.name}: organization ${org.name} has no MDM server named "${own.abmServerName}"; create it in ${MANAGER[org.scope]}, or let depctl create it from the certificate of \`depctl keys generate\` next to its privateKey${why} (its devices are not moved until then)`,
    });
  }
  plan.serverChanges = changes;
  const declaredIds = new Set([...out.values()].map((s) => s.id));
  plan.undeclaredServers = live
    .filter((s) => !declaredIds.has(s.id) && (s.serverType === undefined || s.serverType === 'MDM'))
    .map((s) => ({ id: s.id, serverName: s.serverName }))
    .sort((a, b) => a.serverName.localeCompare(b.serverName) || a.id.localeCompare(b.id));
  return out;
}

/** Plans one organization (pure). */
export function planOrganization(input: OrganizationPlanInput): OrganizationPlan {
  const { organization: org, observation: obs } = input;
  const plan = erroredOrganizationPlan(org, '');
  plan.error = null;
  plan.devices = obs.devices.length;
  const rules = input.index.organizations.get(org.name);
  if (!rules) return plan;
  const serverById = new Map(obs.servers.map((s) => [s.id, s]));
  const known = knownServerIds([...input.closedActivities, ...input.openActivities]);
  const declared = resolveServers(input, rules, plan, known);
  // The depctl name of each declared ABM server, so the plan can say "paris → lyon".
  const nameOfId = new Map([...declared].map(([name, s]) => [s.id, name]));

  const busy = new Set<string>();
  for (const a of input.openActivities) {
    for (const s of a.serials) busy.add(s);
    plan.inProgress.push({ activityId: a.activityId, server: a.serverName, devices: a.serials.length, status: a.status, subStatus: a.subStatus, createdAt: a.createdAt.toISOString() });
  }
  // Where depctl last put each serial with Apple's success (later activities win).
  const movedTo = new Map<string, string>();
  for (const a of input.closedActivities) {
    for (const r of a.results ?? []) {
      if (r.status.toUpperCase() !== 'SUCCESS') continue;
      // An unassign puts the device on no server: nothing depctl placed it on is to be kept any more.
      if (a.type === 'UNASSIGN_DEVICES') movedTo.delete(r.serial);
      else movedTo.set(r.serial, a.serverName);
    }
  }

  const groups = new Map<string, OwnershipMove>();
  const unassigns = new Map<string, OwnershipUnassign>();
  const inOrg = new Set<string>();
  let unclaimed = 0;
  const unclaimedSample: string[] = [];
  for (const d of obs.devices) {
    inOrg.add(d.serialNumber);
    const owner = desiredOwner(input.index, org.name, d);
    if (!owner) {
      unclaimed++;
      if (unclaimedSample.length < PLAN_SAMPLE_SERIALS) unclaimedSample.push(d.serialNumber);
      // Unassigned only from a server this organization's config declares: another MDM's devices are not depctl's.
      const current = obs.assignedServer.get(d.serialNumber);
      const fromName = current === undefined ? undefined : nameOfId.get(current);
      if (org.unclaimedDevices === 'unassign' && current !== undefined && fromName !== undefined && !busy.has(d.serialNumber)) {
        let u = unassigns.get(current);
        if (!u) unassigns.set(current, (u = { from: { server: fromName, abmServerName: serverById.get(current)?.serverName ?? current, id: current }, serials: [] }));
        u.serials.push(d.serialNumber);
      }
      continue;
    }
    const target = declared.get(owner.server);
    if (!target) continue;
    const current = obs.assignedServer.get(d.serialNumber) ?? null;
    if (current === target.id || busy.has(d.serialNumber)) continue;
    if (movedTo.get(d.serialNumber) === owner.server) {
      plan.drift.push({ serial: d.serialNumber, expected: owner.server, actual: current === null ? null : (serverById.get(current)?.serverName ?? current) });
      if (org.driftPolicy === 'report') continue;
    }
    const key = `${current ?? ''}\u0000${target.id}`;
    let g = groups.get(key);
    if (!g) {
      const fromName = current === null ? undefined : nameOfId.get(current);
      const from = current === null ? null : { id: current, abmServerName: serverById.get(current)?.serverName ?? current, ...(fromName !== undefined ? { server: fromName } : {}) };
      g = { from, to: { server: owner.server, abmServerName: target.serverName, id: target.id }, serials: [] };
      groups.set(key, g);
    }
    g.serials.push(d.serialNumber);
  }
  for (const g of groups.values()) {
    g.serials.sort();
    (g.from === null ? plan.assigns : plan.moves).push(g);
    plan.changeCount += g.serials.length;
  }
  if (org.unclaimedDevices === 'unassign') {
    plan.unassigns = [...unassigns.values()].sort((a, b) => a.from.server.localeCompare(b.from.server));
    for (const u of plan.unassigns) {
      u.serials.sort();
      plan.changeCount += u.serials.length;
    }
  }
  const order = (a: OwnershipMove, b: OwnershipMove): number => (a.from?.abmServerName ?? '').localeCompare(b.from?.abmServerName ?? '') || a.to.server.localeCompare(b.to.server);
  plan.moves.sort(order);
  plan.assigns.sort(order);
  plan.drift.sort((a, b) => (a.serial < b.serial ? -1 : 1));
  plan.exceedsMaxChanges = plan.maxChanges !== null && plan.changeCount > plan.maxChanges;
  if (org.unclaimedDevices !== 'ignore') plan.unclaimed = { count: unclaimed, sample: unclaimedSample };

  for (const server of rules.servers) {
    const own = server.ownership;
    if (!own) continue;
    const missing = own.serials.filter((s) => !inOrg.has(s));
    if (missing.length === 0) continue;
    const shown = missing.slice(0, PLAN_SAMPLE_SERIALS).join(', ');
    const more = missing.length > PLAN_SAMPLE_SERIALS ? ` and ${missing.length - PLAN_SAMPLE_SERIALS} more` : '';
    plan.problems.push({
      severity: 'warning', code: 'serial-not-in-organization', source: own.source,
      message: `MdmServer ${server.name}: ${missing.length} declared serial${missing.length === 1 ? ' is' : 's are'} not in organization ${org.name} (${shown}${more}); Apple lists no such device (a typo, or a device not yet added or released)`,
    });
  }
  return plan;
}

/** Whether a plan has something to apply: devices to move, or servers to create or update. */
export function ownershipHasChanges(plan: OrganizationPlan): boolean {
  return plan.changeCount > 0 || (plan.serverChanges?.length ?? 0) > 0;
}
