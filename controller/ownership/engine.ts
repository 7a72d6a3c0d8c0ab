/**
 * The ownership engine's part of a pass (issue 15), per Organization in config order: poll the open
 * activities once (apply and run; a plan only reads), observe Apple, plan; then, when applying, issue the
 * activities. An organization that cannot be reached or read gets a plan with `error` set; the others go on.
 */
import { buildOwnershipIndex } from '../config/ownership.js';
import type { DepConfig, MdmServer, Organization } from '../config/types.js';
import { applyOrganizationPlan, type OrganizationApplyResult } from './apply.js';
import { observeOrganization } from './observe.js';
import { erroredOrganizationPlan, knownServerIds, planOrganization, type OrganizationPlan } from './plan.js';
import type { ObservedServer } from './observe.js';
import { pollOrganization, type PollResult } from './poll.js';
import type { ActivityStore, OwnershipAbmClient } from './ports.js';
import { problemFromAbmError, type ProblemKind, type ProblemReason, type ServerProblem } from '../reconcile/outcome.js';

/** An Organization with its Business API client, or why there is none (credentials unreadable, untrusted). */
export interface OrganizationHandle {
  organization: Organization;
  client: OwnershipAbmClient | null;
  /** Why there is no client; the plan shows it and nothing is sent. */
  error: string | null;
  /** How that error is classified in the pass outcome; default terminal `token-unavailable`. */
  cause?: { kind: ProblemKind; reason: ProblemReason };
  /**
   * The public certificate of a declared MdmServer (by metadata.name), to create its ABM server with (API 2.1+):
   * null when none is configured, or why the one found cannot be used. Asked only for a server Apple lacks.
   */
  serverCertificate?: (server: MdmServer) => Promise<CertificateLookup>;
}

/** What {@link OrganizationHandle.serverCertificate} found. */
export type CertificateLookup = { ok: true; certificate: { name: string; data: string } } | { ok: false; reason: string } | null;

/** Options of {@link planOwnership}. */
export interface OwnershipPlanOptions {
  now: () => Date;
  /** Poll open activities first (apply, run). A plan without it shows the stored state of open activities. */
  poll: boolean;
  runId?: number | null;
  signal?: AbortSignal;
}

/** The ownership part of a pass. */
export interface OwnershipReport {
  plans: OrganizationPlan[];
  polls: PollResult[];
  /** The typed problem of each organization whose plan has an `error` (reconcile/outcome.ts). */
  problems: Map<string, ServerProblem>;
  /** The certificates found for servers to create, per organization and MdmServer name. */
  certificates: Map<string, Map<string, { name: string; data: string }>>;
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Polls (optionally), observes and plans every organization. Only a store failure throws. */
export async function planOwnership(config: Pick<DepConfig, 'servers' | 'organizations'>, handles: readonly OrganizationHandle[], store: ActivityStore, opts: OwnershipPlanOptions): Promise<OwnershipReport> {
  const index = buildOwnershipIndex(config);
  const report: OwnershipReport = { plans: [], polls: [], problems: new Map(), certificates: new Map() };
  const signal = opts.signal ? { signal: opts.signal } : {};
  for (const h of handles) {
    const org = h.organization;
    if (h.client === null) {
      const error = h.error ?? 'no Business API client';
      report.plans.push(erroredOrganizationPlan(org, error));
      const cause = h.cause ?? { kind: 'terminal', reason: 'token-unavailable' };
      report.problems.set(org.name, { server: `organization ${org.name}`, organization: org.name, ...cause, message: error, retryAt: null });
      continue;
    }
    // Polling catches Apple's errors per activity itself; what escapes it is the store's, which stops the pass.
    let poll: PollResult | undefined;
    if (opts.poll) {
      poll = await pollOrganization(org.name, h.client, store, { now: opts.now, runId: opts.runId ?? null, ...signal });
      report.polls.push(poll);
    }
    let observation;
    try {
      observation = await observeOrganization(h.client, signal);
    } catch (err) {
      const error = `could not read organization ${org.name} from the Business API: ${message(err)}`;
      report.plans.push(erroredOrganizationPlan(org, error));
      report.problems.set(org.name, { ...problemFromAbmError(org.name, err, opts.now()), message: error });
      continue;
    }
    const open = await store.listActivities(org.name, { open: true });
    const closed = (await store.listActivities(org.name, { open: false })).filter((a) => a.completedAt !== null);
    const known = knownServerIds([...closed, ...open]);
    const live = observation.servers.filter((s) => s.status !== 'DELETED');
    const certificates = new Map<string, { ok: true } | { ok: false; reason: string }>();
    for (const server of index.organizations.get(org.name)?.servers ?? []) {
      const own = server.ownership;
      if (!own) continue;
      const byName = live.filter((s) => s.serverName === own.abmServerName);
      const knownId = known.get(server.name);
      if (byName.length === 1 && knownId !== byName[0]?.id && opts.poll) {
        // Remember the id of a declared server depctl saw (apply and run only), so a later change of
        // abmServerName renames it instead of creating another.
        const id = (byName[0] as ObservedServer).id;
        const at = opts.now();
        await store.recordActivity({ organization: org.name, activityId: `server-seen:${id}:${server.name}`, type: 'SERVER_SEEN', serverId: id, serverName: server.name, serials: [], status: 'COMPLETED', subStatus: null, createdAt: at, updatedAt: at, completedAt: at, results: [] });
      }
      if (byName.length > 0 || (knownId !== undefined && live.some((s) => s.id === knownId)) || !h.serverCertificate) continue;
      const found = await h.serverCertificate(server);
      if (found === null) continue;
      if (found.ok) {
        certificates.set(server.name, { ok: true });
        const perOrg = report.certificates.get(org.name) ?? new Map<string, { name: string; data: string }>();
        perOrg.set(server.name, found.certificate);
        report.certificates.set(org.name, perOrg);
      } else {
        certificates.set(server.name, found);
      }
    }
    const plan = planOrganization({ organization: org, index, observation, openActivities: open, closedActivities: closed, certificates });
    // An activity that could not be read stays open (asked again next pass); say so rather than hide it.
    for (const e of poll?.errors ?? []) plan.problems.push({ severity: 'warning', code: 'activity-poll-failed', message: `could not read ${e}; asked again next pass` });
    report.plans.push(plan);
  }
  return report;
}

/** Issues the activities of every organization's plan (after the person or the loop approved the plan). */
export async function applyOwnership(
  report: OwnershipReport,
  handles: readonly OrganizationHandle[],
  store: ActivityStore,
  opts: { now: () => Date; allowLarge: boolean; runId?: number | null; signal?: AbortSignal; beforeWrite?: () => Promise<void> },
): Promise<OrganizationApplyResult[]> {
  const out: OrganizationApplyResult[] = [];
  for (const plan of report.plans) {
    const h = handles.find((x) => x.organization.name === plan.organization);
    const certs = report.certificates.get(plan.organization);
    const r = await applyOrganizationPlan(plan, h?.client ?? null, store, { ...opts, serverCertificate: (server) => Promise.resolve(certs?.get(server) ?? null) });
    // A plan that could not be made keeps the problem planOwnership classified.
    if (r.stoppedBy === 'plan') r.problem = report.problems.get(plan.organization) ?? r.problem;
    out.push(r);
  }
  return out;
}

/** Changes of every organization: devices to move or assign, servers to create or update. */
export function ownershipChanges(report: OwnershipReport | null | undefined): number {
  return report?.plans.reduce((n, p) => n + p.changeCount + (p.serverChanges?.length ?? 0), 0) ?? 0;
}
