/**
 * Carries out an organization's ownership plan through Business API activities (issue 15). For each target
 * server and batch of at most ABM_MAX_ACTIVITY_DEVICES serials: the intent is audited per serial (`abm-assign`,
 * outcome `pending`; `before` the ABM server the device is on, `after` the depctl MdmServer) BEFORE the POST, the activity is created, and its row is stored right after Apple's 201.
 * Nothing waits for Apple: the activities are polled by later passes (poll.ts).
 *
 * A crash between the POST and storing the row loses nothing that matters: the next pass observes the
 * devices not yet moved and plans them again, and assigning a device to the server it is on changes nothing.
 */
import { AbmHttpError } from '../abm/errors.js';
import { ABM_MAX_ACTIVITY_DEVICES } from '../abm/types.js';
import type { AuditEntry } from '../reconcile/ports.js';
import { problemFromAbmError, type ServerProblem } from '../reconcile/outcome.js';
import type { OrganizationPlan } from './plan.js';
import type { ActivityStore, OwnershipAbmClient } from './ports.js';

/** Options of {@link applyOrganizationPlan}. */
export interface OwnershipApplyOptions {
  now: () => Date;
  /** The certificate of a declared server to create (read by the CLI), or null when there is none. */
  serverCertificate?: (server: string) => Promise<{ name: string; data: string } | null>;
  /** Let an organization whose plan exceeds maxChanges proceed (`--allow-large`). */
  allowLarge: boolean;
  /** The run the audit entries belong to, when there is one. */
  runId?: number | null;
  signal?: AbortSignal;
  /** Called right before each write to Apple (server create/update, activity); throws to stop (leadership lost). */
  beforeWrite?: () => Promise<void>;
}

/** One activity created. */
export interface CreatedActivity {
  activityId: string;
  server: string;
  devices: number;
}

/** A server created or updated (API 2.1+). */
export interface ServerChangeDone {
  action: 'create' | 'update';
  server: string;
  abmServerName: string;
  id: string;
  /** After a create: where the admin puts the token downloaded from the portal (`spec.token`). */
  token?: string;
}

/** What applying one organization's plan did. */
export interface OrganizationApplyResult {
  organization: string;
  /** Servers created or updated, before any activity. */
  servers?: ServerChangeDone[];
  activities: CreatedActivity[];
  /** Devices sent in created activities. */
  devices: number;
  /** Why the organization stopped (guardrail, plan error, Apple's answer); the rest of its changes were not sent. */
  error: string | null;
  /** `guardrail` when maxChanges refused the plan, `apple` when a call failed, `plan` when the plan could not be made. */
  stoppedBy: 'guardrail' | 'apple' | 'plan' | null;
  /** The same stop, typed for the pass outcome (reconcile/outcome.ts); null when it did not stop. */
  problem: ServerProblem | null;
}

/** The message of the maxChanges guardrail (same wording as the DEP side's). */
export function maxChangesMessage(plan: OrganizationPlan): string {
  return `${plan.changeCount} changes exceed maxChanges (${plan.maxChanges ?? 0}) on organization ${plan.organization}; review the plan and run apply with --allow-large`;
}

