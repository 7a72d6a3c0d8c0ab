/**
 * GET /session (OAuth 1.0a → auth session token) and GET /account. See dep-protocol.md §2 for the
 * status codes: 400 for a malformed OAuth header, 401 for bad credentials, signature, timestamp or a
 * reused nonce, 403 T_C_NOT_SIGNED, and the `token_rejected` bodies Fleet saw for revoked tokens.
 */
import type { AccountDetail } from '../dep/types.js';
import { type ApiReply, type Handler, type SimContext, fail, ok } from './context.js';
import { hmacSha1Signature, parseOAuthHeader, requestBaseUrl, signatureBaseString, signaturesMatch } from './oauth.js';

/** Body of the 401s from /session. */
const UNAUTHORIZED = 'UNAUTHORIZED';

function verifyOAuth(ctx: SimContext, headers: Parameters<Handler>[1]['headers'], url: URL): ApiReply | undefined {
  const parsed = parseOAuthHeader(headers.authorization);
  if (!parsed.ok) return fail(400, 'BAD_REQUEST');
  const p = parsed.params;
  if (p.get('oauth_consumer_key') !== ctx.token.consumer_key || p.get('oauth_token') !== ctx.token.access_token) return fail(401, UNAUTHORIZED);
  const ts = Number(p.get('oauth_timestamp')) * 1000;
  if (Math.abs(ts - ctx.now()) > ctx.timestampToleranceMs) return fail(401, UNAUTHORIZED);
  // The URL the client used: a TLS-terminating proxy in front of the simulator says so in X-Forwarded-Proto.
  const proto = String(headers['x-forwarded-proto'] ?? 'http').split(',')[0]?.trim() || 'http';
  const base = requestBaseUrl(proto, String(headers.host ?? ''), url.pathname);
  const expected = hmacSha1Signature(signatureBaseString('GET', base, p, url.searchParams), ctx.token.consumer_secret, ctx.token.access_secret);
  if (!signaturesMatch(p.get('oauth_signature') ?? '', expected)) return fail(401, UNAUTHORIZED);
  // Only a correctly signed request burns its nonce, so a forged request cannot lock a client out.
  if (!ctx.nonces.use(p.get('oauth_nonce') ?? '', ctx.now())) return fail(401, UNAUTHORIZED);
  return undefined;
}

/** GET /session. */
export const getSession: Handler = (ctx, call) => {
  if (ctx.faults.tokenRevoked()) return fail(401, 'token_rejected');
  const rejected = verifyOAuth(ctx, call.headers, call.url);
  if (rejected) return rejected;
  // A token past its access_token_expiry no longer authenticates (one client saw this body).
  if (Date.parse(ctx.token.access_token_expiry) <= ctx.now()) return fail(401, 'token_expiredUnauthorized');
  if (ctx.faults.termsNotSigned()) return fail(403, 'T_C_NOT_SIGNED');
  return ok({ auth_session_token: ctx.sessions.issue() });
};

/** GET /account: `org_id`, `org_id_hash`, `org_type`, `org_version` and `urls` need protocol v3. */
export const getAccount: Handler = (ctx, call) => {
  const a = ctx.account;
  const body: AccountDetail = {
    server_name: a.server_name,
    server_uuid: a.server_uuid,
    admin_id: a.admin_id,
    facilitator_id: a.admin_id,
    org_name: a.org_name,
    org_email: a.org_email,
    org_phone: a.org_phone,
    org_address: a.org_address,
  };
  if (call.version >= 3) {
    Object.assign(body, { org_id: a.org_id, org_id_hash: a.org_id_hash, org_type: a.org_type, org_version: a.org_version, urls: a.urls });
  }
  return ok(body);
};
