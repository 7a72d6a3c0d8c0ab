/**
 * The enrollment endpoint end to end (issue 14): a config repository loaded by the real loader, a real
 * SQLite store holding what a sync stored, the controller's real HTTP server with the endpoint wired as
 * `depctl run` wires it (cli/run-enroll.ts), and devices whose MachineInfo is signed by a test device CA
 * (controller/sim, as `depctl sim enroll` does). The served profile is checked with openssl (signature) and
 * the plist parser; each refusal with its status and body; attempts in the store, audit log, status and metrics.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import forge from 'node-forge';
import { pino } from 'pino';
import { parse as parsePlist } from 'plist';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setupEnrollment, type RunEnrollment } from '../../controller/cli/run-enroll.js';
import { loadConfig } from '../../controller/config/load.js';
import type { DepConfig } from '../../controller/config/types.js';
import type { ControllerStatus } from '../../controller/reconcile/status.js';
import { startControlServer, type ControlServer } from '../../controller/server/http.js';
import { createMetrics } from '../../controller/server/metrics.js';
import { enrollDevice, signedMachineInfo, type MachineInfo } from '../../controller/sim/enroll-device.js';
import { createTestDeviceCa, generateForgeKeyPair, writeTestCa, type TestCa } from '../../controller/sim/test-ca.js';
import { SqliteStore } from '../../controller/store/sqlite/sqlite-store.js';

const run = promisify(execFile);
const T0 = new Date('2026-12-01T09:00:00.000Z');
const PUBLIC_URL = 'https://depctl.example.com';

const CONFIG = `apiVersion: depctl/v1
kind: MdmServer
metadata: { name: main }
spec:
  token: { file: main/token.p7m }
  privateKey: { file: main/key.pem }
---
apiVersion: depctl/v1
kind: Enrollment
metadata: { name: corp }
spec:
  mdm:
    serverUrl: https://mdm.example.com/mdm
    topic: com.apple.mgmt.External.0b5e
    signMessage: true
    serverCapabilities: [com.apple.mdm.per-user-connections]
  scep:
    url: https://mdm.example.com/scep
    challenge: { env: DEPCTL_SCEP_CHALLENGE }
    subject: [{ O: Example }, { CN: "%HardwareUUID%" }]
  anchorCertificates: [{ file: certs/anchor.pem }]
  signing: { certificate: { file: signing/cert.pem }, key: { file: signing/key.pem } }
  payload: { displayName: Example MDM, organization: Example }
---
apiVersion: depctl/v1
kind: Enrollment
metadata: { name: open }
spec:
  mdm: { serverUrl: https://mdm.example.com/mdm, topic: com.apple.mgmt.External.0b5e }
  acme:
    directoryUrl: https://acme.example.com/directory
    clientIdentifier: { env: DEPCTL_ACME_CLIENT_ID }
  unknownSerials: allow
---
apiVersion: depctl/v1
kind: EnrollmentProfile
metadata: { name: staff }
spec:
  servers: [main]
  minimumOS: { iOS: { version: "17.4", build: "21E236" } }
  profile: { profile_name: Staff, url: { enrollment: corp } }
---
apiVersion: depctl/v1
kind: EnrollmentProfile
metadata: { name: lab }
spec:
  servers: [main]
  enrollment: corp
  minimumOS: { macOS: "14.4" }
  olderThanMinimum: enroll
  profile: { profile_name: Lab, url: "${PUBLIC_URL}/enroll/lab" }
---
apiVersion: depctl/v1
kind: EnrollmentProfile
metadata: { name: kiosk }
spec:
  servers: [main]
  profile: { profile_name: Kiosk, url: { enrollment: open } }
---
apiVersion: depctl/v1
kind: Assignment
metadata: { name: staff }
spec: { profile: staff, serials: [STAFF0001, STAFF0002, OLDIOS001, OLDIOS002, PUSHED001] }
---
apiVersion: depctl/v1
kind: Assignment
metadata: { name: lab }
spec: { profile: lab, serials: [LABMAC001, OLDMAC001] }
`;

const device = (serial: string, extra: Partial<MachineInfo> = {}): MachineInfo => ({
  UDID: `00008110-${serial}`,
  SERIAL: serial,
  PRODUCT: 'iPhone15,2',
  VERSION: '21E236',
  OS_VERSION: '17.4',
  LANGUAGE: 'en',
  ...extra,
});

interface Answer {
  status: number;
  contentType: string | null;
  body: Buffer;
}
const jsonOf = (a: Answer): Record<string, unknown> => JSON.parse(a.body.toString('utf8')) as Record<string, unknown>;

describe('enrollment endpoint (POST /enroll/PROFILE)', () => {
  let dir: string;
  let store: SqliteStore;
  let server: ControlServer;
  let ca: TestCa;
  let config: DepConfig;
  let enrollment: RunEnrollment;
  const metrics = createMetrics({ defaultMetrics: false });
  const post = (profile: string, body: Buffer): Promise<Answer> => enrollDevice(`${server.url}/enroll/${profile}`, body);
  const enroll = (profile: string, info: MachineInfo, c: TestCa = ca): Promise<Answer> => post(profile, signedMachineInfo(info, c, { signerKeyBits: 1024 }));

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'depctl-enroll-'));
    const repo = join(dir, 'repo');
    const secrets = join(dir, 'secrets');
    await mkdir(join(repo, 'certs'), { recursive: true });
    await mkdir(join(secrets, 'signing'), { recursive: true });
    ca = createTestDeviceCa({ keyBits: 1024 });
    await writeTestCa(join(dir, 'ca'), ca);
    await writeFile(join(repo, 'config.yaml'), CONFIG);
    // The anchor is a public certificate in the repository; the signing identity lives in the secrets directory.
    await writeFile(join(repo, 'certs', 'anchor.pem'), ca.rootCertPem);
    const keys = generateForgeKeyPair(1024);
    const cert = forge.pki.createCertificate();
    cert.publicKey = keys.publicKey;
    cert.serialNumber = '01';
    cert.validity.notBefore = new Date(Date.now() - 86_400_000);
    cert.validity.notAfter = new Date(Date.now() + 86_400_000);
    cert.setSubject([{ shortName: 'CN', value: 'Example profile signer' }]);
    cert.setIssuer([{ shortName: 'CN', value: 'Example profile signer' }]);
    cert.sign(keys.privateKey, forge.md.sha256.create());
    await writeFile(join(secrets, 'signing', 'cert.pem'), forge.pki.certificateToPem(cert));
    await writeFile(join(secrets, 'signing', 'key.pem'), forge.pki.privateKeyToPem(keys.privateKey), { mode: 0o600 });

    const loaded = await loadConfig(repo, { secretsDir: secrets, publicUrl: `${PUBLIC_URL}/`, now: T0 });
    expect(loaded.problems.filter((p) => p.severity === 'error')).toEqual([]);
    config = loaded.config as DepConfig;

    store = SqliteStore.open(join(dir, 'state.db'), { now: () => T0 });
    await store.migrate();
    // What a sync stored: the staff and lab devices on `main`; PUSHED001 fetched its DEP profile (pushed).
    const dep = (serial: string, family = 'iPhone') => ({ serial_number: serial, model: 'iPhone 15', description: serial, color: 'BLACK', device_family: family, os: 'iOS', profile_status: 'assigned' as const, profile_uuid: 'UUID-STAFF' });
    await store.upsertDevices('main', [
      dep('STAFF0001'), dep('STAFF0002'), dep('OLDIOS001'), dep('OLDIOS002'), { ...dep('PUSHED001'), profile_status: 'pushed' as const },
      { ...dep('LABMAC001', 'Mac'), profile_uuid: 'UUID-LAB' }, { ...dep('OLDMAC001', 'Mac'), profile_uuid: 'UUID-LAB' },
      // On the server, assigned to no profile by the config: an Assignment does not name it.
      { ...dep('ELSEWHERE1'), profile_uuid: 'UUID-OTHER' },
    ], T0);
    const staff = config.profiles.find((p) => p.name === 'staff');
    await store.beginDefine({ server: 'main', name: 'staff', contentHash: 'h1', body: { ...staff?.profile, devices: [] } as never, at: T0 });
    await store.completeDefine({ server: 'main', name: 'staff', contentHash: 'h1' }, 'UUID-STAFF', T0);

    enrollment = await setupEnrollment(
      { enrollCa: [join(dir, 'ca', 'root.pem')] },
      {
        io: { stdout: () => undefined, stderr: () => undefined, env: { DEPCTL_SCEP_CHALLENGE: 'scep-challenge-value', DEPCTL_ACME_CLIENT_ID: 'acme-client-id' }, cwd: dir },
        secretsDir: secrets,
        store,
        logger: pino({ level: 'silent' }),
        now: () => T0,
        onAttempt: (profile, outcome) => metrics.recordEnrollment(profile, outcome),
      },
    );
    enrollment.setConfig(config);
    await enrollment.refresh();
    const base: ControllerStatus = { phase: 'idle', leader: true, conditions: [], lastAppliedRevision: null, lastAttemptedRevision: null, refusedRevision: null, nextRunAt: null, lastError: null, servers: [], recentRuns: [], version: 'test' } as unknown as ControllerStatus;
    server = await startControlServer({
      listen: '127.0.0.1:0',
      status: () => enrollment.decorate(base),
      metrics,
      health: () => ({ live: true, ready: true }),
      trigger: () => undefined,
      logger: pino({ level: 'silent' }),
      enroll: enrollment.route,
    });
  });

  afterAll(async () => {
    await server?.close();
    await store?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('expands url: { enrollment } to the public URL and keeps a plain url as written', () => {
    const url = (name: string) => config.profiles.find((p) => p.name === name)?.profile.url;
    expect(url('staff')).toBe(`${PUBLIC_URL}/enroll/staff`);
    expect(url('kiosk')).toBe(`${PUBLIC_URL}/enroll/kiosk`);
    expect(url('lab')).toBe(`${PUBLIC_URL}/enroll/lab`);
  });

  it('enrolls a desired device: a signed profile with the declared payloads, stable UUIDs', async () => {
    const a = await enroll('staff', device('STAFF0001'));
    expect(a.status).toBe(200);
    expect(a.contentType).toBe('application/x-apple-aspen-config');
    // openssl checks the CMS signature against the signing certificate and gives back the content.
    const p7 = join(dir, 'profile.p7');
    await writeFile(p7, a.body);
    const { stdout } = await run('openssl', ['cms', '-verify', '-inform', 'DER', '-in', p7, '-CAfile', join(dir, 'secrets', 'signing', 'cert.pem'), '-purpose', 'any']);
    const profile = parsePlist(stdout) as Record<string, unknown>;
    expect(profile['PayloadType']).toBe('Configuration');
    expect(profile['PayloadDisplayName']).toBe('Example MDM');
    const payloads = profile['PayloadContent'] as Record<string, unknown>[];
    expect(payloads.map((p) => p['PayloadType'])).toEqual(['com.apple.security.root', 'com.apple.security.scep', 'com.apple.mdm']);
    const [anchor, scep, mdm] = payloads as [Record<string, unknown>, Record<string, unknown>, Record<string, unknown>];
    // The anchor payload carries the repository's certificate as DER.
    const rootDer = Buffer.from(forge.asn1.toDer(forge.pki.certificateToAsn1(forge.pki.certificateFromPem(ca.rootCertPem))).getBytes(), 'binary');
    expect(Buffer.from(anchor['PayloadContent'] as Uint8Array).equals(rootDer)).toBe(true);
    expect((scep['PayloadContent'] as Record<string, unknown>)['Challenge']).toBe('scep-challenge-value');
    expect((scep['PayloadContent'] as Record<string, unknown>)['Subject']).toEqual([[['O', 'Example']], [['CN', '%HardwareUUID%']]]);
    expect(mdm).toMatchObject({ ServerURL: 'https://mdm.example.com/mdm', CheckInURL: 'https://mdm.example.com/mdm', Topic: 'com.apple.mgmt.External.0b5e', AccessRights: 8191, SignMessage: true, IdentityCertificateUUID: scep['PayloadUUID'] });

    // Another device gets the same content: the same UUIDs, though each signature is new.
    const b = await enroll('staff', device('STAFF0002'));
    await writeFile(p7, b.body);
    const again = parsePlist((await run('openssl', ['cms', '-verify', '-inform', 'DER', '-in', p7, '-CAfile', join(dir, 'secrets', 'signing', 'cert.pem'), '-purpose', 'any'])).stdout) as Record<string, unknown>;
    expect((again['PayloadContent'] as Record<string, unknown>[]).map((p) => p['PayloadUUID'])).toEqual(payloads.map((p) => p['PayloadUUID']));
    expect(again['PayloadUUID']).toBe(profile['PayloadUUID']);
  });

  it('refuses a MachineInfo whose signature does not verify (403)', async () => {
    const a = await post('staff', signedMachineInfo(device('STAFF0001'), ca, { tamper: true, signerKeyBits: 1024 }));
    expect(a.status).toBe(403);
    expect(jsonOf(a)).toEqual({ error: 'the MachineInfo signature was not accepted', reason: 'bad-signature' });
  });

  it('refuses a signer that does not chain to a trusted device CA (403)', async () => {
    const stranger = createTestDeviceCa({ keyBits: 1024, commonName: 'Stranger' });
    const a = await enroll('staff', device('STAFF0001'), stranger);
    expect(a.status).toBe(403);
    expect(jsonOf(a)).toEqual({ error: 'the MachineInfo signature was not accepted', reason: 'untrusted' });
  });

  it('refuses a serial no server holds under unknownSerials: refuse, and enrolls it under allow', async () => {
    const refused = await enroll('staff', device('NOTSYNCED1'));
    expect(refused.status).toBe(403);
    expect(jsonOf(refused)).toEqual({ error: 'this device is not enrolled through this profile', reason: 'unknown-serial' });
    const allowed = await enroll('kiosk', device('NOTSYNCED2'));
    expect(allowed.status).toBe(200);
    const plist = parsePlist(allowed.body.toString('utf8')) as { PayloadContent: Record<string, unknown>[] };
    expect(plist.PayloadContent.map((p) => p['PayloadType'])).toEqual(['com.apple.security.acme', 'com.apple.mdm']);
    expect(plist.PayloadContent[0]).toMatchObject({ DirectoryURL: 'https://acme.example.com/directory', ClientIdentifier: 'acme-client-id', HardwareBound: true });
  });

  it('refuses a serial desired for another profile, or for none (403)', async () => {
    const wrong = await enroll('staff', device('LABMAC001', { PRODUCT: 'Mac14,2', OS_VERSION: '14.5', VERSION: '23F79' }));
    expect(wrong.status).toBe(403);
    expect(jsonOf(wrong)).toEqual({ error: 'this device is not enrolled through this profile', reason: 'wrong-profile' });
    const none = await enroll('staff', device('ELSEWHERE1'));
    expect(jsonOf(none)['reason']).toBe('wrong-profile');
  });

  it('asks an old device that can update for the OS first: Apple softwareupdate.required, in JSON', async () => {
    const a = await enroll('staff', device('OLDIOS001', { OS_VERSION: '17.2', VERSION: '21C62', MDM_CAN_REQUEST_SOFTWARE_UPDATE: true }));
    expect(a.status).toBe(403);
    expect(a.contentType).toBe('application/json');
    expect(jsonOf(a)).toEqual({
      code: 'com.apple.softwareupdate.required',
      description: 'Update to iOS 17.4 (21E236) or later to enroll.',
      details: { OSVersion: '17.4', BuildVersion: '21E236' },
    });
  });

  it('refuses or enrolls an old device that cannot update, as olderThanMinimum says', async () => {
    const refused = await enroll('staff', device('OLDIOS002', { OS_VERSION: '17.2', VERSION: '21C62' }));
    expect(refused.status).toBe(403);
    expect(jsonOf(refused)).toEqual({ error: 'this device is not enrolled through this profile', reason: 'os-too-old' });
    const enrolled = await enroll('lab', device('OLDMAC001', { PRODUCT: 'Mac14,2', OS_VERSION: '14.2', VERSION: '23C64' }));
    expect(enrolled.status).toBe(200);
  });

  it('answers 400 to a malformed body and 413 to an oversized one, and keeps serving', async () => {
    const junk = await post('staff', Buffer.from('not a CMS message'));
    expect(junk.status).toBe(400);
    expect(jsonOf(junk)['error']).toBe('body is not a DER CMS SignedData');
    const big = await post('staff', Buffer.alloc(70 * 1024, 0x30));
    expect(big.status).toBe(413);
    expect(jsonOf(big)['error']).toBe('request body exceeds 65536 bytes');
    const unsignedPlist = await post('staff', Buffer.from('<?xml version="1.0"?><plist><dict/></plist>'));
    expect(unsignedPlist.status).toBe(400);
    expect((await enroll('staff', device('STAFF0001'))).status).toBe(200);
  });

  it('answers 404 for a profile depctl does not serve and 405 to a GET', async () => {
    expect((await post('no-such-profile', signedMachineInfo(device('STAFF0001'), ca, { signerKeyBits: 1024 }))).status).toBe(404);
    const get = await fetch(`${server.url}/enroll/staff`);
    expect(get.status).toBe(405);
    expect(get.headers.get('allow')).toBe('POST');
  });

  it('records every attempt in the store and the audit log, and shows counts, never-enrolled devices and metrics', async () => {
    const attempts = await store.listEnrollmentAttempts({ serial: 'OLDIOS001', limit: 5 });
    expect(attempts.map((a) => [a.profile, a.outcome, a.reason, a.osVersion, a.build, a.product, a.server])).toEqual([['staff', 'held-for-update', 'os-update-required', '17.2', '21C62', 'iPhone15,2', 'main']]);
    const audit = await store.readAudit({ serial: 'OLDIOS002', limit: 5 });
    expect(audit.map((e) => [e.action, e.after, e.outcome])).toEqual([['enroll', 'staff: refused (os-too-old)', 'failed']]);

    await enrollment.refresh();
    const status = (await (await fetch(`${server.url}/api/status`)).json()) as ControllerStatus;
    const staff = status.enrollment?.find((e) => e.profile === 'staff');
    // 3 enrolled (STAFF0001 twice, STAFF0002); refused: bad signature, untrusted, unknown, 2 wrong profile, too old.
    expect(staff).toEqual({ profile: 'staff', enrollment: 'corp', enrolled: 3, refused: 6, heldForUpdate: 1, badRequest: 3, assignedNeverEnrolled: 1 });
    const scrape = await (await fetch(`${server.url}/metrics`)).text();
    expect(scrape).toContain('depctl_enrollments_total{profile="staff",outcome="enrolled"} 3');
    expect(scrape).toContain('depctl_enrollments_total{profile="staff",outcome="held-for-update"} 1');
    expect(scrape).toContain('depctl_enrollment_assigned_never_enrolled{profile="staff"} 1');

    // Once the pushed device enrolls, it is no longer "assigned, never enrolled".
    expect((await enroll('staff', device('PUSHED001'))).status).toBe(200);
    await enrollment.refresh();
    const after = (await (await fetch(`${server.url}/api/status`)).json()) as ControllerStatus;
    expect(after.enrollment?.find((e) => e.profile === 'staff')?.assignedNeverEnrolled).toBe(0);
    // No secret reached the store.
    const everything = JSON.stringify(await store.readAudit({ limit: 100 })) + JSON.stringify(await store.listEnrollmentAttempts({ limit: 100 }));
    expect(everything).not.toContain('scep-challenge-value');
    const raw = await readFile(join(dir, 'state.db'));
    expect(raw.includes(Buffer.from('scep-challenge-value'))).toBe(false);
  });
});
