/**
 * HTTP admin endpoints under `/_sim/` (Apple has no such path), so out-of-process tests, demos and
 * admins running `depctl sim` can drive the portal, faults and clock. No auth: the simulator is a
 * local tool. Bodies and replies are JSON (`application/json`); errors are `{ "error": "…" }`.
 *
 * | method | path | body | does |
 * |---|---|---|---|
 * | GET | /_sim/state | | counts, faults, clock, request counts, account identity |
 * | GET | /_sim/token | | the decrypted server token the simulator accepts (simulator credentials) |
 * | POST | /_sim/devices | `{count}` or `{devices:[Partial<Device>]}` | portal: add devices (sync `added`) |
 * | GET | /_sim/devices/SERIAL | | the device record (all fields), 404 when not on the server |
 * | POST | /_sim/devices/move-away | `{serials}` | portal: move to another server (sync `deleted`) |
 * | POST | /_sim/devices/move-in | `{serials}` | portal: move here (sync `modified` only) |
 * | PUT | /_sim/devices/SERIAL/profile | `{profile_uuid: string \| null}` | out-of-band profile change |
 * | POST | /_sim/devices/SERIAL/pushed | | the device pulled its profile (`pushed`) |
 * | GET / DELETE | /_sim/profiles/UUID | | read / forget a profile |
 * | GET / POST / DELETE | /_sim/faults | FaultSpec (POST merges) | read / inject / clear faults |
 * | GET / DELETE | /_sim/requests | | request counts by `METHOD path` / reset them |
 * | GET | /_sim/writes | | every define, assign and remove Apple carried out, in order, with per-serial statuses |
 * | POST | /_sim/clock | `{advanceMs}` | move the simulator clock forward |
 *
 * A simulator group (group-admin.ts) serves the same table under `/_sim/servers/NAME/`, and the
 * plain paths above act on its first server.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Device } from '../dep/types.js';
import type { FaultSpec, RunningSimulator } from './api.js';
import type { SimContext } from './context.js';
import { faultSpecProblem } from './faults.js';
import { MALFORMED, isObject, parseJson, readBody } from './http-util.js';

/** An admin answer: status and JSON body. */
export interface AdminReply {
  status: number;
  body: unknown;
}
type Reply = AdminReply;

/**
 * What the admin endpoints act on: a lone simulator, or one server of a group together with the
 * group's URL and clock (then `name` is the server's name and shows in `GET state`).
 */
export type AdminTarget = Pick<RunningSimulator, 'url' | 'token' | 'portal' | 'inspect' | 'injectFaults' | 'clearFaults' | 'advanceClock'> & { readonly name?: string };

