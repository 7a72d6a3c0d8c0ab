import { randomUUID, X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import forge from 'node-forge';
import { build, parse } from 'plist';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { generateForgeKeyPair } from '../../controller/sim/test-ca.js';
import { runDepctl } from '../helpers/cli.js';

/** What the loopback "controller" answers next, and everything it received. */
interface Canned {
  status: number;
  type?: string;
  body: Buffer | string;
}
let answer: Canned;
let received: Array<{ path: string; type: string | undefined; body: Buffer }>;
let server: Server;
let base: string;
let dir: string;

const CHALLENGE = 'scep-challenge-never-printed';
const profileXml = build({
  PayloadType: 'Configuration',
  PayloadVersion: 1,
  PayloadIdentifier: 'com.example.enroll.phones',
  PayloadUUID: randomUUID().toUpperCase(),
  PayloadDisplayName: 'Example MDM enrollment',
  PayloadOrganization: 'Example Inc',
  PayloadContent: [
    {
      PayloadType: 'com.apple.security.scep',
      PayloadVersion: 1,
      PayloadIdentifier: 'com.example.enroll.phones.scep',
      PayloadUUID: 'B5C8E7A0-0F38-4D8B-9A54-7A9B43E3B2C1',
      PayloadContent: { URL: 'https://scep.example.com/scep', Name: 'Example SCEP', Keysize: 2048, Challenge: CHALLENGE },
    },
    {
      PayloadType: 'com.apple.mdm',
      PayloadVersion: 1,
      PayloadIdentifier: 'com.example.enroll.phones.mdm',
      PayloadUUID: '1F0E3C7A-56B4-4E1D-8E2B-0D5D3A9C7F11',
      ServerURL: 'https://mdm.example.com/mdm',
      CheckInURL: 'https://mdm.example.com/checkin',
      Topic: 'com.apple.mgmt.External.0a1b2c3d-0000-4000-8000-000000000000',
      IdentityCertificateUUID: 'B5C8E7A0-0F38-4D8B-9A54-7A9B43E3B2C1',
      SignMessage: true,
      AccessRights: 8191,
    },
  ],
});

/** The profile CMS-signed by a made-up MDM signing identity (attached content, SHA-256). */
function signedProfile(tamper = false): Buffer {
  const keys = generateForgeKeyPair(2048);
  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = '0a1b2c';
  cert.validity.notBefore = new Date(Date.now() - 3_600_000);
  cert.validity.notAfter = new Date(Date.now() + 86_400_000);
  cert.setSubject([{ shortName: 'CN', value: 'mdm.example.com profile signing' }]);
  cert.setIssuer([{ shortName: 'CN', value: 'Example Signing CA' }]);
  cert.sign(keys.privateKey, forge.md.sha256.create());
  const p7 = forge.pkcs7.createSignedData();
  p7.content = forge.util.createBuffer(profileXml, 'utf8');
  p7.addCertificate(cert);
  p7.addSigner({
    key: keys.privateKey,
    certificate: cert,
    digestAlgorithm: forge.pki.oids.sha256 as string,
    authenticatedAttributes: [{ type: forge.pki.oids.contentType as string, value: forge.pki.oids.data as string }, { type: forge.pki.oids.messageDigest as string }],
  });
  p7.sign();
  const der = Buffer.from(forge.asn1.toDer(p7.toAsn1()).getBytes(), 'binary');
  if (tamper) {
    const at = der.indexOf('https://mdm.example.com/mdm') + 8;
    der[at] = 'M'.charCodeAt(0);
  }
  return der;
}

/** The MachineInfo plist and certificates the server received, read back with forge. */
function receivedMachineInfo(body: Buffer): { info: Record<string, unknown>; certs: forge.pki.Certificate[] } {
  const msg = forge.pkcs7.messageFromAsn1(forge.asn1.fromDer(body.toString('binary'))) as forge.pkcs7.Captured<forge.pkcs7.PkcsSignedData>;
  const content = msg.rawCapture.content.value[0].value as string;
  return { info: parse(Buffer.from(content, 'binary').toString('utf8')) as Record<string, unknown>, certs: msg.certificates };
}

const enroll = (...extra: string[]) => runDepctl(['sim', 'enroll', '--url', `${base}/enroll/phones`, '--serial', 'F2LXK0TESTQ1', ...extra], { cwd: dir });

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'depctl-sim-enroll-'));
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ path: req.url ?? '', type: req.headers['content-type'], body: Buffer.concat(chunks) });
      res.writeHead(answer.status, answer.type !== undefined ? { 'content-type': answer.type } : {});
      res.end(answer.body);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const created = await runDepctl(['sim', 'ca', 'create', 'lab-ca'], { cwd: dir });
  expect(created.code).toBe(0);
  expect(created.stdout).toContain(`depctl run --enroll-ca ${path.join(dir, 'lab-ca', 'root.pem')}`);
});
afterAll(async () => {
  server.close();
  await rm(dir, { recursive: true, force: true });
});
beforeEach(() => {
  received = [];
});

