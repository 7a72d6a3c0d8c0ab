/**
 * The device's request body at the profile `url`: a DER CMS SignedData (RFC 5652) over an XML plist, the
 * MachineInfo (dep-protocol.md section 6). This module parses it strictly, verifies the signer's RSA
 * signature over the content itself (node-forge parses PKCS#7 but does not verify it), follows the signer's
 * certificate up to a trust anchor (Apple's, or one the operator added), and reads the plist keys Apple
 * documents. Nothing here throws anything but MachineInfoError for bad input.
 */
import { createHash, createPublicKey, verify as verifySignature } from 'node:crypto';
import forge from 'node-forge';
import { DOMParser } from '@xmldom/xmldom';
import { parse as parsePlist } from 'plist';

const { asn1 } = forge;
type Asn1 = forge.asn1.Asn1;

/** What was wrong with a body: `malformed` is a 400, the others a 403. */
export type MachineInfoProblem = 'malformed' | 'bad-signature' | 'untrusted';

/** A body that is not a verifiable MachineInfo; `message` is safe to log and to answer with. */
export class MachineInfoError extends Error {
  override readonly name = 'MachineInfoError';
  constructor(
    readonly problem: MachineInfoProblem,
    message: string,
  ) {
    super(message);
  }
}

/** The MachineInfo keys depctl reads (Apple's `other/machineinfo.yaml`). */
export interface MachineInfo {
  UDID: string;
  SERIAL: string;
  PRODUCT: string;
  /** The OS build, e.g. `21E236`. */
  VERSION: string;
  /** The OS version, e.g. `17.4` (iOS 17 and macOS 14 on); absent from older devices. */
  OS_VERSION?: string;
  LANGUAGE?: string;
  IMEI?: string;
  MEID?: string;
  SOFTWARE_UPDATE_DEVICE_ID?: string;
  MDM_CAN_REQUEST_SOFTWARE_UPDATE?: boolean;
}

/** A verified MachineInfo and who signed it. */
export interface VerifiedMachineInfo {
  info: MachineInfo;
  /** Subject common name of the device certificate (not secret; the device's identity). */
  signer: string;
  /** Subject common name of the anchor the chain ended at. */
  anchor: string;
}

const DIGESTS: Readonly<Record<string, string>> = {
  [forge.pki.oids['sha1'] as string]: 'sha1',
  [forge.pki.oids['sha256'] as string]: 'sha256',
  [forge.pki.oids['sha384'] as string]: 'sha384',
  [forge.pki.oids['sha512'] as string]: 'sha512',
};
const OID_MESSAGE_DIGEST = forge.pki.oids['messageDigest'] as string;
const OID_CONTENT_TYPE = forge.pki.oids['contentType'] as string;
const OID_DATA = forge.pki.oids['data'] as string;
/** A device chain is device -> Apple iPhone Device CA -> ... -> Apple Root CA: a few links at most. */
const MAX_CHAIN = 6;

/** Trust anchors, parsed once. */
export interface TrustAnchors {
  certs: readonly forge.pki.Certificate[];
}

/**
 * Parses PEM certificates into anchors. @throws Error naming `what` when one is not a readable RSA certificate
 * (a configuration error, raised at start-up).
 */
export function parseAnchors(pems: readonly { pem: string; what: string }[]): TrustAnchors {
  const certs: forge.pki.Certificate[] = [];
  for (const { pem, what } of pems) {
    const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
    if (blocks.length === 0) throw new Error(`${what} holds no PEM certificate`);
    for (const block of blocks) {
      try {
        certs.push(forge.pki.certificateFromPem(block));
      } catch {
        throw new Error(`${what} holds a certificate that is not a readable RSA certificate`);
      }
    }
  }
  return { certs };
}

/**
 * Verifies a MachineInfo body and returns its keys. @throws MachineInfoError: `malformed` for anything that
 * is not a CMS SignedData with one signer over an XML plist with the required keys; `bad-signature` when the
 * signature does not verify; `untrusted` when the signer does not chain to an anchor.
 */
