import Database from 'better-sqlite3';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LATEST_VERSION, MIGRATIONS } from '../../controller/store/migrations/index.js';
import { openStore, parseStateUrl } from '../../controller/store/open-store.js';
import { postgresSettings } from '../../controller/store/postgres/connection.js';
import type { SqliteStore } from '../../controller/store/sqlite/sqlite-store.js';

const root = fileURLToPath(new URL('../../', import.meta.url));

describe('parseStateUrl', () => {
  it('accepts the documented forms', () => {
    expect(parseStateUrl('sqlite:.depctl/state.db')).toEqual({ backend: 'sqlite', path: '.depctl/state.db' });
    expect(parseStateUrl('sqlite:///var/lib/depctl/state.db')).toEqual({ backend: 'sqlite', path: '/var/lib/depctl/state.db' });
    expect(parseStateUrl('sqlite::memory:')).toEqual({ backend: 'sqlite', path: ':memory:' });
    expect(parseStateUrl('memory:')).toEqual({ backend: 'memory' });
    expect(parseStateUrl('postgres://u:p@db:5432/depctl')).toEqual({ backend: 'postgres', url: 'postgres://u:p@db:5432/depctl' });
    expect(parseStateUrl('postgresql://db/depctl')).toEqual({ backend: 'postgres', url: 'postgresql://db/depctl' });
  });

  it('rejects other forms without echoing the URL (it may hold a password)', () => {
    for (const bad of ['mysql://root:hunter2@db/x', 'hunter2', 'sqlite:', 'postgres://root:hunter2@[bad']) {
      let message = '';
      try {
        parseStateUrl(bad);
      } catch (err) {
        expect(err).toMatchObject({ code: 'store-config' });
        message = (err as Error).message;
      }
      expect(message).not.toBe('');
      expect(message).not.toContain('hunter2');
    }
  });

  it('takes the PostgreSQL schema from ?schema= and validates it', () => {
    expect(postgresSettings('postgres://u:p@h/db?schema=depctl_a&sslmode=disable')).toMatchObject({
      schema: 'depctl_a', connectionString: 'postgres://u:p@h/db?sslmode=disable',
    });
    expect(postgresSettings('postgres://h/db')).toMatchObject({ schema: null });
    expect(() => postgresSettings('postgres://h/db?schema=x;drop')).toThrow(/schema name/);
  });
});

describe('migrations', () => {
  it('are numbered 1..N without gaps, with SQL for both dialects', () => {
    expect(MIGRATIONS.map((m) => m.version)).toEqual(Array.from({ length: LATEST_VERSION }, (_, i) => i + 1));
    for (const m of MIGRATIONS) {
      expect(m.sqlite.trim()).not.toBe('');
      expect(m.postgres.trim()).not.toBe('');
    }
  });
});

