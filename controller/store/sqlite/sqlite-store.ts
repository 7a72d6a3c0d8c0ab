/**
 * The SQLite store (the default, `--state sqlite:PATH`). better-sqlite3 is synchronous; every port
 * method is `async` so callers see the same contract as PostgreSQL. The file is opened in WAL mode
 * with a busy timeout, so a CLI `plan` can read while the controller writes.
 *
 * Leadership: SQLite has no advisory locks, so a lock row with pid, host and heartbeat stands in for one,
 * across processes (leader.ts): `depctl run` and `depctl apply` on one file never both write. HA (a standby
 * that takes over) still needs PostgreSQL.
 */
import Database from 'better-sqlite3';
import { accessSync, constants, mkdirSync, realpathSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Device } from '../../dep/types.js';
import type { ObservedDevice } from '../../reconcile/diff.js';
import { checkLimit, pageThrough } from '../paging.js';
import type {
  AuditEntry, AuditRecord, CursorState, CursorUpdate, DeviceFilter, DevicePage, DeviceRecord, DeviceResultUpdate,
  JsonValue, MigrationDeadlineCount, MigrationReport, ProfileIntent, ProfileKey, ProfileRecord, ProfileState, ResultCounts, RunRecord,
  RunResult, RunTrigger, ServerRecord, ServerUpdate, Store, UpsertOptions, LeaderHolder, DiffReadOptions, FetchWriteGroup,
} from '../ports.js';
import { SqliteDevices } from './devices.js';
import { SqliteEnrollments } from './enrollments.js';
import { SqliteOutbox } from './outbox.js';
import { SqliteAbmActivities } from './abm-activities.js';
import type { ActivityRecord, ActivityUpdate } from '../../ownership/ports.js';
import type { OutboxEntry, OutboxRow } from '../../notify/ports.js';
import type { Notification } from '../../notify/webhook.js';
import type { EnrollmentAttempt, EnrollmentAttemptRecord, EnrollmentCount } from '../../enroll/ports.js';
import { migrateSqlite } from './migrate.js';
import { SqliteRecords } from './records.js';
import { SqliteLeadership } from './leader.js';
import { IdleCheckpoint } from './idle-checkpoint.js';
import { StoreError } from '../errors.js';

/** Options for opening a SQLite store. */
export interface SqliteStoreOptions {
  /** How long a writer waits for another connection's lock, in ms (default 5000). */
  busyTimeoutMs?: number;
  /** Clock used for migration bookkeeping only (default: system clock). */
  now?: () => Date;
  /**
   * Quiet time after a bulk write before the write-ahead log is checkpointed (idle-checkpoint.ts), in ms;
   * default 100, 0 turns it off.
   */
  idleCheckpointMs?: number;
}

/** Default of SqliteStoreOptions.idleCheckpointMs: a fraction of Apple's answer time, far above the gap between pages written back to back. */
const IDLE_CHECKPOINT_MS = 100;

/** Opens (creating the file and parent directories) a SQLite database; `:memory:` for a private one. */
export function openSqliteDatabase(path: string, opts: SqliteStoreOptions = {}): Database.Database {
  let db: Database.Database | undefined;
  try {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    db = new Database(path);
    const busyTimeoutMs = Math.trunc(opts.busyTimeoutMs ?? 5000);
    db.pragma(`busy_timeout = ${busyTimeoutMs}`);
    if (path !== ':memory:') enableWal(db, path, busyTimeoutMs);
  } catch (err) {
    // Opened but not usable (locked past the timeout, not a database): the handle is not left open.
    if (db?.open) db.close();
    throw cannotOpen(path, err);
  }
  // A 64 MiB page cache keeps the primary-key index of a million devices in memory during bulk
  // upserts. The page size stays at SQLite's 4 KiB: serials arrive in random key order, and every
  // commit rewrites each page it touched, so larger pages multiply the bytes written per commit.
  db.pragma('cache_size = -65536');
  if (path !== ':memory:') {
    // In WAL mode NORMAL syncs at checkpoints, not at every commit: a killed process loses nothing, and only
    // an operating-system crash or power loss can lose the last commits (never corrupt the file). Every
    // commit's fsync cost ~7 ms here, which dominated thousands of batch commits.
    db.pragma('synchronous = NORMAL');
    // A bulk upsert of 1,000 random serials dirties ~4 MiB of pages, so SQLite's default checkpoint
    // (every 1,000 pages) ran after nearly every commit and halved the insert rate at 1,000,000
    // devices. Checkpoint every ~100 MiB of WAL instead, and cut the file back afterwards.
    db.pragma('wal_autocheckpoint = 25000');
    db.pragma(`journal_size_limit = ${128 * 1024 * 1024}`);
  }
  return db;
}

