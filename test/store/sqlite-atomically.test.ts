import Database from 'better-sqlite3';
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
});
