/**
 * The PostgreSQL migration runner. Everything happens in one transaction that first takes a
 * transaction-scoped advisory lock, so two processes starting together apply each version once:
 * the second waits on the lock, then sees the versions recorded by the first. DDL is transactional
 * in PostgreSQL, so a failed migration leaves nothing behind.
 */
import type pg from 'pg';
import { LATEST_VERSION, pendingMigrations } from '../migrations/index.js';
import { StoreError } from '../errors.js';
import type { MigrationReport } from '../ports.js';
import { inTransaction } from './connection.js';

/** Applies pending migrations to the schema the pool's connections use. */
export async function migratePostgres(pool: pg.Pool, schema: string | null): Promise<MigrationReport> {
  return inTransaction(pool, async (client) => {
    // Keyed by schema so independent stores in one database do not wait on each other.
    await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`depctl:migrate:${schema ?? ''}`]);
    if (schema) await client.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
    await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())`);
    const { rows } = await client.query<{ v: number }>('SELECT COALESCE(MAX(version), 0)::int AS v FROM schema_migrations');
    const current = rows[0]?.v ?? 0;
    if (current > LATEST_VERSION) {
      throw new StoreError('store-schema', `store schema version ${current} is newer than this depctl supports (${LATEST_VERSION})`);
    }
    const applied: number[] = [];
    for (const m of pendingMigrations(current)) {
      await client.query(m.postgres);
      await client.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [m.version, m.name]);
      applied.push(m.version);
    }
    return { applied, version: Math.max(current, ...applied) };
  });
}
