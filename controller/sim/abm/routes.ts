/**
 * HTTP of the Business API simulator: the token endpoint, Apple's `/v1/` paths as JSON:API documents,
 * and the presigned result downloads (`/_blob/activities/{id}.csv?sig=…`, standing in for Apple's blob
 * store). Per API request: count it, injected status faults, `Accept` (406 only when nothing listed can
 * be JSON), the bearer (401), then the endpoint. Errors are `{errors:[{id, status, code, title, detail,
 * source}]}`. Where Apple documents a status but not its code, the simulator's code is its own choice.
 */
import { createHash, randomUUID, type KeyObject } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ABM_MAX_PAGE_LIMIT, type AbmActivityType } from '../../abm/types.js';
import { isObject, readBody } from '../http-util.js';
import type { SimApiAccount } from './api.js';
import { tokenRequest } from './auth.js';
import type { SimActivity, SimOrg, SimServer } from './org.js';

/** What the routes need besides the organisation. */
export interface AbmRouteContext {
  org: SimOrg;
  account: SimApiAccount;
  publicKey: KeyObject;
  url: () => string;
  tokenTtlSec: number;
  maxActivityDevices: number;
  counts: Map<string, number>;
  cursorSecret: string;
}

interface Reply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

const DEFAULT_LIMIT = 100;
const TOKEN_PATHS = new Set(['/auth/oauth2/token', '/auth/oauth2/v2/token']);

function apiError(status: number, code: string, title: string, detail: string, source?: { pointer?: string; parameter?: string }): Reply {
  return { status, body: { errors: [{ id: randomUUID(), status: String(status), code, title, detail, ...(source ? { source } : {}) }] } };
}

const notFound = (what: string): Reply => apiError(404, 'NOT_FOUND', 'The specified resource does not exist', `There is no resource of type '${what}' with this id.`);
const badParam = (parameter: string, detail: string): Reply => apiError(400, 'PARAMETER_ERROR.INVALID', 'A parameter has an invalid value', detail, { parameter });
const badBody = (pointer: string, detail: string): Reply => apiError(400, 'ENTITY_ERROR.ATTRIBUTE.INVALID', 'The request entity is invalid', detail, { pointer });

function send(res: ServerResponse, r: Reply): void {
  if (r.body === undefined) {
    res.writeHead(r.status, { ...r.headers });
    res.end();
    return;
  }
  const text = JSON.stringify(r.body);
  res.writeHead(r.status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), ...r.headers });
  res.end(text);
}

/** True when the `Accept` header allows JSON (missing, `*\/*`, `application/*`, `application/json`, any `+json`). */
export function acceptsJson(accept: string | undefined): boolean {
  if (accept === undefined || accept.trim() === '') return true;
  return accept.split(',').some((part) => {
    const type = (part.split(';')[0] ?? '').trim().toLowerCase();
    return type === '*/*' || type === 'application/*' || type === 'application/json' || type.endsWith('+json');
  });
}

// ---- cursors: opaque, tamper-checked offsets into the organisation order.

function makeCursor(ctx: AbmRouteContext, kind: string, offset: number): string {
  const payload = `${kind}:${offset}`;
  const tag = createHash('sha256').update(`${ctx.cursorSecret}:${payload}`).digest('base64url').slice(0, 12);
  return Buffer.from(`${payload}:${tag}`).toString('base64url');
}

function readCursor(ctx: AbmRouteContext, kind: string, cursor: string): number | undefined {
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  const m = /^([A-Za-z]+(?::[^:]*)?):(\d+):([A-Za-z0-9_-]{12})$/.exec(text);
  if (!m || m[1] !== kind) return undefined;
  return makeCursor(ctx, kind, Number(m[2])) === cursor ? Number(m[2]) : undefined;
}

