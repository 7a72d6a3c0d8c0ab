/**
 * CMS (RFC 5652) EnvelopedData with RSA PKCS#1 v1.5 key transport: the payload of Apple's `.p7m`.
 * Built on node-forge's ASN.1, RSA and block ciphers. Decryption accepts BER (Apple and `openssl
 * smime -stream` write indefinite lengths and may split the ciphertext into several OCTET STRINGs);
 * encryption writes the exact BER layout of a real Apple token (dep-protocol.md section 1).
 *
 * The RSA step: Node 20.11+/21.6+ refuses `privateDecrypt` with RSA_PKCS1_PADDING (CVE-2023-46809,
 * the Marvin attack) unless the process runs with --security-revert, and PKCS#1 v1.5 is the only key
 * transport Apple uses. So node:crypto does the raw RSA operation (RSA_NO_PADDING: OpenSSL, with CRT and
 * blinding; 0.6 ms for a 2048-bit key against 40–65 ms in node-forge's JavaScript, which every CLI
 * command that talks to Apple paid before its first request) and the padding is checked here
 * (pkcs1v15Unpad). The attack needs an online decryption oracle; we decrypt a local file once, so the
 * timing channel does not apply.
 *
 * Why the envelope is walked here rather than by `forge.pkcs7`: each wrong input (another key, a
 * certificate instead of a token, a truncated file) must get its own typed error for the admin, and the
 * simulator must write the exact byte layout of a real Apple token; forge.pkcs7 offers neither.
 */
import { constants, createPrivateKey, privateDecrypt, randomBytes, type KeyObject } from 'node:crypto';
import forge from 'node-forge';
import { CorruptTokenError, InvalidCertificateError, InvalidKeyError, UnsupportedTokenError, WrongFileTypeError, WrongKeyError } from './errors.js';
import { RSA_ENCRYPTION_OID } from './private-key.js';

/** Content encryption algorithms we read and write (AES-128-CBC is what Apple uses). */
export type ContentCipher = 'aes128' | 'aes192' | 'aes256' | '3des';

interface CipherSpec {
  oid: string;
  keyBytes: number;
  ivBytes: number;
  label: string;
}

/** OIDs from RFC 3565 (AES) and RFC 3370 (DES-EDE3-CBC). */
export const CIPHERS: Readonly<Record<ContentCipher, CipherSpec>> = {
  aes128: { oid: '2.16.840.1.101.3.4.1.2', keyBytes: 16, ivBytes: 16, label: 'AES-128-CBC' },
  aes192: { oid: '2.16.840.1.101.3.4.1.22', keyBytes: 24, ivBytes: 16, label: 'AES-192-CBC' },
  aes256: { oid: '2.16.840.1.101.3.4.1.42', keyBytes: 32, ivBytes: 16, label: 'AES-256-CBC' },
  '3des': { oid: '1.2.840.113549.3.7', keyBytes: 24, ivBytes: 8, label: 'DES-EDE3-CBC' },
};

const OID_ENVELOPED_DATA = '1.2.840.113549.1.7.3';
const OID_SIGNED_DATA = '1.2.840.113549.1.7.2';
const OID_DATA = '1.2.840.113549.1.7.1';

const { asn1 } = forge;
type Asn1 = forge.asn1.Asn1;

/** The parts of an EnvelopedData we need, with names of values that are safe to show. */
export interface EnvelopedData {
  recipients: Array<{ issuer: string; serialHex: string; encryptedKey: string; keyAlgorithm: string }>;
  cipher: ContentCipher;
  iv: string;
  ciphertext: string;
}

/**
 * Parses a BER/DER ContentInfo holding EnvelopedData.
 *
 * @throws CorruptTokenError when the bytes are not well-formed ASN.1 or the structure is broken.
 * @throws WrongFileTypeError when the ASN.1 is something else (certificate, key, signed data).
 * @throws UnsupportedTokenError for key transport other than RSA PKCS#1 v1.5 or an unknown cipher.
 */
