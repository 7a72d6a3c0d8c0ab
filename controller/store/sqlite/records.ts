/**
 * Servers, cursors, profiles, runs and the audit log on SQLite (everything but devices). Times are
 * INTEGER epoch milliseconds; JSON is TEXT.
 */
import type Database from 'better-sqlite3';
import type { Profile } from '../../dep/types.js';
import { StoreError } from '../errors.js';
import { fromMs, SERVER_FIELDS } from '../codec.js';
import { SqliteOutbox } from './outbox.js';
import type { OutboxEntry } from '../../notify/ports.js';
import { atomically } from './atomically.js';
import { writeInGroups } from './row-groups.js';
import type {
  AuditEntry, AuditRecord, CursorState, CursorUpdate, DeviceResultStatus, JsonValue, ProfileIntent, ProfileKey,
  ProfileRecord, ProfileState, RunRecord, RunResult, RunTrigger, ServerRecord, ServerUpdate,
} from '../ports.js';

/** A servers row. */
interface ServerRow {
  name: string;
  token_fingerprint: string | null;
  token_expires_at: number | null;
  server_uuid: string | null;
  cursor: string | null;
  fetch_started_at: number | null;
  fetched_at: number | null;
  synced_at: number | null;
  updated_at: number;
  converged_key?: string | null;
  apple_server_name?: string | null;
  org_name?: string | null;
  org_type?: string | null;
  org_id?: string | null;
  identity_checked_at?: number | null;
}

/** A profiles row. */
interface ProfileRow {
  server: string;
  name: string;
  content_hash: string;
  state: ProfileState;
  uuid: string | null;
  body: string;
  created_at: number;
  defined_at: number | null;
}

/** A runs row. */
interface RunRow {
  id: number;
  started_at: number;
  finished_at: number | null;
  commit_sha: string | null;
  plan_hash: string | null;
  run_trigger: RunTrigger;
  result: RunResult | null;
  summary: string | null;
}

/** An audit_log row. */
interface AuditRow {
  seq: number;
  run_id: number | null;
  server: string;
  serial: string | null;
  action: string;
  before_value: string | null;
  after_value: string | null;
  outcome: DeviceResultStatus;
  apple_status: string | null;
  at: number;
}

function toServer(r: ServerRow): ServerRecord {
  return {
    name: r.name,
    tokenFingerprint: r.token_fingerprint,
    tokenExpiresAt: fromMs(r.token_expires_at),
    serverUuid: r.server_uuid,
    appleServerName: r.apple_server_name ?? null,
    orgName: r.org_name ?? null,
    orgType: r.org_type ?? null,
    orgId: r.org_id ?? null,
    identityCheckedAt: fromMs(r.identity_checked_at ?? null),
    updatedAt: new Date(r.updated_at),
    convergedKey: r.converged_key ?? null,
  };
}

function toCursor(r: ServerRow): CursorState {
  return { server: r.name, cursor: r.cursor, fetchStartedAt: fromMs(r.fetch_started_at), fetchedAt: fromMs(r.fetched_at), syncedAt: fromMs(r.synced_at) };
}

function toProfile(r: ProfileRow): ProfileRecord {
  return {
    server: r.server,
    name: r.name,
    contentHash: r.content_hash,
    state: r.state,
    uuid: r.uuid,
    body: JSON.parse(r.body) as Profile,
    createdAt: new Date(r.created_at),
    definedAt: fromMs(r.defined_at),
  };
}

function toRun(r: RunRow): RunRecord {
  return {
    id: r.id,
    startedAt: new Date(r.started_at),
    finishedAt: fromMs(r.finished_at),
    commit: r.commit_sha,
    planHash: r.plan_hash,
    trigger: r.run_trigger,
    result: r.result,
    summary: r.summary === null ? null : (JSON.parse(r.summary) as JsonValue),
  };
}

