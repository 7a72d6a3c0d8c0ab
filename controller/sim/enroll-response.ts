/**
 * What a device makes of the answer to its MachineInfo POST (dep-protocol.md section 6): an
 * enrollment profile (200 `application/x-apple-aspen-config`, plain or CMS-signed), Apple's
 * `com.apple.softwareupdate.required` error (403, JSON or plist), or a refusal. Pure: bytes in, a
 * summary out. Secrets in the profile (a SCEP challenge, an ACME client identifier, PKCS#12
 * passwords) are never copied into the summary.
 */
import { createHash, createPublicKey, verify as cryptoVerify, X509Certificate } from 'node:crypto';
import forge from 'node-forge';
import { parse, type PlistValue } from 'plist';
import type { EnrollResponse } from './enroll-device.js';

/** The content type of an enrollment profile. */
export const ASPEN_CONFIG_TYPE = 'application/x-apple-aspen-config';
/** Apple's error code for "update the OS first". */
export const SOFTWARE_UPDATE_REQUIRED = 'com.apple.softwareupdate.required';

/** One payload of the profile, with the fields an admin checks. */
export interface PayloadSummary {
  PayloadType: string;
  PayloadIdentifier: string;
  PayloadUUID: string;
  PayloadDisplayName?: string;
  /** The fields worth seeing for this type (com.apple.mdm: ServerURL, CheckInURL, Topic…; SCEP: URL…). */
  details: Record<string, string | number | boolean>;
}

/** Who signed a CMS-signed profile, and whether the signature holds. */
export interface ProfileSignature {
  /** Subject of the signer certificate (RFC 2253 order as node:crypto prints it). */
  signer: string;
  issuer: string;
  /** The signature and content digest verify against the signer certificate (its chain is not checked). */
  valid: boolean;
}

/** The device's reading of the response. */
export type EnrollOutcome =
  | {
      kind: 'enrolled';
      status: number;
      contentType: string | null;
      profile: { PayloadIdentifier: string; PayloadUUID: string; PayloadDisplayName?: string; PayloadOrganization?: string };
      payloads: PayloadSummary[];
      /** Null when the profile is an unsigned plist. */
      signature: ProfileSignature | null;
    }
  | { kind: 'os-update-required'; status: number; contentType: string | null; OSVersion: string; BuildVersion?: string; message?: string }
  | { kind: 'refused'; status: number; contentType: string | null; body: string }
  | { kind: 'error'; status: number; contentType: string | null; reason: string; body: string };

/** How much of an error body a summary keeps. */
const BODY_PREVIEW = 2048;