/** A shared buffer for Atomics.wait: the synchronous pause between attempts of enableWal. */
const pause = new Int32Array(new SharedArrayBuffer(4));

/**
 * `PRAGMA journal_mode = WAL`, tried again until the busy timeout while another connection holds the file's
 * rollback-journal write lock. A new file starts in rollback mode, and while one process turns it to WAL (a
 * write), SQLite answers another process's switch SQLITE_BUSY at once, without its busy handler: two processes
 * opening a new state file at the same moment (`depctl apply` twice, a controller and a CLI) had one fail with
 * "database is locked" about one time in four when their opens coincided. Once the file is in WAL mode the
 * pragma only reads it.
 */
function enableWal(db: Database.Database, path: string, busyTimeoutMs: number): void {
  const deadline = Date.now() + busyTimeoutMs;
  for (let waitMs = 1; ; waitMs = Math.min(waitMs * 2, 50)) {
    try {
      db.pragma('journal_mode = WAL');
      return;
    } catch (err) {
      // SQLITE_BUSY, or an extended code of it (SQLITE_BUSY_RECOVERY while another process recovers the log).
      if (!String((err as { code?: unknown }).code).startsWith('SQLITE_BUSY')) throw err;
      if (Date.now() >= deadline) {
        throw new Error(`the state file ${path} stayed locked by another process for ${busyTimeoutMs} ms while opening it`, { cause: err });
      }
      Atomics.wait(pause, 0, 0, waitMs);
    }
  }
}

/**
 * The error for a state file that cannot be created or opened: SQLite itself says only "unable to open
 * database file", so this names the path, the directory at fault, the process's uid/gid and the fix (a
 * container started with an arbitrary uid, or a volume owned by another user, is the usual cause).
 */
function cannotOpen(path: string, err: unknown): Error {
  const code = (err as { code?: unknown }).code;
  const filesystem = ['EACCES', 'EPERM', 'EROFS', 'ENOTDIR', 'EEXIST'].includes(String(code));
  if (!filesystem && !/^SQLITE_(CANTOPEN|READONLY|IOERR|PERM|AUTH)/.test(String(code))) return err as Error;
  const who = typeof process.getuid === 'function' ? `uid ${process.getuid()} (gid ${process.getgid?.() ?? '?'})` : 'this user';
  let dir = dirname(path);
  let problem = `${dir} is not writable by ${who}`;
  // The nearest part of the path that exists says what is wrong.
  for (;;) {
    try {
      const st = statSync(dir);
      if (!st.isDirectory()) problem = `${dir} is not a directory`;
      else {
        try {
          accessSync(dir, constants.W_OK | constants.X_OK);
          problem = `${dirname(path) === dir ? path : dirname(path)} cannot be created or opened by ${who}`;
        } catch {
          problem = `${dir} is not writable by ${who}`;
        }
      }
      break;
    } catch {
      const up = dirname(dir);
      if (up === dir) break;
      dir = up;
    }
  }
  const reason = err instanceof Error ? err.message : String(err);
  return new StoreError(
    'store-config',
    `cannot open the SQLite state ${path}: ${problem} (${reason}). Fix: make the directory writable by this uid or its group ` +
      '(a container volume: Kubernetes fsGroup, or `chgrp 0 DIR && chmod g+rwX DIR` for an arbitrary uid in group 0), ' +
      'or choose another path with --state sqlite:PATH (env DEPCTL_STATE)',
  );
}

