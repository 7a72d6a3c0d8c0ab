/**
 * The device side of ADE enrollment, for `depctl sim enroll` and tests: build the MachineInfo plist,
 * sign it as a device does (CMS SignedData by the device identity certificate, chain included), and
 * POST it to a profile `url` (dep-protocol.md section 6).
 */
import { createHash, randomBytes } from 'node:crypto';
import forge from 'node-forge';
import { build } from 'plist';
import { request } from 'undici';
import { DEFAULT_KEY_BITS, generateForgeKeyPair, parseTestCa, randomSerialHex, type TestCa } from './test-ca.js';

/**
 * The MachineInfo dictionary a device signs (Apple's `other/machineinfo.yaml`). Required keys are
 * the five strings; the rest are sent only when set.
 */
export interface MachineInfo {
  UDID: string;
  SERIAL: string;
  PRODUCT: string;
  VERSION: string;
  OS_VERSION: string;
  LANGUAGE?: string;
  SOFTWARE_UPDATE_DEVICE_ID?: string;
  MDM_CAN_REQUEST_SOFTWARE_UPDATE?: boolean;
  IMEI?: string;
  MEID?: string;
}

/** Options of {@link signedMachineInfo}. */
export interface SignedMachineInfoOptions {
  /** Change one byte of the signed content after signing, so the signature no longer verifies. */
  tamper?: boolean;
  /** RSA modulus length of the fresh device key (default 2048). */
  signerKeyBits?: number;
  /** The signing time and certificate dates (default: now). */
  now?: Date;
}

/** The content type a device sends with the signed MachineInfo (go-apple-mdm; Apple does not say). */
export const MACHINE_INFO_CONTENT_TYPE = 'application/pkcs7-signature';

const REQUIRED_KEYS = ['UDID', 'SERIAL', 'PRODUCT', 'VERSION', 'OS_VERSION'] as const;
const OPTIONAL_STRING_KEYS = ['LANGUAGE', 'SOFTWARE_UPDATE_DEVICE_ID', 'IMEI', 'MEID'] as const;

/** The XML plist of a MachineInfo, with only the keys that are set. */
export function machineInfoPlist(info: MachineInfo): string {
  const dict: Record<string, string | boolean> = {};
  for (const key of REQUIRED_KEYS) {
    const value = info[key];
    if (typeof value !== 'string' || value.length === 0) throw new TypeError(`MachineInfo ${key} must be a non-empty string`);
    dict[key] = value;
  }
  for (const key of OPTIONAL_STRING_KEYS) {
    const value = info[key];
    if (value !== undefined) dict[key] = value;
  }
  if (info.MDM_CAN_REQUEST_SOFTWARE_UPDATE !== undefined) {
    dict.MDM_CAN_REQUEST_SOFTWARE_UPDATE = info.MDM_CAN_REQUEST_SOFTWARE_UPDATE;
  }
  return build(dict);
}

/**
 * Signs a MachineInfo as a device would: a fresh device identity certificate (CN = the UDID) issued
 * by the CA's intermediate signs the XML plist; the DER CMS SignedData carries the content, the
 * device and intermediate certificates, and one SHA-256 RSA signer with the authenticated attributes
 * contentType, messageDigest and signingTime.
 */