/** Reads a response as the device would. Never throws: anything unexpected is an `error` outcome. */
export function readEnrollResponse(res: EnrollResponse): EnrollOutcome {
  const { status, contentType } = res;
  const mime = (contentType ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  if (status === 200) {
    if (mime !== ASPEN_CONFIG_TYPE) {
      return { kind: 'error', status, contentType, reason: `a 200 answer must be ${ASPEN_CONFIG_TYPE}; the device ignores this one`, body: preview(res.body) };
    }
    try {
      return { kind: 'enrolled', status, contentType, ...readProfile(res.body) };
    } catch (err) {
      return { kind: 'error', status, contentType, reason: `the enrollment profile is unreadable: ${(err as Error).message}`, body: preview(res.body) };
    }
  }
  if (status === 403) {
    const update = readSoftwareUpdateRequired(res.body, mime);
    if (update) return { kind: 'os-update-required', status, contentType, ...update };
    return { kind: 'refused', status, contentType, body: preview(res.body) };
  }
  return { kind: 'error', status, contentType, reason: STATUS_REASONS[status] ?? 'not an answer a device can use', body: preview(res.body) };
}

/** What other statuses usually mean at an enrollment URL (depctl's endpoint answers these). */
const STATUS_REASONS: Readonly<Record<number, string>> = {
  400: 'the server could not read the MachineInfo',
  404: 'no enrollment is served at this URL',
  413: 'the MachineInfo was too large for the server',
  503: 'the server is not serving enrollments yet (before its first pass, or a follower replica)',
};

function preview(body: Buffer): string {
  const text = body.subarray(0, BODY_PREVIEW).toString('utf8');
  return body.length > BODY_PREVIEW ? `${text}… (${body.length} bytes)` : text;
}

/** The 403 body: `{code, details:{OSVersion, BuildVersion?}, message?}` as JSON or a plist. */
function readSoftwareUpdateRequired(body: Buffer, mime: string): { OSVersion: string; BuildVersion?: string; message?: string } | undefined {
  let value: unknown;
  try {
    value = mime.includes('json') || body.subarray(0, 1).toString() === '{' ? JSON.parse(body.toString('utf8')) : parsePlist(body);
  } catch {
    return undefined;
  }
  if (!isDict(value) || value.code !== SOFTWARE_UPDATE_REQUIRED || !isDict(value.details)) return undefined;
  const { OSVersion, BuildVersion } = value.details;
  if (typeof OSVersion !== 'string') return undefined;
  return {
    OSVersion,
    ...(typeof BuildVersion === 'string' ? { BuildVersion } : {}),
    ...(typeof value.message === 'string' ? { message: value.message } : typeof value.description === 'string' ? { message: value.description } : {}),
  };
}

/**
 * An XML plist, or an Error. plist's XML parser (xmldom) reports malformed input on console.error
 * before throwing; the report is muted here so that only the command's own message reaches stderr.
 */
export function parsePlist(bytes: Buffer): PlistValue {
  const text = bytes.toString('utf8');
  if (!text.trimStart().startsWith('<')) throw new Error('not an XML plist');
  const original = console.error;
  console.error = () => {};
  try {
    return parse(text);
  } catch {
    throw new Error('not a well-formed XML plist');
  } finally {
    console.error = original;
  }
}

function isDict(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !Buffer.isBuffer(v) && !(v instanceof Date);
}

function readProfile(body: Buffer): Omit<Extract<EnrollOutcome, { kind: 'enrolled' }>, 'kind' | 'status' | 'contentType'> {
  let xml: Buffer = body;
  let signature: ProfileSignature | null = null;
  if (body[0] === 0x30) {
    const signed = readSignedData(body);
    xml = signed.content;
    signature = signed.signature;
  }
  const top = parsePlist(xml);
  if (!isDict(top)) throw new Error('the plist is not a dictionary');
  if (top.PayloadType !== 'Configuration') throw new Error(`PayloadType is ${JSON.stringify(top.PayloadType)}, not "Configuration"`);
  const content = top.PayloadContent;
  if (!Array.isArray(content)) throw new Error('PayloadContent is not an array');
  const payloads = content.map((p, i) => summarise(p, i));
  return {
    profile: {
      PayloadIdentifier: str(top.PayloadIdentifier),
      PayloadUUID: str(top.PayloadUUID),
      ...(typeof top.PayloadDisplayName === 'string' ? { PayloadDisplayName: top.PayloadDisplayName } : {}),
      ...(typeof top.PayloadOrganization === 'string' ? { PayloadOrganization: top.PayloadOrganization } : {}),
    },
    payloads,
    signature,
  };
}

function str(v: unknown): string {
  return typeof v === 'string' ? v : '(missing)';
}

/** Fields shown per payload type; anything secret (Challenge, ClientIdentifier, Password) is left out. */
const SHOWN: Readonly<Record<string, readonly string[]>> = {
  'com.apple.mdm': ['ServerURL', 'CheckInURL', 'Topic', 'SignMessage', 'AccessRights', 'CheckOutWhenRemoved', 'IdentityCertificateUUID', 'ServerCapabilities'],
  'com.apple.security.scep': ['URL', 'Name', 'Keysize', 'KeyType', 'KeyUsage', 'Subject'],
  'com.apple.security.acme': ['DirectoryURL', 'KeyType', 'KeySize', 'HardwareBound', 'Attest', 'Subject'],
};

function summarise(p: unknown, i: number): PayloadSummary {
  if (!isDict(p)) throw new Error(`PayloadContent[${i}] is not a dictionary`);
  const details: Record<string, string | number | boolean> = {};
  const type = str(p.PayloadType);
  // SCEP keeps its settings in a nested PayloadContent dictionary.
  const source = type === 'com.apple.security.scep' && isDict(p.PayloadContent) ? p.PayloadContent : p;
  for (const key of SHOWN[type] ?? []) {
    const v = source[key];
    if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') details[key] = v;
    else if (v !== undefined) details[key] = display(v);
  }
  if (type === 'com.apple.security.scep' && typeof source.Challenge === 'string') details.Challenge = '(set, not shown)';
  if (type === 'com.apple.security.acme' && typeof p.ClientIdentifier === 'string') details.ClientIdentifier = '(set, not shown)';
  return {
    PayloadType: type,
    PayloadIdentifier: str(p.PayloadIdentifier),
    PayloadUUID: str(p.PayloadUUID),
    ...(typeof p.PayloadDisplayName === 'string' ? { PayloadDisplayName: p.PayloadDisplayName } : {}),
    details,
  };
}

/** Arrays and nested values (SCEP Subject, ServerCapabilities) as compact JSON. */
function display(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) => (Buffer.isBuffer(x) ? `<${x.length} bytes>` : x));
}

