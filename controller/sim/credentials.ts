/**
 * The simulator's server token and account identity, derived from the seed so that `depctl sim
 * --seed S` hands out the same credentials run after run. Shapes follow real tokens
 * (dep-protocol.md §1): `CK_` + 96 hex, `CS_`/`AS_` + 40 hex, `AT_O<digits>O<40 hex>O<issue ms>`,
 * expiry one year after issue, RFC 3339 with whole seconds.
 */
import { createHash } from 'node:crypto';
import type { AccountDetail, AccountUrl, ServerToken } from '../dep/types.js';

function derive(seed: number, label: string, hexChars: number, scope?: string): string {
  // A lone server (no scope) keeps the derivation it always had; a group's servers add their name.
  const prefix = scope === undefined ? `depctl-sim:${seed}` : `depctl-sim:${seed}:server=${scope}`;
  let out = '';
  for (let k = 0; out.length < hexChars; k++) out += createHash('sha256').update(`${prefix}:${label}:${k}`).digest('hex');
  return out.slice(0, hexChars);
}

/**
 * A token whose secrets depend on the seed (and, in a group, the server name `scope`) only; issue
 * and expiry are anchored at `issuedSec`.
 */
export function tokenFromSeed(seed: number, issuedSec: number, scope?: string): ServerToken {
  const digits = BigInt(`0x${derive(seed, 'at-digits', 12, scope)}`).toString().slice(0, 10);
  return {
    consumer_key: `CK_${derive(seed, 'ck', 96, scope)}`,
    consumer_secret: `CS_${derive(seed, 'cs', 40, scope)}`,
    access_token: `AT_O${digits}O${derive(seed, 'at', 40, scope)}O${issuedSec * 1000}`,
    access_secret: `AS_${derive(seed, 'as', 40, scope)}`,
    access_token_expiry: new Date((issuedSec + 365 * 86400) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z'),
  };
}

/** Default and maximum page sizes advertised for fetch and sync: Apple's docs (100 and 1000). */
const PAGED = { default: 100, maximum: 1000 };

/** GET /account `urls`, in the shape of the real fixture (methods per path, limits on paged ones). */
export function accountUrls(paths: Record<string, string[]>): AccountUrl[] {
  return Object.entries(paths).map(([uri, methods]) => {
    const u: AccountUrl = { uri, http_method: methods };
    if (uri === '/server/devices' || uri === '/devices/sync') u.limit = { ...PAGED };
    return u;
  });
}

/**
 * The account identity: `server_uuid` is 32 upper-case hex digits like Apple's (depsim's was dashed).
 * In a group `scope` (the server name) changes the server's UUID only: servers with one seed share
 * the organisation, as the MDM servers of one Apple Business Manager account do.
 */
export function accountFromSeed(seed: number, serverName: string, orgName: string, orgDomain: string, urls: AccountUrl[], scope?: string): AccountDetail {
  return {
    server_name: serverName,
    server_uuid: derive(seed, 'server-uuid', 32, scope).toUpperCase(),
    admin_id: `it-admin@${orgDomain}`,
    facilitator_id: `it-admin@${orgDomain}`,
    org_name: orgName,
    org_email: `it-admin@${orgDomain}`,
    org_phone: '+1 408 555 0100',
    org_address: '1 Infinite Loop, Cupertino, CA 95014',
    org_id: String(BigInt(`0x${derive(seed, 'org-id', 8)}`) % 10_000_000n),
    org_id_hash: derive(seed, 'org-id-hash', 52),
    org_type: 'org',
    org_version: 'v2',
    urls,
  };
}
