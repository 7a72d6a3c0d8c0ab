/**
 * Profile endpoints: define (POST /profile), fetch (GET /profile?profile_uuid=), assign (POST and the
 * older PUT /profile/devices, which NanoDEP and MicroMDM still send) and remove (DELETE
 * /profile/devices with a JSON body). Profiles are immutable: each define mints a new UUID
 * (dep-protocol.md §3).
 */
import { type ApiCall, type Handler, type SimContext, fail, logWrite, nowSec, ok } from './context.js';
import { isObject } from './http-util.js';
import { validateProfile } from './profile-validation.js';
import { accessible, serialList } from './routes-devices.js';

interface AssignOutcome {
  devices: Record<string, string>;
  retryAfter: number | undefined;
}

/**
 * Assigns profile number `profile` to each serial and reports per serial: NOT_ACCESSIBLE when the
 * device is not on this server, FAILED / THROTTLED when a fault says so (THROTTLED needs protocol v9,
 * older clients get FAILED), SUCCESS otherwise (profile_status `assigned`, sync `modified`).
 */
function assignSerials(ctx: SimContext, call: ApiCall, profile: number, serials: string[], throttle: boolean): AssignOutcome {
  const devices: Record<string, string> = {};
  let retryAfter: number | undefined;
  for (const s of serials) {
    const i = accessible(ctx, s);
    const throttledFor = throttle ? ctx.faults.throttledFor(s) : undefined;
    if (i < 0) devices[s] = 'NOT_ACCESSIBLE';
    else if (ctx.faults.failedFor(s)) devices[s] = 'FAILED';
    else if (throttledFor !== undefined) {
      devices[s] = call.version >= 9 ? 'THROTTLED' : 'FAILED';
      retryAfter = Math.max(retryAfter ?? 0, throttledFor);
    } else {
      ctx.state.assign(i, profile, nowSec(ctx));
      devices[s] = 'SUCCESS';
    }
  }
  return { devices, retryAfter };
}

/** POST /profile: validate, store under a new UUID, and assign the optional `devices`. */
export const defineProfile: Handler = (ctx, call) => {
  if (!isObject(call.body)) return fail(400, 'MALFORMED_REQUEST_BODY');
  const v = validateProfile(call.body);
  if (!v.ok) return fail(400, v.code);
  const { index, uuid } = ctx.state.defineProfile(v.profile);
  // Define reports SUCCESS, NOT_ACCESSIBLE or FAILED only: THROTTLED is an assign status.
  const outcome = assignSerials(ctx, call, index, [...new Set(v.devices)], false);
  logWrite(ctx, 'define', uuid, outcome.devices);
  return ok({ profile_uuid: uuid, devices: outcome.devices });
};

/** GET /profile?profile_uuid=: Apple lists an unknown UUID as 400 NOT_FOUND. */
export const getProfile: Handler = (ctx, call) => {
  const uuid = call.url.searchParams.get('profile_uuid');
  if (!uuid) return fail(400, 'PROFILE_UUID_REQUIRED');
  const p = ctx.state.profile(uuid);
  return p === undefined ? fail(400, 'NOT_FOUND') : ok(p);
};

/** POST or PUT /profile/devices: an unknown profile is a 404. */
export const assignProfile: Handler = (ctx, call) => {
  const b = call.body;
  if (!isObject(b)) return fail(400, 'MALFORMED_REQUEST_BODY');
  if (b.profile_uuid === undefined || b.profile_uuid === null || b.profile_uuid === '') return fail(400, 'PROFILE_UUID_REQUIRED');
  if (typeof b.profile_uuid !== 'string') return fail(400, 'MALFORMED_REQUEST_BODY');
  const serials = serialList(call);
  if (!serials.ok) return serials.reply;
  // Apple asks clients to send at most 1000 devices at a time but documents no refusal (no status, no
  // code), so a longer list is served like any other; the DEP client batches by 1000 itself.
  const profile = ctx.state.profileIndex(b.profile_uuid);
  if (profile < 0) return fail(404, 'PROFILE_NOT_FOUND');
  const outcome = assignSerials(ctx, call, profile, serials.value, true);
  logWrite(ctx, 'assign', b.profile_uuid, outcome.devices);
  const body: Record<string, unknown> = { profile_uuid: b.profile_uuid, devices: outcome.devices };
  // retry_after_seconds is a protocol v10 field, present when a serial is THROTTLED.
  if (outcome.retryAfter !== undefined && call.version >= 10) body.retry_after_seconds = outcome.retryAfter;
  return ok(body);
};

/** DELETE /profile/devices: `profile_uuid` in the body is documented but ignored, as at Apple. */
export const removeProfile: Handler = (ctx, call) => {
  const serials = serialList(call);
  if (!serials.ok) return serials.reply;
  const devices: Record<string, string> = {};
  for (const s of serials.value) {
    const i = accessible(ctx, s);
    if (i < 0) devices[s] = 'NOT_ACCESSIBLE';
    else {
      ctx.state.clearProfile(i, nowSec(ctx));
      devices[s] = 'SUCCESS';
    }
  }
  logWrite(ctx, 'remove', null, devices);
  return ok({ devices });
};