export function parseEnvelopedData(ber: Buffer): EnvelopedData {
  let root: Asn1;
  try {
    root = asn1.fromDer(ber.toString('binary'), true);
  } catch {
    throw new CorruptTokenError('the PKCS#7 data is truncated or not valid ASN.1');
  }
  const contentType = oidAt(root, 0);
  if (contentType === OID_SIGNED_DATA) throw new WrongFileTypeError('token', 'pkcs7_signed');
  if (contentType !== OID_ENVELOPED_DATA) {
    if (contentType?.startsWith('1.2.840.113549.1.7.')) throw new WrongFileTypeError('token', 'pkcs7_other');
    throw new WrongFileTypeError('token', classifyAsn1(root));
  }
  try {
    // ContentInfo [0] EXPLICIT EnvelopedData ::= SEQUENCE { version, [0] originatorInfo OPTIONAL,
    //   SET OF RecipientInfo, EncryptedContentInfo, ... }
    const env = child(child(root, 1), 0);
    const parts = children(env);
    const set = parts.find((p) => p.tagClass === asn1.Class.UNIVERSAL && p.type === asn1.Type.SET);
    const eci = parts[parts.indexOf(set as Asn1) + 1];
    if (!set || !eci) throw new Error('structure');
    const recipients = children(set).map(readRecipient);
    const algorithm = child(eci, 1);
    const cipherOid = oidAt(algorithm, 0);
    const cipher = (Object.keys(CIPHERS) as ContentCipher[]).find((c) => CIPHERS[c].oid === cipherOid);
    if (!cipher) throw new UnsupportedTokenError(`content encryption algorithm (OID ${cipherOid ?? 'missing'})`);
    const iv = bytesOf(child(algorithm, 1));
    if (iv.length !== CIPHERS[cipher].ivBytes) throw new Error('iv');
    const encrypted = children(eci)[2];
    if (!encrypted) throw new Error('no encrypted content');
    return { recipients, cipher, iv, ciphertext: bytesOf(encrypted) };
  } catch (err) {
    if (err instanceof UnsupportedTokenError) throw err;
    throw new CorruptTokenError('the PKCS#7 enveloped data is malformed');
  }
}

/**
 * Decrypts EnvelopedData with an RSA private key: tries each recipient (Apple's tokens have one),
 * then the content cipher. Any failure after the structure parsed means the key is not the one
 * the token was encrypted to (PKCS#1 padding, content key length or CBC padding do not check out).
 *
 * @throws WrongKeyError naming the expected certificate by issuer and serial.
 * @throws InvalidKeyError when OpenSSL cannot use the key's parameters.
 */
export function decryptEnvelopedData(data: EnvelopedData, key: forge.pki.rsa.PrivateKey): string {
  const spec = CIPHERS[data.cipher];
  const modulusBytes = Math.ceil(key.n.bitLength() / 8);
  let native: KeyObject | undefined;
  for (const r of data.recipients) {
    if (r.keyAlgorithm !== RSA_ENCRYPTION_OID) continue;
    if (r.encryptedKey.length !== modulusBytes) continue;
    native ??= nativeKey(key);
    let cek: string | undefined;
    try {
      const block = privateDecrypt({ key: native, padding: constants.RSA_NO_PADDING }, Buffer.from(r.encryptedKey, 'binary'));
      cek = pkcs1v15Unpad(block, modulusBytes)?.toString('binary');
    } catch {
      continue;
    }
    if (cek === undefined || cek.length !== spec.keyBytes) continue;
    const decipher = forge.cipher.createDecipher(data.cipher === '3des' ? '3DES-CBC' : 'AES-CBC', cek);
    decipher.start({ iv: forge.util.createBuffer(data.iv) });
    decipher.update(forge.util.createBuffer(data.ciphertext));
    if (!decipher.finish()) continue;
    return decipher.output.getBytes();
  }
  if (!data.recipients.some((r) => r.keyAlgorithm === RSA_ENCRYPTION_OID)) {
    throw new UnsupportedTokenError('key transport algorithm (only rsaEncryption, PKCS#1 v1.5, is supported)');
  }
  const first = data.recipients[0];
  throw new WrongKeyError(first ? `${first.issuer}, serial ${first.serialHex}` : undefined);
}

/** Base64url of a forge BigInteger's unsigned big-endian bytes (a JWK member). */
function b64url(n: forge.jsbn.BigInteger): string {
  const hex = n.toString(16);
  return Buffer.from(hex.length % 2 === 1 ? `0${hex}` : hex, 'hex').toString('base64url');
}

/**
 * The key as node:crypto holds it (from its CRT parameters, so OpenSSL decrypts with CRT).
 *
 * @throws InvalidKeyError ('unreadable') when OpenSSL refuses the parameters: a damaged key is not "the wrong key".
 */
