/**
 * The PostgreSQL store (`--state postgres://…`), for HA deployments: a pg Pool for queries, one
 * dedicated connection per leadership lock. `?schema=NAME` in the URL keeps the tables in their own
 * schema (created by `migrate()`).
 */
import pg from 'pg';
import type { Device } from '../../dep/types.js';
import type { ObservedDevice } from '../../reconcile/diff.js';
import { DEFAULT_PAGE_SIZE } from '../codec.js';
import { checkLimit, pageThrough } from '../paging.js';
import type {
  AuditEntry, AuditRecord, CursorState, CursorUpdate, DeviceFilter, DevicePage, DeviceRecord, DeviceResultUpdate,
  JsonValue, MigrationDeadlineCount, MigrationReport, ProfileIntent, ProfileKey, ProfileRecord, ProfileState, ResultCounts, RunRecord,
  RunResult, RunTrigger, ServerRecord, ServerUpdate, Store, UpsertOptions,
  LeaderHolder, DiffReadOptions,
} from '../ports.js';
import { clientConfig, postgresSettings } from './connection.js';
import * as devices from './devices.js';
import { PostgresLeadership } from './leader.js';
import * as enrollments from './enrollments.js';
import * as outbox from './outbox.js';
import * as abmActivities from './abm-activities.js';
import type { ActivityRecord, ActivityUpdate } from '../../ownership/ports.js';
import type { OutboxEntry, OutboxRow } from '../../notify/ports.js';
import type { Notification } from '../../notify/webhook.js';
import type { EnrollmentAttempt, EnrollmentAttemptRecord, EnrollmentCount } from '../../enroll/ports.js';
import { migratePostgres } from './migrate.js';
import { PostgresRecords, insertAudit } from './records.js';

/** Options for opening a PostgreSQL store. */
export interface PostgresStoreOptions {
  /** Schema for the tables (overrides `?schema=` in the URL). */
  schema?: string;
  /** Maximum pool connections (default 10). */
  poolSize?: number;
  /** Clock used to stamp server rows that `setCursor` creates (default: system clock). */
  now?: () => Date;
}

/** A Store on a PostgreSQL database. Construct through `openStore` or `PostgresStore.open`. */
export class PostgresStore implements Store {
  /** Which backend this is. */
  readonly backend = 'postgres' as const;
  private readonly pool: pg.Pool;
  private readonly schema: string | null;
  private readonly records: PostgresRecords;
  private readonly leadership: PostgresLeadership;
  private readonly now: () => Date;
  private closed = false;

  private constructor(pool: pg.Pool, schema: string | null, leadership: PostgresLeadership, now: () => Date) {
    this.pool = pool;
    this.schema = schema;
    this.records = new PostgresRecords(pool);
    this.leadership = leadership;
    this.now = now;
  }

  /** Creates the pool (connections open lazily); call `migrate()` before use. */
  static open(url: string, opts: PostgresStoreOptions = {}): PostgresStore {
    const settings = postgresSettings(url, opts);
    const config = clientConfig(settings);
    const pool = new pg.Pool({ ...config, max: settings.poolSize });
    // An idle pooled connection that drops emits 'error' on the pool; without a listener Node
    // would crash the process. The next query simply opens a new connection.
    pool.on('error', () => undefined);
    const leadership = new PostgresLeadership(config, settings.schema ?? '');
    return new PostgresStore(pool, settings.schema, leadership, opts.now ?? (() => new Date()));
  }

  /** See Store.migrate. */
  async migrate(): Promise<MigrationReport> {
    return migratePostgres(this.pool, this.schema);
  }

  /** See Store.close (idempotent). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.leadership.releaseAll();
    await this.pool.end();
  }

  /** See IdentityStore.upsertServer. */
  upsertServer(name: string, update: ServerUpdate): Promise<ServerRecord> {
    return this.records.upsertServer(name, update);
  }

  /** See IdentityStore.adoptServer. */
  adoptServer(name: string, update: ServerUpdate): Promise<ServerRecord> {
    return this.records.adoptServer(name, update);
  }

  /** See PlanStore.setConvergedKey. */
  setConvergedKey(name: string, key: string | null): Promise<void> {
    return this.records.setConvergedKey(name, key);
  }

  /** See PlanStore.swapConvergedKey. */
  swapConvergedKey(name: string, expected: string | null, next: string | null): Promise<boolean> {
    return this.records.swapConvergedKey(name, expected, next);
  }

  /** See PlanStore.getServer. */
  getServer(name: string): Promise<ServerRecord | undefined> {
    return this.records.getServer(name);
  }

  /** See StatusStore.listServers. */
  listServers(): Promise<ServerRecord[]> {
    return this.records.listServers();
  }

  /** See ObserveStore.getCursor. */
  getCursor(server: string): Promise<CursorState | undefined> {
    return this.records.getCursor(server);
  }

