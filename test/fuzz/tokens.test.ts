import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TokenError, encryptServerToken, generateKeyPair, openServerToken, type ServerToken } from '../../controller/tokens/index.js';
import { fuzzParams } from '../helpers/fuzz.js';

// A token file is whatever an admin picked in a file dialog, or a Secret someone mounted: random bytes,
// a real token with bytes flipped or cut, another file. Opening it gives a TokenError (with its code) or a
// valid token, never a crash from the ASN.1, base64 or cipher layers.

const pair = generateKeyPair({ commonName: 'fuzz' });
const token: ServerToken = {
  consumer_key: 'CK_fuzz',
  consumer_secret: 'CS_fuzz',
  access_token: 'AT_fuzz',
  access_secret: 'AS_fuzz',
  access_token_expiry: '2030-01-01T00:00:00Z',
};
const p7m = encryptServerToken(token, pair.certificatePem);

function open(bytes: Buffer): unknown {
  try {
    return openServerToken(bytes, pair.privateKeyPem).token;
  } catch (err) {
    return err;
  }
}

function expectTokenErrorOrToken(outcome: unknown): void {
  if (outcome instanceof Error) {
    expect(outcome).toBeInstanceOf(TokenError);
    // Never the decrypted secrets in a message about a broken file.
    expect(outcome.message).not.toContain(token.access_secret);
  } else {
    expect(outcome).toEqual(token);
  }
}

describe('token files, fuzzed', () => {
  it('random bytes are a TokenError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 4096 }), (bytes) => {
        const outcome = open(Buffer.from(bytes));
        expect(outcome).toBeInstanceOf(TokenError);
      }),
      fuzzParams('token random bytes'),
    );
  });

  it('a real .p7m with bytes flipped, cut or inserted is a TokenError or still the same token', () => {
    const text = Buffer.from(p7m);
    const mutation = fc.oneof(
      fc.record({ kind: fc.constant('flip' as const), at: fc.nat(text.length - 1), bits: fc.integer({ min: 1, max: 255 }) }),
      fc.record({ kind: fc.constant('cut' as const), at: fc.nat(text.length - 1) }),
      fc.record({ kind: fc.constant('insert' as const), at: fc.nat(text.length - 1), bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) }),
    );
    fc.assert(
      fc.property(fc.array(mutation, { minLength: 1, maxLength: 4 }), (mutations) => {
        let bytes = Buffer.from(text);
        for (const m of mutations) {
          const at = Math.min(m.at, Math.max(0, bytes.length - 1));
          if (m.kind === 'flip') bytes[at] = (bytes[at] as number) ^ m.bits;
          else if (m.kind === 'cut') bytes = bytes.subarray(0, at);
          else bytes = Buffer.concat([bytes.subarray(0, at), Buffer.from(m.bytes), bytes.subarray(at)]);
        }
        expectTokenErrorOrToken(open(bytes));
      }),
      fuzzParams('token mutated p7m'),
    );
  });

  it('the CMS inside a real token, mutated and re-wrapped in valid base64, is a TokenError or the same token', () => {
    const [headers, b64] = p7m.split(/\r?\n\r?\n/) as [string, string];
    const der = Buffer.from(b64.replace(/\s+/g, ''), 'base64');
    fc.assert(
      fc.property(fc.nat(der.length - 1), fc.integer({ min: 1, max: 255 }), (at, bits) => {
        const mutated = Buffer.from(der);
        mutated[at] = (mutated[at] as number) ^ bits;
        expectTokenErrorOrToken(open(Buffer.from(`${headers}\n\n${mutated.toString('base64')}\n`)));
      }),
      fuzzParams('token mutated CMS', 60),
    );
    // And a whole random DER body behind Apple's headers.
    expect(open(Buffer.from(`${headers}\n\n${randomBytes(600).toString('base64')}\n`))).toBeInstanceOf(TokenError);
  });
});
