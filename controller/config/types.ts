import type { Profile } from '../dep/types.js';
import type { SourceLoc } from './problems.js';
import type { CredentialDecl } from '../credentials/types.js';

/** Where a secret is read from (schemas/common.schema.json#/$defs/SecretRef). */
export type SecretRef = { file: string } | { env: string };

/** What happens to devices that no Assignment names. */
export type UnassignedDevices = 'ignore' | 'default' | 'remove';

/**
 * The device families DEP reports in a device's `device_family` (dep-protocol.md §5, protocol v2+), the keys
 * of `MdmServer.spec.defaultProfiles`. `Watch` is not among them: Apple Watch is not enrolled through DEP.
 */
export const DEP_DEVICE_FAMILIES = ['Mac', 'iPad', 'iPhone', 'iPod', 'AppleTV', 'Vision'] as const;

/** One of DEP_DEVICE_FAMILIES. */
export type DepDeviceFamily = (typeof DEP_DEVICE_FAMILIES)[number];

/** Whether drift is corrected on apply or only reported. */
export type DriftPolicy = 'correct' | 'report';

/** `kind: MdmServer` after validation, with defaults applied. */
export interface MdmServer {
  name: string;
  token: SecretRef;
  privateKey: SecretRef;
  /** Explicit depUrl from the config, if any (DEPCTL_DEP_URL and the default apply at the edges). */
  depUrl?: string;
  /** Catch-all profile for unassigned devices whose family has no entry in defaultProfiles. */
  defaultProfile?: string;
  /** Profile per device family for unassigned devices (used before defaultProfile). */
  defaultProfiles?: Partial<Record<DepDeviceFamily, string>>;
  unassignedDevices: UnassignedDevices;
  maxChanges?: number;
  driftPolicy: DriftPolicy;
  source: SourceLoc;
}

/** The profile body without `devices` (assignments carry the serials). */
export type ProfileBody = Omit<Profile, 'devices'>;

/** `kind: EnrollmentProfile` after validation. */
export interface EnrollmentProfile {
  name: string;
  servers: string[];
  profile: ProfileBody;
  source: SourceLoc;
}

/** Selector of `Assignment.spec.match` (every given attribute must match one listed value). */
export interface Match {
  device_family?: string[];
  os?: string[];
  model?: string[];
  description?: string[];
  color?: string[];
  serialPrefix?: string[];
}

/** `kind: Assignment` after validation: serials from `serials` and `serialFiles`, normalised and de-duplicated. */
export interface Assignment {
  name: string;
  profile: string;
  /** The servers this assignment applies to (explicit, or all of the profile's servers). */
  servers: string[];
  serials: string[];
  match?: Match;
  priority: number;
  source: SourceLoc;
}

/** A whole config repository after loading and validation. */
export interface DepConfig {
  /** The config directory (absolute). */
  dir: string;
  servers: MdmServer[];
  profiles: EnrollmentProfile[];
  assignments: Assignment[];
  /** `kind: Credential` documents (issue 16): APNs and Apps and Books credentials watched for expiry. */
  credentials?: CredentialDecl[];
}