describe('SQLite files', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'depctl-open-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('creates parent directories and the file, in WAL mode, with migrations recorded', async () => {
    const path = join(dir, 'a', 'b', 'state.db');
    const store = await openStore(`sqlite:${path}`);
    try {
      expect(existsSync(path)).toBe(true);
      expect((store as SqliteStore).journalMode()).toBe('wal');
      const raw = new Database(path, { readonly: true });
      const versions = raw.prepare('SELECT version FROM schema_migrations ORDER BY version').all() as Array<{ version: number }>;
      raw.close();
      expect(versions.map((v) => v.version)).toEqual(MIGRATIONS.map((m) => m.version));
    } finally {
      await store.close();
    }
  });

  it('does not migrate when asked not to', async () => {
    const path = join(dir, 'state.db');
    const store = await openStore(`sqlite:${path}`, { migrate: false });
    await expect(store.listServers()).rejects.toThrow(/no such table/);
    await expect(store.migrate()).resolves.toEqual({ applied: MIGRATIONS.map((m) => m.version), version: LATEST_VERSION });
    await store.close();
  });

  it('refuses a database written by a newer depctl', async () => {
    const path = join(dir, 'state.db');
    await (await openStore(`sqlite:${path}`)).close();
    const raw = new Database(path);
    raw.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(LATEST_VERSION + 1, 'future', 0);
    raw.close();
    await expect(openStore(`sqlite:${path}`)).rejects.toMatchObject({ code: 'store-schema' });
  });

  it('rejects UPDATE and DELETE on the audit log even through raw SQL', async () => {
    const path = join(dir, 'state.db');
    const store = await openStore(`sqlite:${path}`);
    await store.appendAudit([{ runId: null, server: 'paris', serial: 'S1', action: 'assign', before: null, after: 'U', outcome: 'success', appleStatus: 'SUCCESS', at: new Date(0) }]);
    await store.close();
    const raw = new Database(path);
    try {
      expect(() => raw.prepare("UPDATE audit_log SET outcome = 'failed'").run()).toThrow(/append-only/);
      expect(() => raw.prepare('DELETE FROM audit_log').run()).toThrow(/append-only/);
      expect(raw.prepare('SELECT outcome FROM audit_log').all()).toEqual([{ outcome: 'success' }]);
    } finally {
      raw.close();
    }
  });

  it('upgrades a version-2 file: its results move to device_state and are counted there, deferrals from device_state_retry', async () => {
    const path = join(dir, 'state.db');
    const raw = new Database(path);
    raw.exec('CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)');
    for (const m of MIGRATIONS.filter((x) => x.version <= 2)) {
      raw.exec(m.sqlite);
      raw.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, 0)').run(m.version, m.name);
    }
    const insert = raw.prepare(`INSERT INTO devices (server, serial, record, result_status, result_at, retry_not_before, observed_at)
      VALUES ('paris', ?, '{}', ?, 0, ?, 0)`);
    insert.run('S1', 'failed', 60_000);
    insert.run('S2', 'throttled', null);
    insert.run('S3', null, null);
    raw.close();

    const store = await openStore(`sqlite:${path}`, { migrate: false });
    try {
      expect(await store.migrate()).toEqual({ applied: MIGRATIONS.filter((m) => m.version > 2).map((m) => m.version), version: LATEST_VERSION });
      expect(await store.countResults('paris', new Date(0))).toEqual({ byResult: { failed: 1, throttled: 1 }, deferred: 1 });
      expect((await store.getDevice('paris', 'S3'))?.lastResult).toBeNull();
    } finally {
      await store.close();
    }
    const check = new Database(path, { readonly: true });
    try {
      // Only devices with state have a device_state row; the wide devices rows no longer carry it.
      expect(check.prepare('SELECT serial FROM device_state ORDER BY serial').all()).toEqual([{ serial: 'S1' }, { serial: 'S2' }]);
      const columns = (check.prepare('PRAGMA table_info(devices)').all() as Array<{ name: string }>).map((c) => c.name);
      expect(columns).not.toContain('result_status');
      expect(columns).not.toContain('attempts');
      // The deferred count of SqliteDevices.countResults, as SQLite plans it: a partial index only.
      const plan = (sql: string, ...params: unknown[]): string =>
        (check.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...params) as Array<{ detail: string }>).map((r) => r.detail).join('; ');
      expect(plan('SELECT COUNT(*) AS n FROM device_state WHERE server = ? AND retry_not_before IS NOT NULL AND retry_not_before > ?', 'paris', 0))
        .toMatch(/USING COVERING INDEX device_state_retry/);
    } finally {
      check.close();
    }
  });

  it('upgrades a version-7 file: desired profiles, results, retry times, attempts and arrivals move to device_state unchanged', async () => {
    const path = join(dir, 'state.db');
    const raw = new Database(path);
    raw.exec('CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)');
    for (const m of MIGRATIONS.filter((x) => x.version <= 7)) {
      raw.exec(m.sqlite);
      raw.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, 0)').run(m.version, m.name);
    }
    const insert = raw.prepare(`INSERT INTO devices (server, serial, record, desired_profile, result_status, result_at, result_apple_status,
      retry_not_before, arrived_at, attempts, observed_at) VALUES ('paris', ?, ?, ?, ?, ?, ?, ?, ?, ?, 5)`);
    const a1Record = { serial_number: 'A1', profile_uuid: 'U1', profile_status: 'assigned', description: 'Mac', op_type: 'modified', op_date: '2026-01-01T00:00:00Z', is_replacement_device: false, imei: ['1', '2'], profile_push_time: 7 };
    insert.run('A1', JSON.stringify(a1Record), 'macs', 'failed', 1000, 'FAILED', 90_000, 2000, 3);
    insert.run('A2', '{"serial_number":"A2"}', null, null, null, null, null, 4000, 0);
    insert.run('A3', '{"serial_number":"A3"}', null, null, null, null, null, null, 0);
    raw.close();

    const store = await openStore(`sqlite:${path}`, { migrate: false });
    try {
      expect(await store.migrate()).toEqual({ applied: MIGRATIONS.filter((m) => m.version > 7).map((m) => m.version), version: LATEST_VERSION });
      const a1 = await store.getDevice('paris', 'A1');
      // The record reads back whole (its string profile fields now stored apart, a numeric one kept inside).
      expect(a1?.device).toEqual(a1Record);
      expect(a1).toMatchObject({
        desiredProfile: 'macs',
        lastResult: { status: 'failed', at: new Date(1000), appleStatus: 'FAILED' },
        retryNotBefore: new Date(90_000),
        arrivedAt: new Date(2000),
        attempts: 3,
        observedAt: new Date(5),
      });
      expect(await store.getDevice('paris', 'A2')).toMatchObject({ desiredProfile: null, lastResult: null, arrivedAt: new Date(4000), attempts: 0 });
      expect(await store.getDevice('paris', 'A3')).toMatchObject({ desiredProfile: null, lastResult: null, retryNotBefore: null, arrivedAt: null, attempts: 0 });
      expect(await store.countResults('paris', new Date(0))).toEqual({ byResult: { failed: 1 }, deferred: 1 });
    } finally {
      await store.close();
    }
  });

  it('upgrades a version-3 file: migration deadlines already in stored records are counted from devices_migration', async () => {
    const path = join(dir, 'state.db');
    const raw = new Database(path);
    raw.exec('CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)');
    for (const m of MIGRATIONS.filter((x) => x.version <= 3)) {
      raw.exec(m.sqlite);
      raw.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, 0)').run(m.version, m.name);
    }
    const insert = raw.prepare("INSERT INTO devices (server, serial, record, observed_at) VALUES ('paris', ?, ?, 0)");
    insert.run('S1', JSON.stringify({ serial_number: 'S1', model: 'iPad', mdm_migration_deadline: '2026-07-01T09:30:00Z' }));
    insert.run('S2', JSON.stringify({ serial_number: 'S2', model: 'iPad', mdm_migration_deadline: '2026-06-15T00:00:00Z' }));
    insert.run('S3', JSON.stringify({ serial_number: 'S3', model: 'iPad', mdm_migration_deadline: 'soon' }));
    insert.run('S4', JSON.stringify({ serial_number: 'S4', model: 'iPad' }));
    raw.close();

    const store = await openStore(`sqlite:${path}`, { migrate: false });
    try {
      expect(await store.migrate()).toEqual({ applied: MIGRATIONS.filter((m) => m.version > 3).map((m) => m.version), version: LATEST_VERSION });
      expect(await store.countMigrationDeadlines('paris')).toEqual({ devices: 2, earliest: new Date('2026-06-15T00:00:00Z') });
      expect(await store.getDevice('paris', 'S1')).toMatchObject({ arrivedAt: null, attempts: 0 });
    } finally {
      await store.close();
    }
    const check = new Database(path, { readonly: true });
    try {
      const plan = (check.prepare('EXPLAIN QUERY PLAN SELECT COUNT(*) AS n, MIN(migration_deadline) AS earliest FROM devices WHERE server = ? AND migration_deadline IS NOT NULL')
        .all('paris') as Array<{ detail: string }>).map((r) => r.detail).join('; ');
      expect(plan).toMatch(/USING COVERING INDEX devices_migration/);
    } finally {
      check.close();
    }
  });

  /**
   * Another process holding the write lock of a new (still rollback-mode) file, as a process does while it turns
   * the file to WAL: it answers "held" on stdout, commits after `holdMs` (never when negative) and exits.
   */
  async function holdWriteLock(path: string, holdMs: number): Promise<ChildProcess> {
    const script = `const D = require('better-sqlite3'); const db = new D(process.argv[1]);
      db.exec('BEGIN IMMEDIATE'); db.exec('CREATE TABLE held (x)'); process.stdout.write('held\\n');
      const ms = Number(process.argv[2]); if (ms >= 0) setTimeout(() => { db.exec('COMMIT'); db.close(); }, ms); else setInterval(() => {}, 1000);`;
    const child = spawn(process.execPath, ['-e', script, path, String(holdMs)], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve, reject) => {
      child.stdout?.once('data', () => resolve());
      child.once('exit', (code) => reject(new Error(`the lock holder exited (${code}) before taking the lock`)));
    });
    return child;
  }

  it('waits for another process turning a new file to WAL instead of failing with "database is locked"', async () => {
    const path = join(dir, 'state.db');
    new Database(path).close();
    const holder = await holdWriteLock(path, 300);
    const exited = new Promise((resolve) => holder.once('exit', resolve));
    try {
      // SQLite answers this switch SQLITE_BUSY at once (no busy handler) while the other process holds the lock.
      const store = await openStore(`sqlite:${path}`);
      expect((store as SqliteStore).journalMode()).toBe('wal');
      await store.close();
    } finally {
      holder.kill();
      await exited;
    }
  });

  it('gives up after the busy timeout, naming the file, when the lock is never released', async () => {
    const path = join(dir, 'state.db');
    new Database(path).close();
    const holder = await holdWriteLock(path, -1);
    const exited = new Promise((resolve) => holder.once('exit', resolve));
    try {
      await expect(openStore(`sqlite:${path}`, { busyTimeoutMs: 200 })).rejects.toThrow(`the state file ${path} stayed locked by another process for 200 ms while opening it`);
    } finally {
      holder.kill();
      await exited;
    }
  });

  it('opens a private in-memory database for sqlite::memory:', async () => {
    const a = await openStore('sqlite::memory:');
    const b = await openStore('sqlite::memory:');
    await a.upsertServer('paris', { at: new Date(0) });
    expect(await b.listServers()).toEqual([]);
    expect(await b.tryAcquireLeadership('x')).toBe(true);
    expect(await a.tryAcquireLeadership('x')).toBe(true);
    await a.close();
    await b.close();
  });
});
