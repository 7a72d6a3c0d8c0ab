/**
 * Shape checks of the Business API's JSON:API documents. The transport parses JSON; these make sure what
 * depctl reads is there with the type it expects, so a truncated, changed or hostile body is an
 * `AbmProtocolError` naming the field. Lenient where Apple varies (unknown attributes pass through,
 * `imei`/`meid` as a list or a string); strict on what depctl keys on (ids, serials, statuses, cursors).
 */
import { describeJson, isJsonObject } from '../util/json-shape.js';
import { AbmProtocolError } from './errors.js';
import { ABM_ACTIVITY_STATUSES, type AbmActivityStatus, type MdmServer, type OrgDevice, type OrgDeviceActivity } from './types.js';

type Json = Record<string, unknown>;

const isObject = isJsonObject;

function fail(endpoint: string, field: string, expected: string, got: unknown): never {
  throw new AbmProtocolError(endpoint, `${field} should be ${expected}, got ${describeJson(got)}`);
}

function document(endpoint: string, v: unknown): Json {
  if (!isObject(v)) fail(endpoint, 'the body', 'a JSON:API document (object)', v);
  return v;
}

function optString(endpoint: string, field: string, v: unknown): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') fail(endpoint, field, 'a string', v);
  return v;
}

function resource(endpoint: string, field: string, v: unknown, type: string): { id: string; attributes: Json } {
  if (!isObject(v)) fail(endpoint, field, `a ${type} resource`, v);
  if (v.type !== undefined && v.type !== type) throw new AbmProtocolError(endpoint, `${field}.type should be "${type}", got ${JSON.stringify(v.type)}`);
  if (typeof v.id !== 'string' || v.id === '') fail(endpoint, `${field}.id`, 'a non-empty string', v.id);
  const attributes = v.attributes === undefined ? {} : v.attributes;
  if (!isObject(attributes)) fail(endpoint, `${field}.attributes`, 'an object', attributes);
  return { id: v.id, attributes };
}

/** `imei`/`meid`: a list of strings, one string (older schema), or absent. */
function radioList(endpoint: string, field: string, v: unknown): string[] {
  if (v === undefined || v === null || v === '') return [];
  if (typeof v === 'string') return [v];
  if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return (v as string[]).filter((x) => x !== '');
  fail(endpoint, field, 'a list of strings or a string', v);
}

const DEVICE_STRINGS = [
  'deviceModel',
  'productFamily',
  'productType',
  'deviceCapacity',
  'partNumber',
  'color',
  'orderNumber',
  'orderDateTime',
  'purchaseSourceType',
  'addedToOrgDateTime',
  'releasedFromOrgDateTime',
  'updatedDateTime',
  'status',
  'eid',
  'wifiMacAddress',
  'bluetoothMacAddress',
  'ethernetMacAddress',
] as const;

function orgDevice(endpoint: string, field: string, v: unknown): OrgDevice {
  const r = resource(endpoint, field, v, 'orgDevices');
  const a = r.attributes;
  const serial = a.serialNumber === undefined ? r.id : a.serialNumber;
  if (typeof serial !== 'string' || serial === '') fail(endpoint, `${field}.attributes.serialNumber`, 'a non-empty string', serial);
  const d: OrgDevice = { id: r.id, serialNumber: serial, imei: radioList(endpoint, `${field}.attributes.imei`, a.imei), meid: radioList(endpoint, `${field}.attributes.meid`, a.meid), attributes: a };
  for (const k of DEVICE_STRINGS) {
    const s = optString(endpoint, `${field}.attributes.${k}`, a[k]);
    if (s !== undefined) d[k] = s;
  }
  // Apple's example spells it purchaseSourceUid; the reference purchaseSourceId.
  const source = optString(endpoint, `${field}.attributes.purchaseSourceId`, a.purchaseSourceId ?? a.purchaseSourceUid);
  if (source !== undefined) d.purchaseSourceId = source;
  return d;
}

function mdmServer(endpoint: string, field: string, v: unknown): MdmServer {
  const r = resource(endpoint, field, v, 'mdmServers');
  const a = r.attributes;
  const name = a.serverName;
  if (typeof name !== 'string') fail(endpoint, `${field}.attributes.serverName`, 'a string', name);
  const s: MdmServer = { id: r.id, serverName: name, attributes: a };
  for (const k of ['serverType', 'createdDateTime', 'updatedDateTime', 'status'] as const) {
    const x = optString(endpoint, `${field}.attributes.${k}`, a[k]);
    if (x !== undefined) s[k] = x;
  }
  if (a.deviceCount !== undefined && a.deviceCount !== null) {
    if (typeof a.deviceCount !== 'number' || !Number.isInteger(a.deviceCount) || a.deviceCount < 0) fail(endpoint, `${field}.attributes.deviceCount`, 'a count', a.deviceCount);
    s.deviceCount = a.deviceCount;
  }
  if (a.enableMdmDisownFlag !== undefined && a.enableMdmDisownFlag !== null) {
    if (typeof a.enableMdmDisownFlag !== 'boolean') fail(endpoint, `${field}.attributes.enableMdmDisownFlag`, 'a boolean', a.enableMdmDisownFlag);
    s.enableMdmDisownFlag = a.enableMdmDisownFlag;
  }
  if (a.defaultProductFamilies !== undefined && a.defaultProductFamilies !== null) {
    if (!Array.isArray(a.defaultProductFamilies) || !a.defaultProductFamilies.every((x) => typeof x === 'string')) {
      fail(endpoint, `${field}.attributes.defaultProductFamilies`, 'a list of strings', a.defaultProductFamilies);
    }
    s.defaultProductFamilies = a.defaultProductFamilies as string[];
  }
  return s;
}

