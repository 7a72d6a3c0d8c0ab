/**
 * Wording shared by the human plan views (text and markdown): counts, labels for reasons and drift,
 * serial samples and the one-line verdict. The JSON view shares nothing but the Plan type (STYLE rule 7).
 */
import type {
  AssignGroup, ChangeReason, Conflict, DriftItem, DriftKind, DriftProfile, MigrationDeadlines, Plan, ProfileChange, ProfileDefine, ProfileValue, ServerPlan,
} from '../../reconcile/plan.js';
import { hasChanges, ownershipChangeCount } from '../../reconcile/plan.js';

/** Output formats of `depctl plan --format`. */
export const PLAN_FORMATS = ['text', 'json', 'markdown'] as const;
/** One of PLAN_FORMATS. */
export type PlanFormat = (typeof PLAN_FORMATS)[number];

/** How many serials a group shows before "… and K more", unless the caller says otherwise. */
export const DEFAULT_MAX_SERIALS_PER_GROUP = 10;

/** Options shared by the human views. */
export interface PlanViewOptions {
  /** Serials shown per group before "and K more" (default 10; 0 shows counts only). */
  maxSerialsPerGroup?: number;
}

const numberFormat = new Intl.NumberFormat('en-US');

/** `1234` → `1,234`, so a 100,000-device plan reads at a glance. */
export function formatCount(n: number): string {
  return numberFormat.format(n);
}

/** `3 devices`, `1 device`; `many` defaults to `one` + "s". */
export function plural(n: number, one: string, many = `${one}s`): string {
  return `${formatCount(n)} ${n === 1 ? one : many}`;
}

/** Reads and checks maxSerialsPerGroup: a negative or fractional count is a caller bug, not a display choice. */
export function serialLimit(opts: PlanViewOptions | undefined): number {
  const n = opts?.maxSerialsPerGroup ?? DEFAULT_MAX_SERIALS_PER_GROUP;
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`maxSerialsPerGroup must be a non-negative integer, got ${n}`);
  return n;
}

/** The first `limit` serials and how many are left out. Slices, so a 100,000-serial group costs nothing. */
export function sampleSerials(serials: readonly string[], limit: number): { shown: string[]; more: number } {
  const shown = serials.slice(0, limit);
  return { shown, more: serials.length - shown.length };
}

/**
 * Makes a producer-supplied string safe to print on one line: control characters (ANSI escapes in an
 * error body relayed from a proxy, CR/LF) would otherwise rewrite the terminal or break a markdown row.
 */
export function oneLine(s: string): string {
  return s
    .replace(/\r\n|[\r\n\u2028\u2029]/g, ' ')
    // eslint-disable-next-line no-control-regex -- matching control characters is the point
    .replace(/[\u0000-\u001f\u007f-\u009f]/g, '\uFFFD')
    .trim();
}

/** Shortens a long hex hash (optionally `algo:`-prefixed) to 12 digits for display; JSON keeps it whole. */
export function shortHash(h: string): string {
  const m = /^([a-z0-9-]+:)?([0-9a-fA-F]{13,})$/.exec(h);
  return m ? `${m[1] ?? ''}${(m[2] ?? '').slice(0, 12)}` : h;
}

const REASONS: Record<ChangeReason, string> = {
  unassigned: 'no profile yet',
  'different-profile': 'carries another profile',
  'content-changed': 'profile content changed, so its devices move to the new UUID',
  drift: 'profile changed outside depctl',
  'unassigned-remove': 'named by no assignment (unassignedDevices: remove)',
  'profile-gone': 'Apple no longer knows the profile it carries',
  arrived: 'arrived on this server',
};

/** Why a group of devices changes, in words. */
export function reasonLabel(reason: ChangeReason): string {
  return REASONS[reason];
}

/** Which rule decided an assign group. */
export function sourceLabel(g: Pick<AssignGroup, 'source' | 'assignment'>): string {
  const by = g.assignment === null ? '' : ` of assignment ${g.assignment}`;
  if (g.source === 'serial') return g.assignment === null ? 'serial listed' : `listed by assignment ${g.assignment}`;
  if (g.source === 'match') return `match rule${by}`;
  return 'server defaultProfile';
}

