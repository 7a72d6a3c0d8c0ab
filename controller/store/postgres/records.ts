/**
 * Servers, cursors, profiles, runs and the audit log on PostgreSQL (everything but devices).
 */
import type pg from 'pg';
import type { Profile } from '../../dep/types.js';
import { StoreError } from '../errors.js';
import { SERVER_FIELDS } from '../codec.js';
import type {
  AuditEntry, AuditRecord, CursorState, CursorUpdate, DeviceResultStatus, JsonValue, ProfileIntent, ProfileKey,
  ProfileRecord, ProfileState, RunRecord, RunResult, RunTrigger, ServerRecord, ServerUpdate,
} from '../ports.js';
import { ROWS_PER_STATEMENT, chunks, inTransaction, isUniqueViolation, num } from './connection.js';
import { enqueue as enqueueNotification } from './outbox.js';
import type { OutboxEntry } from '../../notify/ports.js';

interface ServerRow {
  name: string;
  token_fingerprint: string | null;
  token_expires_at: Date | null;
  server_uuid: string | null;
  cursor: string | null;
  fetch_started_at: Date | null;
  fetched_at: Date | null;
  synced_at: Date | null;
  updated_at: Date;
  converged_key?: string | null;
  apple_server_name?: string | null;
  org_name?: string | null;
  org_type?: string | null;
  org_id?: string | null;
  identity_checked_at?: Date | null;
}

interface ProfileRow {
  server: string;
  name: string;
  content_hash: string;
  state: ProfileState;
  uuid: string | null;
  body: Profile;
  created_at: Date;
  defined_at: Date | null;
}

interface RunRow {
  id: string;
  started_at: Date;
  finished_at: Date | null;
  commit_sha: string | null;
  plan_hash: string | null;
  run_trigger: RunTrigger;
  result: RunResult | null;
  summary: JsonValue | null;
}

interface AuditRow {
  seq: string;
  run_id: string | null;
  server: string;
  serial: string | null;
  action: string;
  before_value: string | null;
  after_value: string | null;
  outcome: DeviceResultStatus;
  apple_status: string | null;
  at: Date;
}

const toServer = (r: ServerRow): ServerRecord => ({
  name: r.name, tokenFingerprint: r.token_fingerprint, tokenExpiresAt: r.token_expires_at, serverUuid: r.server_uuid,
  appleServerName: r.apple_server_name ?? null, orgName: r.org_name ?? null, orgType: r.org_type ?? null, orgId: r.org_id ?? null,
  identityCheckedAt: r.identity_checked_at ?? null, updatedAt: r.updated_at, convergedKey: r.converged_key ?? null,
});

/**
 * One upsert of a server row writing only the given fields (an explicit null clears one): the column list
 * is built from the update, the values are parameters.
 */
function serverUpsert(name: string, u: ServerUpdate): { text: string; values: Array<string | Date | null> } {
  const columns = ['name', 'updated_at'];
  const values: Array<string | Date | null> = [name, u.at];
  for (const [key, column] of SERVER_FIELDS) {
    const value = u[key];
    if (value === undefined) continue;
    columns.push(column);
    values.push(value);
  }
  const sets = columns.slice(1).map((c) => `${c} = excluded.${c}`);
  return {
    text: `INSERT INTO servers (${columns.join(', ')}) VALUES (${columns.map((_, i) => `$${i + 1}`).join(', ')})
       ON CONFLICT (name) DO UPDATE SET ${sets.join(', ')} RETURNING *`,
    values,
  };
}

const toCursor = (r: ServerRow): CursorState => ({
  server: r.name, cursor: r.cursor, fetchStartedAt: r.fetch_started_at, fetchedAt: r.fetched_at, syncedAt: r.synced_at,
});

const toProfile = (r: ProfileRow): ProfileRecord => ({
  server: r.server, name: r.name, contentHash: r.content_hash, state: r.state, uuid: r.uuid, body: r.body,
  createdAt: r.created_at, definedAt: r.defined_at,
});

const toRun = (r: RunRow): RunRecord => ({
  id: num(r.id), startedAt: r.started_at, finishedAt: r.finished_at, commit: r.commit_sha, planHash: r.plan_hash,
  trigger: r.run_trigger, result: r.result, summary: r.summary,
});

