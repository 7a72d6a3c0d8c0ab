import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../controller/config/load.js';
import { makeConfigDir } from '../../helpers/config-dir.js';
import { parseMachineInfoPlist, MachineInfoError } from '../../../controller/enroll/machine-info.js';

const SERVER = `apiVersion: depctl/v1
kind: MdmServer
metadata: { name: main }
spec: { token: { file: t.p7m }, privateKey: { file: k.pem } }
`;
const ENROLLMENT = `apiVersion: depctl/v1
kind: Enrollment
metadata: { name: corp }
spec:
  mdm: { serverUrl: https://mdm.example.com/mdm, topic: com.apple.mgmt.External.1 }
  scep: { url: https://mdm.example.com/scep }
`;
const profile = (spec: string): string => `apiVersion: depctl/v1
kind: EnrollmentProfile
metadata: { name: staff }
spec:
  servers: [main]
${spec}`;

let cleanup: (() => Promise<void>) | undefined;
afterEach(async () => {
  await cleanup?.();
  cleanup = undefined;
});

async function load(files: Record<string, string>, opts: { publicUrl?: string; unresolvedUrl?: 'warning' | 'error' } = {}) {
  const made = await makeConfigDir(files);
  cleanup = made.cleanup;
  return loadConfig(made.dir, opts);
}

describe('Enrollment config', () => {
  it('expands url: { enrollment } against the public URL and builds the Enrollment with its defaults', async () => {
    const r = await load({ 'a.yaml': SERVER, 'e.yaml': ENROLLMENT, 'p.yaml': profile('  profile: { profile_name: Staff, url: { enrollment: corp } }\n') }, { publicUrl: 'https://depctl.example.com/base/' });
    expect(r.errorCount).toBe(0);
    const p = r.config?.profiles[0];
    expect(p?.profile.url).toBe('https://depctl.example.com/base/enroll/staff');
    expect(p?.enroll).toEqual({ enrollment: 'corp', minimumOS: {}, olderThanMinimum: 'refuse', urlUnresolved: false });
    expect(r.config?.enrollments?.[0]).toMatchObject({ name: 'corp', unknownSerials: 'refuse', mdm: { accessRights: 8191, signMessage: false, checkOutWhenRemoved: true }, scep: { keySize: 2048, keyUsage: 5 } });
  });

  it('reports an unknown Enrollment where it is named (file:line:col)', async () => {
    const r = await load({ 'a.yaml': SERVER, 'e.yaml': ENROLLMENT, 'p.yaml': profile('  profile: { profile_name: Staff, url: { enrollment: corpp } }\n') }, { publicUrl: 'https://depctl.example.com' });
    const p = r.problems.find((x) => x.code === 'unknown-reference');
    expect(p).toMatchObject({ file: 'p.yaml', line: 6, severity: 'error' });
    expect(p?.message).toBe('unknown Enrollment "corpp" (did you mean "corp"?)');
  });

  it('without a public URL: an error by default (plan, apply, run), a warning for validate', async () => {
    const files = { 'a.yaml': SERVER, 'e.yaml': ENROLLMENT, 'p.yaml': profile('  profile: { profile_name: Staff, url: { enrollment: corp } }\n') };
    const strict = await load(files);
    expect(strict.config).toBeUndefined();
    expect(strict.problems.find((x) => x.code === 'enrollment-url-unresolved')).toMatchObject({ severity: 'error', file: 'p.yaml', line: 6 });
    await cleanup?.();
    const lenient = await load(files, { unresolvedUrl: 'warning' });
    expect(lenient.errorCount).toBe(0);
    expect(lenient.config?.profiles[0]?.enroll?.urlUnresolved).toBe(true);
    expect(lenient.problems.map((x) => x.code)).toContain('enrollment-url-unresolved');
  });

  it('refuses a url pointing at the enrollment endpoint without an Enrollment, minimumOS without one, and disagreeing names', async () => {
    const own = await load({ 'a.yaml': SERVER, 'p.yaml': profile('  profile: { profile_name: Staff, url: "https://depctl.example.com/enroll/staff" }\n') }, { publicUrl: 'https://depctl.example.com' });
    expect(own.problems.map((x) => x.code)).toContain('enrollment-missing');
    await cleanup?.();
    const min = await load({ 'a.yaml': SERVER, 'p.yaml': profile('  minimumOS: { iOS: "17.4" }\n  profile: { profile_name: Staff, url: "https://mdm.example.com/enroll" }\n') });
    expect(min.problems.find((x) => x.code === 'enrollment-missing')?.line).toBe(6);
    await cleanup?.();
    const two = await load({ 'a.yaml': SERVER, 'e.yaml': ENROLLMENT, 'p.yaml': profile('  enrollment: corp\n  profile: { profile_name: Staff, url: { enrollment: other } }\n') }, { publicUrl: 'https://depctl.example.com' });
    expect(two.problems.map((x) => x.code)).toContain('enrollment-mismatch');
  });

  it('checks anchor certificate files: inside the repository, PEM certificates only', async () => {
    const withAnchor = (file: string) => ENROLLMENT + `  anchorCertificates: [{ file: ${file} }]\n`;
    const missing = await load({ 'a.yaml': SERVER, 'e.yaml': withAnchor('certs/ca.pem') });
    expect(missing.problems.find((x) => x.code === 'anchor-certificate')?.message).toBe('cannot read certs/ca.pem (not found)');
    await cleanup?.();
    const key = await load({ 'a.yaml': SERVER, 'e.yaml': withAnchor('ca.pem'), 'ca.pem': '-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n-----BEGIN PRIVATE KEY-----\nAA==\n-----END PRIVATE KEY-----\n' });
    expect(key.problems.find((x) => x.code === 'anchor-certificate')?.message).toContain('holds a private key');
    await cleanup?.();
    const outside = await load({ 'a.yaml': SERVER, 'e.yaml': withAnchor('../x.pem') });
    expect(outside.problems.find((x) => x.code === 'anchor-certificate')?.message).toContain('inside the config repository');
  });

  it('needs exactly one identity: scep or acme', async () => {
    const none = await load({ 'a.yaml': SERVER, 'e.yaml': ENROLLMENT.replace('  scep: { url: https://mdm.example.com/scep }\n', '') });
    expect(none.errorCount).toBeGreaterThan(0);
  });
});