  /** See ObserveStore.setCursor. */
  setCursor(server: string, update: CursorUpdate): Promise<CursorState> {
    return this.records.setCursor(server, update, this.now());
  }

  /** See DefineStore.beginDefine. */
  beginDefine(intent: ProfileIntent): Promise<{ profile: ProfileRecord; created: boolean }> {
    return this.records.beginDefine(intent);
  }

  /** See DefineStore.completeDefine. */
  completeDefine(key: ProfileKey, uuid: string, at: Date, audit?: AuditEntry): Promise<ProfileRecord> {
    return this.records.completeDefine(key, uuid, at, audit);
  }

  /** See DefineStore.abandonDefine. */
  abandonDefine(key: ProfileKey): Promise<boolean> {
    return this.records.abandonDefine(key);
  }

  /** See DefineStore.forgetProfile. */
  forgetProfile(server: string, uuid: string): Promise<boolean> {
    return this.records.forgetProfile(server, uuid);
  }

  /** See Store.getProfile. */
  getProfile(key: ProfileKey): Promise<ProfileRecord | undefined> {
    return this.records.getProfile(key);
  }

  /** See DefineStore.listProfiles. */
  listProfiles(server: string, filter?: { state?: ProfileState }): Promise<ProfileRecord[]> {
    return this.records.listProfiles(server, filter?.state);
  }

  /** See ObserveStore.upsertDevices. */
  upsertDevices(server: string, list: readonly Device[], at: Date, opts?: UpsertOptions): Promise<number> {
    return devices.upsertDevices(this.pool, server, list, at, opts);
  }

  /** See ObserveStore.deleteDevices. */
  deleteDevices(server: string, serials: readonly string[]): Promise<number> {
    return devices.deleteDevices(this.pool, server, serials);
  }

  /** See PlanStore.getDevice. */
  getDevice(server: string, serial: string): Promise<DeviceRecord | undefined> {
    return devices.getDevice(this.pool, server, serial);
  }

  /** See PlanStore.getDevices. */
  getDevices(server: string, serials: readonly string[]): Promise<DeviceRecord[]> {
    return devices.getDevices(this.pool, server, serials);
  }

  /** See PlanStore.presentSerials. */
  presentSerials(server: string, serials: readonly string[]): Promise<Set<string>> {
    return devices.presentSerials(this.pool, server, serials);
  }

  /** See ObserveStore.countDevices. */
  countDevices(server: string, filter?: DeviceFilter): Promise<number> {
    return devices.countDevices(this.pool, server, filter);
  }

  /** See PlanStore.countMigrationDeadlines. */
  countMigrationDeadlines(server: string): Promise<MigrationDeadlineCount> {
    return devices.countMigrationDeadlines(this.pool, server);
  }

  /** See StatusStore.countDevicesByProfileUuid. */
  countDevicesByProfileUuid(server: string): Promise<Map<string | null, number>> {
    return devices.countDevicesByProfileUuid(this.pool, server);
  }

  /** See StatusStore.countResults. */
  countResults(server: string, now: Date): Promise<ResultCounts> {
    return devices.countResults(this.pool, server, now);
  }

  /** See Store.listDevices. */
  async listDevices(server: string, page: { after?: string | null; limit: number; filter?: DeviceFilter }): Promise<DevicePage> {
    return devices.listDevices(this.pool, server, page.after ?? null, checkLimit(page.limit), page.filter);
  }

  /** See Store.iterateDevices. */
  iterateDevices(server: string, opts: { pageSize?: number; filter?: DeviceFilter } = {}): AsyncIterable<DeviceRecord[]> {
    const limit = checkLimit(opts.pageSize ?? DEFAULT_PAGE_SIZE);
    return pageThrough((after) => this.listDevices(server, { after, limit, filter: opts.filter }));
  }

  /** See PlanStore.iterateDiffDevices. */
  iterateDiffDevices(server: string, opts: DiffReadOptions = {}): AsyncIterable<ObservedDevice[]> {
    const limit = checkLimit(opts.pageSize ?? DEFAULT_PAGE_SIZE);
    return pageThrough((after) => devices.listDiffDevices(this.pool, server, after, limit));
  }

  /** See ApplyStore.recordResults. */
  recordResults(server: string, results: readonly DeviceResultUpdate[], audit: readonly AuditEntry[] = []): Promise<number> {
    return devices.recordResults(this.pool, server, results, (client) => insertAudit(client, audit));
  }

  /** See ApplyStore.startRun. */
  startRun(run: { startedAt: Date; commit: string | null; planHash: string | null; trigger: RunTrigger }): Promise<RunRecord> {
    return this.records.startRun(run);
  }