const toAudit = (r: AuditRow): AuditRecord => ({
  seq: num(r.seq), runId: r.run_id === null ? null : num(r.run_id), server: r.server, serial: r.serial, action: r.action,
  before: r.before_value, after: r.after_value, outcome: r.outcome, appleStatus: r.apple_status, at: r.at,
});

const PROFILE_KEY = 'server = $1 AND name = $2 AND content_hash = $3';
const keyParams = (k: ProfileKey): string[] => [k.server, k.name, k.contentHash];

/** Everything but devices, over a pool. */
export class PostgresRecords {
  private readonly pool: pg.Pool;

  /** Binds to a pool whose connections see the migrated schema. */
  constructor(pool: pg.Pool) {
    this.pool = pool;
  }

  /** See IdentityStore.upsertServer (an omitted field keeps its value, null clears it). */
  async upsertServer(name: string, u: ServerUpdate): Promise<ServerRecord> {
    const q = serverUpsert(name, u);
    const { rows } = await this.pool.query<ServerRow>(q.text, q.values);
    return toServer(rows[0]!);
  }

  /** See IdentityStore.adoptServer: one transaction, so a crash leaves either the old server or the new one. */
  async adoptServer(name: string, u: ServerUpdate): Promise<ServerRecord> {
    return inTransaction(this.pool, async (client) => {
      await client.query('DELETE FROM devices WHERE server = $1', [name]);
      await client.query('DELETE FROM device_state WHERE server = $1', [name]);
      await client.query('DELETE FROM profiles WHERE server = $1', [name]);
      await client.query(
        'UPDATE servers SET cursor = NULL, fetch_started_at = NULL, fetched_at = NULL, synced_at = NULL, converged_key = NULL WHERE name = $1',
        [name],
      );
      const q = serverUpsert(name, u);
      const { rows } = await client.query<ServerRow>(q.text, q.values);
      return toServer(rows[0]!);
    });
  }

  /** See PlanStore.setConvergedKey. */
  async setConvergedKey(name: string, key: string | null): Promise<void> {
    await this.pool.query('UPDATE servers SET converged_key = $1 WHERE name = $2', [key, name]);
  }

  /** See PlanStore.swapConvergedKey. */
  async swapConvergedKey(name: string, expected: string | null, next: string | null): Promise<boolean> {
    const { rowCount } = await this.pool.query('UPDATE servers SET converged_key = $1 WHERE name = $2 AND converged_key IS NOT DISTINCT FROM $3', [next, name, expected]);
    return rowCount === 1;
  }

  /** See PlanStore.getServer. */
  async getServer(name: string): Promise<ServerRecord | undefined> {
    const { rows } = await this.pool.query<ServerRow>('SELECT * FROM servers WHERE name = $1', [name]);
    return rows[0] && toServer(rows[0]);
  }

  /** See StatusStore.listServers. */
  async listServers(): Promise<ServerRecord[]> {
    return (await this.pool.query<ServerRow>('SELECT * FROM servers ORDER BY name')).rows.map(toServer);
  }

  /** See ObserveStore.getCursor. */
  async getCursor(server: string): Promise<CursorState | undefined> {
    const { rows } = await this.pool.query<ServerRow>('SELECT * FROM servers WHERE name = $1', [server]);
    return rows[0] && toCursor(rows[0]);
  }

  /** See ObserveStore.setCursor; `now` stamps a server row created here. */
  async setCursor(server: string, u: CursorUpdate, now: Date): Promise<CursorState> {
    const { rows } = await this.pool.query<ServerRow>(
      `INSERT INTO servers (name, updated_at, cursor, fetch_started_at, fetched_at, synced_at) VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (name) DO UPDATE SET
         cursor = CASE WHEN $7 THEN servers.cursor ELSE excluded.cursor END,
         fetch_started_at = CASE WHEN $8 THEN servers.fetch_started_at ELSE excluded.fetch_started_at END,
         fetched_at = CASE WHEN $9 THEN servers.fetched_at ELSE excluded.fetched_at END,
         synced_at = CASE WHEN $10 THEN servers.synced_at ELSE excluded.synced_at END
       RETURNING *`,
      [server, now, u.cursor ?? null, u.fetchStartedAt ?? null, u.fetchedAt ?? null, u.syncedAt ?? null,
        u.cursor === undefined, u.fetchStartedAt === undefined, u.fetchedAt === undefined, u.syncedAt === undefined],
    );
    return toCursor(rows[0]!);
  }

