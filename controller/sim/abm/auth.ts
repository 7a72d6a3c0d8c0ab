/**
 * The simulated token endpoint (`POST /auth/oauth2/token` and `/auth/oauth2/v2/token`): checks the
 * OAuth client-credentials request and the JWT client assertion as dep-protocol.md section 7 describes it
 * — ES256 signature against the account's public key, `kid`, `iss` = `sub` = client ID, `aud`, `iat` not
 * in the future, `exp` in the future and at most 180 days after `iat`, a `jti` — and answers a one-hour
 * bearer or an RFC 6749 error (400 `{error, error_description}`).
 *
 * `jti` replay: depctl (like nanoaxm) reuses one assertion for months, so a second token request with the
 * same assertion is normal. What is refused is a *different* assertion carrying a `jti` already seen.
 */
import { createHash, createPublicKey, verify, type KeyObject } from 'node:crypto';
import { ABM_ASSERTION_AUDIENCE, ABM_MAX_ASSERTION_LIFETIME_SEC, ABM_OAUTH_SCOPES } from '../../abm/types.js';
import type { SimApiAccount } from './api.js';
import type { SimOrg } from './org.js';

/** Accepted clock skew for `iat` in the future, seconds. */
export const IAT_SKEW_SEC = 60;

export interface TokenReply {
  status: number;
  body: Record<string, unknown>;
}

const oauthError = (error: string, description: string, status = 400): TokenReply => ({ status, body: { error, error_description: description } });

function b64json(part: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** Verifies an assertion; returns the problem as an OAuth error, or undefined when it is good. */
export function assertionProblem(org: SimOrg, account: SimApiAccount, publicKey: KeyObject, jwt: string): TokenReply | undefined {
  const parts = jwt.split('.');
  if (parts.length !== 3) return oauthError('invalid_client', 'client_assertion is not a compact JWS');
  const [h, c, s] = parts as [string, string, string];
  const header = b64json(h);
  const claims = b64json(c);
  if (!header || !claims) return oauthError('invalid_client', 'client_assertion header or claims are not JSON');
  if (header.alg !== 'ES256') return oauthError('invalid_client', 'client_assertion alg must be ES256');
  if (header.kid !== account.keyId) return oauthError('invalid_client', 'unknown key id');
  const signature = Buffer.from(s, 'base64url');
  if (signature.length !== 64 || !verify('sha256', Buffer.from(`${h}.${c}`), { key: publicKey, dsaEncoding: 'ieee-p1363' }, signature)) {
    return oauthError('invalid_client', 'client_assertion signature does not verify with the key of this API account');
  }
  if (claims.iss !== account.clientId || claims.sub !== account.clientId) return oauthError('invalid_client', 'iss and sub must be the client ID');
  if (claims.aud !== ABM_ASSERTION_AUDIENCE) return oauthError('invalid_client', `aud must be ${ABM_ASSERTION_AUDIENCE}`);
  const nowSec = Math.floor(org.now() / 1000);
  const { iat, exp, jti } = claims;
  if (typeof iat !== 'number' || typeof exp !== 'number' || !Number.isInteger(iat) || !Number.isInteger(exp)) return oauthError('invalid_client', 'iat and exp must be integers');
  if (iat > nowSec + IAT_SKEW_SEC) return oauthError('invalid_client', 'iat is in the future');
  if (exp <= nowSec) return oauthError('invalid_client', 'client_assertion has expired');
  if (exp - iat > ABM_MAX_ASSERTION_LIFETIME_SEC) return oauthError('invalid_client', 'exp must be at most 180 days after iat');
  if (typeof jti !== 'string' || jti === '') return oauthError('invalid_client', 'jti is required');
  const digest = createHash('sha256').update(jwt).digest('hex');
  const first = org.jtis.get(jti);
  if (first !== undefined && first !== digest) return oauthError('invalid_client', 'jti was already used by another assertion');
  org.jtis.set(jti, digest);
  return undefined;
}

/** Answers a token request given its form parameters (body and query merged). */
export function tokenRequest(org: SimOrg, account: SimApiAccount, publicKey: KeyObject, params: URLSearchParams, ttlSec: number): TokenReply {
  if (params.get('grant_type') !== 'client_credentials') return oauthError('unsupported_grant_type', 'grant_type must be client_credentials');
  if (params.get('client_assertion_type') !== 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer') return oauthError('invalid_request', 'client_assertion_type must be jwt-bearer');
  const assertion = params.get('client_assertion');
  if (!assertion) return oauthError('invalid_request', 'client_assertion is required');
  if (params.get('client_id') !== account.clientId) return oauthError('invalid_client', 'unknown client_id');
  const problem = assertionProblem(org, account, publicKey, assertion);
  if (problem) return problem;
  const scope = ABM_OAUTH_SCOPES[account.scope];
  if (params.get('scope') !== scope) return oauthError('invalid_scope', `scope must be ${scope} for this organization`);
  return { status: 200, body: { access_token: org.issueToken(ttlSec), token_type: 'Bearer', expires_in: ttlSec, scope } };
}

/** The public key of an account. */
export function publicKeyOf(account: SimApiAccount): KeyObject {
  return createPublicKey(account.publicKeyPem);
}
