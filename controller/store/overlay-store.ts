/**
 * A read-only view of a store for planning an unmerged ref (issue 13, remote plans): every read goes to the
 * real store, every write the planner makes (observe's devices and cursor, the identity check, define
 * recovery, the converged key, audit entries) lands in memory and is dropped with the overlay. Reads see the
 * overlay's writes, so the planner behaves exactly as it would against the store, and the store is left
 * byte for byte as it was. The overlay holds at most `maxDevices` device records (a sync's changes are few;
 * a full fetch of a large fleet is refused rather than held in memory).
 */
import type { Device } from '../dep/types.js';
import type {
  AuditEntry,
  CursorState,
  CursorUpdate,
  DeviceFilter,
  DeviceRecord,
  MigrationDeadlineCount,
  PlanStore,
  ProfileIntent,
  ProfileKey,
  ProfileRecord,
  ProfileState,
  ServerRecord,
  ServerUpdate,
  UpsertOptions,
} from '../reconcile/ports.js';
import { deviceColumns, matchesFilter } from './codec.js';

/** The store a plan writes to (reconcile/planner.ts PlannerStore): PlanStore and the audit log. */
export type OverlayBase = PlanStore & { appendAudit(entries: readonly AuditEntry[]): Promise<void> };

/** Default bound of device records held in memory by one overlay. */
export const DEFAULT_OVERLAY_MAX_DEVICES = 200_000;

/** Thrown when a plan would hold more device records than the overlay allows. */
export class OverlayFullError extends Error {
  override readonly name = 'OverlayFullError';
}

interface DeviceEntry {
  /** The record now, or null when deleted. */
  now: DeviceRecord | null;
  /** The store's record when the overlay first touched the serial. */
  base: DeviceRecord | undefined;
}

/** A read-only overlay of `base`; `writes()` counts the writes it absorbed. */
export class OverlayStore implements OverlayBase {
  private readonly devices = new Map<string, Map<string, DeviceEntry>>();
  private readonly cursors = new Map<string, CursorState>();
  private readonly servers = new Map<string, ServerRecord>();
  private readonly profiles = new Map<string, Map<string, ProfileRecord | null>>();
  private deviceCount = 0;
  private absorbed = 0;

  constructor(
    private readonly base: OverlayBase,
    private readonly maxDevices: number = DEFAULT_OVERLAY_MAX_DEVICES,
  ) {}

  /** How many write calls the overlay absorbed (none reached the store). */
  writes(): number {
    return this.absorbed;
  }

  // --- devices ---------------------------------------------------------------------------------

  private table(server: string): Map<string, DeviceEntry> {
    let t = this.devices.get(server);
    if (!t) this.devices.set(server, (t = new Map()));
    return t;
  }

  private async entry(server: string, serial: string): Promise<DeviceEntry> {
    const t = this.table(server);
    let e = t.get(serial);
    if (!e) {
      if (this.deviceCount >= this.maxDevices) {
        throw new OverlayFullError(`a remote plan holds at most ${this.maxDevices} changed devices per request; this server needs a full fetch, so plan it after the controller's next pass`);
      }
      const base = await this.base.getDevice(server, serial);
      e = { now: base ?? null, base };
      t.set(serial, e);
      this.deviceCount++;
    }
    return e;
  }

  async getDevice(server: string, serial: string): Promise<DeviceRecord | undefined> {
    const e = this.devices.get(server)?.get(serial);
    if (e) return e.now ?? undefined;
    return this.base.getDevice(server, serial);
  }

  async upsertDevices(server: string, devices: readonly Device[], at: Date, opts: UpsertOptions = {}): Promise<number> {
    this.absorbed++;
    for (const d of devices) {
      const e = await this.entry(server, d.serial_number);
      const old = e.now;
      const arrived = opts.arrived?.has(d.serial_number) === true || (old === null && opts.newArrive === true);
      e.now = {
        server,
        serial: d.serial_number,
        device: d,
        desiredProfile: old?.desiredProfile ?? null,
        lastResult: old?.lastResult ?? null,
        retryNotBefore: old?.retryNotBefore ?? null,
        observedAt: at,
        arrivedAt: arrived ? at : (old?.arrivedAt ?? null),
        attempts: old?.attempts ?? 0,
      };
    }
    return devices.length;
  }

