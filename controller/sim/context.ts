/**
 * The pieces every route handler works with, and the handler contract: a handler receives a parsed
 * call and returns a reply; the router (router.ts) owns sockets, faults, auth and headers.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { AccountDetail, ServerToken } from '../dep/types.js';
import type { SimCallEvent, SimWrite } from './api.js';
import type { CursorCodec } from './cursors.js';
import type { FaultState } from './faults.js';
import type { NonceCache, SessionStore } from './sessions.js';
import type { SimState } from './state.js';

/** Shared simulator internals. */
export interface SimContext {
  readonly state: SimState;
  readonly sessions: SessionStore;
  readonly nonces: NonceCache;
  readonly faults: FaultState;
  readonly cursors: CursorCodec;
  /**
   * The server token that opens this server. Not readonly: a group can swap two servers' tokens
   * (`swapTokens`), as when an administrator downloads a token for the wrong MDM server.
   */
  token: ServerToken;
  /** GET /account body at the highest protocol version (the route trims by version). */
  readonly account: AccountDetail;
  /** Accepted |oauth_timestamp - clock| in milliseconds. */
  readonly timestampToleranceMs: number;
  /** Requests by `METHOD path` (Apple's paths only). */
  readonly counts: Map<string, number>;
  /** The simulator clock in epoch milliseconds. */
  now(): number;
  /** Authenticated replies so far (drives `rotateSession`). */
  authenticatedReplies: number;
  /** Writes Apple carried out, in order (SimulatorInspect.writes). */
  readonly writes: SimWrite[];
  /** SimulatorOptions.onCall. */
  onCall?: (e: SimCallEvent) => void;
}

/** Appends a write to the context's write log. */
export function logWrite(ctx: SimContext, op: SimWrite['op'], profileUuid: string | null, devices: Record<string, string>): void {
  ctx.writes.push({ seq: ctx.writes.length + 1, at: ctx.now(), op, profileUuid, devices: { ...devices } });
}

/** A parsed Apple API call. */
export interface ApiCall {
  method: string;
  url: URL;
  headers: IncomingHttpHeaders;
  /** `X-Server-Protocol-Version` (1 when absent, as for a client that asks for nothing newer). */
  version: number;
  /** The JSON body (`{}` when empty), or MALFORMED from http-util.ts. */
  body: unknown;
}

/** A handler's answer: JSON, or an Apple error code as plain text. */
export type ApiReply = { status: number; json: unknown; headers?: Record<string, string> } | { status: number; error: string; headers?: Record<string, string> };

/** An endpoint implementation. */
export type Handler = (ctx: SimContext, call: ApiCall) => ApiReply;

/** Shorthand for an error reply. */
export function fail(status: number, error: string): ApiReply {
  return { status, error };
}

/** Shorthand for a 200 JSON reply. */
export function ok(json: unknown): ApiReply {
  return { status: 200, json };
}

/** The clock in whole epoch seconds (Apple's timestamps have no fraction). */
export function nowSec(ctx: SimContext): number {
  return Math.floor(ctx.now() / 1000);
}
