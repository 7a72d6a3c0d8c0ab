import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CorruptTokenError,
  InvalidKeyError,
  InvalidTokenError,
  KeyRequiredError,
  TokenError,
  UnsupportedTokenError,
  WrongFileTypeError,
  WrongKeyError,
  decryptServerToken,
  loadServerToken,
  type ServerToken,
  type TokenErrorCode,
} from '../../../controller/tokens/index.js';
import { appleMessage, openssl, opensslEncrypt, opensslKeyPair, randomToken, tempDir, type OpensslPair } from '../../fixtures/tokens/openssl.js';

const expiry = new Date(Date.UTC(2030, 0, 1));

/** Runs `fn`, expects a TokenError of the class and code, and checks no secret leaks into it. */
function expectTokenError(fn: () => unknown, cls: new (...args: never[]) => TokenError, code: TokenErrorCode, secrets: string[] = []): TokenError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(cls);
  expect(caught).toBeInstanceOf(TokenError);
  const err = caught as TokenError;
  expect(err.code).toBe(code);
  for (const s of secrets) {
    expect(err.message).not.toContain(s);
    expect(JSON.stringify(err)).not.toContain(s);
  }
  return err;
}

const secretsOf = (t: ServerToken) => [t.consumer_secret, t.access_token, t.access_secret, t.consumer_key];

