/**
 * Where a bench keeps depctl's state: a SQLite file in the workspace, or a schema of its own on PostgreSQL
 * (BENCH_POSTGRES_URL, else DEPCTL_TEST_POSTGRES_URL), dropped afterwards.
 */
import { join } from 'node:path';

export interface StateBackend {
  name: 'sqlite' | 'postgres';
  /** The state URL for a run in the workspace `root`. */
  url(root: string): string;
  /** Removes what the backend holds (a PostgreSQL schema; a SQLite file goes with the workspace). */
  drop(): Promise<void>;
}

/** The PostgreSQL server the benches may use, if one is set. */
export function benchPostgresUrl(): string | undefined {
  return process.env['BENCH_POSTGRES_URL'] ?? process.env['DEPCTL_TEST_POSTGRES_URL'];
}

/** A SQLite file named `file` in the run's workspace. */
export function sqliteBackend(file = 'state.db'): StateBackend {
  return { name: 'sqlite', url: (root) => `sqlite:${join(root, file)}`, drop: async () => undefined };
}

/** A fresh schema `schema` on the PostgreSQL server at `base`. */
export function postgresBackend(base: string, schema: string): StateBackend {
  const u = new URL(base);
  u.searchParams.set('schema', schema);
  return {
    name: 'postgres',
    url: () => u.toString(),
    drop: async () => {
      const { default: pg } = await import('pg');
      const client = new pg.Client({ connectionString: base });
      await client.connect();
      try {
        await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      } finally {
        await client.end();
      }
    },
  };
}
