import type Database from 'better-sqlite3';

/**
 * Runs `work` in a transaction of its own, or as part of the caller's when one is open. better-sqlite3 nests a
 * transaction as a SAVEPOINT, and SQLite journals every page a savepoint changes to a temporary sub-journal
 * file so that it can roll the savepoint back alone: recording a million results (the results inside the
 * transaction that also appends their audit rows) cost 9.4 s of CPU that way, 3.4 s without. No caller rolls
 * back an inner part alone: an error in `work` rolls back the caller's whole transaction.
 *
 * A transaction of its own begins IMMEDIATE (takes the write lock first, waiting the busy timeout for it): a
 * DEFERRED one that reads before it writes fails at once with SQLITE_BUSY_SNAPSHOT, which no busy timeout retries,
 * when another connection (a CLI `plan` storing its fetch next to a running controller) commits in between.
 */
export function atomically<T>(db: Database.Database, work: () => T): T {
  return db.inTransaction ? work() : db.transaction(work).immediate();
}
