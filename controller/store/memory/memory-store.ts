/**
 * The in-memory store (`memory:`), for unit tests and dry runs. It keeps the same contract as the
 * SQL backends (the conformance suite checks), including copies on the way in and out so callers
 * cannot change stored state by mutating a returned object. Several stores may share one
 * `MemoryDatabase` to act like several connections to the same database.
 */
import type { Device } from '../../dep/types.js';
import type { ObservedDevice } from '../../reconcile/diff.js';
import { DEFAULT_PAGE_SIZE, deviceColumns, lastBySerial, matchesFilter, type DeviceColumns } from '../codec.js';
import { StoreError } from '../errors.js';
import { LATEST_VERSION } from '../migrations/index.js';
import { checkLimit, pageThrough } from '../paging.js';
import type {
  AuditEntry, AuditRecord, CursorState, CursorUpdate, DeviceFilter, DevicePage, DeviceRecord, DeviceResultUpdate,
  JsonValue, MigrationDeadlineCount, MigrationReport, ProfileIntent, ProfileKey, ProfileRecord, ProfileState, ResultCounts, RunRecord,
  RunResult, RunTrigger, ServerRecord, ServerUpdate, Store, UpsertOptions, LeaderHolder, DiffReadOptions,
} from '../ports.js';
import { MemoryDatabase, type MemoryDevice } from './memory-database.js';
import { enrollmentAuditEntry } from '../../enroll/audit.js';
import type { EnrollmentAttempt, EnrollmentAttemptRecord, EnrollmentCount } from '../../enroll/ports.js';
import type { OutboxEntry, OutboxRow } from '../../notify/ports.js';
import { MemoryAbmActivities } from './abm-activities.js';
import type { ActivityRecord, ActivityUpdate } from '../../ownership/ports.js';
import type { Notification } from '../../notify/webhook.js';

export { MemoryDatabase } from './memory-database.js';

const profileId = (k: ProfileKey): string => JSON.stringify([k.server, k.name, k.contentHash]);
const clone = <T>(value: T): T => structuredClone(value);

/** A Store held in process memory. */
export class MemoryStore implements Store {
  /** Which backend this is. */
  readonly backend = 'memory' as const;
  private readonly db: MemoryDatabase;
  private readonly held = new Set<string>();
  private readonly now: () => Date;

  /** Binds a store to a database (a fresh one by default); `now` stamps rows `setCursor` creates. */
  constructor(db: MemoryDatabase = new MemoryDatabase(), now: () => Date = () => new Date()) {
    this.db = db;
    this.now = now;
  }

  /** See Store.migrate: memory has no schema, but records the version like the SQL backends. */
  async migrate(): Promise<MigrationReport> {
    const applied: number[] = [];
    for (let v = this.db.version + 1; v <= LATEST_VERSION; v++) applied.push(v);
    this.db.version = Math.max(this.db.version, LATEST_VERSION);
    return { applied, version: this.db.version };
  }

  /** See Store.close. */
  async close(): Promise<void> {
    for (const name of [...this.held]) await this.releaseLeadership(name);
  }

  /** See IdentityStore.upsertServer. */
  async upsertServer(name: string, u: ServerUpdate): Promise<ServerRecord> {
    const r = this.db.server(name, u.at).record;
    if (u.tokenFingerprint !== undefined) r.tokenFingerprint = u.tokenFingerprint;
    if (u.tokenExpiresAt !== undefined) r.tokenExpiresAt = u.tokenExpiresAt && new Date(u.tokenExpiresAt);
    if (u.serverUuid !== undefined) r.serverUuid = u.serverUuid;
    if (u.appleServerName !== undefined) r.appleServerName = u.appleServerName;
    if (u.orgName !== undefined) r.orgName = u.orgName;
    if (u.orgType !== undefined) r.orgType = u.orgType;
    if (u.orgId !== undefined) r.orgId = u.orgId;
    if (u.identityCheckedAt !== undefined) r.identityCheckedAt = u.identityCheckedAt && new Date(u.identityCheckedAt);
    r.updatedAt = new Date(u.at);
    return clone(r);
  }

