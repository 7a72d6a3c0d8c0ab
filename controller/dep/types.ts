/**
 * Apple DEP (mdmenrollment.apple.com) request and response shapes, as documented by Apple and as
 * observed in real responses (see shared/reference/dep-protocol.md sections 3 and 5). These types are
 * shared by the client (dep/) and the simulator (sim/); they hold no behaviour.
 */

/** The DEP protocol version we pin in `X-Server-Protocol-Version` (10 adds retry_after_seconds). */
export const DEP_PROTOCOL_VERSION = 10;

/** Apple's documented maximum of serials in one assign request; we use it for every batch. */
export const MAX_SERIALS_PER_REQUEST = 1000;

/** Maximum `limit` for fetch and sync (Apple's docs; real accounts advertise 5000, docs say 1000). */
export const MAX_FETCH_LIMIT = 1000;

/** Content type Apple's examples and every client send ("UTF8", no hyphen). */
export const DEP_CONTENT_TYPE = 'application/json;charset=UTF8';

/** Decrypted server token (the JSON inside Apple's `.p7m`). */
export interface ServerToken {
  consumer_key: string;
  consumer_secret: string;
  access_token: string;
  access_secret: string;
  /** RFC 3339 UTC, e.g. `2026-01-17T11:02:21Z`. */
  access_token_expiry: string;
}

/** `GET /session` response. */
export interface SessionResponse {
  auth_session_token: string;
}

/** One entry of `AccountDetail.urls`. */
export interface AccountUrl {
  uri: string;
  http_method: string[];
  limit?: { default: number; maximum: number };
}

/** `GET /account` response. */
export interface AccountDetail {
  server_name: string;
  server_uuid: string;
  admin_id: string;
  facilitator_id?: string;
  org_name: string;
  org_email: string;
  org_phone: string;
  org_address: string;
  org_id?: string;
  org_id_hash?: string;
  org_type?: 'edu' | 'org' | 'tvprovider' | string;
  org_version?: 'v1' | 'v2' | string;
  urls?: AccountUrl[];
}

/** Values of `Device.profile_status` (`""` has been seen in the wild). */
export type ProfileStatus = 'empty' | 'assigned' | 'pushed' | 'removed' | '';

/** Values of `Device.op_type` (sync only). */
export type OpType = 'added' | 'modified' | 'deleted';

/** Device families Apple reports (protocol v2+). */
export type DeviceFamily = 'iPad' | 'iPhone' | 'iPod' | 'Mac' | 'AppleTV' | 'Vision' | 'Watch';

/** Operating systems Apple reports (protocol v2+; `iPadOS` from v7). */
export type DeviceOs = 'iOS' | 'iPadOS' | 'OSX' | 'tvOS' | 'visionOS' | 'watchOS';

/** A device record from fetch, sync or details. Timestamps are ISO 8601 UTC with whole seconds. */
export interface Device {
  serial_number: string;
  model: string;
  description?: string;
  color?: string;
  asset_tag?: string;
  profile_status?: ProfileStatus;
  profile_uuid?: string;
  profile_assign_time?: string;
  profile_push_time?: string;
  device_assigned_date?: string;
  device_assigned_by?: string;
  os?: DeviceOs | string;
  device_family?: DeviceFamily | string;
  mdm_migration_deadline?: string;
  imei?: string[];
  meid?: string[];
  eid?: string;
  wifi_mac_address?: string;
  bluetooth_mac_address?: string;
  ethernet_mac_address?: string;
  is_replacement_device?: boolean;
  released_by_replacement?: boolean;
  /** Sync only. */
  op_type?: OpType;
  /** Sync only. */
  op_date?: string;
}

/** `POST /server/devices` and `POST /devices/sync` request. */
export interface FetchDeviceRequest {
  cursor?: string;
  limit?: number;
}

/** `POST /server/devices` and `POST /devices/sync` response. */
export interface FetchDeviceResponse {
  cursor: string;
  devices: Device[];
  fetched_until: string;
  more_to_follow: boolean;
}

/** Per-serial status of device details. */
export type DetailsStatus = 'SUCCESS' | 'NOT_ACCESSIBLE';

