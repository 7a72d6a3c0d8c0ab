import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  InvalidCertificateError,
  InvalidTokenError,
  decryptServerToken,
  encryptServerToken,
  openServerToken,
  type ContentCipher,
} from '../../../controller/tokens/index.js';
import { appleMessage, openssl, opensslKeyPair, randomToken, smimeBody, tempDir, type OpensslPair } from '../../fixtures/tokens/openssl.js';

const expiry = new Date(Date.UTC(2030, 5, 1, 8, 0, 0));

describe('encryptServerToken', () => {
  let tmp: ReturnType<typeof tempDir>;
  let pair: OpensslPair;

  beforeAll(() => {
    tmp = tempDir();
    pair = opensslKeyPair(tmp.dir, 'sim');
  });
  afterAll(() => tmp.cleanup());

  it("writes Apple's layout: four MIME headers, blank line, 76-column base64 of BER EnvelopedData", () => {
    const p7m = encryptServerToken(randomToken(expiry), pair.certPem);
    const [head, body] = p7m.split('\n\n') as [string, string];
    expect(head.split('\n')).toEqual([
      'Content-Type: application/pkcs7-mime; name="smime.p7m"; smime-type=enveloped-data',
      'Content-Transfer-Encoding: base64',
      'Content-Disposition: attachment; filename="smime.p7m"',
      'Content-Description: S/MIME Encrypted Message',
    ]);
    expect(p7m).not.toContain('\r');
    expect(p7m.endsWith('\n')).toBe(true);
    const lines = body.trimEnd().split('\n');
    expect(lines.length).toBeGreaterThan(5);
    for (const line of lines.slice(0, -1)) expect(line).toMatch(/^[A-Za-z0-9+/]{76}$/);
    expect(lines.at(-1)!.length).toBeLessThanOrEqual(76);

    const ber = smimeBody(p7m);
    // ContentInfo, [0], EnvelopedData: all indefinite length, as in a real token; five EOCs close them.
    expect([...ber.subarray(0, 2)]).toEqual([0x30, 0x80]);
    expect([...ber.subarray(-10)]).toEqual(Array(10).fill(0));
    const dump = openssl(['asn1parse', '-inform', 'DER'], ber).toString();
    expect(dump).toMatch(/:pkcs7-envelopedData/);
    expect(dump).toMatch(/:rsaEncryption/);
    expect(dump).toMatch(/:aes-128-cbc/);
    expect(dump.match(/l=inf/g)).toHaveLength(5);
  });

  it.each(['aes128', 'aes192', 'aes256', '3des'] as ContentCipher[])(
    'produces a %s token that openssl smime -decrypt opens to the exact Apple plaintext',
    (cipher) => {
      const token = randomToken(expiry);
      const file = path.join(tmp.dir, `token-${cipher}.p7m`);
      writeFileSync(file, encryptServerToken(token, pair.certPem, { cipher }));
      const plaintext = openssl(['smime', '-decrypt', '-in', file, '-inkey', pair.keyPath]).toString('latin1');
      expect(plaintext).toBe(appleMessage(token));
    },
  );

  it.each(['aes128', 'aes192', 'aes256', '3des'] as ContentCipher[])('round-trips a %s token through decryptServerToken', (cipher) => {
    const token = randomToken(expiry);
    const p7m = encryptServerToken(token, pair.certPem, { cipher });
    expect(decryptServerToken(p7m, pair.keyPem)).toEqual(token);
    expect(openServerToken(Buffer.from(p7m), pair.keyPem).format).toBe('smime');
  });

  it('uses a fresh content key and IV each time', () => {
    const token = randomToken(expiry);
    expect(encryptServerToken(token, pair.certPem)).not.toBe(encryptServerToken(token, pair.certPem));
  });

  it('refuses an invalid token and an unusable certificate', () => {
    const token = randomToken(expiry);
    expect(() => encryptServerToken({ ...token, consumer_key: 'nope' }, pair.certPem)).toThrow(InvalidTokenError);
    expect(() => encryptServerToken(token, pair.keyPem)).toThrow(InvalidCertificateError);
    expect(() => encryptServerToken(token, 'not a certificate')).toThrow(InvalidCertificateError);
  });
});
