/**
 * The device role of `depctl sim` (issue 14 item 5): `depctl sim ca create DIR` makes a test device CA,
 * and `depctl sim enroll --url URL --serial S` signs a MachineInfo with it, POSTs it to a profile
 * `url` as a device in Setup Assistant does, and prints what the device would get.
 *
 * A missing CA is not created on the fly: the controller has to be told to trust the CA's root
 * (`depctl run --enroll-ca DIR/root.pem`), so a CA that appeared silently would only earn a 403.
 * Without `--ca` the message is signed by a throwaway CA that nothing trusts (the wrong-chain case).
 */
import path from 'node:path';
import { type Command, Option } from 'commander';
import { deviceUdid, enrollDevice, type MachineInfo, signedMachineInfo } from '../sim/enroll-device.js';
import { type EnrollOutcome, readEnrollResponse } from '../sim/enroll-response.js';
import { createTestDeviceCa, DEFAULT_KEY_BITS, loadTestCa, TEST_CA_FILES, TestCaError, type TestCa, writeTestCa } from '../sim/test-ca.js';
import { durationOption } from './duration.js';
import { examples } from './help.js';
import { type CliIo, ExitCode, UsageError } from './io.js';

/** Exit codes of `depctl sim enroll`: what the device got. */
export const ENROLL_EXIT = {
  /** 200 with a readable enrollment profile. */
  enrolled: ExitCode.ok,
  /** No answer, an unexpected status, or a 200 that is not a readable profile. */
  error: ExitCode.failure,
  usage: ExitCode.usage,
  /** 403: the server refused the device. */
  refused: 3,
  /** 403 `com.apple.softwareupdate.required`: the device must update its OS first. */
  osUpdateRequired: 4,
} as const;

/** Default device: the iPhone 14 on iOS 17.4 (build 21E219). */
export const DEFAULT_DEVICE = { product: 'iPhone15,2', os: '17.4', build: '21E219' } as const;

/** Options of `depctl sim enroll`, already parsed. */
export interface SimEnrollOptions {
  url: string;
  serial: string;
  os?: string;
  build?: string;
  product?: string;
  udid?: string;
  language?: string;
  canUpdate?: boolean;
  /** Test CA directory, relative to `cwd`; absent: a throwaway CA. */
  ca?: string;
  tamper?: boolean;
  timeoutMs?: number;
  cwd: string;
}

/** What the command sent and what came back (the JSON output). */
export interface SimEnrollResult {
  url: string;
  machineInfo: MachineInfo;
  /** The CA directory used, or null for a throwaway CA. */
  ca: string | null;
  tampered: boolean;
  outcome: EnrollOutcome;
}

/** Builds the MachineInfo from the flags (usage errors for values a device would never send). */
export function machineInfoFromOptions(o: SimEnrollOptions): MachineInfo {
  const serial = o.serial.trim();
  if (!/^[A-Z0-9]{8,14}$/i.test(serial)) throw new UsageError(`--serial must be 8 to 14 letters and digits, got "${o.serial}"`);
  const os = o.os ?? DEFAULT_DEVICE.os;
  if (!/^\d+(\.\d+){0,2}$/.test(os)) throw new UsageError(`--os must be a version such as 17.4 or 14.6.1, got "${os}"`);
  let build = o.build;
  if (build === undefined) {
    // A made-up build would mislead a server that compares builds; only the default OS has a known one.
    if (os !== DEFAULT_DEVICE.os) throw new UsageError(`--os ${os} needs --build (the device's build number, e.g. ${DEFAULT_DEVICE.build} for ${DEFAULT_DEVICE.os})`);
    build = DEFAULT_DEVICE.build;
  }
  if (!/^[0-9]{1,3}[A-Z][0-9]{1,5}[a-z]?$/.test(build)) throw new UsageError(`--build must look like 21E219, got "${build}"`);
  const info: MachineInfo = {
    UDID: o.udid ?? deviceUdid(serial.toUpperCase()),
    SERIAL: serial.toUpperCase(),
    PRODUCT: o.product ?? DEFAULT_DEVICE.product,
    VERSION: build,
    OS_VERSION: os,
  };
  if (!/^[A-Za-z0-9-]{8,64}$/.test(info.UDID)) throw new UsageError(`--udid must be 8 to 64 letters, digits or dashes, got "${info.UDID}"`);
  if (!/^[A-Za-z]+\d+,\d+$/.test(info.PRODUCT)) throw new UsageError(`--product must be a product type such as iPhone15,2 or Mac14,2, got "${info.PRODUCT}"`);
  if (o.language !== undefined) info.LANGUAGE = o.language;
  if (o.canUpdate) info.MDM_CAN_REQUEST_SOFTWARE_UPDATE = true;
  return info;
}

/** The exit code for an outcome. */
export function enrollExitCode(outcome: EnrollOutcome): number {
  switch (outcome.kind) {
    case 'enrolled':
      return ENROLL_EXIT.enrolled;
    case 'os-update-required':
      return ENROLL_EXIT.osUpdateRequired;
    case 'refused':
      return ENROLL_EXIT.refused;
    case 'error':
      return ENROLL_EXIT.error;
  }
}

