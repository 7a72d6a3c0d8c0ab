import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decryptServerToken, loadServerToken, openServerToken } from '../../../controller/tokens/index.js';
import {
  appleMessage,
  hardWrapped,
  openssl,
  opensslEncrypt,
  opensslKeyPair,
  randomToken,
  smimeBody,
  tempDir,
  type OpensslPair,
} from '../../fixtures/tokens/openssl.js';

const expiry = new Date(Date.UTC(2030, 0, 17, 11, 2, 21));

describe('decrypting tokens made by openssl smime -encrypt', () => {
  let tmp: ReturnType<typeof tempDir>;
  let pair: OpensslPair;

  beforeAll(() => {
    tmp = tempDir();
    pair = opensslKeyPair(tmp.dir, 'mdm-paris');
  });
  afterAll(() => tmp.cleanup());

  it('reads the BER indefinite-length S/MIME form Apple uses (AES-128-CBC)', () => {
    const token = randomToken(expiry);
    const file = opensslEncrypt(tmp.dir, appleMessage(token), pair.certPath, { cipher: '-aes128' });
    // Check the fixture really is what Apple ships: MIME headers, then BER with indefinite lengths.
    expect(file.toString()).toMatch(/^MIME-Version: 1\.0\n[\s\S]*Content-Type: application\/x-pkcs7-mime;/);
    const ber = smimeBody(file);
    expect([...ber.subarray(0, 2)]).toEqual([0x30, 0x80]);
    expect(openssl(['asn1parse', '-inform', 'DER'], ber).toString()).toMatch(/l=inf\s+cons: SEQUENCE/);

    const opened = openServerToken(file, pair.keyPem);
    expect(opened.token).toEqual(token);
    expect(opened).toMatchObject({ format: 'smime', encrypted: true, cipher: 'AES-128-CBC' });
    expect(opened.recipient).toMatch(/^CN=mdm-paris, serial [0-9a-f]+$/);
  });

  it.each([
    ['-aes192', 'AES-192-CBC'],
    ['-aes256', 'AES-256-CBC'],
    ['-des3', 'DES-EDE3-CBC'],
  ] as const)('reads %s content encryption', (cipher, label) => {
    const token = randomToken(expiry);
    const file = opensslEncrypt(tmp.dir, appleMessage(token), pair.certPath, { cipher });
    const opened = openServerToken(file, pair.keyPem);
    expect(opened.token).toEqual(token);
    expect(opened.cipher).toBe(label);
  });

  it('reads definite-length DER S/MIME (openssl without -stream)', () => {
    const token = randomToken(expiry);
    const file = opensslEncrypt(tmp.dir, appleMessage(token), pair.certPath, { stream: false });
    expect([...smimeBody(file).subarray(0, 2)]).toEqual([0x30, 0x82]);
    expect(decryptServerToken(file, pair.keyPem)).toEqual(token);
  });

  it('reads raw binary PKCS#7 (DER and BER) and PEM PKCS#7', () => {
    const token = randomToken(expiry);
    for (const stream of [true, false]) {
      const der = opensslEncrypt(tmp.dir, appleMessage(token), pair.certPath, { outform: 'DER', stream });
      expect(openServerToken(der, pair.keyPem)).toMatchObject({ token, format: 'pkcs7-der' });
    }
    const pem = opensslEncrypt(tmp.dir, appleMessage(token), pair.certPath, { outform: 'PEM' });
    expect(pem.toString()).toMatch(/^-----BEGIN PKCS7-----/);
    expect(openServerToken(pem, pair.keyPem)).toMatchObject({ token, format: 'pkcs7-pem' });
  });

  it('reads a .p7m whose line ends were converted to CRLF', () => {
    const token = randomToken(expiry);
    const file = opensslEncrypt(tmp.dir, appleMessage(token), pair.certPath).toString().replace(/\r?\n/g, '\r\n');
    expect(decryptServerToken(file, pair.keyPem)).toEqual(token);
  });

  it('reads the headerless base64 body of a .p7m', () => {
    const token = randomToken(expiry);
    const file = opensslEncrypt(tmp.dir, appleMessage(token), pair.certPath);
    expect(decryptServerToken(smimeBody(file).toString('base64'), pair.keyPem)).toEqual(token);
  });

  it("reads a plaintext that is the hard-wrapped JSON of Apple's documentation example", () => {
    const token = randomToken(expiry);
    const file = opensslEncrypt(tmp.dir, hardWrapped(token), pair.certPath);
    expect(decryptServerToken(file, pair.keyPem)).toEqual(token);
  });

  it('accepts the key as PKCS#1 (RSA PRIVATE KEY) and PKCS#8 (PRIVATE KEY), string or Buffer', () => {
    const token = randomToken(expiry);
    const file = opensslEncrypt(tmp.dir, appleMessage(token), pair.certPath);
    const pkcs1 = execFileSync('/usr/bin/openssl', ['rsa', '-traditional', '-in', pair.keyPath], { stdio: ['pipe', 'pipe', 'pipe'] }).toString();
    expect(pkcs1).toMatch(/^-----BEGIN RSA PRIVATE KEY-----/);
    expect(pair.keyPem).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    expect(decryptServerToken(file, pkcs1)).toEqual(token);
    expect(decryptServerToken(file, Buffer.from(pair.keyPem))).toEqual(token);
    // A combined file (certificate first, then the key) is accepted: the key block is used.
    expect(decryptServerToken(file, pair.certPem + pair.keyPem)).toEqual(token);
  });

  it('loads already-decrypted tokens without a key: JSON, hard-wrapped JSON, MESSAGE text', () => {
    const token = randomToken(expiry);
    expect(loadServerToken(JSON.stringify(token))).toEqual(token);
    expect(loadServerToken(Buffer.from(JSON.stringify(token, null, 2)))).toEqual(token);
    expect(loadServerToken(hardWrapped(token))).toEqual(token);
    expect(loadServerToken(appleMessage(token))).toEqual(token);
    expect(openServerToken(appleMessage(token)).encrypted).toBe(false);
    // decryptServerToken also takes them; the key is ignored for plaintext.
    expect(decryptServerToken(JSON.stringify(token), pair.keyPem)).toEqual(token);
  });

  it('returns only the five token fields', () => {
    const token = randomToken(expiry);
    const extra = { ...token, note: 'added by an admin' };
    expect(Object.keys(loadServerToken(JSON.stringify(extra))).sort()).toEqual(['access_secret', 'access_token', 'access_token_expiry', 'consumer_key', 'consumer_secret']);
  });
});
