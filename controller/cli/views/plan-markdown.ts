/**
 * The pull-request comment view of a Plan: a verdict heading, a table per server, callouts for failed
 * servers and the --allow-large guardrail, a drift table, and per-server details in `<details>` blocks.
 * GitHub rejects comments over 65,536 characters, so the view keeps a budget and drops details (saying so)
 * rather than produce a comment the CI bot cannot post.
 */
import type { MigrationDeadlines, Plan, ProfileDefine, ServerPlan } from '../../reconcile/plan.js';
import {
  contentLines,
  defineDetailLines,
  defineLabel,
  driftChangeLabel,
  driftKindLabel,
  driftOutcome,
  driftSinceLabel,
  formatCount,
  fromLabel,
  groupConflicts,
  largeServerLabel,
  largeServers,
  migrationLabel,
  oneLine,
  plural,
  planVerdict,
  reasonLabel,
  sampleSerials,
  serialLimit,
  serverCounts,
  serverIsQuiet,
  shortHash,
  sourceLabel,
  summaryLine,
  targetLabel,
  type ConflictGroup,
  type PlanVerdict,
  type PlanViewOptions,
} from './plan-common.js';

import { identityLine } from '../../reconcile/identity.js';
import { ownershipMarkdown } from './plan-ownership.js';

/** GitHub's limit on an issue or pull-request comment body, in characters. */
export const GITHUB_COMMENT_LIMIT = 65_536;

/** Options of renderPlanMarkdown. */
export interface PlanMarkdownOptions extends PlanViewOptions {
  /**
   * Longest comment to produce (default 60,000: under GitHub's 65,536 with room for a CI bot's own
   * header or sticky-comment marker). Details past it are left out with a note.
   */
  maxLength?: number;
}

/**
 * Escapes text for markdown table cells and list items: `|` would end a cell, `<`/`>`/`&` could open
 * HTML, backticks, `*`, `_`, `[`, `~` and `$` (GitHub math) would format. Newlines would end a row.
 */