/**
 * Signs and posts one MachineInfo: the command's core. Throws TestCaError for an unusable CA and
 * undici's errors when the URL cannot be reached.
 */
export async function simEnroll(o: SimEnrollOptions): Promise<SimEnrollResult> {
  let url: URL;
  try {
    url = new URL(o.url);
  } catch {
    throw new UsageError(`--url must be an http(s) URL, got "${o.url}"`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`--url must be an http(s) URL, got "${o.url}"`);
  const info = machineInfoFromOptions(o);
  const caDir = o.ca === undefined ? null : path.resolve(o.cwd, o.ca);
  const ca: TestCa = caDir === null ? createTestDeviceCa({ commonName: 'depctl Throwaway' }) : await loadTestCa(caDir);
  const body = signedMachineInfo(info, ca, { tamper: o.tamper === true });
  const res = await enrollDevice(url.href, body, o.timeoutMs !== undefined ? { timeoutMs: o.timeoutMs } : {});
  return { url: url.href, machineInfo: info, ca: caDir, tampered: o.tamper === true, outcome: readEnrollResponse(res) };
}

/** The human view of a result. */
export function renderEnrollText(r: SimEnrollResult): string {
  const m = r.machineInfo;
  const lines: string[] = [];
  const signer = r.ca === null ? 'a throwaway CA (trusted by no controller)' : `the test CA in ${r.ca}`;
  lines.push(`Device ${m.SERIAL} (${m.PRODUCT}, OS ${m.OS_VERSION} build ${m.VERSION}, UDID ${m.UDID}${m.MDM_CAN_REQUEST_SOFTWARE_UPDATE ? ', can request a software update' : ''})`);
  lines.push(`  POST ${r.url}: MachineInfo signed by ${signer}${r.tampered ? ', tampered after signing' : ''}`);
  const o = r.outcome;
  const type = o.contentType ?? 'no content type';
  switch (o.kind) {
    case 'enrolled': {
      lines.push(`HTTP ${o.status} ${type}: enrolled`);
      const p = o.profile;
      lines.push(`  profile ${p.PayloadDisplayName !== undefined ? `"${p.PayloadDisplayName}" ` : ''}${p.PayloadIdentifier} (${p.PayloadUUID})${p.PayloadOrganization !== undefined ? `, organization ${p.PayloadOrganization}` : ''}`);
      lines.push(o.signature === null
        ? '  signed: no (an unsigned profile; the device shows it as "Not Verified")'
        : `  signed: yes, by ${o.signature.signer} (issuer ${o.signature.issuer}); signature ${o.signature.valid ? 'valid' : 'INVALID'}`);
      lines.push(`  ${o.payloads.length} payload${o.payloads.length === 1 ? '' : 's'}:`);
      for (const pl of o.payloads) {
        lines.push(`    ${pl.PayloadType}  ${pl.PayloadIdentifier}  ${pl.PayloadUUID}`);
        for (const [k, v] of Object.entries(pl.details)) lines.push(`      ${k}: ${String(v)}`);
      }
      break;
    }
    case 'os-update-required':
      lines.push(`HTTP ${o.status} ${type}: OS update required before enrollment`);
      lines.push(`  required OS version ${o.OSVersion}${o.BuildVersion !== undefined ? ` (build ${o.BuildVersion})` : ''}`);
      if (o.message !== undefined) lines.push(`  message: ${o.message}`);
      break;
    case 'refused':
      lines.push(`HTTP ${o.status} ${type}: refused`);
      if (o.body !== '') lines.push(indent(o.body));
      break;
    case 'error':
      lines.push(`HTTP ${o.status} ${type}: ${o.reason}`);
      if (o.body !== '') lines.push(indent(o.body));
      break;
  }
  return `${lines.join('\n')}\n`;
}

function indent(text: string): string {
  return text.trimEnd().split('\n').map((l) => `  ${l}`).join('\n');
}

type Format = 'text' | 'json';

/** Registers `depctl sim enroll` and `depctl sim ca create` under the `sim` command. */
export function registerSimDevice(sim: Command, io: CliIo, setExit: (code: number) => void): void {
  sim
    .command('enroll')
    .description('act as a device in Setup Assistant: POST a MachineInfo signed by a test CA to a profile url and show what the device gets')
    .requiredOption('--url <url>', "the DEP profile's url (depctl serves POST /enroll/PROFILE)")
    .requiredOption('--serial <serial>', 'the device serial number')
    .option('--os <version>', `OS_VERSION (default ${DEFAULT_DEVICE.os})`)
    .option('--build <build>', `VERSION, the OS build (default ${DEFAULT_DEVICE.build}; required with --os)`)
    .option('--product <type>', `PRODUCT (default ${DEFAULT_DEVICE.product})`)
    .option('--udid <udid>', 'UDID (default: derived from the serial)')
    .option('--language <lang>', 'LANGUAGE, e.g. en-US')
    .option('--can-update', 'send MDM_CAN_REQUEST_SOFTWARE_UPDATE (the device can update its OS during Setup Assistant)')
    .option('--ca <dir>', 'test CA directory (depctl sim ca create DIR); default: a throwaway CA no controller trusts')
    .option('--tamper', 'change the MachineInfo after signing (the signature no longer verifies)')
    .addOption(durationOption('--timeout <duration>', 'give up waiting for the answer after this long', 30_000, 100))
    .addOption(new Option('--format <format>', 'output format').choices(['text', 'json']).default('text'))
    .addHelpText('after', `
Exit codes: 0 enrolled, 3 refused (403), 4 OS update required (403 ${'com.apple.softwareupdate.required'}),
1 no answer, another status or an unreadable profile, 2 usage.
${examples([
  ['depctl sim ca create lab-ca', 'make a test device CA; the controller trusts lab-ca/root.pem'],
  ['depctl sim enroll --url http://127.0.0.1:8080/enroll/phones --serial F2LXK0TESTQ1 --ca lab-ca', 'enroll as an iPhone on iOS 17.4'],
  ['depctl sim enroll --url http://127.0.0.1:8080/enroll/phones --serial F2LXK0TESTQ1 --ca lab-ca --os 16.7 --build 20H19 --can-update', 'an older device that can update'],
])}`)
    .action(async (o: { url: string; serial: string; os?: string; build?: string; product?: string; udid?: string; language?: string; canUpdate?: boolean; ca?: string; tamper?: boolean; timeout: number; format: Format }) => {
      if (o.ca === undefined && o.format === 'text') io.stderr('note: no --ca, so the MachineInfo is signed by a throwaway CA that no controller trusts\n');
      let result: SimEnrollResult;
      try {
        result = await simEnroll({ ...o, timeoutMs: o.timeout, cwd: io.cwd });
      } catch (err) {
        if (err instanceof UsageError) throw err;
        const message = err instanceof TestCaError ? err.message : `no answer from ${o.url}: ${describeNetworkError(err)}`;
        if (o.format === 'json') io.stdout(`${JSON.stringify({ url: o.url, error: message }, null, 2)}\n`);
        io.stderr(`depctl: ${message}\n`);
        setExit(err instanceof TestCaError ? ENROLL_EXIT.usage : ENROLL_EXIT.error);
        return;
      }
      io.stdout(o.format === 'json' ? `${JSON.stringify(result, null, 2)}\n` : renderEnrollText(result));
      setExit(enrollExitCode(result.outcome));
    });

  sim
    .command('ca')
    .description('test device CAs for depctl sim enroll')
    .command('create')
    .description('create a test device CA (root and intermediate, like Apple Root CA and Apple iPhone Device CA) in DIR')
    .argument('<dir>', 'directory to write root.pem, intermediate.pem and their keys (0600) into')
    .option('--key-bits <n>', 'RSA key size', String(DEFAULT_KEY_BITS))
    .option('--force', 'replace a CA already in DIR')
    .action(async (dir: string, o: { keyBits: string; force?: boolean }) => {
      if (!/^\d+$/.test(o.keyBits) || Number(o.keyBits) < 2048 || Number(o.keyBits) > 8192) throw new UsageError(`--key-bits must be 2048 to 8192, got "${o.keyBits}"`);
      const target = path.resolve(io.cwd, dir);
      try {
        await writeTestCa(target, createTestDeviceCa({ keyBits: Number(o.keyBits) }), { overwrite: o.force === true });
      } catch (err) {
        if (!(err instanceof TestCaError)) throw err;
        io.stderr(`depctl: ${err.message} (use --force to replace it)\n`);
        setExit(ExitCode.failure);
        return;
      }
      const root = path.join(target, TEST_CA_FILES.rootCert);
      io.stdout(`wrote a test device CA to ${target}: ${TEST_CA_FILES.rootCert}, ${TEST_CA_FILES.intermediateCert} and their keys (0600)\n`);
      io.stdout(`  trust it in the controller: depctl run --enroll-ca ${root} …\n`);
      io.stdout(`  enroll with it: depctl sim enroll --ca ${dir} --url URL --serial SERIAL\n`);
      io.stdout('  it is for tests and labs only: never trust it on a production controller\n');
      setExit(ExitCode.ok);
    });
}

/** undici errors carry the useful part (ECONNREFUSED, a timeout) in `cause` or `code`. */
function describeNetworkError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = (err as { cause?: unknown }).cause;
  const code = (err as { code?: unknown }).code ?? (cause as { code?: unknown } | undefined)?.code;
  if (err.name === 'TimeoutError' || err.name === 'AbortError') return 'timed out';
  const detail = cause instanceof Error && cause.message !== err.message ? `${err.message} (${cause.message})` : err.message;
  return typeof code === 'string' && !detail.includes(code) ? `${code}: ${detail}` : detail;
}