function toAudit(r: AuditRow): AuditRecord {
  return {
    seq: r.seq,
    runId: r.run_id,
    server: r.server,
    serial: r.serial,
    action: r.action,
    before: r.before_value,
    after: r.after_value,
    outcome: r.outcome,
    appleStatus: r.apple_status,
    at: new Date(r.at),
  };
}

const PROFILE_KEY = 'server = ? AND name = ? AND content_hash = ?';

/** Audit rows one insert statement writes (9 parameters each): a third cheaper than a statement per row. */
const AUDIT_ROWS_PER_INSERT = 50;
const AUDIT_PARAMS = 9;

/** An insert of `rows` audit rows. */
function auditInsertSql(rows: number): string {
  return `INSERT INTO audit_log (run_id, server, serial, action, before_value, after_value, outcome, apple_status, at)
    VALUES ${Array<string>(rows).fill('(?, ?, ?, ?, ?, ?, ?, ?, ?)').join(', ')}`;
}

/** Everything but devices, synchronously (the store wraps it in promises). */
export class SqliteRecords {
  private readonly db: Database.Database;

  /** The audit inserts by rows per statement, prepared once per connection. */
  private readonly auditStatements = new Map<number, Database.Statement>();

  /** Binds to an open, migrated database. */
  constructor(db: Database.Database) {
    this.db = db;
  }

  private serverRow(name: string): ServerRow | undefined {
    return this.db.prepare('SELECT * FROM servers WHERE name = ?').get(name) as ServerRow | undefined;
  }

  /** See IdentityStore.upsertServer: only the given fields are written, an explicit null clears one. */
  upsertServer(name: string, u: ServerUpdate): ServerRecord {
    const run = this.db.transaction(() => {
      this.db.prepare('INSERT INTO servers (name, updated_at) VALUES (?, ?) ON CONFLICT (name) DO NOTHING').run(name, u.at.getTime());
      const sets = ['updated_at = ?'];
      const params: Array<string | number | null> = [u.at.getTime()];
      for (const [key, column] of SERVER_FIELDS) {
        const value = u[key];
        if (value === undefined) continue;
        sets.push(`${column} = ?`);
        params.push(value instanceof Date ? value.getTime() : value);
      }
      this.db.prepare(`UPDATE servers SET ${sets.join(', ')} WHERE name = ?`).run(...params, name);
      return toServer(this.serverRow(name) as ServerRow);
    });
    return run.immediate();
  }

  /** See IdentityStore.adoptServer: one transaction, so a crash leaves either the old server or the new one. */
  adoptServer(name: string, u: ServerUpdate): ServerRecord {
    const run = this.db.transaction(() => {
      this.db.prepare('DELETE FROM devices WHERE server = ?').run(name);
      this.db.prepare('DELETE FROM device_state WHERE server = ?').run(name);
      this.db.prepare('DELETE FROM profiles WHERE server = ?').run(name);
      this.db
        .prepare('UPDATE servers SET cursor = NULL, fetch_started_at = NULL, fetched_at = NULL, synced_at = NULL, converged_key = NULL WHERE name = ?')
        .run(name);
      return this.upsertServer(name, u);
    });
    return run.immediate();
  }

  /** See PlanStore.setConvergedKey. */
  setConvergedKey(name: string, key: string | null): void {
    this.db.prepare('UPDATE servers SET converged_key = ? WHERE name = ?').run(key, name);
  }

  /** See PlanStore.swapConvergedKey. */
  swapConvergedKey(name: string, expected: string | null, next: string | null): boolean {
    return this.db.prepare('UPDATE servers SET converged_key = ? WHERE name = ? AND converged_key IS ?').run(next, name, expected).changes === 1;
  }

  /** See PlanStore.getServer. */
  getServer(name: string): ServerRecord | undefined {
    const row = this.serverRow(name);
    return row && toServer(row);
  }

  /** See StatusStore.listServers. */
  listServers(): ServerRecord[] {
    return (this.db.prepare('SELECT * FROM servers ORDER BY name').all() as ServerRow[]).map(toServer);
  }

