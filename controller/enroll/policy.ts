/**
 * Who gets an enrollment profile: a pure decision over a verified MachineInfo, what the store says about the
 * serial, and the profile's minimum OS (issue 14 parts 2 and 3). No I/O: the endpoint gathers the facts.
 */
import type { EnrollPlatform, MinimumVersion, ProfileEnrollment } from '../config/types.js';
import type { MachineInfo } from './machine-info.js';
import type { EnrollmentOutcome } from './ports.js';

/** What the store and the config say about the serial. */
export type SerialStanding =
  /** Desired for this profile on `server` (by an Assignment, a default, or Apple's current assignment). */
  | { kind: 'desired'; server: string }
  /** Held by `server` but desired for another profile (or none): `desired` names it when known. */
  | { kind: 'other-profile'; server: string; desired: string | null }
  /** No MdmServer holds the serial in the store. */
  | { kind: 'unknown' };

/** The facts a decision is made on. */
export interface PolicyInput {
  info: MachineInfo;
  profile: string;
  enroll: ProfileEnrollment;
  unknownSerials: 'refuse' | 'allow';
  standing: SerialStanding;
}

/** Apple's softwareupdate.required error body (`mdm/errors/softwareupdate.required.yaml`). */
export interface SoftwareUpdateRequired {
  code: 'com.apple.softwareupdate.required';
  description: string;
  details: { OSVersion: string; BuildVersion?: string };
}

/** The decision, with a fixed reason code and a sentence for the log. */
export interface PolicyDecision {
  outcome: Exclude<EnrollmentOutcome, 'bad-request'>;
  reason: string;
  message: string;
  /** The server that holds the serial, when one does. */
  server: string | null;
  /** Set when the answer is Apple's 403 softwareupdate.required. */
  updateRequired?: SoftwareUpdateRequired;
}

/** The platform of a MachineInfo PRODUCT (iPhone15,2, iPad13,1, Mac14,2, AppleTV14,1, RealityDevice14,1). */
export function platformOf(product: string): EnrollPlatform | undefined {
  if (/^(iPhone|iPad|iPod)/.test(product)) return 'iOS';
  if (/^(Mac|iMac|MacBook)/.test(product)) return 'macOS';
  if (/^AppleTV/.test(product)) return 'tvOS';
  if (/^RealityDevice/.test(product)) return 'visionOS';
  return undefined;
}

/** Compares dotted versions numerically (`17.4` < `17.10`; missing parts are 0). */
export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return Math.sign(d);
  }
  return 0;
}

/**
 * Compares Apple build numbers (`21E236` < `21E258` < `21F79`): major number, letter, number, then the
 * optional lower-case suffix. Undefined when either is not of that shape.
 */
export function compareBuilds(a: string, b: string): number | undefined {
  const re = /^(\d+)([A-Z])(\d+)([a-z]?)$/;
  const ma = re.exec(a);
  const mb = re.exec(b);
  if (!ma || !mb) return undefined;
  const keys = (m: RegExpExecArray): (number | string)[] => [Number(m[1]), m[2] ?? '', Number(m[3]), m[4] ?? ''];
  const ka = keys(ma);
  const kb = keys(mb);
  for (let i = 0; i < ka.length; i++) {
    const x = ka[i] as number | string;
    const y = kb[i] as number | string;
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

/** Whether the device is below the minimum, and why (undefined when it is not). */
export function belowMinimum(info: MachineInfo, min: MinimumVersion): string | undefined {
  // OS_VERSION is sent from iOS 17 and macOS 14 on; a device that does not send it is older than any minimum
  // a current profile would declare, and cannot be asked to update either.
  if (info.OS_VERSION === undefined) return `the device did not report OS_VERSION (older than iOS 17 / macOS 14); minimum ${min.version}`;
  const c = compareVersions(info.OS_VERSION, min.version);
  if (c < 0) return `OS ${info.OS_VERSION} is older than the minimum ${min.version}`;
  if (c === 0 && min.build !== undefined && compareBuilds(info.VERSION, min.build) === -1) {
    return `build ${info.VERSION} is older than the minimum build ${min.build}`;
  }
  return undefined;
}

/** Decides the answer to one verified enrollment request. */
export function decide(input: PolicyInput): PolicyDecision {
  const { info, profile, enroll, standing } = input;
  const serial = info.SERIAL;
  let server: string | null = null;
  if (standing.kind === 'unknown') {
    if (input.unknownSerials === 'refuse') {
      return { outcome: 'refused', reason: 'unknown-serial', server: null, message: `serial ${serial} is on no MdmServer in the store (unknownSerials: refuse)` };
    }
  } else if (standing.kind === 'other-profile') {
    const desired = standing.desired === null ? 'no profile' : `profile "${standing.desired}"`;
    return { outcome: 'refused', reason: 'wrong-profile', server: standing.server, message: `serial ${serial} on server "${standing.server}" is desired for ${desired}, not "${profile}"` };
  } else {
    server = standing.server;
  }
  const platform = platformOf(info.PRODUCT);
  const min = platform === undefined ? undefined : enroll.minimumOS[platform];
  const tooOld = min === undefined ? undefined : belowMinimum(info, min);
  const unknownNote = standing.kind === 'unknown' ? ' (serial on no server; unknownSerials: allow)' : '';
  if (min !== undefined && tooOld !== undefined) {
    if (info.MDM_CAN_REQUEST_SOFTWARE_UPDATE === true) {
      const details: SoftwareUpdateRequired['details'] = { OSVersion: min.version };
      if (min.build !== undefined) details.BuildVersion = min.build;
      return {
        outcome: 'held-for-update',
        reason: 'os-update-required',
        server,
        message: `${tooOld}; asked the device to update first (softwareupdate.required)${unknownNote}`,
        updateRequired: { code: 'com.apple.softwareupdate.required', description: `Update to ${platform ?? 'the OS'} ${min.version}${min.build ? ` (${min.build})` : ''} or later to enroll.`, details },
      };
    }
    if (enroll.olderThanMinimum === 'refuse') {
      return { outcome: 'refused', reason: 'os-too-old', server, message: `${tooOld}, and the device cannot be asked to update (olderThanMinimum: refuse)` };
    }
    return { outcome: 'enrolled', reason: 'enrolled-below-minimum', server, message: `${tooOld}; enrolled anyway (olderThanMinimum: enroll)${unknownNote}` };
  }
  return { outcome: 'enrolled', reason: standing.kind === 'unknown' ? 'enrolled-unknown-serial' : 'enrolled', server, message: `serial ${serial} enrolled${unknownNote}` };
}