function pageParams(ctx: AbmRouteContext, url: URL, kind: string): { offset: number; limit: number } | Reply {
  const rawLimit = url.searchParams.get('limit');
  let limit = DEFAULT_LIMIT;
  if (rawLimit !== null) {
    if (!/^\d+$/.test(rawLimit) || Number(rawLimit) < 1 || Number(rawLimit) > ABM_MAX_PAGE_LIMIT) return badParam('limit', `limit must be an integer from 1 to ${ABM_MAX_PAGE_LIMIT}`);
    limit = Number(rawLimit);
  }
  const cursor = url.searchParams.get('cursor');
  if (cursor === null) return { offset: 0, limit };
  const offset = readCursor(ctx, kind, cursor);
  if (offset === undefined) return badParam('cursor', 'The cursor is not valid.');
  return { offset, limit };
}

function paged(ctx: AbmRouteContext, url: URL, kind: string, total: number, data: unknown[], offset: number, limit: number): Reply {
  const end = offset + data.length;
  const next = end < total ? makeCursor(ctx, kind, end) : undefined;
  const self = `${ctx.url()}${url.pathname}${url.search}`;
  const nextUrl = new URL(self);
  if (next) {
    nextUrl.searchParams.set('cursor', next);
    nextUrl.searchParams.set('limit', String(limit));
  }
  return {
    status: 200,
    body: {
      data,
      links: { self, ...(next ? { next: nextUrl.href } : {}) },
      meta: { paging: { total, limit, ...(next ? { nextCursor: next } : {}) } },
    },
  };
}

// ---- resources

function deviceResource(ctx: AbmRouteContext, serial: string, fields?: Set<string>): unknown {
  const d = ctx.org.devices.get(serial);
  if (!d) return undefined;
  const all = ctx.org.deviceAttributes(d);
  const attributes = fields ? Object.fromEntries(Object.entries(all).filter(([k]) => fields.has(k))) : all;
  const self = `${ctx.url()}/v1/orgDevices/${encodeURIComponent(serial)}`;
  return {
    type: 'orgDevices',
    id: serial,
    attributes,
    relationships: { assignedServer: { links: { self: `${self}/relationships/assignedServer`, related: `${self}/assignedServer` } } },
    links: { self },
  };
}

function serverResource(ctx: AbmRouteContext, s: SimServer): unknown {
  const self = `${ctx.url()}/v1/mdmServers/${s.id}`;
  return {
    type: 'mdmServers',
    id: s.id,
    attributes: {
      serverName: s.serverName,
      serverType: s.serverType,
      createdDateTime: new Date(s.createdAt).toISOString(),
      updatedDateTime: new Date(s.updatedAt).toISOString(),
      status: 'ACTIVE',
      deviceCount: ctx.org.serialsOf(s.id).length,
      enableMdmDisownFlag: s.enableMdmDisownFlag,
      defaultProductFamilies: [],
    },
    relationships: { devices: { links: { self: `${self}/relationships/devices` } } },
    links: { self },
  };
}

function activityResource(ctx: AbmRouteContext, a: SimActivity): unknown {
  const st = ctx.org.activityState(a);
  const attributes: Record<string, unknown> = { status: st.status, subStatus: st.subStatus, createdDateTime: new Date(a.createdAt).toISOString() };
  // Apple: completedDateTime and downloadUrl are "available only when an activity is in a COMPLETED status".
  if (st.status === 'COMPLETED' && st.completedAt !== undefined) {
    attributes.completedDateTime = new Date(st.completedAt).toISOString();
    attributes.downloadUrl = `${ctx.url()}/_blob/activities/${a.id}.csv?sig=${a.downloadSig}`;
  }
  return { type: 'orgDeviceActivities', id: a.id, attributes, links: { self: `${ctx.url()}/v1/orgDeviceActivities/${a.id}` } };
}

// ---- endpoints

const DEVICE_FIELDS = new Set([
  'serialNumber', 'addedToOrgDateTime', 'releasedFromOrgDateTime', 'updatedDateTime', 'deviceModel', 'productFamily', 'productType', 'deviceCapacity', 'partNumber', 'orderNumber', 'color', 'status',
  'orderDateTime', 'imei', 'meid', 'eid', 'wifiMacAddress', 'bluetoothMacAddress', 'ethernetMacAddress', 'purchaseSourceId', 'purchaseSourceType', 'assignedServer',
]);