  /** See ObserveStore.getCursor. */
  getCursor(server: string): CursorState | undefined {
    const row = this.serverRow(server);
    return row && toCursor(row);
  }

  /** See ObserveStore.setCursor; `now` stamps a server row created here. */
  setCursor(server: string, u: CursorUpdate, now: Date): CursorState {
    const run = this.db.transaction(() => {
      this.db.prepare('INSERT INTO servers (name, updated_at) VALUES (?, ?) ON CONFLICT (name) DO NOTHING').run(server, now.getTime());
      const sets: string[] = [];
      const params: Array<string | number | null> = [];
      const fields: Array<[keyof CursorUpdate, string]> = [
        ['cursor', 'cursor'], ['fetchStartedAt', 'fetch_started_at'], ['fetchedAt', 'fetched_at'], ['syncedAt', 'synced_at'],
      ];
      for (const [key, column] of fields) {
        const value = u[key];
        if (value === undefined) continue;
        sets.push(`${column} = ?`);
        params.push(value instanceof Date ? value.getTime() : value);
      }
      if (sets.length > 0) this.db.prepare(`UPDATE servers SET ${sets.join(', ')} WHERE name = ?`).run(...params, server);
      return toCursor(this.serverRow(server) as ServerRow);
    });
    return run.immediate();
  }

  /** See DefineStore.beginDefine. */
  beginDefine(i: ProfileIntent): { profile: ProfileRecord; created: boolean } {
    const run = this.db.transaction(() => {
      const info = this.db
        .prepare(`INSERT INTO profiles (server, name, content_hash, state, uuid, body, created_at)
          VALUES (?, ?, ?, 'defining', NULL, ?, ?) ON CONFLICT (server, name, content_hash) DO NOTHING`)
        .run(i.server, i.name, i.contentHash, JSON.stringify(i.body), i.at.getTime());
      return { profile: this.getProfile(i) as ProfileRecord, created: info.changes === 1 };
    });
    return run.immediate();
  }

