import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createClientAssertion, loadAbmPrivateKey, resolveAbmCredentials } from '../../../controller/abm/credentials.js';
import { AbmCredentialsError } from '../../../controller/abm/errors.js';
import { ABM_ASSERTION_AUDIENCE, ABM_MAX_ASSERTION_LIFETIME_SEC } from '../../../controller/abm/types.js';
import { generateApiAccount } from '../../../controller/sim/abm/credentials.js';
import { verifyAssertion } from './fake-abm-server.js';

const account = generateApiAccount('business');
const pemBody = (pem: string): string => pem.split('\n').filter((l) => l !== '' && !l.startsWith('-----')).join('');

function thrown(f: () => unknown): Error {
  try {
    f();
  } catch (err) {
    return err as Error;
  }
  throw new Error('did not throw');
}

describe('client assertion', () => {
  it('is an ES256 JWS with kid, sub = iss = client ID, Apple audience, iat, exp and jti that node crypto verifies', () => {
    const key = loadAbmPrivateKey(account.privateKeyPem);
    const { jwt, claims } = createClientAssertion({ clientId: account.clientId, keyId: account.keyId, key, iat: 1_800_000_000, lifetimeSec: 3600, jti: 'jti-1' });
    const v = verifyAssertion(jwt, account.publicKeyPem);
    expect(v.header).toMatchObject({ alg: 'ES256', kid: account.keyId });
    expect(v.claims).toEqual({ sub: account.clientId, iss: account.clientId, aud: ABM_ASSERTION_AUDIENCE, iat: 1_800_000_000, exp: 1_800_003_600, jti: 'jti-1' });
    expect(claims).toEqual(v.claims);
    // Another account's public key does not verify it.
    expect(() => verifyAssertion(jwt, generateApiAccount().publicKeyPem)).toThrow(/does not verify/);
  });

  it('gives each assertion a new jti by default and refuses a lifetime beyond 180 days', () => {
    const key = loadAbmPrivateKey(account.privateKeyPem);
    const a = createClientAssertion({ clientId: account.clientId, keyId: account.keyId, key, iat: 1, lifetimeSec: ABM_MAX_ASSERTION_LIFETIME_SEC });
    const b = createClientAssertion({ clientId: account.clientId, keyId: account.keyId, key, iat: 1, lifetimeSec: ABM_MAX_ASSERTION_LIFETIME_SEC });
    expect(a.claims.jti).not.toBe(b.claims.jti);
    expect(a.claims.exp - a.claims.iat).toBe(180 * 86_400);
    expect(() => createClientAssertion({ clientId: 'c', keyId: 'k', key, iat: 1, lifetimeSec: ABM_MAX_ASSERTION_LIFETIME_SEC + 1 })).toThrow(RangeError);
  });
});

describe('private key checks', () => {
  it('refuses an RSA key, a P-384 key, a damaged PEM and non-PEM text with a clear error that never contains the key', () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const p384 = generateKeyPairSync('ec', { namedCurve: 'secp384r1' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const lines = account.privateKeyPem.trim().split('\n');
    const damaged = [lines[0], (lines[1] ?? '').slice(0, 30), lines[lines.length - 1]].join('\n');
    const cases: [string, RegExp][] = [
      [rsa, /rsa key; Apple issues EC P-256/],
      [p384, /curve secp384r1/],
      [damaged, /could not be read/],
      ['just some text', /not a PEM file/],
    ];
    for (const [pem, message] of cases) {
      const err = thrown(() => loadAbmPrivateKey(pem));
      expect(err).toBeInstanceOf(AbmCredentialsError);
      expect(err.message).toMatch(message);
      if (pem.includes('BEGIN')) expect(err.message).not.toContain(pemBody(pem).slice(0, 24));
      expect(`${err.stack ?? ''}`).not.toContain('PRIVATE KEY-----');
    }
  });

  it('checks the scope against the client ID prefix and fills in Apple URLs', () => {
    expect(() => resolveAbmCredentials({ ...account, clientId: 'SCHOOLAPI.1234', scope: 'business' })).toThrow(/BUSINESSAPI/);
    const r = resolveAbmCredentials({ ...account });
    expect(r.apiUrl).toBe('https://api-business.apple.com/v1');
    expect(r.tokenUrl).toBe('https://account.apple.com/auth/oauth2/token');
    expect(resolveAbmCredentials({ ...generateApiAccount('school') }).apiUrl).toBe('https://api-school.apple.com/v1');
  });
});