function listDevices(ctx: AbmRouteContext, url: URL): Reply {
  const p = pageParams(ctx, url, 'orgDevices');
  if ('status' in p) return p;
  let fields: Set<string> | undefined;
  const rawFields = url.searchParams.get('fields[orgDevices]');
  if (rawFields !== null) {
    const list = rawFields.split(',').map((f) => f.trim()).filter((f) => f !== '');
    const unknown = list.find((f) => !DEVICE_FIELDS.has(f));
    if (unknown !== undefined) return badParam('fields[orgDevices]', `'${unknown}' is not a valid field name`);
    fields = new Set(list);
  }
  const serials = [...ctx.org.devices.keys()];
  const slice = serials.slice(p.offset, p.offset + p.limit);
  return paged(ctx, url, 'orgDevices', serials.length, slice.map((s) => deviceResource(ctx, s, fields)), p.offset, p.limit);
}

function serverDevices(ctx: AbmRouteContext, url: URL, id: string): Reply {
  if (!ctx.org.servers.has(id)) return notFound('mdmServers');
  const p = pageParams(ctx, url, `devices:${id}`);
  if ('status' in p) return p;
  const serials = ctx.org.serialsOf(id);
  const slice = serials.slice(p.offset, p.offset + p.limit);
  return paged(ctx, url, `devices:${id}`, serials.length, slice.map((s) => ({ type: 'orgDevices', id: s })), p.offset, p.limit);
}

function serverAttributes(body: unknown, creating: boolean): { attrs: Record<string, unknown> } | Reply {
  if (!isObject(body) || !isObject(body.data)) return badBody('/data', 'The request body must hold a data object.');
  if (body.data.type !== 'mdmServers') return badBody('/data/type', "type must be 'mdmServers'.");
  const a = body.data.attributes;
  if (!isObject(a)) return badBody('/data/attributes', 'attributes are required.');
  if ((creating || a.serverName !== undefined) && (typeof a.serverName !== 'string' || a.serverName.trim() === '' || a.serverName.length > 100)) {
    return badBody('/data/attributes/serverName', 'serverName is required (1 to 100 characters).');
  }
  if (creating || a.serverCertificate !== undefined) {
    const c = a.serverCertificate;
    if (!isObject(c) || typeof c.name !== 'string' || typeof c.data !== 'string' || c.data === '' || !/^[A-Za-z0-9+/=\s-]+$/.test(c.data)) {
      return badBody('/data/attributes/serverCertificate', 'serverCertificate needs a name and base64 data.');
    }
  }
  if (a.enableMdmDisownFlag !== undefined && typeof a.enableMdmDisownFlag !== 'boolean') return badBody('/data/attributes/enableMdmDisownFlag', 'enableMdmDisownFlag must be a boolean.');
  return { attrs: a };
}

function createServer(ctx: AbmRouteContext, body: unknown): Reply {
  const r = serverAttributes(body, true);
  if ('status' in r) return r;
  const a = r.attrs;
  const name = a.serverName as string;
  if ([...ctx.org.servers.values()].some((s) => s.serverName === name)) return apiError(409, 'ENTITY_ERROR.ATTRIBUTE.INVALID', 'The request entity is invalid', 'A device management service with this name already exists.', { pointer: '/data/attributes/serverName' });
  const s = ctx.org.addServer({ serverName: name }, ctx.org.servers.size + 1);
  s.enableMdmDisownFlag = a.enableMdmDisownFlag === true;
  s.certificateName = (a.serverCertificate as { name: string }).name;
  return { status: 201, body: { data: serverResource(ctx, s), links: { self: `${ctx.url()}/v1/mdmServers/${s.id}` } } };
}