describe('depctl sim ca create', () => {
  it('wrote a CA with private keys, and refuses to overwrite it without --force', async () => {
    expect((await stat(path.join(dir, 'lab-ca', 'root-key.pem'))).mode & 0o777).toBe(0o600);
    const before = await readFile(path.join(dir, 'lab-ca', 'root.pem'), 'utf8');
    const again = await runDepctl(['sim', 'ca', 'create', 'lab-ca'], { cwd: dir });
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/already exists.*--force/);
    expect(await readFile(path.join(dir, 'lab-ca', 'root.pem'), 'utf8')).toBe(before);
  });
});

describe('depctl sim enroll', () => {
  it('posts a MachineInfo signed under the test CA and prints the enrollment profile (exit 0)', async () => {
    answer = { status: 200, type: 'application/x-apple-aspen-config', body: profileXml };
    const r = await enroll('--ca', 'lab-ca', '--can-update', '--language', 'de-CH');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('HTTP 200 application/x-apple-aspen-config: enrolled');
    expect(r.stdout).toContain('profile "Example MDM enrollment" com.example.enroll.phones');
    expect(r.stdout).toContain('signed: no');
    expect(r.stdout).toMatch(/com\.apple\.mdm {2}com\.example\.enroll\.phones\.mdm {2}1F0E3C7A-56B4-4E1D-8E2B-0D5D3A9C7F11\n\s+ServerURL: https:\/\/mdm\.example\.com\/mdm\n\s+CheckInURL: https:\/\/mdm\.example\.com\/checkin\n\s+Topic: com\.apple\.mgmt\.External\./);
    expect(r.stdout).toMatch(/com\.apple\.security\.scep {2}com\.example\.enroll\.phones\.scep {2}B5C8E7A0-[^\n]*\n\s+URL: https:\/\/scep\.example\.com\/scep/);
    expect(r.stdout).toContain('Challenge: (set, not shown)');
    expect(r.stdout).not.toContain(CHALLENGE);

    expect(received).toHaveLength(1);
    const got = received[0]!;
    expect(got.path).toBe('/enroll/phones');
    expect(got.type).toBe('application/pkcs7-signature');
    const { info, certs } = receivedMachineInfo(got.body);
    expect(info).toMatchObject({ SERIAL: 'F2LXK0TESTQ1', PRODUCT: 'iPhone15,2', OS_VERSION: '17.4', VERSION: '21E219', LANGUAGE: 'de-CH', MDM_CAN_REQUEST_SOFTWARE_UPDATE: true });
    expect(info.UDID).toMatch(/^00008120-[0-9A-F]{16}$/);
    // The signer chain leads to the CA the controller would be given (lab-ca/root.pem).
    const root = new X509Certificate(await readFile(path.join(dir, 'lab-ca', 'root.pem')));
    const [device, inter] = certs.map((c) => new X509Certificate(forge.pki.certificateToPem(c)));
    expect(inter!.verify(root.publicKey)).toBe(true);
    expect(device!.verify(inter!.publicKey)).toBe(true);
    expect(device!.subject).toContain(`CN=${String(info.UDID)}`);
  });

  it('says who signed a CMS-signed profile and whether the signature holds', async () => {
    answer = { status: 200, type: 'application/x-apple-aspen-config', body: signedProfile() };
    const ok = await enroll('--ca', 'lab-ca');
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain('signed: yes, by CN=mdm.example.com profile signing (issuer CN=Example Signing CA); signature valid');
    expect(ok.stdout).toContain('ServerURL: https://mdm.example.com/mdm');

    answer = { status: 200, type: 'application/x-apple-aspen-config', body: signedProfile(true) };
    const bad = await enroll('--ca', 'lab-ca');
    expect(bad.stdout).toContain('signature INVALID');
    expect(bad.stdout).toContain('ServerURL: https://Mdm.example.com/mdm');
  });

  it('prints the required OS for com.apple.softwareupdate.required (exit 4), as JSON too', async () => {
    const body = { code: 'com.apple.softwareupdate.required', description: 'update first', details: { OSVersion: '17.5', BuildVersion: '21F79' } };
    answer = { status: 403, type: 'application/json', body: JSON.stringify(body) };
    const r = await enroll('--ca', 'lab-ca', '--os', '16.7', '--build', '20H19', '--can-update');
    expect(r.code).toBe(4);
    expect(r.stdout).toContain('HTTP 403 application/json: OS update required before enrollment');
    expect(r.stdout).toContain('required OS version 17.5 (build 21F79)');

    answer = { status: 403, type: 'application/xml', body: build(body) };
    const j = await enroll('--ca', 'lab-ca', '--os', '16.7', '--build', '20H19', '--can-update', '--format', 'json');
    expect(j.code).toBe(4);
    const out = JSON.parse(j.stdout) as { machineInfo: Record<string, unknown>; outcome: Record<string, unknown>; ca: string };
    expect(out.outcome).toEqual({ kind: 'os-update-required', status: 403, contentType: 'application/xml', OSVersion: '17.5', BuildVersion: '21F79', message: 'update first' });
    expect(out.machineInfo).toMatchObject({ OS_VERSION: '16.7', VERSION: '20H19', MDM_CAN_REQUEST_SOFTWARE_UPDATE: true });
    expect(out.ca).toBe(path.join(dir, 'lab-ca'));
    expect(receivedMachineInfo(received[1]!.body).info.OS_VERSION).toBe('16.7');
  });

  it('shows a refusal body (exit 3) and a tampered message carries another serial', async () => {
    answer = { status: 403, type: 'text/plain', body: 'enrollment refused: bad signature' };
    const r = await enroll('--ca', 'lab-ca', '--tamper');
    expect(r.code).toBe(3);
    expect(r.stdout).toContain('tampered after signing');
    expect(r.stdout).toContain('HTTP 403 text/plain: refused\n  enrollment refused: bad signature');
    expect(receivedMachineInfo(received[0]!.body).info.SERIAL).toBe('F2LXK0TESTQX');
  });

  it('exits 1 on other statuses, a 200 that is not a profile, and no answer', async () => {
    answer = { status: 500, type: 'text/plain', body: 'boom' };
    const five = await enroll('--ca', 'lab-ca');
    expect(five.code).toBe(1);
    expect(five.stdout).toContain('HTTP 500 text/plain: not an answer a device can use\n  boom');

    answer = { status: 200, type: 'text/html', body: '<html>login</html>' };
    const html = await enroll('--ca', 'lab-ca');
    expect(html.code).toBe(1);
    expect(html.stdout).toContain('a 200 answer must be application/x-apple-aspen-config');

    answer = { status: 200, type: 'application/x-apple-aspen-config', body: 'not a plist' };
    const junk = await enroll('--ca', 'lab-ca');
    expect(junk.code).toBe(1);
    expect(junk.stdout).toContain('the enrollment profile is unreadable');

    const closed = createServer();
    closed.listen(0, '127.0.0.1');
    await once(closed, 'listening');
    const port = (closed.address() as AddressInfo).port;
    closed.close();
    await once(closed, 'close');
    const none = await runDepctl(['sim', 'enroll', '--url', `http://127.0.0.1:${port}/enroll/x`, '--serial', 'F2LXK0TESTQ1', '--ca', 'lab-ca'], { cwd: dir });
    expect(none.code).toBe(1);
    expect(none.stderr).toContain(`no answer from http://127.0.0.1:${port}/enroll/x`);
    expect(none.stderr).toContain('ECONNREFUSED');
  });

  it('without --ca signs with a throwaway CA and says so; a directory without a CA is a usage error', async () => {
    answer = { status: 403, type: 'text/plain', body: 'untrusted' };
    const r = await enroll();
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('throwaway CA that no controller trusts');
    const root = new X509Certificate(await readFile(path.join(dir, 'lab-ca', 'root.pem')));
    const inter = new X509Certificate(forge.pki.certificateToPem(receivedMachineInfo(received[0]!.body).certs[1]!));
    expect(inter.verify(root.publicKey)).toBe(false);

    const missing = await enroll('--ca', 'no-such-ca');
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain(`create one with: depctl sim ca create ${path.join(dir, 'no-such-ca')}`);
    expect(received).toHaveLength(1);
  });

  it('refuses flags a device would never send, before posting anything', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['--serial', 'x'], /--serial must be/],
      [['--os', '18.0'], /--os 18\.0 needs --build/],
      [['--os', 'seventeen'], /--os must be a version/],
      [['--product', 'phone'], /--product must be a product type/],
      [['--timeout', '5'], /no unit/],
    ];
    for (const [flags, message] of cases) {
      const r = await runDepctl(['sim', 'enroll', '--url', `${base}/enroll/phones`, '--serial', 'F2LXK0TESTQ1', ...flags], { cwd: dir });
      expect(r.code, flags.join(' ')).toBe(2);
      expect(r.stderr).toMatch(message);
    }
    const badUrl = await runDepctl(['sim', 'enroll', '--url', 'ftp://example.com/x', '--serial', 'F2LXK0TESTQ1'], { cwd: dir });
    expect(badUrl.code).toBe(2);
    expect(received).toHaveLength(0);
  });
});