/**
 * A full fetch's device writes on SQLite (ObserveStore.fetchWriteGroup): larger groups than observe's default
 * (5,000 / 20,000). Serials arrive in random order, so every commit rewrites, in the log and again at the
 * checkpoint, nearly every leaf page of the (server, serial) index: the fewer commits, the fewer bytes written.
 * A million devices stored in groups of 5,000: 5.65 GB written, 10.7–11.4 s of CPU; 20,000: 2.63 GB, 9.6 s;
 * 50,000: 1.66 GB, 8.4 s (`.scratch/first-var.mjs`). The cost is memory: up to `max` parsed devices wait while a
 * group is written (about 75 MiB more peak RSS in the million-device first reconcile).
 */
export const SQLITE_FETCH_WRITE_GROUP: FetchWriteGroup = { min: 20_000, max: 50_000 };

/**
 * Devices per page when a caller of iterateDevices or iterateDiffDevices names no size (the planner's read of
 * every device names none). A page costs one indexed seek, so small pages cost no CPU, and they keep what is
 * alive at a young-generation collection small. With pages of 5,000, about 12 MiB (two pages' worth: likely the
 * page just read is still referenced while the next is read) outlived each scavenge on Node 24 and was promoted,
 * and the old generation grew to 240–270 MiB before a full collection during a million-device read (peak RSS
 * 390–420 MiB in `.scratch/differ-gc.mjs`, 537–584 MiB in the bench's profile edit). Pages of 1,000: 115 MiB
 * of heap, 255 MiB RSS, and 6.0–7.2 s of CPU against 7.7–7.8 s; Node 20 promoted nothing either way.
 */
export const SQLITE_READ_PAGE = 1000;

/** A Store on one SQLite database. Construct through `openStore` or `SqliteStore.open`. */
export class SqliteStore implements Store {
  /** Which backend this is. */
  readonly backend = 'sqlite' as const;
  /** See ObserveStore.fetchWriteGroup. */
  readonly fetchWriteGroup = SQLITE_FETCH_WRITE_GROUP;
  private readonly db: Database.Database;
  private readonly identity: string;
  private readonly now: () => Date;
  private devicesPart?: SqliteDevices;
  private recordsPart?: SqliteRecords;
  private readonly leadership: SqliteLeadership;
  private readonly checkpoint: IdleCheckpoint;

  private constructor(db: Database.Database, identity: string, now: () => Date, idleCheckpointMs: number) {
    this.db = db;
    this.identity = identity;
    this.now = now;
    this.leadership = new SqliteLeadership(db);
    this.checkpoint = new IdleCheckpoint(db, idleCheckpointMs);
  }

  /** Opens a store on `path` (or `:memory:`); call `migrate()` before use. */
  static open(path: string, opts: SqliteStoreOptions = {}): SqliteStore {
    const db = openSqliteDatabase(path, opts);
    const identity = path === ':memory:' ? `memory:${Math.random()}` : realpathSync(path);
    const idleCheckpointMs = path === ':memory:' ? 0 : (opts.idleCheckpointMs ?? IDLE_CHECKPOINT_MS);
    return new SqliteStore(db, identity, opts.now ?? (() => new Date()), idleCheckpointMs);
  }

  /** The SQLite journal mode in effect (`wal` for files), for diagnostics and tests. */
  journalMode(): string {
    return String(this.db.pragma('journal_mode', { simple: true }));
  }

  private get devices(): SqliteDevices {
    this.devicesPart ??= new SqliteDevices(this.db);
    return this.devicesPart;
  }

  private get records(): SqliteRecords {
    this.recordsPart ??= new SqliteRecords(this.db);
    return this.recordsPart;
  }

  /** See Store.migrate. */
  async migrate(): Promise<MigrationReport> {
    return migrateSqlite(this.db, this.now);
  }