function updateServer(ctx: AbmRouteContext, id: string, body: unknown): Reply {
  const s = ctx.org.servers.get(id);
  if (!s) return notFound('mdmServers');
  const r = serverAttributes(body, false);
  if ('status' in r) return r;
  if (isObject(body) && isObject(body.data) && body.data.id !== undefined && body.data.id !== id) return apiError(409, 'ENTITY_ERROR.ATTRIBUTE.INVALID', 'The request entity is invalid', 'data.id does not match the URL.', { pointer: '/data/id' });
  const a = r.attrs;
  if (typeof a.serverName === 'string') s.serverName = a.serverName;
  if (typeof a.enableMdmDisownFlag === 'boolean') s.enableMdmDisownFlag = a.enableMdmDisownFlag;
  if (isObject(a.serverCertificate) && typeof a.serverCertificate.name === 'string') s.certificateName = a.serverCertificate.name;
  s.updatedAt = ctx.org.now();
  return { status: 200, body: { data: serverResource(ctx, s) } };
}

function deleteServer(ctx: AbmRouteContext, id: string): Reply {
  if (!ctx.org.servers.has(id)) return notFound('mdmServers');
  // Apple: "A device management service that has devices assigned to it can't be deleted."
  if (ctx.org.serialsOf(id).length > 0) return apiError(409, 'STATE_ERROR', 'The resource cannot be deleted', 'Unassign all devices from this device management service before deleting it.');
  ctx.org.servers.delete(id);
  return { status: 204 };
}

function createActivity(ctx: AbmRouteContext, body: unknown): Reply {
  if (!isObject(body) || !isObject(body.data)) return badBody('/data', 'The request body must hold a data object.');
  const d = body.data;
  if (d.type !== 'orgDeviceActivities') return badBody('/data/type', "type must be 'orgDeviceActivities'.");
  const type = isObject(d.attributes) ? d.attributes.activityType : undefined;
  if (type !== 'ASSIGN_DEVICES' && type !== 'UNASSIGN_DEVICES') {
    return apiError(422, 'ENTITY_ERROR.ATTRIBUTE.INVALID', 'The request entity is invalid', 'The simulator supports activityType ASSIGN_DEVICES and UNASSIGN_DEVICES.', { pointer: '/data/attributes/activityType' });
  }
  const rel = isObject(d.relationships) ? d.relationships : {};
  const server = isObject(rel.mdmServer) && isObject(rel.mdmServer.data) ? rel.mdmServer.data : undefined;
  if (!server || server.type !== 'mdmServers' || typeof server.id !== 'string') return badBody('/data/relationships/mdmServer', 'mdmServer is required for this activity type.');
  const devices = isObject(rel.devices) && Array.isArray(rel.devices.data) ? rel.devices.data : undefined;
  if (!devices || devices.length === 0) return badBody('/data/relationships/devices', 'devices must list at least one device.');
  if (devices.length > ctx.maxActivityDevices) {
    return apiError(422, 'ENTITY_ERROR.RELATIONSHIP.INVALID', 'The request entity is invalid', `An activity may list at most ${ctx.maxActivityDevices} devices.`, { pointer: '/data/relationships/devices' });
  }
  const serials: string[] = [];
  for (const [i, x] of devices.entries()) {
    if (!isObject(x) || x.type !== 'orgDevices' || typeof x.id !== 'string') return badBody(`/data/relationships/devices/data/${i}`, "each device must be {type: 'orgDevices', id}.");
    serials.push(x.id);
  }
  if (!ctx.org.servers.has(server.id)) {
    return apiError(409, 'ENTITY_ERROR.RELATIONSHIP.INVALID', 'The provided entity includes a relationship with an invalid value', `'${server.id}' is not a valid device management service id.`, { pointer: '/data/relationships/mdmServer' });
  }
  const unknown = serials.findIndex((s) => !ctx.org.devices.has(s));
  if (unknown >= 0) {
    return apiError(409, 'ENTITY_ERROR.RELATIONSHIP.INVALID', 'The provided entity includes a relationship with an invalid value', `'${serials[unknown]}' is not a valid device serial number in this organization.`, { pointer: `/data/relationships/devices/data/${unknown}` });
  }
  const a = ctx.org.createActivity(type as AbmActivityType, server.id, serials);
  return { status: 201, body: { data: activityResource(ctx, a), links: { self: `${ctx.url()}/v1/orgDeviceActivities/${a.id}` } } };
}