  /** See DefineStore.completeDefine. */
  completeDefine(key: ProfileKey, uuid: string, at: Date, audit?: AuditEntry): ProfileRecord {
    const run = this.db.transaction(() => {
      const row = this.getProfile(key);
      if (!row) throw new StoreError('store-not-found', `no profile intent for ${key.server}/${key.name}@${key.contentHash}`);
      if (row.state === 'defined') {
        if (row.uuid === uuid) return row;
        throw new StoreError('store-conflict', `profile ${key.server}/${key.name}@${key.contentHash} is already defined as ${row.uuid}`);
      }
      try {
        this.db
          .prepare(`UPDATE profiles SET state = 'defined', uuid = ?, defined_at = ? WHERE ${PROFILE_KEY}`)
          .run(uuid, at.getTime(), key.server, key.name, key.contentHash);
      } catch (err) {
        if ((err as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE') {
          throw new StoreError('store-conflict', `profile UUID ${uuid} is already recorded on ${key.server}`);
        }
        throw err;
      }
      if (audit) this.appendAudit([audit]);
      return this.getProfile(key) as ProfileRecord;
    });
    return run.immediate();
  }

  /** See DefineStore.abandonDefine. */
  abandonDefine(key: ProfileKey): boolean {
    const info = this.db
      .prepare(`DELETE FROM profiles WHERE ${PROFILE_KEY} AND state = 'defining'`)
      .run(key.server, key.name, key.contentHash);
    return info.changes === 1;
  }

  /** See DefineStore.forgetProfile. */
  forgetProfile(server: string, uuid: string): boolean {
    return this.db.prepare('DELETE FROM profiles WHERE server = ? AND uuid = ?').run(server, uuid).changes > 0;
  }

  /** See Store.getProfile. */
  getProfile(key: ProfileKey): ProfileRecord | undefined {
    const row = this.db.prepare(`SELECT * FROM profiles WHERE ${PROFILE_KEY}`).get(key.server, key.name, key.contentHash) as ProfileRow | undefined;
    return row && toProfile(row);
  }

  /** See DefineStore.listProfiles. */
  listProfiles(server: string, state?: ProfileState): ProfileRecord[] {
    const rows = this.db
      .prepare(`SELECT * FROM profiles WHERE server = ? AND (? IS NULL OR state = ?) ORDER BY name, created_at, content_hash`)
      .all(server, state ?? null, state ?? null) as ProfileRow[];
    return rows.map(toProfile);
  }

  /** See ApplyStore.startRun. */
  startRun(run: { startedAt: Date; commit: string | null; planHash: string | null; trigger: RunTrigger }): RunRecord {
    const info = this.db
      .prepare('INSERT INTO runs (started_at, commit_sha, plan_hash, run_trigger) VALUES (?, ?, ?, ?)')
      .run(run.startedAt.getTime(), run.commit, run.planHash, run.trigger);
    return this.runById(Number(info.lastInsertRowid)) as RunRecord;
  }

  /** See ApplyStore.finishRun. */
  finishRun(id: number, end: { finishedAt: Date; result: RunResult; summary: JsonValue | null }, notifications: readonly OutboxEntry[] = []): RunRecord {
    const outbox = new SqliteOutbox(this.db);
    this.db.transaction(() => {
      const info = this.db
        .prepare('UPDATE runs SET finished_at = ?, result = ?, summary = ? WHERE id = ?')
        .run(end.finishedAt.getTime(), end.result, end.summary === null ? null : JSON.stringify(end.summary), id);
      if (info.changes === 0) throw new StoreError('store-not-found', `no run ${id}`);
      for (const n of notifications) outbox.enqueue(n.key, n.notification, end.finishedAt);
    }).immediate();
    return this.runById(id) as RunRecord;
  }

  /** One run by id (startRun and finishRun return the row they wrote). */
  private runById(id: number): RunRecord | undefined {
    const row = this.db.prepare('SELECT * FROM runs WHERE id = ?').get(id) as RunRow | undefined;
    return row && toRun(row);
  }

  /** See StatusStore.listRuns. */
  listRuns(limit: number): RunRecord[] {
    return (this.db.prepare('SELECT * FROM runs ORDER BY id DESC LIMIT ?').all(limit) as RunRow[]).map(toRun);
  }

  /** See ApplyStore.appendAudit. */
  appendAudit(entries: readonly AuditEntry[]): void {
    const statement = (rows: number): Database.Statement => {
      let st = this.auditStatements.get(rows);
      if (!st) this.auditStatements.set(rows, (st = this.db.prepare(auditInsertSql(rows))));
      return st;
    };
    atomically(this.db, () => {
      writeInGroups(entries, AUDIT_PARAMS, AUDIT_ROWS_PER_INSERT, statement, (params, k, e) => {
        params[k] = e.runId;
        params[k + 1] = e.server;
        params[k + 2] = e.serial;
        params[k + 3] = e.action;
        params[k + 4] = e.before;
        params[k + 5] = e.after;
        params[k + 6] = e.outcome;
        params[k + 7] = e.appleStatus;
        params[k + 8] = e.at.getTime();
      });
    });
  }

  /** See Store.readAudit. */
  readAudit(q: { runId?: number; server?: string; serial?: string; afterSeq?: number; limit: number }): AuditRecord[] {
    // Only the given filters become conditions, so SQLite can pick the run or serial index.
    const where = ['seq > ?'];
    const params: Array<string | number> = [q.afterSeq ?? 0];
    for (const [column, value] of [['run_id', q.runId], ['server', q.server], ['serial', q.serial]] as const) {
      if (value === undefined) continue;
      where.push(`${column} = ?`);
      params.push(value);
    }
    const rows = this.db
      .prepare(`SELECT * FROM audit_log WHERE ${where.join(' AND ')} ORDER BY seq LIMIT ?`)
      .all(...params, q.limit) as AuditRow[];
    return rows.map(toAudit);
  }
}