  /** See IdentityStore.adoptServer. */
  async adoptServer(name: string, u: ServerUpdate): Promise<ServerRecord> {
    const row = this.db.server(name, u.at);
    this.db.devices.delete(name);
    for (const [id, p] of this.db.profiles) if (p.server === name) this.db.profiles.delete(id);
    row.cursor = { server: name, cursor: null, fetchStartedAt: null, fetchedAt: null, syncedAt: null };
    row.record.convergedKey = null;
    return this.upsertServer(name, u);
  }

  /** See PlanStore.setConvergedKey. */
  async setConvergedKey(name: string, key: string | null): Promise<void> {
    const row = this.db.servers.get(name);
    if (row) row.record.convergedKey = key;
  }

  /** See PlanStore.swapConvergedKey. */
  async swapConvergedKey(name: string, expected: string | null, next: string | null): Promise<boolean> {
    const row = this.db.servers.get(name);
    if (!row || row.record.convergedKey !== expected) return false;
    row.record.convergedKey = next;
    return true;
  }

  /** See PlanStore.getServer. */
  async getServer(name: string): Promise<ServerRecord | undefined> {
    const row = this.db.servers.get(name);
    return row && clone(row.record);
  }

  /** See StatusStore.listServers. */
  async listServers(): Promise<ServerRecord[]> {
    return [...this.db.servers.keys()].sort(byteOrder).map((n) => clone(this.db.servers.get(n)!.record));
  }

  /** See ObserveStore.getCursor. */
  async getCursor(server: string): Promise<CursorState | undefined> {
    const row = this.db.servers.get(server);
    return row && clone(row.cursor);
  }

  /** See ObserveStore.setCursor. */
  async setCursor(server: string, u: CursorUpdate): Promise<CursorState> {
    const c = this.db.server(server, this.now()).cursor;
    if (u.cursor !== undefined) c.cursor = u.cursor;
    if (u.fetchStartedAt !== undefined) c.fetchStartedAt = u.fetchStartedAt && new Date(u.fetchStartedAt);
    if (u.fetchedAt !== undefined) c.fetchedAt = u.fetchedAt && new Date(u.fetchedAt);
    if (u.syncedAt !== undefined) c.syncedAt = u.syncedAt && new Date(u.syncedAt);
    return clone(c);
  }

  /** See DefineStore.beginDefine. */
  async beginDefine(i: ProfileIntent): Promise<{ profile: ProfileRecord; created: boolean }> {
    const id = profileId(i);
    const existing = this.db.profiles.get(id);
    if (existing) return { profile: clone(existing), created: false };
    const row: ProfileRecord = {
      server: i.server, name: i.name, contentHash: i.contentHash, state: 'defining', uuid: null,
      body: clone(i.body), createdAt: new Date(i.at), definedAt: null,
    };
    this.db.profiles.set(id, row);
    return { profile: clone(row), created: true };
  }

  /** See DefineStore.completeDefine. */
  async completeDefine(key: ProfileKey, uuid: string, at: Date, audit?: AuditEntry): Promise<ProfileRecord> {
    const row = this.db.profiles.get(profileId(key));
    if (!row) throw new StoreError('store-not-found', `no profile intent for ${key.server}/${key.name}@${key.contentHash}`);
    if (row.state === 'defined') {
      if (row.uuid === uuid) return clone(row);
      throw new StoreError('store-conflict', `profile ${key.server}/${key.name}@${key.contentHash} is already defined as ${row.uuid}`);
    }
    const taken = [...this.db.profiles.values()].some((p) => p.server === key.server && p.uuid === uuid);
    if (taken) throw new StoreError('store-conflict', `profile UUID ${uuid} is already recorded on ${key.server}`);
    Object.assign(row, { state: 'defined', uuid, definedAt: new Date(at) });
    if (audit) await this.appendAudit([audit]);
    return clone(row);
  }

  /** See DefineStore.abandonDefine. */
  async abandonDefine(key: ProfileKey): Promise<boolean> {
    const id = profileId(key);
    if (this.db.profiles.get(id)?.state !== 'defining') return false;
    return this.db.profiles.delete(id);
  }

  /** See DefineStore.forgetProfile. */
  async forgetProfile(server: string, uuid: string): Promise<boolean> {
    for (const [id, p] of this.db.profiles) {
      if (p.server === server && p.uuid === uuid) return this.db.profiles.delete(id);
    }
    return false;
  }

