import type { Device } from '../dep/types.js';
import type { EnrollmentProfile } from '../config/types.js';
import { decide, type ServerRules } from './desired.js';
import type { AssignGroup, ChangeReason, Conflict, DeferredGroup, DriftItem, ProfileDefine, RemoveGroup, ServerPlan } from './plan.js';

/** A device as the reconcile engine needs it (the store's DeviceRecord has this shape). */
export interface ObservedDevice {
  serial: string;
  device: Device;
  desiredProfile: string | null;
  lastResult: { status: string; at: Date; appleStatus: string | null } | null;
  retryNotBefore: Date | null;
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
}

/** Apple's profile_status values under which a device really carries its profile_uuid. */
const CARRIES_PROFILE = new Set(['assigned', 'pushed']);

/** The UUID a device carries now, or null. */
export function currentProfileUuid(device: Device): string | null {
  if (!device.profile_uuid) return null;
  return CARRIES_PROFILE.has(device.profile_status ?? '') ? device.profile_uuid : null;
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
  private readonly drifted: string[] = [];
  private readonly foreign: string[] = [];
  private readonly conflicts: Conflict[] = [];
  private readonly defineCounts = new Map<string, number>();
  /** Serials listed explicitly for this server that it has. */
  readonly seenExplicit = new Set<string>();
  private devices = 0;
  private unchanged = 0;

  constructor(private readonly input: DiffInput) {
    for (const k of input.known) if (k.uuid) this.byUuid.set(k.uuid, k);
    for (const [name, { contentHash }] of input.profiles) {
      const rec = input.known.find((k) => k.name === name && k.contentHash === contentHash && k.state === 'defined' && k.uuid);
      this.targetUuid.set(name, rec?.uuid ?? null);
    }
  }

  /** Adds a page of observed devices. */
  add(page: readonly ObservedDevice[]): void {
    const { rules } = this.input;
    const reportOnly = rules.server.driftPolicy === 'report';
    for (const d of page) {
      this.devices++;
      const serial = d.serial;
      if (rules.explicit.has(serial)) this.seenExplicit.add(serial);
      const decision = decide(rules, d.device);
      const current = currentProfileUuid(d.device);
      if (decision.kind === 'ignore') {
        this.unchanged++;
        continue;
      }
      if (decision.kind === 'conflict') {
        this.conflicts.push({ serial, message: decision.message });
        continue;
      }
      if (decision.kind === 'remove') {
        if (current === null) {
          this.unchanged++;
          continue;
        }
        if (this.defer(d)) continue;
        const fromProfile = this.byUuid.get(current)?.name ?? null;
        const key = `${current}`;
        let g = this.remove.get(key);
        if (!g) this.remove.set(key, (g = { fromUuid: current, fromProfile, reason: 'unassigned-remove', serials: [] }));
        g.serials.push(serial);
        continue;
      }
      const target = this.targetUuid.get(decision.profile);
      if (target === undefined) {
        // The profile is not defined on this server; config validation prevents this, so say so plainly.
        this.conflicts.push({ serial, message: `profile "${decision.profile}" is not defined on server "${rules.server.name}"` });
        continue;
      }
      if (target !== null && current === target) {
        this.unchanged++;
        continue;
      }
      const reason = this.reason(d, decision.profile, current);
      if (reason === 'drift') this.drifted.push(serial);
      // Under driftPolicy "report" drift is only reported: the device is left as it is.
      if (reason === 'drift' && reportOnly) continue;
      if (current !== null && !this.byUuid.has(current)) this.foreign.push(serial);
      if (this.defer(d)) continue;
      if (target === null) this.defineCounts.set(decision.profile, (this.defineCounts.get(decision.profile) ?? 0) + 1);
      const fromProfile = current ? (this.byUuid.get(current)?.name ?? null) : null;
      const key = `${decision.profile}\u0000${current ?? ''}\u0000${reason}\u0000${decision.source}\u0000${decision.assignment ?? ''}`;
      let g = this.assign.get(key);
      if (!g) {
        g = { profile: decision.profile, profileUuid: target, fromUuid: current, fromProfile, reason, source: decision.source, assignment: decision.assignment, serials: [] };
        this.assign.set(key, g);
      }
      g.serials.push(serial);
    }
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

  /** Puts a device aside when Apple asked us to wait (THROTTLED, FAILED cool-down). */
  private defer(d: ObservedDevice): boolean {
    if (!d.retryNotBefore || d.retryNotBefore.getTime() <= this.input.now.getTime()) return false;
    const until = d.retryNotBefore.toISOString();
    const status = d.lastResult?.appleStatus ?? d.lastResult?.status ?? 'unknown';
    const key = `${until}\u0000${status}`;
    let g = this.deferred.get(key);
    if (!g) this.deferred.set(key, (g = { until, lastStatus: status, serials: [] }));
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
    const drift: DriftItem[] = [];
    const corrected = rules.server.driftPolicy !== 'report';
    if (this.drifted.length > 0) {
      drift.push({
        kind: 'profile-changed',
        message: `${this.drifted.length} device(s) carry another profile than depctl assigned (changed in Apple Business Manager or by another tool)${corrected ? '; apply reassigns them' : '; driftPolicy is "report": apply leaves them'}`,
        serials: [...this.drifted].sort(),
        corrected,
      });
    }
    if (this.foreign.length > 0) {
      drift.push({ kind: 'foreign-profile', message: `${this.foreign.length} device(s) carry a profile depctl did not define`, serials: [...this.foreign].sort(), corrected: true });
    }
    const sortSerials = <T extends { serials: string[] }>(groups: Iterable<T>): T[] => [...groups].map((g) => ({ ...g, serials: [...g.serials].sort() }));
    const assign = sortSerials(this.assign.values()).sort((a, b) => a.profile.localeCompare(b.profile) || (a.fromUuid ?? '').localeCompare(b.fromUuid ?? '') || a.reason.localeCompare(b.reason));
    const remove = sortSerials(this.remove.values()).sort((a, b) => a.fromUuid.localeCompare(b.fromUuid));
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
    };
  }
}
