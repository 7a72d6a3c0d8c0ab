/**
 * PostgreSQL connection settings and the transaction helper. A `schema` (from `?schema=NAME` in the
 * state URL) is set as the search_path of every connection, so one database can hold several
 * independent stores (the conformance suite gives each test run its own).
 */
import type pg from 'pg';
import { StoreError } from '../errors.js';

/** Connection settings derived from a state URL. */
export interface PostgresSettings {
  /** The URL without depctl's own `schema` parameter. */
  connectionString: string;
  /** Schema holding the tables, or null for the server's default search_path. */
  schema: string | null;
  /** Maximum pool connections (default 10). */
  poolSize: number;
}

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/** Splits depctl's `schema` parameter off a `postgres://` URL and validates it. */
export function postgresSettings(url: string, opts: { schema?: string; poolSize?: number } = {}): PostgresSettings {
  const parsed = new URL(url);
  const schema = opts.schema ?? parsed.searchParams.get('schema');
  parsed.searchParams.delete('schema');
  if (schema !== null && !SCHEMA_NAME.test(schema)) {
    throw new StoreError('store-config', `invalid PostgreSQL schema name ${JSON.stringify(schema)} (use lower-case letters, digits, _)`);
  }
  return { connectionString: parsed.toString(), schema, poolSize: opts.poolSize ?? 10 };
}

/** Client configuration for pg.Pool and pg.Client. */
export function clientConfig(s: PostgresSettings): pg.ClientConfig {
  return {
    connectionString: s.connectionString,
    // Validated above, so quoting cannot be escaped; "$user" is not kept: depctl owns its schema.
    ...(s.schema ? { options: `-c search_path=${s.schema}` } : {}),
    application_name: 'depctl',
  };
}

/**
 * Rows per statement in bulk writes: the store's decision alone (store/README.md "Batching"). A write
 * call of any size is one transaction; inside it, each statement carries at most this many rows as
 * `unnest` arrays, which bounds the size of one protocol message and of the arrays pg builds.
 */
export const ROWS_PER_STATEMENT = 5000;

/**
 * A JSON array of elements already encoded as JSON texts (`parts`), as UTF-8 bytes, for a `$n::json` parameter of
 * a bulk statement. pg sends a Buffer in binary format, and json's binary form is its text (PostgreSQL's
 * json_recv), so the server reads the array as written. The difference is on this side: one JSON text of a whole
 * batch is a string of many parts, which pg first flattened (while measuring its UTF-8 length: 11-14 ms for each
 * 3.7 MB batch of a sync echo) and then encoded; one small string per row written into one buffer cost about
 * 30 % less in a microbenchmark (5,000 device rows: 26-28 ms against 38-39 ms). Worth it for wide rows only: for
 * the narrow rows of results it measured no better.
 */
export function jsonArrayOfTexts(parts: readonly string[]): Buffer {
  let bytes = 2 + Math.max(0, parts.length - 1);
  for (const part of parts) bytes += Buffer.byteLength(part);
  const out = Buffer.allocUnsafe(bytes);
  let at = 0;
  out[at++] = 0x5b; // [
  for (let i = 0; i < parts.length; i++) {
    if (i > 0) out[at++] = 0x2c; // ,
    at += out.write(parts[i]!, at);
  }
  out[at++] = 0x5d; // ]
  return out;
}

/** Splits a list into consecutive chunks of at most `size` items. */
export function* chunks<T>(items: readonly T[], size: number): Generator<T[]> {
  for (let i = 0; i < items.length; i += size) yield items.slice(i, i + size);
}

/**
 * Runs `fn` in a transaction on one pooled connection, committing on success. A checked-out client has no
 * pool error listener, so a connection cut while it is out (a failover, `pg_terminate_backend`) would emit an
 * unhandled 'error' and end the process: the listener here takes it, the transaction fails (its queries get
 * the error) and the broken client is destroyed instead of going back to the pool.
 */
export async function inTransaction<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let lost: Error | undefined;
  const onError = (err: Error): void => {
    lost ??= err;
  };
  client.on('error', onError);
  try {
    await client.query('BEGIN');
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    if (!lost) await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.removeListener('error', onError);
    client.release(lost);
  }
}

/** True for a PostgreSQL unique-constraint violation. */
export function isUniqueViolation(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === '23505';
}

/** A BIGINT or COUNT value (pg returns them as strings) as a number. */
export function num(value: string | number | null): number {
  return Number(value);
}
