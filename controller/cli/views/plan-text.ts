/**
 * The terminal view of a Plan, shaped like Terraform's: one block per MDM server, one line per group of
 * devices with its count and a sample of serials, and a closing summary line. Output size depends on the
 * number of groups, never on the number of serials, so a 100,000-change plan stays a screenful per server.
 */
import type { Plan, ServerPlan } from '../../reconcile/plan.js';
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
  reasonLabel,
  sampleSerials,
  serialLimit,
  serverCounts,
  serverIsQuiet,
  shortHash,
  sourceLabel,
  summaryLine,
  targetLabel,
  type PlanViewOptions,
} from './plan-common.js';

import { identityLine } from '../../reconcile/identity.js';
import { ownershipTextLines } from './plan-ownership.js';

/** Options of renderPlanText. */
export interface PlanTextOptions extends PlanViewOptions {
  /** ANSI colours; off unless asked for, so piped or redirected output stays plain. */
  color?: boolean;
}

/** The line markers: Terraform's `+ - ~`, plus `!` for drift and errors, `>` deferred, `?` conflicts. */
type Mark = '+' | '~' | '-' | '!' | '>' | '?';

const MARK_HELP: Record<Mark, string> = {
  '+': 'define/assign',
  '~': 'move from another profile',
  '-': 'remove',
  '!': 'drift/error',
  '>': 'deferred',
  '?': 'conflict',
};

const SGR: Record<Mark | 'bold' | 'dim', string> = {
  '+': '32',
  '~': '33',
  '-': '31',
  '!': '1;31',
  '>': '36',
  '?': '35',
  bold: '1',
  dim: '2',
};

/** Lines wrap serial samples at this width so a sample of 10 fits a 100-column terminal. */
const WRAP = 100;
const ITEM = '  ';
const DETAIL = '      ';

/** Collects lines for one rendering; colour is applied here and nowhere else. */
class Lines {
  readonly out: string[] = [];
  readonly marks = new Set<Mark>();
  constructor(private readonly color: boolean) {}

  paint(kind: keyof typeof SGR, s: string): string {
    return this.color ? `\x1b[${SGR[kind]}m${s}\x1b[0m` : s;
  }

  plain(s: string): void {
    this.out.push(oneLine(s));
  }

  header(s: string): void {
    this.out.push(this.paint('bold', oneLine(s)));
  }

  item(mark: Mark, s: string): void {
    this.marks.add(mark);
    this.out.push(`${ITEM}${this.paint(mark, mark)} ${oneLine(s)}`);
  }

  detail(s: string): void {
    this.out.push(this.paint('dim', `${DETAIL}${oneLine(s)}`));
  }

  /** Serials packed into lines of at most WRAP columns, then `… and K more`. */
  serials(all: readonly string[], limit: number): void {
    const { shown, more } = sampleSerials(all, limit);
    let line = '';
    for (const serial of shown.map(oneLine)) {
      if (line !== '' && DETAIL.length + line.length + 1 + serial.length > WRAP) {
        this.detail(line);
        line = '';
      }
      line = line === '' ? serial : `${line} ${serial}`;
    }
    if (line !== '') this.detail(line);
    if (more > 0) this.detail(`… and ${formatCount(more)} more`);
  }
}

