/**
 * The ownership part of a plan (issue 15) in the human views and the JSON view: per Organization, the moves
 * ("Organization acme: move 1500 devices paris → lyon"), first assignments, activities in progress, unclaimed
 * devices, drift, problems and the maxChanges guardrail.
 */
import type { OrganizationPlan, OwnershipMove, OwnershipServerChange, OwnershipUnassign } from '../../ownership/plan.js';

const MANAGER = { business: 'Apple Business Manager', school: 'Apple School Manager' } as const;

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

function fromLabel(m: OwnershipMove): string {
  if (m.from === null) return '(no server)';
  return m.from.server ?? `"${m.from.abmServerName}"`;
}

function serialList(serials: readonly string[], limit: number): string {
  if (limit <= 0) return '';
  const shown = serials.slice(0, limit).join(', ');
  return serials.length > limit ? ` (${shown}, … ${serials.length - limit} more)` : ` (${shown})`;
}

function where(p: { source?: { file: string; line: number; column: number } }): string {
  return p.source ? `${p.source.file}:${p.source.line}:${p.source.column}: ` : '';
}

/** Text lines for every organization (empty when there is none); `limit` serials are shown per group. */
export function ownershipTextLines(plans: readonly OrganizationPlan[] | undefined, limit: number): string[] {
  const out: string[] = [];
  for (const p of plans ?? []) {
    const head = `Organization ${p.organization}`;
    if (p.error !== null) {
      out.push(`${head}: error: ${p.error}`, '');
      continue;
    }
    const serverChanges = p.serverChanges ?? [];
    const total = p.changeCount + serverChanges.length;
    out.push(`${head} (${MANAGER[p.scope]}, ${plural(p.devices, 'device')}): ${total === 0 ? 'no changes' : plural(total, 'change')}`);
    for (const c of serverChanges) out.push(serverChangeLine(p, c));
    for (const m of p.moves) out.push(`${head}: move ${plural(m.serials.length, 'device')} ${fromLabel(m)} → ${m.to.server}${serialList(m.serials, limit)}`);
    for (const m of p.assigns) out.push(`${head}: assign ${plural(m.serials.length, 'device')} ${fromLabel(m)} → ${m.to.server}${serialList(m.serials, limit)}`);
    for (const u of p.unassigns ?? []) out.push(`${head}: unassign ${plural(u.serials.length, 'device')} no server claims from ${u.from.server}${serialList(u.serials, limit)}`);
    for (const a of p.inProgress) {
      out.push(`  in progress: activity ${a.activityId} → ${a.server}, ${plural(a.devices, 'device')} (${a.status}${a.subStatus ? `/${a.subStatus}` : ''}, created ${a.createdAt})`);
    }
    if (p.unclaimed !== null) out.push(`  unclaimed: ${plural(p.unclaimed.count, 'device')} no server claims${serialList(p.unclaimed.sample, Math.min(limit, p.unclaimed.sample.length))}${p.unassigns !== undefined ? ' (unassigned from the servers declared here; others left alone)' : ''}`);
    if (p.drift.length > 0) {
      const what = p.driftPolicy === 'report' ? 'reported only (driftPolicy: report)' : 'moved back on apply';
      out.push(`  drift: ${plural(p.drift.length, 'device')} depctl moved ${p.drift.length === 1 ? 'is' : 'are'} on another server now, ${what}${serialList(p.drift.map((d) => `${d.serial} on ${d.actual ?? 'no server'}, declared ${d.expected}`), limit)}`);
    }
    if ((p.undeclaredServers?.length ?? 0) > 0) {
      out.push(`  drift: ${plural(p.undeclaredServers?.length ?? 0, 'MDM server')} no MdmServer declares (reported, never deleted): ${(p.undeclaredServers ?? []).map((x) => `"${x.serverName}" (${x.id})`).join(', ')}`);
    }
    for (const pr of p.problems) out.push(`  ${pr.severity}: ${where(pr)}${pr.message}`);
    if (p.exceedsMaxChanges) out.push(`  Apply needs --allow-large: ${p.changeCount} changes exceed maxChanges (${p.maxChanges ?? 0}).`);
    out.push('');
  }
  return out;
}

/** The admin's step after a create: the portal's menu path, and where depctl reads the token. */
export const TOKEN_DOWNLOAD_STEP = 'Preferences > your MDM server > Download Token';

/** One line per server change: `create MDM server "Lyon Macs" (enableMdmDisownFlag false)`, `rename "Old" → "New"`. */
export function serverChangeLine(p: Pick<OrganizationPlan, 'organization' | 'scope'>, c: OwnershipServerChange): string {
  const head = `Organization ${p.organization}`;
  if (c.action === 'create') {
    const flag = c.changes.find((x) => x.field === 'enableMdmDisownFlag');
    return `${head}: create MDM server "${c.abmServerName}" for ${c.server}${flag ? ` (enableMdmDisownFlag ${String(flag.after)})` : ''}; then download its token once in ${MANAGER[p.scope]} (${TOKEN_DOWNLOAD_STEP}) and put it where spec.token points${c.token ? ` (${c.token})` : ''}`;
  }
  const what = c.changes.map((x) => (x.field === 'serverName' ? `rename "${String(x.before)}" → "${String(x.after)}"` : `enableMdmDisownFlag ${String(x.before)} → ${String(x.after)}`));
  return `${head}: update MDM server ${c.server} (${c.id ?? ''}): ${what.join(', ')}`;
}

