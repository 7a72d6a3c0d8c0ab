/**
 * Leadership on SQLite, across processes: a row per lock name in `leader_locks` (owner, pid, host, since,
 * heartbeat), taken in a `BEGIN IMMEDIATE` transaction so two processes cannot both take a free lock. SQLite
 * has no advisory locks and its own file locks last one transaction only, hence the row. A row is stale, and
 * may be taken over, when its process is gone (same host: the pid no longer exists) or its heartbeat is older
 * than STALE_AFTER_MS (a holder on another host, or one that hangs); the holder refreshes the heartbeat every
 * HEARTBEAT_MS and notices when another process took the lock over.
 */
import type Database from 'better-sqlite3';
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { LeaderHolder } from '../ports.js';
import { LockLossListeners } from '../lock-loss.js';

/** How often a holder refreshes its heartbeat. */
export const HEARTBEAT_MS = 10_000;
/** A heartbeat older than this marks the lock stale (six missed heartbeats). */
export const STALE_AFTER_MS = 60_000;

interface LockRow {
  name: string;
  token: string;
  owner: string | null;
  pid: number;
  host: string;
  since: number;
  heartbeat: number;
}

/** True when a process with this pid exists on this host (EPERM: it exists, under another user). */
function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The leadership locks of one SqliteStore (one connection); each store is its own holder. */
export class SqliteLeadership {
  private readonly token = randomUUID();
  private readonly host = hostname();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly listeners = new LockLossListeners();
  private ready = false;

  constructor(
    private readonly db: Database.Database,
    private readonly clock: () => number = Date.now,
  ) {}

  private table(): void {
    if (this.ready) return;
    // Outside the migrations on purpose: an operational table, like schema_migrations, that no schema
    // version depends on and that an older depctl simply ignores.
    this.db.exec(`CREATE TABLE IF NOT EXISTS leader_locks (
      name TEXT PRIMARY KEY, token TEXT NOT NULL, owner TEXT, pid INTEGER NOT NULL, host TEXT NOT NULL,
      since INTEGER NOT NULL, heartbeat INTEGER NOT NULL)`);
    this.ready = true;
  }

  private stale(row: LockRow, now: number): boolean {
    if (row.host === this.host && !pidAlive(row.pid)) return true;
    return now - row.heartbeat > STALE_AFTER_MS;
  }

  /** Takes the lock if it is free, stale or already this store's; `owner` says who holds it (e.g. `controller`). */
  tryAcquire(name: string, owner: string | undefined): boolean {
    this.table();
    const take = this.db.transaction((): boolean => {
      const now = this.clock();
      const row = this.db.prepare('SELECT * FROM leader_locks WHERE name = ?').get(name) as LockRow | undefined;
      if (row?.token === this.token) {
        this.db.prepare('UPDATE leader_locks SET heartbeat = ? WHERE name = ? AND token = ?').run(now, name, this.token);
        return true;
      }
      if (row && !this.stale(row, now)) return false;
      this.db
        .prepare('INSERT OR REPLACE INTO leader_locks (name, token, owner, pid, host, since, heartbeat) VALUES (?, ?, ?, ?, ?, ?, ?)')
        .run(name, this.token, owner ?? null, process.pid, this.host, now, now);
      return true;
    });
    const held = take.immediate();
    if (held) this.beat(name);
    else this.stopBeat(name);
    return held;
  }

  /** Calls `listener` when a heartbeat finds the lock for `name` taken over (see LeaderLock.onLeadershipLost). */
  onLost(name: string, listener: () => void): () => void {
    return this.listeners.add(name, listener);
  }

  /** Whether this store holds `name` (it may have been taken over after a long pause). */
  holds(name: string): boolean {
    return this.timers.has(name);
  }

  private beat(name: string): void {
    if (this.timers.has(name)) return;
    const timer = setInterval(() => {
      try {
        const r = this.db.prepare('UPDATE leader_locks SET heartbeat = ? WHERE name = ? AND token = ?').run(this.clock(), name, this.token);
        // Taken over (this process was judged gone): stop claiming it, and tell whoever writes under it; the
        // next tryAcquire competes again.
        if (r.changes === 0) {
          this.stopBeat(name);
          this.listeners.notify(name);
        }
      } catch {
        // Busy or closing: the next beat tries again, and six missed beats are needed to lose the lock.
      }
    }, HEARTBEAT_MS);
    timer.unref();
    this.timers.set(name, timer);
  }

  private stopBeat(name: string): void {
    clearInterval(this.timers.get(name));
    this.timers.delete(name);
  }

  /** Gives the lock up (a no-op when another store holds it). */
  release(name: string): void {
    this.stopBeat(name);
    if (!this.ready || !this.db.open) return;
    this.db.prepare('DELETE FROM leader_locks WHERE name = ? AND token = ?').run(name, this.token);
  }

  /** Gives every lock of this store up. */
  releaseAll(): void {
    for (const name of [...this.timers.keys()]) this.release(name);
  }

  /** Who holds `name` now, or null when nobody (or only a stale holder) does. */
  holder(name: string): LeaderHolder | null {
    this.table();
    const row = this.db.prepare('SELECT * FROM leader_locks WHERE name = ?').get(name) as LockRow | undefined;
    if (!row || this.stale(row, this.clock())) return null;
    return { owner: row.owner, pid: row.pid, host: row.host, since: new Date(row.since) };
  }
}
