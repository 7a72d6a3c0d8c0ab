/**
 * The store as its backends and the composition root see it. The capabilities are declared by their
 * consumers in reconcile/ports.ts (`ObserveStore`, `DefineStore`, `PlanStore`, `ApplyStore`,
 * `StatusStore`, `AdoptStore`, STYLE.md rule 1), together with the record types they exchange; `Store` is
 * their union plus what only the composition root and the tests use. Every backend (memory, SQLite,
 * PostgreSQL) passes the one suite in test/store/conformance.ts.
 */
import type {
  AdoptStore,
  ApplyStore,
  AuditEntry,
  DefineStore,
  DeviceFilter,
  DeviceRecord,
  DiffReadOptions,
  ObserveStore,
  PlanStore,
  ProfileKey,
  ProfileRecord,
  ReconcileStore,
  ServerRecord,
  ServerUpdate,
  StatusStore,
} from '../reconcile/ports.js';
import type { ObservedDevice } from '../reconcile/diff.js';
import type { EnrollStore } from '../enroll/ports.js';
import type { NotificationOutbox } from '../notify/ports.js';
import type { ActivityStore } from '../ownership/ports.js';

export type { EnrollmentAttempt, EnrollmentAttemptRecord, EnrollmentCount, EnrollmentOutcome, EnrollStore } from '../enroll/ports.js';
export type { ActivityRecord, ActivitySerialResult, ActivityStore, ActivityUpdate } from '../ownership/ports.js';

export type {
  AdoptStore,
  ApplyStore,
  AuditEntry,
  CursorState,
  CursorUpdate,
  DefineStore,
  DeviceFilter,
  DeviceRecord,
  DeviceResult,
  DeviceResultStatus,
  DeviceResultUpdate,
  DeviceScanStore,
  FetchWriteGroup,
  IdentityStore,
  JsonValue,
  MigrationDeadlineCount,
  ObserveStore,
  PlanStore,
  ProfileIntent,
  ProfileKey,
  ProfileRecord,
  ProfileState,
  ReconcileStore,
  ResultCounts,
  RunRecord,
  RunResult,
  RunTrigger,
  ServerRecord,
  ServerUpdate,
  StatusStore,
  UpsertOptions,
  DiffReadOptions,
} from '../reconcile/ports.js';

/** A page of devices in serial order; pass `next` as `after` for the following page. */
export interface DevicePage {
  devices: DeviceRecord[];
  /** The last serial of this page when more devices follow, or null when this is the last page. */
  next: string | null;
}

/** A stored audit entry with its insertion sequence number. */
export interface AuditRecord extends AuditEntry {
  seq: number;
}

/** Who holds a leadership lock, as far as the store knows. */
export interface LeaderHolder {
  /** What holds it (`controller`, `apply`), when the holder said. */
  owner: string | null;
  /** The holder's process id, when known. */
  pid: number | null;
  /** The holder's host name (SQLite) or client address (PostgreSQL), when known. */
  host: string | null;
  since: Date | null;
}

/**
 * Leadership for HA replicas and the one writer (DESIGN.md "one leader (advisory lock) writes"): `depctl run`
 * and `depctl apply` take the same lock. PostgreSQL uses a session advisory lock on a dedicated connection;
 * SQLite a lock row with pid, host and heartbeat, across processes (sqlite/leader.ts); memory holds it in
 * this process.
 */
export interface LeaderLock {
  /**
   * Takes leadership for `name` if free (re-entrant for the same store); returns whether held. `owner` says
   * what holds it (`controller`, `apply`), for `leadershipHolder`.
   */
  tryAcquireLeadership(name: string, owner?: string): Promise<boolean>;
  /** Gives leadership up; a no-op when not held. */
  releaseLeadership(name: string): Promise<void>;
  /** Who holds `name` now (another process, or this one), or null when it is free or the store cannot tell. */
  leadershipHolder(name: string): Promise<LeaderHolder | null>;
  /**
   * Calls `listener` when this store loses `name` without releasing it (PostgreSQL: the lock's session ended;
   * SQLite: another process took the lock over), so that writes under it stop at once rather than at the next
   * check; returns a function that unsubscribes. A memory store never loses a lock.
   */
  onLeadershipLost(name: string, listener: () => void): () => void;
}

/** What `migrate()` did. */
export interface MigrationReport {
  /** Versions applied by this call, ascending. */
  applied: number[];
  /** The schema version after the call. */
  version: number;
}

/** Which backend a store uses. */
export type StoreBackend = 'memory' | 'sqlite' | 'postgres';

/**
 * Everything the store offers: built by the composition root, handed out as its narrow parts. Beyond the
 * consumer ports it has the composition root's needs (schema, leadership, recording token facts while
 * connecting, closing) and reads the tests use to check what was written.
 */
export interface Store extends ObserveStore, DefineStore, PlanStore, ApplyStore, ReconcileStore, StatusStore, AdoptStore, EnrollStore, NotificationOutbox, ActivityStore, LeaderLock {
  readonly backend: StoreBackend;
  /** Applies pending migrations (idempotent; concurrent callers are serialised). */
  migrate(): Promise<MigrationReport>;
  /** See PlanStore.iterateDiffDevices (every backend has it). */
  iterateDiffDevices(server: string, opts?: DiffReadOptions): AsyncIterable<ObservedDevice[]>;
  /** Releases leadership and connections; the store is unusable afterwards. */
  close(): Promise<void>;
  /**
   * See IdentityStore.upsertServer (cli/runtime.ts records token facts when it connects a server, identity.ts
   * what `GET /account` says).
   */
  upsertServer(name: string, update: ServerUpdate): Promise<ServerRecord>;
  /** Returns the profile row for a key, or undefined (tests check what a define recorded). */
  getProfile(key: ProfileKey): Promise<ProfileRecord | undefined>;
  /**
   * Returns up to `limit` devices with serial greater than `after`, in serial order, optionally filtered:
   * the keyset page `iterateDevices` is built on.
   */
  listDevices(server: string, page: { after?: string | null; limit: number; filter?: DeviceFilter }): Promise<DevicePage>;
  /** See DeviceScanStore.iterateDevices; the store also filters on the typed columns. */
  iterateDevices(server: string, opts?: { pageSize?: number; filter?: DeviceFilter }): AsyncIterable<DeviceRecord[]>;
  /** Reads audit entries in insertion order after sequence number `afterSeq` (exclusive). */
  readAudit(query: { runId?: number; server?: string; serial?: string; afterSeq?: number; limit: number }): Promise<AuditRecord[]>;
}
