/**
 * The terminal view of `depctl status`: the same sections as the HTML status page (server/status-page.ts),
 * conditions, revisions, then per server the token, devices by profile and by last result, deferred serials
 * with their next try, drift and MDM migration deadlines, then the recent runs. Values from Apple and the
 * config are printed on one line each (oneLine).
 */
import type { Condition, OrganizationStatus, RunSummary, ServerStatus } from '../../reconcile/status.js';
import { formatCount, oneLine, plural } from './plan-common.js';
import { CONTROLLER_UNKNOWN, duration, utc, when, type StatusReport } from './status-common.js';

/** Options of {@link renderStatusText}. */
export interface StatusTextOptions {
  /** The rendering time, for "in 5 min" / "2 h ago" hints. */
  now?: Date;
}

/** Token expiry thresholds of the status page: under 30 days warns, under 7 days is urgent. */
const TOKEN_WARN_DAYS = 30;
const TOKEN_BAD_DAYS = 7;

/** Renders the status for a terminal. */
export function renderStatusText(r: StatusReport, opts: StatusTextOptions = {}): string {
  const t = (iso: string | null): string => when(iso, opts.now);
  const out: string[] = [];
  const from = r.source.kind === 'controller' ? `the controller at ${r.source.url}` : `the state store (${r.source.backend}); no controller asked`;
  out.push(`depctl status from ${from}, ${utc(r.generatedAt)}`);
  const c = r.controller;
  if (c === null) {
    out.push('', `Conditions: ${CONTROLLER_UNKNOWN}`, `Revisions:  ${CONTROLLER_UNKNOWN}`);
  } else {
    out.push(`phase ${c.phase} · ${c.leader ? 'leader' : 'follower (read-only)'} · version ${oneLine(c.version)}`);
    if (c.lastError !== null) out.push(`last error: ${oneLine(c.lastError)}`);
    out.push('', 'Conditions:');
    if (c.conditions.length === 0) out.push('  none yet');
    for (const cond of c.conditions) out.push(conditionLine(cond, t));
    out.push('', 'Revisions:');
    out.push(`  last applied    ${revision(c.lastAppliedRevision)}`);
    out.push(`  last attempted  ${revision(c.lastAttemptedRevision)}`);
    out.push(`  refused         ${c.refusedRevision === null ? 'none' : `${revision(c.refusedRevision.revision)}: ${oneLine(c.refusedRevision.message)}`}`);
    out.push(`  next run        ${t(c.nextRunAt)}`);
  }
  out.push('');
  if (r.servers.length === 0) out.push(r.source.kind === 'store' ? 'Servers: none in the store yet (no plan or apply has run against it)' : 'Servers: no MDM server is configured yet', '');
  for (const s of r.servers) out.push(...serverBlock(s, t, r.source.kind === 'store'), '');
  for (const o of r.organizations ?? []) out.push(...organizationBlock(o), '');
  if (r.credentials && r.credentials.length > 0) {
    out.push('Credentials (expiry):');
    for (const c of r.credentials) {
      out.push(`  ${c.level.padEnd(8)} ${c.kind.padEnd(9)} ${oneLine(c.name)}: ${oneLine(c.message)}`);
      if (c.level !== 'ok') c.renewal.forEach((step, i) => out.push(`      ${i + 1}. ${oneLine(step)}`));
    }
    out.push('');
  }
  out.push('Recent runs (newest first): id, started, took, trigger, commit, result, counts');
  out.push(...runLines(r.recentRuns));
  return out.join('\n') + '\n';
}

function conditionLine(c: Condition, t: (iso: string | null) => string): string {
  const message = c.message ? `: ${oneLine(c.message)}` : '';
  return `  ${c.type.padEnd(12)}${c.status.padEnd(8)}${oneLine(c.reason)}${message} (since ${t(c.lastTransitionTime)})`;
}