  /** See Store.close. */
  async close(): Promise<void> {
    this.checkpoint.stop();
    if (this.db.open) this.leadership.releaseAll();
    if (this.db.open) this.db.close();
  }

  /** See IdentityStore.upsertServer. */
  async upsertServer(name: string, update: ServerUpdate): Promise<ServerRecord> {
    return this.records.upsertServer(name, update);
  }

  /** See IdentityStore.adoptServer. */
  async adoptServer(name: string, update: ServerUpdate): Promise<ServerRecord> {
    return this.records.adoptServer(name, update);
  }

  /** See PlanStore.setConvergedKey. */
  async setConvergedKey(name: string, key: string | null): Promise<void> {
    this.records.setConvergedKey(name, key);
  }

  /** See PlanStore.swapConvergedKey. */
  async swapConvergedKey(name: string, expected: string | null, next: string | null): Promise<boolean> {
    return this.records.swapConvergedKey(name, expected, next);
  }

  /** See PlanStore.getServer. */
  async getServer(name: string): Promise<ServerRecord | undefined> {
    return this.records.getServer(name);
  }

  /** See StatusStore.listServers. */
  async listServers(): Promise<ServerRecord[]> {
    return this.records.listServers();
  }

  /** See ObserveStore.getCursor. */
  async getCursor(server: string): Promise<CursorState | undefined> {
    return this.records.getCursor(server);
  }

  /** See ObserveStore.setCursor. */
  async setCursor(server: string, update: CursorUpdate): Promise<CursorState> {
    return this.records.setCursor(server, update, this.now());
  }

  /** See DefineStore.beginDefine. */
  async beginDefine(intent: ProfileIntent): Promise<{ profile: ProfileRecord; created: boolean }> {
    return this.records.beginDefine(intent);
  }

  /** See DefineStore.completeDefine. */
  async completeDefine(key: ProfileKey, uuid: string, at: Date, audit?: AuditEntry): Promise<ProfileRecord> {
    return this.records.completeDefine(key, uuid, at, audit);
  }

  /** See DefineStore.abandonDefine. */
  async abandonDefine(key: ProfileKey): Promise<boolean> {
    return this.records.abandonDefine(key);
  }

  /** See DefineStore.forgetProfile. */
  async forgetProfile(server: string, uuid: string): Promise<boolean> {
    return this.records.forgetProfile(server, uuid);
  }

  /** See Store.getProfile. */
  async getProfile(key: ProfileKey): Promise<ProfileRecord | undefined> {
    return this.records.getProfile(key);
  }

  /** See DefineStore.listProfiles. */
  async listProfiles(server: string, filter?: { state?: ProfileState }): Promise<ProfileRecord[]> {
    return this.records.listProfiles(server, filter?.state);
  }

  /** See ObserveStore.upsertDevices. */
  async upsertDevices(server: string, devices: readonly Device[], at: Date, opts?: UpsertOptions): Promise<number> {
    const n = this.devices.upsert(server, devices, at, opts);
    this.checkpoint.touch();
    return n;
  }

  /** See ObserveStore.deleteDevices. */
  async deleteDevices(server: string, serials: readonly string[]): Promise<number> {
    const n = this.devices.delete(server, serials);
    this.checkpoint.touch();
    return n;
  }

  /** See PlanStore.getDevice. */
  async getDevice(server: string, serial: string): Promise<DeviceRecord | undefined> {
    return this.devices.get(server, serial);
  }

  /** See PlanStore.getDevices. */
  async getDevices(server: string, serials: readonly string[]): Promise<DeviceRecord[]> {
    return this.devices.getMany(server, serials);
  }

  /** See PlanStore.presentSerials. */
  async presentSerials(server: string, serials: readonly string[]): Promise<Set<string>> {
    return this.devices.present(server, serials);
  }

  /** See ObserveStore.countDevices. */
  async countDevices(server: string, filter?: DeviceFilter): Promise<number> {
    return this.devices.count(server, filter);
  }