function cell(s: string): string {
  return s.replace(/[|\\`*_<>[\]]/g, (c) => `\\${c}`);
}

/** Markdown for every organization (empty string when there is none). */
export function ownershipMarkdown(plans: readonly OrganizationPlan[] | undefined): string {
  if (!plans || plans.length === 0) return '';
  const rows = ['| Organization | Devices | Moves | First assignments | In progress | Unclaimed | Drift | Status |', '|---|--:|--:|--:|--:|--:|--:|---|'];
  const lines: string[] = [];
  for (const p of plans) {
    const moves = p.moves.reduce((n, m) => n + m.serials.length, 0);
    const assigns = p.assigns.reduce((n, m) => n + m.serials.length, 0);
    const inProgress = p.inProgress.reduce((n, a) => n + a.devices, 0);
    const status = p.error !== null ? 'error' : p.exceedsMaxChanges ? 'over maxChanges' : p.problems.some((x) => x.severity === 'error') ? 'problems' : p.changeCount > 0 ? 'changes' : 'in place';
    rows.push(`| ${cell(p.organization)} | ${p.devices} | ${moves} | ${assigns} | ${inProgress} | ${p.unclaimed?.count ?? ''} | ${p.drift.length} | ${status} |`);
    for (const c of p.serverChanges ?? []) lines.push(`- ${cell(serverChangeLine(p, c))}`);
    if ((p.undeclaredServers?.length ?? 0) > 0) lines.push(`- ${cell(`Organization ${p.organization}: MDM servers no MdmServer declares (never deleted): ${(p.undeclaredServers ?? []).map((x) => `"${x.serverName}"`).join(', ')}`)}`);
    for (const m of [...p.moves, ...p.assigns]) lines.push(`- ${cell(`Organization ${p.organization}: ${m.from === null ? 'assign' : 'move'} ${plural(m.serials.length, 'device')} ${fromLabel(m)} → ${m.to.server}`)}`);
    for (const u of p.unassigns ?? []) lines.push(`- ${cell(`Organization ${p.organization}: unassign ${plural(u.serials.length, 'device')} no server claims from ${u.from.server}`)}`);
    if (p.error !== null) lines.push(`- ${cell(`Organization ${p.organization}: error: ${p.error}`)}`);
    for (const pr of p.problems) lines.push(`- ${cell(`${pr.severity}: ${where(pr)}${pr.message}`)}`);
    if (p.exceedsMaxChanges) lines.push(`- ${cell(`Apply needs --allow-large: ${p.changeCount} changes exceed maxChanges (${p.maxChanges ?? 0}) on organization ${p.organization}.`)}`);
  }
  return `#### Device ownership (Apple Business API)\n\n${rows.join('\n')}\n\n${lines.length > 0 ? `${lines.join('\n')}\n\n` : ''}`;
}

function unassign(u: OwnershipUnassign): OwnershipUnassign {
  return { from: { server: u.from.server, abmServerName: u.from.abmServerName, id: u.from.id }, serials: u.serials };
}

function move(m: OwnershipMove): OwnershipMove {
  const from = m.from === null ? null : { id: m.from.id, abmServerName: m.from.abmServerName, ...(m.from.server !== undefined ? { server: m.from.server } : {}) };
  return { from, to: { server: m.to.server, abmServerName: m.to.abmServerName, id: m.to.id }, serials: m.serials };
}

/** One organization's plan in schema order (schemas/plan.schema.json#/$defs/organizationPlan). */
export function organizationPlanJson(p: OrganizationPlan): OrganizationPlan {
  return {
    organization: p.organization,
    scope: p.scope,
    moves: p.moves.map(move),
    assigns: p.assigns.map(move),
    ...(p.unassigns !== undefined ? { unassigns: p.unassigns.map(unassign) } : {}),
    changeCount: p.changeCount,
    maxChanges: p.maxChanges,
    exceedsMaxChanges: p.exceedsMaxChanges,
    inProgress: p.inProgress.map((a) => ({ activityId: a.activityId, server: a.server, devices: a.devices, status: a.status, subStatus: a.subStatus, createdAt: a.createdAt })),
    unclaimed: p.unclaimed === null ? null : { count: p.unclaimed.count, sample: [...p.unclaimed.sample] },
    drift: p.drift.map((d) => ({ serial: d.serial, expected: d.expected, actual: d.actual })),
    driftPolicy: p.driftPolicy,
    problems: p.problems.map((x) => ({ severity: x.severity, code: x.code, message: x.message, ...(x.source ? { source: { file: x.source.file, line: x.source.line, column: x.source.column } } : {}) })),
    error: p.error,
    devices: p.devices,
    ...(p.serverChanges !== undefined
      ? { serverChanges: p.serverChanges.map((c) => ({ action: c.action, server: c.server, abmServerName: c.abmServerName, id: c.id, changes: c.changes.map((x) => ({ field: x.field, before: x.before, after: x.after })), ...(c.token !== undefined ? { token: c.token } : {}) })) }
      : {}),
    ...(p.undeclaredServers !== undefined ? { undeclaredServers: p.undeclaredServers.map((x) => ({ id: x.id, serverName: x.serverName })) } : {}),
  };
}
