import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDeviceCa, loadTestCa, TEST_CA_FILES, TestCaError, writeTestCa, type TestCa } from '../../../controller/sim/test-ca.js';

let ca: TestCa;
let dir: string;

beforeAll(async () => {
  ca = createTestDeviceCa();
  dir = await mkdtemp(join(tmpdir(), 'depctl-test-ca-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('createTestDeviceCa', () => {
  it('makes a self-signed root CA and an intermediate CA issued by it', () => {
    const root = new X509Certificate(ca.rootCertPem);
    const inter = new X509Certificate(ca.intermediateCertPem);
    expect(root.ca).toBe(true);
    expect(inter.ca).toBe(true);
    expect(root.verify(root.publicKey)).toBe(true);
    expect(inter.verify(root.publicKey)).toBe(true);
    expect(inter.verify(inter.publicKey)).toBe(false);
    expect(inter.checkIssued(root)).toBe(true);
    expect(root.subject).toContain('CN=depctl Test Root CA');
    expect(inter.subject).toContain('CN=depctl Test iPhone Device CA');
    expect(inter.issuer).toBe(root.subject);
    expect(root.publicKey.asymmetricKeyDetails?.modulusLength).toBe(2048);
    // Valid now, and for years: a lab CA should not expire under a long-lived quickstart directory.
    const now = Date.now();
    for (const cert of [root, inter]) {
      expect(Date.parse(cert.validFrom)).toBeLessThan(now);
      expect(Date.parse(cert.validTo)).toBeGreaterThan(now + 5 * 365 * 86_400_000);
    }
  });

  it('takes a name prefix and a key size, and refuses silly sizes', () => {
    const small = createTestDeviceCa({ commonName: 'Lab 7', keyBits: 1024 });
    expect(new X509Certificate(small.rootCertPem).subject).toContain('CN=Lab 7 Root CA');
    expect(new X509Certificate(small.intermediateCertPem).publicKey.asymmetricKeyDetails?.modulusLength).toBe(1024);
    expect(() => createTestDeviceCa({ keyBits: 512 })).toThrow(RangeError);
    expect(() => createTestDeviceCa({ commonName: '' })).toThrow(RangeError);
  });
});

describe('writeTestCa and loadTestCa', () => {
  it('round-trips the CA, with the keys readable by the owner only', async () => {
    const target = join(dir, 'lab');
    await writeTestCa(target, ca);
    expect(await loadTestCa(target)).toEqual(ca);
    expect(await readFile(join(target, 'root.pem'), 'utf8')).toBe(ca.rootCertPem);
    expect(await readFile(join(target, 'intermediate.pem'), 'utf8')).toBe(ca.intermediateCertPem);
    for (const key of [TEST_CA_FILES.rootKey, TEST_CA_FILES.intermediateKey]) {
      expect((await stat(join(target, key))).mode & 0o777).toBe(0o600);
    }
    expect((await stat(target)).mode & 0o777).toBe(0o700);
  });

  it('never replaces an existing CA unless asked to', async () => {
    const target = join(dir, 'twice');
    await writeTestCa(target, ca);
    const other = createTestDeviceCa({ keyBits: 1024 });
    await expect(writeTestCa(target, other)).rejects.toThrow(TestCaError);
    expect(await loadTestCa(target)).toEqual(ca);
    await writeTestCa(target, other, { overwrite: true });
    expect(await loadTestCa(target)).toEqual(other);
  });

  it('says how to create a CA when the directory has none', async () => {
    const missing = join(dir, 'nothing-here');
    const err = await loadTestCa(missing).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TestCaError);
    expect((err as Error).message).toContain(`depctl sim ca create ${missing}`);
  });

  it('refuses files that do not belong together, without quoting key material', async () => {
    const target = join(dir, 'mixed');
    await writeTestCa(target, ca);
    const other = createTestDeviceCa({ keyBits: 1024 });
    await writeFile(join(target, TEST_CA_FILES.intermediateKey), other.intermediateKeyPem);
    await expect(loadTestCa(target)).rejects.toThrow(/intermediate key does not match/);
    await writeFile(join(target, TEST_CA_FILES.intermediateKey), ca.intermediateKeyPem);
    await writeFile(join(target, TEST_CA_FILES.intermediateCert), other.intermediateCertPem);
    await writeFile(join(target, TEST_CA_FILES.intermediateKey), other.intermediateKeyPem);
    await expect(loadTestCa(target)).rejects.toThrow(/not issued by root.pem/);
    await writeFile(join(target, TEST_CA_FILES.rootKey), '-----BEGIN RSA PRIVATE KEY-----\nnot a key\n-----END RSA PRIVATE KEY-----\n');
    const err = (await loadTestCa(target).catch((e: unknown) => e)) as Error;
    expect(err).toBeInstanceOf(TestCaError);
    expect(err.message).not.toContain('not a key');
  });
});
