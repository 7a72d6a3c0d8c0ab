import type { EnrollmentProfile } from '../config/types.js';
import { decide, type ServerRules } from './desired.js';
import type {
  AssignGroup, ChangeReason, Conflict, DeferredGroup, DriftItem, DriftKind, DriftProfile, MigrationDeadlines, ProfileDefine, RemoveGroup, ServerPlan,
} from './plan.js';

/**
 * The fields of Apple's record the differ reads (match rules, the profile a device carries and since when, the
 * sync's `op_type`, the migration deadline). A store may hand the differ a device holding only these
 * (PlanStore.iterateDiffDevices), so the differ must read no other field: the type keeps it to them. A null
 * value counts as absent everywhere (Apple's schema has strings; a record stored with null reads the same
 * whether it comes whole or reduced to these fields).
 */
export interface DiffDevice {
  serial_number: string;
  device_family?: string;
  os?: string;
  model?: string;
  description?: string;
  color?: string;
  profile_uuid?: string;
  profile_status?: string;
  profile_assign_time?: string;
  op_date?: string;
  op_type?: string;
  mdm_migration_deadline?: string;
}

/** A device as the reconcile engine needs it (the store's DeviceRecord has this shape). */
export interface ObservedDevice {
  serial: string;
  device: DiffDevice;
  desiredProfile: string | null;
  lastResult: { status: string; at: Date; appleStatus: string | null } | null;
  retryNotBefore: Date | null;
  /**
   * When the device arrived on this server and no apply has succeeded for it since (DeviceRecord.arrivedAt);
   * null or absent when it never left, or on a server's first contact.
   */
  arrivedAt?: Date | null;
  /** When Apple's record was last stored (DeviceRecord.observedAt); absent on first contact. */
  observedAt?: Date;
  /** Consecutive failed attempts recorded by apply (DeviceRecord.attempts); absent on first contact. */
  attempts?: number;
}

/** A profile content depctl defined (or is defining) on a server (the store's ProfileRecord has this shape). */
export interface KnownProfile {
  name: string;
  contentHash: string;
  state: 'defining' | 'defined';
  uuid: string | null;
}

/** What the differ needs besides the devices. */
export interface DiffInput {
  rules: ServerRules;
  /** The configured profiles defined on this server, with their content hashes. */
  profiles: ReadonlyMap<string, { profile: EnrollmentProfile; contentHash: string }>;
  known: readonly KnownProfile[];
  now: Date;
  /** `--retry-failed`: take FAILED serials now instead of at their retry time (THROTTLED still waits for Apple). */
  retryFailed?: boolean;
  /** How many serials of devices not as desired `pending()` gives at most (0 when absent: none). */
  pendingMax?: number;
}

/** Apple's profile_status values under which a device really carries its profile_uuid. */
const CARRIES_PROFILE = new Set(['assigned', 'pushed']);

/** The UUID a device carries now, or null. */
export function currentProfileUuid(device: Pick<DiffDevice, 'profile_uuid' | 'profile_status'>): string | null {
  if (!device.profile_uuid) return null;
  return CARRIES_PROFILE.has(device.profile_status ?? '') ? device.profile_uuid : null;
}

/** Device drift: what a group of devices carries now, what it should carry, and since when. */
export type DeviceDrift = Pick<DriftItem, 'kind' | 'serials' | 'corrected'> & { current: DriftProfile; desired: string | null; since: string | null };

/** A device drift group while the differ collects it (`since` in epoch milliseconds). */
interface DriftGroup {
  kind: Extract<DriftKind, 'profile-changed' | 'foreign-profile'>;
  current: DriftProfile;
  desired: string | null;
  since: number | null;
  serials: string[];
}

/** Order of device drift kinds in a plan. */
const DRIFT_ORDER = { 'profile-changed': 0, 'foreign-profile': 1 } as const;

/**
 * When a device's change happened, per Apple: the `profile_assign_time` of the profile it carries, else the
 * sync's `op_date`. A device that carries no profile has only `op_date`: its `profile_assign_time` (kept
 * after a removal) dates the profile it lost, not the change. Null when Apple gave neither (or garbage).
 */