describe('token errors', () => {
  let tmp: ReturnType<typeof tempDir>;
  let pair: OpensslPair;
  let other: OpensslPair;
  let token: ServerToken;
  let p7m: Buffer;

  beforeAll(() => {
    tmp = tempDir();
    pair = opensslKeyPair(tmp.dir, 'right');
    other = opensslKeyPair(tmp.dir, 'other');
    token = randomToken(expiry);
    p7m = opensslEncrypt(tmp.dir, appleMessage(token), pair.certPath);
  });
  afterAll(() => tmp.cleanup());

  it('names the wrong key and the certificate the token was encrypted for', () => {
    const err = expectTokenError(() => decryptServerToken(p7m, other.keyPem), WrongKeyError, 'wrong_key', secretsOf(token));
    expect(err.message).toMatch(/does not decrypt this token/);
    expect(err.message).toContain('CN=right');
  });

  it('treats a key of another size as the wrong key', () => {
    const bigKey = openssl(['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:3072']).toString();
    expectTokenError(() => decryptServerToken(p7m, bigKey), WrongKeyError, 'wrong_key');
  });

  it('reports a truncated file as corrupt', () => {
    const text = p7m.toString();
    expectTokenError(() => decryptServerToken(text.slice(0, Math.floor(text.length * 0.6)), pair.keyPem), CorruptTokenError, 'corrupt_file');
    // Truncated on a base64 quantum boundary too: then it is the ASN.1 that is incomplete.
    const lines = text.trimEnd().split('\n');
    expectTokenError(() => decryptServerToken(lines.slice(0, -3).join('\n') + '\n', pair.keyPem), CorruptTokenError, 'corrupt_file');
  });

  it('reports damaged base64 as corrupt', () => {
    const text = p7m.toString();
    const at = text.indexOf('\n\n') + 30;
    const damaged = text.slice(0, at) + '*%' + text.slice(at + 2);
    const err = expectTokenError(() => decryptServerToken(damaged, pair.keyPem), CorruptTokenError, 'corrupt_file');
    expect(err.message).toMatch(/base64/);
  });

  it('reports a flipped byte inside the ciphertext as the wrong key or corrupt, never a bad token', () => {
    const text = p7m.toString();
    const b64 = text.slice(text.indexOf('\n\n') + 2).replace(/\s+/g, '');
    const der = Buffer.from(b64, 'base64');
    der[der.length - 20] = (der[der.length - 20] ?? 0) ^ 0xff;
    let code: string | undefined;
    try {
      decryptServerToken(der, pair.keyPem);
    } catch (err) {
      code = (err as TokenError).code;
    }
    expect(['wrong_key', 'corrupt_file']).toContain(code);
  });

  it('recognises a certificate, a private key, text, binary and an empty file given as the token', () => {
    const cases: Array<[string | Buffer, string]> = [
      [pair.certPem, 'certificate'],
      [openssl(['x509', '-in', pair.certPath, '-outform', 'DER']), 'certificate'],
      [pair.keyPem, 'private_key'],
      ['Dear admin,\nplease find the token attached.\n', 'text'],
      [randomBytes(512), 'binary'],
      ['', 'empty'],
      [openssl(['crl2pkcs7', '-nocrl', '-certfile', pair.certPath]).toString(), 'pkcs7_signed'],
    ];
    for (const [input, detected] of cases) {
      const err = expectTokenError(() => decryptServerToken(input, pair.keyPem), WrongFileTypeError, 'wrong_file_type') as WrongFileTypeError;
      expect(err.role).toBe('token');
      expect(err.detected).toBe(detected);
    }
  });

  it('recognises a certificate or a token given as the key', () => {
    const asCert = expectTokenError(() => decryptServerToken(p7m, pair.certPem), WrongFileTypeError, 'wrong_file_type') as WrongFileTypeError;
    expect(asCert).toMatchObject({ role: 'key', detected: 'certificate' });
    expect(asCert.message).toBe('the key file is an X.509 certificate, not a PEM RSA private key');
    const asText = expectTokenError(() => decryptServerToken(p7m, p7m.toString()), WrongFileTypeError, 'wrong_file_type') as WrongFileTypeError;
    expect(asText.role).toBe('key');
  });

  it('refuses keys that are not RSA, are passphrase-protected or are malformed', () => {
    const ec = openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256']).toString();
    expect((expectTokenError(() => decryptServerToken(p7m, ec), InvalidKeyError, 'invalid_key') as InvalidKeyError).reason).toBe('not_rsa');
    const ecTraditional = openssl(['ec'], ec).toString();
    expect(ecTraditional).toMatch(/BEGIN EC PRIVATE KEY/);
    expect((expectTokenError(() => decryptServerToken(p7m, ecTraditional), InvalidKeyError, 'invalid_key') as InvalidKeyError).reason).toBe('not_rsa');

    const encrypted = openssl(['pkey', '-in', pair.keyPath, '-aes256', '-passout', 'pass:hunter2']).toString();
    expect(encrypted).toMatch(/BEGIN ENCRYPTED PRIVATE KEY/);
    const err = expectTokenError(() => decryptServerToken(p7m, encrypted), InvalidKeyError, 'invalid_key', ['hunter2']) as InvalidKeyError;
    expect(err.reason).toBe('encrypted');
    const legacy = openssl(['rsa', '-in', pair.keyPath, '-traditional', '-aes128', '-passout', 'pass:hunter2']).toString();
    expect(legacy).toMatch(/Proc-Type: 4,ENCRYPTED/);
    expect((expectTokenError(() => decryptServerToken(p7m, legacy), InvalidKeyError, 'invalid_key') as InvalidKeyError).reason).toBe('encrypted');

    const mangled = pair.keyPem.replace(/\n[A-Za-z0-9+/]{64}\n/, '\nAAAA\n');
    expect((expectTokenError(() => decryptServerToken(p7m, mangled), InvalidKeyError, 'invalid_key') as InvalidKeyError).reason).toBe('unreadable');
  });

  it('asks for a key when an encrypted token comes without one', () => {
    expectTokenError(() => loadServerToken(p7m), KeyRequiredError, 'key_required');
    // A certificate is still named as such, even without a key.
    expectTokenError(() => loadServerToken(pair.certPem), WrongFileTypeError, 'wrong_file_type');
  });

  it('reports a decrypted payload that is not a token, naming fields but never values', () => {
    const hello = opensslEncrypt(tmp.dir, 'hello, world\n', pair.certPath);
    expectTokenError(() => decryptServerToken(hello, pair.keyPem), InvalidTokenError, 'invalid_token');
    const partial = { ...token, access_secret: undefined, access_token_expiry: 'next year' };
    const file = opensslEncrypt(tmp.dir, appleMessage(partial as unknown as ServerToken), pair.certPath);
    const err = expectTokenError(() => decryptServerToken(file, pair.keyPem), InvalidTokenError, 'invalid_token', secretsOf(token)) as InvalidTokenError;
    expect(err.problems).toEqual(['access_secret: missing', 'access_token_expiry: not an RFC 3339 date-time']);
  });

  it('refuses RSA-OAEP key transport with its own error', () => {
    const msg = path.join(tmp.dir, 'oaep.txt');
    const out = path.join(tmp.dir, 'oaep.p7m');
    writeFileSync(msg, appleMessage(token));
    openssl(['cms', '-encrypt', '-binary', '-aes128', '-in', msg, '-out', out, '-recip', pair.certPath, '-keyopt', 'rsa_padding_mode:oaep']);
    expectTokenError(() => decryptServerToken(readFileSync(out), pair.keyPem), UnsupportedTokenError, 'unsupported');
  });
});
