/**
 * The stores a test runs on: memory, SQLite in a temporary directory, and PostgreSQL in a schema of its own when
 * DEPCTL_TEST_POSTGRES_URL is set (`skip` otherwise). `open` gives a store not yet migrated and what removes it.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { openStore } from '../../controller/store/open-store.js';
import type { Store } from '../../controller/store/ports.js';

export interface StoreBackend {
  name: 'memory' | 'sqlite' | 'postgres';
  skip: boolean;
  open: () => Promise<{ store: Store; destroy: () => Promise<void> }>;
}

export function storeBackends(tmpPrefix: string): StoreBackend[] {
  const pgUrl = process.env.DEPCTL_TEST_POSTGRES_URL;
  return [
    { name: 'memory', skip: false, open: async () => ({ store: await openStore('memory:'), destroy: async () => undefined }) },
    {
      name: 'sqlite',
      skip: false,
      open: async () => {
        const dir = await mkdtemp(join(tmpdir(), tmpPrefix));
        return { store: await openStore(`sqlite:${join(dir, 'state.db')}`), destroy: () => rm(dir, { recursive: true, force: true }) };
      },
    },
    {
      name: 'postgres',
      skip: !pgUrl,
      open: async () => {
        const schema = `depctl_t_${randomBytes(6).toString('hex')}`;
        return {
          store: await openStore(pgUrl!, { schema, poolSize: 2 }),
          destroy: async () => {
            const client = new pg.Client({ connectionString: pgUrl });
            await client.connect();
            await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
            await client.end();
          },
        };
      },
    },
  ];
}