const OID_SIGNED_DATA = '1.2.840.113549.1.7.2';
const OID_MESSAGE_DIGEST = '1.2.840.113549.1.9.4';
const DIGESTS: Readonly<Record<string, string>> = {
  '1.3.14.3.2.26': 'sha1',
  '2.16.840.1.101.3.4.2.1': 'sha256',
  '2.16.840.1.101.3.4.2.2': 'sha384',
  '2.16.840.1.101.3.4.2.3': 'sha512',
};

type Asn1 = forge.asn1.Asn1;
const kids = (n: Asn1): Asn1[] => (Array.isArray(n.value) ? n.value : []);
const isCtx = (n: Asn1, tag: number): boolean => n.tagClass === forge.asn1.Class.CONTEXT_SPECIFIC && n.type === tag;
const der = (n: Asn1): Buffer => Buffer.from(forge.asn1.toDer(n).getBytes(), 'binary');

/** An OCTET STRING's bytes, also when BER splits it into constructed pieces. */
function octets(n: Asn1): Buffer {
  return Array.isArray(n.value) ? Buffer.concat(n.value.map(octets)) : Buffer.from(n.value, 'binary');
}

/**
 * Opens a CMS SignedData profile: its content, and a check of the first signer's signature against
 * the certificate it names (issuer and serial) among the embedded ones.
 */
function readSignedData(body: Buffer): { content: Buffer; signature: ProfileSignature } {
  let root: Asn1;
  try {
    root = forge.asn1.fromDer(body.toString('binary'), false);
  } catch {
    throw new Error('the body starts like DER but is not valid ASN.1');
  }
  const [typeNode, wrapped] = kids(root);
  if (!typeNode || forge.asn1.derToOid(typeNode.value as string) !== OID_SIGNED_DATA || !wrapped) {
    throw new Error('the body is DER but not a CMS SignedData');
  }
  const sd = kids(wrapped)[0];
  const [, , encap, ...rest] = sd ? kids(sd) : [];
  const eContent = encap ? kids(encap)[1] : undefined;
  const contentNode = eContent ? kids(eContent)[0] : undefined;
  if (!contentNode) throw new Error('the SignedData carries no content (a detached signature)');
  const content = octets(contentNode);
  const certsNode = rest.find((n) => isCtx(n, 0));
  const certs = (certsNode ? kids(certsNode) : []).map((c) => new X509Certificate(der(c)));
  const signerInfo = kids(rest[rest.length - 1] as Asn1)[0];
  if (!signerInfo) throw new Error('the SignedData has no signer');
  const parts = kids(signerInfo);
  const sid = parts[1] as Asn1;
  const signerSerial = Buffer.from(kids(sid)[1]?.value as string, 'binary').toString('hex').replace(/^(00)+/, '').toUpperCase();
  const cert = certs.find((c) => c.serialNumber.replace(/^(00)+/, '').toUpperCase() === signerSerial);
  if (!cert) throw new Error('the signer certificate is not in the SignedData');
  const digestName = DIGESTS[forge.asn1.derToOid(kids(parts[2] as Asn1)[0]?.value as string)];
  const attrs = parts.find((n) => isCtx(n, 0));
  const sigValue = parts[parts.length - 1] as Asn1;
  let valid = false;
  if (digestName) {
    const key = createPublicKey(cert.publicKey.export({ type: 'spki', format: 'pem' }));
    const signature = octets(sigValue);
    if (attrs) {
      const md = kids(attrs).find((a) => forge.asn1.derToOid(kids(a)[0]?.value as string) === OID_MESSAGE_DIGEST);
      const mdValue = md ? kids(kids(md)[1] as Asn1)[0] : undefined;
      const digestOk = mdValue !== undefined && octets(mdValue).equals(createHash(digestName).update(content).digest());
      // RFC 5652 5.4: the signature covers the attributes encoded as a SET OF (tag 0x31).
      const set = der(attrs);
      set[0] = 0x31;
      valid = digestOk && cryptoVerify(digestName, set, key, signature);
    } else {
      valid = cryptoVerify(digestName, content, key, signature);
    }
  }
  return { content, signature: { signer: cert.subject.replace(/\n/g, ', '), issuer: cert.issuer.replace(/\n/g, ', '), valid } };
}
