/**
 * The terminal view of `depctl explain`: per serial and server, the profile the config wants and the config
 * line that decides it, what Apple has, retries, arrival and the audit history. Strings from Apple and the
 * config are printed on one line each (oneLine), so a crafted value cannot rewrite the terminal.
 */
import type { AppleView, CarriedProfile, ConfigLocation, DesiredExplanation, ExplainReport, HistoryEntry, LiveView, RetryView, SerialExplanation, ServerExplanation } from '../../reconcile/explain.js';
import { oneLine, plural } from './plan-common.js';
import { utc, when } from './status-common.js';

/** Options of {@link renderExplainText}. */
export interface ExplainTextOptions {
  /** Prefix of config paths, e.g. the config directory as given on the command line (`config/`). */
  pathPrefix?: string;
  /** The rendering time, for "in 5 min" / "2 h ago" hints. */
  now?: Date;
}

/** Renders the report for a terminal. */
export function renderExplainText(report: ExplainReport, opts: ExplainTextOptions = {}): string {
  return report.serials.map((s) => serialBlock(s, opts)).join('\n');
}

function serialBlock(s: SerialExplanation, opts: ExplainTextOptions): string {
  if (s.serial === null) return `${oneLine(s.input)}: ${oneLine(s.problem ?? 'not a serial number')}\n`;
  const lines: string[] = [];
  if (!s.found) {
    lines.push(`${s.serial}: not seen on any server (asked: ${s.serversAsked.join(', ') || 'none'})`);
  } else {
    lines.push(`${s.serial}`);
  }
  for (const srv of s.servers) lines.push(...serverBlock(srv, opts));
  return lines.join('\n') + '\n';
}

function serverBlock(s: ServerExplanation, opts: ExplainTextOptions): string[] {
  const out: string[] = [];
  const field = (label: string, value: string): void => {
    out.push(`    ${`${label}:`.padEnd(14)}${value}`);
  };
  if (!s.found) {
    out.push(`  server ${s.server}: the server does not have this device${s.stored === null && s.live === null ? ' (per the store)' : ''}`);
    if (s.desired.kind === 'unknown') {
      for (const l of s.desired.listedIn) field('listed', `profile ${q(l.profile)} in Assignment ${q(l.assignment)} (${loc(l.location, opts)})`);
    }
    if (s.live !== null) field('Apple now', live(s.live));
    out.push(...historyLines(s.history));
    return out;
  }
  out.push(`  server ${s.server}`);
  field('should have', desired(s.desired, opts));
  field('Apple has', s.stored === null ? 'not in the store (seen live only)' : `${apple(s.stored)}; observed ${when(s.stored.observedAt, opts.now)}${stale(s) ? ', before the last apply (`depctl plan` or --live shows what Apple has now)' : ''}`);
  if (s.live !== null) field('Apple now', live(s.live));
  if (s.retry !== null) field('last apply', retry(s.retry, opts));
  if (s.arrivedAt !== null) field('arrived', `${when(s.arrivedAt, opts.now)}; no successful apply since (depctl assigns a device once per arrival)`);
  out.push(...historyLines(s.history));
  return out;
}

/** True when the last successful apply is newer than the store's observation: `depctl apply` does not sync afterwards. */
function stale(s: ServerExplanation): boolean {
  // Only a successful write changed what Apple has; a throttled or failed one left the device as observed.
  const last = s.retry?.lastResult;
  return last !== undefined && last !== null && last.status === 'success' && s.stored !== null && Date.parse(last.at) > Date.parse(s.stored.observedAt);
}

