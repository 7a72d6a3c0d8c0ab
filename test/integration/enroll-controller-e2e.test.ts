/**
 * The first boot as one repository (issue 14), with the real controller: `depctl run` follows a git
 * repository, defines the DEP profile at the simulator with the url expanded to its public URL, assigns the
 * iPads, and serves the enrollment at that URL's path. Devices signed by a test CA (trusted with
 * `--enroll-ca`) enroll; the one the simulator says pulled its DEP profile and never enrolled shows as
 * "assigned, never enrolled" until it does.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parsePlist } from 'plist';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startController, type RunningController } from '../../controller/cli/run.js';
import type { CliIo } from '../../controller/cli/io.js';
import type { ControllerStatus } from '../../controller/reconcile/status.js';
import { enrollDevice, signedMachineInfo } from '../../controller/sim/enroll-device.js';
import { startSimulator, type RunningSimulator } from '../../controller/sim/index.js';
import { createTestDeviceCa, writeTestCa, type TestCa } from '../../controller/sim/test-ca.js';
import { encryptServerToken, generateKeyPair } from '../../controller/tokens/index.js';
import { createLogger } from '../../controller/util/logger.js';
import { git } from '../helpers/git.js';
import { MAIN_SERVER_YAML } from '../helpers/config-yaml.js';

const PUBLIC_URL = 'https://depctl.example.com';
const API_TOKEN = 'test-api-token';
const CONFIG = `apiVersion: depctl/v1
kind: Enrollment
metadata: { name: corp }
spec:
  mdm: { serverUrl: https://mdm.example.com/mdm, topic: com.apple.mgmt.External.0b5e }
  scep: { url: https://mdm.example.com/scep, challenge: { env: DEPCTL_SCEP_CHALLENGE } }
---
apiVersion: depctl/v1
kind: EnrollmentProfile
metadata: { name: ipads }
spec:
  servers: [main]
  minimumOS: { iOS: "17.0" }
  profile: { profile_name: iPads, url: { enrollment: corp }, is_supervised: true }
---
apiVersion: depctl/v1
kind: Assignment
metadata: { name: all-ipads }
spec:
  profile: ipads
  match: { device_family: [iPad] }
`;

describe('depctl run serves the enrollment of the profiles it assigns', () => {
  let sim: RunningSimulator;
  let root: string;
  let controller: RunningController;
  let ca: TestCa;
  let serials: string[];
  let logs = '';

  const status = async (): Promise<ControllerStatus> => (await (await request(`${controller.url}/api/status`)).body.json()) as ControllerStatus;
  const ipads = async () => (await status()).enrollment?.find((e) => e.profile === 'ipads');
  const enroll = (serial: string) =>
    enrollDevice(`${controller.url}/enroll/ipads`, signedMachineInfo({ UDID: `00008103-${serial}`, SERIAL: serial, PRODUCT: 'iPad13,1', VERSION: '21E236', OS_VERSION: '17.4' }, ca, { signerKeyBits: 1024 }));

  beforeAll(async () => {
    sim = await startSimulator({ devices: 0, seed: 14 });
    serials = sim.portal.addDevices(Array.from({ length: 3 }, () => ({ device_family: 'iPad', os: 'iPadOS', model: 'iPad' }))).map((d) => d.serial_number);
    root = await mkdtemp(join(tmpdir(), 'depctl-enroll-run-'));
    const { privateKeyPem, certificatePem } = generateKeyPair();
    await mkdir(join(root, 'secrets', 'main'), { recursive: true });
    await writeFile(join(root, 'secrets', 'main', 'key.pem'), privateKeyPem, { mode: 0o600 });
    await writeFile(join(root, 'secrets', 'main', 'token.p7m'), encryptServerToken(sim.token, certificatePem));
    ca = createTestDeviceCa({ keyBits: 1024 });
    await writeTestCa(join(root, 'lab-ca'), ca);
    git(root, 'init', '-q', '--bare', '-b', 'main', 'config.git');
    const work = join(root, 'work');
    git(root, 'clone', '-q', join(root, 'config.git'), 'work');
    git(work, 'checkout', '-q', '-b', 'main');
    await writeFile(join(work, 'servers.yaml'), MAIN_SERVER_YAML);
    await writeFile(join(work, 'enrollment.yaml'), CONFIG);
    git(work, 'add', '-A');
    git(work, 'commit', '-q', '-m', 'enrollment');
    git(work, 'push', '-q', 'origin', 'HEAD:main');

    const io: CliIo = { stdout: () => {}, stderr: () => {}, cwd: root, env: { DEPCTL_SCEP_CHALLENGE: 'challenge-e2e', DEPCTL_API_TOKEN: API_TOKEN } };
    const logger = createLogger({ level: 'info', format: 'json', write: (s) => (logs += s) });
    controller = await startController(
      {
        repo: join(root, 'config.git'), branch: 'main', path: '.', pollInterval: 60_000, syncInterval: 60_000, listen: '127.0.0.1:0',
        workDir: join(root, 'checkout'), allowLarge: false, logLevel: 'info', logFormat: 'json',
        publicUrl: PUBLIC_URL, enrollCa: ['lab-ca/root.pem'],
      },
      { stateUrl: `sqlite:${join(root, 'state.db')}`, secretsDir: join(root, 'secrets'), depUrlOverride: sim.url },
      io,
      logger,
    );
    await vi.waitFor(() => expect(controller.loop.current().conditions.find((x) => x.type === 'Ready')?.status).toBe('True'), { timeout: 30_000, interval: 25 });
  }, 60_000);

  afterAll(async () => {
    await controller?.stop();
    await sim?.close();
    if (root) await rm(root, { recursive: true, force: true });
  });

  it('gives Apple the expanded url and enrolls the assigned iPads there', async () => {
    const uuid = sim.inspect.device(serials[0] as string)?.profile_uuid;
    expect(uuid).toBeTruthy();
    expect(sim.inspect.profile(uuid as string)?.url).toBe(`${PUBLIC_URL}/enroll/ipads`);

    const a = await enroll(serials[0] as string);
    expect(a.status).toBe(200);
    expect(a.contentType).toBe('application/x-apple-aspen-config');
    const profile = parsePlist(a.body.toString('utf8')) as { PayloadContent: Record<string, unknown>[] };
    expect(profile.PayloadContent.map((p) => p['PayloadType'])).toEqual(['com.apple.security.scep', 'com.apple.mdm']);

    const refused = await enroll('NOTONSERVER1');
    expect(refused.status).toBe(403);
    expect(JSON.parse(refused.body.toString('utf8'))).toMatchObject({ reason: 'unknown-serial' });
    expect(logs).toContain('enrollment refused: serial NOTONSERVER1 is on no MdmServer in the store');
    expect(logs).not.toContain('challenge-e2e');
  });

  it('shows devices that pulled the DEP profile and never enrolled, until they do', async () => {
    // Serial 1 and 2 pull their DEP profile in Setup Assistant; only serial 0 has enrolled so far.
    sim.portal.markPushed(serials[0] as string);
    sim.portal.markPushed(serials[1] as string);
    sim.portal.markPushed(serials[2] as string);
    const trigger = await request(`${controller.url}/api/reconcile`, { method: 'POST', headers: { authorization: `Bearer ${API_TOKEN}` } });
    await trigger.body.dump();
    expect(trigger.statusCode).toBe(202);
    // The triggered pass syncs the pushed statuses into the store, then refreshes the enrollment status.
    await vi.waitFor(async () => expect((await ipads())?.assignedNeverEnrolled).toBe(2), { timeout: 20_000, interval: 50 });
    expect(await ipads()).toMatchObject({ enrollment: 'corp', enrolled: 1, refused: 1 });

    expect((await enroll(serials[1] as string)).status).toBe(200);
    await vi.waitFor(async () => expect((await ipads())?.assignedNeverEnrolled).toBe(1), { timeout: 10_000, interval: 50 });
    const page = await (await request(`${controller.url}/`)).body.text();
    expect(page).toContain('data-testid="enroll-never-ipads" data-value="1"');
    const metrics = await (await request(`${controller.url}/metrics`)).body.text();
    expect(metrics).toContain('depctl_enrollments_total{profile="ipads",outcome="enrolled"} 2');
    expect(metrics).toContain('depctl_enrollment_assigned_never_enrolled{profile="ipads"} 1');
  });
});