function changeTime(device: DiffDevice, current: string | null): number | null {
  const at = current !== null ? (device.profile_assign_time ?? device.op_date) : device.op_date;
  const ms = typeof at === 'string' ? Date.parse(at) : Number.NaN;
  return Number.isNaN(ms) ? null : ms;
}

/** Apple's timestamp form: ISO 8601 UTC with whole seconds. */
function isoSeconds(ms: number): string {
  return new Date(ms).toISOString().replace(/\.000Z$/, 'Z');
}

/** A UUID shortened for a sentence; the plan's `current.uuid` keeps it whole. */
function shortUuid(uuid: string): string {
  return uuid.length > 8 ? `${uuid.slice(0, 8)}…` : uuid;
}

/** What devices carry, in words: a depctl profile, a foreign one (named by Apple when known), or none. */
function carriedLabel(current: DriftProfile): string {
  if (current.uuid === null) return 'no profile';
  if (current.profile !== null) return `"${current.profile}"`;
  if (current.name !== null) return `"${current.name}" (foreign UUID ${shortUuid(current.uuid)}, not defined by depctl)`;
  return `foreign profile ${shortUuid(current.uuid)} (not defined by depctl)`;
}

/**
 * The sentence of a device drift finding, e.g. `3 device(s) now carry "Other MDM Profile" (foreign UUID
 * 1A2B3C4D…, not defined by depctl) instead of "staff-macs", since 2026-11-30; apply reassigns them`.
 * Exported so the planner can say it again once it has looked up a foreign profile's name.
 */
export function deviceDriftMessage(d: DeviceDrift): string {
  const verb = d.kind === 'profile-changed' ? 'now carry' : 'carry';
  const desired = d.desired === null ? 'no profile' : `"${d.desired}"`;
  const since = d.since === null ? '' : `, since ${d.since.slice(0, 10)}`;
  let outcome = d.desired === null ? 'apply removes their profile' : 'apply reassigns them';
  if (!d.corrected) outcome = 'driftPolicy is "report": apply leaves them';
  return `${d.serials.length} device(s) ${verb} ${carriedLabel(d.current)} instead of ${desired}${since}; ${outcome}`;
}

/**
 * Whether a device's last result is NOT_ACCESSIBLE and Apple has not shown it on this server since: no arrival
 * and no sync event stored after that result. Apple answers NOT_ACCESSIBLE for a device moved to another MDM
 * server in Apple Business Manager, or released; assigning it again before Apple shows it again only repeats
 * the answer. A full fetch's record (fetch carries no `op_type`) does not count as a sync event.
 */
export function notAccessible(d: ObservedDevice): boolean {
  if (d.lastResult?.status !== 'not-accessible') return false;
  const since = d.lastResult.at.getTime();
  if (d.arrivedAt && d.arrivedAt.getTime() > since) return false;
  const synced = typeof d.device.op_type === 'string' && d.observedAt !== undefined && d.observedAt.getTime() > since;
  return !synced;
}

/** The drift finding for devices Apple answered NOT_ACCESSIBLE for (not corrected: apply cannot reach them). */
function notAccessibleDrift(serials: readonly string[]): DriftItem {
  const message = `${serials.length} serial(s) are not accessible to this server (Apple answered NOT_ACCESSIBLE: moved to another MDM server in Apple Business Manager, or released)`;
  return { kind: 'not-accessible', message, serials: [...serials].sort(), corrected: false };
}

/** A device's `mdm_migration_deadline` (protocol 8) in epoch milliseconds, or null when absent or unparseable. */
function migrationDeadline(device: DiffDevice): number | null {
  const at = device.mdm_migration_deadline;
  const ms = typeof at === 'string' ? Date.parse(at) : Number.NaN;
  return Number.isNaN(ms) ? null : ms;
}

/**
 * Diffs one server, device page by device page (so a million devices never sit in memory twice): each
 * device's desired profile against the UUID it carries. Pure: no I/O, the clock is an input.
 */