  /** See Store.getProfile. */
  async getProfile(key: ProfileKey): Promise<ProfileRecord | undefined> {
    const row = this.db.profiles.get(profileId(key));
    return row && clone(row);
  }

  /** See DefineStore.listProfiles. */
  async listProfiles(server: string, filter?: { state?: ProfileState }): Promise<ProfileRecord[]> {
    return [...this.db.profiles.values()]
      .filter((p) => p.server === server && (filter?.state === undefined || p.state === filter.state))
      .sort((a, b) => byteOrder(a.name, b.name) || a.createdAt.getTime() - b.createdAt.getTime() || byteOrder(a.contentHash, b.contentHash))
      .map(clone);
  }

  /** See ObserveStore.upsertDevices. */
  async upsertDevices(server: string, devices: readonly Device[], at: Date, opts: UpsertOptions = {}): Promise<number> {
    const table = this.db.deviceTable(server);
    for (const d of devices) {
      const old = table.rows.get(d.serial_number);
      const columns: DeviceColumns = deviceColumns(d);
      if (!old) table.sorted = null;
      const arrives = opts.arrived?.has(d.serial_number) === true || (!old && opts.newArrive === true);
      table.rows.set(d.serial_number, {
        columns,
        device: clone(d),
        desiredProfile: old?.desiredProfile ?? null,
        lastResult: old?.lastResult ?? null,
        retryNotBefore: old?.retryNotBefore ?? null,
        observedAt: new Date(at),
        arrivedAt: arrives ? new Date(at) : (old?.arrivedAt ?? null),
        attempts: old?.attempts ?? 0,
      });
    }
    return devices.length;
  }

  /** See ObserveStore.deleteDevices. */
  async deleteDevices(server: string, serials: readonly string[]): Promise<number> {
    const table = this.db.deviceTable(server);
    let n = 0;
    for (const s of serials) if (table.rows.delete(s)) n++;
    if (n > 0) table.sorted = null;
    return n;
  }

  /** See PlanStore.getDevice. */
  async getDevice(server: string, serial: string): Promise<DeviceRecord | undefined> {
    const row = this.db.devices.get(server)?.rows.get(serial);
    return row && toRecord(server, serial, row);
  }

  /** See PlanStore.getDevices. */
  async getDevices(server: string, serials: readonly string[]): Promise<DeviceRecord[]> {
    const rows = this.db.devices.get(server)?.rows;
    if (!rows) return [];
    return [...new Set(serials)].flatMap((s) => {
      const row = rows.get(s);
      return row ? [toRecord(server, s, row)] : [];
    });
  }

  /** See PlanStore.presentSerials. */
  async presentSerials(server: string, serials: readonly string[]): Promise<Set<string>> {
    const rows = this.db.devices.get(server)?.rows;
    return new Set(rows ? serials.filter((s) => rows.has(s)) : []);
  }

  /** See ObserveStore.countDevices. */
  async countDevices(server: string, filter?: DeviceFilter): Promise<number> {
    const table = this.db.devices.get(server);
    if (!table) return 0;
    if (!filter) return table.rows.size;
    let n = 0;
    for (const row of table.rows.values()) if (matchesFilter(row.columns, filter)) n++;
    return n;
  }

  /** See PlanStore.countMigrationDeadlines. */
  async countMigrationDeadlines(server: string): Promise<MigrationDeadlineCount> {
    let devices = 0;
    let earliest: number | null = null;
    for (const row of this.db.devices.get(server)?.rows.values() ?? []) {
      const at = row.columns.migrationDeadline;
      if (at === null) continue;
      devices++;
      if (earliest === null || at < earliest) earliest = at;
    }
    return { devices, earliest: earliest === null ? null : new Date(earliest) };
  }

  /** See StatusStore.countDevicesByProfileUuid. */
  async countDevicesByProfileUuid(server: string): Promise<Map<string | null, number>> {
    const counts = new Map<string | null, number>();
    for (const row of this.db.devices.get(server)?.rows.values() ?? []) {
      counts.set(row.columns.profileUuid, (counts.get(row.columns.profileUuid) ?? 0) + 1);
    }
    return counts;
  }

