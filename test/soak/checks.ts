/**
 * The soak's checks (soak.ts), on plain data so that each can be shown to catch what it is for
 * (test/unit/soak/checks.test.ts): the simulator's write log against the audit log, contents defined once,
 * assignments some revision wanted, and notifications delivered once per key.
 */
import type { SimWrite } from '../../controller/sim/index.js';
import type { AuditRecord, RunRecord } from '../../controller/store/index.js';

/** What the checks need to know of a profile the simulator holds. */
export interface ProfileFacts {
  /** `profile_name|department`: how the soak's revisions name what they want. */
  key: string;
  /** depctl's name of the profile (the audit's `(new NAME)` intents). */
  depctlName: string;
  /** The profile's content (everything but its UUID and devices), canonical JSON. */
  content: string;
}

/** A delivery the webhook receiver took. */
export interface Delivery {
  id: string;
  kind: string;
  server: string | null;
  details: Record<string, unknown>;
}

/** What one check found: problems (violations) and figures. */
export interface CheckResult {
  violations: string[];
}

function bump(m: Map<string, number>, k: string, by = 1): void {
  m.set(k, (m.get(k) ?? 0) + by);
}

function firstFew(keys: Iterable<string>, n = 5): string {
  return [...keys].slice(0, n).join(', ');
}

/**
 * The write log and the audit log agree call for call: every define has a `define` or `recover-define` row;
 * every serial write Apple carried out had its intent (`pending`) audited before the call; every audited
 * outcome is one Apple gave. Outcomes Apple gave that the audit lacks are answers a kill lost (counted).
 */
export function checkAudit(writes: readonly SimWrite[], audit: readonly AuditRecord[], profileOf: (uuid: string) => ProfileFacts | undefined): CheckResult & { answersLost: number } {
  const violations: string[] = [];
  const simIntents = new Map<string, number>();
  const simOutcomes = new Map<string, number>();
  const auditIntents = new Map<string, number>();
  const auditOutcomes = new Map<string, number>();
  const definesAudited = new Set(audit.filter((a) => a.action === 'define' || a.action === 'recover-define').map((a) => a.after));
  for (const w of writes) {
    if (w.op === 'define') {
      const uuid = w.profileUuid ?? '';
      if (!definesAudited.has(uuid)) violations.push(`Apple defined ${profileOf(uuid)?.key ?? '?'} as ${uuid} (write ${w.seq}) and the audit log has no define or recover-define row for it`);
      const name = profileOf(uuid)?.depctlName ?? '?';
      for (const [s, status] of Object.entries(w.devices)) {
        bump(simIntents, `assign|${s}|(new ${name})`);
        bump(simOutcomes, `assign|${s}|${uuid}|${status}`);
      }
    } else {
      const after = w.op === 'assign' ? w.profileUuid : null;
      for (const [s, status] of Object.entries(w.devices)) {
        bump(simIntents, `${w.op}|${s}|${after}`);
        bump(simOutcomes, `${w.op}|${s}|${after}|${status}`);
      }
    }
  }
  for (const a of audit) {
    if (a.action !== 'assign' && a.action !== 'remove') continue;
    if (a.outcome === 'pending') bump(auditIntents, `${a.action}|${a.serial}|${a.after}`);
    else bump(auditOutcomes, `${a.action}|${a.serial}|${a.after}|${a.appleStatus}`);
  }
  const noIntent = [...simIntents].filter(([k, n]) => (auditIntents.get(k) ?? 0) < n).map(([k]) => k);
  if (noIntent.length > 0) violations.push(`${noIntent.length} serial write(s) Apple carried out with no audited intent before the call, e.g. ${firstFew(noIntent)}`);
  const invented = [...auditOutcomes].filter(([k, n]) => n > (simOutcomes.get(k) ?? 0)).map(([k]) => k);
  if (invented.length > 0) violations.push(`${invented.length} audited outcome(s) Apple never gave, e.g. ${firstFew(invented)}`);
  let answersLost = 0;
  for (const [k, n] of simOutcomes) answersLost += Math.max(0, n - (auditOutcomes.get(k) ?? 0));
  return { violations, answersLost };
}