  /** See DefineStore.beginDefine. */
  async beginDefine(i: ProfileIntent): Promise<{ profile: ProfileRecord; created: boolean }> {
    const inserted = await this.pool.query<ProfileRow>(
      `INSERT INTO profiles (server, name, content_hash, state, uuid, body, created_at)
       VALUES ($1, $2, $3, 'defining', NULL, $4, $5) ON CONFLICT (server, name, content_hash) DO NOTHING RETURNING *`,
      [i.server, i.name, i.contentHash, JSON.stringify(i.body), i.at],
    );
    if (inserted.rows[0]) return { profile: toProfile(inserted.rows[0]), created: true };
    return { profile: (await this.getProfile(i))!, created: false };
  }

  /** See DefineStore.completeDefine. */
  async completeDefine(key: ProfileKey, uuid: string, at: Date, audit?: AuditEntry): Promise<ProfileRecord> {
    const label = `${key.server}/${key.name}@${key.contentHash}`;
    try {
      return await inTransaction(this.pool, async (client) => {
        const { rows } = await client.query<ProfileRow>(`SELECT * FROM profiles WHERE ${PROFILE_KEY} FOR UPDATE`, keyParams(key));
        const row = rows[0];
        if (!row) throw new StoreError('store-not-found', `no profile intent for ${label}`);
        if (row.state === 'defined') {
          if (row.uuid === uuid) return toProfile(row);
          throw new StoreError('store-conflict', `profile ${label} is already defined as ${row.uuid}`);
        }
        const updated = await client.query<ProfileRow>(
          `UPDATE profiles SET state = 'defined', uuid = $4, defined_at = $5 WHERE ${PROFILE_KEY} RETURNING *`,
          [...keyParams(key), uuid, at],
        );
        if (audit) await insertAudit(client, [audit]);
        return toProfile(updated.rows[0]!);
      });
    } catch (err) {
      if (isUniqueViolation(err)) throw new StoreError('store-conflict', `profile UUID ${uuid} is already recorded on ${key.server}`);
      throw err;
    }
  }

  /** See DefineStore.abandonDefine. */
  async abandonDefine(key: ProfileKey): Promise<boolean> {
    const r = await this.pool.query(`DELETE FROM profiles WHERE ${PROFILE_KEY} AND state = 'defining'`, keyParams(key));
    return r.rowCount === 1;
  }

  /** See DefineStore.forgetProfile. */
  async forgetProfile(server: string, uuid: string): Promise<boolean> {
    const r = await this.pool.query('DELETE FROM profiles WHERE server = $1 AND uuid = $2', [server, uuid]);
    return (r.rowCount ?? 0) > 0;
  }

  /** See Store.getProfile. */
  async getProfile(key: ProfileKey): Promise<ProfileRecord | undefined> {
    const { rows } = await this.pool.query<ProfileRow>(`SELECT * FROM profiles WHERE ${PROFILE_KEY}`, keyParams(key));
    return rows[0] && toProfile(rows[0]);
  }

  /** See DefineStore.listProfiles. */
  async listProfiles(server: string, state?: ProfileState): Promise<ProfileRecord[]> {
    const { rows } = await this.pool.query<ProfileRow>(
      'SELECT * FROM profiles WHERE server = $1 AND ($2::text IS NULL OR state = $2) ORDER BY name, created_at, content_hash',
      [server, state ?? null],
    );
    return rows.map(toProfile);
  }

  /** See ApplyStore.startRun. */
  async startRun(run: { startedAt: Date; commit: string | null; planHash: string | null; trigger: RunTrigger }): Promise<RunRecord> {
    const { rows } = await this.pool.query<RunRow>(
      'INSERT INTO runs (started_at, commit_sha, plan_hash, run_trigger) VALUES ($1, $2, $3, $4) RETURNING *',
      [run.startedAt, run.commit, run.planHash, run.trigger],
    );
    return toRun(rows[0]!);
  }

  /** See ApplyStore.finishRun. */
  async finishRun(id: number, end: { finishedAt: Date; result: RunResult; summary: JsonValue | null }, notifications: readonly OutboxEntry[] = []): Promise<RunRecord> {
    return inTransaction(this.pool, async (client) => {
      const { rows } = await client.query<RunRow>(
        'UPDATE runs SET finished_at = $2, result = $3, summary = $4 WHERE id = $1 RETURNING *',
        [id, end.finishedAt, end.result, end.summary === null ? null : JSON.stringify(end.summary)],
      );
      if (!rows[0]) throw new StoreError('store-not-found', `no run ${id}`);
      for (const n of notifications) await enqueueNotification(client, n.key, n.notification, end.finishedAt);
      return toRun(rows[0]);
    });
  }