/** `POST /devices` response: each serial maps to a device plus its status, or only a status. */
export interface DeviceDetailsResponse {
  devices: Record<string, (Partial<Device> & { response_status: DetailsStatus | string })>;
}

/** Per-serial statuses of define, assign, remove and disown. */
export type AssignStatus = 'SUCCESS' | 'NOT_ACCESSIBLE' | 'FAILED' | 'THROTTLED';

/** Apple's SkipKeys (current, deprecated and removed ones; see config schema for which is which). */
export type SkipKey = string;

/**
 * A DEP enrollment profile as sent to `POST /profile` (Apple's Profile object). Optional strings are
 * sent only when they have a value: Apple rejects `""` with `*_INVALID`.
 */
export interface Profile {
  profile_name: string;
  url: string;
  allow_pairing?: boolean;
  is_supervised?: boolean;
  is_multi_user?: boolean;
  is_mandatory?: boolean;
  await_device_configured?: boolean;
  is_mdm_removable?: boolean;
  support_phone_number?: string;
  support_email_address?: string;
  org_magic?: string;
  anchor_certs?: string[];
  supervising_host_certs?: string[];
  skip_setup_items?: SkipKey[];
  department?: string;
  language?: string;
  region?: string;
  configuration_web_url?: string;
  auto_advance_setup?: boolean;
  do_not_use_profile_from_backup?: boolean;
  is_return_to_service?: boolean;
  devices?: string[];
}

/** `POST /profile` response. */
export interface DefineProfileResponse {
  profile_uuid: string;
  devices?: Record<string, AssignStatus | string>;
}

/**
 * `GET /profile?profile_uuid=` response as sent on the wire: the Profile plus `profile_uuid`.
 * Booleans may arrive with or without the `is_` prefix (dep-protocol.md §3 "Field-name caution").
 */
export type FetchProfileWireResponse = Omit<Profile, 'devices'> & {
  profile_uuid: string;
  supervised?: boolean;
  mandatory?: boolean;
  mdm_removable?: boolean;
  multi_user?: boolean;
  return_to_service?: boolean;
};

/** `POST|PUT /profile/devices` request. */
export interface AssignProfileRequest {
  profile_uuid: string;
  devices: string[];
}

/** `POST|PUT /profile/devices` response. `retry_after_seconds` appears when a serial is THROTTLED. */
export interface AssignProfileResponse {
  profile_uuid: string;
  devices: Record<string, AssignStatus | string>;
  retry_after_seconds?: number;
}

/** `DELETE /profile/devices` request (a JSON body on DELETE). */
export interface RemoveProfileRequest {
  devices: string[];
  profile_uuid?: string;
}

/** `DELETE /profile/devices` and `POST /devices/disown` response. */
export interface SerialStatusResponse {
  devices: Record<string, AssignStatus | string>;
}

/** Error codes Apple returns in plain-text (or, from depsim, quoted-JSON) bodies. */
export const DEP_ERROR_CODES = [
  'MALFORMED_REQUEST_BODY',
  'CURSOR_REQUIRED',
  'INVALID_CURSOR',
  'EXHAUSTED_CURSOR',
  'EXPIRED_CURSOR',
  'DEVICE_ID_REQUIRED',
  'PROFILE_UUID_REQUIRED',
  'PROFILE_NOT_FOUND',
  'DEVICE_NOT_FOUND',
  'NOT_FOUND',
  'CONFIG_NAME_REQUIRED',
  'CONFIG_NAME_INVALID',
  'CONFIG_URL_REQUIRED',
  'CONFIG_URL_INVALID',
  'DEPARTMENT_INVALID',
  'DESCRIPTION_INVALID',
  'FLAGS_INVALID',
  'LOCALE_INVALID',
  'MAGIC_INVALID',
  'SUPPORT_EMAIL_INVALID',
  'SUPPORT_PHONE_INVALID',
  'USER_AGENT_INVALID',
  'USER_AGENT_MISSING',
  'ORG_NOT_SUPPORTED',
  'UNAUTHORIZED',
  'FORBIDDEN',
  'ACCESS_DENIED',
  'T_C_NOT_SIGNED',
  'token_rejected',
  'signature_invalid',
  'token_expiredUnauthorized',
] as const;

/** One of Apple's known error codes. */
export type DepErrorCode = (typeof DEP_ERROR_CODES)[number];
