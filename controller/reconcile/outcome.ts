/**
 * One vocabulary for how a reconcile pass and each server in it ended (STYLE rule 5). Plan, apply, the
 * loop, status, metrics and notifications all read these types; none of them parses a message string.
 */
import { DepHttpError, DepNetworkError, DepProtocolError, DepTimeoutError, isTerminalAuthError, isUserAgentRejected, type DepAuthError, type TerminalAuthReason } from '../dep/errors.js';
import { AbmAuthError, AbmHttpError, AbmNetworkError, AbmProtocolError, AbmTimeoutError, AbmTokenError } from '../abm/errors.js';
import type { LoopTrigger, RunResult } from './ports.js';

/**
 * How a problem may end: `terminal` needs a person (terms, revoked token, another server) and is not retried
 * until the revision changes, someone asks, or the Apple sync interval comes round; `transient` passes by
 * itself (network, Apple's 5xx) and is retried with backoff; `guardrail` is depctl refusing to go on
 * (maxChanges) until a person allows it.
 */
export type ProblemKind = 'terminal' | 'transient' | 'guardrail';

/**
 * Why a server could not be reconciled. Apple's own codes are kept verbatim; depctl's are kebab-case.
 * - `T_C_NOT_SIGNED`, `ACCESS_DENIED`: Apple's terminal codes (dep-protocol.md).
 * - `token-rejected`, `signature-invalid`, `session-unauthorized`: Apple refused the token or session.
 * - `token-unavailable`: the token or key is missing or cannot be decrypted; `token-expired`.
 * - `server-changed`: the token now belongs to another MDM server than the store knows.
 * - `max-changes`: the plan exceeds the server's maxChanges.
 * - `unreachable`: no answer (network, timeout); `apple-error`: Apple answered with an error or a body that
 *   cannot be used.
 * - `internal-error`: the pass failed inside depctl, not at Apple (the state store failed or its connection was
 *   cut, or a bug); retried like a transient problem.
 * - `user-agent-rejected`: Apple refused the User-Agent (USER_AGENT_MISSING / USER_AGENT_INVALID).
 * - `untrusted-credential-change`: a plan of an unmerged ref whose server is new or changes its token,
 *   private key or depUrl; it is planned after merge only, and no call is made with those values.
 * - `endpoint-not-allowed`: the server's depUrl is not Apple's and not a host the operator allowed
 *   (`--allow-dep-host`); no call is made (config/trust.ts).
 * - `api-account-rejected`: an Organization's Business/School API account was refused (the token endpoint
 *   refused its client assertion, or the API refused a fresh access token: revoked key, lost permission).
 */
export type ProblemReason =
  | 'T_C_NOT_SIGNED'
  | 'ACCESS_DENIED'
  | 'token-rejected'
  | 'signature-invalid'
  | 'session-unauthorized'
  | 'token-unavailable'
  | 'token-expired'
  | 'server-changed'
  | 'max-changes'
  | 'unreachable'
  | 'apple-error'
  | 'user-agent-rejected'
  | 'untrusted-credential-change'
  | 'endpoint-not-allowed'
  | 'api-account-rejected'
  | 'internal-error';

/**
 * A problem that stopped one server in a pass, or one Organization's device ownership (issue 15): then
 * `organization` is its name and `server` reads `organization NAME`, so every consumer of problems (the
 * loop's backoff and stall, conditions, logs) treats it like a server's.
 */
export interface ServerProblem {
  server: string;
  organization?: string;
  kind: ProblemKind;
  reason: ProblemReason;
  /** What happened and what to do, for people (already redacted by the DEP client). */
  message: string;
  /** When Apple said to try again (Retry-After), ISO 8601; null when it did not say. */
  retryAt: string | null;
}

/** Where one server stands after a pass. */
export type ServerState =
  /** Nothing left to change. */
  | 'converged'
  /** Nothing left to change but serials Apple asked to retry later (THROTTLED with a retry time). */
  | 'waiting'
  /** Some serials failed, were not accessible, or conflict in the config; they need attention or a retry. */
  | 'partial'
  /** The server stopped: see its problem. */
  | 'stopped';

/** The outcome of one server in a pass. */
export interface ServerOutcome {
  server: string;
  state: ServerState;
  problem: ServerProblem | null;
  /** Serials waiting for Apple's retry time, and serials that failed (FAILED, NOT_ACCESSIBLE, no answer). */
  waiting: number;
  failed: number;
  conflicts: number;
}

/**
 * Where one Organization's device ownership stands after a pass (issue 15).
 * - `converged`: no device to move and no activity open.
 * - `in-progress`: activities depctl issued are still running at Apple: the moves are not done yet.
 * - `partial`: an activity finished FAILED, STOPPED or with devices that did not move, a declared server is
 *   missing or ambiguous in Apple Business Manager, or moves were planned but not applied.
 * - `stopped`: the organization stopped (see its problem).
 */
export type OrganizationState = 'converged' | 'in-progress' | 'partial' | 'stopped';