/** Sends an admin reply as `application/json`. */
export function sendAdminJson(res: ServerResponse, { status, body }: AdminReply): void {
  const text = JSON.stringify(body ?? null);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

const json = sendAdminJson;

const bad = (message: string): Reply => ({ status: 400, body: { error: message } });
/** A 404 admin reply with `{error}`. */
export const notFound = (message: string): Reply => ({ status: 404, body: { error: message } });

function serialsOf(body: unknown): string[] | undefined {
  return isObject(body) && Array.isArray(body.serials) && body.serials.every((s) => typeof s === 'string') ? (body.serials as string[]) : undefined;
}

/** Replaces the serial or UUID segment by `:id` (`devices/C02…/profile` gives `devices/:id/profile`). */
function pattern(parts: string[]): string {
  return parts.map((p, i) => (i === 1 && !p.startsWith('move-') ? ':id' : p)).join('/');
}

function route(ctx: SimContext, sim: AdminTarget, method: string, parts: string[], body: unknown): Reply {
  const b = parts[1];
  switch (`${method} ${pattern(parts)}`) {
    case 'GET state':
      return {
        status: 200,
        body: {
          ...(sim.name !== undefined ? { name: sim.name } : {}),
          url: sim.url,
          account: { server_name: ctx.account.server_name, server_uuid: ctx.account.server_uuid, org_name: ctx.account.org_name },
          now: new Date(ctx.now()).toISOString(),
          devices: sim.inspect.deviceCount(),
          profiles: sim.inspect.profileCount(),
          events: sim.inspect.eventCount(),
          sessions: sim.inspect.sessionCount(),
          faults: sim.inspect.faults(),
          requests: sim.inspect.requestCounts(),
        },
      };
    case 'GET token':
      return { status: 200, body: sim.token };
    case 'POST devices': {
      if (!isObject(body)) return bad('expected {count} or {devices}');
      if (typeof body.count === 'number') return { status: 200, body: { devices: sim.portal.addDevices(body.count) } };
      if (Array.isArray(body.devices) && body.devices.every(isObject)) return { status: 200, body: { devices: sim.portal.addDevices(body.devices as Partial<Device>[]) } };
      return bad('expected {count} or {devices}');
    }
    case 'GET devices/:id': {
      const d = sim.inspect.device(b ?? '');
      return d ? { status: 200, body: d } : notFound(`device ${b} is not on this server`);
    }
    case 'POST devices/move-away':
    case 'POST devices/move-in': {
      const serials = serialsOf(body);
      if (!serials) return bad('expected {serials: [...]}');
      if (b === 'move-away') sim.portal.moveAway(serials);
      else sim.portal.moveIn(serials);
      return { status: 200, body: { serials } };
    }
    case 'PUT devices/:id/profile': {
      if (!isObject(body) || !(typeof body.profile_uuid === 'string' || body.profile_uuid === null)) return bad('expected {profile_uuid: string|null}');
      sim.portal.setProfile(b ?? '', body.profile_uuid);
      return { status: 200, body: sim.inspect.device(b ?? '') };
    }
    case 'POST devices/:id/pushed':
      sim.portal.markPushed(b ?? '');
      return { status: 200, body: sim.inspect.device(b ?? '') };
    case 'GET profiles/:id': {
      const p = sim.inspect.profile(b ?? '');
      return p ? { status: 200, body: p } : notFound(`profile ${b} is not known`);
    }
    case 'DELETE profiles/:id':
      sim.portal.forgetProfile(b ?? '');
      return { status: 200, body: { forgotten: b } };
    case 'GET faults':
      return { status: 200, body: sim.inspect.faults() };
    case 'POST faults':
      if (!isObject(body)) return bad('expected a FaultSpec object');
      if (faultSpecProblem(body) !== undefined) return bad(faultSpecProblem(body) as string);
      sim.injectFaults(body as FaultSpec);
      return { status: 200, body: sim.inspect.faults() };
    case 'DELETE faults':
      sim.clearFaults();
      return { status: 200, body: {} };
    case 'GET writes':
      return { status: 200, body: sim.inspect.writes() };
    case 'GET requests':
      return { status: 200, body: sim.inspect.requestCounts() };
    case 'DELETE requests':
      sim.inspect.resetRequestCounts();
      return { status: 200, body: {} };
    case 'POST clock':
      if (!isObject(body) || typeof body.advanceMs !== 'number' || !(body.advanceMs >= 0)) return bad('expected {advanceMs: number >= 0}');
      sim.advanceClock(body.advanceMs);
      return { status: 200, body: { now: new Date(ctx.now()).toISOString() } };
    default:
      return notFound(`no admin endpoint ${method} /_sim/${parts.join('/')}`);
  }
}

/** The path segments after `/_sim/`, percent-decoded. */
export function adminParts(url: URL): string[] {
  return url.pathname.split('/').slice(2).filter((p) => p !== '').map(decodeURIComponent);
}

/** Reads an admin request's JSON body (`{}` when empty); undefined when it is not JSON or too large. */
export async function readAdminBody(req: IncomingMessage): Promise<unknown> {
  const raw = await readBody(req);
  const body = raw === undefined ? MALFORMED : parseJson(raw);
  return body === MALFORMED ? undefined : body;
}

/** Answers one admin call on `target`; portal errors (unknown serial…) answer 400 with their message. */
export function adminReply(ctx: SimContext, target: AdminTarget, method: string, parts: string[], body: unknown): AdminReply {
  try {
    return route(ctx, target, method, parts, body);
  } catch (err) {
    return bad(err instanceof Error ? err.message : String(err));
  }
}

/** The 400 answer to a body that is not JSON. */
export const NOT_JSON: AdminReply = bad('body is not JSON');

/** Handles a request under `/_sim/`. Portal errors (unknown serial…) answer 400 with their message. */
export async function handleAdmin(ctx: SimContext, sim: AdminTarget, req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
  const body = await readAdminBody(req);
  if (body === undefined) return json(res, NOT_JSON);
  json(res, adminReply(ctx, sim, req.method ?? 'GET', adminParts(url), body));
}