function nativeKey(key: forge.pki.rsa.PrivateKey): KeyObject {
  try {
    return createPrivateKey({
      format: 'jwk',
      key: { kty: 'RSA', n: b64url(key.n), e: b64url(key.e), d: b64url(key.d), p: b64url(key.p), q: b64url(key.q), dp: b64url(key.dP), dq: b64url(key.dQ), qi: b64url(key.qInv) },
    });
  } catch {
    throw new InvalidKeyError('unreadable');
  }
}

/**
 * The message of an RSAES-PKCS1-v1_5 encryption block (RFC 8017 section 7.2.2): `00 02 PS 00 M`, PS at
 * least 8 nonzero bytes, the block as long as the modulus. Undefined when the block is not one (the wrong key
 * gives random bytes).
 */
export function pkcs1v15Unpad(block: Buffer, modulusBytes: number): Buffer | undefined {
  if (block.length !== modulusBytes || block[0] !== 0x00 || block[1] !== 0x02) return undefined;
  const separator = block.indexOf(0x00, 2);
  if (separator < 10) return undefined;
  return block.subarray(separator + 1);
}

/**
 * Encrypts `plaintext` to the certificate's RSA key as EnvelopedData, in the BER shape of a real
 * Apple token: indefinite lengths on ContentInfo, [0], EnvelopedData, EncryptedContentInfo and the
 * [0] encryptedContent, definite lengths inside, the ciphertext as one OCTET STRING.
 */
export function encryptEnvelopedData(plaintext: string, certificatePem: string, cipher: ContentCipher): Buffer {
  const { issuer, serial, publicKey } = readCertificate(certificatePem);
  const spec = CIPHERS[cipher];
  const cek = randomBytes(spec.keyBytes).toString('binary');
  const iv = randomBytes(spec.ivBytes).toString('binary');
  const encipher = forge.cipher.createCipher(cipher === '3des' ? '3DES-CBC' : 'AES-CBC', cek);
  encipher.start({ iv: forge.util.createBuffer(iv) });
  encipher.update(forge.util.createBuffer(plaintext, 'raw'));
  encipher.finish();
  const ciphertext = encipher.output.getBytes();
  const encryptedKey = publicKey.encrypt(cek, 'RSAES-PKCS1-V1_5');

  const seq = (items: Asn1[]): Asn1 => asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, items);
  const oid = (o: string): Asn1 => asn1.create(asn1.Class.UNIVERSAL, asn1.Type.OID, false, asn1.oidToDer(o).getBytes());
  const octets = (b: string): Asn1 => asn1.create(asn1.Class.UNIVERSAL, asn1.Type.OCTETSTRING, false, b);
  const int0 = asn1.create(asn1.Class.UNIVERSAL, asn1.Type.INTEGER, false, '\x00');
  const ktri = seq([
    int0,
    seq([issuer, serial]),
    seq([oid(RSA_ENCRYPTION_OID), asn1.create(asn1.Class.UNIVERSAL, asn1.Type.NULL, false, '')]),
    octets(encryptedKey),
  ]);
  const recipientInfos = asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SET, true, [ktri]);

  const der = (n: Asn1): Buffer => Buffer.from(asn1.toDer(n).getBytes(), 'binary');
  const eci = indefinite(0x30, [der(oid(OID_DATA)), der(seq([oid(spec.oid), octets(iv)])), indefinite(0xa0, [der(octets(ciphertext))])]);
  const envelopedData = indefinite(0x30, [der(int0), der(recipientInfos), eci]);
  return indefinite(0x30, [der(oid(OID_ENVELOPED_DATA)), indefinite(0xa0, [envelopedData])]);
}

/** A constructed BER element of indefinite length: tag, 0x80, contents, end-of-contents. */
function indefinite(tag: number, contents: Buffer[]): Buffer {
  return Buffer.concat([Buffer.from([tag, 0x80]), ...contents, Buffer.from([0, 0])]);
}