function desired(d: DesiredExplanation, opts: ExplainTextOptions): string {
  switch (d.kind) {
    case 'profile':
      if (d.source === 'serial') return `${q(d.profile)}: listed in Assignment ${q(d.assignment ?? '?')} (${loc(d.location, opts)})`;
      if (d.source === 'match') return `${q(d.profile)}: match rule of Assignment ${q(d.assignment ?? '?')}, priority ${d.priority ?? 0} (${loc(d.location, opts)})`;
      if (d.defaultFamily !== null) return `${q(d.profile)}: the server's defaultProfiles entry for ${oneLine(d.defaultFamily)}, unassignedDevices: default (${loc(d.location, opts)})`;
      return `${q(d.profile)}: the server's defaultProfile, unassignedDevices: default (${loc(d.location, opts)})`;
    case 'none':
      return d.policy === 'remove'
        ? `no profile: no Assignment lists or matches it; unassignedDevices: remove clears its profile (${loc(d.location, opts)})`
        : `nothing: no Assignment lists or matches it; unassignedDevices: ignore leaves it alone (${loc(d.location, opts)})`;
    case 'conflict':
      return `conflict: ${oneLine(d.message)}`;
    case 'unknown':
      return 'unknown (the device record is not known)';
  }
}

function carried(p: CarriedProfile | null): string {
  if (p === null) return 'no profile';
  if (p.name === null) return `foreign profile ${oneLine(p.uuid)} (not defined by depctl)`;
  return `${q(p.name)} ${oneLine(p.uuid)}${p.current ? '' : ' (an older content of it)'}`;
}

function apple(a: AppleView): string {
  const parts = [carried(a.profile)];
  if (a.profileStatus !== null) parts.push(`profile_status ${oneLine(a.profileStatus)}`);
  if (a.opType !== null) parts.push(`op_type ${oneLine(a.opType)}${a.opDate !== null ? ` at ${utc(oneLine(a.opDate))}` : ''}`);
  if (a.model !== null && a.model !== '') parts.push(`${oneLine(a.model)}${a.os !== null ? ` (${oneLine(a.os)})` : ''}`);
  return parts.join(', ');
}

function live(l: LiveView): string {
  if ('error' in l) return `could not ask Apple: ${oneLine(l.error)}`;
  if (l.device === null) return `${oneLine(l.status)} (Apple's POST /devices)`;
  return `${apple(l.device)} (Apple's POST /devices)`;
}

function retry(r: RetryView, opts: ExplainTextOptions): string {
  const last = r.lastResult === null ? 'none recorded' : `${r.lastResult.status}${r.lastResult.appleStatus !== null ? ` (${oneLine(r.lastResult.appleStatus)})` : ''} at ${when(r.lastResult.at, opts.now)}`;
  const attempts = r.attempts > 0 ? `; ${plural(r.attempts, 'failed attempt')}` : '';
  if (r.deferred && r.retryNotBefore !== null) return `${last}${attempts}; deferred: next try ${when(r.retryNotBefore, opts.now)}`;
  if (r.retryNotBefore !== null) return `${last}${attempts}; retry due since ${when(r.retryNotBefore, opts.now)}`;
  return `${last}${attempts}`;
}

function historyLines(h: { entries: HistoryEntry[]; more: number }): string[] {
  if (h.entries.length === 0) return ['    history:      no audited write'];
  const out = [`    history:      ${plural(h.entries.length + h.more, 'audited write')}${h.more > 0 ? `, the last ${h.entries.length} shown (${h.more} earlier left out)` : ''}, newest last`];
  for (const e of h.entries) {
    const run = e.runId === null ? 'no run' : `run ${e.runId}${e.commit !== null ? ` @ ${e.commit.slice(0, 12)}` : ''}`;
    const status = e.appleStatus !== null ? ` (${oneLine(e.appleStatus)})` : '';
    out.push(`      ${utc(e.at)}  ${run}  ${oneLine(e.action)} ${value(e.before, e.beforeProfile)} → ${value(e.after, e.afterProfile)}  ${e.outcome}${status}`);
  }
  return out;
}

function value(raw: string | null, profile: string | null): string {
  if (raw === null) return '(none)';
  return profile !== null ? `${q(profile)} ${oneLine(raw)}` : oneLine(raw);
}

function loc(l: ConfigLocation | null, opts: ExplainTextOptions): string {
  if (l === null) return 'location unknown';
  return `${opts.pathPrefix ?? ''}${l.file}:${l.line}`;
}

function q(s: string): string {
  return `"${oneLine(s)}"`;
}
