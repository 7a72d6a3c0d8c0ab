import forge from 'node-forge';
import { InvalidKeyError, WrongFileTypeError, type DetectedFileKind } from './errors.js';

/** OID of rsaEncryption (PKCS#1), the only key type a DEP token can be encrypted to. */
export const RSA_ENCRYPTION_OID = '1.2.840.113549.1.1.1';

interface PemBlock {
  label: string;
  headers: string;
  body: string;
}

/** Splits PEM text into its blocks (label, RFC 1421 headers, base64 body). */
export function pemBlocks(text: string): PemBlock[] {
  const re = /-----BEGIN ([A-Z0-9 #]+)-----\r?\n([\s\S]*?)-----END \1-----/g;
  const blocks: PemBlock[] = [];
  for (const m of text.matchAll(re)) {
    const inner = m[2] ?? '';
    // Encrypted PKCS#1 keys carry "Proc-Type: 4,ENCRYPTED" headers before a blank line.
    const split = /^((?:[A-Za-z-]+:.*\r?\n)+)\r?\n/.exec(inner);
    blocks.push({
      label: m[1] ?? '',
      headers: split ? (split[1] ?? '') : '',
      body: split ? inner.slice(split[0].length) : inner,
    });
  }
  return blocks;
}

/** What a PEM label says the block is, for "wrong file type" messages. */
export function kindOfPemLabel(label: string): DetectedFileKind {
  if (label.includes('CERTIFICATE')) return 'certificate';
  if (label.includes('PRIVATE KEY')) return 'private_key';
  if (label.includes('PUBLIC KEY')) return 'public_key';
  if (label === 'PKCS7' || label === 'CMS') return 'encrypted_token';
  return 'text';
}

/**
 * Reads an RSA private key from PEM text: PKCS#1 `RSA PRIVATE KEY` (what nanodep and `keys
 * generate` write) or PKCS#8 `PRIVATE KEY` (what `openssl genpkey` and `openssl req -newkey`
 * write). A file holding a certificate and its key together is accepted; the key block is used.
 *
 * @throws WrongFileTypeError when the file holds no private key at all (for example a certificate).
 * @throws InvalidKeyError when the key is encrypted, not RSA, or malformed.
 */
export function parsePrivateKey(pem: string | Buffer): forge.pki.rsa.PrivateKey {
  const text = typeof pem === 'string' ? pem : pem.toString('latin1');
  const blocks = pemBlocks(text);
  const key = blocks.find((b) => b.label.endsWith('PRIVATE KEY'));
  if (!key) {
    const first = blocks[0];
    if (first) throw new WrongFileTypeError('key', kindOfPemLabel(first.label));
    throw new WrongFileTypeError('key', detectNonPem(text));
  }
  if (key.label === 'ENCRYPTED PRIVATE KEY' || /ENCRYPTED/.test(key.headers)) {
    throw new InvalidKeyError('encrypted');
  }
  if (key.label === 'RSA PRIVATE KEY') {
    return fromAsn1(derOf(key.body), 'pkcs1');
  }
  if (key.label === 'PRIVATE KEY') {
    return fromAsn1(derOf(key.body), 'pkcs8');
  }
  // EC PRIVATE KEY, DSA PRIVATE KEY, OPENSSH PRIVATE KEY...
  throw new InvalidKeyError(key.label === 'OPENSSH PRIVATE KEY' ? 'unreadable' : 'not_rsa');
}

function detectNonPem(text: string): DetectedFileKind {
  if (text.trim().length === 0) return 'empty';
  // eslint-disable-next-line no-control-regex
  return /[\x00-\x08\x0e-\x1f]/.test(text) ? 'binary' : 'text';
}

function derOf(base64: string): string {
  const clean = base64.replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(clean) || clean.length % 4 !== 0) {
    throw new InvalidKeyError('unreadable');
  }
  return Buffer.from(clean, 'base64').toString('binary');
}

function fromAsn1(der: string, shape: 'pkcs1' | 'pkcs8'): forge.pki.rsa.PrivateKey {
  let node: forge.asn1.Asn1;
  try {
    node = forge.asn1.fromDer(der);
  } catch {
    throw new InvalidKeyError('unreadable');
  }
  if (shape === 'pkcs8') {
    // PrivateKeyInfo ::= SEQUENCE { version, AlgorithmIdentifier, OCTET STRING privateKey, ... }
    const algorithm = childAt(node, 1);
    const oidNode = algorithm ? childAt(algorithm, 0) : undefined;
    if (!oidNode || oidNode.type !== forge.asn1.Type.OID || typeof oidNode.value !== 'string') {
      throw new InvalidKeyError('unreadable');
    }
    if (forge.asn1.derToOid(oidNode.value) !== RSA_ENCRYPTION_OID) throw new InvalidKeyError('not_rsa');
  }
  try {
    // forge accepts both RSAPrivateKey and PrivateKeyInfo here.
    const key = forge.pki.privateKeyFromAsn1(node) as forge.pki.rsa.PrivateKey;
    if (!key.n || !key.d) throw new Error('incomplete');
    return key;
  } catch {
    throw new InvalidKeyError('unreadable');
  }
}

function childAt(node: forge.asn1.Asn1, i: number): forge.asn1.Asn1 | undefined {
  return Array.isArray(node.value) ? node.value[i] : undefined;
}