/** One activity Apple finished in this pass with devices that did not move. */
export interface FailedActivity {
  activityId: string;
  /** Apple's final status (COMPLETED with failed serials, FAILED, STOPPED) or NOT_FOUND. */
  status: string;
  moved: number;
  notMoved: number;
}

/** The outcome of one Organization in a pass. */
export interface OrganizationOutcome {
  organization: string;
  state: OrganizationState;
  problem: ServerProblem | null;
  /** Activities this pass created, and the devices in them. */
  issued: number;
  issuedDevices: number;
  /** Activities still running at Apple after this pass (created now or earlier), and their devices. */
  openActivities: number;
  movesInProgress: number;
  /** Devices the plan moves that this pass did not send (not applied, guardrail, stopped). */
  pendingMoves: number;
  /** Activities finished in this pass with devices that did not move. */
  failedActivities: FailedActivity[];
  /** Error problems of the plan (a declared server Apple does not have, or has twice). */
  errors: number;
  /** Devices no MdmServer claims, when the Organization reports them; null when not known. */
  unclaimed: number | null;
}

/** How a whole pass ended. */
export interface PassOutcome {
  revision: string | null;
  trigger: LoopTrigger | 'cli';
  /**
   * `success`: wrote (assignments, or Business API activities issued) and nothing failed; `noop`: nothing to
   * write; `partial`: some serials or device moves failed; `failed`: a server or an organization stopped.
   */
  result: RunResult;
  servers: ServerOutcome[];
  /** Device ownership per Organization (issue 15); absent when the pass had none. */
  organizations?: OrganizationOutcome[];
  /** Every server problem of the pass, in server order. */
  problems: ServerProblem[];
  /** The earliest time a deferred serial may be retried (ISO 8601), if any. */
  nextRetryAt: string | null;
  /** The run id in the store when the pass wrote anything. */
  runId: number | null;
}

const AUTH_REASONS: Record<TerminalAuthReason, ProblemReason> = {
  'terms-not-signed': 'T_C_NOT_SIGNED',
  'access-denied': 'ACCESS_DENIED',
  'token-rejected': 'token-rejected',
  'signature-invalid': 'signature-invalid',
  'session-unauthorized': 'session-unauthorized',
};

/** Classifies an error thrown while observing or applying one server. */
export function problemFromError(server: string, err: unknown, now: Date): ServerProblem {
  if (isTerminalAuthError(err)) return { server, kind: 'terminal', reason: AUTH_REASONS[(err as DepAuthError).reason], message: err.message, retryAt: null };
  if (isUserAgentRejected(err)) return { server, kind: 'terminal', reason: 'user-agent-rejected', message: err.message, retryAt: null };
  const detail = err instanceof Error ? err.message : String(err);
  if (err instanceof DepHttpError || err instanceof DepProtocolError) {
    const retryAt = err instanceof DepHttpError && err.retryAfterMs !== undefined ? new Date(now.getTime() + err.retryAfterMs).toISOString() : null;
    return { server, kind: 'transient', reason: 'apple-error', message: `Apple's DEP service answered with an error: ${detail}; nothing is changed on this server until it answers`, retryAt };
  }
  if (err instanceof DepNetworkError || err instanceof DepTimeoutError) {
    return { server, kind: 'transient', reason: 'unreachable', message: `could not reach Apple's DEP service: ${detail}; nothing is changed on this server until it answers`, retryAt: null };
  }
  // Not Apple: the state store (a cut connection, a full disk) or a bug. Saying "Apple" here would send an
  // administrator to the wrong place.
  return { server, kind: 'transient', reason: 'internal-error', message: `this server's pass failed inside depctl (state store or internal error), not at Apple: ${detail}; retried on the next pass`, retryAt: null };
}

/**
 * Classifies an error of the Business API that stopped an organization (observe, or an activity's POST).
 * The refused API account needs a person; Apple's other answers and the network are retried with backoff.
 */
export function problemFromAbmError(organization: string, err: unknown, now: Date): ServerProblem {
  const base = { server: `organization ${organization}`, organization };
  const detail = err instanceof Error ? err.message : String(err);
  if (err instanceof AbmAuthError || (err instanceof AbmTokenError && !err.transient)) {
    return { ...base, kind: 'terminal', reason: 'api-account-rejected', message: detail, retryAt: null };
  }
  if (err instanceof AbmHttpError || err instanceof AbmProtocolError || err instanceof AbmTokenError) {
    const retryAt = err instanceof AbmHttpError && err.retryAfterMs !== undefined ? new Date(now.getTime() + err.retryAfterMs).toISOString() : null;
    return { ...base, kind: 'transient', reason: 'apple-error', message: detail, retryAt };
  }
  if (err instanceof AbmNetworkError || err instanceof AbmTimeoutError) return { ...base, kind: 'transient', reason: 'unreachable', message: detail, retryAt: null };
  return { ...base, kind: 'transient', reason: 'internal-error', message: detail, retryAt: null };
}

/** True for Apple's answer that the organisation must accept new terms. */
export function isTermsProblem(p: ServerProblem): boolean {
  return p.reason === 'T_C_NOT_SIGNED';
}