function activity(endpoint: string, field: string, v: unknown): OrgDeviceActivity {
  const r = resource(endpoint, field, v, 'orgDeviceActivities');
  const a = r.attributes;
  if (typeof a.status !== 'string' || !(ABM_ACTIVITY_STATUSES as readonly string[]).includes(a.status)) {
    throw new AbmProtocolError(endpoint, `${field}.attributes.status should be one of ${ABM_ACTIVITY_STATUSES.join(', ')}, got ${JSON.stringify(a.status)}`);
  }
  // Sub-statuses are passed through as text: Apple may add some, and the status already says where it stands.
  const sub = optString(endpoint, `${field}.attributes.subStatus`, a.subStatus) ?? '';
  const out: OrgDeviceActivity = { id: r.id, status: a.status as AbmActivityStatus, subStatus: sub, attributes: a };
  for (const k of ['createdDateTime', 'completedDateTime', 'downloadUrl'] as const) {
    const x = optString(endpoint, `${field}.attributes.${k}`, a[k]);
    if (x !== undefined && x !== '') out[k] = x;
  }
  return out;
}

/** One page of a list: its items and the cursor of the next page (undefined on the last). */
export interface Page<T> {
  items: T[];
  nextCursor: string | undefined;
  total: number | undefined;
}

function paging(endpoint: string, doc: Json): { nextCursor: string | undefined; total: number | undefined } {
  let nextCursor: string | undefined;
  let total: number | undefined;
  if (doc.meta !== undefined && doc.meta !== null) {
    if (!isObject(doc.meta)) fail(endpoint, 'meta', 'an object', doc.meta);
    const p = doc.meta.paging;
    if (p !== undefined && p !== null) {
      if (!isObject(p)) fail(endpoint, 'meta.paging', 'an object', p);
      nextCursor = optString(endpoint, 'meta.paging.nextCursor', p.nextCursor);
      if (typeof p.total === 'number') total = p.total;
    }
  }
  if (nextCursor === undefined && isObject(doc.links) && typeof doc.links.next === 'string' && doc.links.next !== '') {
    // Only links.next: take its cursor parameter.
    try {
      nextCursor = new URL(doc.links.next, 'https://api.invalid/').searchParams.get('cursor') ?? undefined;
    } catch {
      fail(endpoint, 'links.next', 'a URL', doc.links.next);
    }
    if (nextCursor === undefined) throw new AbmProtocolError(endpoint, 'links.next has no cursor parameter');
  }
  return { nextCursor: nextCursor === '' ? undefined : nextCursor, total };
}

function list<T>(endpoint: string, v: unknown, item: (endpoint: string, field: string, x: unknown) => T): Page<T> {
  const doc = document(endpoint, v);
  const data = doc.data === undefined ? [] : doc.data;
  if (!Array.isArray(data)) fail(endpoint, 'data', 'a list', data);
  const items = data.map((x, i) => item(endpoint, `data[${i}]`, x));
  return { items, ...paging(endpoint, doc) };
}

function single<T>(endpoint: string, v: unknown, item: (endpoint: string, field: string, x: unknown) => T): T {
  return item(endpoint, 'data', document(endpoint, v).data);
}

export const checkOrgDevicePage = (endpoint: string, v: unknown): Page<OrgDevice> => list(endpoint, v, orgDevice);
export const checkOrgDevice = (endpoint: string, v: unknown): OrgDevice => single(endpoint, v, orgDevice);
export const checkMdmServerPage = (endpoint: string, v: unknown): Page<MdmServer> => list(endpoint, v, mdmServer);
export const checkMdmServer = (endpoint: string, v: unknown): MdmServer => single(endpoint, v, mdmServer);
export const checkActivity = (endpoint: string, v: unknown): OrgDeviceActivity => single(endpoint, v, activity);

function linkage(type: string) {
  return (endpoint: string, field: string, v: unknown): string => {
    if (!isObject(v)) fail(endpoint, field, `a ${type} linkage`, v);
    if (v.type !== type) throw new AbmProtocolError(endpoint, `${field}.type should be "${type}", got ${JSON.stringify(v.type)}`);
    if (typeof v.id !== 'string' || v.id === '') fail(endpoint, `${field}.id`, 'a non-empty string', v.id);
    return v.id;
  };
}

/** `mdmServers/{id}/relationships/devices`: a page of `orgDevices` linkages (serials). */
export const checkDeviceLinkagePage = (endpoint: string, v: unknown): Page<string> => list(endpoint, v, linkage('orgDevices'));

/** `orgDevices/{id}/relationships/assignedServer`: the server id, or null when unassigned. */
export function checkAssignedServerLinkage(endpoint: string, v: unknown): string | null {
  const doc = document(endpoint, v);
  if (doc.data === null || doc.data === undefined) return null;
  return linkage('mdmServers')(endpoint, 'data', doc.data);
}