describe('MachineInfo plist', () => {
  const xml = (body: string) => Buffer.from(`<?xml version="1.0" encoding="UTF-8"?>\n<plist version="1.0">${body}</plist>`);
  const ok = '<key>UDID</key><string>u</string><key>SERIAL</key><string>C02X</string><key>PRODUCT</key><string>iPad13,1</string><key>VERSION</key><string>21E236</string>';

  it('reads the required and optional keys', () => {
    expect(parseMachineInfoPlist(xml(`<dict>${ok}<key>OS_VERSION</key><string>17.4</string><key>MDM_CAN_REQUEST_SOFTWARE_UPDATE</key><true/></dict>`))).toEqual({ UDID: 'u', SERIAL: 'C02X', PRODUCT: 'iPad13,1', VERSION: '21E236', OS_VERSION: '17.4', MDM_CAN_REQUEST_SOFTWARE_UPDATE: true });
  });

  it.each([
    ['not a plist', Buffer.from('{"SERIAL":"x"}'), 'not an XML plist'],
    ['not a dictionary', xml('<array/>'), 'not a dictionary'],
    ['a missing key', xml('<dict><key>UDID</key><string>u</string></dict>'), 'SERIAL is missing'],
    ['a wrong type', xml(`<dict>${ok.replace('<string>C02X</string>', '<integer>1</integer>')}</dict>`), 'SERIAL must be a string'],
    ['a non-boolean flag', xml(`<dict>${ok}<key>MDM_CAN_REQUEST_SOFTWARE_UPDATE</key><string>yes</string></dict>`), 'must be a boolean'],
    ['a bad OS_VERSION', xml(`<dict>${ok}<key>OS_VERSION</key><string>seventeen</string></dict>`), 'not a version number'],
    ['broken XML', xml('<dict><key>UDID</key>'), 'not a well-formed XML plist'],
  ])('refuses %s as malformed', (_label, body, message) => {
    let err: unknown;
    try {
      parseMachineInfoPlist(body);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(MachineInfoError);
    expect((err as MachineInfoError).problem).toBe('malformed');
    expect((err as MachineInfoError).message).toContain(message);
  });
});