  /** See PlanStore.countMigrationDeadlines. */
  async countMigrationDeadlines(server: string): Promise<MigrationDeadlineCount> {
    return this.devices.countMigrationDeadlines(server);
  }

  /** See StatusStore.countDevicesByProfileUuid. */
  async countDevicesByProfileUuid(server: string): Promise<Map<string | null, number>> {
    return this.devices.countByProfileUuid(server);
  }

  /** See StatusStore.countResults. */
  async countResults(server: string, now: Date): Promise<ResultCounts> {
    return this.devices.countResults(server, now);
  }

  /** See Store.listDevices. */
  async listDevices(server: string, page: { after?: string | null; limit: number; filter?: DeviceFilter }): Promise<DevicePage> {
    return this.devices.list(server, page.after ?? null, checkLimit(page.limit), page.filter);
  }

  /** See Store.iterateDevices (pages of SQLITE_READ_PAGE unless the caller says). */
  iterateDevices(server: string, opts: { pageSize?: number; filter?: DeviceFilter } = {}): AsyncIterable<DeviceRecord[]> {
    const limit = checkLimit(opts.pageSize ?? SQLITE_READ_PAGE);
    return pageThrough((after) => this.listDevices(server, { after, limit, filter: opts.filter }));
  }

  /**
   * See PlanStore.iterateDiffDevices: the whole records when the differ reads `description` or `color`, otherwise
   * no record at all (SqliteDevices.listDiff): a million settled devices cost 3.4 s of CPU against 4.2 s
   * (`.scratch/narrow2.mjs`). Selecting description and color with json_extract too cost as much as the whole read
   * (7.8 against 7.5 s: SQLite's JSON extraction took what decoding the records in JavaScript saved), so with such
   * a rule the whole records are read.
   */
  iterateDiffDevices(server: string, opts: DiffReadOptions = {}): AsyncIterable<ObservedDevice[]> {
    const limit = checkLimit(opts.pageSize ?? SQLITE_READ_PAGE);
    if (opts.descriptionAndColor !== false) return this.iterateDevices(server, { pageSize: limit });
    return pageThrough<ObservedDevice>(async (after) => this.devices.listDiff(server, after, limit));
  }

  /** See ApplyStore.recordResults. */
  async recordResults(server: string, results: readonly DeviceResultUpdate[], audit: readonly AuditEntry[] = []): Promise<number> {
    let n = 0;
    this.db.transaction(() => {
      n = this.devices.recordResults(server, results);
      if (audit.length > 0) this.records.appendAudit(audit);
    }).immediate();
    this.checkpoint.touch();
    return n;
  }

  /** See ApplyStore.startRun. */
  async startRun(run: { startedAt: Date; commit: string | null; planHash: string | null; trigger: RunTrigger }): Promise<RunRecord> {
    return this.records.startRun(run);
  }

  /** See ApplyStore.finishRun. */
  async finishRun(id: number, end: { finishedAt: Date; result: RunResult; summary: JsonValue | null }, notifications?: readonly OutboxEntry[]): Promise<RunRecord> {
    return this.records.finishRun(id, end, notifications);
  }

  /** See StatusStore.listRuns. */
  async listRuns(opts: { limit: number }): Promise<RunRecord[]> {
    return this.records.listRuns(checkLimit(opts.limit));
  }

  /** See ApplyStore.appendAudit. */
  async appendAudit(entries: readonly AuditEntry[]): Promise<void> {
    this.records.appendAudit(entries);
  }

  /** See EnrollStore.recordEnrollmentAttempt. */
  async recordEnrollmentAttempt(attempt: EnrollmentAttempt): Promise<EnrollmentAttemptRecord> {
    return this.enrollments.record(attempt);
  }

  /** See EnrollStore.listEnrollmentAttempts. */
  async listEnrollmentAttempts(query: { serial?: string; limit: number }): Promise<EnrollmentAttemptRecord[]> {
    return this.enrollments.list({ ...query, limit: checkLimit(query.limit) });
  }