export class ServerDiffer {
  private readonly targetUuid = new Map<string, string | null>();
  private readonly byUuid = new Map<string, KnownProfile>();
  private readonly assign = new Map<string, AssignGroup>();
  private readonly remove = new Map<string, RemoveGroup>();
  private readonly deferred = new Map<string, DeferredGroup>();
  private readonly drift = new Map<string, DriftGroup>();
  private readonly conflicts: Conflict[] = [];
  private readonly defineCounts = new Map<string, number>();
  /** Serials listed explicitly for this server that it has. */
  readonly seenExplicit = new Set<string>();
  private devices = 0;
  private unchanged = 0;
  /** Serials whose last result is NOT_ACCESSIBLE and that Apple has not shown again since. */
  private readonly notAccessibleSerials: string[] = [];
  private deadlines = 0;
  private deadlinePlanned = 0;
  /** See pending(). */
  private pendingSerials: string[] | null = [];
  private earliestDeadline: number | null = null;

  constructor(private readonly input: DiffInput) {
    for (const k of input.known) if (k.uuid) this.byUuid.set(k.uuid, k);
    for (const [name, { contentHash }] of input.profiles) {
      const rec = input.known.find((k) => k.name === name && k.contentHash === contentHash && k.state === 'defined' && k.uuid);
      this.targetUuid.set(name, rec?.uuid ?? null);
    }
  }

  /** Adds a page of observed devices. */
  add(page: readonly ObservedDevice[]): void {
    const reportOnly = this.input.rules.server.driftPolicy === 'report';
    for (const d of page) {
      const unchanged = this.unchanged;
      this.addOne(d, reportOnly);
      if (this.unchanged === unchanged) this.notePending(d.serial);
    }
  }

  /**
   * The serials of the devices added that are not as desired (a change, drift, a deferral, a conflict, not
   * accessible), sorted; null when more than `DiffInput.pendingMax` were. The planner keeps them with the converged
   * key: every other device was found as desired.
   */
  pending(): string[] | null {
    return this.pendingSerials === null ? null : [...this.pendingSerials].sort();
  }

  private notePending(serial: string): void {
    if (this.pendingSerials === null) return;
    if (this.pendingSerials.length >= (this.input.pendingMax ?? 0)) this.pendingSerials = null;
    else this.pendingSerials.push(serial);
  }

