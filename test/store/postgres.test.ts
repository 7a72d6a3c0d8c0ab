import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { describe } from 'vitest';
import { openStore } from '../../controller/store/open-store.js';
import { runStoreConformance } from './conformance.js';

// CI sets this through .ci/postgres.sh (a real server, never a mock); locally the suite is reported
// as skipped when it is missing.
const url = process.env.DEPCTL_TEST_POSTGRES_URL;

describe.skipIf(!url)('postgres (DEPCTL_TEST_POSTGRES_URL)', () => {
  runStoreConformance('postgres', async () => {
    // A fresh schema per test, so runs (and tests) never see each other's rows.
    const schema = `depctl_t_${randomBytes(6).toString('hex')}`;
    return {
      open: (opts) => openStore(url!, { ...opts, schema, poolSize: 4 }),
      destroy: async () => {
        const client = new pg.Client({ connectionString: url });
        await client.connect();
        try {
          await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
        } finally {
          await client.end();
        }
      },
    };
  });
});