  /** See EnrollStore.countEnrollmentAttempts. */
  async countEnrollmentAttempts(): Promise<EnrollmentCount[]> {
    return this.enrollments.count();
  }

  /** See EnrollStore.countPushedNeverEnrolled. */
  async countPushedNeverEnrolled(server: string): Promise<Map<string | null, number>> {
    return this.enrollments.pushedNeverEnrolled(server);
  }

  /** See NotificationOutbox.enqueueNotification. */
  async enqueueNotification(key: string, n: Notification, at: Date): Promise<boolean> {
    return new SqliteOutbox(this.db).enqueue(key, n, at);
  }

  /** See NotificationOutbox.settleNotifications. */
  async settleNotifications(prefix: string, active: ReadonlySet<string>): Promise<void> {
    new SqliteOutbox(this.db).settle(prefix, active);
  }

  /** See NotificationOutbox.dueNotifications. */
  async dueNotifications(now: Date, limit: number): Promise<OutboxRow[]> {
    return new SqliteOutbox(this.db).due(now, checkLimit(limit));
  }

  /** See NotificationOutbox.markNotificationSent. */
  async markNotificationSent(id: number, at: Date): Promise<void> {
    new SqliteOutbox(this.db).markSent(id, at);
  }

  /** See NotificationOutbox.markNotificationFailed. */
  async markNotificationFailed(id: number, _at: Date, nextAttemptAt: Date, error: string): Promise<void> {
    new SqliteOutbox(this.db).markFailed(id, nextAttemptAt, error);
  }

  /** See NotificationOutbox.dropExpiredNotifications. */
  async dropExpiredNotifications(olderThan: Date): Promise<OutboxRow[]> {
    return new SqliteOutbox(this.db).dropExpired(olderThan);
  }

  /** See NotificationOutbox.countUnsentNotifications. */
  async countUnsentNotifications(): Promise<number> {
    return new SqliteOutbox(this.db).countUnsent();
  }

  /** See ActivityStore.recordActivity. */
  async recordActivity(activity: ActivityRecord): Promise<void> {
    new SqliteAbmActivities(this.db).record(activity);
  }

  /** See ActivityStore.updateActivity (the row and its audit in one transaction). */
  async updateActivity(organization: string, activityId: string, update: ActivityUpdate, audit: readonly AuditEntry[] = []): Promise<boolean> {
    return this.db.transaction((): boolean => {
      if (!new SqliteAbmActivities(this.db).update(organization, activityId, update)) return false;
      if (audit.length > 0) this.records.appendAudit(audit);
      return true;
    }).immediate();
  }

  /** See ActivityStore.listActivities. */
  async listActivities(organization: string, opts: { open: boolean; limit?: number }): Promise<ActivityRecord[]> {
    return new SqliteAbmActivities(this.db).list(organization, opts);
  }

  private get enrollments(): SqliteEnrollments {
    return new SqliteEnrollments(this.db, (entries) => this.records.appendAudit(entries));
  }

  /** See Store.readAudit. */
  async readAudit(query: { runId?: number; server?: string; serial?: string; afterSeq?: number; limit: number }): Promise<AuditRecord[]> {
    return this.records.readAudit({ ...query, limit: checkLimit(query.limit) });
  }

  /** See LeaderLock.tryAcquireLeadership (a lock row shared by every process on the file, see leader.ts). */
  async tryAcquireLeadership(name: string, owner?: string): Promise<boolean> {
    return this.leadership.tryAcquire(name, owner);
  }

  /** See LeaderLock.releaseLeadership. */
  async releaseLeadership(name: string): Promise<void> {
    this.leadership.release(name);
  }

  /** See LeaderLock.leadershipHolder. */
  async leadershipHolder(name: string): Promise<LeaderHolder | null> {
    return this.leadership.holder(name);
  }

  /** See LeaderLock.onLeadershipLost (a heartbeat found the lock row taken over). */
  onLeadershipLost(name: string, listener: () => void): () => void {
    return this.leadership.onLost(name, listener);
  }
}