/**
 * The profile a group of devices carries now: its name when depctl defined it, else its bare UUID
 * (the JSON view keeps every UUID; the human views name what a person recognises).
 */
export function fromLabel(fromUuid: string | null, fromProfile: string | null): string {
  if (fromUuid === null) return 'no profile';
  return fromProfile === null ? `foreign profile ${fromUuid}` : fromProfile;
}

/** The target of an assign group; a null UUID means this plan defines it first. */
export function targetLabel(g: Pick<AssignGroup, 'profile' | 'profileUuid'>): string {
  return g.profileUuid === null ? `${g.profile} (defined by this plan)` : g.profile;
}

/** Why a profile is defined, with its device count. */
export function defineLabel(d: ProfileDefine): string {
  const devices = `for ${plural(d.devices, 'device')}`;
  if (d.reason === 'new') return `new, ${devices}`;
  const earlier = d.previousUuids.length > 0 ? `, replaces ${d.previousUuids.join(', ')}` : '';
  if (d.reason === 'changed') return `content changed${earlier}, ${devices}`;
  return `Apple no longer knows the earlier UUID${earlier}, ${devices}`;
}

/** Longest profile value the human views show; the JSON view keeps every value whole. */
export const PROFILE_VALUE_TEXT = 60;

function shorten(s: string, max: number): string {
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

/**
 * A profile value on one line: strings quoted, booleans and numbers bare, lists in brackets, `(not set)` for
 * a key that is not set and has no Apple default; cut to `max` characters with `…`.
 */
export function profileValueLabel(v: ProfileValue | null, max = PROFILE_VALUE_TEXT): string {
  if (v === null) return '(not set)';
  return shorten(oneLine(JSON.stringify(v)), max);
}

/**
 * One changed key: `is_mdm_removable: false → true`, or for a set-valued key the items it gains and loses:
 * `skip_setup_items: added Location, Siri; removed AppleID`.
 */
export function profileChangeLabel(c: ProfileChange, max = PROFILE_VALUE_TEXT): string {
  if (c.added === undefined && c.removed === undefined) return `${c.key}: ${profileValueLabel(c.before, max)} → ${profileValueLabel(c.after, max)}`;
  const items = (xs: readonly string[]): string => xs.map((x) => shorten(oneLine(x), max)).join(', ');
  const parts: string[] = [];
  if (c.added && c.added.length > 0) parts.push(`added ${items(c.added)}`);
  if (c.removed && c.removed.length > 0) parts.push(`removed ${items(c.removed)}`);
  return `${c.key}: ${parts.join('; ')}`;
}

/** What a define says about its content: each changed key, or for a first define each key and its value. */
export function defineDetailLines(d: ProfileDefine, max = PROFILE_VALUE_TEXT): string[] {
  const lines: string[] = [];
  if (d.changes !== undefined) {
    // With several earlier contents, name the one the changes are counted from.
    if (d.changesFrom !== undefined && d.previousUuids.length > 1) lines.push(`changes from ${d.changesFrom}:`);
    lines.push(...d.changes.map((c) => profileChangeLabel(c, max)));
  }
  return lines;
}

/** A first define's content, one `key: value` per line, values cut to `max` characters. */
export function contentLines(content: Readonly<Record<string, ProfileValue>>, max = PROFILE_VALUE_TEXT): string[] {
  return Object.keys(content)
    .sort()
    .map((k) => `${k}: ${profileValueLabel(content[k] ?? null, max)}`);
}

const DRIFT_KINDS: Record<DriftKind, string> = {
  'profile-changed': 'profile changed outside depctl',
  'serials-not-seen': 'serials the server does not see',
  'token-expiry': 'token expiry',
  'profile-gone': 'profile UUID Apple no longer knows',
  'foreign-profile': 'profile depctl did not define',
  'not-accessible': 'not accessible to this server',
};

/** A drift kind in words. */
export function driftKindLabel(kind: DriftKind): string {
  return DRIFT_KINDS[kind];
}

/** Kinds that apply could correct; for these, `corrected: false` means the server's driftPolicy is `report`. */
const CORRECTABLE: ReadonlySet<DriftKind> = new Set(['profile-changed', 'profile-gone', 'foreign-profile']);

/** What apply does about a drift finding. */
export function driftOutcome(d: Pick<DriftItem, 'kind' | 'corrected'>): string {
  if (d.corrected) return 'apply corrects it';
  if (d.kind === 'not-accessible') return 'left alone until Apple shows them on this server again (a sync event or an arrival)';
  return CORRECTABLE.has(d.kind) ? 'reported only (driftPolicy: report)' : 'reported only; apply cannot fix it';
}

/**
 * What drifted devices carry now: a depctl profile by name, a foreign one by Apple's name and UUID (or the
 * bare UUID when Apple's name is unknown), or no profile.
 */
export function driftCurrentLabel(current: DriftProfile): string {
  if (current.uuid === null) return 'no profile';
  if (current.profile !== null) return current.profile;
  if (current.name !== null) return `"${current.name}" (foreign profile ${current.uuid})`;
  return `foreign profile ${current.uuid}`;
}

/** `"Other MDM" (foreign profile <its UUID>) → staff-macs` for device drift; null for other findings. */
export function driftChangeLabel(d: Pick<DriftItem, 'current' | 'desired'>): string | null {
  if (d.current === undefined) return null;
  return `${driftCurrentLabel(d.current)} → ${d.desired ?? 'no profile'}`;
}

/**
 * Devices with an MDM migration deadline, in words: `MDM migration: 3 devices must enroll with this server by
 * their deadline, the earliest 2026-12-01T00:00:00Z; 2 of them change in this plan`.
 */
export function migrationLabel(m: MigrationDeadlines): string {
  const planned = m.planned === 0 ? 'none of them changes in this plan' : `${formatCount(m.planned)} of them change in this plan`;
  return `MDM migration: ${plural(m.devices, 'device')} must enroll with this server by their deadline, the earliest ${m.earliest}; ${planned}`;
}

/** Since when device drift has been there, as Apple dates it; null for other findings. */
export function driftSinceLabel(d: Pick<DriftItem, 'current' | 'since'>): string | null {
  if (d.current === undefined) return null;
  return d.since ?? 'unknown (Apple gave no time)';
}

/** Per-server counts, the same arithmetic as `summarise` in reconcile/plan.ts. */
export interface ServerCounts {
  defines: number;
  assign: number;
  remove: number;
  drift: number;
  deferred: number;
  conflicts: number;
}

/** Counts one server's changes and findings. */
export function serverCounts(s: ServerPlan): ServerCounts {
  const serials = (groups: readonly { serials: readonly string[] }[]): number => groups.reduce((n, g) => n + g.serials.length, 0);
  return {
    defines: s.defines.length,
    assign: serials(s.assign),
    remove: serials(s.remove),
    drift: s.drift.length,
    deferred: serials(s.deferred),
    conflicts: s.conflicts.length,
  };
}

/** True when a server has nothing to show beyond its header. */
export function serverIsQuiet(s: ServerPlan): boolean {
  const c = serverCounts(s);
  return s.error === null && !s.exceedsMaxChanges && c.defines + c.assign + c.remove + c.drift + c.deferred + c.conflicts === 0;
}

/** Conflicts that share a message, so 10,000 devices hit by the same two rules read as one line. */
export interface ConflictGroup {
  message: string;
  serials: string[];
}

/** Groups conflicts by message, in order of first appearance. */
export function groupConflicts(conflicts: readonly Conflict[]): ConflictGroup[] {
  const byMessage = new Map<string, string[]>();
  for (const c of conflicts) {
    const list = byMessage.get(c.message);
    if (list) list.push(c.serial);
    else byMessage.set(c.message, [c.serial]);
  }
  return [...byMessage].map(([message, serials]) => ({ message, serials }));
}

/** Names of servers that failed, at most `limit`, then "and K more". */
function failedNames(plan: Plan, limit = 3): string {
  const names = plan.servers.filter((s) => s.error !== null).map((s) => oneLine(s.server));
  const more = names.length - limit;
  return more > 0 ? `${names.slice(0, limit).join(', ')} and ${formatCount(more)} more` : names.join(', ');
}

/** The overall verdict: nothing to do and nothing to report, something to report only, changes, or failures. */
export type PlanVerdict = 'in-line' | 'no-changes' | 'changes' | 'errors';

/** Classifies a plan; `errors` wins, because a failed server may hide changes. */
export function planVerdict(plan: Plan): PlanVerdict {
  const s = plan.summary;
  if (s.errors > 0 || (plan.organizations ?? []).some((o) => o.error !== null)) return 'errors';
  if (hasChanges(plan) || ownershipChangeCount(plan) > 0) return 'changes';
  return s.drift + s.deferred + s.conflicts === 0 ? 'in-line' : 'no-changes';
}

/**
 * The closing line: `Plan: 1 profile to define, 1,234 devices to assign, 0 to remove; 2 drift findings;
 * 3 deferred.` or `No changes. Apple is in line with the configuration.` Failed servers are named,
 * because "no changes" for a server that could not be observed would be a false all-clear.
 */
export function summaryLine(plan: Plan): string {
  const s = plan.summary;
  const extras: string[] = [];
  const changes = hasChanges(plan);
  if (changes || s.drift > 0) extras.push(plural(s.drift, 'drift finding'));
  if (changes || s.deferred > 0) extras.push(`${formatCount(s.deferred)} deferred`);
  if (s.conflicts > 0) extras.push(plural(s.conflicts, 'conflict'));
  if (s.errors > 0) extras.push(`${plural(s.errors, 'server')} failed (${failedNames(plan)})`);
  // Device ownership (issue 15): moves between MDM servers in Apple Business/School Manager, and organizations
  // that could not be planned (their moves are unknown, so no all-clear).
  const failedOrgs = (plan.organizations ?? []).filter((o) => o.error !== null).map((o) => o.organization);
  if (failedOrgs.length > 0) extras.push(`${plural(failedOrgs.length, 'organization')} failed (${failedOrgs.join(', ')})`);
  const serverChanges = (plan.organizations ?? []).reduce((n, o) => n + (o.serverChanges?.length ?? 0), 0);
  const moves = ownershipChangeCount(plan) - serverChanges;
  if (moves + serverChanges > 0) {
    const servers = serverChanges > 0 ? `, ${plural(serverChanges, 'MDM server')} to create or update` : '';
    const head = `Plan: ${plural(moves, 'device')} to move between MDM servers in Apple Business/School Manager${servers}`;
    const dep = changes ? `${plural(s.defines, 'profile')} to define, ${plural(s.assign, 'device')} to assign, ${formatCount(s.remove)} to remove` : 'no DEP changes';
    return `${[head, dep, ...extras].join('; ')}.`;
  }
  if (changes) {
    const head = `Plan: ${plural(s.defines, 'profile')} to define, ${plural(s.assign, 'device')} to assign, ${formatCount(s.remove)} to remove`;
    return `${[head, ...extras].join('; ')}.`;
  }
  if (extras.length === 0) return 'No changes. Apple is in line with the configuration.';
  // "No changes." alone would read as an all-clear while a failed server's changes are unknown.
  return s.errors > 0 ? `No changes planned; ${extras.join('; ')}.` : `No changes. ${extras.join('; ')}.`;
}

/** Servers whose plan is larger than their maxChanges guardrail. */
export function largeServers(plan: Plan): ServerPlan[] {
  return plan.servers.filter((s) => s.exceedsMaxChanges);
}

/** `paris plans 1,500 changes, over its maxChanges of 1,000` for the --allow-large notice. */
export function largeServerLabel(s: ServerPlan): string {
  const max = s.maxChanges === null ? '' : `, over its maxChanges of ${formatCount(s.maxChanges)}`;
  return `${oneLine(s.server)} plans ${plural(s.changeCount, 'change')}${max}`;
}