/** Applies one organization's plan. Never throws for Apple's errors: they end up in the result. */
export async function applyOrganizationPlan(plan: OrganizationPlan, client: OwnershipAbmClient | null, store: ActivityStore, opts: OwnershipApplyOptions): Promise<OrganizationApplyResult> {
  const r: OrganizationApplyResult = { organization: plan.organization, activities: [], devices: 0, error: null, stoppedBy: null, problem: null };
  const who = { server: `organization ${plan.organization}`, organization: plan.organization };
  if (plan.error !== null || client === null) {
    r.error = plan.error ?? 'no Business API client';
    r.stoppedBy = 'plan';
    r.problem = { ...who, kind: 'terminal', reason: 'token-unavailable', message: r.error, retryAt: null };
    return r;
  }
  if (plan.changeCount === 0 && (plan.serverChanges?.length ?? 0) === 0) return r;
  if (plan.exceedsMaxChanges && !opts.allowLarge) {
    r.error = maxChangesMessage(plan);
    r.stoppedBy = 'guardrail';
    r.problem = { ...who, kind: 'guardrail', reason: 'max-changes', message: r.error, retryAt: null };
    return r;
  }
  // Servers first (API 2.1+): a create needs the server's certificate; a rename or flag is a PATCH by id.
  for (const c of plan.serverChanges ?? []) {
    const call = opts.signal ? { signal: opts.signal } : {};
    const flag = c.changes.find((x) => x.field === 'enableMdmDisownFlag')?.after;
    // Outside the try: not being allowed to write is not an answer from Apple.
    await opts.beforeWrite?.();
    try {
      if (c.action === 'create') {
        const cert = await opts.serverCertificate?.(c.server);
        if (!cert) throw new Error(`MdmServer ${c.server}: no certificate to create "${c.abmServerName}" with`);
        const created = await client.createMdmServer({ serverName: c.abmServerName, serverCertificate: cert, ...(typeof flag === 'boolean' ? { enableMdmDisownFlag: flag } : {}) }, call);
        const now = opts.now();
        // The id is kept with the activities, so a later change of abmServerName renames this server.
        await store.recordActivity({
          organization: plan.organization, activityId: `server-create:${created.id}`, type: 'CREATE_SERVER', serverId: created.id, serverName: c.server, serials: [],
          status: 'COMPLETED', subStatus: null, createdAt: now, updatedAt: now, completedAt: now, results: [],
        });
        (r.servers ??= []).push({ action: 'create', server: c.server, abmServerName: c.abmServerName, id: created.id, ...(c.token !== undefined ? { token: c.token } : {}) });
      } else if (c.id !== null) {
        const name = c.changes.find((x) => x.field === 'serverName')?.after;
        await client.updateMdmServer(c.id, { ...(typeof name === 'string' ? { serverName: name } : {}), ...(typeof flag === 'boolean' ? { enableMdmDisownFlag: flag } : {}) }, call);
        (r.servers ??= []).push({ action: 'update', server: c.server, abmServerName: c.abmServerName, id: c.id });
      }
    } catch (err) {
      r.error = err instanceof Error ? err.message : String(err);
      r.stoppedBy = 'apple';
      r.problem = problemFromAbmError(plan.organization, err, opts.now());
      return r;
    }
  }
  // One activity per target server and batch: a move's source does not matter to Apple's ASSIGN_DEVICES.
  const targets = new Map<string, { server: string; abmServerName: string; serials: { serial: string; from: string | null }[] }>();
  for (const g of [...plan.moves, ...plan.assigns]) {
    let t = targets.get(g.to.id);
    if (!t) {
      t = { server: g.to.server, abmServerName: g.to.abmServerName, serials: [] };
      targets.set(g.to.id, t);
    }
    for (const serial of g.serials) t.serials.push({ serial, from: g.from?.abmServerName ?? null });
  }
  const runId = opts.runId ?? null;
  // One activity per server and batch of at most ABM_MAX_ACTIVITY_DEVICES: assignments to their target, then
  // unassignments from the server they are on (unclaimedDevices: unassign).
  const work: { type: 'ASSIGN_DEVICES' | 'UNASSIGN_DEVICES'; serverId: string; server: string; serials: { serial: string; from: string | null }[] }[] = [];
  for (const [serverId, t] of targets) work.push({ type: 'ASSIGN_DEVICES', serverId, server: t.server, serials: t.serials });
  for (const u of plan.unassigns ?? []) work.push({ type: 'UNASSIGN_DEVICES', serverId: u.from.id, server: u.from.server, serials: u.serials.map((serial) => ({ serial, from: u.from.server })) });
  // Only Apple's answer is caught (the organization stops); a store failure throws and stops the pass.
  for (const w of work) {
    const action = w.type === 'ASSIGN_DEVICES' ? 'abm-assign' : 'abm-unassign';
    const after = w.type === 'ASSIGN_DEVICES' ? w.server : null;
    for (let i = 0; i < w.serials.length; i += ABM_MAX_ACTIVITY_DEVICES) {
      const batch = w.serials.slice(i, i + ABM_MAX_ACTIVITY_DEVICES);
      const at = opts.now();
      const intent: AuditEntry[] = batch.map((b) => ({ runId, server: w.server, serial: b.serial, action, before: b.from, after, outcome: 'pending', appleStatus: null, at }));
      await store.appendAudit(intent);
      const serials = batch.map((b) => b.serial);
      let a;
      await opts.beforeWrite?.();
      try {
        a = await client.createActivity({ type: w.type, serverId: w.serverId, serials }, opts.signal ? { signal: opts.signal } : {});
      } catch (err) {
        r.error = err instanceof Error ? err.message : String(err);
        r.stoppedBy = 'apple';
        r.problem = problemFromAbmError(plan.organization, err, opts.now());
        // The intent gets its outcome: `error` (after a timeout Apple may still have created the activity; the
        // next observation tells), with Apple's HTTP status when it answered.
        const appleStatus = err instanceof AbmHttpError ? `HTTP ${err.status}` : null;
        const when = opts.now();
        await store.appendAudit(batch.map((b) => ({ runId, server: w.server, serial: b.serial, action, before: b.from, after, outcome: 'error', appleStatus, at: when })));
        return r;
      }
      const now = opts.now();
      const created = a.createdDateTime !== undefined && !Number.isNaN(Date.parse(a.createdDateTime)) ? new Date(a.createdDateTime) : now;
      await store.recordActivity({
        organization: plan.organization, activityId: a.id, type: w.type, serverId: w.serverId, serverName: w.server, serials,
        status: a.status, subStatus: a.subStatus, createdAt: created, updatedAt: now, completedAt: null, results: null,
      });
      r.activities.push({ activityId: a.id, server: w.server, devices: serials.length });
      r.devices += serials.length;
    }
  }
  return r;
}