function readCertificate(pem: string): { issuer: Asn1; serial: Asn1; publicKey: forge.pki.rsa.PublicKey } {
  let cert: forge.pki.Certificate;
  let tbs: Asn1[];
  try {
    const msg = forge.pem.decode(pem).find((m) => m.type === 'CERTIFICATE' || m.type === 'X509 CERTIFICATE');
    if (!msg) throw new InvalidCertificateError('no PEM CERTIFICATE block found');
    const root = asn1.fromDer(msg.body);
    tbs = children(child(root, 0));
    cert = forge.pki.certificateFromAsn1(root);
  } catch (err) {
    if (err instanceof InvalidCertificateError) throw err;
    throw new InvalidCertificateError('not a readable RSA X.509 certificate');
  }
  // TBSCertificate ::= SEQUENCE { [0] version OPTIONAL, serialNumber, signature, issuer, ... }.
  // The recipient is named by the issuer and serial exactly as encoded in the certificate.
  const offset = tbs[0]?.tagClass === asn1.Class.CONTEXT_SPECIFIC ? 1 : 0;
  const serial = tbs[offset];
  const issuer = tbs[offset + 2];
  if (!serial || !issuer) throw new InvalidCertificateError('malformed certificate');
  return { issuer, serial, publicKey: cert.publicKey as forge.pki.rsa.PublicKey };
}

function readRecipient(ri: Asn1): EnvelopedData['recipients'][number] {
  // KeyTransRecipientInfo ::= SEQUENCE { version, rid, keyEncryptionAlgorithm, encryptedKey }.
  // version 0 names the certificate by IssuerAndSerialNumber; version 2 by [0] subjectKeyIdentifier.
  const [, rid, alg, enc] = children(ri);
  if (!rid || !alg || !enc) throw new Error('recipient');
  let issuer = 'unknown';
  let serialHex = 'unknown';
  if (rid.tagClass === asn1.Class.UNIVERSAL) {
    const [name, serial] = children(rid);
    if (name) issuer = distinguishedName(name);
    if (serial) serialHex = forge.util.bytesToHex(bytesOf(serial));
  } else {
    serialHex = `subjectKeyIdentifier ${forge.util.bytesToHex(bytesOf(rid))}`;
  }
  return { issuer, serialHex, keyAlgorithm: oidAt(alg, 0) ?? '', encryptedKey: bytesOf(enc) };
}

const DN_LABELS: Readonly<Record<string, string>> = {
  '2.5.4.3': 'CN',
  '2.5.4.6': 'C',
  '2.5.4.10': 'O',
  '2.5.4.11': 'OU',
};

/** Renders a Name as `CN=depctl, O=...` for messages (certificate names are public). */
function distinguishedName(name: Asn1): string {
  const parts: string[] = [];
  for (const rdn of children(name)) {
    for (const atv of children(rdn)) {
      const [type, value] = children(atv);
      if (!type || typeof type.value !== 'string' || !value || typeof value.value !== 'string') continue;
      const oid = asn1.derToOid(type.value);
      let text: string;
      try {
        text = forge.util.decodeUtf8(value.value);
      } catch {
        text = '?';
      }
      parts.push(`${DN_LABELS[oid] ?? oid}=${text}`);
    }
  }
  return parts.length > 0 ? parts.join(', ') : 'an empty name';
}

/** Names a non-CMS ASN.1 structure for a "wrong file type" message. */
function classifyAsn1(root: Asn1): 'certificate' | 'private_key' | 'public_key' | 'binary' {
  try {
    forge.pki.certificateFromAsn1(root);
    return 'certificate';
  } catch {
    // Not a certificate; fall through.
  }
  const first = children(root)[0];
  // Certificate with a non-RSA key (forge refuses those) still has TBSCertificate as a SEQUENCE.
  if (first && first.type === asn1.Type.SEQUENCE && children(root).length === 3 && children(first).length >= 6) return 'certificate';
  if (first && first.type === asn1.Type.INTEGER && children(root).length >= 3) return 'private_key';
  if (first && first.type === asn1.Type.SEQUENCE && children(root)[1]?.type === asn1.Type.BITSTRING) return 'public_key';
  return 'binary';
}

function children(node: Asn1 | undefined): Asn1[] {
  return node && Array.isArray(node.value) ? node.value : [];
}

function child(node: Asn1 | undefined, i: number): Asn1 {
  const c = children(node)[i];
  if (!c) throw new Error('missing element');
  return c;
}

function oidAt(node: Asn1 | undefined, i: number): string | undefined {
  const c = children(node)[i];
  if (!c || c.type !== asn1.Type.OID || typeof c.value !== 'string') return undefined;
  return asn1.derToOid(c.value);
}

/** The bytes of a primitive OCTET STRING/INTEGER, or the concatenation of a constructed one's chunks. */
function bytesOf(node: Asn1): string {
  if (typeof node.value === 'string') return node.value;
  return node.value.map(bytesOf).join('');
}