  async deleteDevices(server: string, serials: readonly string[]): Promise<number> {
    this.absorbed++;
    let n = 0;
    for (const serial of serials) {
      const e = await this.entry(server, serial);
      if (e.now) n++;
      e.now = null;
    }
    return n;
  }

  async countDevices(server: string, filter?: DeviceFilter): Promise<number> {
    let n = await this.base.countDevices(server, filter);
    for (const e of this.devices.get(server)?.values() ?? []) {
      if (e.base && matchesFilter(deviceColumns(e.base.device), filter)) n--;
      if (e.now && matchesFilter(deviceColumns(e.now.device), filter)) n++;
    }
    return n;
  }

  async countMigrationDeadlines(server: string): Promise<MigrationDeadlineCount> {
    if ((this.devices.get(server)?.size ?? 0) === 0) return this.base.countMigrationDeadlines(server);
    let devices = 0;
    let earliest: number | null = null;
    for await (const page of this.iterateDevices(server)) {
      for (const d of page) {
        const deadline = deviceColumns(d.device).migrationDeadline;
        if (deadline === null) continue;
        devices++;
        earliest = earliest === null ? deadline : Math.min(earliest, deadline);
      }
    }
    return { devices, earliest: earliest === null ? null : new Date(earliest) };
  }

  /** The store's devices with the overlay's merged in, still in serial order. */
  async *iterateDevices(server: string, opts: { pageSize?: number } = {}): AsyncGenerator<DeviceRecord[]> {
    const pageSize = opts.pageSize ?? 1000;
    const mine = [...(this.devices.get(server)?.entries() ?? [])].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    let i = 0;
    let out: DeviceRecord[] = [];
    for await (const page of this.base.iterateDevices(server, { pageSize })) {
      for (const rec of page) {
        while (i < mine.length && (mine[i] as [string, DeviceEntry])[0] < rec.serial) {
          const now = (mine[i++] as [string, DeviceEntry])[1].now;
          if (now) out.push(now);
        }
        if (i < mine.length && (mine[i] as [string, DeviceEntry])[0] === rec.serial) {
          const now = (mine[i++] as [string, DeviceEntry])[1].now;
          if (now) out.push(now);
        } else {
          out.push(rec);
        }
        if (out.length >= pageSize) {
          yield out;
          out = [];
        }
      }
    }
    for (; i < mine.length; i++) {
      const now = (mine[i] as [string, DeviceEntry])[1].now;
      if (now) out.push(now);
      if (out.length >= pageSize) {
        yield out;
        out = [];
      }
    }
    if (out.length > 0) yield out;
  }

  // --- cursor, server ----------------------------------------------------------------------------

  async getCursor(server: string): Promise<CursorState | undefined> {
    return this.cursors.get(server) ?? this.base.getCursor(server);
  }

  async setCursor(server: string, update: CursorUpdate): Promise<CursorState> {
    this.absorbed++;
    const cur = (await this.getCursor(server)) ?? { server, cursor: null, fetchStartedAt: null, fetchedAt: null, syncedAt: null };
    const next: CursorState = {
      server,
      cursor: update.cursor !== undefined ? update.cursor : cur.cursor,
      fetchStartedAt: update.fetchStartedAt !== undefined ? update.fetchStartedAt : cur.fetchStartedAt,
      fetchedAt: update.fetchedAt !== undefined ? update.fetchedAt : cur.fetchedAt,
      syncedAt: update.syncedAt !== undefined ? update.syncedAt : cur.syncedAt,
    };
    this.cursors.set(server, next);
    return next;
  }

  async getServer(name: string): Promise<ServerRecord | undefined> {
    return this.servers.get(name) ?? this.base.getServer(name);
  }

