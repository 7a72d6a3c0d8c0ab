/**
 * The HTML status page served at `/`: one self-contained document (inline CSS, no script, no external
 * assets) rendered from the loop's status snapshot. Every value from the snapshot is HTML-escaped: profile
 * names and messages come from the config repository and from Apple. Key figures carry `data-testid`
 * attributes (and `data-value` with the raw number) so a browser test, or a human with dev tools, can find them.
 */
import type { Condition, ControllerStatus, RunSummary, ServerStatus } from '../reconcile/status.js';
import { STATUS_PAGE_CSS } from './status-page-style.js';

/** Options of {@link renderStatusPage}. */
export interface StatusPageOptions {
  /** The time of rendering, for "in 3 min" / "2 h ago" hints; without it only absolute times are shown. */
  now?: Date;
  /** Adds a meta refresh every so many seconds (the page has no script); 0 or absent: none. */
  refreshSeconds?: number;
}

/** Token expiry warnings follow DESIGN.md's drift thresholds: 30 days is a warning, 7 days is urgent. */
const TOKEN_WARN_DAYS = 30;
const TOKEN_BAD_DAYS = 7;

/** Escapes text for HTML element content and double- or single-quoted attribute values. */
export function escapeHtml(value: unknown): string {
  return String(value).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** Renders the status page. */
export function renderStatusPage(status: ControllerStatus, opts: StatusPageOptions = {}): string {
  const t = (iso: string | null): string => time(iso, opts.now);
  const refresh = opts.refreshSeconds ? `<meta http-equiv="refresh" content="${Math.max(1, Math.round(opts.refreshSeconds))}">` : '';
  const ready = status.conditions.find((c) => c.type === 'Ready');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
${refresh}
<title>depctl ${ready ? `${ready.status === 'True' ? 'ready' : 'not ready'}` : 'status'}</title>
<style>${STATUS_PAGE_CSS}</style>
</head>
<body>
<header>
<h1>depctl</h1>
<span class="badge ${readyClass(ready)}" data-testid="ready" data-status="${escapeHtml(ready?.status ?? 'Unknown')}" title="${escapeHtml(ready?.message ?? '')}">${readyText(ready)}</span>
<span class="badge ${phaseClass(status.phase)}" data-testid="phase">${escapeHtml(status.phase)}</span>
<span class="badge ${status.leader ? 'good' : ''}" data-testid="leader">${status.leader ? 'leader' : 'follower (read-only)'}</span>
<span class="muted">version ${escapeHtml(status.version)}</span>
</header>
<main>
${status.lastError ? `<div class="alert bad" data-testid="last-error">${escapeHtml(status.lastError)}</div>` : ''}
<section>
<h2>Conditions</h2>
<table>
<thead><tr><th>Type</th><th>Status</th><th>Reason</th><th>Message</th><th>Since</th></tr></thead>
<tbody>
${status.conditions.map((c) => conditionRow(c, t)).join('\n') || '<tr><td colspan="5" class="muted">none yet</td></tr>'}
</tbody>
</table>
</section>
<section>
<h2>Revisions</h2>
<dl>
<dt>Last applied</dt><dd data-testid="last-applied-revision">${revision(status.lastAppliedRevision)}</dd>
<dt>Last attempted</dt><dd data-testid="last-attempted-revision">${revision(status.lastAttemptedRevision)}</dd>
<dt>Refused</dt><dd data-testid="refused-revision">${status.refusedRevision ? `${revision(status.refusedRevision.revision)} <span class="badge bad">refused</span> ${escapeHtml(status.refusedRevision.message)}` : '<span class="muted">none</span>'}</dd>
<dt>Next run</dt><dd data-testid="next-run">${t(status.nextRunAt)}</dd>
</dl>
</section>
<h2>Servers</h2>
${status.servers.map((s) => serverCard(s, t)).join('\n') || '<section class="muted">No MDM server is configured yet.</section>'}
${status.organizations && status.organizations.length > 0 ? organizationsTable(status.organizations) : ''}
${status.credentials && status.credentials.length > 0 ? credentialsTable(status.credentials) : ''}
${status.enrollment === undefined ? '' : enrollmentTable(status.enrollment)}
<section>
<h2>Recent runs</h2>
${runsTable(status.recentRuns, t)}
</section>
</main>
<footer>${opts.now ? `Rendered ${escapeHtml(utc(opts.now.toISOString()))}` : 'depctl status'}${opts.refreshSeconds ? ` · reloads every ${Math.round(opts.refreshSeconds)} s` : ''} · <a href="/api/status">JSON</a> · <a href="/metrics">metrics</a></footer>
</body>
</html>
`;
}

function conditionRow(c: Condition, t: (iso: string | null) => string): string {
  const id = escapeHtml(c.type);
  return `<tr data-testid="condition-${id}" data-status="${escapeHtml(c.status)}"><td>${id}</td><td><span class="badge ${conditionClass(c)}">${escapeHtml(c.status)}</span></td><td data-testid="condition-${id}-reason"><code>${escapeHtml(c.reason)}</code></td><td data-testid="condition-${id}-message">${escapeHtml(c.message)}</td><td>${t(c.lastTransitionTime)}</td></tr>`;
}

/** Device ownership per Organization (issue 15): state, moves in progress and pending, unclaimed, last error; unknown figures say so. */
function organizationsTable(list: NonNullable<ControllerStatus['organizations']>): string {
  const n = (v: number | null): string => (v === null ? 'unknown' : fmt(v));
  const cls = (state: string): string => (state === 'converged' ? '' : state === 'in-progress' || state === 'unknown' ? 'warn' : 'bad');
  const rows = list.map((o) => {
    const failed = o.failedActivities.map((a) => `activity ${a.activityId} ended ${a.status}: ${a.notMoved} not moved`);
    const details = [o.problem ? `${o.problem.kind} ${o.problem.reason}: ${o.problem.message}` : (o.lastError ?? ''), ...failed].filter(Boolean).map((x) => escapeHtml(x)).join('<br>');
    return `<tr data-testid="organization-${escapeHtml(o.name)}" data-state="${escapeHtml(o.state)}"><td>${escapeHtml(o.name)}</td><td class="${cls(o.state)}">${escapeHtml(o.state)}</td><td class="num">${n(o.devices)}</td><td class="num">${o.openActivities === null ? 'unknown' : `${n(o.movesInProgress)} in ${fmt(o.openActivities)}`}</td><td class="num">${n(o.pendingMoves)}</td><td class="num">${n(o.unclaimed)}</td><td>${details}</td></tr>`;
  });
  return `<section>\n<h2>Device ownership (Apple Business API)</h2>\n<table><thead><tr><th>Organization</th><th>State</th><th class="num">Devices</th><th class="num">Moving (activities)</th><th class="num">Pending moves</th><th class="num">Unclaimed</th><th>Problem</th></tr></thead><tbody>${rows.join('')}</tbody></table>\n</section>`;
}

/** Every yearly credential with its expiry; warnings and errors show the renewal steps. */
function credentialsTable(list: NonNullable<ControllerStatus['credentials']>): string {
  const cls = (l: string): string => (l === 'ok' ? '' : l === 'warning' ? 'warn' : 'bad');
  const rows = list.map((c) => {
    const steps = c.level === 'ok' ? '' : `<ol>${c.renewal.map((x) => `<li>${escapeHtml(x)}</li>`).join('')}</ol>`;
    return `<tr data-testid="credential-${escapeHtml(c.kind)}-${escapeHtml(c.name)}" data-level="${escapeHtml(c.level)}"><td>${escapeHtml(c.kind)}</td><td>${escapeHtml(c.name)}</td><td class="${cls(c.level)}">${escapeHtml(c.level)}</td><td>${c.expiresAt ? escapeHtml(utc(c.expiresAt)) : 'unknown'}</td><td>${escapeHtml(c.message)}${steps}</td></tr>`;
  });
  return `<section>\n<h2>Credentials</h2>\n<table><thead><tr><th>Kind</th><th>Name</th><th>Level</th><th>Expires</th><th>Details</th></tr></thead><tbody>${rows.join('')}</tbody></table>\n</section>`;
}

/** A DEP token renewal under way: its state, message and the steps left (tokens/rotation.ts). */
/** The enrollment endpoint per served profile (issue 14): attempts by outcome, and pushed devices that never enrolled. */
function enrollmentTable(list: NonNullable<ControllerStatus['enrollment']> | null): string {
  if (list === null) return `<section>\n<h2>Enrollment</h2>\n<p class="muted" data-testid="enrollment-unknown">unknown (the store did not answer)</p>\n</section>`;
  const cell = (id: string, n: number, cls: string): string => `<td class="num${n > 0 && cls ? ` ${cls}` : ''}" data-testid="${id}" data-value="${n}">${fmt(n)}</td>`;
  const rows = list.map((e) => {
    const p = escapeHtml(e.profile);
    const never = e.assignedNeverEnrolled === null
      ? `<td class="num muted" data-testid="enroll-never-${p}">unknown</td>`
      : cell(`enroll-never-${p}`, e.assignedNeverEnrolled, 'warn');
    return `<tr data-testid="enroll-${p}"><td>${p}</td><td>${escapeHtml(e.enrollment)}</td>${cell(`enroll-enrolled-${p}`, e.enrolled, 'good')}${cell(`enroll-refused-${p}`, e.refused, 'bad')}${cell(`enroll-held-${p}`, e.heldForUpdate, 'warn')}${cell(`enroll-bad-${p}`, e.badRequest, '')}${never}</tr>`;
  });
  return `<section>\n<h2>Enrollment</h2>\n<table><thead><tr><th>Profile</th><th>Enrollment</th><th class="num">Enrolled</th><th class="num">Refused</th><th class="num">Held for OS update</th><th class="num">Bad requests</th><th class="num" title="DEP says the profile was pushed to the device, and no enrollment came: set up by hand, or stuck">Assigned, never enrolled</th></tr></thead><tbody>${rows.join('')}</tbody></table>\n</section>`;
}

function renewalBlock(n: string, r: NonNullable<ServerStatus['renewal']>): string {
  const cls = r.state === 'refused' ? 'bad' : r.state === 'switched' ? 'ok' : 'warn';
  const steps = r.stepsLeft.length > 0 ? `<ol>${r.stepsLeft.map((x) => `<li>${escapeHtml(x)}</li>`).join('')}</ol>` : '';
  return `<div class="alert ${cls}" data-testid="renewal-${n}" data-state="${escapeHtml(r.state)}"><strong>Token ${escapeHtml(r.summary)}</strong> (${escapeHtml(r.state)}): ${escapeHtml(r.message)}${steps}</div>`;
}

function serverCard(s: ServerStatus, t: (iso: string | null) => string): string {
  const n = escapeHtml(s.name);
  const days = s.tokenDaysLeft;
  const tokenClass = days === null ? '' : days < TOKEN_BAD_DAYS ? 'bad' : days < TOKEN_WARN_DAYS ? 'warn' : '';
  const driftTotal = s.drift.reduce((sum, d) => sum + d.count, 0);
  const tokenText = days === null ? 'unknown' : days < 0 ? `expired ${-days} d ago` : `${days} d`;
  return `<article data-testid="server-${n}">
<h3>${n}</h3>
${s.problem ? `<div class="alert ${s.problem.kind === 'transient' ? 'warn' : 'bad'}" data-testid="error-${n}" data-reason="${escapeHtml(s.problem.reason)}"><code>${escapeHtml(s.problem.reason)}</code> ${escapeHtml(s.problem.message)}</div>` : ''}
${s.renewal ? renewalBlock(n, s.renewal) : ''}
<div class="figures">
${figure('Devices', `devices-${n}`, s.devices, fmt(s.devices))}
${figure('Token expires in', `token-days-${n}`, days, tokenText, tokenClass, s.tokenExpiresAt ? `expires ${utc(s.tokenExpiresAt)}` : undefined)}
${figure('Drift items', `drift-${n}`, driftTotal, fmt(driftTotal), driftTotal > 0 ? 'warn' : '')}
${figure('Deferred serials', `deferred-${n}`, s.deferred, fmt(s.deferred), s.deferred > 0 ? 'warn' : '')}
${s.migrationDeadlines && s.migrationDeadlines.devices > 0 ? figure('MDM migration deadlines', `migration-${n}`, s.migrationDeadlines.devices, fmt(s.migrationDeadlines.devices), 'warn', s.migrationDeadlines.earliest ? `earliest ${utc(s.migrationDeadlines.earliest)}` : undefined) : ''}
</div>
<dl>
${accountRows(s, t)}
<dt>Token expiry</dt><dd data-testid="token-expiry-${n}">${t(s.tokenExpiresAt)}</dd>
<dt>Last sync</dt><dd data-testid="last-sync-${n}">${t(s.lastSyncAt)}</dd>
</dl>
<div class="columns">
<div><h4>Devices per profile</h4>${countTable('Profile', s.devicesByProfile, `profile-${n}`, () => '')}</div>
<div><h4>Devices by last result</h4>${s.devicesByResult === null ? '<p class="muted" data-testid="results-unknown-' + n + '">unknown (the store did not answer)</p>' : countTable('Result', definedCounts(s.devicesByResult), `result-${n}`, (k) => (k === 'success' ? 'good' : k === 'throttled' ? 'warn' : 'bad'))}</div>
</div>
${retriesTable(s, t)}
<h4>Drift</h4>
${s.drift.length === 0 ? '<p class="muted">none</p>' : `<table><thead><tr><th>Kind</th><th>Carry now</th><th>Should carry</th><th>Since</th><th>Detail</th><th class="num">Count</th></tr></thead><tbody>${s.drift.map((d) => `<tr><td><code>${escapeHtml(d.kind)}</code></td><td>${d.current === null ? '<span class="muted">none</span>' : escapeHtml(d.current)}</td><td>${d.desired === null ? '<span class="muted">—</span>' : escapeHtml(d.desired)}</td><td>${d.since === null ? '<span class="muted">unknown</span>' : t(d.since)}</td><td>${escapeHtml(d.message)}</td><td class="num">${fmt(d.count)}</td></tr>`).join('')}</tbody></table>`}
</article>`;
}

/** The Apple MDM server the token belongs to (GET /account), or a note that it is not known yet. */
function accountRows(s: ServerStatus, t: (iso: string | null) => string): string {
  const n = escapeHtml(s.name);
  const a = s.account;
  if (a === null) return `<dt>Apple server</dt><dd data-testid="account-${n}" class="muted">not known yet (Apple has not answered GET /account)</dd>`;
  const org = [a.orgType, a.orgId === null ? null : `id ${a.orgId}`].filter((x) => x !== null).join(', ');
  return [
    `<dt>Apple server</dt><dd data-testid="account-${n}" data-uuid="${escapeHtml(a.serverUuid)}">${escapeHtml(a.serverName)} <code>${escapeHtml(a.serverUuid)}</code></dd>`,
    `<dt>Organisation</dt><dd data-testid="org-${n}">${escapeHtml(a.orgName)}${org ? ` <span class="muted">(${escapeHtml(org)})</span>` : ''}</dd>`,
    `<dt>Server checked</dt><dd data-testid="account-checked-${n}">${t(a.checkedAt)}</dd>`,
  ].join('\n');
}

/** The deferred serials by retry time, Apple's last answer and failed attempts, as the last pass planned them. */
function retriesTable(s: ServerStatus, t: (iso: string | null) => string): string {
  if (s.retries === null || s.retries.length === 0) return '';
  const rows = s.retries
    .map((r) => `<tr><td>${t(r.until)}</td><td><code>${escapeHtml(r.lastStatus)}</code></td><td class="num" data-testid="attempts-${escapeHtml(s.name)}-${escapeHtml(r.lastStatus)}">${fmt(r.attempts)}</td><td class="num">${fmt(r.count)}</td></tr>`)
    .join('');
  return `<h4>Waiting for a retry</h4><table><thead><tr><th>Next try</th><th>Apple's last answer</th><th class="num">Failed attempts</th><th class="num">Devices</th></tr></thead><tbody>${rows}</tbody></table>`;
}

/** Drops absent keys of a partial count record. */
function definedCounts(counts: Partial<Record<string, number>>): Record<string, number> {
  return Object.fromEntries(Object.entries(counts).filter((e): e is [string, number] => typeof e[1] === 'number'));
}

function figure(label: string, testId: string, value: number | null, text: string, cls = '', title?: string): string {
  const titleAttr = title ? ` title="${escapeHtml(title)}"` : '';
  return `<div class="figure ${cls}"${titleAttr}><span class="label">${escapeHtml(label)}</span><span class="value" data-testid="${testId}" data-value="${value ?? ''}">${escapeHtml(text)}</span></div>`;
}

function countTable(heading: string, counts: Record<string, number>, testPrefix: string, cls: (key: string) => string): string {
  const rows = Object.entries(counts).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  if (rows.length === 0) return '<p class="muted">none</p>';
  const body = rows
    .map(([k, v]) => {
      const c = cls(k);
      return `<tr><td>${c ? `<span class="badge ${c}">${escapeHtml(k)}</span>` : escapeHtml(k)}</td><td class="num" data-testid="${testPrefix}-${escapeHtml(k)}" data-value="${v}">${fmt(v)}</td></tr>`;
    })
    .join('');
  return `<table><thead><tr><th>${heading}</th><th class="num">Devices</th></tr></thead><tbody>${body}</tbody></table>`;
}

function runsTable(runs: RunSummary[], t: (iso: string | null) => string): string {
  if (runs.length === 0) return '<p class="muted">No run yet.</p>';
  const rows = runs.map((r) => {
    const counts = Object.entries(r.counts).filter(([, v]) => v > 0).map(([k, v]) => `${escapeHtml(k)} ${fmt(v)}`).join(' · ');
    const took = r.finishedAt ? duration(Date.parse(r.finishedAt) - Date.parse(r.startedAt)) : '<span class="badge info">running</span>';
    return `<tr data-testid="run-${r.id}"><td class="num">${r.id}</td><td>${t(r.startedAt)}</td><td>${took}</td><td>${escapeHtml(r.trigger)}</td><td data-testid="run-${r.id}-commit">${revision(r.commit)}</td><td data-testid="run-${r.id}-result">${r.result === null ? '<span class="muted">—</span>' : `<span class="badge ${resultClass(r.result)}">${escapeHtml(r.result)}</span>`}</td><td>${counts || '<span class="muted">no changes</span>'}</td></tr>`;
  });
  return `<table><thead><tr><th class="num">#</th><th>Started</th><th>Took</th><th>Trigger</th><th>Commit</th><th>Result</th><th>Counts</th></tr></thead><tbody>${rows.join('\n')}</tbody></table>`;
}

function revision(rev: string | null): string {
  if (rev === null) return '<span class="muted">none</span>';
  return `<code title="${escapeHtml(rev)}">${escapeHtml(rev.slice(0, 12))}</code>`;
}

/** An absolute UTC time in a `<time>` element, plus a relative hint when the rendering time is known. */
function time(iso: string | null, now: Date | undefined): string {
  if (iso === null) return '<span class="muted">never</span>';
  const ms = Date.parse(iso);
  if (!Number.isFinite(ms)) return escapeHtml(iso);
  const rel = now ? ` <span class="muted">(${relative(ms - now.getTime())})</span>` : '';
  return `<time datetime="${escapeHtml(iso)}">${escapeHtml(utc(iso))}</time>${rel}`;
}

function utc(iso: string): string {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : `${d.toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

function relative(deltaMs: number): string {
  const text = duration(Math.abs(deltaMs));
  if (Math.abs(deltaMs) < 1000) return 'now';
  return deltaMs > 0 ? `in ${text}` : `${text} ago`;
}

function duration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '?';
  const s = ms / 1000;
  if (s < 60) return `${s < 10 ? s.toFixed(1) : Math.round(s)} s`;
  if (s < 3600) return `${Math.round(s / 60)} min`;
  if (s < 2 * 86400) return `${Math.round(s / 3600)} h`;
  return `${Math.round(s / 86400)} d`;
}

function fmt(n: number): string {
  return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

function readyClass(ready: Condition | undefined): string {
  return ready?.status === 'True' ? 'good' : ready?.status === 'False' ? 'bad' : '';
}

function readyText(ready: Condition | undefined): string {
  if (!ready) return 'ready: unknown';
  if (ready.status === 'True') return 'ready';
  return `${ready.status === 'False' ? 'not ready' : 'ready: unknown'} · ${escapeHtml(ready.reason)}`;
}

function phaseClass(phase: ControllerStatus['phase']): string {
  // The phase says what the loop is doing, not whether things are well: only Ready is green or red.
  return phase === 'reconciling' ? 'info' : phase === 'waiting' ? 'warn' : '';
}

function conditionClass(c: Condition): string {
  if (c.status === 'Unknown') return '';
  if (c.type === 'Ready') return c.status === 'True' ? 'good' : 'bad';
  if (c.type === 'Stalled') return c.status === 'True' ? 'bad' : 'good';
  return c.status === 'True' ? 'info' : '';
}

function resultClass(result: string): string {
  return result === 'success' || result === 'noop' ? 'good' : result === 'partial' ? 'warn' : 'bad';
}
