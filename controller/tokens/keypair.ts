import { randomBytes } from 'node:crypto';
import forge from 'node-forge';

/** Options of {@link generateKeyPair}. */
export interface GenerateKeyPairOptions {
  /** Subject and issuer common name of the self-signed certificate (default `depctl`). */
  commonName?: string;
  /** Validity of the certificate in days from now (default {@link DEFAULT_VALIDITY_DAYS}). */
  validityDays?: number;
  /** The current time (default: the real clock); injected so tests get deterministic dates. */
  now?: Date;
}

/** A freshly generated key pair in PEM form. */
export interface GeneratedKeyPair {
  /** PKCS#1 `RSA PRIVATE KEY` PEM (the format nanodep and micromdm store). Secret. */
  privateKeyPem: string;
  /** Self-signed X.509 `CERTIFICATE` PEM to upload to Apple Business Manager. Public. */
  certificatePem: string;
}

/** Default common name of generated certificates. */
export const DEFAULT_COMMON_NAME = 'depctl';

/**
 * Default certificate validity. Apple documents no requirement; nanodep uses one day (the portal
 * only needs the certificate while it encrypts the token) and micromdm 365 days. We take a year so
 * the yearly token renewal in the portal can reuse the uploaded certificate.
 */
export const DEFAULT_VALIDITY_DAYS = 365;

/** How far notBefore is back-dated, as nanodep does, to tolerate clock skew at Apple. */
const BACKDATE_MS = 10 * 60 * 1000;

/**
 * Generates an RSA 2048 key pair and a self-signed certificate to upload to Apple Business/School
 * Manager ("Upload MDM server public key"). The certificate has subject CN only, a random positive
 * 128-bit serial, notBefore ten minutes in the past, and KeyUsage keyEncipherment plus
 * digitalSignature (dep-protocol.md section 1: the shapes nanodep and micromdm use).
 */
export function generateKeyPair(opts: GenerateKeyPairOptions = {}): GeneratedKeyPair {
  const commonName = opts.commonName ?? DEFAULT_COMMON_NAME;
  const validityDays = opts.validityDays ?? DEFAULT_VALIDITY_DAYS;
  if (commonName.length === 0 || commonName.length > 64) {
    // X.520 ub-common-name is 64 characters.
    throw new RangeError('commonName must be 1 to 64 characters');
  }
  if (!Number.isInteger(validityDays) || validityDays < 1) {
    throw new RangeError('validityDays must be a positive whole number');
  }
  const now = opts.now ?? new Date();
  // Without a PRNG or callback, forge delegates to Node's native crypto.generateKeyPairSync.
  const keys = forge.pki.rsa.generateKeyPair({ bits: 2048, e: 0x10001 });
  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = randomSerialHex();
  cert.validity.notBefore = new Date(now.getTime() - BACKDATE_MS);
  cert.validity.notAfter = new Date(now.getTime() + validityDays * 86_400_000);
  // forge's typings call it a Class, but the field is the string's universal tag: UTF8String.
  const valueTagClass = forge.asn1.Type.UTF8 as unknown as forge.asn1.Class;
  const name: forge.pki.CertificateField[] = [{ shortName: 'CN', value: commonName, valueTagClass }];
  cert.setSubject(name);
  cert.setIssuer(name);
  cert.setExtensions([
    { name: 'keyUsage', critical: true, keyEncipherment: true, digitalSignature: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(keys.privateKey, forge.md.sha256.create());
  return {
    privateKeyPem: forge.pki.privateKeyToPem(keys.privateKey),
    certificatePem: forge.pki.certificateToPem(cert),
  };
}

/** A random 128-bit serial, positive (high bit clear) and non-zero, as hex (RFC 5280 4.1.2.2). */
function randomSerialHex(): string {
  const bytes = randomBytes(16);
  bytes[0] = ((bytes[0] ?? 0) & 0x7f) | 0x01;
  return bytes.toString('hex');
}
