/**
 * Reading the facts depctl watches from a credential file, and nothing else: the APNs push certificate's topic
 * and expiry (PEM or PKCS#12), and an Apps and Books token's location and expiry. Messages are fixed sentences
 * that never quote the file (a `.vpptoken` holds a bearer token; a PKCS#12 holds a private key).
 */
import { createHash } from 'node:crypto';
import forge from 'node-forge';

/** A credential file that cannot be read for what depctl needs. */
export class CredentialFileError extends Error {
  override readonly name = 'CredentialFileError';
  constructor(
    readonly code: 'not-a-certificate' | 'wrong-password' | 'password-required' | 'no-topic' | 'not-a-vpp-token' | 'unreadable',
    message: string,
  ) {
    super(message);
  }
}

/** OID of the X.520 userId (UID) attribute, where Apple puts the push topic. */
const UID_OID = '0.9.2342.19200300.100.1.1';
/** The topic prefix of MDM push certificates (Apple Push Certificates Portal). */
export const MDM_TOPIC_PREFIX = 'com.apple.mgmt.External.';

/** What depctl reads from an APNs push certificate. */
export interface ApnsCertificateInfo {
  /** The push topic: the subject's UID, `com.apple.mgmt.External.<uuid>`. */
  topic: string;
  notBefore: Date;
  notAfter: Date;
  /** Subject common name (Apple writes `APSP:<uuid>`), for display. */
  commonName: string | null;
  /** SHA-256 of the certificate's DER (hex): tells a renewed certificate from the one recorded. */
  fingerprint: string;
}

/**
 * Reads an APNs certificate: PEM (the first CERTIFICATE block; a private key next to it is ignored) or
 * PKCS#12 (with its password, or none). The topic must be an MDM topic (`com.apple.mgmt.External.…`).
 */
export function parseApnsCertificate(bytes: Buffer, password?: string): ApnsCertificateInfo {
  const text = bytes.toString('latin1');
  let cert: forge.pki.Certificate;
  if (text.includes('-----BEGIN CERTIFICATE-----')) {
    const block = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/.exec(text)?.[0] ?? '';
    try {
      cert = forge.pki.certificateFromPem(block);
    } catch {
      throw new CredentialFileError('not-a-certificate', 'the certificate file holds a CERTIFICATE block that cannot be read (not an RSA certificate, or damaged)');
    }
  } else if (/-----BEGIN /.test(text)) {
    throw new CredentialFileError('not-a-certificate', 'the certificate file is PEM without a CERTIFICATE block (a key alone is not enough: give the push certificate)');
  } else {
    cert = fromPkcs12(bytes, password);
  }
  const uid = cert.subject.attributes.find((a) => a.type === UID_OID)?.value;
  if (typeof uid !== 'string' || !uid.startsWith(MDM_TOPIC_PREFIX)) {
    throw new CredentialFileError('no-topic', `the certificate has no MDM push topic (subject UID ${MDM_TOPIC_PREFIX}<uuid>): it is not an MDM push certificate from the Apple Push Certificates Portal`);
  }
  const cn = cert.subject.getField('CN') as { value?: unknown } | null;
  const der = forge.asn1.toDer(forge.pki.certificateToAsn1(cert)).getBytes();
  return {
    topic: uid,
    notBefore: cert.validity.notBefore,
    notAfter: cert.validity.notAfter,
    commonName: typeof cn?.value === 'string' ? cn.value : null,
    fingerprint: createHash('sha256').update(Buffer.from(der, 'binary')).digest('hex'),
  };
}

function fromPkcs12(bytes: Buffer, password: string | undefined): forge.pki.Certificate {
  let asn1: forge.asn1.Asn1;
  try {
    asn1 = forge.asn1.fromDer(bytes.toString('binary'));
  } catch {
    throw new CredentialFileError('not-a-certificate', 'the certificate file is neither PEM nor PKCS#12 (.p12)');
  }
  let p12: forge.pkcs12.Pkcs12Pfx;
  try {
    p12 = forge.pkcs12.pkcs12FromAsn1(asn1, false, password ?? '');
  } catch (err) {
    const msg = (err as Error).message;
    if (/password|MAC/i.test(msg)) {
      throw password === undefined
        ? new CredentialFileError('password-required', 'the PKCS#12 file is protected by a password: name it in spec.password')
        : new CredentialFileError('wrong-password', 'the PKCS#12 password does not open the file (spec.password)');
    }
    throw new CredentialFileError('not-a-certificate', 'the certificate file is neither PEM nor a readable PKCS#12 (.p12)');
  }
  const certBag = forge.pki.oids['certBag'] as string;
  const bags: forge.pkcs12.Bag[] = p12.getBags({ bagType: certBag })[certBag] ?? [];
  // A .p12 exported from Keychain holds the push certificate and may hold its chain: take the one with the topic.
  const certs = bags.map((b) => b.cert).filter((c): c is forge.pki.Certificate => c !== undefined);
  const withTopic = certs.find((c) => c.subject.attributes.some((a) => a.type === UID_OID));
  const cert = withTopic ?? certs[0];
  if (!cert) throw new CredentialFileError('not-a-certificate', 'the PKCS#12 file holds no certificate');
  return cert;
}

/** What depctl reads from an Apps and Books (VPP) location token. */
export interface VppTokenInfo {
  /** The location (the token's `orgName`). */
  location: string;
  expiresAt: Date;
  /** SHA-256 prefix of the token value: tells a renewed token from the one in use, reveals nothing. */
  fingerprint: string;
}

/**
 * Reads a `.vpptoken`: base64 of a JSON object with `token`, `expDate` and `orgName` (Apple Business Manager,
 * Preferences → Payments and Billing). `expDate` looks like `2026-10-09T14:34:10-0700`.
 */
export function parseVppToken(bytes: Buffer): VppTokenInfo {
  const text = bytes.toString('utf8').trim();
  const bad = (): CredentialFileError => new CredentialFileError('not-a-vpp-token', 'the file is not an Apps and Books token (.vpptoken: base64 JSON with token, expDate and orgName)');
  let json: unknown;
  try {
    const decoded = /^\s*\{/.test(text) ? text : Buffer.from(text.replace(/\s+/g, ''), 'base64').toString('utf8');
    json = JSON.parse(decoded);
  } catch {
    throw bad();
  }
  if (typeof json !== 'object' || json === null) throw bad();
  const o = json as Record<string, unknown>;
  if (typeof o['token'] !== 'string' || o['token'].length === 0 || typeof o['expDate'] !== 'string' || typeof o['orgName'] !== 'string') throw bad();
  // `-0700` is not ISO 8601 extended; give it the colon Date.parse expects everywhere.
  const iso = o['expDate'].replace(/([+-]\d{2})(\d{2})$/, '$1:$2');
  const at = Date.parse(iso);
  if (Number.isNaN(at)) throw new CredentialFileError('not-a-vpp-token', 'the Apps and Books token has an expDate that is not a date');
  return { location: o['orgName'], expiresAt: new Date(at), fingerprint: createHash('sha256').update(o['token']).digest('hex').slice(0, 16) };
}
