/**
 * Dispatch of Apple's paths. Order of checks per request: count it, apply connection-reset, latency
 * and injected-status faults, then 404/405, User-Agent (400 USER_AGENT_MISSING), T&C and revoked-token
 * faults, the session (401, or 403 FORBIDDEN like depsim after a restart), the body (400
 * MALFORMED_REQUEST_BODY), and finally the endpoint. A fresh session token may ride on any
 * authenticated reply in `X-ADM-Auth-Session` (the `rotateSession` fault).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { type ApiReply, type Handler, type SimContext, fail } from './context.js';
import { MALFORMED, parseJson, readBody, sendError, sendJson } from './http-util.js';
import { activationLock, deviceDetails, disownDevices, fetchDevices, replacementDetails, syncDevices } from './routes-devices.js';
import { assignProfile, defineProfile, getProfile, removeProfile } from './routes-profiles.js';
import { getAccount, getSession } from './routes-session.js';

/** Apple's paths and the handler of each method. */
const ROUTES: Record<string, Partial<Record<string, Handler>>> = {
  '/session': { GET: getSession },
  '/account': { GET: getAccount },
  '/server/devices': { POST: fetchDevices },
  '/devices/sync': { POST: syncDevices },
  '/devices': { POST: deviceDetails },
  '/devices/disown': { POST: disownDevices },
  '/device/activationlock': { POST: activationLock },
  '/device/replacementDetails': { GET: replacementDetails },
  '/profile': { GET: getProfile, POST: defineProfile },
  '/profile/devices': { POST: assignProfile, PUT: assignProfile, DELETE: removeProfile },
};

/** The paths the simulator serves, with their methods (for GET /account `urls`). */
export const SERVED_PATHS: Record<string, string[]> = Object.fromEntries(Object.entries(ROUTES).map(([p, m]) => [p, Object.keys(m)]));

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function sessionProblem(ctx: SimContext, token: string | undefined): ApiReply | undefined {
  const state = token ? ctx.sessions.check(token) : 'unknown';
  if (state === 'ok') return undefined;
  if (state === 'unknown' && token && ctx.faults.forbidUnknownSessions()) return fail(403, 'FORBIDDEN');
  return fail(401, 'UNAUTHORIZED');
}

function headerValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

/** Handles one request to Apple's paths (everything but /_sim). */
export async function handleApple(ctx: SimContext, req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
  const method = req.method ?? 'GET';
  const path = url.pathname;
  const key = `${method} ${path}`;
  ctx.counts.set(key, (ctx.counts.get(key) ?? 0) + 1);

  if (ctx.faults.takeConnectionReset(path)) {
    req.socket.destroy();
    return;
  }
  const latency = ctx.faults.latencyMs();
  if (latency > 0) await delay(latency);
  const injected = ctx.faults.takeHttpStatus(path);
  if (injected) {
    sendError(res, injected.status, injected.body, injected.retryAfter !== undefined ? { 'Retry-After': injected.retryAfter } : {});
    return;
  }

  const route = ROUTES[path];
  if (route === undefined) return sendError(res, 404, 'NOT_FOUND');
  const handler = route[method];
  if (handler === undefined) return sendError(res, 405, 'METHOD_NOT_ALLOWED', { Allow: Object.keys(route).join(', ') });
  // Apple: USER_AGENT_MISSING when the header "is missing or has no assigned value" (petarov's copy of
  // Apple's descriptions). Apple also refuses some values with USER_AGENT_INVALID but does not say which
  // (dep-protocol.md section 2), so the simulator refuses none: it must not invent Apple's rules.
  const ua = headerValue(req.headers['user-agent']);
  if (ua === undefined || ua.trim() === '') return sendError(res, 400, 'USER_AGENT_MISSING');

  const isSession = path === '/session';
  const sessionToken = headerValue(req.headers['x-adm-auth-session']);
  if (!isSession) {
    if (ctx.faults.termsNotSigned()) return sendError(res, 403, 'T_C_NOT_SIGNED');
    if (ctx.faults.tokenRevoked()) return sendError(res, 403, 'token_rejected');
    const problem = sessionProblem(ctx, sessionToken);
    if (problem) return send(res, problem);
  }

  const raw = method === 'GET' ? Buffer.alloc(0) : await readBody(req);
  if (raw === undefined) return sendError(res, 413, 'REQUEST_ENTITY_TOO_LARGE');
  const body = parseJson(raw);
  if (body === MALFORMED) return sendError(res, 400, 'MALFORMED_REQUEST_BODY');
  const version = Number.parseInt(headerValue(req.headers['x-server-protocol-version']) ?? '', 10);
  ctx.onCall?.({ phase: 'received', method, path });
  const reply = handler(ctx, { method, url, headers: req.headers, version: Number.isFinite(version) && version > 0 ? version : 1, body });
  ctx.onCall?.({ phase: 'handled', method, path, status: reply.status });

  if (!isSession && sessionToken && reply.status < 500) {
    const rotation = ctx.faults.rotation();
    if (rotation && ++ctx.authenticatedReplies % rotation.every === 0) {
      const fresh = ctx.sessions.issue();
      if (rotation.revokeOld) ctx.sessions.revoke(sessionToken);
      reply.headers = { ...reply.headers, 'X-ADM-Auth-Session': fresh };
    }
  }
  send(res, reply);
}

function send(res: ServerResponse, reply: ApiReply): void {
  if ('error' in reply) sendError(res, reply.status, reply.error, reply.headers);
  else sendJson(res, reply.status, reply.json, reply.headers);
}
