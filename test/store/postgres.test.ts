import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LATEST_VERSION, MIGRATIONS } from '../../controller/store/migrations/index.js';
import { openStore } from '../../controller/store/open-store.js';
import { inTransaction } from '../../controller/store/postgres/connection.js';
import type { Device } from '../../controller/dep/types.js';
import type { Store } from '../../controller/store/ports.js';
import { runStoreConformance } from './conformance.js';

// CI sets this through .ci/postgres.sh (a real server, never a mock); locally the suite is reported
// as skipped when it is missing.
const url = process.env.DEPCTL_TEST_POSTGRES_URL;

/** Runs one statement as a separate session (raw SQL, outside the store). */
async function raw<T extends pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(sql, params)).rows;
  } finally {
    await client.end();
  }
}

/** A fresh schema per test, so runs (and tests) never see each other's rows. */
const freshSchema = (): string => `depctl_t_${randomBytes(6).toString('hex')}`;

describe.skipIf(!url)('postgres (DEPCTL_TEST_POSTGRES_URL)', () => {
  runStoreConformance('postgres', async () => {
    const schema = freshSchema();
    return {
      open: (opts) => openStore(url!, { ...opts, schema, poolSize: 4 }),
      destroy: async () => {
        await raw(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      },
    };
  });

  it('a connection cut while a transaction holds it fails that transaction only: no unhandled error, the pool goes on', async () => {
    const pool = new pg.Pool({ connectionString: url, max: 1 });
    try {
      const tx = inTransaction(pool, async (client) => {
        const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
        // Not events.once: it would listen for 'error' itself.
        const ended = new Promise<void>((resolve) => client.once('end', () => resolve()));
        await raw('SELECT pg_terminate_backend($1)', [rows[0]!.pid]);
        // The cut arrives while no query runs on the client (the case pg leaves without a listener).
        await ended;
        return client.query('SELECT 1');
      });
      await expect(tx).rejects.toThrow();
      // The broken client was destroyed, not pooled: the next query gets a fresh connection.
      expect((await pool.query<{ one: number }>('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    } finally {
      await pool.end();
    }
  });

  describe('postgres specifics', () => {
    let schema: string;
    let stores: Store[];
    const open = async (): Promise<Store> => {
      const s = await openStore(url!, { schema, poolSize: 2 });
      stores.push(s);
      return s;
    };

    beforeEach(() => {
      schema = freshSchema();
      stores = [];
    });
    afterEach(async () => {
      for (const s of stores) await s.close();
      await raw(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    });

    it('stores serial, family, OS and model in their columns only, and reads a row written before schema 10 (the whole record) the same', async () => {
      const store = await open();
      const d = (i: number): Device => ({ serial_number: `C0${i}`, model: 'iPad Air', description: `device ${i}`, device_family: 'iPad', os: 'iPadOS', profile_status: 'empty' });
      await store.upsertDevices('paris', [d(1), d(2)], new Date(0));
      const [row] = await raw<{ record: Record<string, unknown> }>(`SELECT record FROM ${schema}.devices WHERE serial = 'C01'`);
      expect(row?.record).toEqual({ description: 'device 1' });
      // Device 2's row as schema 9 wrote it: the whole record without its profile fields.
      const { profile_status: _p, ...whole } = d(2);
      await raw(`UPDATE ${schema}.devices SET record = $1::jsonb WHERE serial = 'C02'`, [JSON.stringify(whole)]);
      expect((await store.getDevice('paris', 'C02'))?.device).toEqual(d(2));
      expect((await store.listDevices('paris', { limit: 10 })).devices.map((r) => r.device)).toEqual([d(1), d(2)]);
      // The differ's read takes those fields from the columns, and the record's own fields from the old record.
      const reduced = [];
      for await (const page of store.iterateDiffDevices('paris')) reduced.push(...page.map((r) => r.device));
      expect(reduced).toEqual([d(1), d(2)]);
    });

    it("reads device_state's profile fields when they are later than the record's, in the whole read and the differ's alike", async () => {
      // This build writes sync events whole on PostgreSQL, but the schema keeps the profile fields of a later event
      // beside the record (migration 8), and both reads must honour them wherever they came from.
      const store = await open();
      const d = (i: number): Device => ({ serial_number: `C0${i}`, model: 'iPad Air', description: `device ${i}`, device_family: 'iPad', os: 'iPadOS', profile_status: 'empty' });
      await store.upsertDevices('paris', [d(1), d(2), d(3)], new Date(1000));
      const later = { profile_uuid: 'U-LATER', profile_status: 'assigned', profile_assign_time: '2026-01-05T00:00:00Z', op_type: 'modified', op_date: '2026-01-05T00:00:00Z' };
      // 1: an event later than the record; 2: one from before the record was observed again (the record wins); 3: none.
      await raw(
        `INSERT INTO ${schema}.device_state (server, serial, profile, profile_uuid, profile_status, profile_at) VALUES
          ('paris', 'C01', $1::jsonb, 'U-LATER', 'assigned', to_timestamp(5)), ('paris', 'C02', $1::jsonb, 'U-LATER', 'assigned', to_timestamp(0.5))`,
        [JSON.stringify(later)],
      );
      const whole = (await store.listDevices('paris', { limit: 10 })).devices;
      expect(whole.map((r) => r.device)).toEqual([{ ...d(1), ...later }, d(2), d(3)]);
      expect(whole.map((r) => r.observedAt.getTime())).toEqual([5000, 1000, 1000]);
      const reduced = [];
      for await (const page of store.iterateDiffDevices('paris')) reduced.push(...page);
      expect(reduced.map((r) => r.device)).toEqual([{ ...d(1), ...later }, d(2), d(3)]);
      expect(reduced.map((r) => r.observedAt?.getTime())).toEqual([5000, 1000, 1000]);
    });

    it('rejects UPDATE, DELETE and TRUNCATE on the audit log even through raw SQL', async () => {
      const store = await open();
      await store.appendAudit([{ runId: 7, server: 'paris', serial: 'S1', action: 'assign', before: null, after: 'U', outcome: 'success', appleStatus: 'SUCCESS', at: new Date(0) }]);
      await expect(raw(`UPDATE ${schema}.audit_log SET outcome = 'failed'`)).rejects.toThrow(/append-only/);
      await expect(raw(`DELETE FROM ${schema}.audit_log`)).rejects.toThrow(/append-only/);
      await expect(raw(`TRUNCATE ${schema}.audit_log`)).rejects.toThrow(/append-only/);
      expect(await raw(`SELECT outcome, run_id FROM ${schema}.audit_log`)).toEqual([{ outcome: 'success', run_id: '7' }]);
    });

    it('gives leadership up when the leader connection dies, so another replica can take it', async () => {
      const leader = await open();
      const standby = await open();
      expect(await leader.tryAcquireLeadership('controller')).toBe(true);
      expect(await standby.tryAcquireLeadership('controller')).toBe(false);
      // Kill exactly the session holding this schema's lock (other test runs may hold their own).
      const killed = await raw<{ ok: boolean }>(
        `SELECT pg_terminate_backend(pid) AS ok FROM pg_locks
          WHERE locktype = 'advisory' AND classid = $1::int::oid AND objid = hashtext($2)::oid AND objsubid = 2 AND granted`,
        [0x64657063, `${schema}:controller`],
      );
      expect(killed).toEqual([{ ok: true }]);
      await expect.poll(() => standby.tryAcquireLeadership('controller'), { timeout: 10_000 }).toBe(true);
      expect(await leader.tryAcquireLeadership('controller')).toBe(false);
    });

    it('tells who writes under the lock the moment its session ends, and says nothing on a release', async () => {
      const leader = await open();
      expect(await leader.tryAcquireLeadership('controller')).toBe(true);
      let released = 0;
      const stopReleased = leader.onLeadershipLost('controller', () => released++);
      await leader.releaseLeadership('controller');
      stopReleased();
      expect(released).toBe(0);

      expect(await leader.tryAcquireLeadership('controller')).toBe(true);
      const lost = new Promise<string>((resolve) => leader.onLeadershipLost('controller', () => resolve('lost')));
      let unsubscribed = 0;
      leader.onLeadershipLost('controller', () => unsubscribed++)();
      const killed = await raw<{ ok: boolean }>(
        `SELECT pg_terminate_backend(pid) AS ok FROM pg_locks
          WHERE locktype = 'advisory' AND classid = $1::int::oid AND objid = hashtext($2)::oid AND objsubid = 2 AND granted`,
        [0x64657063, `${schema}:controller`],
      );
      expect(killed).toEqual([{ ok: true }]);
      expect(await lost).toBe('lost');
      expect(unsubscribed).toBe(0);
    });

    it('upgrades a version-2 schema: results move to device_state, deferrals are counted through its partial index', async () => {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        await client.query(`CREATE SCHEMA ${schema}`);
        await client.query(`SET search_path = ${schema}`);
        await client.query('CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())');
        for (const m of MIGRATIONS.filter((x) => x.version <= 2)) {
          await client.query(m.postgres);
          await client.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [m.version, m.name]);
        }
        await client.query(`INSERT INTO devices (server, serial, record, result_status, result_at, retry_not_before, observed_at) VALUES
          ('paris', 'S1', '{}', 'failed', now(), '2100-01-01Z', now()), ('paris', 'S2', '{}', 'throttled', now(), NULL, now()),
          ('paris', 'S3', '{}', NULL, NULL, NULL, now())`);
        const store = await openStore(url!, { schema, migrate: false });
        stores.push(store);
        expect(await store.migrate()).toEqual({ applied: MIGRATIONS.filter((m) => m.version > 2).map((m) => m.version), version: LATEST_VERSION });
        expect(await store.countResults('paris', new Date('2026-01-01Z'))).toEqual({ byResult: { failed: 1, throttled: 1 }, deferred: 1 });
        const { rows: state } = await client.query<{ serial: string; attempts: number }>('SELECT serial, attempts FROM device_state ORDER BY serial');
        expect(state).toEqual([{ serial: 'S1', attempts: 0 }, { serial: 'S2', attempts: 0 }]);
        const { rows: cols } = await client.query<{ column_name: string }>(
          'SELECT column_name FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2', [schema, 'devices']);
        expect(cols.map((c) => c.column_name)).not.toContain('result_status');
        // The deferred half can be answered from an index alone (the planner picks a scan by table size; with
        // sequential scans off it shows whether an index fits the query at all).
        await client.query('SET enable_seqscan = off');
        const { rows } = await client.query<{ 'QUERY PLAN': string }>(
          'EXPLAIN SELECT COUNT(*) FROM device_state WHERE server = $1 AND retry_not_before IS NOT NULL AND retry_not_before > $2',
          ['paris', new Date()],
        );
        const plan = rows.map((r) => r['QUERY PLAN']).join('\n');
        expect(plan).toMatch(/Index Only Scan using device_state_retry/);
      } finally {
        await client.end();
      }
    });

    it('upgrades a version-3 schema: migration deadlines already in stored records are counted from devices_migration', async () => {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        await client.query(`CREATE SCHEMA ${schema}`);
        await client.query(`SET search_path = ${schema}`);
        await client.query('CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())');
        for (const m of MIGRATIONS.filter((x) => x.version <= 3)) {
          await client.query(m.postgres);
          await client.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [m.version, m.name]);
        }
        await client.query(`INSERT INTO devices (server, serial, record, observed_at) VALUES
          ('paris', 'S1', '{"serial_number":"S1","mdm_migration_deadline":"2026-07-01T09:30:00Z"}', now()),
          ('paris', 'S2', '{"serial_number":"S2","mdm_migration_deadline":"2026-06-15T00:00:00Z"}', now()),
          ('paris', 'S3', '{"serial_number":"S3","mdm_migration_deadline":"soon"}', now()),
          ('paris', 'S4', '{"serial_number":"S4"}', now())`);
        const store = await openStore(url!, { schema, migrate: false });
        stores.push(store);
        expect(await store.migrate()).toEqual({ applied: MIGRATIONS.filter((m) => m.version > 3).map((m) => m.version), version: LATEST_VERSION });
        expect(await store.countMigrationDeadlines('paris')).toEqual({ devices: 2, earliest: new Date('2026-06-15T00:00:00Z') });
        expect(await store.getDevice('paris', 'S1')).toMatchObject({ arrivedAt: null, attempts: 0 });
        // Migration 8 rewrites every devices row (the record split), which clears the visibility map until
        // (auto)vacuum runs; an index-only scan is what the count gets once it has.
        await client.query('VACUUM devices');
        await client.query('SET enable_seqscan = off');
        const { rows } = await client.query<{ 'QUERY PLAN': string }>(
          'EXPLAIN SELECT COUNT(*), MIN(migration_deadline) FROM devices WHERE server = $1 AND migration_deadline IS NOT NULL',
          ['paris'],
        );
        expect(rows.map((r) => r['QUERY PLAN']).join('\n')).toMatch(/Index Only Scan using devices_migration/);
      } finally {
        await client.end();
      }
    });

    it('refuses a schema written by a newer depctl', async () => {
      await (await open()).close();
      await raw(`INSERT INTO ${schema}.schema_migrations (version, name) VALUES (999, 'future')`);
      await expect(openStore(url!, { schema })).rejects.toMatchObject({ code: 'store-schema' });
    });
  });
});
