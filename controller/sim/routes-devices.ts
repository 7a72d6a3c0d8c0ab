/**
 * Device endpoints: fetch (POST /server/devices), sync (POST /devices/sync), details (POST /devices),
 * disown (POST /devices/disown), activation lock and replacement details. Paging rules from
 * dep-protocol.md §3: limit default 100, maximum 1000; a finished fetch's cursor (or a sync cursor)
 * given to fetch is EXHAUSTED_CURSOR, which NanoDEP and MicroMDM read as "switch to sync"; a cursor
 * older than 7 days is EXPIRED_CURSOR.
 */
import type { Device } from '../dep/types.js';
import { type ApiCall, type ApiReply, type Handler, type SimContext, fail, nowSec, ok } from './context.js';
import { CURSOR_MAX_AGE_MS, type Cursor } from './cursors.js';
import { isoSeconds } from './device-store.js';
import { isObject } from './http-util.js';

/** Apple's documented default page size for fetch and sync. */
export const DEFAULT_LIMIT = 100;

/** Apple's documented maximum page size for fetch and sync (larger limits are clamped to it). */
export const MAX_LIMIT = 1000;

type Parsed<T> = { ok: true; value: T } | { ok: false; reply: ApiReply };

function pagingRequest(call: ApiCall): Parsed<{ cursor: string | undefined; limit: number }> {
  const b = call.body;
  if (!isObject(b)) return { ok: false, reply: fail(400, 'MALFORMED_REQUEST_BODY') };
  if (b.cursor !== undefined && b.cursor !== null && typeof b.cursor !== 'string') return { ok: false, reply: fail(400, 'MALFORMED_REQUEST_BODY') };
  if (b.limit !== undefined && b.limit !== null && typeof b.limit !== 'number') return { ok: false, reply: fail(400, 'MALFORMED_REQUEST_BODY') };
  const raw = typeof b.limit === 'number' && Number.isFinite(b.limit) ? Math.floor(b.limit) : 0;
  // Larger limits are clamped (real accounts advertise 5000; the docs, which we follow, say 1000).
  const limit = raw < 1 ? DEFAULT_LIMIT : Math.min(raw, MAX_LIMIT);
  const cursor = typeof b.cursor === 'string' && b.cursor !== '' ? b.cursor : undefined;
  return { ok: true, value: { cursor, limit } };
}

function decodeCursor(ctx: SimContext, text: string): Parsed<Cursor> {
  const c = ctx.cursors.decode(text);
  if (c === undefined || c.pos > ctx.state.log.length || (c.kind === 'fetch' && c.end > ctx.state.log.length)) {
    return { ok: false, reply: fail(400, 'INVALID_CURSOR') };
  }
  if (ctx.now() - c.issuedMs > CURSOR_MAX_AGE_MS) return { ok: false, reply: fail(400, 'EXPIRED_CURSOR') };
  return { ok: true, value: c };
}

/** POST /server/devices: the full list, paged along the operation log. */
export const fetchDevices: Handler = (ctx, call) => {
  const req = pagingRequest(call);
  if (!req.ok) return req.reply;
  let pos = 0;
  let end = ctx.state.log.length;
  if (req.value.cursor !== undefined) {
    const c = decodeCursor(ctx, req.value.cursor);
    if (!c.ok) return c.reply;
    if (c.value.kind === 'sync' || c.value.pos >= c.value.end) return fail(400, 'EXHAUSTED_CURSOR');
    pos = c.value.pos;
    end = c.value.end;
  }
  const page = ctx.state.fetchPage(pos, end, req.value.limit);
  const devices = page.indices.map((i) => ctx.state.render(i, call.version));
  return ok({
    cursor: ctx.cursors.encode({ kind: 'fetch', pos: page.next, end, issuedMs: ctx.now() }),
    devices,
    fetched_until: isoSeconds(nowSec(ctx)),
    more_to_follow: page.next < end,
  });
};

