/**
 * Version 5: who Apple says each server token belongs to (`GET /account`, reconcile/identity.ts). The
 * `server_uuid` column exists since version 1; this adds the names shown in plans, `token inspect` and the
 * status page, and when the identity was last confirmed. All nullable: rows written before stay valid and
 * get their identity on the next pass.
 */

/** Version 5 for SQLite (times as epoch milliseconds). */
export const V5_SQLITE = `
ALTER TABLE servers ADD COLUMN apple_server_name TEXT;
ALTER TABLE servers ADD COLUMN org_name TEXT;
ALTER TABLE servers ADD COLUMN org_type TEXT;
ALTER TABLE servers ADD COLUMN org_id TEXT;
ALTER TABLE servers ADD COLUMN identity_checked_at INTEGER;
`;

/** Version 5 for PostgreSQL. */
export const V5_POSTGRES = `
ALTER TABLE servers ADD COLUMN apple_server_name TEXT;
ALTER TABLE servers ADD COLUMN org_name TEXT;
ALTER TABLE servers ADD COLUMN org_type TEXT;
ALTER TABLE servers ADD COLUMN org_id TEXT;
ALTER TABLE servers ADD COLUMN identity_checked_at TIMESTAMPTZ;
`;
