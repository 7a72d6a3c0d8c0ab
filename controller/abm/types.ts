/**
 * Types and constants of Apple's Business / School API (dep-protocol.md section 7): the JSON:API
 * resources depctl reads (OrgDevice, MdmServer, OrgDeviceActivity), the activity statuses, and the
 * limits the client enforces.
 */

/** Apple Business Manager or Apple School Manager. */
export type AbmScope = 'business' | 'school';

/** API base URLs per scope (the `/v1` is part of the base). */
export const ABM_API_URLS: Readonly<Record<AbmScope, string>> = {
  business: 'https://api-business.apple.com/v1',
  school: 'https://api-school.apple.com/v1',
};

/** OAuth `scope` parameter per scope. */
export const ABM_OAUTH_SCOPES: Readonly<Record<AbmScope, string>> = {
  business: 'business.api',
  school: 'school.api',
};

/** Where the token request goes (Apple's documented URL; the `/v2/` one works too). */
export const ABM_TOKEN_URL = 'https://account.apple.com/auth/oauth2/token';

/** The `aud` claim of every client assertion: always this, whatever URL the token request goes to. */
export const ABM_ASSERTION_AUDIENCE = 'https://account.apple.com/auth/oauth2/v2/token';

/** Apple's ceiling on an assertion's lifetime (`exp` at most 180 days after `iat`). */
export const ABM_MAX_ASSERTION_LIFETIME_SEC = 180 * 86_400;

/** Largest `limit` of a list call (`orgDevices`, `mdmServers/{id}/relationships/devices`). */
export const ABM_MAX_PAGE_LIMIT = 1000;

/**
 * Most devices depctl puts in one `orgDeviceActivities` POST. Apple documents no number for the
 * Business API; 1000 is the DEP API's documented per-request assign limit (dep-protocol.md section 4)
 * and the API's own page limit, so a batch of 1000 is one Apple already accepts on its older endpoint
 * and matches one page of `orgDevices`. Larger lists go out as several activities.
 */
export const ABM_MAX_ACTIVITY_DEVICES = 1000;

/** Activity types this client creates. Migration deadlines and RELEASE_DEVICES are not offered. */
export type AbmActivityType = 'ASSIGN_DEVICES' | 'UNASSIGN_DEVICES';
export const ABM_ACTIVITY_TYPES: readonly AbmActivityType[] = ['ASSIGN_DEVICES', 'UNASSIGN_DEVICES'];

/** Top-level activity status. */
export type AbmActivityStatus = 'IN_PROGRESS' | 'COMPLETED' | 'STOPPED' | 'FAILED';
export const ABM_ACTIVITY_STATUSES: readonly AbmActivityStatus[] = ['IN_PROGRESS', 'COMPLETED', 'STOPPED', 'FAILED'];

/** Apple's activity sub-statuses, in the order an activity moves through them. */
export const ABM_ACTIVITY_SUB_STATUSES = [
  'SUBMITTED',
  'PRE_PROCESSING',
  'PENDING',
  'PROCESSING',
  'POST_PROCESSING',
  'STOPPING',
  'COMPLETED_WITH_SUCCESS',
  'COMPLETED_WITH_ERROR',
  'COMPLETED_WITH_FAILURE',
  'COMPLETED_POST_PROCESSING_FAILED',
] as const;
export type AbmActivitySubStatus = (typeof ABM_ACTIVITY_SUB_STATUSES)[number];

/** One device of the organisation (`orgDevices`); `id` is the serial number in Apple's examples. */
export interface OrgDevice {
  id: string;
  serialNumber: string;
  deviceModel?: string;
  productFamily?: string;
  productType?: string;
  deviceCapacity?: string;
  partNumber?: string;
  color?: string;
  orderNumber?: string;
  orderDateTime?: string;
  purchaseSourceId?: string;
  purchaseSourceType?: string;
  addedToOrgDateTime?: string;
  releasedFromOrgDateTime?: string;
  updatedDateTime?: string;
  /** `ASSIGNED` or `UNASSIGNED` (to an MDM server). */
  status?: string;
  /** Always lists: Apple's examples send arrays, older schemas strings; both are read. */
  imei: string[];
  meid: string[];
  eid?: string;
  wifiMacAddress?: string;
  bluetoothMacAddress?: string;
  ethernetMacAddress?: string;
  /** Every attribute as Apple sent it, including ones this type does not name. */
  attributes: Record<string, unknown>;
}

/** One device management service (`mdmServers`). */
export interface MdmServer {
  id: string;
  serverName: string;
  /** `MDM`, `APPLE_CONFIGURATOR` or `APPLE_MDM`. */
  serverType?: string;
  createdDateTime?: string;
  updatedDateTime?: string;
  /** From API 2.1: `ACTIVE`, `INACTIVE` or `DELETED`. */
  status?: string;
  deviceCount?: number;
  enableMdmDisownFlag?: boolean;
  defaultProductFamilies?: string[];
  attributes: Record<string, unknown>;
}

/** An asynchronous assignment job (`orgDeviceActivities`). */
export interface OrgDeviceActivity {
  id: string;
  status: AbmActivityStatus;
  subStatus: string;
  createdDateTime?: string;
  completedDateTime?: string;
  /** Presigned CSV with one result per serial, once completed. */
  downloadUrl?: string;
  attributes: Record<string, unknown>;
}

/** One row of an activity's result CSV. */
export interface ActivityDeviceResult {
  serial: string;
  /** Apple's per-serial status as written in the CSV (e.g. `SUCCESS`, `FAILED`). */
  status: string;
  /** An error or explanation column, when the row has one. */
  message?: string;
}

/** Fields of a new MDM server (API 2.1+). */
export interface MdmServerCreate {
  serverName: string;
  /** The MDM server's public certificate, as Apple asks: a name and the base64 DER/PEM data. */
  serverCertificate: { name: string; data: string };
  enableMdmDisownFlag?: boolean;
}

/** Fields that can be changed on an MDM server (API 2.1+). */
export interface MdmServerUpdate {
  serverName?: string;
  serverCertificate?: { name: string; data: string };
  enableMdmDisownFlag?: boolean;
}

/** One entry of Apple's JSON:API `errors` list. */
export interface AbmApiErrorEntry {
  id?: string;
  status?: string;
  /** Dotted and hierarchical, e.g. `ENTITY_ERROR.ATTRIBUTE.INVALID`. */
  code?: string;
  title?: string;
  detail?: string;
  source?: { pointer?: string; parameter?: string };
}