/** No profile content was defined twice. Returns the number of distinct contents defined. */
export function checkContent(writes: readonly SimWrite[], profileOf: (uuid: string) => ProfileFacts | undefined): CheckResult & { contents: number } {
  const byContent = new Map<string, string[]>();
  for (const w of writes) {
    if (w.op !== 'define' || w.profileUuid === null) continue;
    const content = profileOf(w.profileUuid)?.content ?? `?${w.profileUuid}`;
    byContent.set(content, [...(byContent.get(content) ?? []), w.profileUuid]);
  }
  const violations = [...byContent].filter(([, uuids]) => uuids.length > 1).map(([content, uuids]) => `profile content defined ${uuids.length} times (${uuids.join(', ')}): ${content.slice(0, 120)}`);
  return { violations, contents: byContent.size };
}

/** No device was ever assigned (SUCCESS) a profile that no revision wanted for it. */
export function checkWanted(writes: readonly SimWrite[], profileOf: (uuid: string) => ProfileFacts | undefined, wantedBySome: (serial: string, key: string) => boolean): CheckResult {
  const unwanted: string[] = [];
  for (const w of writes) {
    if (w.op === 'remove' || w.profileUuid === null) continue;
    const key = profileOf(w.profileUuid)?.key ?? `?${w.profileUuid}`;
    for (const [s, status] of Object.entries(w.devices)) if (status === 'SUCCESS' && !wantedBySome(s, key)) unwanted.push(`${s} got ${key}`);
  }
  return { violations: unwanted.length > 0 ? [`${unwanted.length} assignment(s) no revision wanted, e.g. ${firstFew(unwanted)}`] : [] };
}

/** The outbox key a delivery stands for (notify/events.ts), for the kinds whose key names a revision. */
function deliveryKey(d: Delivery): string | null {
  const rev = typeof d.details['revision'] === 'string' ? d.details['revision'] : null;
  if (d.kind === 'run-partial' && rev) return `run-partial:${d.server}:${rev}`;
  if (d.kind === 'run-failed' && rev) return `run-failed:${d.server}:${rev}:${String(d.details['reason'])}`;
  return null;
}

/**
 * Notifications: one notification (one id) per key of a run's result, every partial run stored has its
 * notification, nothing is left unsent. The same id delivered again is counted apart (a kill between the
 * receiver's answer and the row marked sent; a receiver drops it by id).
 */
export function checkNotifications(deliveries: readonly Delivery[], runs: readonly RunRecord[], unsent: number): CheckResult & { delivered: number; sameIdAgain: number } {
  const violations: string[] = [];
  const ids = new Set<string>();
  let sameIdAgain = 0;
  const idsByKey = new Map<string, Set<string>>();
  for (const d of deliveries) {
    if (ids.has(d.id)) sameIdAgain++;
    ids.add(d.id);
    const key = deliveryKey(d);
    if (key === null) continue;
    idsByKey.set(key, (idsByKey.get(key) ?? new Set()).add(d.id));
  }
  for (const [key, set] of idsByKey) if (set.size > 1) violations.push(`notification ${key} delivered as ${set.size} different notifications (${[...set].join(', ')})`);
  if (unsent > 0) violations.push(`${unsent} notification(s) still unsent`);
  for (const run of runs) {
    if (run.result !== 'partial' || run.commit === null) continue;
    const servers = ((run.summary as { servers?: Array<{ server: string; failed: number; throttled: number; notAccessible: number; error: unknown }> } | null)?.servers ?? []).filter((s) => !s.error && s.failed + s.throttled + s.notAccessible > 0);
    for (const s of servers) if (!idsByKey.has(`run-partial:${s.server}:${run.commit}`)) violations.push(`run ${run.id} (${run.commit.slice(0, 12)}) was partial on ${s.server} and no run-partial notification was delivered`);
  }
  return { violations, delivered: ids.size, sameIdAgain };
}
