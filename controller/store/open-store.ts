/**
 * Builds a Store from a state URL (`--state`, env `DEPCTL_STATE`; read by main/cli, passed here):
 *
 * - `sqlite:PATH` — a SQLite file (parent directories created; relative to the working directory);
 *   `sqlite::memory:` — a private in-memory SQLite database;
 * - `postgres://…` or `postgresql://…` — PostgreSQL; `?schema=NAME` keeps the tables in that schema;
 * - `memory:` — the in-process memory backend (unit tests, dry runs).
 *
 * Migrations run on open unless `migrate: false`.
 */
import { StoreError } from './errors.js';
import type { Store } from './ports.js';

/** A parsed state URL. */
export type StateLocation =
  | { backend: 'memory' }
  | { backend: 'sqlite'; path: string }
  | { backend: 'postgres'; url: string };

/** Options for `openStore`. */
export interface OpenStoreOptions {
  /** Apply pending migrations before returning (default true). */
  migrate?: boolean;
  /** Clock for the few stamps the store makes itself (default: system clock). */
  now?: () => Date;
  /** SQLite busy timeout in milliseconds (default 5000). */
  busyTimeoutMs?: number;
  /** PostgreSQL pool size (default 10). */
  poolSize?: number;
  /** PostgreSQL schema (overrides `?schema=`). */
  schema?: string;
}

// In state-url.ts, which loads no database driver, so that the CLI's global options can name the default.
export { DEFAULT_STATE_URL } from './state-url.js';

/** Parses a state URL; throws a `store-config` StoreError naming the accepted forms. */
export function parseStateUrl(url: string): StateLocation {
  if (url === 'memory:') return { backend: 'memory' };
  if (url.startsWith('sqlite:')) {
    // Accept sqlite:PATH and sqlite://PATH (the URL-ish spelling people type).
    let path = url.slice('sqlite:'.length);
    if (path.startsWith('//')) path = path.slice(2);
    if (path === '') throw new StoreError('store-config', 'sqlite: needs a path, e.g. sqlite:.depctl/state.db or sqlite::memory:');
    return { backend: 'sqlite', path };
  }
  if (url.startsWith('postgres://') || url.startsWith('postgresql://')) {
    try {
      new URL(url);
    } catch {
      throw new StoreError('store-config', 'invalid PostgreSQL URL (expected postgres://USER:PASSWORD@HOST:PORT/DATABASE)');
    }
    return { backend: 'postgres', url };
  }
  // Never echo the URL: a postgres URL may carry a password, and a typo'd one would leak it here.
  throw new StoreError('store-config', 'unsupported state URL: use sqlite:PATH, sqlite::memory:, postgres://… or memory:');
}

/** Opens the store a state URL names, migrated unless `opts.migrate` is false. */
export async function openStore(url: string, opts: OpenStoreOptions = {}): Promise<Store> {
  const location = parseStateUrl(url);
  const now = opts.now ?? (() => new Date());
  let store: Store;
  switch (location.backend) {
    // Each backend's module (and its driver) is loaded only when named: the PostgreSQL driver alone cost a
    // SQLite run ~60 ms of start-up (it probes `navigator`, which makes Node load its bundled fetch).
    case 'memory': {
      const { MemoryStore } = await import('./memory/memory-store.js');
      store = new MemoryStore(undefined, now);
      break;
    }
    case 'sqlite': {
      const { SqliteStore } = await import('./sqlite/sqlite-store.js');
      store = SqliteStore.open(location.path, { busyTimeoutMs: opts.busyTimeoutMs, now });
      break;
    }
    case 'postgres': {
      const { PostgresStore } = await import('./postgres/postgres-store.js');
      store = PostgresStore.open(location.url, { poolSize: opts.poolSize, schema: opts.schema, now });
      break;
    }
  }
  if (opts.migrate !== false) {
    try {
      await store.migrate();
    } catch (err) {
      await store.close().catch(() => undefined);
      throw err;
    }
  }
  return store;
}
