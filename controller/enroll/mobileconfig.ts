/**
 * The MDM enrollment profile depctl answers a device with (dep-protocol.md section 6): a Configuration
 * profile holding the anchor certificates, the identity payload (SCEP or ACME) and `com.apple.mdm`, whose
 * IdentityCertificateUUID points at the identity payload. PayloadUUIDs are derived from the content (a
 * name-based UUID, version 5 layout, over the payload's canonical form), so the same Enrollment always
 * yields the same UUIDs and the device sees an unchanged profile as the same profile. Secret values (SCEP
 * challenge, ACME client identifier) are left out of the UUID input. When a signing identity is given, the
 * plist is wrapped in a CMS SignedData (content attached) with node-forge.
 */
import { createHash } from 'node:crypto';
import forge from 'node-forge';
import { build as buildPlist } from 'plist';
import type { Enrollment } from '../config/types.js';

/** The content type Apple's enrollment flow expects for the profile. */
export const MOBILECONFIG_CONTENT_TYPE = 'application/x-apple-aspen-config';

/** Secrets and certificates read for one Enrollment (resolved by the endpoint, never logged). */
export interface EnrollmentMaterial {
  /** The SCEP challenge, when the Enrollment names one. */
  scepChallenge?: string;
  /** The ACME client identifier (required for ACME). */
  acmeClientIdentifier?: string;
  /** Anchor certificates, PEM text per file (a file may hold several). */
  anchors: string[];
  /** The signing certificate chain (leaf first) and key, PEM. */
  signing?: { certificatePem: string; keyPem: string };
}

/** A plist value as `plist.build` takes it. */
type PlistValue = string | number | boolean | Buffer | Date | PlistValue[] | { [key: string]: PlistValue };
type PlistDict = { [key: string]: PlistValue };

const NAMESPACE = 'depctl-enrollment-profile/v1';

