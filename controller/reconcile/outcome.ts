/**
 * One vocabulary for how a reconcile pass and each server in it ended (STYLE rule 5). Plan, apply, the
 * loop, status, metrics and notifications all read these types; none of them parses a message string.
 */
import { DepHttpError, DepNetworkError, DepProtocolError, DepTimeoutError, isTerminalAuthError, isUserAgentRejected, type DepAuthError, type TerminalAuthReason } from '../dep/errors.js';
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
  | 'internal-error';

/** A problem that stopped one server in a pass. */
export interface ServerProblem {
  server: string;
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

/** How a whole pass ended. */
export interface PassOutcome {
  revision: string | null;
  trigger: LoopTrigger | 'cli';
  /** `success`: wrote and converged; `noop`: nothing to write; `partial`; `failed`: a server stopped. */
  result: RunResult;
  servers: ServerOutcome[];
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

/** True for Apple's answer that the organisation must accept new terms. */
export function isTermsProblem(p: ServerProblem): boolean {
  return p.reason === 'T_C_NOT_SIGNED';
}
