import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { atomically } from '../../controller/store/sqlite/atomically.js';

describe('atomically (SQLite)', () => {
  let db: Database.Database;
  beforeEach(() => {
    db = new Database(':memory:');
    db.exec('CREATE TABLE t (v INTEGER)');
  });
  afterEach(() => db.close());
  const values = (): number[] => (db.prepare('SELECT v FROM t ORDER BY v').all() as Array<{ v: number }>).map((r) => r.v);
  const insert = (v: number): void => {
    db.prepare('INSERT INTO t VALUES (?)').run(v);
  };

  it('alone: commits its work, or rolls all of it back when it throws', () => {
    atomically(db, () => insert(1));
    expect(() =>
      atomically(db, () => {
        insert(2);
        throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(values()).toEqual([1]);
    expect(db.inTransaction).toBe(false);
  });

  it("inside a caller's transaction: joins it (no savepoint), so the caller's rollback takes the inner writes too", () => {
    let inner = false;
    expect(() =>
      db.transaction(() => {
        insert(1);
        atomically(db, () => {
          insert(2);
          inner = db.inTransaction;
        });
        throw new Error('caller fails after the inner work');
      })(),
    ).toThrow('caller fails');
    expect(inner).toBe(true);
    expect(values()).toEqual([]);
    db.transaction(() => atomically(db, () => insert(3)))();
    expect(values()).toEqual([3]);
  });

  it('begins IMMEDIATE: with another connection writing, it fails before its work reads anything (no stale snapshot to write from)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'atomically-'));
    const file = join(dir, 's.db');
    const a = new Database(file);
    const b = new Database(file);
    try {
      a.pragma('journal_mode = WAL');
      a.exec('CREATE TABLE t (v INTEGER)');
      a.pragma('busy_timeout = 0');
      b.exec('BEGIN IMMEDIATE');
      b.prepare('INSERT INTO t VALUES (1)').run();
      let ran = false;
      // A DEFERRED transaction would run the work (its read succeeds) and fail only at the write, after reading a
      // snapshot that the other connection's commit makes stale (SQLITE_BUSY_SNAPSHOT, which no busy timeout retries).
      expect(() =>
        atomically(a, () => {
          ran = true;
          a.prepare('SELECT COUNT(*) FROM t').get();
          a.prepare('INSERT INTO t VALUES (2)').run();
        }),
      ).toThrow(expect.objectContaining({ code: 'SQLITE_BUSY' }) as Error);
      expect(ran).toBe(false);
      b.exec('COMMIT');
      atomically(a, () => a.prepare('INSERT INTO t VALUES (2)').run());
      expect(a.prepare('SELECT COUNT(*) AS n FROM t').get()).toEqual({ n: 2 });
    } finally {
      a.close();
      b.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
