import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MachineInfoError, parseAnchors, parseMachineInfoPlist, verifyMachineInfo } from '../../controller/enroll/machine-info.js';
import { createTestDeviceCa } from '../../controller/sim/test-ca.js';
import { signedMachineInfo } from '../../controller/sim/enroll-device.js';
import { fuzzParams } from '../helpers/fuzz.js';

// The enrollment endpoint reads a body any device (or anyone) can POST. Whatever the bytes, parsing gives a
// MachineInfoError with one of its three problems, or a verified MachineInfo for a body our test CA signed:
// never another exception, never "verified" for a body that was changed.

const ca = createTestDeviceCa({ keyBits: 2048 });
const anchors = parseAnchors([{ pem: ca.rootCertPem, what: 'test root' }]);
const info = { UDID: '00008030-001A2D1234567890', SERIAL: 'F9FXK1ABCD12', PRODUCT: 'iPad13,1', VERSION: '21E219', OS_VERSION: '17.4' };
const body = signedMachineInfo(info, ca);

function outcome(bytes: Buffer): { ok: true; serial: string } | { ok: false; err: unknown } {
  try {
    return { ok: true, serial: verifyMachineInfo(bytes, anchors).info.SERIAL };
  } catch (err) {
    return { ok: false, err };
  }
}

function expectMachineInfoError(o: ReturnType<typeof outcome>): void {
  expect(o.ok).toBe(false);
  if (!o.ok) {
    expect(o.err).toBeInstanceOf(MachineInfoError);
    expect(['malformed', 'bad-signature', 'untrusted']).toContain((o.err as MachineInfoError).problem);
  }
}

describe('enrollment bodies, fuzzed', () => {
  it('the signed body verifies as it is (the property below is not vacuous)', () => {
    expect(outcome(body)).toEqual({ ok: true, serial: 'F9FXK1ABCD12' });
  });

  it('random bytes are a MachineInfoError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 4096 }), (bytes) => expectMachineInfoError(outcome(Buffer.from(bytes)))),
      fuzzParams('enroll random bytes'),
    );
  });

  it('a signed body with bytes flipped or cut never verifies as a changed MachineInfo', () => {
    fc.assert(
      fc.property(fc.nat(body.length - 1), fc.integer({ min: 1, max: 255 }), fc.boolean(), (at, bits, cut) => {
        const mutated = cut ? body.subarray(0, at) : Buffer.from(body);
        if (!cut) mutated[at] = (mutated[at] as number) ^ bits;
        const o = outcome(mutated);
        // A flip in a part the signature does not cover (an unsigned attribute, padding) may still verify:
        // then it must be the same MachineInfo, never another one.
        if (o.ok) expect(o.serial).toBe('F9FXK1ABCD12');
        else expectMachineInfoError(o);
      }),
      fuzzParams('enroll mutated CMS'),
    );
  });

  it('random and mutated plists are refused as malformed, never thrown otherwise', () => {
    const plist = Buffer.from(`<?xml version="1.0" encoding="UTF-8"?><plist version="1.0"><dict><key>SERIAL</key><string>F9FXK1ABCD12</string><key>UDID</key><string>x</string></dict></plist>`);
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 512 }).map((b) => Buffer.from(b)), fc.tuple(fc.nat(plist.length - 1), fc.string({ maxLength: 8 })).map(([at, s]) => Buffer.concat([plist.subarray(0, at), Buffer.from(s), plist.subarray(at)]))), (bytes) => {
        try {
          parseMachineInfoPlist(bytes);
        } catch (err) {
          expect(err).toBeInstanceOf(MachineInfoError);
        }
      }),
      fuzzParams('enroll plist'),
    );
  });
});