function routeApi(ctx: AbmRouteContext, method: string, url: URL, parts: string[], body: unknown): Reply {
  const [a, id, b, c] = parts;
  const org = ctx.org;
  const n = parts.length;
  if (a === 'orgDevices') {
    if (method !== 'GET') return apiError(405, 'METHOD_NOT_ALLOWED', 'The method is not allowed', `${method} is not allowed here.`);
    if (n === 1) return listDevices(ctx, url);
    const dev = org.devices.get(id ?? '');
    if (!dev) return notFound('orgDevices');
    if (n === 2) return { status: 200, body: { data: deviceResource(ctx, dev.serialNumber), links: { self: `${ctx.url()}${url.pathname}` } } };
    if (n === 4 && b === 'relationships' && c === 'assignedServer') {
      return { status: 200, body: { data: dev.assignedServerId === null ? null : { type: 'mdmServers', id: dev.assignedServerId }, links: { self: `${ctx.url()}${url.pathname}` } } };
    }
    if (n === 3 && b === 'assignedServer') {
      const s = dev.assignedServerId === null ? undefined : org.servers.get(dev.assignedServerId);
      return { status: 200, body: { data: s ? serverResource(ctx, s) : null } };
    }
    return notFound('orgDevices');
  }
  if (a === 'mdmServers') {
    if (n === 1 && method === 'GET') {
      const p = pageParams(ctx, url, 'mdmServers');
      if ('status' in p) return p;
      const all = [...org.servers.values()];
      return paged(ctx, url, 'mdmServers', all.length, all.slice(p.offset, p.offset + p.limit).map((s) => serverResource(ctx, s)), p.offset, p.limit);
    }
    if (n === 1 && method === 'POST') return createServer(ctx, body);
    if (n === 2 && method === 'GET') {
      const s = org.servers.get(id ?? '');
      return s ? { status: 200, body: { data: serverResource(ctx, s) } } : notFound('mdmServers');
    }
    if (n === 2 && method === 'PATCH') return updateServer(ctx, id ?? '', body);
    if (n === 2 && method === 'DELETE') return deleteServer(ctx, id ?? '');
    if (n === 4 && b === 'relationships' && c === 'devices' && method === 'GET') return serverDevices(ctx, url, id ?? '');
    return n <= 2 ? apiError(405, 'METHOD_NOT_ALLOWED', 'The method is not allowed', `${method} is not allowed here.`) : notFound('mdmServers');
  }
  if (a === 'orgDeviceActivities') {
    if (n === 1 && method === 'POST') return createActivity(ctx, body);
    if (n === 2 && method === 'GET') {
      const act = org.activities.get(id ?? '');
      return act ? { status: 200, body: { data: activityResource(ctx, act), links: { self: `${ctx.url()}${url.pathname}` } } } : notFound('orgDeviceActivities');
    }
    return apiError(405, 'METHOD_NOT_ALLOWED', 'The method is not allowed', `${method} is not allowed here.`);
  }
  return notFound(a ?? '');
}

function countKey(method: string, parts: string[], prefix: string): string {
  const shape = parts.map((p, i) => (i === 1 ? '{id}' : p));
  return `${method} ${prefix}${shape.length ? `/${shape.join('/')}` : ''}`;
}

function takeFault(ctx: AbmRouteContext, path: string): Reply | undefined {
  const f = ctx.org.faults.httpStatus;
  if (!f || f.count <= 0 || (f.path !== undefined && !path.startsWith(f.path))) return undefined;
  f.count -= 1;
  if (f.count <= 0) delete ctx.org.faults.httpStatus;
  const reply = apiError(f.status, f.status === 429 ? 'RATE_LIMIT_EXCEEDED' : 'UNEXPECTED_ERROR', f.status === 429 ? 'The request rate limit has been reached.' : 'An unexpected error occurred.', 'Simulated fault.');
  return { ...reply, headers: f.retryAfter !== undefined ? { 'Retry-After': f.retryAfter } : {} };
}