  /** See StatusStore.countResults. */
  async countResults(server: string, now: Date): Promise<ResultCounts> {
    const out: ResultCounts = { byResult: {}, deferred: 0 };
    for (const row of this.db.devices.get(server)?.rows.values() ?? []) {
      const status = row.lastResult?.status;
      if (status !== undefined) out.byResult[status] = (out.byResult[status] ?? 0) + 1;
      if (row.retryNotBefore && row.retryNotBefore.getTime() > now.getTime()) out.deferred++;
    }
    return out;
  }

  /** See Store.listDevices. */
  async listDevices(server: string, page: { after?: string | null; limit: number; filter?: DeviceFilter }): Promise<DevicePage> {
    const limit = checkLimit(page.limit);
    const table = this.db.deviceTable(server);
    const serials = this.db.sortedSerials(server);
    let i = lowerBound(serials, page.after ?? null);
    const devices: DeviceRecord[] = [];
    for (; i < serials.length; i++) {
      const serial = serials[i]!;
      const row = table.rows.get(serial)!;
      if (!matchesFilter(row.columns, page.filter)) continue;
      if (devices.length === limit) return { devices, next: devices[devices.length - 1]!.serial };
      devices.push(toRecord(server, serial, row));
    }
    return { devices, next: null };
  }

  /** See Store.iterateDevices. */
  iterateDevices(server: string, opts: { pageSize?: number; filter?: DeviceFilter } = {}): AsyncIterable<DeviceRecord[]> {
    const limit = checkLimit(opts.pageSize ?? DEFAULT_PAGE_SIZE);
    return pageThrough((after) => this.listDevices(server, { after, limit, filter: opts.filter }));
  }

  /** See PlanStore.iterateDiffDevices: the whole records (nothing to save in memory). */
  iterateDiffDevices(server: string, opts: DiffReadOptions = {}): AsyncIterable<ObservedDevice[]> {
    return this.iterateDevices(server, { ...(opts.pageSize !== undefined ? { pageSize: opts.pageSize } : {}) });
  }

  /** See ApplyStore.recordResults. */
  async recordResults(server: string, results: readonly DeviceResultUpdate[], audit: readonly AuditEntry[] = []): Promise<number> {
    await this.appendAudit(audit);
    const rows = this.db.deviceTable(server).rows;
    let n = 0;
    for (const r of lastBySerial(results)) {
      const row = rows.get(r.serial);
      if (row) {
        row.lastResult = clone(r.result);
        row.retryNotBefore = r.retryNotBefore && new Date(r.retryNotBefore);
        if (r.desiredProfile !== undefined) row.desiredProfile = r.desiredProfile;
        if (r.attempts !== undefined) row.attempts = r.attempts;
        if (r.result.status === 'success') row.arrivedAt = null;
        n++;
      }
    }
    return n;
  }

  /** See ApplyStore.startRun. */
  async startRun(run: { startedAt: Date; commit: string | null; planHash: string | null; trigger: RunTrigger }): Promise<RunRecord> {
    const record: RunRecord = {
      id: ++this.db.lastRunId, startedAt: new Date(run.startedAt), finishedAt: null, commit: run.commit,
      planHash: run.planHash, trigger: run.trigger, result: null, summary: null,
    };
    this.db.runs.set(record.id, record);
    return clone(record);
  }

  /** See ApplyStore.finishRun. */
  async finishRun(id: number, end: { finishedAt: Date; result: RunResult; summary: JsonValue | null }, notifications: readonly OutboxEntry[] = []): Promise<RunRecord> {
    const run = this.db.runs.get(id);
    if (!run) throw new StoreError('store-not-found', `no run ${id}`);
    Object.assign(run, { finishedAt: new Date(end.finishedAt), result: end.result, summary: clone(end.summary) });
    for (const n of notifications) await this.enqueueNotification(n.key, n.notification, end.finishedAt);
    return clone(run);
  }

  /** See StatusStore.listRuns. */
  async listRuns(opts: { limit: number }): Promise<RunRecord[]> {
    return [...this.db.runs.values()].sort((a, b) => b.id - a.id).slice(0, checkLimit(opts.limit)).map(clone);
  }

  /** See ApplyStore.appendAudit. */
  async appendAudit(entries: readonly AuditEntry[]): Promise<void> {
    for (const e of entries) this.db.audit.push({ ...clone(e), seq: this.db.audit.length + 1 });
  }

