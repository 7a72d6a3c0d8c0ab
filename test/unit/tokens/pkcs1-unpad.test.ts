import { constants, generateKeyPairSync, privateDecrypt, publicEncrypt } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { pkcs1v15Unpad } from '../../../controller/tokens/cms.js';

/** A block of `k` bytes: 00 02, `ps` padding bytes of `fill`, 00, then `message`. */
function block(k: number, ps: number, fill: number, message: Buffer, head = [0x00, 0x02]): Buffer {
  const b = Buffer.alloc(k);
  b.set(head, 0);
  b.fill(fill, 2, 2 + ps);
  b[2 + ps] = 0x00;
  message.copy(b, 3 + ps);
  return b;
}

describe('pkcs1v15Unpad (RSAES-PKCS1-v1_5 decoding after a raw RSA decryption)', () => {
  const cek = Buffer.from('00112233445566778899aabbccddeeff', 'hex');

  it('returns the message of a well-formed block', () => {
    const b = block(256, 256 - 3 - cek.length, 0xa5, cek);
    expect(pkcs1v15Unpad(b, 256)?.equals(cek)).toBe(true);
  });

  it('accepts the shortest padding RFC 8017 allows (8 bytes) and refuses 7', () => {
    const k = 3 + 8 + cek.length;
    expect(pkcs1v15Unpad(block(k, 8, 0x01, cek), k)?.equals(cek)).toBe(true);
    expect(pkcs1v15Unpad(block(k - 1, 7, 0x01, cek), k - 1)).toBeUndefined();
  });

  it('refuses a block that does not start 00 02, has no separator, or is not as long as the modulus', () => {
    const k = 256;
    expect(pkcs1v15Unpad(block(k, 200, 0x11, cek, [0x00, 0x01]), k)).toBeUndefined();
    expect(pkcs1v15Unpad(block(k, 200, 0x11, cek, [0x01, 0x02]), k)).toBeUndefined();
    const noSeparator = Buffer.alloc(k, 0x33);
    noSeparator[0] = 0x00;
    noSeparator[1] = 0x02;
    expect(pkcs1v15Unpad(noSeparator, k)).toBeUndefined();
    expect(pkcs1v15Unpad(block(k, 200, 0x11, cek), k + 1)).toBeUndefined();
  });

  it("reads what OpenSSL's PKCS#1 v1.5 encryption wrote, through node:crypto's raw RSA", () => {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const sealed = publicEncrypt({ key: publicKey, padding: constants.RSA_PKCS1_PADDING }, cek);
    const raw = privateDecrypt({ key: privateKey, padding: constants.RSA_NO_PADDING }, sealed);
    expect(pkcs1v15Unpad(raw, 256)?.equals(cek)).toBe(true);
  });
});