/** POST /devices/sync: every operation after the cursor, each with op_type and op_date. */
export const syncDevices: Handler = (ctx, call) => {
  const req = pagingRequest(call);
  if (!req.ok) return req.reply;
  if (req.value.cursor === undefined) return fail(400, 'CURSOR_REQUIRED');
  const c = decodeCursor(ctx, req.value.cursor);
  if (!c.ok) return c.reply;
  const page = ctx.state.syncPage(c.value.pos, req.value.limit, call.version);
  return ok({
    cursor: ctx.cursors.encode({ kind: 'sync', pos: page.next, issuedMs: ctx.now() }),
    devices: page.devices,
    fetched_until: isoSeconds(nowSec(ctx)),
    more_to_follow: page.next < ctx.state.log.length,
  });
};

/** Reads `{devices: [serial…]}`: an absent or empty list is DEVICE_ID_REQUIRED. */
export function serialList(call: ApiCall, field = 'devices'): Parsed<string[]> {
  const b = call.body;
  if (!isObject(b)) return { ok: false, reply: fail(400, 'MALFORMED_REQUEST_BODY') };
  const list = b[field];
  if (list === undefined || list === null || (Array.isArray(list) && list.length === 0)) return { ok: false, reply: fail(400, 'DEVICE_ID_REQUIRED') };
  if (!Array.isArray(list) || !list.every((s) => typeof s === 'string')) return { ok: false, reply: fail(400, 'MALFORMED_REQUEST_BODY') };
  return { ok: true, value: [...new Set(list as string[])] };
}

/** The index of a serial on this server, or -1 (unknown, moved away or disowned: NOT_ACCESSIBLE). */
export function accessible(ctx: SimContext, serial: string): number {
  const i = ctx.state.devices.indexOf(serial);
  return ctx.state.isOnServer(i) ? i : -1;
}

/** POST /devices: details, or only `response_status: NOT_ACCESSIBLE` for a serial not on this server. */
export const deviceDetails: Handler = (ctx, call) => {
  const serials = serialList(call);
  if (!serials.ok) return serials.reply;
  const devices: Record<string, Partial<Device> & { response_status: string }> = {};
  for (const s of serials.value) {
    const i = accessible(ctx, s);
    devices[s] = i < 0 ? { response_status: 'NOT_ACCESSIBLE' } : { ...ctx.state.render(i, call.version), response_status: 'SUCCESS' };
  }
  return ok({ devices });
};

/** POST /devices/disown: permanent; the device leaves the server (sync `deleted`). */
export const disownDevices: Handler = (ctx, call) => {
  const serials = serialList(call);
  if (!serials.ok) return serials.reply;
  const devices: Record<string, string> = {};
  for (const s of serials.value) {
    const i = accessible(ctx, s);
    if (i < 0) devices[s] = 'NOT_ACCESSIBLE';
    else if (ctx.faults.failedFor(s)) devices[s] = 'FAILED';
    else {
      ctx.state.disown(i, nowSec(ctx));
      devices[s] = 'SUCCESS';
    }
  }
  return ok({ devices });
};

/** POST /device/activationlock: accepted for devices on this server. */
export const activationLock: Handler = (ctx, call) => {
  const b = call.body;
  if (!isObject(b)) return fail(400, 'MALFORMED_REQUEST_BODY');
  if (typeof b.device !== 'string' || b.device === '') return fail(400, 'DEVICE_ID_REQUIRED');
  return ok({ serial_number: b.device, response_status: accessible(ctx, b.device) < 0 ? 'NOT_ACCESSIBLE' : 'SUCCESS' });
};

/** GET /device/replacementDetails: simulated devices are never replacements, so 404 DEVICE_NOT_FOUND. */
export const replacementDetails: Handler = (_ctx, call) => {
  if (!call.url.searchParams.get('device')) return fail(400, 'DEVICE_ID_REQUIRED');
  return fail(404, 'DEVICE_NOT_FOUND');
};
