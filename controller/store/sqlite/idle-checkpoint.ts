import type Database from 'better-sqlite3';

/**
 * Moves the write-ahead log into the database file while the store waits, instead of at close. Bulk writes
 * come one Apple page or call at a time, and Apple takes a few hundred milliseconds to answer each: once no
 * bulk write has followed for `quietMs`, a PASSIVE checkpoint (it never waits for a lock and never blocks a
 * reader) copies what the last ones wrote. Otherwise all of it waited for the close, after the last page, where
 * nothing hides it: 0.28 s at the end of a first contact of 100,000 devices. With no latency the writes follow
 * each other closely and this never runs: SQLite's own checkpoint (wal_autocheckpoint) and the close do the work,
 * as before.
 */
export class IdleCheckpoint {
  private timer: ReturnType<typeof setTimeout> | undefined;

  /** `quietMs` ≤ 0 turns it off (an in-memory database has no log). */
  constructor(
    private readonly db: Database.Database,
    private readonly quietMs: number,
  ) {}

  /** A bulk write just committed: checkpoint once `quietMs` pass without another. */
  touch(): void {
    if (this.quietMs <= 0) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.run(), this.quietMs);
    // A pending checkpoint never keeps the process alive.
    this.timer.unref();
  }

  /** Before the database closes. */
  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private run(): void {
    this.timer = undefined;
    if (!this.db.open || this.db.inTransaction) return;
    try {
      this.db.pragma('wal_checkpoint(PASSIVE)');
    } catch {
      // Another connection holds what a checkpoint needs (SQLITE_BUSY, SQLITE_LOCKED): the next quiet moment,
      // SQLite's own checkpoint or the close does it.
    }
  }
}