  /** See NotificationOutbox.enqueueNotification. */
  async enqueueNotification(key: string, n: Notification, at: Date): Promise<boolean> {
    if (this.db.outbox.some((r) => r.active && r.key === key)) return false;
    this.db.outbox.push({ id: ++this.db.lastOutboxId, key, notification: clone(n), enqueuedAt: new Date(at), attempts: 0, nextAttemptAt: new Date(at), lastError: null, active: true, sentAt: null });
    return true;
  }

  /** See NotificationOutbox.settleNotifications. */
  async settleNotifications(prefix: string, active: ReadonlySet<string>): Promise<void> {
    for (const r of this.db.outbox) if (r.active && r.key.startsWith(prefix) && !active.has(r.key)) r.active = false;
    this.removeOutbox((r) => !r.active && r.sentAt !== null);
  }

  /** See NotificationOutbox.dueNotifications. */
  async dueNotifications(now: Date, limit: number): Promise<OutboxRow[]> {
    const out: OutboxRow[] = [];
    for (const r of this.db.outbox) {
      if (r.sentAt !== null) continue;
      if (out.length >= checkLimit(limit) || r.nextAttemptAt.getTime() > now.getTime()) break;
      out.push(outboxRow(r));
    }
    return out;
  }

  /** See NotificationOutbox.markNotificationSent. */
  async markNotificationSent(id: number, at: Date): Promise<void> {
    const r = this.db.outbox.find((x) => x.id === id);
    if (r) Object.assign(r, { sentAt: new Date(at), lastError: null });
  }

  /** See NotificationOutbox.markNotificationFailed. */
  async markNotificationFailed(id: number, _at: Date, nextAttemptAt: Date, error: string): Promise<void> {
    const r = this.db.outbox.find((x) => x.id === id);
    if (r && r.sentAt === null) Object.assign(r, { attempts: r.attempts + 1, nextAttemptAt: new Date(nextAttemptAt), lastError: error });
  }

  /** See NotificationOutbox.dropExpiredNotifications. */
  async dropExpiredNotifications(olderThan: Date): Promise<OutboxRow[]> {
    const expired = this.db.outbox.filter((r) => r.sentAt === null && r.enqueuedAt.getTime() < olderThan.getTime());
    this.removeOutbox((r) => expired.includes(r));
    return expired.map(outboxRow);
  }

  /** See NotificationOutbox.countUnsentNotifications. */
  async countUnsentNotifications(): Promise<number> {
    return this.db.outbox.filter((r) => r.sentAt === null).length;
  }

  /** See ActivityStore.recordActivity. */
  async recordActivity(activity: ActivityRecord): Promise<void> {
    new MemoryAbmActivities(this.db).record(activity);
  }

  /** See ActivityStore.updateActivity. */
  async updateActivity(organization: string, activityId: string, update: ActivityUpdate, audit: readonly AuditEntry[] = []): Promise<boolean> {
    const t = new MemoryAbmActivities(this.db);
    if (!t.isOpen(organization, activityId)) return false;
    if (audit.length > 0) await this.appendAudit(audit);
    return t.update(organization, activityId, update);
  }

  /** See ActivityStore.listActivities. */
  async listActivities(organization: string, opts: { open: boolean; limit?: number }): Promise<ActivityRecord[]> {
    return new MemoryAbmActivities(this.db).list(organization, opts);
  }

  private removeOutbox(drop: (r: MemoryDatabase['outbox'][number]) => boolean): void {
    const keep = this.db.outbox.filter((r) => !drop(r));
    this.db.outbox.splice(0, this.db.outbox.length, ...keep);
  }

  /** See EnrollStore.recordEnrollmentAttempt (the attempt and its audit entry). */
  async recordEnrollmentAttempt(attempt: EnrollmentAttempt): Promise<EnrollmentAttemptRecord> {
    const record = { ...clone(attempt), id: this.db.enrollmentAttempts.length + 1 };
    this.db.enrollmentAttempts.push(record);
    await this.appendAudit([enrollmentAuditEntry(attempt)]);
    return clone(record);
  }

  /** See EnrollStore.listEnrollmentAttempts. */
  async listEnrollmentAttempts(q: { serial?: string; limit: number }): Promise<EnrollmentAttemptRecord[]> {
    const limit = checkLimit(q.limit);
    return [...this.db.enrollmentAttempts].reverse().filter((a) => q.serial === undefined || a.serial === q.serial).slice(0, limit).map(clone);
  }

