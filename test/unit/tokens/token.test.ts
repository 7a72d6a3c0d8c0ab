import { describe, expect, it } from 'vitest';
import {
  InvalidTokenError,
  parseTokenText,
  summarizeToken,
  tokenExpiry,
  tokenFingerprint,
  validateServerToken,
  type ServerToken,
} from '../../../controller/tokens/index.js';
import { appleMessage, hardWrapped, randomToken } from '../../fixtures/tokens/openssl.js';

const expiry = new Date(Date.UTC(2026, 0, 17, 11, 2, 21));

function problemsOf(value: unknown): readonly string[] {
  try {
    validateServerToken(value);
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidTokenError);
    return (err as InvalidTokenError).problems;
  }
  return [];
}

describe('validateServerToken', () => {
  it('accepts a token and returns its five fields', () => {
    const token = randomToken(expiry);
    expect(validateServerToken({ ...token })).toEqual(token);
  });

  it('lists every bad field by name, never by value', () => {
    const token = randomToken(expiry);
    const bad = { consumer_key: token.consumer_secret, consumer_secret: 42, access_token: token.access_token, access_token_expiry: '17/01/2026' };
    const problems = problemsOf(bad);
    expect(problems).toEqual([
      'consumer_key: does not start with CK_',
      'consumer_secret: not a string',
      'access_secret: missing',
      'access_token_expiry: not an RFC 3339 date-time',
    ]);
    expect(problems.join(' ')).not.toContain(token.consumer_secret);
  });

  it('checks prefixes, emptiness and whitespace', () => {
    const token = randomToken(expiry);
    expect(problemsOf({ ...token, access_secret: 'AS_' })).toEqual(['access_secret: does not start with AS_']);
    expect(problemsOf({ ...token, access_token: 'AT_ 1' })).toEqual(['access_token: contains whitespace']);
    expect(problemsOf([token])).toEqual(['expected a JSON object']);
    expect(problemsOf(null)).toEqual(['expected a JSON object']);
  });

  it('accepts RFC 3339 with offsets and fractions, refuses dates without time or zone', () => {
    const token = randomToken(expiry);
    for (const ok of ['2026-01-17T11:02:21Z', '2026-01-17T11:02:21.5+02:00', '2026-01-17t11:02:21z']) {
      expect(problemsOf({ ...token, access_token_expiry: ok })).toEqual([]);
    }
    for (const bad of ['2026-01-17', '2026-01-17T11:02:21', '2026-13-45T11:02:21Z', 'tomorrow']) {
      expect(problemsOf({ ...token, access_token_expiry: bad })).toEqual(['access_token_expiry: not an RFC 3339 date-time']);
    }
  });
});

describe('parseTokenText', () => {
  const token = randomToken(expiry);

  it.each([
    ['the MIME part Apple encrypts', appleMessage(token)],
    ['markers without headers', `-----BEGIN MESSAGE-----\r\n${JSON.stringify(token)}\r\n-----END MESSAGE-----\r\n`],
    ['hard-wrapped JSON (Apple documentation example)', hardWrapped(token)],
    ['hard-wrapped JSON with CRLF inside markers', `-----BEGIN MESSAGE-----\r\n${hardWrapped(token).replace(/\n/g, '\r\n')}-----END MESSAGE-----`],
    ['pretty-printed JSON', JSON.stringify(token, null, 2)],
    ['JSON with a byte-order mark', `\uFEFF${JSON.stringify(token)}`],
  ])('reads %s', (_name, text) => {
    expect(parseTokenText(text)).toEqual(token);
  });

  it('refuses text that is not JSON', () => {
    expect(() => parseTokenText('Content-Type: text/plain\r\n\r\nhello')).toThrow(InvalidTokenError);
    expect(() => parseTokenText('{"consumer_key": ')).toThrow(/not valid JSON/);
  });
});

