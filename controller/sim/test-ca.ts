/**
 * A test device CA for `depctl sim enroll` and the enrollment tests: a root and an intermediate,
 * shaped like Apple's "Apple Root CA" -> "Apple iPhone Device CA" chain that signs real device
 * identity certificates (dep-protocol.md section 6). The controller trusts it only when told to
 * (`depctl run --enroll-ca DIR/root.pem`); it is never a substitute for Apple's roots in production.
 *
 * Keys come from Node's native RSA generator (forge's pure-JS generator takes seconds per 2048-bit
 * key); certificates are built and signed with node-forge.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { access, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import forge from 'node-forge';

/** A test root and intermediate CA, all in PEM. The two keys are secret (test-only, but still keys). */
export interface TestCa {
  rootCertPem: string;
  rootKeyPem: string;
  intermediateCertPem: string;
  intermediateKeyPem: string;
}

/** Options of {@link createTestDeviceCa}. */
export interface CreateTestCaOptions {
  /** Common name prefix of both certificates (default `depctl Test`). */
  commonName?: string;
  /** RSA modulus length of both CA keys (default 2048; at least 1024). */
  keyBits?: number;
}

/** Options of {@link writeTestCa}. */
export interface WriteTestCaOptions {
  /** Replace existing files (default false: an existing CA is never silently lost). */
  overwrite?: boolean;
}

/** File names inside a CA directory. `root.pem` is the file to give the controller as a trust root. */
export const TEST_CA_FILES = {
  rootCert: 'root.pem',
  rootKey: 'root-key.pem',
  intermediateCert: 'intermediate.pem',
  intermediateKey: 'intermediate-key.pem',
} as const;

/** Default RSA key size of the CA and device keys. */
export const DEFAULT_KEY_BITS = 2048;

const DAY_MS = 86_400_000;
/** Back-dating of notBefore, so a controller whose clock is a little behind still accepts the chain. */
const BACKDATE_MS = DAY_MS;
const CA_VALIDITY_DAYS = 3650;

/** Thrown when a CA directory is missing, incomplete or holds files that are not a test CA. */
export class TestCaError extends Error {
  override readonly name = 'TestCaError';
}

