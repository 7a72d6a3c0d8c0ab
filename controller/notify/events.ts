import { createHash } from 'node:crypto';
import type { DriftItem, Plan } from '../reconcile/plan.js';
import type { ApplyResult } from '../reconcile/apply.js';
import { isTermsProblem, type PassOutcome } from '../reconcile/outcome.js';
import type { Notification } from './webhook.js';

/** A notification with the key that makes it "sent once". */
export interface KeyedNotification {
  key: string;
  notification: Notification;
}

/** Token expiry thresholds notified once each (DESIGN.md and Fleet's banner: 30/14/7 days, and 1). */
export const TOKEN_THRESHOLDS = [30, 14, 7, 1] as const;

function digest(values: readonly string[]): string {
  return createHash('sha256').update(values.join('\n')).digest('hex').slice(0, 16);
}

/**
 * The notification of one drift finding, or null for token expiry (notified by threshold instead). The key
 * is (server, kind, UUID the devices carry, profile they should carry, digest of the serials): one out-of-band
 * change is one finding, so one message, sent once while it lasts and again when it changes. The text is
 * the finding's message, which names what the devices carry now and what they should carry.
 */
export function driftNotification(server: string, d: DriftItem): KeyedNotification | null {
  if (d.kind === 'token-expiry') return null;
  const current = d.current === undefined ? '-' : (d.current.uuid ?? 'none');
  const desired = d.desired === undefined ? '-' : (d.desired ?? 'none');
  const details: Record<string, string | number | boolean | null> = { driftKind: d.kind, devices: d.serials.length, corrected: d.corrected };
  if (d.current !== undefined) {
    Object.assign(details, { currentUuid: d.current.uuid, currentProfile: d.current.profile, currentName: d.current.name, desired: d.desired ?? null, since: d.since ?? null });
  }
  return {
    key: `drift:${server}:${d.kind}:${current}:${desired}:${digest(d.serials)}`,
    notification: { kind: 'drift', severity: 'warning', server, text: `depctl: drift on ${server}: ${d.message}`, details },
  };
}

/** The drift notifications of a plan, in plan order: what notificationsFor sends for its drift. */
export function driftNotifications(plan: Plan): KeyedNotification[] {
  return plan.servers.flatMap((s) => s.drift.map((d) => driftNotification(s.server, d)).filter((n): n is KeyedNotification => n !== null));
}

/**
 * The notifications a pass calls for: drift findings, failed or partial runs, terms not signed, tokens
 * crossing 30/14/7/1 days, and device ownership (an organization stopped, an activity that did not move all
 * its devices). Keys identify the situation (server + kind + affected serials or threshold), so a
 * situation that persists is sent once, and one that changes is sent again.
 */
export function notificationsFor(
  plan: Plan,
  apply: ApplyResult | null,
  outcome: PassOutcome,
  tokens: ReadonlyMap<string, Date | null>,
  now: Date,
): KeyedNotification[] {
  const out: KeyedNotification[] = [];
  const revision = outcome.revision ?? 'unknown';
  const rev = revision.slice(0, 12);
  for (const s of plan.servers) {
    for (const d of s.drift) {
      const n = driftNotification(s.server, d);
      if (n) out.push(n);
    }
  }
  for (const [server, expires] of tokens) {
    if (!expires) continue;
    const days = Math.floor((expires.getTime() - now.getTime()) / 86_400_000);
    const threshold = [...TOKEN_THRESHOLDS].reverse().find((t) => days <= t);
    if (threshold === undefined) continue;
    const when = expires.toISOString().slice(0, 10);
    const text = days < 0 ? `depctl: the DEP server token of ${server} expired on ${when}; download a new one in Apple Business Manager` : `depctl: the DEP server token of ${server} expires in ${days} day(s) (${when}); download a new one in Apple Business Manager`;
    out.push({ key: `token:${server}:${days < 0 ? 'expired' : threshold}:${when}`, notification: { kind: 'token-expiry', severity: days <= 7 ? 'critical' : 'warning', server, text, details: { daysLeft: days, expiresAt: expires.toISOString() } } });
  }
  // Server problems, typed: terms not signed is its own notification (an administrator must sign in to
  // Apple); other terminal and guardrail stops are "run-failed". Transient problems (network, Apple's 5xx)
  // are retried with backoff and shown in status and metrics, not notified: they pass by themselves.
  for (const p of outcome.problems) {
    if (p.organization !== undefined) {
      // Device ownership (issue 15): an organization Apple refused or depctl stopped, once per (organization,
      // revision, reason); transient ones are retried like the servers'.
      if (p.kind === 'transient') continue;
      out.push({ key: `abm-error:${p.organization}:${rev}:${p.reason}`, notification: { kind: 'run-failed', severity: 'critical', server: null, text: `depctl: device ownership of organization ${p.organization} is stopped at revision ${rev}: ${p.message}`, details: { revision, organization: p.organization, reason: p.reason, problemKind: p.kind } } });
    } else if (isTermsProblem(p)) {
      out.push({ key: `terms:${p.server}`, notification: { kind: 'terms-not-signed', severity: 'critical', server: p.server, text: `depctl: ${p.server} is stopped: ${p.message}`, details: { reason: p.reason } } });
    } else if (p.kind !== 'transient') {
      out.push({ key: `run-failed:${p.server}:${rev}:${p.reason}`, notification: { kind: 'run-failed', severity: 'critical', server: p.server, text: `depctl: revision ${rev} is stopped on ${p.server}: ${p.message}`, details: { revision, reason: p.reason, problemKind: p.kind } } });
    }
  }
  for (const r of apply?.servers ?? []) {
    if (!r.error && r.failed + r.throttled + r.notAccessible > 0) {
      out.push({
        key: `run-partial:${r.server}:${rev}`,
        notification: { kind: 'run-partial', severity: 'warning', server: r.server, text: `depctl: apply of ${rev} on ${r.server} was partial: ${r.succeeded} assigned, ${r.failed} failed, ${r.throttled} throttled, ${r.notAccessible} not accessible (retried later)`, details: { revision, failed: r.failed, throttled: r.throttled, notAccessible: r.notAccessible } },
      });
    }
  }
  // An activity that finished with devices that did not move (FAILED, STOPPED, failed serials): once per activity.
  for (const o of outcome.organizations ?? []) {
    for (const a of o.failedActivities) {
      out.push({
        key: `abm-activity:${o.organization}:${a.activityId}`,
        notification: { kind: 'run-partial', severity: 'warning', server: null, text: `depctl: device ownership of organization ${o.organization}: activity ${a.activityId} ended ${a.status}: ${a.moved} moved, ${a.notMoved} not moved (planned again on the next pass)`, details: { organization: o.organization, activityId: a.activityId, status: a.status, moved: a.moved, notMoved: a.notMoved } },
      });
    }
  }
  return out;
}
