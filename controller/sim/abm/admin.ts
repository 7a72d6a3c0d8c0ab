/**
 * Admin endpoints of the Business API simulator under `/_sim/` (Apple has no such path), like the DEP
 * simulator's. No auth: a local test tool. JSON in and out; errors `{error}`.
 *
 * | method | path | body | does |
 * |---|---|---|---|
 * | GET | /_sim/state | | counts, servers, faults, clock, request counts |
 * | GET | /_sim/account | | the API account (client ID, key ID, private key PEM, scope) |
 * | POST | /_sim/devices | `{count, serverId?}` | add generated devices to the organisation |
 * | GET | /_sim/devices/SERIAL | | a device with its assigned server |
 * | GET / POST / DELETE | /_sim/faults | AbmFaultSpec (POST merges) | read / inject / clear faults |
 * | POST | /_sim/clock | `{advanceMs}` | move the clock forward (activities progress) |
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isObject, parseJson, readBody, MALFORMED } from '../http-util.js';
import type { AbmFaultSpec, RunningAbmSimulator } from './api.js';

interface Reply {
  status: number;
  body: unknown;
}

const bad = (error: string): Reply => ({ status: 400, body: { error } });

/** Checks an admin fault body; returns the problem or undefined. */
export function abmFaultProblem(f: Record<string, unknown>): string | undefined {
  const known = new Set(['httpStatus', 'revokeTokens', 'failActivities', 'stopActivities', 'failedSerials']);
  const unknown = Object.keys(f).find((k) => !known.has(k));
  if (unknown !== undefined) return `unknown fault ${unknown}`;
  if (f.httpStatus !== undefined) {
    const h = f.httpStatus;
    if (!isObject(h) || ![429, 500, 502, 503, 504].includes(h.status as number) || typeof h.count !== 'number' || h.count < 1) return 'httpStatus needs {status: 429|500|502|503|504, count >= 1}';
    if (h.path !== undefined && typeof h.path !== 'string') return 'httpStatus.path must be a string';
    if (h.retryAfter !== undefined && typeof h.retryAfter !== 'string') return 'httpStatus.retryAfter must be a string';
  }
  for (const k of ['failActivities', 'stopActivities'] as const) if (f[k] !== undefined && (typeof f[k] !== 'number' || (f[k] as number) < 0)) return `${k} must be a count`;
  if (f.revokeTokens !== undefined && typeof f.revokeTokens !== 'boolean') return 'revokeTokens must be a boolean';
  if (f.failedSerials !== undefined && !(Array.isArray(f.failedSerials) && f.failedSerials.every((s) => typeof s === 'string'))) return 'failedSerials must be a list of serials';
  return undefined;
}

function route(sim: RunningAbmSimulator, faults: () => AbmFaultSpec, method: string, parts: string[], body: unknown): Reply {
  const [a, b] = parts;
  switch (`${method} ${a ?? ''}${b !== undefined ? '/:id' : ''}`) {
    case 'GET state':
      return {
        status: 200,
        body: {
          url: sim.url,
          apiUrl: sim.apiUrl,
          tokenUrl: sim.tokenUrl,
          clientId: sim.account.clientId,
          now: new Date(sim.inspect.now()).toISOString(),
          devices: sim.inspect.deviceCount(),
          servers: sim.inspect.serverIds().map((id) => ({ id, devices: sim.inspect.serialsOf(id).length })),
          tokensIssued: sim.inspect.tokensIssued(),
          faults: faults(),
          requests: sim.inspect.requestCounts(),
        },
      };
    case 'GET account':
      return { status: 200, body: sim.account };
    case 'POST devices': {
      if (!isObject(body) || typeof body.count !== 'number' || body.count < 0 || body.count > 1_000_000) return bad('expected {count, serverId?}');
      if (body.serverId !== undefined && typeof body.serverId !== 'string') return bad('serverId must be a string');
      return { status: 200, body: { serials: sim.addDevices(Math.floor(body.count), body.serverId as string | undefined) } };
    }
    case 'GET devices/:id': {
      const d = sim.inspect.device(b ?? '');
      return d ? { status: 200, body: d } : { status: 404, body: { error: `device ${b} is not in the organization` } };
    }
    case 'GET faults':
      return { status: 200, body: faults() };
    case 'POST faults': {
      if (!isObject(body)) return bad('expected an AbmFaultSpec object');
      const problem = abmFaultProblem(body);
      if (problem !== undefined) return bad(problem);
      sim.injectFaults(body as AbmFaultSpec);
      return { status: 200, body: faults() };
    }
    case 'DELETE faults':
      sim.clearFaults();
      return { status: 200, body: {} };
    case 'POST clock':
      if (!isObject(body) || typeof body.advanceMs !== 'number' || !(body.advanceMs >= 0)) return bad('expected {advanceMs: number >= 0}');
      sim.advanceClock(body.advanceMs);
      return { status: 200, body: { now: new Date(sim.inspect.now()).toISOString() } };
    default:
      return { status: 404, body: { error: `no admin endpoint ${method} /_sim/${parts.join('/')}` } };
  }
}

/** Handles a request under `/_sim/`. */
export async function handleAbmAdmin(sim: RunningAbmSimulator, faults: () => AbmFaultSpec, req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
  const raw = await readBody(req);
  const body = raw === undefined ? MALFORMED : parseJson(raw);
  let reply: Reply;
  if (body === MALFORMED) reply = bad('body is not JSON');
  else {
    try {
      reply = route(sim, faults, req.method ?? 'GET', url.pathname.split('/').slice(2).filter((p) => p !== '').map(decodeURIComponent), body);
    } catch (err) {
      reply = bad(err instanceof Error ? err.message : String(err));
    }
  }
  const text = JSON.stringify(reply.body ?? null);
  res.writeHead(reply.status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}
