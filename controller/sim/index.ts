/**
 * The DEP simulator: Apple's mdmenrollment.apple.com paths served at `/` by a node:http server, with
 * a seeded fleet, faithful paging, OAuth 1.0a sessions, portal actions, fault injection and `/_sim/`
 * admin endpoints (admin.ts). It backs `depctl sim`, the quickstart and the integration tests.
 */
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FaultSpec, RunningSimulator, SimulatorOptions } from './api.js';
import { handleAdmin } from './admin.js';
import type { SimContext } from './context.js';
import { accountFromSeed, accountUrls, tokenFromSeed } from './credentials.js';
import { CursorCodec } from './cursors.js';
import { FaultState } from './faults.js';
import { createInspect, createPortal } from './portal.js';
import { normaliseSeed } from './rng.js';
import { handleApple, SERVED_PATHS } from './router.js';
import { NonceCache, SessionStore } from './sessions.js';
import { SimState } from './state.js';

export type { FaultSpec, PortalActions, RunningSimulator, SimulatorInspect, SimulatorOptions } from './api.js';

/** Default session lifetime: 30 minutes (MicroMDM reuses a session for 3 minutes without retrying). */
export const DEFAULT_SESSION_TTL_MS = 30 * 60 * 1000;

/** Default accepted OAuth timestamp skew. */
export const DEFAULT_TIMESTAMP_TOLERANCE_MS = 10 * 60 * 1000;

/** Domain of the simulated organisation's e-mail addresses. */
const ORG_DOMAIN = 'example.com';

/**
 * Starts a simulator and resolves once it listens. The fleet (`devices`, `seed`) is generated in a
 * few typed arrays; fleet dates are spread over the two years before the clock's current UTC day.
 */
export async function startSimulator(opts: SimulatorOptions = {}): Promise<RunningSimulator> {
  const baseNow = opts.now ?? Date.now;
  let offset = 0;
  const now = (): number => baseNow() + offset;
  const seed = opts.seed ?? 1;
  const mixed = normaliseSeed(seed);
  const anchorSec = Math.floor(now() / 86_400_000) * 86_400;
  const token = opts.token ?? tokenFromSeed(seed, anchorSec);
  const tolerance = opts.oauthTimestampToleranceMs ?? DEFAULT_TIMESTAMP_TOLERANCE_MS;
  const state = new SimState({ seed: mixed, orgDomain: ORG_DOMAIN, newProfileUuid: () => randomBytes(16).toString('hex').toUpperCase() });
  state.seedFleet(Math.max(0, Math.floor(opts.devices ?? 0)), anchorSec);

  const ctx: SimContext = {
    state,
    sessions: new SessionStore(now, opts.sessionTtlMs ?? DEFAULT_SESSION_TTL_MS),
    nonces: new NonceCache(tolerance),
    faults: new FaultState(),
    cursors: new CursorCodec(randomBytes(32)),
    token,
    account: accountFromSeed(seed, opts.serverName ?? 'Example Server', opts.orgName ?? 'Example Inc', ORG_DOMAIN, accountUrls(SERVED_PATHS)),
    timestampToleranceMs: tolerance,
    counts: new Map(),
    now,
    authenticatedReplies: 0,
  };

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://simulator');
    const work = url.pathname === '/_sim' || url.pathname.startsWith('/_sim/') ? handleAdmin(ctx, sim, req, res, url) : handleApple(ctx, req, res, url);
    work.catch(() => {
      // A handler bug must not crash the process: answer 500 if nothing was sent yet.
      if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'text/plain;charset=UTF8' }).end('INTERNAL_SERVER_ERROR');
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;

  const sim: RunningSimulator = {
    url: `http://${host}:${address.port}`,
    token,
    portal: createPortal(ctx),
    inspect: createInspect(ctx),
    injectFaults(faults: FaultSpec) {
      ctx.faults.set(faults);
      // Invalidating happens once, when the fault is set; `forbidden` then shapes the answers.
      if (faults.expireSessions !== undefined) ctx.sessions.revokeAll();
    },
    clearFaults: () => ctx.faults.clear(),
    advanceClock(ms: number) {
      if (!(ms >= 0)) throw new RangeError('advanceClock takes a non-negative number of milliseconds');
      offset += ms;
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
  return sim;
}