export function verifyMachineInfo(body: Buffer, anchors: TrustAnchors): VerifiedMachineInfo {
  const { content, signerInfo, certificates } = parseSignedData(body);
  const signer = findSignerCert(signerInfo, certificates);
  verifySignerInfo(signerInfo, signer, content);
  const anchor = chainToAnchor(signer, certificates, anchors);
  return { info: parseMachineInfoPlist(content), signer: commonName(signer), anchor: commonName(anchor) };
}

interface ParsedSignedData {
  content: Buffer;
  signerInfo: Asn1;
  certificates: forge.pki.Certificate[];
}

function parseSignedData(body: Buffer): ParsedSignedData {
  if (body.length === 0) throw new MachineInfoError('malformed', 'empty body; expected a CMS-signed MachineInfo');
  let msg: forge.pkcs7.PkcsSignedData & { rawCapture?: { signerInfos?: Asn1[]; content?: Asn1 } };
  try {
    // forge's typings know only the boolean `strict`; the options object (strict, parseAllBytes) is its API.
    const fromDer = asn1.fromDer as unknown as (bytes: forge.util.ByteStringBuffer, opts: { strict: boolean; parseAllBytes: boolean }) => Asn1;
    const der = fromDer(forge.util.createBuffer(body.toString('binary')), { strict: true, parseAllBytes: true });
    const parsed = forge.pkcs7.messageFromAsn1(der) as { type?: string };
    if (parsed.type !== forge.pki.oids['signedData']) throw new Error('not signed data');
    msg = parsed as typeof msg;
  } catch {
    // forge's messages can quote input bytes; say only what was expected.
    throw new MachineInfoError('malformed', 'body is not a DER CMS SignedData');
  }
  const content = explicitContent(msg.rawCapture?.content);
  if (content === undefined || content.length === 0) throw new MachineInfoError('malformed', 'CMS SignedData has no content (a detached signature is not a MachineInfo)');
  const signers = msg.rawCapture?.signerInfos ?? [];
  if (signers.length !== 1 || signers[0] === undefined) throw new MachineInfoError('malformed', `CMS SignedData has ${signers.length} signers; expected exactly one`);
  return { content: Buffer.from(content, 'binary'), signerInfo: signers[0], certificates: msg.certificates };
}

/**
 * The bytes of the encapsulated content: `[0] EXPLICIT OCTET STRING`, primitive or (BER) constructed of
 * OCTET STRING chunks. forge captures this node but does not unwrap it for SignedData.
 */
function explicitContent(node: Asn1 | undefined): string | undefined {
  const inner = node && Array.isArray(node.value) ? (node.value as Asn1[])[0] : undefined;
  if (!inner || inner.type !== asn1.Type.OCTETSTRING) return undefined;
  if (typeof inner.value === 'string') return inner.value;
  let out = '';
  for (const chunk of inner.value) {
    if (chunk.type !== asn1.Type.OCTETSTRING || typeof chunk.value !== 'string') return undefined;
    out += chunk.value;
  }
  return out;
}

/** The fields of a SignerInfo (RFC 5652 5.3) that verification needs. */
interface SignerFields {
  issuer: Asn1;
  serial: string;
  digestOid: string;
  signedAttrs: Asn1 | undefined;
  signature: Buffer;
}

function signerFields(si: Asn1): SignerFields {
  const parts = Array.isArray(si.value) ? (si.value as Asn1[]) : [];
  const [, sid, digestAlg, ...rest] = parts;
  const sidParts = sid && Array.isArray(sid.value) ? (sid.value as Asn1[]) : [];
  const issuer = sidParts[0];
  const serial = sidParts[1];
  const digestOid = digestAlg && Array.isArray(digestAlg.value) ? (digestAlg.value as Asn1[])[0] : undefined;
  if (!issuer || !serial || typeof serial.value !== 'string' || !digestOid || typeof digestOid.value !== 'string') {
    throw new MachineInfoError('malformed', 'the SignerInfo is not identified by issuer and serial number');
  }
  let i = 0;
  let signedAttrs: Asn1 | undefined;
  if (rest[0]?.tagClass === asn1.Class.CONTEXT_SPECIFIC && rest[0].type === 0) {
    signedAttrs = rest[0];
    i = 1;
  }
  const signature = rest[i + 1];
  if (!signature || signature.type !== asn1.Type.OCTETSTRING || typeof signature.value !== 'string') {
    throw new MachineInfoError('malformed', 'the SignerInfo has no signature');
  }
  return { issuer, serial: forge.util.bytesToHex(serial.value), digestOid: asn1.derToOid(digestOid.value), signedAttrs, signature: Buffer.from(signature.value, 'binary') };
}

