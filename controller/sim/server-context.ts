/**
 * Building blocks shared by a lone simulator (index.ts) and a simulator group (group.ts): the
 * movable clock, one server's complete context (state, sessions, nonces, faults, cursors, token,
 * account), and the handle tests drive it through (portal, inspect, faults).
 */
import { randomBytes } from 'node:crypto';
import type { AccountDetail, ServerToken } from '../dep/types.js';
import type { FaultSpec, SimulatedServer } from './api.js';
import type { SimContext } from './context.js';
import { CursorCodec } from './cursors.js';
import { FaultState } from './faults.js';
import { createInspect, createPortal } from './portal.js';
import { NonceCache, SessionStore } from './sessions.js';
import { SimState } from './state.js';

/** Default session lifetime: 30 minutes (MicroMDM reuses a session for 3 minutes without retrying). */
export const DEFAULT_SESSION_TTL_MS = 30 * 60 * 1000;

/** Default accepted OAuth timestamp skew. */
export const DEFAULT_TIMESTAMP_TOLERANCE_MS = 10 * 60 * 1000;

/** Domain of the simulated organisation's e-mail addresses. */
export const ORG_DOMAIN = 'example.com';

/** A clock that tests (and `POST /_sim/clock`) can only move forward. */
export interface SimClock {
  now(): number;
  advance(ms: number): void;
}

/** Wraps a base clock with a forward-only offset. */
export function createClock(base: () => number): SimClock {
  let offset = 0;
  return {
    now: () => base() + offset,
    advance(ms: number) {
      if (!(ms >= 0)) throw new RangeError('advanceClock takes a non-negative number of milliseconds');
      offset += ms;
    },
  };
}

/** The UTC day start (epoch seconds) that fleet dates and token issue times are anchored at. */
export function anchorSecOf(nowMs: number): number {
  return Math.floor(nowMs / 86_400_000) * 86_400;
}

/** Everything one simulated server needs. */
export interface ServerContextOptions {
  /** Seed of the fleet generator (already normalised to 32 bits). */
  fleetSeed: number;
  token: ServerToken;
  account: AccountDetail;
  /** Number of generated devices, dated over the two years before `anchorSec`. */
  devices: number;
  anchorSec: number;
  now: () => number;
  sessionTtlMs: number;
  timestampToleranceMs: number;
  /** Generator window of a group member (fleet.ts generatorBaseForWindow) and its size. */
  generatorBase?: number;
  capacity?: number;
  /** Told about every session token issued (a group routes later calls by it). */
  onSessionIssued?: (token: string) => void;
}

/** Builds one server's context with its seeded fleet. */
export function createServerContext(o: ServerContextOptions): SimContext {
  const state = new SimState({
    seed: o.fleetSeed,
    orgDomain: ORG_DOMAIN,
    newProfileUuid: () => randomBytes(16).toString('hex').toUpperCase(),
    ...(o.generatorBase !== undefined ? { generatorBase: o.generatorBase } : {}),
    ...(o.capacity !== undefined ? { capacity: o.capacity } : {}),
  });
  state.seedFleet(Math.max(0, Math.floor(o.devices)), o.anchorSec);
  return {
    state,
    sessions: new SessionStore(o.now, o.sessionTtlMs, o.onSessionIssued),
    nonces: new NonceCache(o.timestampToleranceMs),
    faults: new FaultState(),
    cursors: new CursorCodec(randomBytes(32)),
    token: o.token,
    account: o.account,
    timestampToleranceMs: o.timestampToleranceMs,
    counts: new Map(),
    now: o.now,
    authenticatedReplies: 0,
    writes: [],
  };
}

/** The handle of one server: credentials, portal, inspect view and its own faults. */
export function createSimulatedServer(name: string, ctx: SimContext): SimulatedServer {
  return {
    name,
    // Read through: a group may swap its servers' tokens.
    get token() {
      return ctx.token;
    },
    portal: createPortal(ctx),
    inspect: createInspect(ctx),
    injectFaults(faults: FaultSpec) {
      ctx.faults.set(faults);
      // Invalidating happens once, when the fault is set; `forbidden` then shapes the answers.
      if (faults.expireSessions !== undefined) ctx.sessions.revokeAll();
    },
    clearFaults: () => ctx.faults.clear(),
  };
}
