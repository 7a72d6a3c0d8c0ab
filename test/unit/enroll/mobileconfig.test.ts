import forge from 'node-forge';
import { parse as parsePlist } from 'plist';
import { describe, expect, it } from 'vitest';
import type { Enrollment } from '../../../controller/config/types.js';
import { buildMobileconfig, buildMobileconfigPlist, contentUuid } from '../../../controller/enroll/mobileconfig.js';
import { createTestDeviceCa, generateForgeKeyPair } from '../../../controller/sim/test-ca.js';

const enrollment = (extra: Partial<Enrollment> = {}): Enrollment => ({
  name: 'corp',
  mdm: { serverUrl: 'https://mdm.example.com/mdm', topic: 'com.apple.mgmt.External.1', accessRights: 8191, signMessage: false, checkOutWhenRemoved: true, serverCapabilities: [] },
  scep: { url: 'https://mdm.example.com/scep', keySize: 2048, keyUsage: 5 },
  anchorCertificates: [],
  payload: {},
  unknownSerials: 'refuse',
  source: { file: 'corp.yaml', line: 1, column: 1 },
  ...extra,
});
type Dict = Record<string, unknown>;
const uuids = (xml: string): string[] => {
  const p = parsePlist(xml) as Dict;
  return [p['PayloadUUID'] as string, ...(p['PayloadContent'] as Dict[]).map((x) => x['PayloadUUID'] as string)];
};

describe('mobileconfig', () => {
  it('derives name-based version-5 UUIDs', () => {
    const u = contentUuid('x');
    expect(u).toMatch(/^[0-9A-F]{8}-[0-9A-F]{4}-5[0-9A-F]{3}-[89AB][0-9A-F]{3}-[0-9A-F]{12}$/);
    expect(contentUuid('x')).toBe(u);
    expect(contentUuid('y')).not.toBe(u);
  });

  it('gives the same UUIDs for the same content, new ones when the content changes, and none from secrets', () => {
    const a = buildMobileconfigPlist(enrollment(), { anchors: [], scepChallenge: 'one' });
    expect(buildMobileconfigPlist(enrollment(), { anchors: [], scepChallenge: 'one' })).toBe(a);
    // A rotated challenge keeps the UUIDs: secrets are not part of the UUID input.
    expect(uuids(buildMobileconfigPlist(enrollment(), { anchors: [], scepChallenge: 'two' }))).toEqual(uuids(a));
    const changed = uuids(buildMobileconfigPlist(enrollment({ mdm: { ...enrollment().mdm, serverUrl: 'https://other.example.com/mdm' } }), { anchors: [], scepChallenge: 'one' }));
    const before = uuids(a);
    expect(changed[0]).not.toBe(before[0]);
    expect(changed[2]).not.toBe(before[2]);
    // The SCEP payload did not change, so it keeps its UUID, and the MDM payload still points at it.
    expect(changed[1]).toBe(before[1]);
  });

  it('points com.apple.mdm at the identity payload and writes the declared keys', () => {
    const p = parsePlist(buildMobileconfigPlist(enrollment({ mdm: { ...enrollment().mdm, checkInUrl: 'https://mdm.example.com/checkin', serverCapabilities: ['com.apple.mdm.bootstraptoken'] } }), { anchors: [], scepChallenge: 'c' })) as Dict;
    const [scep, mdm] = p['PayloadContent'] as Dict[];
    expect(scep?.['PayloadType']).toBe('com.apple.security.scep');
    expect(scep?.['PayloadContent']).toEqual({ URL: 'https://mdm.example.com/scep', Keysize: 2048, KeyType: 'RSA', KeyUsage: 5, Challenge: 'c' });
    expect(mdm).toMatchObject({ PayloadType: 'com.apple.mdm', IdentityCertificateUUID: scep?.['PayloadUUID'], CheckInURL: 'https://mdm.example.com/checkin', ServerCapabilities: ['com.apple.mdm.bootstraptoken'], CheckOutWhenRemoved: true });
  });

  it('signs with the configured identity: a CMS SignedData carrying the plist and the certificate', () => {
    const ca = createTestDeviceCa({ keyBits: 1024 });
    const keys = generateForgeKeyPair(1024);
    const cert = forge.pki.createCertificate();
    cert.publicKey = keys.publicKey;
    cert.serialNumber = '02';
    cert.validity.notBefore = new Date();
    cert.validity.notAfter = new Date(Date.now() + 86_400_000);
    cert.setSubject([{ shortName: 'CN', value: 'signer' }]);
    cert.setIssuer([{ shortName: 'CN', value: 'signer' }]);
    cert.sign(keys.privateKey, forge.md.sha256.create());
    const material = { anchors: [ca.rootCertPem, ca.intermediateCertPem], scepChallenge: 'c', signing: { certificatePem: forge.pki.certificateToPem(cert), keyPem: forge.pki.privateKeyToPem(keys.privateKey) } };
    const { body, signed } = buildMobileconfig(enrollment(), material);
    expect(signed).toBe(true);
    const msg = forge.pkcs7.messageFromAsn1(forge.asn1.fromDer(body.toString('binary'))) as forge.pkcs7.PkcsSignedData;
    expect(msg.certificates.map((c) => c.subject.getField('CN').value)).toEqual(['signer']);
    expect(body.includes(Buffer.from(buildMobileconfigPlist(enrollment(), material)))).toBe(true);
    const plist = parsePlist(buildMobileconfigPlist(enrollment(), material)) as Dict;
    // The self-signed root is a root payload, the intermediate a pkcs1 certificate payload.
    expect((plist['PayloadContent'] as Dict[]).map((x) => x['PayloadType'])).toEqual(['com.apple.security.root', 'com.apple.security.pkcs1', 'com.apple.security.scep', 'com.apple.mdm']);
    expect(() => buildMobileconfig(enrollment(), { ...material, signing: { certificatePem: 'junk', keyPem: 'junk' } })).toThrow('the signing certificate or key is not a readable RSA PEM');
    const otherKey = forge.pki.privateKeyToPem(generateForgeKeyPair(1024).privateKey);
    expect(() => buildMobileconfig(enrollment(), { ...material, signing: { ...material.signing, keyPem: otherKey } })).toThrow('the signing key does not belong to the signing certificate');
  });
});
