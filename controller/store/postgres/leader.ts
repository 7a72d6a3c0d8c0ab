/**
 * Leadership on PostgreSQL: a session-level advisory lock held on a dedicated connection (not a
 * pooled one, which would be handed to other queries). When that connection drops, PostgreSQL
 * releases the lock and this replica stops counting itself as leader.
 */
import pg from 'pg';

/** Advisory-lock namespace for leadership (two-int key space, apart from the migration lock). */
const LEADER_NAMESPACE = 0x64657063; // "depc"

/** Holds leadership locks by name, each on its own connection. */
export class PostgresLeadership {
  private readonly config: pg.ClientConfig;
  private readonly scope: string;
  private readonly held = new Map<string, pg.Client>();

  /** `scope` (the schema) keeps locks of independent stores in one database apart. */
  constructor(config: pg.ClientConfig, scope: string) {
    this.config = config;
    this.scope = scope;
  }

  /** Takes the lock for `name` if no other session holds it; re-entrant for this store. */
  async tryAcquire(name: string): Promise<boolean> {
    if (this.held.has(name)) return true;
    const client = new pg.Client(this.config);
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
    // A lost connection means a lost lock: forget it so the next tryAcquire competes again.
    client.on('error', () => {
      if (this.held.get(name) === client) this.held.delete(name);
    });
    this.held.set(name, client);
    return true;
  }

  /** Releases the lock by closing its connection (PostgreSQL drops session locks with it). */
  async release(name: string): Promise<void> {
    const client = this.held.get(name);
    if (!client) return;
    this.held.delete(name);
    await client.end().catch(() => undefined);
  }

  /** Releases every lock. */
  async releaseAll(): Promise<void> {
    await Promise.all([...this.held.keys()].map((name) => this.release(name)));
  }
}
