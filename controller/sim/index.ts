/**
 * The DEP simulator: Apple's mdmenrollment.apple.com paths served at `/` by a node:http server, with
 * a seeded fleet, faithful paging, OAuth 1.0a sessions, portal actions, fault injection and `/_sim/`
 * admin endpoints (admin.ts). It backs `depctl sim`, the quickstart and the integration tests.
 * `startSimulator` runs one MDM server; `startSimulatorGroup` (group.ts) runs several behind one
 * listener, told apart by their tokens as Apple does.
 */
import type { RunningSimulator, SimulatorOptions } from './api.js';
import { handleAdmin } from './admin.js';
import { accountFromSeed, accountUrls, tokenFromSeed } from './credentials.js';
import { isAdminPath, listen } from './listen.js';
import { normaliseSeed } from './rng.js';
import { handleApple, SERVED_PATHS } from './router.js';
import { anchorSecOf, createClock, createServerContext, createSimulatedServer, DEFAULT_SESSION_TTL_MS, DEFAULT_TIMESTAMP_TOLERANCE_MS, ORG_DOMAIN } from './server-context.js';

export type {
  FaultSpec,
  SimCallEvent,
  SimWrite,
  PortalActions,
  RunningSimulator,
  RunningSimulatorGroup,
  SimulatedServer,
  SimulatorGroupOptions,
  SimulatorInspect,
  SimulatorOptions,
  SimulatorServerSpec,
} from './api.js';
export { startSimulatorGroup } from './group.js';

export { DEFAULT_SESSION_TTL_MS, DEFAULT_TIMESTAMP_TOLERANCE_MS } from './server-context.js';

/**
 * Starts a simulator and resolves once it listens. The fleet (`devices`, `seed`) is generated in a
 * few typed arrays; fleet dates are spread over the two years before the clock's current UTC day.
 */
export async function startSimulator(opts: SimulatorOptions = {}): Promise<RunningSimulator> {
  const clock = createClock(opts.now ?? Date.now);
  const seed = opts.seed ?? 1;
  const anchorSec = anchorSecOf(clock.now());
  const ctx = createServerContext({
    fleetSeed: normaliseSeed(seed),
    token: opts.token ?? tokenFromSeed(seed, anchorSec),
    account: accountFromSeed(seed, opts.serverName ?? 'Example Server', opts.orgName ?? 'Example Inc', ORG_DOMAIN, accountUrls(SERVED_PATHS)),
    devices: opts.devices ?? 0,
    anchorSec,
    now: clock.now,
    sessionTtlMs: opts.sessionTtlMs ?? DEFAULT_SESSION_TTL_MS,
    timestampToleranceMs: opts.oauthTimestampToleranceMs ?? DEFAULT_TIMESTAMP_TOLERANCE_MS,
  });
  if (opts.onCall) ctx.onCall = opts.onCall;
  const { token, portal, inspect, injectFaults, clearFaults } = createSimulatedServer('default', ctx);
  const listener = await listen(opts.host ?? '127.0.0.1', opts.port ?? 0, (req, res, url) =>
    isAdminPath(url) ? handleAdmin(ctx, sim, req, res, url) : handleApple(ctx, req, res, url),
  );
  const sim: RunningSimulator = { url: listener.url, token, portal, inspect, injectFaults, clearFaults, advanceClock: clock.advance, close: listener.close };
  return sim;
}