  /** See EnrollStore.countEnrollmentAttempts. */
  async countEnrollmentAttempts(): Promise<EnrollmentCount[]> {
    const counts = new Map<string, EnrollmentCount>();
    for (const a of this.db.enrollmentAttempts) {
      const key = JSON.stringify([a.profile, a.outcome]);
      const c = counts.get(key) ?? { profile: a.profile, outcome: a.outcome, count: 0 };
      c.count++;
      counts.set(key, c);
    }
    return [...counts.values()].sort((x, y) => (x.profile < y.profile ? -1 : x.profile > y.profile ? 1 : x.outcome < y.outcome ? -1 : x.outcome > y.outcome ? 1 : 0));
  }

  /** See EnrollStore.countPushedNeverEnrolled. */
  async countPushedNeverEnrolled(server: string): Promise<Map<string | null, number>> {
    const enrolled = new Set(this.db.enrollmentAttempts.filter((a) => a.outcome === 'enrolled').map((a) => a.serial));
    const counts = new Map<string | null, number>();
    for (const [serial, row] of this.db.devices.get(server)?.rows ?? []) {
      if (row.columns.profileStatus !== 'pushed' || enrolled.has(serial)) continue;
      counts.set(row.columns.profileUuid, (counts.get(row.columns.profileUuid) ?? 0) + 1);
    }
    return counts;
  }

  /** See Store.readAudit. */
  async readAudit(q: { runId?: number; server?: string; serial?: string; afterSeq?: number; limit: number }): Promise<AuditRecord[]> {
    const limit = checkLimit(q.limit);
    const out: AuditRecord[] = [];
    for (const e of this.db.audit.slice(q.afterSeq ?? 0)) {
      if (out.length === limit) break;
      if (q.runId !== undefined && e.runId !== q.runId) continue;
      if (q.server !== undefined && e.server !== q.server) continue;
      if (q.serial !== undefined && e.serial !== q.serial) continue;
      out.push(clone(e));
    }
    return out;
  }

  /** See LeaderLock.tryAcquireLeadership: shared by stores on the same MemoryDatabase. */
  async tryAcquireLeadership(name: string): Promise<boolean> {
    const holder = this.db.leaders.get(name);
    if (holder !== undefined && holder !== this) return false;
    this.db.leaders.set(name, this);
    this.held.add(name);
    return true;
  }

  /** See LeaderLock.releaseLeadership. */
  async releaseLeadership(name: string): Promise<void> {
    if (this.db.leaders.get(name) === this) this.db.leaders.delete(name);
    this.held.delete(name);
  }

  /** See LeaderLock.onLeadershipLost: a lock held in this process is only ever released, never lost. */
  onLeadershipLost(): () => void {
    return () => undefined;
  }

  /** See LeaderLock.leadershipHolder: held in this process, so this process is the holder. */
  async leadershipHolder(name: string): Promise<LeaderHolder | null> {
    return this.db.leaders.has(name) ? { owner: null, pid: process.pid, host: null, since: null } : null;
  }
}

/** Byte-order comparison for ASCII serials (JS compares UTF-16 code units, equal for ASCII). */
function byteOrder(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Index of the first serial greater than `after` in a sorted array. */
function lowerBound(sorted: readonly string[], after: string | null): number {
  if (after === null) return 0;
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! <= after) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function toRecord(server: string, serial: string, row: MemoryDevice): DeviceRecord {
  return {
    server, serial, device: clone(row.device), desiredProfile: row.desiredProfile, lastResult: row.lastResult && clone(row.lastResult),
    retryNotBefore: row.retryNotBefore && new Date(row.retryNotBefore), observedAt: new Date(row.observedAt),
    arrivedAt: row.arrivedAt && new Date(row.arrivedAt), attempts: row.attempts,
  };
}

function outboxRow(r: MemoryDatabase['outbox'][number]): OutboxRow {
  return { id: r.id, key: r.key, notification: clone(r.notification), enqueuedAt: new Date(r.enqueuedAt), attempts: r.attempts, nextAttemptAt: new Date(r.nextAttemptAt), lastError: r.lastError };
}
