/**
 * Conversions shared by the SQL backends: the typed device columns derived from Apple's record, and
 * time values. Only what is queried becomes a column; the full record is kept as JSON so no DEP
 * field (including ones Apple adds later) is lost.
 */
import type { Device } from '../dep/types.js';
import { parseInstant } from '../util/instant.js';
import type { DeviceFilter, ServerUpdate } from './ports.js';
import type { EnrollmentAttemptRecord, EnrollmentOutcome } from '../enroll/ports.js';
import type { ActivityRecord, ActivitySerialResult } from '../ownership/ports.js';

/** The typed columns of a device row, derived from Apple's record. */
export interface DeviceColumns {
  serial: string;
  profileUuid: string | null;
  profileStatus: string | null;
  deviceFamily: string | null;
  os: string | null;
  model: string | null;
  /** `op_date` (sync only) in epoch milliseconds, or null when absent or unparseable. */
  opDate: number | null;
  /** `mdm_migration_deadline` (protocol 8) in epoch milliseconds, or null (epochMs). */
  migrationDeadline: number | null;
}

/**
 * The earliest instant every backend holds: PostgreSQL's timestamptz starts on 24 November 4714 BC. JavaScript
 * parses dates back to the year -271821, and one such value in a batch made PostgreSQL refuse the whole upsert.
 */
const EARLIEST_MS = Date.UTC(-4713, 10, 24);

/**
 * An Apple timestamp in epoch milliseconds, or null when absent, unparseable, or earlier than any backend holds
 * (EARLIEST_MS; the record keeps Apple's text either way). The latest JavaScript date is within every backend's range.
 */
export function epochMs(value: string | undefined): number | null {
  const ms = typeof value === 'string' ? parseInstant(value) : Number.NaN;
  return Number.isNaN(ms) || ms < EARLIEST_MS ? null : ms;
}

/** Extracts the typed columns from a device record (values verbatim, times parsed). */
export function deviceColumns(device: Device): DeviceColumns {
  return {
    serial: device.serial_number,
    profileUuid: device.profile_uuid ?? null,
    profileStatus: device.profile_status ?? null,
    deviceFamily: device.device_family ?? null,
    os: device.os ?? null,
    model: device.model ?? null,
    opDate: epochMs(device.op_date),
    migrationDeadline: epochMs(device.mdm_migration_deadline),
  };
}

/** A profile column as the device reads now: device_state's when a later sync event put it there (migration 8). */
const effective = (column: 'profile_uuid' | 'profile_status'): string =>
  `(CASE WHEN s.profile_at >= d.observed_at THEN s.${column} ELSE d.${column} END)`;

/** The SQL of each `DeviceFilter` key over JOINED (identical in both SQL dialects). */
export const FILTER_SQL = {
  profileUuid: effective('profile_uuid'),
  profileStatus: effective('profile_status'),
  deviceFamily: 'd.device_family',
  os: 'd.os',
  model: 'd.model',
} as const satisfies Record<keyof DeviceFilter, string>;

/** Devices with their state: the FROM of every read that needs device_state (both SQL dialects). */
export const JOINED = 'devices d LEFT JOIN device_state s ON s.server = d.server AND s.serial = d.serial';

/**
 * WHERE fragments (each starting ` AND `) and parameters for a filter over JOINED (`null` means IS NULL), with
 * the dialect's placeholder for the n-th parameter (0-based); `state` says whether device_state is read.
 */
export function filterClauses(filter: DeviceFilter | undefined, placeholder: (n: number) => string): { sql: string; params: string[]; state: boolean } {
  let sql = '';
  let state = false;
  const params: string[] = [];
  if (!filter) return { sql, params, state };
  for (const key of Object.keys(FILTER_SQL) as Array<keyof DeviceFilter>) {
    const value = filter[key];
    if (value === undefined) continue;
    const expr = FILTER_SQL[key];
    if (expr.includes('s.')) state = true;
    if (value === null) sql += ` AND ${expr} IS NULL`;
    else {
      sql += ` AND ${expr} = ${placeholder(params.length)}`;
      params.push(value);
    }
  }
  return { sql, params, state };
}