export function escapeMarkdown(s: string): string {
  return oneLine(s)
    .replace(/[\\`*_[\]|~$#]/g, (c) => `\\${c}`)
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;');
}

/** Escapes text inside raw HTML (`<summary>`), where markdown backslash escapes are not processed. */
function escapeHtml(s: string): string {
  return oneLine(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

const HEADINGS: Record<PlanVerdict, string> = {
  'in-line': '✅ depctl plan: no changes',
  'no-changes': '🔎 depctl plan: no changes, findings to review',
  changes: '📝 depctl plan: changes to apply',
  errors: '⛔ depctl plan: servers failed',
};

/** Room kept for the closing note and footer, so they always fit. */
const TAIL_RESERVE = 800;
/** An error message is cut in the table; the callout below carries it whole (also bounded). */
const CELL_TEXT = 120;
const CALLOUT_TEXT = 1000;

function cut(s: string, max: number): string {
  const one = oneLine(s);
  return one.length > max ? `${one.slice(0, max - 1)}…` : one;
}

/** Text chunks under a character budget; a chunk that does not fit is refused, never cut in half. */
class Budget {
  readonly parts: string[] = [];
  private used = 0;
  constructor(private readonly limit: number) {}
  get left(): number {
    return this.limit - this.used;
  }
  add(s: string): boolean {
    if (s.length > this.left) return false;
    this.parts.push(s);
    this.used += s.length;
    return true;
  }
}

function serialList(serials: readonly string[], limit: number): string {
  const { shown, more } = sampleSerials(serials, limit);
  const list = shown.map(escapeMarkdown).join(', ');
  if (more === 0) return list;
  return list === '' ? `${formatCount(more)} serials` : `${list} and ${formatCount(more)} more`;
}

/** One bullet: a bold action, its text, then detail lines joined by `<br>` so the item stays one block. */
function bullet(action: string, text: string, details: string[]): string {
  const rest = details.filter((d) => d !== '').map((d) => `<br>${d}`).join('');
  return `- **${action}** ${escapeMarkdown(text)}${rest}\n`;
}

/** A server's entries, rendered lazily so a 50,000-conflict server costs only what fits the budget. */
function* serverItems(s: ServerPlan, conflicts: readonly ConflictGroup[], limit: number): Generator<string> {
  for (const d of s.defines) yield bullet('+ define', `${d.profile} (${defineLabel(d)})`, defineDetails(d));
  for (const g of s.assign) {
    const earlier = g.fromProfile === g.profile ? ' (earlier content)' : '';
    const from = g.fromUuid === null ? '' : `, from ${fromLabel(g.fromUuid, g.fromProfile)}${earlier}`;
    const why = escapeMarkdown(`${reasonLabel(g.reason)}; ${sourceLabel(g)}`);
    yield bullet(g.fromUuid === null ? '+ assign' : '~ assign', `${targetLabel(g)} to ${plural(g.serials.length, 'device')}${from}`, [why, serialList(g.serials, limit)]);
  }
  for (const g of s.remove) {
    const text = `${fromLabel(g.fromUuid, g.fromProfile)} from ${plural(g.serials.length, 'device')}`;
    yield bullet('- remove', text, [escapeMarkdown(reasonLabel(g.reason)), serialList(g.serials, limit)]);
  }
  for (const d of s.drift) {
    const change = driftChangeLabel(d);
    const now = change === null ? '' : escapeMarkdown(`now ${change}, since ${driftSinceLabel(d) ?? ''}`);
    yield bullet('! drift', `${driftKindLabel(d.kind)}: ${d.message}`, [now, escapeMarkdown(driftOutcome(d)), serialList(d.serials, limit)]);
  }
  for (const g of s.deferred) {
    const text = `until ${g.until}: ${plural(g.serials.length, 'device')} (last status ${g.lastStatus}${g.attempts ? `, ${plural(g.attempts, 'failed attempt')}` : ''})`;
    yield bullet('&gt; deferred', text, [serialList(g.serials, limit)]);
  }
  for (const g of conflicts) {
    yield bullet('? conflict', `${plural(g.serials.length, 'device')}: ${g.message}`, [serialList(g.serials, limit)]);
  }
}

/** A profile line with its key as code (Apple's keys are `[a-z0-9_]`; anything else is escaped). */
function keyLine(line: string): string {
  const m = /^([a-z][a-z0-9_]*): (.*)$/.exec(line);
  return m ? `\`${m[1]}\`: ${escapeMarkdown(m[2] ?? '')}` : escapeMarkdown(line);
}

/**
 * A define's detail lines: each changed key, and a first define's content collapsed in `<details>`, inline
 * so the bullet stays one block (GitHub renders `<details>` inside a list item).
 */
function defineDetails(d: ProfileDefine): string[] {
  const lines = defineDetailLines(d).map(keyLine);
  if (d.content !== undefined) {
    const keys = Object.keys(d.content).length;
    lines.push(`<details><summary>content (${plural(keys, 'key')})</summary>${contentLines(d.content).map(keyLine).join('<br>')}</details>`);
  }
  return lines;
}

function hasEntries(s: ServerPlan): boolean {
  return s.defines.length + s.assign.length + s.remove.length + s.drift.length + s.deferred.length + s.conflicts.length > 0;
}

function itemCount(s: ServerPlan, conflicts: readonly ConflictGroup[]): number {
  return s.defines.length + s.assign.length + s.remove.length + s.drift.length + s.deferred.length + conflicts.length;
}

function summaryOf(s: ServerPlan): string {
  const c = serverCounts(s);
  const parts = [`${formatCount(c.defines)} to define`, `${formatCount(c.assign)} to assign`, `${formatCount(c.remove)} to remove`];
  if (c.drift > 0) parts.push(plural(c.drift, 'drift finding'));
  if (c.deferred > 0) parts.push(`${formatCount(c.deferred)} deferred`);
  if (c.conflicts > 0) parts.push(plural(c.conflicts, 'conflict'));
  if (s.error !== null) parts.push('failed');
  return `<b>${escapeHtml(s.server)}</b>: ${escapeHtml(parts.join(', '))}`;
}

/** Adds one server's `<details>` block, or as much of it as fits; false when something was left out. */
function addDetails(out: Budget, s: ServerPlan, limit: number): boolean {
  const open = `<details><summary>${summaryOf(s)}</summary>\n\n`;
  const close = '\n</details>\n\n';
  const conflicts = groupConflicts(s.conflicts);
  const total = itemCount(s, conflicts);
  if (total === 0) return true;
  const note = (k: number): string => `- … ${plural(k, 'more entry', 'more entries')} left out to fit the comment size limit\n`;
  if (open.length + close.length + note(total).length > out.left) return false;
  const block = new Budget(out.left - open.length - close.length - note(total).length);
  let shown = 0;
  for (const item of serverItems(s, conflicts, limit)) {
    if (!block.add(item)) break;
    shown++;
  }
  if (shown < total) block.parts.push(note(total - shown));
  out.add(`${open}${block.parts.join('')}${close}`);
  return shown === total;
}

function tableRow(cells: string[]): string {
  return `| ${cells.join(' | ')} |\n`;
}

/** Adds rows while they fit; the last row says how many were left out. */
function addRows(out: Budget, rows: string[], leftOut: (k: number) => string): boolean {
  let i = 0;
  for (const row of rows) {
    if (out.left - row.length < TAIL_RESERVE) break;
    out.add(row);
    i++;
  }
  if (i < rows.length) out.add(leftOut(rows.length - i));
  return i === rows.length;
}

function serverRow(s: ServerPlan): string {
  const c = serverCounts(s);
  let status = '✅ in line';
  if (s.error !== null) status = `⛔ ${escapeMarkdown(cut(s.error, CELL_TEXT))}`;
  else if (s.exceedsMaxChanges) status = '⚠️ over maxChanges';
  else if (c.defines + c.assign + c.remove > 0) status = 'changes';
  else if (!serverIsQuiet(s)) status = 'findings';
  const n = [c.defines, c.assign, c.remove, c.drift, c.deferred, c.conflicts].map(formatCount);
  return tableRow([escapeMarkdown(s.server), formatCount(s.devices), ...n, status]);
}

/**
 * Renders a plan as a GitHub pull-request comment. Serial lists show the first `maxSerialsPerGroup`
 * (default 10) and "and K more"; every producer string is escaped. The result never exceeds
 * `maxLength` (default 60,000) characters.
 */
export function renderPlanMarkdown(plan: Plan, opts?: PlanMarkdownOptions): string {
  const limit = serialLimit(opts);
  const maxLength = opts?.maxLength ?? 60_000;
  if (!Number.isSafeInteger(maxLength) || maxLength < 4 * TAIL_RESERVE) throw new RangeError(`maxLength must be an integer of at least ${4 * TAIL_RESERVE}`);
  const out = new Budget(maxLength - TAIL_RESERVE);
  let complete = true;

  const large = largeServers(plan);
  const verdict = planVerdict(plan);
  // A reviewer should see before expanding anything that apply will refuse without --allow-large.
  const heading = verdict === 'changes' && large.length > 0 ? `${HEADINGS.changes} (over maxChanges)` : HEADINGS[verdict];
  out.add(`### ${heading}\n\n**${escapeMarkdown(summaryLine(plan))}**\n\n`);
  // Which Apple MDM server each token opens (GET /account); plans read back from JSON do not carry it.
  const identities = plan.servers.filter((s) => s.identity !== undefined).map((s) => escapeMarkdown(cut(identityLine(s.server, s.identity ?? null, s.problem?.reason === 'server-changed'), CALLOUT_TEXT)));
  if (identities.length > 0) complete = addRows(out, identities.map((l, i) => (i < identities.length - 1 ? `${l}<br>\n` : `${l}\n\n`)), (k) => `… ${plural(k, 'more server')}\n\n`) && complete;
  if (plan.skippedServers?.length) out.add(`left out: ${escapeMarkdown(plan.skippedServers.join(', '))} (--server)\n\n`);
  out.add(`${tableRow(['Server', 'Devices', 'Define', 'Assign', 'Remove', 'Drift', 'Deferred', 'Conflicts', 'Status'])}|---|--:|--:|--:|--:|--:|--:|--:|---|\n`);
  complete = addRows(out, plan.servers.map(serverRow), (k) => tableRow([`… ${plural(k, 'more server')}`, '', '', '', '', '', '', '', ''])) && complete;
  out.add('\n');
  // Device ownership in Apple Business/School Manager (issue 15).
  const ownership = ownershipMarkdown(plan.organizations);
  if (ownership !== '') complete = out.add(ownership) && complete;

  if (large.length > 0) {
    const text = escapeMarkdown(`${large.map(largeServerLabel).join('; ')}.`);
    complete = out.add(`> [!WARNING]\n> Apply needs \`--allow-large\`: ${text}\n\n`) && complete;
  }
  const failed = plan.servers.filter((s) => s.error !== null);
  const failedRows = failed.map((s) => `> **${escapeMarkdown(s.server)}** failed, so its changes are unknown: ${escapeMarkdown(cut(s.error ?? '', CALLOUT_TEXT))}\n>\n`);
  if (failed.length > 0 && out.add('> [!CAUTION]\n')) {
    complete = addRows(out, failedRows, (k) => `> … ${plural(k, 'more failed server')}\n`) && complete;
    out.add('\n');
  }

  // Devices Apple migrates to a server by a deadline need their profile in place before it.
  const migrating = plan.servers.filter((s) => s.migrationDeadlines);
  if (migrating.length > 0 && out.add('> [!IMPORTANT]\n')) {
    const rows = migrating.map((s) => `> **${escapeMarkdown(s.server)}**: ${escapeMarkdown(migrationLabel(s.migrationDeadlines as MigrationDeadlines))}\n>\n`);
    complete = addRows(out, rows, (k) => `> … ${plural(k, 'more server')}\n`) && complete;
    out.add('\n');
  }

  const drift = plan.servers.flatMap((s) => s.drift.map((d) => ({ s, d })));
  if (drift.length > 0 && out.add('#### Drift\n\n| Server | Finding | Now → should carry | Since | Devices | On apply |\n|---|---|---|---|--:|---|\n')) {
    const rows = drift.map(({ s, d }) =>
      tableRow([
        escapeMarkdown(s.server),
        escapeMarkdown(`${driftKindLabel(d.kind)}: ${cut(d.message, CALLOUT_TEXT)}`),
        escapeMarkdown(cut(driftChangeLabel(d) ?? '—', CALLOUT_TEXT)),
        escapeMarkdown(cut(driftSinceLabel(d) ?? '—', CELL_TEXT)),
        formatCount(d.serials.length),
        escapeMarkdown(driftOutcome(d)),
      ]),
    );
    complete = addRows(out, rows, (k) => tableRow([`… ${plural(k, 'more finding')}`, '', '', '', '', ''])) && complete;
    out.add('\n');
  }

  // A failed server with nothing else to show is fully described by its callout.
  const detailed = plan.servers.filter(hasEntries);
  if (detailed.length > 0) out.add('#### Details\n\n');
  for (let i = 0; i < detailed.length; i++) {
    const s = detailed[i] as ServerPlan;
    if (!addDetails(out, s, limit)) {
      complete = false;
      const rest = detailed.length - i - 1;
      if (rest > 0 && out.left < 2 * TAIL_RESERVE) {
        out.add(`… details of ${plural(rest, 'more server')} left out.\n\n`);
        break;
      }
    }
  }

  const tail: string[] = [];
  if (!complete) {
    tail.push('> [!NOTE]\n> Shortened to fit a pull-request comment. `depctl plan` in a terminal, or `--format json`, shows every entry.\n\n');
  }
  // Bounded, so a malformed hash cannot push the footer past the reserve.
  const meta = (s: string): string => escapeHtml(cut(shortHash(s), 80));
  const commit = plan.commit === null ? 'uncommitted' : meta(plan.commit);
  tail.push(`<sub>commit ${commit} · config ${meta(plan.configHash)} · plan ${meta(plan.planHash)} · made ${meta(plan.createdAt)}</sub>\n`);
  return out.parts.join('') + tail.join('');
}
