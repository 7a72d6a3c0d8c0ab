/**
 * The controller's status snapshot: what `/readyz`, `/metrics`, `/api/status` and the HTML status page
 * read (STYLE rules 5 and 6). Plain data, produced by the loop, rendered elsewhere.
 */

import type { DriftKind } from './plan.js';
import type { RecordedIdentity } from './identity.js';
import type { RenewalStatus } from '../tokens/rotation.js';
import type { CredentialStatus } from '../credentials/watch.js';
import type { DeviceResultStatus, RunResult } from './ports.js';
import type { OrganizationState, ServerProblem, ServerState } from './outcome.js';

/** Condition types, after Flux/Kubernetes conventions. */
export type ConditionType = 'Ready' | 'Reconciling' | 'Stalled';

/** One condition with its reason (CamelCase, machine-readable) and a message for humans. */
export interface Condition {
  type: ConditionType;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  /** ISO 8601 time the status last changed. */
  lastTransitionTime: string;
}

/** Devices of one server by profile and by last result. */
export interface ServerStatus {
  name: string;
  /** ISO 8601 token expiry, or null when unknown. */
  tokenExpiresAt: string | null;
  tokenDaysLeft: number | null;
  devices: number;
  /** Devices per profile name (`(none)` for no profile, `(other)` for a profile depctl did not define). */
  devicesByProfile: Record<string, number>;
  /**
   * Devices by the result of their last assignment, as the store holds it (not only the last pass):
   * `success`, `throttled`, `failed`, `not-accessible`, `error`. Null when the store could not say.
   */
  devicesByResult: Partial<Record<DeviceResultStatus, number>> | null;
  /** Drift found by the last pass of this server (a follower, which plans nothing, shows none). */
  drift: DriftSummary[];
  /** Devices whose next attempt waits for a retry time (from the store). */
  deferred: number;
  /**
   * The groups behind `deferred` as the last pass planned them: until when, Apple's last answer, and the failed
   * attempts so far (the next wait grows with them). Null when no pass of this replica planned the server.
   */
  retries: { until: string; lastStatus: string; attempts: number; count: number }[] | null;
  /** Devices Apple gave an MDM migration deadline (protocol 8) and the earliest one; null when the store could not say. */
  migrationDeadlines: { devices: number; earliest: string | null } | null;
  /** ISO 8601 time of the last successful fetch or sync. */
  lastSyncAt: string | null;
  /** Where the server stood after the last pass; null before the first pass (or on a follower). */
  state: ServerState | null;
  /** Why the server could not be reconciled last time, if it could not. */
  problem: ServerProblem | null;
  /**
   * The Apple MDM server the token belongs to (`GET /account`), as the store last confirmed it: `server_uuid`,
   * `server_name`, `org_name`, `org_type`, `org_id` and when it was checked; null before the first answer.
   */
  account: RecordedIdentity | null;
  /**
   * A DEP token renewal under way (`keys rotate`, tokens/rotation.ts): its state and the steps left; null or
   * absent when none (a follower, which decrypts no token, does not know).
   */
  renewal?: RenewalStatus | null;
}

/** One drift group as the status shows it: the plan's finding without its serial list. */
export interface DriftSummary {
  kind: DriftKind;
  message: string;
  count: number;
  /** The profile the devices carry now: depctl's name, or Apple's name of a foreign profile, or its UUID. */
  current: string | null;
  /** The profile they should carry, when there is one. */
  desired: string | null;
  /** Since when (ISO 8601), as far as Apple says. */
  since: string | null;
}

/** A recent reconcile run. */
export interface RunSummary {
  id: number;
  startedAt: string;
  finishedAt: string | null;
  commit: string | null;
  trigger: string;
  result: RunResult | null;
  /** Counts for display: assigned, failed, throttled, defined. */
  counts: Record<string, number>;
}

/** `starting`, `idle`, `reconciling`, `waiting` (backoff after a failure), `stopping`. */
export type ControllerPhase = 'starting' | 'idle' | 'reconciling' | 'waiting' | 'stopping';

/** The whole snapshot. */
export interface ControllerStatus {
  phase: ControllerPhase;
  /** Whether this replica holds the leader lock (only the leader writes). */
  leader: boolean;
  conditions: Condition[];
  /**
   * The revision last applied without a server problem (a partial apply counts as applied: its serials are
   * retried), and the last one tried whatever came of it.
   */
  lastAppliedRevision: string | null;
  lastAttemptedRevision: string | null;
  /** Why the newest revision was refused (failed validation), if it was. */
  refusedRevision: { revision: string; message: string } | null;
  /** ISO 8601 time of the next scheduled reconcile. */
  nextRunAt: string | null;
  lastError: string | null;
  servers: ServerStatus[];
  /**
   * The declared credentials (`kind: Credential`: APNs, Apps and Books) and the DEP tokens, with their expiry
   * level and renewal steps, as the last pass read them; absent before it (and on a follower).
   */
  credentials?: CredentialStatus[];
  recentRuns: RunSummary[];
  /**
   * The trigger relay to the leader (HA, reconcile/trigger-relay.ts): whether a follower can hand a webhook or
   * `POST /api/reconcile` to the leader now. Absent when the store has none (memory, SQLite).
   */
  relay?: { backend: string; up: boolean; reason: string | null };
  /**
   * The enrollment endpoint per profile depctl serves (issue 14, controller/enroll/status.ts), from the
   * store; absent when no profile is served, null when the store could not say.
   */
  enrollment?: EnrollmentProfileStatus[] | null;
  /**
   * Device ownership per Organization (issue 15) as the last pass of this replica saw it; absent when the
   * configuration declares none or before the first pass (and on a follower).
   */
  organizations?: OrganizationStatus[];
  /** depctl version. */
  version: string;
}

/** One Organization's device ownership after the last pass. A figure the pass could not learn is null (unknown). */
export interface OrganizationStatus {
  name: string;
  scope: 'business' | 'school';
  /** `unknown` when the organization could not be observed (then the counts are null). */
  state: OrganizationState | 'unknown';
  /** Activities depctl issued that Apple has not finished, and the devices in them. */
  openActivities: number | null;
  movesInProgress: number | null;
  /** Devices the plan still has to move (not sent yet: guardrail, stop, declined). */
  pendingMoves: number | null;
  /** Devices no MdmServer claims (only with unclaimedDevices: report). */
  unclaimed: number | null;
  /** Devices in the organization as Apple listed them. */
  devices: number | null;
  /** Activities that ended in the last pass with devices that did not move. */
  failedActivities: { activityId: string; status: string; notMoved: number }[];
  /** Why the organization stopped, or the plan's error problems; null when none. */
  lastError: string | null;
  problem: ServerProblem | null;
}

/** Enrollment attempts of one served profile, and the devices DEP pushed it to that never enrolled. */
export interface EnrollmentProfileStatus {
  profile: string;
  /** The Enrollment that serves it. */
  enrollment: string;
  enrolled: number;
  refused: number;
  heldForUpdate: number;
  badRequest: number;
  /** Devices whose DEP profile status is `pushed` with this profile and no enrolled attempt; null when unknown. */
  assignedNeverEnrolled: number | null;
}
