/**
 * An API account's credentials and the ES256 client assertion (dep-protocol.md section 7): a JWT with
 * header `{alg: ES256, kid}` and claims `sub = iss = clientId`, `aud` Apple's token URL, `iat`, `exp`
 * (at most 180 days later) and a unique `jti`, signed with the account's EC P-256 key. Node's crypto
 * signs it (raw r||s, `ieee-p1363`, as JWS wants); no JWT library is needed.
 *
 * The private key is parsed once into a `KeyObject`; errors about it say what is wrong with it and never
 * include its text.
 */
import { createPrivateKey, randomUUID, sign, type KeyObject } from 'node:crypto';
import { AbmCredentialsError } from './errors.js';
import { ABM_API_URLS, ABM_ASSERTION_AUDIENCE, ABM_MAX_ASSERTION_LIFETIME_SEC, ABM_TOKEN_URL, type AbmScope } from './types.js';

/** An API account as Apple Business Manager (or School Manager) hands it out. */
export interface AbmCredentials {
  /** `BUSINESSAPI.<uuid>` or `SCHOOLAPI.<uuid>`. */
  clientId: string;
  keyId: string;
  /** The downloaded EC P-256 private key, PEM. */
  privateKeyPem: string;
  scope: AbmScope;
  /** API base URL including `/v1` (default Apple's for the scope); a simulator or proxy in tests. */
  apiUrl?: string;
  /** Token endpoint (default `https://account.apple.com/auth/oauth2/token`). */
  tokenUrl?: string;
}

/** Credentials checked and with the key parsed. */
export interface ResolvedAbmCredentials {
  clientId: string;
  keyId: string;
  key: KeyObject;
  scope: AbmScope;
  apiUrl: string;
  tokenUrl: string;
}

/** Parses a PEM private key and checks it is EC P-256; the error never contains the key. */
export function loadAbmPrivateKey(pem: string): KeyObject {
  if (typeof pem !== 'string' || !pem.includes('-----BEGIN')) {
    throw new AbmCredentialsError('the API account private key is not a PEM file (expected the .pem Apple Business Manager let you download, whose first line reads BEGIN PRIVATE KEY)');
  }
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: pem, format: 'pem' });
  } catch {
    throw new AbmCredentialsError('the API account private key could not be read: the PEM is damaged, encrypted or not a private key');
  }
  if (key.asymmetricKeyType !== 'ec') {
    throw new AbmCredentialsError(`the API account private key is a ${key.asymmetricKeyType ?? 'unknown'} key; Apple issues EC P-256 keys (ES256)`);
  }
  const curve = key.asymmetricKeyDetails?.namedCurve;
  if (curve !== 'prime256v1') {
    throw new AbmCredentialsError(`the API account private key is on curve ${curve ?? 'unknown'}; Apple issues EC P-256 (prime256v1) keys for ES256`);
  }
  return key;
}

const CLIENT_ID = /^(?:BUSINESSAPI|SCHOOLAPI)\.[A-Za-z0-9-]+$/;

/** Checks the credentials and parses the key. Client IDs of another form are allowed but must be non-empty printable text. */
export function resolveAbmCredentials(c: AbmCredentials): ResolvedAbmCredentials {
  if (c.scope !== 'business' && c.scope !== 'school') throw new AbmCredentialsError(`scope must be "business" or "school", got ${JSON.stringify(c.scope)}`);
  if (typeof c.clientId !== 'string' || !/^[\x21-\x7e]{1,200}$/.test(c.clientId)) throw new AbmCredentialsError('clientId must be the API account client ID (BUSINESSAPI.… or SCHOOLAPI.…)');
  if (typeof c.keyId !== 'string' || !/^[\x21-\x7e]{1,200}$/.test(c.keyId)) throw new AbmCredentialsError('keyId must be the API account key ID');
  if (CLIENT_ID.test(c.clientId)) {
    const wanted = c.scope === 'business' ? 'BUSINESSAPI.' : 'SCHOOLAPI.';
    if (!c.clientId.startsWith(wanted)) throw new AbmCredentialsError(`the client ID is for the other manager: scope "${c.scope}" needs a ${wanted}… client ID`);
  }
  return {
    clientId: c.clientId,
    keyId: c.keyId,
    key: loadAbmPrivateKey(c.privateKeyPem),
    scope: c.scope,
    apiUrl: (c.apiUrl ?? ABM_API_URLS[c.scope]).replace(/\/+$/, ''),
    tokenUrl: c.tokenUrl ?? ABM_TOKEN_URL,
  };
}

/** What goes into one assertion. */
export interface AssertionInput {
  clientId: string;
  keyId: string;
  key: KeyObject;
  /** Issue time, epoch seconds. */
  iat: number;
  /** Lifetime in seconds (at most 180 days). */
  lifetimeSec: number;
  /** Unique token ID (default a random UUID). */
  jti?: string;
}

/** The claims of an ABM client assertion. */
export interface AssertionClaims {
  sub: string;
  iss: string;
  aud: string;
  iat: number;
  exp: number;
  jti: string;
}

function b64url(data: string | Buffer): string {
  return Buffer.from(data).toString('base64url');
}

/** Signs a client assertion (compact JWS, ES256). */
export function createClientAssertion(input: AssertionInput): { jwt: string; claims: AssertionClaims } {
  if (!Number.isInteger(input.lifetimeSec) || input.lifetimeSec < 1 || input.lifetimeSec > ABM_MAX_ASSERTION_LIFETIME_SEC) {
    throw new RangeError(`assertion lifetime must be 1 to ${ABM_MAX_ASSERTION_LIFETIME_SEC} seconds (180 days), got ${input.lifetimeSec}`);
  }
  const header = { alg: 'ES256', kid: input.keyId, typ: 'JWT' };
  const claims: AssertionClaims = {
    sub: input.clientId,
    iss: input.clientId,
    aud: ABM_ASSERTION_AUDIENCE,
    iat: input.iat,
    exp: input.iat + input.lifetimeSec,
    jti: input.jti ?? randomUUID(),
  };
  const signingInput = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
  const signature = sign('sha256', Buffer.from(signingInput), { key: input.key, dsaEncoding: 'ieee-p1363' });
  return { jwt: `${signingInput}.${b64url(signature)}`, claims };
}