function findSignerCert(si: Asn1, certs: readonly forge.pki.Certificate[]): forge.pki.Certificate {
  const f = signerFields(si);
  const issuerDer = asn1.toDer(f.issuer).getBytes();
  const serial = f.serial.replace(/^(00)+(?=.)/, '').toLowerCase();
  const cert = certs.find((c) => c.serialNumber.replace(/^(00)+(?=.)/, '').toLowerCase() === serial && asn1.toDer(forge.pki.distinguishedNameToAsn1(c.issuer)).getBytes() === issuerDer);
  if (!cert) throw new MachineInfoError('malformed', 'the signer certificate is not embedded in the CMS SignedData');
  return cert;
}

function verifySignerInfo(si: Asn1, cert: forge.pki.Certificate, content: Buffer): void {
  const f = signerFields(si);
  const digest = DIGESTS[f.digestOid];
  if (!digest) throw new MachineInfoError('bad-signature', `unsupported digest algorithm ${f.digestOid}`);
  let signed: Buffer = content;
  if (f.signedAttrs) {
    // RFC 5652 5.4: with signed attributes, the signature covers their DER as a SET OF (tag 0x31, not [0]),
    // and the messageDigest attribute must equal the digest of the content.
    const attrs = Array.isArray(f.signedAttrs.value) ? (f.signedAttrs.value as Asn1[]) : [];
    const md = attributeValue(attrs, OID_MESSAGE_DIGEST);
    const type = attributeValue(attrs, OID_CONTENT_TYPE);
    if (md === undefined || type === undefined) throw new MachineInfoError('bad-signature', 'signed attributes lack messageDigest or contentType');
    if (asn1.derToOid(type) !== OID_DATA) throw new MachineInfoError('bad-signature', 'signed attributes name a content type other than data');
    if (!createHash(digest).update(content).digest().equals(Buffer.from(md, 'binary'))) {
      throw new MachineInfoError('bad-signature', 'the messageDigest attribute does not match the content');
    }
    const der = Buffer.from(asn1.toDer(f.signedAttrs).getBytes(), 'binary');
    der[0] = 0x31;
    signed = der;
  }
  let ok = false;
  try {
    const key = createPublicKey(forge.pki.publicKeyToPem(cert.publicKey));
    ok = verifySignature(digest, signed, key, f.signature);
  } catch {
    ok = false;
  }
  if (!ok) throw new MachineInfoError('bad-signature', 'the signature does not verify with the signer certificate');
}

function attributeValue(attrs: readonly Asn1[], oid: string): string | undefined {
  for (const a of attrs) {
    const [type, values] = Array.isArray(a.value) ? (a.value as Asn1[]) : [];
    if (!type || typeof type.value !== 'string' || asn1.derToOid(type.value) !== oid) continue;
    const first = values && Array.isArray(values.value) ? (values.value as Asn1[])[0] : undefined;
    return typeof first?.value === 'string' ? first.value : undefined;
  }
  return undefined;
}

function issues(issuer: forge.pki.Certificate, child: forge.pki.Certificate): boolean {
  try {
    return issuer.verify(child);
  } catch {
    return false;
  }
}

function isCa(cert: forge.pki.Certificate): boolean {
  const bc = cert.getExtension('basicConstraints') as { cA?: boolean } | null;
  return bc?.cA === true;
}

/**
 * Follows issuers from the signer through the embedded certificates until an anchor issued the current one
 * (or is the current one). Validity dates are not checked: Apple's device CA expired in 2014 and still signs
 * device certificates (apple-roots.ts).
 */
function chainToAnchor(signer: forge.pki.Certificate, embedded: readonly forge.pki.Certificate[], anchors: TrustAnchors): forge.pki.Certificate {
  let current = signer;
  for (let depth = 0; depth < MAX_CHAIN; depth++) {
    const same = anchors.certs.find((a) => a.publicKey && sameCert(a, current));
    if (same && depth > 0) return same;
    const anchor = anchors.certs.find((a) => issues(a, current));
    if (anchor) return anchor;
    const next = embedded.find((c) => c !== current && isCa(c) && issues(c, current));
    if (!next) break;
    current = next;
  }
  throw new MachineInfoError('untrusted', `the signer certificate "${commonName(signer)}" does not chain to a trusted device CA`);
}