  /** See ApplyStore.finishRun. */
  finishRun(id: number, end: { finishedAt: Date; result: RunResult; summary: JsonValue | null }, notifications?: readonly OutboxEntry[]): Promise<RunRecord> {
    return this.records.finishRun(id, end, notifications);
  }

  /** See StatusStore.listRuns. */
  async listRuns(opts: { limit: number }): Promise<RunRecord[]> {
    return this.records.listRuns(checkLimit(opts.limit));
  }

  /** See ApplyStore.appendAudit. */
  appendAudit(entries: readonly AuditEntry[]): Promise<void> {
    return this.records.appendAudit(entries);
  }

  /** See EnrollStore.recordEnrollmentAttempt. */
  recordEnrollmentAttempt(attempt: EnrollmentAttempt): Promise<EnrollmentAttemptRecord> {
    return enrollments.recordEnrollmentAttempt(this.pool, attempt);
  }

  /** See EnrollStore.listEnrollmentAttempts. */
  listEnrollmentAttempts(query: { serial?: string; limit: number }): Promise<EnrollmentAttemptRecord[]> {
    return enrollments.listEnrollmentAttempts(this.pool, { ...query, limit: checkLimit(query.limit) });
  }

  /** See EnrollStore.countEnrollmentAttempts. */
  countEnrollmentAttempts(): Promise<EnrollmentCount[]> {
    return enrollments.countEnrollmentAttempts(this.pool);
  }

  /** See EnrollStore.countPushedNeverEnrolled. */
  countPushedNeverEnrolled(server: string): Promise<Map<string | null, number>> {
    return enrollments.countPushedNeverEnrolled(this.pool, server);
  }

  /** See NotificationOutbox.enqueueNotification. */
  enqueueNotification(key: string, n: Notification, at: Date): Promise<boolean> {
    return outbox.enqueue(this.pool, key, n, at);
  }

  /** See NotificationOutbox.settleNotifications. */
  settleNotifications(prefix: string, active: ReadonlySet<string>): Promise<void> {
    return outbox.settle(this.pool, prefix, active);
  }

  /** See NotificationOutbox.dueNotifications. */
  dueNotifications(now: Date, limit: number): Promise<OutboxRow[]> {
    return outbox.due(this.pool, now, checkLimit(limit));
  }

  /** See NotificationOutbox.markNotificationSent. */
  markNotificationSent(id: number, at: Date): Promise<void> {
    return outbox.markSent(this.pool, id, at);
  }

  /** See NotificationOutbox.markNotificationFailed. */
  markNotificationFailed(id: number, _at: Date, nextAttemptAt: Date, error: string): Promise<void> {
    return outbox.markFailed(this.pool, id, nextAttemptAt, error);
  }

  /** See NotificationOutbox.dropExpiredNotifications. */
  dropExpiredNotifications(olderThan: Date): Promise<OutboxRow[]> {
    return outbox.dropExpired(this.pool, olderThan);
  }

  /** See NotificationOutbox.countUnsentNotifications. */
  countUnsentNotifications(): Promise<number> {
    return outbox.countUnsent(this.pool);
  }

  /** See ActivityStore.recordActivity. */
  recordActivity(activity: ActivityRecord): Promise<void> {
    return abmActivities.recordActivity(this.pool, activity);
  }

  /** See ActivityStore.updateActivity (the row and its audit in one transaction). */
  updateActivity(organization: string, activityId: string, update: ActivityUpdate, audit?: readonly AuditEntry[]): Promise<boolean> {
    return abmActivities.updateActivity(this.pool, organization, activityId, update, audit);
  }

  /** See ActivityStore.listActivities. */
  listActivities(organization: string, opts: { open: boolean; limit?: number }): Promise<ActivityRecord[]> {
    return abmActivities.listActivities(this.pool, organization, opts);
  }

  /** See Store.readAudit. */
  async readAudit(query: { runId?: number; server?: string; serial?: string; afterSeq?: number; limit: number }): Promise<AuditRecord[]> {
    return this.records.readAudit({ ...query, limit: checkLimit(query.limit) });
  }

  /** See LeaderLock.tryAcquireLeadership (session advisory lock on a dedicated connection). */
  tryAcquireLeadership(name: string, owner?: string): Promise<boolean> {
    return this.leadership.tryAcquire(name, owner);
  }

  /** See LeaderLock.leadershipHolder (pg_locks and the holder's application_name). */
  leadershipHolder(name: string): Promise<LeaderHolder | null> {
    return this.leadership.holder(this.pool, name);
  }

  /** See LeaderLock.releaseLeadership. */
  releaseLeadership(name: string): Promise<void> {
    return this.leadership.release(name);
  }

  /** See LeaderLock.onLeadershipLost (the lock's connection ended: 'error' or 'end'). */
  onLeadershipLost(name: string, listener: () => void): () => void {
    return this.leadership.onLost(name, listener);
  }
}