  /** Diffs one device into the plan's groups (or counts it unchanged). */
  private addOne(d: ObservedDevice, reportOnly: boolean): void {
    const { rules } = this.input;
    this.devices++;
    const serial = d.serial;
    if (rules.explicit.has(serial)) this.seenExplicit.add(serial);
    const deadline = migrationDeadline(d.device);
    if (deadline !== null) this.noteDeadline(deadline);
    const decision = decide(rules, d.device);
    const current = currentProfileUuid(d.device);
    if (decision.kind === 'ignore') {
      this.unchanged++;
      return;
    }
    if (decision.kind === 'conflict') {
      this.conflicts.push({ serial, message: decision.message });
      return;
    }
    // Apple answered NOT_ACCESSIBLE last time: reported, and left alone until Apple shows the device again.
    if (notAccessible(d)) {
      this.notAccessibleSerials.push(serial);
      return;
    }
    // Arrived on this server (again): assigned once whatever it carries, and never taken for drift.
    const arrived = d.arrivedAt !== undefined && d.arrivedAt !== null;
    if (decision.kind === 'remove') {
      if (current === null) {
        this.unchanged++;
        return;
      }
      // depctl cleared this device's profile before (a successful remove resets desiredProfile), and now it
      // carries one again: assigned outside depctl.
      const clearedByUs = !arrived && d.desiredProfile === null && d.lastResult?.status === 'success';
      if (clearedByUs) this.addDrift('profile-changed', d, current, null);
      else if (!arrived && !this.byUuid.has(current)) this.addDrift('foreign-profile', d, current, null);
      if (clearedByUs && reportOnly) return;
      if (this.defer(d)) return;
      const fromProfile = this.byUuid.get(current)?.name ?? null;
      const reason: ChangeReason = arrived ? 'arrived' : clearedByUs ? 'drift' : 'unassigned-remove';
      const key = `${current}\u0000${reason}`;
      let g = this.remove.get(key);
      if (!g) this.remove.set(key, (g = { fromUuid: current, fromProfile, reason, serials: [] }));
      g.serials.push(serial);
      if (deadline !== null) this.deadlinePlanned++;
      return;
    }
    const target = this.targetUuid.get(decision.profile);
    if (target === undefined) {
      // The profile is not defined on this server; config validation prevents this, so say so plainly.
      this.conflicts.push({ serial, message: `profile "${decision.profile}" is not defined on server "${rules.server.name}"` });
      return;
    }
    // A device that arrived may carry the UUID Apple kept from before and still not get that profile in Setup
    // Assistant until it is assigned again (Fleet assigns every added device again: fleetdm/fleet
    // server/mdm/apple/apple_mdm.go, processDeviceResponse), so a matching UUID is not enough for it.
    if (target !== null && current === target && !arrived) {
      this.unchanged++;
      return;
    }
    const reason = arrived ? 'arrived' : this.reason(d, decision.profile, current);
    // One finding per device (issue "Drift says what is there": one change sent two notifications): a
    // device depctl assigned that now carries a foreign profile is drift, with the foreign UUID as what
    // it carries, not also a foreign-profile finding. An arrival is neither: it explains what it carries.
    if (reason === 'drift') this.addDrift('profile-changed', d, current, decision.profile);
    else if (!arrived && current !== null && !this.byUuid.has(current)) this.addDrift('foreign-profile', d, current, decision.profile);
    // Under driftPolicy "report" drift is only reported: the device is left as it is.
    if (reason === 'drift' && reportOnly) return;
    if (this.defer(d)) return;
    if (target === null) this.defineCounts.set(decision.profile, (this.defineCounts.get(decision.profile) ?? 0) + 1);
    const fromProfile = current ? (this.byUuid.get(current)?.name ?? null) : null;
    const key = `${decision.profile}\u0000${current ?? ''}\u0000${reason}\u0000${decision.source}\u0000${decision.assignment ?? ''}`;
    let g = this.assign.get(key);
    if (!g) {
      g = { profile: decision.profile, profileUuid: target, fromUuid: current, fromProfile, reason, source: decision.source, assignment: decision.assignment, serials: [] };
      this.assign.set(key, g);
    }
    g.serials.push(serial);
    if (deadline !== null) this.deadlinePlanned++;
  }

  /** Counts a device with an MDM migration deadline and keeps the earliest. */
  private noteDeadline(ms: number): void {
    this.deadlines++;
    if (this.earliestDeadline === null || ms < this.earliestDeadline) this.earliestDeadline = ms;
  }

  /** Why a device that should carry `profile` does not. */
  private reason(d: ObservedDevice, profile: string, current: string | null): ChangeReason {
    // depctl assigned this profile successfully before, and now the device carries another one or none:
    // it was changed or removed outside depctl (Apple Business Manager, another tool).
    const assignedByUs = d.desiredProfile === profile && d.lastResult?.status === 'success';
    if (current === null) return assignedByUs ? 'drift' : 'unassigned';
    const known = this.byUuid.get(current);
    if (known?.name === profile) return 'content-changed';
    if (assignedByUs) return 'drift';
    return 'different-profile';
  }

  /** Adds a device to its drift group: one per (kind, UUID it carries, profile it should carry). */
  private addDrift(kind: DriftGroup['kind'], d: ObservedDevice, current: string | null, desired: string | null): void {
    const key = `${kind}\u0000${current ?? ''}\u0000${desired === null ? '\u0001' : desired}`;
    let g = this.drift.get(key);
    if (!g) {
      const profile = current === null ? null : (this.byUuid.get(current)?.name ?? null);
      this.drift.set(key, (g = { kind, current: { uuid: current, profile, name: null }, desired, since: null, serials: [] }));
    }
    g.serials.push(d.serial);
    const at = changeTime(d.device, current);
    if (at !== null && (g.since === null || at < g.since)) g.since = at;
  }