/** True when a device matches every given filter (the memory backend's version of the SQL). */
export function matchesFilter(columns: DeviceColumns, filter: DeviceFilter | undefined): boolean {
  if (!filter) return true;
  const checks: Array<[string | null | undefined, string | null]> = [
    [filter.profileUuid, columns.profileUuid],
    [filter.profileStatus, columns.profileStatus],
    [filter.deviceFamily, columns.deviceFamily],
    [filter.os, columns.os],
    [filter.model, columns.model],
  ];
  return checks.every(([want, have]) => want === undefined || want === have);
}

/**
 * The state columns of a device as both SQL stores' reads for the differ select them, in this order (times in
 * epoch milliseconds; attempts 0 without a state row).
 */
export type StateColumns = [
  desiredProfile: string | null,
  resultStatus: string | null,
  resultAt: number | null,
  resultAppleStatus: string | null,
  retryNotBefore: number | null,
  arrivedAt: number | null,
  attempts: number,
];

/** A Date as epoch milliseconds, keeping null. */
export function toMs(date: Date | null | undefined): number | null {
  return date ? date.getTime() : null;
}

/** Epoch milliseconds (SQLite stores INTEGER) as a Date, keeping null. */
export function fromMs(ms: number | bigint | null | undefined): Date | null {
  return ms === null || ms === undefined ? null : new Date(Number(ms));
}

/** Page size used by `iterateDevices` when the caller gives none. */
export const DEFAULT_PAGE_SIZE = 5000;

/**
 * Keeps the last entry per serial, in first-seen order. Every backend applies this to per-serial
 * writes so counts agree and PostgreSQL never touches one row twice in a statement.
 */
export function lastBySerial<T extends { serial: string }>(items: readonly T[]): T[] {
  const last = new Map<string, T>();
  for (const item of items) last.set(item.serial, item);
  return items.length === last.size ? [...items] : [...last.values()];
}

/**
 * The devices to write, one per serial (the last occurrence wins: sync may list a device twice),
 * in serial byte order so bulk writes walk the primary-key index forward rather than jumping
 * around it (Apple lists devices by operation time, i.e. in random serial order).
 */
export function uniqueBySerialSorted(devices: readonly Device[]): Device[] {
  const last = new Map<string, Device>();
  for (const d of devices) last.set(d.serial_number, d);
  return [...last.values()].sort((a, b) => (a.serial_number < b.serial_number ? -1 : a.serial_number > b.serial_number ? 1 : 0));
}

/** ServerUpdate fields and their columns, the same in both dialects (SQLite keeps times as epoch milliseconds). */
export const SERVER_FIELDS = [
  ['tokenFingerprint', 'token_fingerprint'],
  ['tokenExpiresAt', 'token_expires_at'],
  ['serverUuid', 'server_uuid'],
  ['appleServerName', 'apple_server_name'],
  ['orgName', 'org_name'],
  ['orgType', 'org_type'],
  ['orgId', 'org_id'],
  ['identityCheckedAt', 'identity_checked_at'],
] as const satisfies ReadonlyArray<readonly [Exclude<keyof ServerUpdate, 'at'>, string]>;

/** An enrollment_attempts row as either SQL store reads it (bigint ids come back as text on PostgreSQL, times as epoch ms on SQLite). */
export interface EnrollmentAttemptRow {
  id: number | string;
  at: number | Date;
  profile: string;
  serial: string | null;
  server: string | null;
  outcome: EnrollmentOutcome;
  reason: string;
  product: string | null;
  os_version: string | null;
  build: string | null;
}

/** The record of an enrollment_attempts row. */
export function attemptFromRow(r: EnrollmentAttemptRow): EnrollmentAttemptRecord {
  return {
    id: Number(r.id),
    at: new Date(r.at),
    profile: r.profile,
    serial: r.serial,
    server: r.server,
    outcome: r.outcome,
    reason: r.reason,
    product: r.product,
    osVersion: r.os_version,
    build: r.build,
  };
}

/**
 * The fields of Apple's record that change when a profile is assigned or removed, and with every sync event
 * (`op_type`, `op_date`). The SQL stores keep them apart from the rest of the record, so that the sync echo
 * of an apply (the same devices again, only these fields new) is written to the narrow `device_state` row
 * and not to the wide row of Apple's record (issue 11). Only string values are split off; anything else
 * stays in the record, so reading a device back gives Apple's record whole.
 */
