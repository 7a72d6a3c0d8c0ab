import { createHash, createPublicKey, verify as cryptoVerify, X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import forge from 'node-forge';
import { parse } from 'plist';
import { beforeAll, describe, expect, it } from 'vitest';
import { deviceUdid, enrollDevice, machineInfoPlist, signedMachineInfo, type MachineInfo } from '../../../controller/sim/enroll-device.js';
import { createTestDeviceCa, type TestCa } from '../../../controller/sim/test-ca.js';

const OID = {
  signedData: '1.2.840.113549.1.7.2',
  data: '1.2.840.113549.1.7.1',
  sha256: '2.16.840.1.101.3.4.2.1',
  contentType: '1.2.840.113549.1.9.3',
  messageDigest: '1.2.840.113549.1.9.4',
  signingTime: '1.2.840.113549.1.9.5',
};

const info: MachineInfo = {
  UDID: '00008120-001A2B3C4D5E6F70',
  SERIAL: 'F2LXK0TESTQ1',
  PRODUCT: 'iPhone15,2',
  VERSION: '21E219',
  OS_VERSION: '17.4',
  LANGUAGE: 'en-US',
  MDM_CAN_REQUEST_SOFTWARE_UPDATE: true,
};

type Asn1 = forge.asn1.Asn1;
const kids = (node: Asn1): Asn1[] => node.value as Asn1[];
const at = (node: Asn1, i: number): Asn1 => {
  const k = kids(node)[i];
  if (!k) throw new Error(`no child ${i}`);
  return k;
};
const oid = (node: Asn1): string => forge.asn1.derToOid(node.value as string);
const bytes = (node: Asn1): Buffer => Buffer.from(node.value as string, 'binary');

/** The parts of a SignedData a verifier needs, read straight from the ASN.1 (not via forge's pkcs7 verifier). */
interface Parsed {
  outerType: string;
  digestAlgorithms: string[];
  content: Buffer;
  certs: X509Certificate[];
  signerDigest: string;
  signedAttrsDer: Buffer; // [0] IMPLICIT, as found in the message
  attrs: Map<string, Asn1>;
  signature: Buffer;
}

function parseSignedData(der: Buffer): Parsed {
  const root = forge.asn1.fromDer(der.toString('binary'));
  const sd = at(at(root, 1), 0);
  const [, digestAlgs, encap, ...rest] = kids(sd) as [Asn1, Asn1, Asn1, ...Asn1[]];
  const certsNode = rest.find((n) => n.tagClass === forge.asn1.Class.CONTEXT_SPECIFIC && n.type === 0);
  const signerInfos = rest[rest.length - 1] as Asn1;
  expect(kids(signerInfos)).toHaveLength(1);
  const si = at(signerInfos, 0);
  const signedAttrs = kids(si).find((n) => n.tagClass === forge.asn1.Class.CONTEXT_SPECIFIC && n.type === 0) as Asn1;
  const attrs = new Map<string, Asn1>();
  for (const a of kids(signedAttrs)) attrs.set(oid(at(a, 0)), at(at(a, 1), 0));
  const signedAttrsDer = Buffer.from(forge.asn1.toDer(signedAttrs).getBytes(), 'binary');
  return {
    outerType: oid(at(root, 0)),
    digestAlgorithms: kids(digestAlgs).map((alg) => oid(at(alg, 0))),
    content: bytes(at(at(encap, 1), 0)),
    certs: kids(certsNode as Asn1).map((c) => new X509Certificate(Buffer.from(forge.asn1.toDer(c).getBytes(), 'binary'))),
    signerDigest: oid(at(at(si, 2), 0)),
    signedAttrsDer,
    attrs,
    signature: bytes(kids(si)[kids(si).length - 1] as Asn1),
  };
}

/** Checks the signer's RSA signature over the DER SET OF attributes with node:crypto. */
function signatureValid(p: Parsed, signer: X509Certificate): boolean {
  // RFC 5652 5.4: the signature covers the attributes re-tagged as a SET (0x31), not [0] (0xA0).
  const set = Buffer.from(p.signedAttrsDer);
  set[0] = 0x31;
  return cryptoVerify('sha256', set, createPublicKey(signer.publicKey.export({ type: 'spki', format: 'pem' })), p.signature);
}

let ca: TestCa;
beforeAll(() => {
  ca = createTestDeviceCa();
});

describe('machineInfoPlist', () => {
  it('writes the keys that are set, as Apple types them', () => {
    const dict = parse(machineInfoPlist({ ...info, IMEI: '35 000000 000000 0', MDM_CAN_REQUEST_SOFTWARE_UPDATE: false })) as Record<string, unknown>;
    expect(dict).toEqual({ ...info, IMEI: '35 000000 000000 0', MDM_CAN_REQUEST_SOFTWARE_UPDATE: false });
    const bare = parse(machineInfoPlist({ UDID: 'u', SERIAL: 's', PRODUCT: 'p', VERSION: 'v', OS_VERSION: '1' })) as Record<string, unknown>;
    expect(Object.keys(bare).sort()).toEqual(['OS_VERSION', 'PRODUCT', 'SERIAL', 'UDID', 'VERSION']);
    expect(() => machineInfoPlist({ ...info, SERIAL: '' })).toThrow(/SERIAL/);
  });
});

describe('signedMachineInfo', () => {
  it('is a SignedData whose content is the MachineInfo plist, signed over SHA-256 authenticated attributes', () => {
    const before = Date.now();
    const der = signedMachineInfo(info, ca);
    const p = parseSignedData(der);
    expect(p.outerType).toBe(OID.signedData);
    expect(p.digestAlgorithms).toEqual([OID.sha256]);
    expect(p.signerDigest).toBe(OID.sha256);
    expect(parse(p.content.toString('utf8'))).toEqual(info);

    // The attribute bytes we verify are the bytes in the message (forge re-encoding changed nothing).
    expect(der.includes(p.signedAttrsDer)).toBe(true);
    expect(oid(p.attrs.get(OID.contentType) as Asn1)).toBe(OID.data);
    expect(bytes(p.attrs.get(OID.messageDigest) as Asn1)).toEqual(createHash('sha256').update(p.content).digest());
    const signingTime = forge.asn1.utcTimeToDate(p.attrs.get(OID.signingTime)?.value as string).getTime();
    expect(signingTime).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000);
    expect(signingTime).toBeLessThanOrEqual(Date.now());

    // Chain: root -> intermediate -> device; the device certificate is the one that signed.
    expect(p.certs).toHaveLength(2);
    const [device, inter] = p.certs as [X509Certificate, X509Certificate];
    const root = new X509Certificate(ca.rootCertPem);
    expect(inter.fingerprint256).toBe(new X509Certificate(ca.intermediateCertPem).fingerprint256);
    expect(inter.verify(root.publicKey)).toBe(true);
    expect(device.verify(inter.publicKey)).toBe(true);
    expect(device.checkIssued(inter)).toBe(true);
    expect(device.ca).toBe(false);
    expect(device.subject).toContain(`CN=${info.UDID}`);
    expect(signatureValid(p, device)).toBe(true);
    expect(signatureValid(p, inter)).toBe(false);
  });

  it('uses a fresh device key for each message', () => {
    const a = parseSignedData(signedMachineInfo(info, ca, { signerKeyBits: 1024 }));
    const b = parseSignedData(signedMachineInfo(info, ca, { signerKeyBits: 1024 }));
    expect(a.certs[0]?.fingerprint256).not.toBe(b.certs[0]?.fingerprint256);
    expect(a.certs[0]?.publicKey.asymmetricKeyDetails?.modulusLength).toBe(1024);
  });

  it('with tamper, changes the serial after signing so the digest no longer matches', () => {
    const p = parseSignedData(signedMachineInfo(info, ca, { tamper: true }));
    const tampered = parse(p.content.toString('utf8')) as Record<string, unknown>;
    expect(tampered.SERIAL).not.toBe(info.SERIAL);
    expect(tampered.SERIAL).toBe(`${info.SERIAL.slice(0, -1)}X`);
    expect({ ...tampered, SERIAL: info.SERIAL }).toEqual(info);
    expect(bytes(p.attrs.get(OID.messageDigest) as Asn1)).not.toEqual(createHash('sha256').update(p.content).digest());
  });

  it('refuses a CA whose intermediate key is not a key', () => {
    expect(() => signedMachineInfo(info, { ...ca, intermediateKeyPem: 'nope' })).toThrow(/not a readable RSA PEM/);
  });
});