function serverBlock(s: ServerStatus, t: (iso: string | null) => string, fromStore: boolean): string[] {
  const out: string[] = [];
  const a = s.account;
  const identity = a === null ? 'Apple server not known yet' : `${oneLine(a.serverName)} ${oneLine(a.serverUuid)}, ${oneLine(a.orgName)}${a.orgType !== null ? ` (${oneLine(a.orgType)})` : ''}`;
  out.push(`Server ${oneLine(s.name)} (${identity})`);
  if (s.state !== null) out.push(`  state           ${s.state}`);
  if (s.problem !== null) out.push(`  problem         ${s.problem.kind} ${oneLine(s.problem.reason)}: ${oneLine(s.problem.message)}`);
  out.push(`  token expires   ${token(s)}`);
  if (s.renewal) {
    out.push(`  token renewal   ${s.renewal.summary} (${s.renewal.state}): ${oneLine(s.renewal.message)}`);
    s.renewal.stepsLeft.forEach((step, i) => out.push(`    ${i + 1}. ${oneLine(step)}`));
  }
  out.push(`  last sync       ${t(s.lastSyncAt)}`);
  out.push(`  devices         ${formatCount(s.devices)}`);
  const byProfile = Object.entries(s.devicesByProfile).sort((x, y) => y[1] - x[1] || x[0].localeCompare(y[0]));
  const width = Math.max(0, ...byProfile.map(([k]) => oneLine(k).length));
  for (const [profile, n] of byProfile) out.push(`    ${oneLine(profile).padEnd(width)}  ${formatCount(n).padStart(9)}`);
  out.push(`  last results    ${s.devicesByResult === null ? 'unknown (the store did not answer)' : counts(s.devicesByResult) || 'none recorded'}`);
  out.push(`  deferred        ${s.deferred === 0 ? 'none' : plural(s.deferred, 'serial')}`);
  for (const g of s.retries ?? []) out.push(`    next try ${t(g.until)}  after ${oneLine(g.lastStatus)}${g.attempts > 0 ? `, ${plural(g.attempts, 'failed attempt')}` : ''}: ${plural(g.count, 'device')}`);
  if (s.migrationDeadlines !== null && s.migrationDeadlines.devices > 0) {
    out.push(`  MDM migration   ${plural(s.migrationDeadlines.devices, 'device')} with a deadline, earliest ${t(s.migrationDeadlines.earliest)}`);
  }
  if (s.drift.length === 0) {
    const unknown = fromStore ? ' known (drift is found by a pass; use --url for the controller\'s)' : ' known (no pass of this replica yet)';
    out.push(`  drift           none${s.state === null ? unknown : ''}`);
  } else {
    out.push(`  drift           ${plural(s.drift.reduce((n, d) => n + d.count, 0), 'item')}`);
    for (const d of s.drift) {
      const change = `${d.current === null ? 'none' : `"${oneLine(d.current)}"`} → ${d.desired === null ? '—' : `"${oneLine(d.desired)}"`}`;
      out.push(`    ${d.kind}  ${formatCount(d.count)}  ${change}${d.since !== null ? ` since ${t(d.since)}` : ''}: ${oneLine(d.message)}`);
    }
  }
  return out;
}

function organizationBlock(o: OrganizationStatus): string[] {
  const n = (v: number | null, what: string): string => (v === null ? 'unknown' : plural(v, what));
  const out = [`Organization ${oneLine(o.name)} (${o.scope === 'school' ? 'Apple School Manager' : 'Apple Business Manager'})`];
  out.push(`  state           ${o.state}`);
  if (o.problem !== null) out.push(`  problem         ${o.problem.kind} ${oneLine(o.problem.reason)}: ${oneLine(o.problem.message)}`);
  else if (o.lastError !== null) out.push(`  last error      ${oneLine(o.lastError)}`);
  out.push(`  devices         ${o.devices === null ? 'unknown' : formatCount(o.devices)}`);
  out.push(`  in progress     ${o.openActivities === null ? 'unknown' : `${n(o.movesInProgress, 'device')} in ${plural(o.openActivities, 'open activity', 'open activities')}`}`);
  out.push(`  pending moves   ${n(o.pendingMoves, 'device')}`);
  out.push(`  unclaimed       ${o.unclaimed === null ? 'unknown (unclaimedDevices: report counts them)' : plural(o.unclaimed, 'device')}`);
  for (const a of o.failedActivities) out.push(`  activity ${oneLine(a.activityId)} ended ${oneLine(a.status)}: ${plural(a.notMoved, 'device')} not moved (planned again)`);
  return out;
}

function token(s: ServerStatus): string {
  const days = s.tokenDaysLeft;
  if (days === null || s.tokenExpiresAt === null) return 'unknown';
  const flag = days < 0 ? ' (EXPIRED: download a new token)' : days < TOKEN_BAD_DAYS ? ' (renew now)' : days < TOKEN_WARN_DAYS ? ' (renew soon)' : '';
  return `${utc(s.tokenExpiresAt)}, ${days < 0 ? `${-days} d ago` : `${days} d left`}${flag}`;
}

function counts(c: Partial<Record<string, number>>): string {
  return Object.entries(c)
    .filter((e): e is [string, number] => typeof e[1] === 'number' && e[1] > 0)
    .sort((x, y) => y[1] - x[1] || x[0].localeCompare(y[0]))
    .map(([k, v]) => `${k} ${formatCount(v)}`)
    .join(' · ');
}

function runLines(runs: readonly RunSummary[]): string[] {
  if (runs.length === 0) return ['  no run yet'];
  return runs.map((r) => {
    const took = r.finishedAt === null ? '…' : duration(Date.parse(r.finishedAt) - Date.parse(r.startedAt));
    const what = counts(r.counts) || 'no changes';
    return `  #${String(r.id).padEnd(5)} ${utc(r.startedAt)}  ${took.padStart(7)}  ${r.trigger.padEnd(8)}  ${revision(r.commit).padEnd(12)}  ${(r.result ?? 'running').padEnd(7)}  ${what}`;
  });
}

function revision(rev: string | null): string {
  return rev === null ? 'none' : oneLine(rev.slice(0, 12));
}