/** An RSA key pair from Node's native generator, converted to forge objects through PEM. */
export function generateForgeKeyPair(bits: number = DEFAULT_KEY_BITS): forge.pki.rsa.KeyPair {
  if (!Number.isInteger(bits) || bits < 1024 || bits > 8192) {
    throw new RangeError('keyBits must be a whole number from 1024 to 8192');
  }
  const { privateKey } = generateKeyPairSync('rsa', {
    modulusLength: bits,
    publicExponent: 0x10001,
    privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  const forgeKey = forge.pki.privateKeyFromPem(privateKey) as forge.pki.rsa.PrivateKey;
  return { privateKey: forgeKey, publicKey: forge.pki.setRsaPublicKey(forgeKey.n, forgeKey.e) };
}

/** A random positive, non-zero 128-bit certificate serial as hex (RFC 5280 4.1.2.2). */
export function randomSerialHex(): string {
  const bytes = randomBytes(16);
  bytes[0] = ((bytes[0] ?? 0) & 0x7f) | 0x01;
  return bytes.toString('hex');
}

/**
 * Creates a root CA and an intermediate CA issued by it. The root mirrors "Apple Root CA" (O, OU,
 * CN) and the intermediate "Apple iPhone Device CA", with names that say they are a test CA.
 */
export function createTestDeviceCa(opts: CreateTestCaOptions = {}): TestCa {
  const prefix = opts.commonName ?? 'depctl Test';
  if (prefix.length === 0 || prefix.length > 40) throw new RangeError('commonName must be 1 to 40 characters');
  const bits = opts.keyBits ?? DEFAULT_KEY_BITS;
  const now = Date.now();
  const rootKeys = generateForgeKeyPair(bits);
  const intKeys = generateForgeKeyPair(bits);

  const rootName = name(`${prefix} Root CA`, 'Certification Authority');
  const root = forge.pki.createCertificate();
  root.publicKey = rootKeys.publicKey;
  root.serialNumber = randomSerialHex();
  root.validity.notBefore = new Date(now - BACKDATE_MS);
  root.validity.notAfter = new Date(now + CA_VALIDITY_DAYS * DAY_MS);
  root.setSubject(rootName);
  root.setIssuer(rootName);
  root.setExtensions([
    { name: 'basicConstraints', critical: true, cA: true },
    { name: 'keyUsage', critical: true, keyCertSign: true, cRLSign: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  root.sign(rootKeys.privateKey, forge.md.sha256.create());

  const inter = forge.pki.createCertificate();
  inter.publicKey = intKeys.publicKey;
  inter.serialNumber = randomSerialHex();
  inter.validity.notBefore = new Date(now - BACKDATE_MS);
  inter.validity.notAfter = new Date(now + CA_VALIDITY_DAYS * DAY_MS);
  inter.setSubject(name(`${prefix} iPhone Device CA`, 'Device CA'));
  inter.setIssuer(rootName);
  inter.setExtensions([
    { name: 'basicConstraints', critical: true, cA: true, pathLenConstraint: 0 },
    { name: 'keyUsage', critical: true, keyCertSign: true, cRLSign: true },
    { name: 'subjectKeyIdentifier' },
    { name: 'authorityKeyIdentifier', keyIdentifier: root.generateSubjectKeyIdentifier().getBytes() },
  ]);
  inter.sign(rootKeys.privateKey, forge.md.sha256.create());

  return {
    rootCertPem: forge.pki.certificateToPem(root),
    rootKeyPem: forge.pki.privateKeyToPem(rootKeys.privateKey),
    intermediateCertPem: forge.pki.certificateToPem(inter),
    intermediateKeyPem: forge.pki.privateKeyToPem(intKeys.privateKey),
  };
}

/**
 * Writes the CA into `dir` (created with mode 0700 when missing): the two certificates (0644) and
 * the two keys (0600). Refuses to replace existing files unless `overwrite` is set.
 */
export async function writeTestCa(dir: string, ca: TestCa, opts: WriteTestCaOptions = {}): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const flag = opts.overwrite ? 'w' : 'wx';
  const files: Array<[string, string, number]> = [
    [TEST_CA_FILES.rootKey, ca.rootKeyPem, 0o600],
    [TEST_CA_FILES.intermediateKey, ca.intermediateKeyPem, 0o600],
    [TEST_CA_FILES.rootCert, ca.rootCertPem, 0o644],
    [TEST_CA_FILES.intermediateCert, ca.intermediateCertPem, 0o644],
  ];
  if (!opts.overwrite) {
    // Check every file first, so that a refusal leaves no half-written CA behind.
    for (const [file] of files) {
      if (await exists(join(dir, file))) throw new TestCaError(`${join(dir, file)} already exists; not replacing an existing test CA`);
    }
  }
  for (const [file, text, mode] of files) {
    try {
      await writeFile(join(dir, file), text, { mode, flag });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
        throw new TestCaError(`${join(dir, file)} already exists; not replacing an existing test CA`);
      }
      throw err;
    }
  }
}

/**
 * Reads a CA written by {@link writeTestCa} and checks that each key matches its certificate and
 * that the intermediate is issued by the root.
 *
 * @throws TestCaError when a file is missing or the files do not form a test CA.
 */
export async function loadTestCa(dir: string): Promise<TestCa> {
  const read = async (file: string): Promise<string> => {
    try {
      return await readFile(join(dir, file), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new TestCaError(`${dir} holds no test CA (${file} is missing); create one with: depctl sim ca create ${dir}`);
      }
      throw err;
    }
  };
  const ca: TestCa = {
    rootCertPem: await read(TEST_CA_FILES.rootCert),
    rootKeyPem: await read(TEST_CA_FILES.rootKey),
    intermediateCertPem: await read(TEST_CA_FILES.intermediateCert),
    intermediateKeyPem: await read(TEST_CA_FILES.intermediateKey),
  };
  checkTestCa(ca, dir);
  return ca;
}

/** Parsed forge objects of a CA, for signing. */
export interface ParsedTestCa {
  root: forge.pki.Certificate;
  intermediate: forge.pki.Certificate;
  intermediateKey: forge.pki.rsa.PrivateKey;
}

/** Parses the PEMs of a CA into forge objects. @throws TestCaError on unreadable PEM. */
export function parseTestCa(ca: TestCa, where = 'the test CA'): ParsedTestCa {
  try {
    return {
      root: forge.pki.certificateFromPem(ca.rootCertPem),
      intermediate: forge.pki.certificateFromPem(ca.intermediateCertPem),
      intermediateKey: forge.pki.privateKeyFromPem(ca.intermediateKeyPem) as forge.pki.rsa.PrivateKey,
    };
  } catch {
    // forge's messages can quote input; say only which CA could not be read.
    throw new TestCaError(`${where} has a certificate or key that is not a readable RSA PEM`);
  }
}

function checkTestCa(ca: TestCa, where: string): void {
  const { root, intermediate, intermediateKey } = parseTestCa(ca, where);
  let rootKey: forge.pki.rsa.PrivateKey;
  try {
    rootKey = forge.pki.privateKeyFromPem(ca.rootKeyPem) as forge.pki.rsa.PrivateKey;
  } catch {
    throw new TestCaError(`${where} has a root key that is not a readable RSA PEM`);
  }
  const rootPub = root.publicKey as forge.pki.rsa.PublicKey;
  const intPub = intermediate.publicKey as forge.pki.rsa.PublicKey;
  if (rootPub.n.compareTo(rootKey.n) !== 0) throw new TestCaError(`${where}: the root key does not match root.pem`);
  if (intPub.n.compareTo(intermediateKey.n) !== 0) {
    throw new TestCaError(`${where}: the intermediate key does not match intermediate.pem`);
  }
  let issued = false;
  try {
    issued = root.verify(intermediate);
  } catch {
    issued = false;
  }
  if (!issued) throw new TestCaError(`${where}: intermediate.pem is not issued by root.pem`);
}

async function exists(file: string): Promise<boolean> {
  try {
    await access(file);
    return true;
  } catch {
    return false;
  }
}

function name(commonName: string, unit: string): forge.pki.CertificateField[] {
  // forge's typings call it a Class, but the field is the string's universal tag: UTF8String.
  const valueTagClass = forge.asn1.Type.UTF8 as unknown as forge.asn1.Class;
  return [
    { shortName: 'C', value: 'US' },
    { shortName: 'O', value: 'depctl test (not Apple)', valueTagClass },
    { shortName: 'OU', value: unit, valueTagClass },
    { shortName: 'CN', value: commonName, valueTagClass },
  ];
}