function sameCert(a: forge.pki.Certificate, b: forge.pki.Certificate): boolean {
  return asn1.toDer(forge.pki.certificateToAsn1(a)).getBytes() === asn1.toDer(forge.pki.certificateToAsn1(b)).getBytes();
}

function commonName(cert: forge.pki.Certificate): string {
  const cn = cert.subject.getField('CN') as { value?: unknown } | null;
  return typeof cn?.value === 'string' ? cn.value.slice(0, 200) : '(no common name)';
}

const REQUIRED_STRINGS = ['UDID', 'SERIAL', 'PRODUCT', 'VERSION'] as const;
const OPTIONAL_STRINGS = ['OS_VERSION', 'LANGUAGE', 'IMEI', 'MEID', 'SOFTWARE_UPDATE_DEVICE_ID'] as const;
/** Longest string value accepted for a key (serials are 10 to 12 characters, UDIDs 25 to 40). */
const MAX_VALUE = 256;

/** Parses the MachineInfo XML plist strictly. @throws MachineInfoError (`malformed`). */
export function parseMachineInfoPlist(content: Buffer): MachineInfo {
  const text = content.toString('utf8');
  if (!/^\s*(<\?xml[^>]*>\s*)?(<!DOCTYPE[^>]*>\s*)?<plist[\s>]/.test(text)) throw new MachineInfoError('malformed', 'the signed content is not an XML plist');
  // plist parses with xmldom's default error handler, which writes every complaint about a malformed body to
  // the console: a client could fill the controller's log. Check well-formedness quietly first.
  let wellFormed = true;
  try {
    new DOMParser({
      onError: (level) => {
        if (level !== 'warning') wellFormed = false;
      },
    }).parseFromString(text, 'text/xml');
  } catch {
    wellFormed = false; // xmldom throws a ParseError on a fatal error after reporting it
  }
  if (!wellFormed) throw new MachineInfoError('malformed', 'the signed content is not a well-formed XML plist');
  let value: unknown;
  try {
    value = parsePlist(text);
  } catch {
    throw new MachineInfoError('malformed', 'the signed content is not a well-formed XML plist');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof Uint8Array || value instanceof Date) {
    throw new MachineInfoError('malformed', 'the MachineInfo plist is not a dictionary');
  }
  const dict = value as Record<string, unknown>;
  const str = (key: string, required: boolean): string | undefined => {
    const v = dict[key];
    if (v === undefined && !required) return undefined;
    if (typeof v !== 'string' || v.length === 0 || v.length > MAX_VALUE) {
      throw new MachineInfoError('malformed', `MachineInfo ${key} ${v === undefined ? 'is missing' : `must be a string of 1 to ${MAX_VALUE} characters`}`);
    }
    return v;
  };
  const info: MachineInfo = { UDID: '', SERIAL: '', PRODUCT: '', VERSION: '' };
  for (const key of REQUIRED_STRINGS) info[key] = str(key, true) as string;
  for (const key of OPTIONAL_STRINGS) {
    const v = str(key, false);
    if (v !== undefined) info[key] = v;
  }
  const canUpdate = dict['MDM_CAN_REQUEST_SOFTWARE_UPDATE'];
  if (canUpdate !== undefined) {
    if (typeof canUpdate !== 'boolean') throw new MachineInfoError('malformed', 'MachineInfo MDM_CAN_REQUEST_SOFTWARE_UPDATE must be a boolean');
    info.MDM_CAN_REQUEST_SOFTWARE_UPDATE = canUpdate;
  }
  if (!/^[A-Za-z0-9]+$/.test(info.SERIAL)) throw new MachineInfoError('malformed', 'MachineInfo SERIAL must be letters and digits');
  if (info.OS_VERSION !== undefined && !/^\d+(\.\d+){0,3}$/.test(info.OS_VERSION)) throw new MachineInfoError('malformed', 'MachineInfo OS_VERSION is not a version number');
  return info;
}