  /** Puts a device aside when Apple asked us to wait (THROTTLED), or during a FAILED cool-down (retry-policy.ts). */
  private defer(d: ObservedDevice): boolean {
    if (!d.retryNotBefore || d.retryNotBefore.getTime() <= this.input.now.getTime()) return false;
    const failed = d.lastResult?.status === 'failed' || d.lastResult?.status === 'error';
    if (failed && this.input.retryFailed) return false;
    const until = d.retryNotBefore.toISOString();
    const status = d.lastResult?.appleStatus ?? d.lastResult?.status ?? 'unknown';
    const attempts = d.attempts ?? 0;
    const key = `${until}\u0000${status}\u0000${attempts}`;
    let g = this.deferred.get(key);
    if (!g) this.deferred.set(key, (g = { until, lastStatus: status, attempts, serials: [] }));
    g.serials.push(d.serial);
    return true;
  }

  /** The server's plan (without plan-level drift such as token expiry or serials not seen). */
  finish(): ServerPlan {
    const { rules, profiles, known } = this.input;
    const defines: ProfileDefine[] = [];
    for (const [name, count] of [...this.defineCounts].sort(([a], [b]) => a.localeCompare(b))) {
      const entry = profiles.get(name);
      if (!entry) continue;
      const previous = known.filter((k) => k.name === name && k.uuid && k.contentHash !== entry.contentHash).map((k) => k.uuid as string);
      defines.push({ profile: name, contentHash: entry.contentHash, reason: previous.length > 0 ? 'changed' : 'new', previousUuids: previous, devices: count });
    }
    const drift = this.driftItems(rules.server.driftPolicy !== 'report');
    if (this.notAccessibleSerials.length > 0) drift.push(notAccessibleDrift(this.notAccessibleSerials));
    const migrationDeadlines: MigrationDeadlines | null =
      this.earliestDeadline === null ? null : { devices: this.deadlines, earliest: isoSeconds(this.earliestDeadline), planned: this.deadlinePlanned };
    const sortSerials = <T extends { serials: string[] }>(groups: Iterable<T>): T[] => [...groups].map((g) => ({ ...g, serials: [...g.serials].sort() }));
    const assign = sortSerials(this.assign.values()).sort((a, b) => a.profile.localeCompare(b.profile) || (a.fromUuid ?? '').localeCompare(b.fromUuid ?? '') || a.reason.localeCompare(b.reason));
    const remove = sortSerials(this.remove.values()).sort((a, b) => a.fromUuid.localeCompare(b.fromUuid) || a.reason.localeCompare(b.reason));
    const deferred = sortSerials(this.deferred.values()).sort((a, b) => a.until.localeCompare(b.until));
    const changeCount = defines.length + assign.reduce((n, g) => n + g.serials.length, 0) + remove.reduce((n, g) => n + g.serials.length, 0);
    const maxChanges = rules.server.maxChanges ?? null;
    return {
      server: rules.server.name,
      defines,
      assign,
      remove,
      drift,
      deferred,
      conflicts: this.conflicts.sort((a, b) => a.serial.localeCompare(b.serial)),
      devices: this.devices,
      unchanged: this.unchanged,
      changeCount,
      maxChanges,
      exceedsMaxChanges: maxChanges !== null && changeCount > maxChanges,
      error: null,
      problem: null,
      migrationDeadlines,
    };
  }

  /**
   * The device drift findings, in a stable order. Drift of devices depctl assigned is corrected unless the
   * policy is "report"; foreign profiles on devices depctl never assigned are always replaced (or removed).
   */
  private driftItems(correctsDrift: boolean): DriftItem[] {
    const groups = [...this.drift.values()].sort(
      (a, b) => DRIFT_ORDER[a.kind] - DRIFT_ORDER[b.kind] || (a.desired ?? '').localeCompare(b.desired ?? '') || (a.current.uuid ?? '').localeCompare(b.current.uuid ?? ''),
    );
    return groups.map((g) => {
      const item: DeviceDrift = {
        kind: g.kind,
        serials: [...g.serials].sort(),
        corrected: g.kind === 'foreign-profile' || correctsDrift,
        current: { ...g.current },
        desired: g.desired,
        since: g.since === null ? null : isoSeconds(g.since),
      };
      return { kind: item.kind, message: deviceDriftMessage(item), serials: item.serials, corrected: item.corrected, current: item.current, desired: item.desired, since: item.since };
    });
  }
}
