import { mkdtemp, rm } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { openStore } from '../../controller/store/open-store.js';
import { HEARTBEAT_MS, SqliteLeadership, STALE_AFTER_MS } from '../../controller/store/sqlite/leader.js';

describe('SQLite leadership across processes (lock row)', () => {
  let dir: string;
  let path: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'depctl-lock-'));
    path = join(dir, 'state.db');
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** Writes a lock row as another process would have left it. */
  async function foreignRow(row: { pid: number; host: string; heartbeat: number }): Promise<void> {
    const store = await openStore(`sqlite:${path}`);
    expect(await store.tryAcquireLeadership('depctl-controller', 'controller')).toBe(true);
    await store.releaseLeadership('depctl-controller');
    await store.close();
    const db = new Database(path);
    db.prepare('INSERT INTO leader_locks (name, token, owner, pid, host, since, heartbeat) VALUES (?, ?, ?, ?, ?, ?, ?)').run('depctl-controller', 'other', 'controller', row.pid, row.host, row.heartbeat, row.heartbeat);
    db.close();
  }

  it('takes over the lock of a process that is gone (same host, pid no longer exists)', async () => {
    await foreignRow({ pid: 2_147_483_646, host: hostname(), heartbeat: Date.now() });
    const store = await openStore(`sqlite:${path}`);
    expect(await store.leadershipHolder('depctl-controller')).toBeNull();
    expect(await store.tryAcquireLeadership('depctl-controller', 'apply')).toBe(true);
    await store.close();
  });

  it("tells who writes under the lock when a heartbeat finds it taken over, and not while it is this store's", () => {
    vi.useFakeTimers();
    const db = new Database(path);
    try {
      const lock = new SqliteLeadership(db);
      expect(lock.tryAcquire('depctl-controller', 'controller')).toBe(true);
      let lost = 0;
      lock.onLost('depctl-controller', () => lost++);
      vi.advanceTimersByTime(HEARTBEAT_MS * 2);
      expect(lost).toBe(0);
      expect(lock.holds('depctl-controller')).toBe(true);
      // Another process judged this one gone and took the row.
      db.prepare("UPDATE leader_locks SET token = 'other', pid = 1234, host = 'elsewhere' WHERE name = ?").run('depctl-controller');
      vi.advanceTimersByTime(HEARTBEAT_MS);
      expect(lost).toBe(1);
      expect(lock.holds('depctl-controller')).toBe(false);
      vi.advanceTimersByTime(HEARTBEAT_MS * 2);
      expect(lost).toBe(1);
    } finally {
      vi.useRealTimers();
      db.close();
    }
  });

  it('respects a live holder on another host until its heartbeat is stale', async () => {
    await foreignRow({ pid: 1234, host: 'elsewhere', heartbeat: Date.now() });
    const store = await openStore(`sqlite:${path}`);
    expect(await store.tryAcquireLeadership('depctl-controller', 'apply')).toBe(false);
    expect(await store.leadershipHolder('depctl-controller')).toMatchObject({ owner: 'controller', pid: 1234, host: 'elsewhere' });
    await store.close();
    await rm(path);
    await foreignRow({ pid: 1234, host: 'elsewhere', heartbeat: Date.now() - STALE_AFTER_MS - 1000 });
    const again = await openStore(`sqlite:${path}`);
    expect(await again.tryAcquireLeadership('depctl-controller', 'apply')).toBe(true);
    await again.close();
  });
});