export function signedMachineInfo(info: MachineInfo, ca: TestCa, opts: SignedMachineInfoOptions = {}): Buffer {
  const xml = machineInfoPlist(info);
  const now = opts.now ?? new Date();
  const { intermediate, intermediateKey } = parseTestCa(ca);
  const keys = generateForgeKeyPair(opts.signerKeyBits ?? DEFAULT_KEY_BITS);

  const device = forge.pki.createCertificate();
  device.publicKey = keys.publicKey;
  device.serialNumber = randomSerialHex();
  device.validity.notBefore = new Date(now.getTime() - 86_400_000);
  device.validity.notAfter = new Date(now.getTime() + 365 * 86_400_000);
  const valueTagClass = forge.asn1.Type.UTF8 as unknown as forge.asn1.Class;
  device.setSubject([
    { shortName: 'C', value: 'US' },
    { shortName: 'O', value: 'depctl test device', valueTagClass },
    { shortName: 'OU', value: info.PRODUCT, valueTagClass },
    { shortName: 'CN', value: info.UDID, valueTagClass },
  ]);
  device.setIssuer(intermediate.subject.attributes);
  device.setExtensions([
    { name: 'basicConstraints', critical: true, cA: false },
    { name: 'keyUsage', critical: true, digitalSignature: true, keyEncipherment: true },
    { name: 'subjectKeyIdentifier' },
    { name: 'authorityKeyIdentifier', keyIdentifier: intermediate.generateSubjectKeyIdentifier().getBytes() },
  ]);
  device.sign(intermediateKey, forge.md.sha256.create());

  const p7 = forge.pkcs7.createSignedData();
  p7.content = forge.util.createBuffer(xml, 'utf8');
  p7.addCertificate(device);
  p7.addCertificate(intermediate);
  p7.addSigner({
    key: keys.privateKey,
    certificate: device,
    digestAlgorithm: forge.pki.oids.sha256 as string,
    authenticatedAttributes: [
      { type: forge.pki.oids.contentType as string, value: forge.pki.oids.data as string },
      { type: forge.pki.oids.messageDigest as string },
      // forge takes a Date here; its typings say string.
      { type: forge.pki.oids.signingTime as string, value: now as unknown as string },
    ],
  });
  p7.sign();
  const der = Buffer.from(forge.asn1.toDer(p7.toAsn1()).getBytes(), 'binary');
  if (opts.tamper) tamperSerial(der, xml, info.SERIAL);
  return der;
}

/**
 * Changes the last character of the SERIAL value inside the signed content, in place. The plist
 * stays well-formed and names another serial, so only signature verification catches it.
 */
function tamperSerial(der: Buffer, xml: string, serial: string): void {
  const contentAt = der.indexOf(Buffer.from(xml, 'utf8'));
  const needle = `<key>SERIAL</key>`;
  const keyAt = xml.indexOf(needle);
  const valueAt = xml.indexOf('<string>', keyAt + needle.length) + '<string>'.length;
  if (contentAt < 0 || keyAt < 0) throw new Error('signed MachineInfo content not found for tampering');
  const at = contentAt + Buffer.byteLength(xml.slice(0, valueAt), 'utf8') + Buffer.byteLength(serial, 'utf8') - 1;
  der[at] = der[at] === 0x58 ? 0x59 : 0x58; // 'X' <-> 'Y'
}

/** The bytes a controller answered, as the device received them. */
export interface EnrollResponse {
  status: number;
  contentType: string | null;
  body: Buffer;
}

/** Options of {@link enrollDevice}. */
export interface EnrollDeviceOptions {
  /** Give up after this long (default 30 s). */
  timeoutMs?: number;
  /** Largest response body read (default 4 MiB); a larger one is an error. */
  maxBodyBytes?: number;
}

/** Thrown when the response body exceeds {@link EnrollDeviceOptions.maxBodyBytes}. */
export class ResponseTooLargeError extends Error {
  override readonly name = 'ResponseTooLargeError';
}

/**
 * POSTs a signed MachineInfo to a profile `url` with `Content-Type: application/pkcs7-signature`
 * and returns the response whatever its status. Network failures and timeouts throw (undici errors).
 */
export async function enrollDevice(url: string, body: Buffer, opts: EnrollDeviceOptions = {}): Promise<EnrollResponse> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const maxBodyBytes = opts.maxBodyBytes ?? 4 * 1024 * 1024;
  const res = await request(url, {
    method: 'POST',
    headers: { 'content-type': MACHINE_INFO_CONTENT_TYPE, 'user-agent': 'depctl-sim-device' },
    body,
    signal: AbortSignal.timeout(timeoutMs),
  });
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res.body) {
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
    size += buf.length;
    if (size > maxBodyBytes) {
      res.body.destroy();
      throw new ResponseTooLargeError(`the response body is larger than ${maxBodyBytes} bytes`);
    }
    chunks.push(buf);
  }
  const header = res.headers['content-type'];
  const contentType = Array.isArray(header) ? (header[0] ?? null) : (header ?? null);
  return { status: res.statusCode, contentType, body: Buffer.concat(chunks) };
}

/**
 * A UDID in the format of current Apple devices (`00008120-` plus 16 hex digits), random unless a
 * seed is given (then derived from it, so the same serial keeps the same UDID).
 */
export function deviceUdid(seed?: string): string {
  const hex = seed === undefined ? randomBytes(8).toString('hex') : createHash('sha256').update(seed).digest('hex').slice(0, 16);
  return `00008120-${hex.toUpperCase()}`;
}
