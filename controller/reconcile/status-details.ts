/**
 * The per-server part of the controller status, built from the store (devices per profile, results, retry
 * times, token, Apple server identity, last sync) and from the latest pass (drift found, where each server stood). Results and
 * deferred counts come from the store, so they hold across no-op passes and on follower replicas.
 */
import { identityOfRecord } from './identity.js';
import type { OrganizationOutcome, ServerOutcome } from './outcome.js';
import type { DriftItem, Plan } from './plan.js';
import type { StatusStore } from './ports.js';
import type { DriftSummary, OrganizationStatus, RunSummary, ServerStatus } from './status.js';
import type { RenewalStatus } from '../tokens/rotation.js';

/** What the last pass knew of a server (absent before the first pass and on followers). */
export interface PassView {
  plan: Plan;
  servers: readonly ServerOutcome[];
}

/**
 * Builds the status of each server. Counting uses the store's grouped counts, not a pass over devices; a
 * count the store cannot give makes that figure null (unknown) rather than failing the whole status.
 */
export async function serverDetails(
  servers: readonly { name: string }[],
  store: StatusStore,
  now: Date,
  pass?: PassView,
  extras?: { renewal?: (server: string) => RenewalStatus | null },
): Promise<ServerStatus[]> {
  const out: ServerStatus[] = [];
  for (const s of servers) {
    const [record, cursor, profiles, byUuid, results, migration] = await Promise.all([
      store.getServer(s.name),
      store.getCursor(s.name),
      store.listProfiles(s.name, { state: 'defined' }),
      store.countDevicesByProfileUuid(s.name),
      store.countResults(s.name, now).catch(() => null),
      store.countMigrationDeadlines(s.name).catch(() => null),
    ]);
    const nameOf = new Map(profiles.filter((p) => p.uuid).map((p) => [p.uuid as string, p.name] as const));
    const byProfile: Record<string, number> = {};
    let total = 0;
    for (const [uuid, n] of byUuid) {
      total += n;
      // Older contents of a profile are counted under the same name; UUIDs depctl did not define are (other).
      const key = uuid === null ? '(none)' : (nameOf.get(uuid) ?? '(other)');
      byProfile[key] = (byProfile[key] ?? 0) + n;
    }
    const sp = pass?.plan.servers.find((x) => x.server === s.name);
    const so = pass?.servers.find((x) => x.server === s.name);
    const expires = record?.tokenExpiresAt ?? null;
    out.push({
      name: s.name,
      tokenExpiresAt: expires?.toISOString() ?? null,
      tokenDaysLeft: expires ? Math.floor((expires.getTime() - now.getTime()) / 86_400_000) : null,
      devices: total,
      devicesByProfile: byProfile,
      devicesByResult: results?.byResult ?? null,
      drift: (sp?.drift ?? []).map(driftSummary),
      deferred: results?.deferred ?? 0,
      retries: sp ? sp.deferred.map((g) => ({ until: g.until, lastStatus: g.lastStatus, attempts: g.attempts ?? 0, count: g.serials.length })) : null,
      migrationDeadlines: migration ? { devices: migration.devices, earliest: migration.earliest?.toISOString() ?? null } : null,
      lastSyncAt: (cursor?.syncedAt ?? cursor?.fetchedAt)?.toISOString() ?? null,
      state: so?.state ?? null,
      problem: so?.problem ?? null,
      account: identityOfRecord(record),
      ...(extras?.renewal ? { renewal: extras.renewal(s.name) } : {}),
    });
  }
  return out;
}

/** A drift finding without its serials. */
export function driftSummary(d: DriftItem): DriftSummary {
  const current = d.current ? (d.current.profile ?? d.current.name ?? d.current.uuid) : null;
  return { kind: d.kind, message: d.message, count: d.serials.length, current, desired: d.desired ?? null, since: d.since ?? null };
}

/** The latest runs, newest first, for the status page. */
export async function recentRuns(store: StatusStore, limit = 10): Promise<RunSummary[]> {
  const runs = await store.listRuns({ limit });
  return runs.map((r) => {
    const counts: Record<string, number> = {};
    const servers = (r.summary as { servers?: { succeeded?: number; failed?: number; throttled?: number; defined?: unknown[] }[] } | null)?.servers ?? [];
    for (const s of servers) {
      counts['assigned'] = (counts['assigned'] ?? 0) + (s.succeeded ?? 0);
      counts['failed'] = (counts['failed'] ?? 0) + (s.failed ?? 0);
      counts['throttled'] = (counts['throttled'] ?? 0) + (s.throttled ?? 0);
      counts['defined'] = (counts['defined'] ?? 0) + (s.defined?.length ?? 0);
    }
    // Device ownership (issue 15): activities issued and the devices in them, when the run issued any.
    const orgs = (r.summary as { organizations?: { activities?: number; devices?: number }[] } | null)?.organizations ?? [];
    for (const o of orgs) {
      if (!o.activities) continue;
      counts['activities'] = (counts['activities'] ?? 0) + o.activities;
      counts['devices moving'] = (counts['devices moving'] ?? 0) + (o.devices ?? 0);
    }
    return { id: r.id, startedAt: r.startedAt.toISOString(), finishedAt: r.finishedAt?.toISOString() ?? null, commit: r.commit, trigger: r.trigger, result: r.result, counts };
  });
}

/**
 * The ownership part of the status (issue 15) from the last pass: its plan per Organization and their
 * outcomes. An organization that could not be observed is `unknown` with null counts and its error.
 */
export function organizationStatuses(plan: Plan, outcomes: readonly OrganizationOutcome[]): OrganizationStatus[] {
  return (plan.organizations ?? []).map((op) => {
    const o = outcomes.find((x) => x.organization === op.organization);
    const planErrors = op.problems.filter((p) => p.severity === 'error').map((p) => p.message);
    const lastError = o?.problem?.message ?? op.error ?? (planErrors.length > 0 ? planErrors.join('; ') : null);
    const observed = op.error === null;
    return {
      name: op.organization,
      scope: op.scope,
      state: observed && o ? o.state : 'unknown',
      openActivities: observed && o ? o.openActivities : null,
      movesInProgress: observed && o ? o.movesInProgress : null,
      pendingMoves: observed && o ? o.pendingMoves : null,
      unclaimed: observed ? (op.unclaimed?.count ?? null) : null,
      devices: observed ? op.devices : null,
      failedActivities: (o?.failedActivities ?? []).map((a) => ({ activityId: a.activityId, status: a.status, notMoved: a.notMoved })),
      lastError,
      problem: o?.problem ?? null,
    };
  });
}