describe('enrollDevice', () => {
  it('POSTs the body as application/pkcs7-signature and returns status, content type and body', async () => {
    const received: Array<{ method?: string; url?: string; type?: string; body: Buffer }> = [];
    const server = createServer((req: IncomingMessage, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        received.push({ method: req.method, url: req.url, type: req.headers['content-type'], body: Buffer.concat(chunks) });
        res.writeHead(403, { 'content-type': 'application/json' });
        res.end('{"code":"com.apple.softwareupdate.required","details":{"OSVersion":"17.5"}}');
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      const body = signedMachineInfo(info, ca);
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/enroll/phones`;
      const res = await enrollDevice(url, body);
      expect(res.status).toBe(403);
      expect(res.contentType).toBe('application/json');
      expect(JSON.parse(res.body.toString('utf8'))).toMatchObject({ details: { OSVersion: '17.5' } });
      expect(received).toEqual([{ method: 'POST', url: '/enroll/phones', type: 'application/pkcs7-signature', body }]);
      await expect(enrollDevice(url, body, { maxBodyBytes: 10 })).rejects.toThrow(/larger than 10 bytes/);
    } finally {
      server.close();
    }
  });
});

describe('deviceUdid', () => {
  it('has the shape of a current UDID and is stable for a seed', () => {
    expect(deviceUdid()).toMatch(/^00008120-[0-9A-F]{16}$/);
    expect(deviceUdid('F2LXK0TESTQ1')).toBe(deviceUdid('F2LXK0TESTQ1'));
    expect(deviceUdid('A')).not.toBe(deviceUdid('B'));
  });
});