export const PROFILE_FIELDS = ['profile_uuid', 'profile_status', 'profile_assign_time', 'profile_push_time', 'op_type', 'op_date'] as const;

/**
 * The fields of Apple's record that typed columns of the devices row hold verbatim (deviceColumns): their string
 * values are left out of the stored record and put back when it is read (joinRecord), a quarter fewer bytes per
 * record to write, compare and parse (issue 11). Rows stored before (schema version 9 and older) still carry
 * them; reads take the record's own value first, so both read the same.
 */
export const COLUMN_FIELDS = ['serial_number', 'device_family', 'os', 'model'] as const;

/** A record split for storage: the rest of the record, and its string-valued profile fields. */
export interface SplitRecord {
  rest: Record<string, unknown>;
  profile: Record<string, string>;
}

/** Where splitRecord puts a string value of each split-off field: 1 the profile fields, 2 the typed columns. */
const SPLIT_KIND = new Map<string, 1 | 2>([...PROFILE_FIELDS.map((k) => [k, 1] as const), ...COLUMN_FIELDS.map((k) => [k, 2] as const)]);

/**
 * Splits Apple's record for storage (see PROFILE_FIELDS and COLUMN_FIELDS). One map look-up per key instead of an
 * entry array and two list searches: 0.57–0.66 s of CPU for a million records against 0.67–0.88 s
 * (`.scratch/split-only.mjs`).
 */
export function splitRecord(device: Device): SplitRecord {
  const rest: Record<string, unknown> = {};
  const profile: Record<string, string> = {};
  const record = device as unknown as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    const value = record[key];
    if (typeof value !== 'string') {
      rest[key] = value;
      continue;
    }
    const kind = SPLIT_KIND.get(key);
    if (kind === 1) profile[key] = value;
    else if (kind === undefined) rest[key] = value;
  }
  return { rest, profile };
}

/** The typed columns a stored record is joined with (COLUMN_FIELDS), as the devices row holds them. */
export interface RecordColumns {
  serial: string;
  deviceFamily: string | null;
  os: string | null;
  model: string | null;
}

/**
 * Joins a stored record back: the COLUMN_FIELDS from the typed columns where the stored record lacks them, then
 * the profile fields (key order is not kept).
 */
export function joinRecord(rest: Record<string, unknown>, profile: Record<string, unknown> | null, columns: RecordColumns): Device {
  if (!('serial_number' in rest)) rest['serial_number'] = columns.serial;
  if (columns.deviceFamily !== null && !('device_family' in rest)) rest['device_family'] = columns.deviceFamily;
  if (columns.os !== null && !('os' in rest)) rest['os'] = columns.os;
  if (columns.model !== null && !('model' in rest)) rest['model'] = columns.model;
  return (profile ? Object.assign(rest, profile) : rest) as unknown as Device;
}

/**
 * An abm_activities row as either SQL store reads it (migration 9): SQLite gives JSON as text and times as epoch
 * milliseconds, PostgreSQL parsed JSON and Dates.
 */
export interface ActivityRow {
  organization: string;
  activity_id: string;
  type: string;
  server_id: string;
  server_name: string;
  serials: string | string[];
  status: string;
  sub_status: string | null;
  created_at: number | Date;
  updated_at: number | Date;
  completed_at: number | Date | null;
  results: string | ActivitySerialResult[] | null;
}

/** The record of an abm_activities row. */
export function activityFromRow(r: ActivityRow): ActivityRecord {
  return {
    organization: r.organization,
    activityId: r.activity_id,
    type: r.type,
    serverId: r.server_id,
    serverName: r.server_name,
    serials: typeof r.serials === 'string' ? (JSON.parse(r.serials) as string[]) : r.serials,
    status: r.status,
    subStatus: r.sub_status,
    createdAt: new Date(r.created_at),
    updatedAt: new Date(r.updated_at),
    completedAt: r.completed_at === null ? null : new Date(r.completed_at),
    results: typeof r.results === 'string' ? (JSON.parse(r.results) as ActivitySerialResult[]) : r.results,
  };
}
