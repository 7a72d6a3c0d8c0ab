import { writeFileSync } from 'node:fs';
import path from 'node:path';
import forge from 'node-forge';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decryptServerToken, generateKeyPair, type GeneratedKeyPair } from '../../../controller/tokens/index.js';
import { appleMessage, openssl, opensslEncrypt, randomToken, tempDir } from '../../fixtures/tokens/openssl.js';

describe('generateKeyPair', () => {
  const now = new Date(Date.UTC(2026, 10, 25, 9, 30, 0));
  let tmp: ReturnType<typeof tempDir>;
  let pair: GeneratedKeyPair;
  let certPath: string;

  beforeAll(() => {
    tmp = tempDir();
    pair = generateKeyPair({ commonName: 'paris-mdm', validityDays: 30, now });
    certPath = path.join(tmp.dir, 'cert.pem');
    writeFileSync(certPath, pair.certificatePem);
  });
  afterAll(() => tmp.cleanup());

  it('writes a PKCS#1 RSA 2048 private key that openssl accepts', () => {
    expect(pair.privateKeyPem).toMatch(/^-----BEGIN RSA PRIVATE KEY-----\r?\n/);
    const check = openssl(['rsa', '-check', '-noout'], pair.privateKeyPem).toString();
    expect(check).toMatch(/RSA key ok/);
    const key = forge.pki.privateKeyFromPem(pair.privateKeyPem);
    expect(key.n.bitLength()).toBe(2048);
  });

  it('makes a self-signed certificate with CN, key usages and a back-dated validity', () => {
    const cert = forge.pki.certificateFromPem(pair.certificatePem);
    expect(cert.subject.getField('CN').value).toBe('paris-mdm');
    expect(cert.issuer.getField('CN').value).toBe('paris-mdm');
    expect(cert.subject.attributes).toHaveLength(1);
    expect(cert.validity.notBefore.toISOString()).toBe('2026-11-25T09:20:00.000Z');
    expect(cert.validity.notAfter.toISOString()).toBe('2026-12-25T09:30:00.000Z');
    expect(cert.verify(cert)).toBe(true);

    const text = openssl(['x509', '-in', certPath, '-noout', '-text']).toString();
    expect(text).toMatch(/X509v3 Key Usage: critical\s+Digital Signature, Key Encipherment\s/);
    expect(text).toMatch(/Public-Key: \(2048 bit\)/);
    expect(text).toMatch(/sha256WithRSAEncryption/);
    expect(text).not.toMatch(/Extended Key Usage/);
  });

  it('matches the certificate to the key', () => {
    const certModulus = openssl(['x509', '-in', certPath, '-noout', '-modulus']).toString();
    const keyModulus = openssl(['rsa', '-noout', '-modulus'], pair.privateKeyPem).toString();
    expect(certModulus).toBe(keyModulus);
  });

  it('gives each certificate a random positive serial of about 128 bits', () => {
    const serial = forge.pki.certificateFromPem(pair.certificatePem).serialNumber;
    const again = forge.pki.certificateFromPem(generateKeyPair({ now }).certificatePem).serialNumber;
    expect(serial).toMatch(/^[0-7][0-9a-f]{31}$/);
    expect(again).not.toBe(serial);
  });

  it('defaults to CN depctl', () => {
    const cert = forge.pki.certificateFromPem(generateKeyPair().certificatePem);
    expect(cert.subject.getField('CN').value).toBe('depctl');
  });

  it('refuses an empty common name and non-positive validity', () => {
    expect(() => generateKeyPair({ commonName: '' })).toThrow(RangeError);
    expect(() => generateKeyPair({ validityDays: 0 })).toThrow(RangeError);
    expect(() => generateKeyPair({ validityDays: 1.5 })).toThrow(RangeError);
  });

  it('decrypts a token that the portal (here openssl) encrypted to the uploaded certificate', () => {
    const token = randomToken(new Date(Date.UTC(2027, 10, 25)));
    const p7m = opensslEncrypt(tmp.dir, appleMessage(token), certPath);
    expect(decryptServerToken(p7m, pair.privateKeyPem)).toEqual(token);
  });
});