describe('tokenExpiry', () => {
  const token: ServerToken = { ...randomToken(expiry), access_token_expiry: '2026-01-17T11:02:21Z' };

  it('counts whole days left, rounding down', () => {
    expect(tokenExpiry(token, new Date('2025-12-18T11:02:21Z'))).toEqual({ expiresAt: expiry, daysLeft: 30, expired: false });
    expect(tokenExpiry(token, new Date('2025-12-18T11:02:22Z')).daysLeft).toBe(29);
    expect(tokenExpiry(token, new Date('2026-01-17T11:02:20Z'))).toMatchObject({ daysLeft: 0, expired: false });
  });

  it('is expired from the expiry instant on, with negative days', () => {
    expect(tokenExpiry(token, new Date('2026-01-17T11:02:21Z'))).toMatchObject({ daysLeft: 0, expired: true });
    expect(tokenExpiry(token, new Date('2026-01-17T11:02:22Z'))).toMatchObject({ daysLeft: -1, expired: true });
    expect(tokenExpiry(token, new Date('2026-01-27T12:00:00Z'))).toMatchObject({ daysLeft: -11, expired: true });
  });
});

describe('tokenFingerprint and summarizeToken', () => {
  /** A fixed token, so the expected values below are written out rather than computed by depctl. */
  const fixed: ServerToken = {
    consumer_key: 'CK_48dd68d1e1fa3bd2a47a8e9a3e1f0c7c0e4b8d7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c',
    consumer_secret: 'CS_0123456789abcdef0123456789abcdef01234567',
    access_token: 'AT_O1234567890O9f8e7d6c5b4a39281706f5e4d3c2b1a0f9e8d7c6O1737111741000',
    access_secret: 'AS_fedcba9876543210fedcba9876543210fedcba98',
    access_token_expiry: '2026-01-17T11:02:21Z',
  };

  it('fingerprints consumer_key + access_token as SHA-256 hex, without revealing them', () => {
    // printf '%s' "$CONSUMER_KEY$ACCESS_TOKEN" | sha256sum
    expect(tokenFingerprint(fixed)).toBe('25293991fd72dd88f04a0c0bf70f429f45e3a6fe8f83f4cd684bae2e225fb4bf');
    const token = randomToken(expiry);
    const fp = tokenFingerprint(token);
    expect(fp).toMatch(/^[0-9a-f]{64}$/);
    expect(tokenFingerprint({ ...token, consumer_secret: 'CS_other', access_secret: 'AS_other' })).toBe(fp);
    expect(tokenFingerprint({ ...token, access_token: `${token.access_token}1` })).not.toBe(fp);
    expect(tokenFingerprint({ ...token, consumer_key: `${token.consumer_key}1` })).not.toBe(fp);
  });

  it('summarises without any secret and with the issue time from the access token', () => {
    const summary = summarizeToken(fixed, new Date('2025-12-18T11:02:21Z'));
    expect(summary).toEqual({
      consumerKey: 'CK_48dd68d1…',
      fingerprint: '25293991fd72dd88',
      issuedAt: '2025-01-17T11:02:21Z',
      expiresAt: '2026-01-17T11:02:21Z',
      daysLeft: 30,
      expired: false,
    });
    const token = randomToken(expiry, new Date(Date.UTC(2025, 0, 17, 11, 2, 21)));
    const text = JSON.stringify(summarizeToken(token, new Date('2025-12-18T11:02:21Z')));
    for (const secret of [token.consumer_secret, token.access_secret, token.access_token, token.consumer_key]) {
      expect(text).not.toContain(secret);
      expect(text).not.toContain(secret.slice(3, 19));
    }
  });

  it('leaves issuedAt empty when the access token has another shape', () => {
    const token = { ...randomToken(expiry), access_token: 'AT_927696831c59ba510cfe4ec1a69e5267c19881257d4bca29' };
    expect(summarizeToken(token, expiry).issuedAt).toBeNull();
  });
});