function header(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

/** Handles one request outside `/_sim/`. */
export async function handleAbm(ctx: AbmRouteContext, req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
  const method = req.method ?? 'GET';
  const path = url.pathname;
  ctx.org.settle();

  if (TOKEN_PATHS.has(path)) {
    ctx.counts.set(`${method} /auth/oauth2/token`, (ctx.counts.get(`${method} /auth/oauth2/token`) ?? 0) + 1);
    const fault = takeFault(ctx, path);
    if (fault) return send(res, fault);
    if (method !== 'POST') return send(res, { status: 405, body: { error: 'invalid_request', error_description: 'use POST' }, headers: { Allow: 'POST' } });
    const raw = await readBody(req);
    if (raw === undefined) return send(res, { status: 413, body: { error: 'invalid_request', error_description: 'body too large' } });
    const type = (header(req.headers['content-type']) ?? '').split(';')[0]?.trim().toLowerCase();
    if (raw.length > 0 && type !== 'application/x-www-form-urlencoded') return send(res, { status: 400, body: { error: 'invalid_request', error_description: 'Content-Type must be application/x-www-form-urlencoded' } });
    // Apple's sample sends the parameters in the query string, nanoaxm in the body: accept both.
    const params = new URLSearchParams(url.search);
    for (const [k, v] of new URLSearchParams(raw.toString('utf8'))) params.set(k, v);
    const r = tokenRequest(ctx.org, ctx.account, ctx.publicKey, params, ctx.tokenTtlSec);
    return send(res, { status: r.status, body: r.body, headers: { 'Cache-Control': 'no-store' } });
  }

  const blob = /^\/_blob\/activities\/([A-Za-z0-9-]+)\.csv$/.exec(path);
  if (blob) {
    ctx.counts.set(`${method} /_blob/activities/{id}.csv`, (ctx.counts.get(`${method} /_blob/activities/{id}.csv`) ?? 0) + 1);
    const a = ctx.org.activities.get(blob[1] ?? '');
    if (!a || a.results === undefined || url.searchParams.get('sig') !== a.downloadSig || method !== 'GET') {
      res.writeHead(403, { 'Content-Type': 'application/xml' }).end('<Error><Code>AccessDenied</Code></Error>');
      return;
    }
    const esc = (s: string): string => (/[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);
    const csv = ['Serial Number,Status,Error Message', ...a.results.map((r) => [r.serial, r.status, r.message].map(esc).join(','))].join('\r\n') + '\r\n';
    res.writeHead(200, { 'Content-Type': 'text/csv', 'Content-Length': Buffer.byteLength(csv) }).end(csv);
    return;
  }

  if (!path.startsWith('/v1/')) return send(res, notFound('path'));
  const parts = path.slice(4).split('/').filter((p) => p !== '').map(decodeURIComponent);
  ctx.counts.set(countKey(method, parts, '/v1'), (ctx.counts.get(countKey(method, parts, '/v1')) ?? 0) + 1);
  const fault = takeFault(ctx, path);
  if (fault) return send(res, fault);
  if (!acceptsJson(header(req.headers.accept))) return send(res, apiError(406, 'NOT_ACCEPTABLE', 'Not acceptable', 'This API answers application/json.'));
  const auth = header(req.headers.authorization);
  const token = auth !== undefined && /^Bearer\s+/i.test(auth) ? auth.replace(/^Bearer\s+/i, '') : undefined;
  if (!ctx.org.tokenValid(token)) {
    return send(res, { ...apiError(401, 'NOT_AUTHORIZED', 'Authentication credentials are missing or invalid.', 'Provide a valid access token.'), headers: { 'WWW-Authenticate': 'Bearer' } });
  }
  let body: unknown;
  if (method === 'POST' || method === 'PATCH') {
    const raw = await readBody(req);
    if (raw === undefined) return send(res, apiError(413, 'ENTITY_TOO_LARGE', 'The request entity is too large', 'Send fewer devices per activity.'));
    try {
      body = JSON.parse(raw.toString('utf8'));
    } catch {
      return send(res, apiError(400, 'ENTITY_ERROR', 'The request entity is invalid', 'The body is not JSON.'));
    }
  }
  send(res, routeApi(ctx, method, url, parts, body));
}