  async upsertServer(name: string, update: ServerUpdate): Promise<ServerRecord> {
    this.absorbed++;
    const cur = (await this.getServer(name)) ?? {
      name, tokenFingerprint: null, tokenExpiresAt: null, serverUuid: null, appleServerName: null, orgName: null, orgType: null, orgId: null, identityCheckedAt: null, updatedAt: update.at, convergedKey: null,
    };
    const { at, ...fields } = update;
    const next: ServerRecord = { ...cur, updatedAt: at };
    for (const [k, v] of Object.entries(fields)) if (v !== undefined) (next as unknown as Record<string, unknown>)[k] = v;
    this.servers.set(name, next);
    return next;
  }

  /** Adopting another MDM server is an operator's decision, never part of a plan. */
  adoptServer(name: string): Promise<ServerRecord> {
    return Promise.reject(new Error(`a read-only plan cannot adopt server "${name}"`));
  }

  async setConvergedKey(name: string, key: string | null): Promise<void> {
    this.absorbed++;
    const cur = await this.getServer(name);
    if (cur) this.servers.set(name, { ...cur, convergedKey: key });
  }

  async swapConvergedKey(name: string, expected: string | null, next: string | null): Promise<boolean> {
    const cur = await this.getServer(name);
    if (!cur || cur.convergedKey !== expected) return false;
    this.absorbed++;
    this.servers.set(name, { ...cur, convergedKey: next });
    return true;
  }

  // --- profiles ----------------------------------------------------------------------------------

  private async profileRows(server: string): Promise<ProfileRecord[]> {
    const mine = this.profiles.get(server);
    const base = await this.base.listProfiles(server);
    if (!mine) return base;
    const key = (p: ProfileKey): string => `${p.name}\0${p.contentHash}`;
    const rows = base.filter((p) => !mine.has(key(p)));
    for (const p of mine.values()) if (p) rows.push(p);
    return rows.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.createdAt.getTime() - b.createdAt.getTime()));
  }

  private put(p: ProfileKey, rec: ProfileRecord | null): void {
    let m = this.profiles.get(p.server);
    if (!m) this.profiles.set(p.server, (m = new Map()));
    m.set(`${p.name}\0${p.contentHash}`, rec);
  }

  async listProfiles(server: string, filter?: { state?: ProfileState }): Promise<ProfileRecord[]> {
    const rows = await this.profileRows(server);
    return filter?.state ? rows.filter((p) => p.state === filter.state) : rows;
  }

  async beginDefine(intent: ProfileIntent): Promise<{ profile: ProfileRecord; created: boolean }> {
    this.absorbed++;
    const found = (await this.profileRows(intent.server)).find((p) => p.name === intent.name && p.contentHash === intent.contentHash);
    if (found) return { profile: found, created: false };
    const profile: ProfileRecord = { server: intent.server, name: intent.name, contentHash: intent.contentHash, state: 'defining', uuid: null, body: intent.body, createdAt: intent.at, definedAt: null };
    this.put(intent, profile);
    return { profile, created: true };
  }

  async completeDefine(key: ProfileKey, uuid: string, at: Date, _audit?: AuditEntry): Promise<ProfileRecord> {
    this.absorbed++;
    const found = (await this.profileRows(key.server)).find((p) => p.name === key.name && p.contentHash === key.contentHash);
    if (!found) throw new Error(`no profile record ${key.name} on ${key.server}`);
    const next: ProfileRecord = { ...found, state: 'defined', uuid, definedAt: found.definedAt ?? at };
    this.put(key, next);
    return next;
  }

  async abandonDefine(key: ProfileKey): Promise<boolean> {
    this.absorbed++;
    const found = (await this.profileRows(key.server)).find((p) => p.name === key.name && p.contentHash === key.contentHash);
    if (!found || found.state !== 'defining') return false;
    this.put(key, null);
    return true;
  }

  async forgetProfile(server: string, uuid: string): Promise<boolean> {
    this.absorbed++;
    const found = (await this.profileRows(server)).find((p) => p.uuid === uuid);
    if (!found) return false;
    this.put(found, null);
    return true;
  }

  async appendAudit(_entries: readonly AuditEntry[]): Promise<void> {
    this.absorbed++;
  }
}
