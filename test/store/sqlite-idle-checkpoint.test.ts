import Database from 'better-sqlite3';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Device } from '../../controller/dep/types.js';
import { SqliteStore } from '../../controller/store/sqlite/sqlite-store.js';

/**
 * The idle checkpoint, observed from outside: SQLite writes a committed page to the write-ahead log, and only a
 * checkpoint copies it into the database file, so the main file's size tells whether one ran. The timers are
 * vitest's fake ones (nothing sleeps).
 */
describe('SQLite store: checkpoint after a quiet time', () => {
  let dir: string;
  let store: SqliteStore | undefined;
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    dir = mkdtempSync(join(tmpdir(), 'depctl-idle-ckpt-'));
  });
  afterEach(async () => {
    await store?.close();
    store = undefined;
    vi.useRealTimers();
    rmSync(dir, { recursive: true, force: true });
  });

  const file = (): string => join(dir, 'state.db');
  const size = (): number => statSync(file()).size;
  const devices = (from: number, n: number): Device[] =>
    Array.from({ length: n }, (_, i) => ({ serial_number: `C02${String(from + i).padStart(7, '0')}`, model: 'iPad Air', description: 'x'.repeat(200), device_family: 'iPad', os: 'iPadOS' }));
  const open = async (idleCheckpointMs?: number): Promise<SqliteStore> => {
    const s = SqliteStore.open(file(), idleCheckpointMs === undefined ? {} : { idleCheckpointMs });
    await s.migrate();
    // Start from a file that holds everything so far (a second connection may checkpoint as well).
    const other = new Database(file());
    other.pragma('wal_checkpoint(TRUNCATE)');
    other.close();
    return s;
  };

  it('copies the log into the file once no bulk write followed for the quiet time (100 ms by default)', async () => {
    store = await open();
    const before = size();
    await store.upsertDevices('paris', devices(0, 2000), new Date());
    expect(size()).toBe(before);
    vi.advanceTimersByTime(99);
    expect(size()).toBe(before);
    vi.advanceTimersByTime(1);
    expect(size()).toBeGreaterThan(before + 200 * 2000);
  });

  it('waits while writes keep coming, and counts results and deletions as writes', async () => {
    store = await open(100);
    const before = size();
    await store.upsertDevices('paris', devices(0, 1000), new Date());
    vi.advanceTimersByTime(60);
    await store.recordResults('paris', [{ serial: devices(0, 1)[0]!.serial_number, result: { status: 'success', at: new Date(), appleStatus: 'SUCCESS' }, retryNotBefore: null }]);
    vi.advanceTimersByTime(60);
    await store.deleteDevices('paris', [devices(1, 1)[0]!.serial_number]);
    vi.advanceTimersByTime(99);
    expect(size()).toBe(before);
    vi.advanceTimersByTime(1);
    expect(size()).toBeGreaterThan(before);
  });

  it('does nothing when turned off, and nothing after the store closed', async () => {
    store = await open(0);
    const before = size();
    await store.upsertDevices('paris', devices(0, 1000), new Date());
    vi.advanceTimersByTime(60_000);
    expect(size()).toBe(before);
    await store.close();
    store = await open(100);
    await store.upsertDevices('paris', devices(1000, 10), new Date());
    await store.close();
    store = undefined;
    expect(() => vi.advanceTimersByTime(1000)).not.toThrow();
    expect(vi.getTimerCount()).toBe(0);
  });
});