function renderServer(s: ServerPlan, out: Lines, limit: number): void {
  const c = serverCounts(s);
  const name = `Server ${s.server}`;
  if (s.error !== null) {
    out.header(`${name}: failed, no changes planned`);
    out.item('!', `error: ${s.error}`);
  } else if (serverIsQuiet(s)) {
    out.header(`${name}: ${plural(s.devices, 'device')}, all as configured`);
    if (s.migrationDeadlines) out.detail(migrationLabel(s.migrationDeadlines));
    return;
  } else {
    const max = s.maxChanges === null ? '' : ` (maxChanges ${formatCount(s.maxChanges)})`;
    out.header(`${name}: ${plural(s.devices, 'device')}, ${formatCount(s.unchanged)} unchanged, ${plural(s.changeCount, 'change')}${max}`);
  }
  if (s.exceedsMaxChanges) out.item('!', `${largeServerLabel(s)}: apply needs --allow-large`);
  if (s.migrationDeadlines) out.detail(migrationLabel(s.migrationDeadlines));

  for (const d of s.defines) {
    out.item('+', `define profile ${d.profile} (${defineLabel(d)})`);
    for (const line of defineDetailLines(d)) out.detail(line);
    if (d.content !== undefined) for (const line of contentLines(d.content)) out.detail(line);
  }
  for (const g of s.assign) {
    const earlier = g.fromProfile === g.profile ? ' (earlier content)' : '';
    const from = g.fromUuid === null ? '' : `, from ${fromLabel(g.fromUuid, g.fromProfile)}${earlier}`;
    out.item(g.fromUuid === null ? '+' : '~', `assign ${targetLabel(g)} to ${plural(g.serials.length, 'device')}${from}`);
    out.detail(`${reasonLabel(g.reason)}; ${sourceLabel(g)}`);
    out.serials(g.serials, limit);
  }
  for (const g of s.remove) {
    out.item('-', `remove ${fromLabel(g.fromUuid, g.fromProfile)} from ${plural(g.serials.length, 'device')}`);
    out.detail(reasonLabel(g.reason));
    out.serials(g.serials, limit);
  }
  for (const d of s.drift) {
    const devices = d.serials.length > 0 ? ` (${plural(d.serials.length, 'device')})` : '';
    out.item('!', `drift, ${driftKindLabel(d.kind)}${devices}: ${d.message}`);
    const change = driftChangeLabel(d);
    if (change !== null) out.detail(`now ${change}, since ${driftSinceLabel(d) ?? ''}`);
    out.detail(driftOutcome(d));
    out.serials(d.serials, limit);
  }
  for (const g of s.deferred) {
    out.item('>', `deferred until ${g.until}: ${plural(g.serials.length, 'device')} (last status ${g.lastStatus}${g.attempts ? `, ${plural(g.attempts, 'failed attempt')}` : ''})`);
    out.serials(g.serials, limit);
  }
  renderConflicts(s, out, limit, c.conflicts);
}

/** Conflicts grouped by message; at most `limit` messages, since each may name its own serial. */
function renderConflicts(s: ServerPlan, out: Lines, limit: number, total: number): void {
  if (total === 0) return;
  const groups = groupConflicts(s.conflicts);
  const shownGroups = groups.slice(0, Math.max(limit, 1));
  for (const g of shownGroups) {
    out.item('?', `conflict on ${plural(g.serials.length, 'device')}: ${g.message}`);
    out.serials(g.serials, limit);
  }
  const rest = groups.slice(shownGroups.length).reduce((n, g) => n + g.serials.length, 0);
  if (rest > 0) out.item('?', `… and ${plural(rest, 'more conflict')} (${plural(groups.length - shownGroups.length, 'other message')})`);
}

/**
 * Renders a plan for a terminal: a header, one block per server (errors, the --allow-large guardrail,
 * defines, assign/remove groups, drift, deferred serials, conflicts), a legend of the markers used and
 * the summary line. ANSI colour only when `opts.color` is true. The result ends with a newline.
 */
export function renderPlanText(plan: Plan, opts?: PlanTextOptions): string {
  const limit = serialLimit(opts);
  const body = new Lines(opts?.color === true);
  for (const s of plan.servers) {
    renderServer(s, body, limit);
    body.out.push('');
  }

  const top = new Lines(opts?.color === true);
  const commit = plan.commit === null ? 'an uncommitted configuration' : `commit ${shortHash(plan.commit)}`;
  top.plain(`depctl plan for ${commit} (config ${shortHash(plan.configHash)}, plan ${shortHash(plan.planHash)}), made ${plan.createdAt}`);
  // Which Apple MDM server each token opens (GET /account); plans read back from JSON do not carry it.
  for (const s of plan.servers) if (s.identity !== undefined) top.plain(identityLine(s.server, s.identity, s.problem?.reason === 'server-changed'));
  if (plan.skippedServers?.length) top.plain(`left out: ${plan.skippedServers.join(', ')} (--server)`);
  top.plain('');
  if (body.marks.size > 0) {
    const legend = (Object.keys(MARK_HELP) as Mark[]).filter((m) => body.marks.has(m)).map((m) => `${top.paint(m, m)} ${MARK_HELP[m]}`);
    top.out.push(`Markers: ${legend.join(', ')}`);
    top.out.push('');
  }

  // Device ownership in Apple Business/School Manager (issue 15): applied before the DEP servers.
  top.out.push(...ownershipTextLines(plan.organizations, limit));

  const tail = new Lines(opts?.color === true);
  tail.header(summaryLine(plan));
  const large = largeServers(plan);
  if (large.length > 0) tail.plain(`Apply needs --allow-large: ${large.map(largeServerLabel).join('; ')}.`);
  return `${[...top.out, ...body.out, ...tail.out].join('\n')}\n`;
}