/** A name-based UUID (RFC 9562 version 5 layout: SHA-1, version and variant bits set) of `name`. */
export function contentUuid(name: string): string {
  const h = createHash('sha1').update(NAMESPACE).update('\0').update(name).digest();
  h[6] = ((h[6] ?? 0) & 0x0f) | 0x50;
  h[8] = ((h[8] ?? 0) & 0x3f) | 0x80;
  const hex = h.subarray(0, 16).toString('hex').toUpperCase();
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

/** Canonical JSON: keys sorted, Buffers as base64, so equal content gives equal text. */
function canonical(v: PlistValue | undefined): string {
  if (v === undefined) return 'null';
  if (Buffer.isBuffer(v)) return JSON.stringify({ data: v.toString('base64') });
  if (v instanceof Date) return JSON.stringify({ date: v.toISOString() });
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (typeof v === 'object') {
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical(v[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

/** Each payload's form without secrets (with its UUID), which is what the enclosing profile's UUID hashes. */
const redactedForms = new WeakMap<PlistDict, PlistDict>();

/** Adds PayloadUUID derived from the payload without its secrets (nested payloads by their redacted forms). */
function withUuid(payload: PlistDict, secretKeys: readonly string[] = [], nested?: string): PlistDict {
  const forHash: PlistDict = { ...payload };
  const inner = nested ? { ...(forHash[nested] as PlistDict) } : forHash;
  for (const k of secretKeys) delete inner[k];
  if (nested) forHash[nested] = inner;
  if (Array.isArray(forHash['PayloadContent'])) {
    forHash['PayloadContent'] = forHash['PayloadContent'].map((p) => (typeof p === 'object' && !Array.isArray(p) && !Buffer.isBuffer(p) && !(p instanceof Date) ? (redactedForms.get(p as PlistDict) ?? p) : p));
  }
  const uuid = contentUuid(canonical(forHash));
  const out = { ...payload, PayloadUUID: uuid };
  redactedForms.set(out, { ...forHash, PayloadUUID: uuid });
  return out;
}

function subjectOf(rdns: Record<string, string>[] | undefined): PlistValue[] | undefined {
  // Apple's Subject: an array of RDNs, each an array of [OID or short name, value] pairs.
  return rdns?.map((rdn) => Object.entries(rdn).map(([k, v]) => [k, v]));
}

function pemBlocks(pem: string): string[] {
  return pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
}

/** Builds the enrollment profile plist (XML) for an Enrollment. */
export function buildMobileconfigPlist(e: Enrollment, m: EnrollmentMaterial): string {
  const base = e.payload.identifier ?? `depctl.enrollment.${e.name}`;
  const content: PlistDict[] = [];

  let anchorIndex = 0;
  for (const pem of m.anchors) {
    for (const block of pemBlocks(pem)) {
      const cert = forge.pki.certificateFromPem(block);
      const der = Buffer.from(forge.asn1.toDer(forge.pki.certificateToAsn1(cert)).getBytes(), 'binary');
      const selfSigned = cert.isIssuer(cert);
      const cn = cert.subject.getField('CN') as { value?: string } | null;
      content.push(
        withUuid({
          PayloadType: selfSigned ? 'com.apple.security.root' : 'com.apple.security.pkcs1',
          PayloadVersion: 1,
          PayloadIdentifier: `${base}.anchor.${anchorIndex++}`,
          PayloadDisplayName: cn?.value ?? 'Anchor certificate',
          PayloadCertificateFileName: `anchor-${anchorIndex}.cer`,
          PayloadContent: der,
        }),
      );
    }
  }

  let identity: PlistDict;
  if (e.scep) {
    const scep: PlistDict = { URL: e.scep.url, Keysize: e.scep.keySize, KeyType: 'RSA', KeyUsage: e.scep.keyUsage };
    if (e.scep.name !== undefined) scep['Name'] = e.scep.name;
    const subject = subjectOf(e.scep.subject);
    if (subject) scep['Subject'] = subject;
    if (e.scep.caFingerprint !== undefined) scep['CAFingerprint'] = Buffer.from(e.scep.caFingerprint, 'hex');
    if (m.scepChallenge !== undefined) scep['Challenge'] = m.scepChallenge;
    identity = withUuid(
      { PayloadType: 'com.apple.security.scep', PayloadVersion: 1, PayloadIdentifier: `${base}.scep`, PayloadDisplayName: 'MDM identity (SCEP)', PayloadContent: scep },
      ['Challenge'],
      'PayloadContent',
    );
  } else if (e.acme) {
    identity = {
      PayloadType: 'com.apple.security.acme',
      PayloadVersion: 1,
      PayloadIdentifier: `${base}.acme`,
      PayloadDisplayName: 'MDM identity (ACME)',
      DirectoryURL: e.acme.directoryUrl,
      ClientIdentifier: m.acmeClientIdentifier ?? '',
      KeyType: e.acme.keyType,
      KeySize: e.acme.keySize,
      HardwareBound: e.acme.hardwareBound,
      Attest: e.acme.attest,
    };
    const subject = subjectOf(e.acme.subject);
    if (subject) identity['Subject'] = subject;
    identity = withUuid(identity, ['ClientIdentifier']);
  } else {
    throw new Error(`Enrollment "${e.name}" has neither scep nor acme`);
  }
  content.push(identity);

  const mdm: PlistDict = {
    PayloadType: 'com.apple.mdm',
    PayloadVersion: 1,
    PayloadIdentifier: `${base}.mdm`,
    PayloadDisplayName: 'Device management',
    ServerURL: e.mdm.serverUrl,
    CheckInURL: e.mdm.checkInUrl ?? e.mdm.serverUrl,
    Topic: e.mdm.topic,
    IdentityCertificateUUID: identity['PayloadUUID'] as string,
    AccessRights: e.mdm.accessRights,
    SignMessage: e.mdm.signMessage,
    CheckOutWhenRemoved: e.mdm.checkOutWhenRemoved,
  };
  if (e.mdm.serverCapabilities.length > 0) mdm['ServerCapabilities'] = [...e.mdm.serverCapabilities];
  content.push(withUuid(mdm));

  const top: PlistDict = {
    PayloadType: 'Configuration',
    PayloadVersion: 1,
    PayloadIdentifier: base,
    PayloadDisplayName: e.payload.displayName ?? e.name,
    PayloadContent: content,
  };
  if (e.payload.organization !== undefined) top['PayloadOrganization'] = e.payload.organization;
  if (e.payload.description !== undefined) top['PayloadDescription'] = e.payload.description;
  return buildPlist(withUuid(top));
}

/**
 * The profile as served: the plist bytes, or a DER CMS SignedData over them when a signing identity is
 * configured. @throws Error when the signing certificate or key cannot be read (the message names no secret).
 */
export function buildMobileconfig(e: Enrollment, m: EnrollmentMaterial): { body: Buffer; signed: boolean } {
  const xml = buildMobileconfigPlist(e, m);
  if (!m.signing) return { body: Buffer.from(xml, 'utf8'), signed: false };
  let certs: forge.pki.Certificate[];
  let key: forge.pki.PrivateKey;
  try {
    certs = pemBlocks(m.signing.certificatePem).map((b) => forge.pki.certificateFromPem(b));
    key = forge.pki.privateKeyFromPem(m.signing.keyPem);
  } catch {
    throw new Error(`Enrollment "${e.name}": the signing certificate or key is not a readable RSA PEM`);
  }
  const leaf = certs[0];
  if (!leaf) throw new Error(`Enrollment "${e.name}": the signing certificate file holds no certificate`);
  // A key that does not belong to the certificate would give a profile no device can verify.
  const pub = leaf.publicKey as forge.pki.rsa.PublicKey;
  if (!pub.n || pub.n.compareTo((key as forge.pki.rsa.PrivateKey).n) !== 0) {
    throw new Error(`Enrollment "${e.name}": the signing key does not belong to the signing certificate (the first certificate in its file)`);
  }
  const p7 = forge.pkcs7.createSignedData();
  p7.content = forge.util.createBuffer(xml, 'utf8');
  for (const c of certs) p7.addCertificate(c);
  p7.addSigner({
    key: key as forge.pki.rsa.PrivateKey,
    certificate: leaf,
    digestAlgorithm: forge.pki.oids['sha256'] as string,
    authenticatedAttributes: [
      { type: forge.pki.oids['contentType'] as string, value: forge.pki.oids['data'] as string },
      { type: forge.pki.oids['messageDigest'] as string },
      { type: forge.pki.oids['signingTime'] as string },
    ],
  });
  p7.sign({ detached: false });
  return { body: Buffer.from(forge.asn1.toDer(p7.toAsn1()).getBytes(), 'binary'), signed: true };
}
