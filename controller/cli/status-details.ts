import type { Store } from '../store/index.js';
import type { Plan } from '../reconcile/plan.js';
import type { ApplyResult } from '../reconcile/apply.js';
import type { RunSummary, ServerStatus } from '../reconcile/status.js';

/**
 * Builds the per-server part of the status from the store (devices per profile, token, last sync) and the
 * latest plan (drift, deferred, errors). Counting uses the store's indexed filters, not a pass over devices.
 */
export async function serverDetails(servers: readonly { name: string }[], store: Store, now: Date, plan?: Plan, apply?: ApplyResult): Promise<ServerStatus[]> {
  const out: ServerStatus[] = [];
  for (const s of servers) {
    const [record, cursor, profiles, total] = await Promise.all([store.getServer(s.name), store.getCursor(s.name), store.listProfiles(s.name, { state: 'defined' }), store.countDevices(s.name)]);
    const byProfile: Record<string, number> = {};
    let counted = 0;
    // The newest content of each profile name carries its devices; older contents are counted under the same name.
    for (const p of profiles) {
      if (!p.uuid) continue;
      const n = await store.countDevices(s.name, { profileUuid: p.uuid });
      if (n === 0) continue;
      byProfile[p.name] = (byProfile[p.name] ?? 0) + n;
      counted += n;
    }
    const none = await store.countDevices(s.name, { profileUuid: null });
    if (none > 0) byProfile['(none)'] = none;
    if (total - counted - none > 0) byProfile['(other)'] = total - counted - none;
    const sp = plan?.servers.find((x) => x.server === s.name);
    const ar = apply?.servers.find((x) => x.server === s.name);
    const expires = record?.tokenExpiresAt ?? null;
    out.push({
      name: s.name,
      tokenExpiresAt: expires?.toISOString() ?? null,
      tokenDaysLeft: expires ? Math.floor((expires.getTime() - now.getTime()) / 86_400_000) : null,
      devices: total,
      devicesByProfile: byProfile,
      devicesByResult: ar ? { success: ar.succeeded, failed: ar.failed, throttled: ar.throttled, 'not-accessible': ar.notAccessible } : {},
      drift: (sp?.drift ?? []).map((d) => ({ kind: d.kind, message: d.message, count: d.serials.length })),
      deferred: (sp?.deferred ?? []).reduce((n, g) => n + g.serials.length, 0),
      lastSyncAt: (cursor?.syncedAt ?? cursor?.fetchedAt)?.toISOString() ?? null,
      error: ar?.error ?? sp?.error ?? null,
    });
  }
  return out;
}

/** The latest runs, newest first, for the status page. */
export async function recentRuns(store: Store, limit = 10): Promise<RunSummary[]> {
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
    return { id: r.id, startedAt: r.startedAt.toISOString(), finishedAt: r.finishedAt?.toISOString() ?? null, commit: r.commit, trigger: r.trigger, result: r.result, counts };
  });
}