  /** See StatusStore.listRuns. */
  async listRuns(limit: number): Promise<RunRecord[]> {
    return (await this.pool.query<RunRow>('SELECT * FROM runs ORDER BY id DESC LIMIT $1', [limit])).rows.map(toRun);
  }

  /** See ApplyStore.appendAudit. */
  async appendAudit(entries: readonly AuditEntry[]): Promise<void> {
    await inTransaction(this.pool, (client) => insertAudit(client, entries));
  }

  /** See Store.readAudit. */
  async readAudit(q: { runId?: number; server?: string; serial?: string; afterSeq?: number; limit: number }): Promise<AuditRecord[]> {
    const where = ['seq > $1'];
    const params: Array<string | number> = [q.afterSeq ?? 0];
    const add = (column: string, value: string | number | undefined): void => {
      if (value === undefined) return;
      params.push(value);
      where.push(`${column} = $${params.length}`);
    };
    add('run_id', q.runId);
    add('server', q.server);
    add('serial', q.serial);
    params.push(q.limit);
    const { rows } = await this.pool.query<AuditRow>(
      `SELECT * FROM audit_log WHERE ${where.join(' AND ')} ORDER BY seq LIMIT $${params.length}`, params,
    );
    return rows.map(toAudit);
  }
}

/** audit_log's columns as insertAudit sends them: name, array type, value of an entry. */
const AUDIT_COLUMNS: ReadonlyArray<readonly [string, string, (e: AuditEntry) => string | number | null]> = [
  ['run_id', 'bigint', (e) => e.runId],
  ['server', 'text', (e) => e.server],
  ['serial', 'text', (e) => e.serial],
  ['action', 'text', (e) => e.action],
  ['before_value', 'text', (e) => e.before],
  ['after_value', 'text', (e) => e.after],
  ['outcome', 'text', (e) => e.outcome],
  ['apple_status', 'text', (e) => e.appleStatus],
  ['at', 'timestamptz', (e) => e.at.toISOString()],
];

/**
 * The rows of a batch go as one array per column, `WITH ORDINALITY` keeping their order. A column whose value is
 * the same in every row (the run, server, action, target and time of one Apple call's serials; often the outcome)
 * goes as a one-element array that every row reads: an apply writes two million audit rows at a million
 * devices, and sending and escaping each constant value again per row cost the client (and the loopback socket)
 * more than the rows' own data. The serial always goes whole, so the row count is the batch's.
 */
const AUDIT_INSERT = `INSERT INTO audit_log (${AUDIT_COLUMNS.map(([c]) => c).join(', ')})
  SELECT ${AUDIT_COLUMNS.map(([c, type], i) => `CASE WHEN cardinality($${i + 1}::${type}[]) = 1 THEN ($${i + 1}::${type}[])[1] ELSE u.${c} END`).join(',\n    ')}
  FROM unnest(${AUDIT_COLUMNS.map(([, type], i) => `$${i + 1}::${type}[]`).join(', ')})
    WITH ORDINALITY AS u(${AUDIT_COLUMNS.map(([c]) => c).join(', ')}, n)
  ORDER BY n`;

/** One column's values for AUDIT_INSERT: one element when every row has the same (never for the serial). */
function auditColumn(name: string, values: Array<string | number | null>): Array<string | number | null> {
  return name !== 'serial' && values.length > 1 && values.every((v) => v === values[0]) ? values.slice(0, 1) : values;
}

/**
 * Appends audit entries on `client` (inside the caller's transaction): statements of ROWS_PER_STATEMENT rows
 * (AUDIT_INSERT). The one writer of audit_log rows on PostgreSQL.
 */
export async function insertAudit(client: pg.PoolClient, entries: readonly AuditEntry[]): Promise<void> {
  for (const b of chunks(entries, ROWS_PER_STATEMENT)) {
    await client.query(AUDIT_INSERT, AUDIT_COLUMNS.map(([name, , read]) => auditColumn(name, b.map(read))));
  }
}
