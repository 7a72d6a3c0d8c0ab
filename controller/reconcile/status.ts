/**
 * The controller's status snapshot: what `/readyz`, `/metrics`, `/api/status` and the HTML status page
 * read (STYLE rules 5 and 6). Plain data, produced by the loop, rendered elsewhere.
 */

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
  /** Devices per last apply result (`success`, `throttled`, `failed`, `not-accessible`, `error`). */
  devicesByResult: Record<string, number>;
  drift: { kind: string; message: string; count: number }[];
  deferred: number;
  /** ISO 8601 time of the last successful fetch or sync. */
  lastSyncAt: string | null;
  /** Why the server could not be reconciled last time, if it could not. */
  error: string | null;
}

/** A recent reconcile run. */
export interface RunSummary {
  id: number;
  startedAt: string;
  finishedAt: string | null;
  commit: string | null;
  trigger: string;
  result: string | null;
  /** Counts for display: assigned, failed, throttled, defined. */
  counts: Record<string, number>;
}

/** The whole snapshot. */
export interface ControllerStatus {
  /** `starting`, `idle`, `reconciling`, `waiting` (backoff), `stopping`. */
  phase: 'starting' | 'idle' | 'reconciling' | 'waiting' | 'stopping';
  /** Whether this replica holds the leader lock (only the leader writes). */
  leader: boolean;
  conditions: Condition[];
  /** The git revision last applied successfully (or stalled on), and the last one tried. */
  lastAppliedRevision: string | null;
  lastAttemptedRevision: string | null;
  /** Why the newest revision was refused (failed validation), if it was. */
  refusedRevision: { revision: string; message: string } | null;
  /** ISO 8601 time of the next scheduled reconcile. */
  nextRunAt: string | null;
  lastError: string | null;
  servers: ServerStatus[];
  recentRuns: RunSummary[];
  /** depctl version. */
  version: string;
}
