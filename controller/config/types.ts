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
  /** Device ownership in Apple Business/School Manager (issue 15); absent when the server names no organization. */
  ownership?: ServerOwnership;
}

/**
 * What an MdmServer declares about itself in Apple Business/School Manager (`spec.organization`,
 * `abmServerName`, `enableMdmDisownFlag`, `devices`), after validation. Which server a device belongs to is
 * decided by precedence: an explicit serial, then an order number, then a product family (ownership.ts).
 */
export interface ServerOwnership {
  /** The Organization's metadata.name. */
  organization: string;
  /** The server's name in Apple Business/School Manager (the API's serverName): abmServerName or metadata.name. */
  abmServerName: string;
  /** Kept in line on the Apple side when given; left alone when absent. */
  enableMdmDisownFlag?: boolean;
  /** Serials from `devices.serials` and `devices.serialFiles`, normalised (upper case) and de-duplicated. */
  serials: string[];
  /** `devices.orderNumbers`, upper case, de-duplicated. */
  orderNumbers: string[];
  /** `devices.productFamilies` (Business API names). */
  productFamilies: AbmProductFamily[];
  /** Where `spec.organization` is written (messages about this server's ownership point here). */
  source: SourceLoc;
}

/** Product families as the Business/School API names them (OrgDevice `productFamily`, dep-protocol.md §7). */
export const ABM_PRODUCT_FAMILIES = ['iPhone', 'iPad', 'Mac', 'AppleTV', 'Watch', 'Vision'] as const;

/** One of ABM_PRODUCT_FAMILIES. */
export type AbmProductFamily = (typeof ABM_PRODUCT_FAMILIES)[number];

/** `business` (Apple Business Manager) or `school` (Apple School Manager). */
export type OrganizationScope = 'business' | 'school';

/** `kind: Organization` after validation (schemas/organization.schema.json), with defaults applied. */
export interface Organization {
  name: string;
  scope: OrganizationScope;
  /** `BUSINESSAPI.<uuid>` or `SCHOOLAPI.<uuid>` (public, as the portal shows it). */
  clientId: string;
  keyId: string;
  /** The API account's EC P-256 private key. */
  privateKey: SecretRef;
  /** API base including `/v1`, as controller/abm's client takes it (default Apple's for the scope). */
  apiUrl: string;
  /** OAuth token endpoint (default Apple's). */
  tokenUrl: string;
  /** Guardrail on device moves in one plan (like MdmServer.maxChanges). */
  maxChanges?: number;
  driftPolicy: DriftPolicy;
  /** Devices that no server of this organization claims: left alone, or reported. */
  unclaimedDevices: 'ignore' | 'report' | 'unassign';
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
  /** How depctl serves this profile's `url` (issue 14); absent when the url is the admin's own server. */
  enroll?: ProfileEnrollment;
}

/** The enrollment side of a profile (`spec.enrollment`, `spec.minimumOS`, `url: { enrollment }`). */
export interface ProfileEnrollment {
  /** The Enrollment that serves POST /enroll/<profile name>. */
  enrollment: string;
  /** Oldest OS per platform; absent platforms have no minimum. */
  minimumOS: Partial<Record<EnrollPlatform, MinimumVersion>>;
  /** A device below the minimum that cannot be asked to update: refused, or enrolled anyway. */
  olderThanMinimum: 'refuse' | 'enroll';
  /**
   * True when `url` was written `{ enrollment: NAME }` and no public URL was given: `profile.url` then holds a
   * placeholder that must never reach Apple (plan, apply and run refuse such a config).
   */
  urlUnresolved: boolean;
}

/** Platforms of `minimumOS`. */
export const ENROLL_PLATFORMS = ['iOS', 'macOS', 'tvOS', 'visionOS'] as const;
/** One of ENROLL_PLATFORMS. */
export type EnrollPlatform = (typeof ENROLL_PLATFORMS)[number];

/** A minimum OS: a version and optionally the build Apple's softwareupdate.required names. */
export interface MinimumVersion {
  version: string;
  build?: string;
}

/** `kind: Enrollment` after validation (schemas/enrollment.schema.json), with defaults applied. */
export interface Enrollment {
  name: string;
  mdm: {
    serverUrl: string;
    checkInUrl?: string;
    topic: string;
    accessRights: number;
    signMessage: boolean;
    checkOutWhenRemoved: boolean;
    serverCapabilities: string[];
  };
  scep?: {
    url: string;
    challenge?: SecretRef;
    name?: string;
    subject?: Record<string, string>[];
    keySize: number;
    keyUsage: number;
    caFingerprint?: string;
  };
  acme?: {
    directoryUrl: string;
    clientIdentifier: SecretRef;
    keyType: 'RSA' | 'ECSECPrimeRandom';
    keySize: number;
    hardwareBound: boolean;
    attest: boolean;
    subject?: Record<string, string>[];
  };
  /** Absolute paths of the anchor certificate files (public; checked to be PEM certificates when loading). */
  anchorCertificates: string[];
  signing?: { certificate: SecretRef; key: SecretRef };
  payload: { displayName?: string; organization?: string; description?: string; identifier?: string };
  unknownSerials: 'refuse' | 'allow';
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
  /** `kind: Enrollment` documents (issue 14); absent or empty when depctl serves no enrollment. */
  enrollments?: Enrollment[];
  /** `kind: Organization` documents (issue 15); absent or empty when depctl manages no device ownership. */
  organizations?: Organization[];
}
