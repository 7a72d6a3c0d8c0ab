/**
 * Leadership on PostgreSQL: a session-level advisory lock held on a dedicated connection (not a
 * pooled one, which would be handed to other queries). When that connection drops, PostgreSQL
 * releases the lock and this replica stops counting itself as leader.
 */
import { hostname } from 'node:os';
import pg from 'pg';
import type { LeaderHolder } from '../ports.js';
import { LockLossListeners } from '../lock-loss.js';

/**
 * The leadership connection's application_name says who holds the lock, so another process can name it
 * (`leadershipHolder`); PostgreSQL keeps at most 63 bytes of it.
 */
function applicationName(owner: string | undefined): string {
  return `depctl ${owner ?? 'depctl'} pid ${process.pid} on ${hostname()}`.slice(0, 63);
}

const APPLICATION_NAME = /^depctl (\S+) pid (\d+) on (.+)$/;

/** Advisory-lock namespace for leadership (two-int key space, apart from the migration lock). */
const LEADER_NAMESPACE = 0x64657063; // "depc"

/** Holds leadership locks by name, each on its own connection. */
export class PostgresLeadership {
  private readonly config: pg.ClientConfig;
  private readonly scope: string;
  private readonly held = new Map<string, pg.Client>();
  private readonly listeners = new LockLossListeners();

  /** `scope` (the schema) keeps locks of independent stores in one database apart. */
  constructor(config: pg.ClientConfig, scope: string) {
    this.config = config;
    this.scope = scope;
  }

  /** Takes the lock for `name` if no other session holds it; re-entrant for this store. */
  async tryAcquire(name: string, owner?: string): Promise<boolean> {
    if (this.held.has(name)) return true;
    const client = new pg.Client({ ...this.config, application_name: applicationName(owner) });
    await client.connect();
    try {
      const { rows } = await client.query<{ ok: boolean }>(
        'SELECT pg_try_advisory_lock($1::int, hashtext($2)) AS ok', [LEADER_NAMESPACE, `${this.scope}:${name}`],
      );
      if (rows[0]?.ok !== true) {
        await client.end();
        return false;
      }
    } catch (err) {
      await client.end().catch(() => undefined);
      throw err;
    }
    // A lost connection means a lost lock: forget it so the next tryAcquire competes again, and tell whoever
    // writes under it (a pass in flight stops before its next call to Apple, see onLost). A terminated backend
    // emits 'error' and then 'end'; a connection closed without an error only 'end'.
    const lost = (): void => {
      if (this.held.get(name) !== client) return;
      this.held.delete(name);
      this.listeners.notify(name);
    };
    client.on('error', lost);
    client.on('end', lost);
    this.held.set(name, client);
    return true;
  }

  /** Calls `listener` when the lock for `name` is lost without a release (see LeaderLock.onLeadershipLost). */
  onLost(name: string, listener: () => void): () => void {
    return this.listeners.add(name, listener);
  }

  /** Releases the lock by closing its connection (PostgreSQL drops session locks with it). */
  async release(name: string): Promise<void> {
    const client = this.held.get(name);
    if (!client) return;
    this.held.delete(name);
    await client.end().catch(() => undefined);
  }

  /** Who holds the lock for `name` (any session on the database), or null when nobody does. */
  async holder(pool: pg.Pool, name: string): Promise<LeaderHolder | null> {
    // Two-int advisory locks show as classid = key1, objid = key2 (as oid), objsubid = 2.
    const { rows } = await pool.query<{ application_name: string | null; backend_start: Date | null; client_addr: string | null }>(
      `SELECT a.application_name, a.backend_start, host(a.client_addr) AS client_addr
         FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid
        WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
          AND l.classid = $1::int::oid AND l.objid = hashtext($2)::oid AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
        LIMIT 1`,
      [LEADER_NAMESPACE, `${this.scope}:${name}`],
    );
    const row = rows[0];
    if (!row) return null;
    const m = APPLICATION_NAME.exec(row.application_name ?? '');
    return {
      owner: m?.[1] ?? null,
      pid: m?.[2] !== undefined ? Number(m[2]) : null,
      host: m?.[3] ?? row.client_addr,
      since: row.backend_start,
    };
  }

  /** Releases every lock. */
  async releaseAll(): Promise<void> {
    await Promise.all([...this.held.keys()].map((name) => this.release(name)));
  }
}
