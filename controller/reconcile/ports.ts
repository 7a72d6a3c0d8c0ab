/**
 * What the reconcile engine and its commands need from the store and the DEP client, declared here by
 * their consumers (STYLE rule 1): one narrow interface per consumer (`ObserveStore`, `DefineStore`,
 * `PlanStore`, `ApplyStore`, `StatusStore`, `AdoptStore`), and the record types they exchange, each
 * declared once. The store implements the union (store/ports.ts `Store`); reconcile never imports store/.
 *
 * Times are `Date` values supplied by the caller (clocks live at the edges, STYLE rule 9); stores keep
 * millisecond precision. Server names are the `metadata.name` of an `MdmServer` document.
 */
import type {
  AccountDetail,
  AssignProfileResponse,
  DefineProfileResponse,
  Device,
  FetchDeviceResponse,
  Profile,
  SerialStatusResponse,
} from '../dep/types.js';
import type { KnownProfile, ObservedDevice } from './diff.js';
import type { OutboxEntry } from '../notify/ports.js';

/** Per-call options every DEP call accepts. */
export interface CallOptions {
  signal?: AbortSignal;
}

/** The DEP calls reconcile makes (dep/client.ts DepClient has them). */
export interface ReconcileDepClient {
  account(o?: CallOptions): Promise<AccountDetail>;
  fetchAllDevices(req?: { cursor?: string; limit?: number }, o?: CallOptions): AsyncGenerator<FetchDeviceResponse>;
  syncAllDevices(req: { cursor: string; limit?: number }, o?: CallOptions): AsyncGenerator<FetchDeviceResponse>;
  defineProfile(profile: Profile, o?: CallOptions): Promise<DefineProfileResponse>;
  getProfile(uuid: string, o?: CallOptions): Promise<Omit<Profile, 'devices'> & { profile_uuid: string }>;
  assignProfile(uuid: string, serials: readonly string[], o?: CallOptions): Promise<AssignProfileResponse>;
  removeProfile(serials: readonly string[], o?: CallOptions): Promise<SerialStatusResponse>;
}

// ---------------------------------------------------------------------------------------------------
// Record and value types (the only declaration of each; store/ports.ts re-exports them).
// ---------------------------------------------------------------------------------------------------

/** JSON data the store keeps verbatim. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/** Identity and token facts of one MDM server (one DEP server token). */
export interface ServerRecord {
  name: string;
  /** A fingerprint of the decrypted token (never the token itself), to notice a replaced token. */
  tokenFingerprint: string | null;
  /** `access_token_expiry` of the token, for the 30/14/7-day drift warnings. */
  tokenExpiresAt: Date | null;
  /** Apple's `server_uuid` from `GET /account`, when known: the MDM server the token belongs to (identity.ts). */
  serverUuid: string | null;
  /** Apple's `server_name` (the MDM server's name in Apple Business Manager), when known. */
  appleServerName: string | null;
  /** Apple's `org_name`, when known. */
  orgName: string | null;
  /** Apple's `org_type` (`edu`, `org`; protocol v3), when known. */
  orgType: string | null;
  /** Apple's `org_id` (protocol v3), when known. */
  orgId: string | null;
  /** When `GET /account` last confirmed (or first recorded) the identity above. */
  identityCheckedAt: Date | null;
  updatedAt: Date;
  /** Identity of the inputs under which the last full diff of this server found nothing to do, or null. */
  convergedKey: string | null;
}

/** Fields of a server to write; an omitted field keeps its stored value, `null` clears it. */
export interface ServerUpdate {
  tokenFingerprint?: string | null;
  tokenExpiresAt?: Date | null;
  serverUuid?: string | null;
  appleServerName?: string | null;
  orgName?: string | null;
  orgType?: string | null;
  orgId?: string | null;
  identityCheckedAt?: Date | null;
  /** Stamps `updatedAt`. */
  at: Date;
}

/**
 * Where observation of one server stands. A full fetch is in progress (and may resume with `cursor`)
 * while `fetchStartedAt` is later than `fetchedAt`; Apple expires cursors after 7 days
 * (dep-protocol.md, EXPIRED_CURSOR) and DESIGN.md allows a full refetch at most weekly, so both
 * times are kept.
 */
export interface CursorState {
  server: string;
  /** The last cursor Apple returned (a fetch page or a sync), opaque; null before the first fetch. */
  cursor: string | null;
  /** When the latest full fetch started, complete or not. */
  fetchStartedAt: Date | null;
  /** When the last full fetch completed (`more_to_follow: false`). */
  fetchedAt: Date | null;
  /** When the last sync call succeeded. */
  syncedAt: Date | null;
}

/** Fields of a cursor state to write; `undefined` keeps the stored value, `null` clears it. */
export interface CursorUpdate {
  cursor?: string | null;
  fetchStartedAt?: Date | null;
  fetchedAt?: Date | null;
  syncedAt?: Date | null;
}

/** `defining` is recorded before `POST /profile`; `defined` once Apple returned the UUID. */
export type ProfileState = KnownProfile['state'];

/** One defined (or being defined) profile content on one server. Apple profiles are immutable. */
export interface ProfileRecord extends KnownProfile {
  server: string;
  /** `metadata.name` of the EnrollmentProfile document. */
  name: string;
  /** Canonical content hash of `body`, computed by the caller; part of the unique key. */
  contentHash: string;
  state: ProfileState;
  /** Apple's profile UUID; null while `defining`. */
  uuid: string | null;
  /** The profile exactly as sent to Apple. */
  body: Profile;
  /** When the intent was recorded. */
  createdAt: Date;
  /** When Apple returned the UUID. */
  definedAt: Date | null;
}

/** The profile key: server + name + canonical content hash (DESIGN.md "Profiles are immutable"). */
export interface ProfileKey {
  server: string;
  name: string;
  contentHash: string;
}

/** What to record before calling `POST /profile`. */
export interface ProfileIntent extends ProfileKey {
  body: Profile;
  at: Date;
}

/** Outcome of the last apply for one serial: Apple's per-serial status folded to our vocabulary. */
export type DeviceResultStatus = 'success' | 'failed' | 'throttled' | 'not-accessible' | 'error';

/** The last apply result recorded for a device. */
export interface DeviceResult {
  status: DeviceResultStatus;
  at: Date;
  /** Apple's per-serial status verbatim (`SUCCESS`, `NOT_ACCESSIBLE`, `FAILED`, `THROTTLED`), if any. */
  appleStatus: string | null;
}

/** One device as the store knows it: Apple's record plus what depctl decided and did (a superset of what diff.ts reads). */
export interface DeviceRecord extends ObservedDevice {
  server: string;
  serial: string;
  /** Apple's full record as last observed (fetch, sync or details). */
  device: Device;
  /** Name of the profile the configuration wants, or null for none / not decided. */
  desiredProfile: string | null;
  lastResult: DeviceResult | null;
  /** Do not retry applying to this device before this time (backoff, Apple's retry_after_seconds). */
  retryNotBefore: Date | null;
  /** When the device record was last written from Apple's data. */
  observedAt: Date;
  /**
   * When the device last arrived on this server (a sync `added`, a serial the store did not hold, or one
   * that left and came back), until an apply succeeds for it; null otherwise. See `UpsertOptions`.
   */
  arrivedAt: Date | null;
  /** Attempts recorded by apply (`DeviceResultUpdate.attempts`); 0 until apply records one. */
  attempts: number;
}

/** Equality filters on the typed device columns (all given filters must match; `null` means none). */
export interface DeviceFilter {
  profileUuid?: string | null;
  profileStatus?: string;
  deviceFamily?: string;
  os?: string;
  model?: string;
}

/** One result to record for a serial. */
export interface DeviceResultUpdate {
  serial: string;
  result: DeviceResult;
  retryNotBefore: Date | null;
  /** Also sets the desired profile (null clears it) in the same write; undefined keeps it. */
  desiredProfile?: string | null;
  /** Also sets the device's attempt count in the same write; undefined keeps it. */
  attempts?: number;
}

/**
 * Which of the devices an upsert hands over arrived on the server (`DeviceRecord.arrivedAt` is set to the
 * upsert's time for them). A device that arrives may carry the profile UUID Apple kept from before it left
 * and not receive that profile during Setup Assistant until it is assigned again, so reconcile assigns it
 * once per arrival. Devices that are neither new nor listed keep their `arrivedAt`.
 */
export interface UpsertOptions {
  /** Serials the store does not hold yet arrive now (false, the default, on a first full fetch). */
  newArrive?: boolean;
  /** Serials that arrive whether the store holds them or not (sync `added`; `deleted` then back). */
  arrived?: ReadonlySet<string>;
  /**
   * The records are sync events: a record whose only changes are in the profile fields (`profile_uuid`,
   * `profile_status`, the profile times, `op_type`, `op_date`) may be stored beside Apple's record without
   * rewriting it (the echo of an apply lists every device it assigned again). Reads are the same either way.
   */
  syncEvents?: boolean;
}

/** Devices of a server that carry an MDM migration deadline (Apple's `mdm_migration_deadline`, protocol 8). */
export interface MigrationDeadlineCount {
  devices: number;
  /** The earliest deadline, or null when no device has one. */
  earliest: Date | null;
}

/** How many of a server's devices ended their last apply in each way, and how many wait for a retry. */
export interface ResultCounts {
  /** Devices per stored last result; devices without a result are not counted, absent statuses are 0. */
  byResult: Partial<Record<DeviceResultStatus, number>>;
  /** Devices whose `retryNotBefore` is later than the given instant. */
  deferred: number;
}

/** How a run ended (DESIGN.md: a partial apply is partial, never success). */
export type RunResult = 'success' | 'partial' | 'failed' | 'noop';

/** What started a run: the controller loop's reasons, or a person at the command line. */
export type RunTrigger = 'schedule' | 'manual' | 'webhook' | 'git' | 'cli';

/** What can start a pass of the long-running controller loop (the CLI is not one of them). */
export type LoopTrigger = Exclude<RunTrigger, 'cli'>;

/** One reconcile run. */
export interface RunRecord {
  id: number;
  startedAt: Date;
  finishedAt: Date | null;
  /** Git commit of the configuration applied, when known. */
  commit: string | null;
  /** Hash of the plan the run applied, when known. */
  planHash: string | null;
  trigger: RunTrigger;
  /** Null while the run is in progress. */
  result: RunResult | null;
  summary: JsonValue | null;
}

/** One audited write (DESIGN.md "every write is audited"). */
export interface AuditEntry {
  runId: number | null;
  server: string;
  /** Null for writes that concern no single device, such as a profile define. */
  serial: string | null;
  /** What was done, e.g. `assign`, `remove`, `define`. */
  action: string;
  /** The value before the write (e.g. the profile UUID), if any. */
  before: string | null;
  /** The value after the write, if any. */
  after: string | null;
  /**
   * What happened; `pending` is written before the call to Apple, so a write whose process died before the
   * answer still has its audit entry (the next sync shows what Apple did).
   */
  outcome: DeviceResultStatus | 'pending';
  /** Apple's status verbatim, if any. */
  appleStatus: string | null;
  at: Date;
}

// ---------------------------------------------------------------------------------------------------
// Ports, one per consumer. Each method is declared once; a port that needs another's method picks it.
// ---------------------------------------------------------------------------------------------------

/** Reading every stored device of a server (observe looks for leavers; recover, plan and import scan). */
export interface DeviceScanStore {
  /** Streams the server's devices page by page in serial byte order (keyset paging: nothing read twice). */
  iterateDevices(server: string, opts?: { pageSize?: number }): AsyncIterable<DeviceRecord[]>;
}

/** Sizes of the device writes of a full fetch (ObserveStore.fetchWriteGroup). */
export interface FetchWriteGroup {
  /** Devices written while the next page is on the wire and the store is idle (latency hiding). */
  min: number;
  /** Devices written in any case (the memory bound: one group waits while one is written). */
  max: number;
}

/** What observe.ts needs: the cursor, and bulk writes of what Apple reports. */
export interface ObserveStore extends DeviceScanStore {
  /**
   * The device writes of a full fetch that suit this store (see FetchWriteGroup): a group is written once
   * it holds `max` devices, or `min` while the next page is still on the wire. Optional: observe's defaults
   * otherwise. Every device of a group is held in memory until it is written.
   */
  readonly fetchWriteGroup?: FetchWriteGroup;
  /**
   * Records (or clears with null) the key of the inputs under which the server was found converged, so a
   * later pass with the same inputs and an empty sync can skip re-reading every device (observe clears it
   * before it writes a device). No-op for an unknown server.
   */
  setConvergedKey(name: string, key: string | null): Promise<void>;
  /** Returns the cursor state, or undefined for a server never observed. */
  getCursor(server: string): Promise<CursorState | undefined>;
  /** Updates the cursor state, creating the server row when needed, and returns the new state. */
  setCursor(server: string, update: CursorUpdate): Promise<CursorState>;
  /**
   * Inserts or replaces Apple's records (keyed by `serial_number`; the last of duplicates wins) in one
   * transaction, keeping the desired profile, last result, retry time, attempts and arrival of existing
   * rows; `opts` says which devices arrived (`arrivedAt` becomes `at`). Any number of records is accepted:
   * the store decides how many rows go in one statement (store/README.md "Batching"). Returns the number
   * of records given.
   */
  upsertDevices(server: string, devices: readonly Device[], at: Date, opts?: UpsertOptions): Promise<number>;
  /** Deletes devices (Apple's `op_type: deleted`, or devices released from the organisation) in one transaction. */
  deleteDevices(server: string, serials: readonly string[]): Promise<number>;
  /** Counts a server's devices, optionally only those matching the filter. */
  countDevices(server: string, filter?: DeviceFilter): Promise<number>;
  /** One device with its state (a sync event older than the newest seen compares its op_date with the stored one). */
  getDevice(server: string, serial: string): Promise<DeviceRecord | undefined>;
}

/**
 * Profile content hash → Apple UUID, with a crash-safe intent (profile define in apply.ts and import,
 * recovery in recover.ts): `beginDefine` before the Apple call, `completeDefine` after it. A leftover
 * `defining` row tells the reconcile engine that a define may have happened without its UUID being
 * recorded; a `defined` row is never redefined.
 */
export interface DefineStore {
  /**
   * Records the intent to define, unless the key already exists. Returns the stored row and whether
   * this call created it; an existing row (either state) is returned unchanged.
   */
  beginDefine(intent: ProfileIntent): Promise<{ profile: ProfileRecord; created: boolean }>;
  /**
   * Records Apple's UUID for a `defining` row. Idempotent for the same UUID; throws a `store-conflict`
   * StoreError when the row is already defined with another UUID (or the UUID is taken on the server),
   * `store-not-found` when the row does not exist. `audit`, when given, is appended in the same transaction when
   * the row becomes defined (not on an idempotent repeat), so a crash cannot keep the UUID and lose its audit row.
   */
  completeDefine(key: ProfileKey, uuid: string, at: Date, audit?: AuditEntry): Promise<ProfileRecord>;
  /** Deletes a `defining` row whose define Apple rejected; returns false for a defined or missing row. */
  abandonDefine(key: ProfileKey): Promise<boolean>;
  /**
   * Deletes a defined profile's row because Apple no longer knows its UUID (404 PROFILE_NOT_FOUND, GET
   * NOT_FOUND), so the content can be defined again. Returns false when there was no row with that UUID.
   */
  forgetProfile(server: string, uuid: string): Promise<boolean>;
  /** Returns a server's rows ordered by name then creation, optionally only one state. */
  listProfiles(server: string, filter?: { state?: ProfileState }): Promise<ProfileRecord[]>;
}

/**
 * What identity.ts needs: the server record, writing what `GET /account` says, and adopting a server whose
 * token now belongs to another MDM server (an operator's decision, never the repository's).
 */
export interface IdentityStore {
  /** Returns one server, or undefined. */
  getServer(name: string): Promise<ServerRecord | undefined>;
  /** Creates or updates a server row (token facts while connecting, identity after `GET /account`). */
  upsertServer(name: string, update: ServerUpdate): Promise<ServerRecord>;
  /**
   * Writes `update` and, in the same transaction, forgets what the store holds for the server's old MDM
   * server: its devices, its profile records (Apple UUIDs of the old server), its cursor and fetch times,
   * and its converged key. The next pass is a first contact with the new server, never a mass removal.
   * Runs, results in runs and the audit log are kept. Creates the row when missing.
   */
  adoptServer(name: string, update: ServerUpdate): Promise<ServerRecord>;
}

/** Options of PlanStore.iterateDiffDevices. */
export interface DiffReadOptions {
  /** Devices per page; the store's own size when absent (SQLite's is small: SQLITE_READ_PAGE). */
  pageSize?: number;
  /**
   * Whether the differ reads `description` and `color` (a match rule of the server tests them); default true. When
   * false a store may leave them out, and with them the rest of the record the differ does not read.
   */
  descriptionAndColor?: boolean;
}

/**
 * What planner.ts needs: observation and define recovery (it runs both), the identity check before them,
 * plus the converged-server shortcut and single-device lookups.
 */
export interface PlanStore extends ObserveStore, DefineStore, IdentityStore {
  /** Returns one device, or undefined. */
  getDevice(server: string, serial: string): Promise<DeviceRecord | undefined>;
  /**
   * Which of `serials` the server holds, in one query (optional: without it the planner asks `getDevice` for
   * each serial, a round trip each on PostgreSQL).
   */
  presentSerials?(server: string, serials: readonly string[]): Promise<Set<string>>;
  /**
   * The devices among `serials` the server holds, with their state (each once, in no set order), in one query
   * per few thousand serials (optional: without it the planner asks `getDevice` for each serial).
   */
  getDevices?(server: string, serials: readonly string[]): Promise<DeviceRecord[]>;
  /**
   * Replaces the server's converged key with `next` only when it is `expected` now (null matches null), in one
   * statement, and says whether it did. The planner claims a converged key before a sync and stores the new
   * value only if nobody changed the key in between (two depctl processes on one store). False for an unknown
   * server.
   */
  swapConvergedKey(name: string, expected: string | null, next: string | null): Promise<boolean>;
  /**
   * Streams the server's devices as `iterateDevices` does (same order, same state) for the differ: each device
   * holds at least the fields the differ reads (diff.ts DiffDevice) with the values the whole record has (a null
   * may be left out: the differ reads it as absent). PostgreSQL selects only those fields instead of sending and
   * decoding every record's jsonb; SQLite leaves the record out when `descriptionAndColor` is false (no match rule
   * of the server reads them), memory gives the whole records (optional: without it the planner diffs
   * `iterateDevices`).
   */
  iterateDiffDevices?(server: string, opts?: DiffReadOptions): AsyncIterable<ObservedDevice[]>;
  /**
   * Counts a server's devices with an MDM migration deadline and finds the earliest, from a partial index
   * (migration 4): no pass over the devices. The planner uses it for a converged server, status for its page.
   */
  countMigrationDeadlines(server: string): Promise<MigrationDeadlineCount>;
}

/** What apply.ts needs: profile defines, runs, per-serial results and the audit log. */
export interface ApplyStore extends DefineStore, Pick<PlanStore, 'getDevice'> {
  /** Records a started run and returns it with its new id. */
  startRun(run: { startedAt: Date; commit: string | null; planHash: string | null; trigger: RunTrigger }): Promise<RunRecord>;
  /**
   * Records how a run ended; throws a `store-not-found` StoreError for an unknown id. `notifications` are
   * enqueued in the outbox in the same transaction (each unless its key is still active), so a run's result
   * and the notifications it causes are stored together or not at all (issue 18).
   */
  finishRun(id: number, end: { finishedAt: Date; result: RunResult; summary: JsonValue | null }, notifications?: readonly OutboxEntry[]): Promise<RunRecord>;
  /**
   * Records apply results, retry times and (when given) desired profiles and attempts in one transaction;
   * a `success` also clears the device's `arrivedAt` (the arrival is handled). Unknown serials are ignored
   * and the last entry per serial wins. `audit` (Apple's answers for these serials) is appended in the same
   * transaction, so the results and their audit rows are kept or lost together. Returns the number of distinct
   * serials updated.
   */
  recordResults(server: string, results: readonly DeviceResultUpdate[], audit?: readonly AuditEntry[]): Promise<number>;
  /** Appends entries in the given order, atomically. Entries are never changed or deleted. */
  appendAudit(entries: readonly AuditEntry[]): Promise<void>;
}

/** What one reconcile pass (plan, apply, then a settling sync) needs: the planner's and apply's ports. */
export interface ReconcileStore extends PlanStore, ApplyStore {}

/**
 * What a status builder needs (server records, cursor, defined profiles, device and result counts,
 * recent runs). Every count is one indexed or grouped query, never a pass over the devices.
 */
export interface StatusStore extends Pick<PlanStore, 'getServer' | 'countMigrationDeadlines'>, Pick<ObserveStore, 'getCursor' | 'countDevices'>, Pick<DefineStore, 'listProfiles'> {
  /** Returns every server ordered by name (a follower shows what the leader wrote). */
  listServers(): Promise<ServerRecord[]>;
  /** Counts a server's devices per `profile_uuid` they carry, in one grouped query; `null` for none. */
  countDevicesByProfileUuid(server: string): Promise<Map<string | null, number>>;
  /** Counts a server's devices by stored last result, and those waiting for a retry later than `now`. */
  countResults(server: string, now: Date): Promise<ResultCounts>;
  /** Returns the latest runs, newest first. */
  listRuns(opts: { limit: number }): Promise<RunRecord[]>;
}

/**
 * What `depctl import` needs: an observation and define recovery before it reads the devices, then the
 * profile records it checks and writes.
 */
export interface AdoptStore extends ObserveStore, DefineStore {}

/** A trigger a person or a git host can send to any replica: `POST /api/reconcile` and the git webhook. */
export type RelayableTrigger = Extract<LoopTrigger, 'manual' | 'webhook'>;

/**
 * One message between the replicas of one store (reconcile/trigger-relay.ts): a follower's `request` for a
 * pass, and the leader's `ack` that it took the request over. Small on purpose (a PostgreSQL NOTIFY payload).
 */
export interface RelayMessage {
  kind: 'request' | 'ack';
  /** The request's id; an ack repeats it. */
  id: string;
  trigger: RelayableTrigger;
  /** What asked for it, for logs (`api`, `github`, `gitlab`); never a secret. */
  reason: string;
  /** The replica that sent this message. */
  origin: string;
}

/** Whether a relay can carry messages now, and why not. */
export interface RelayHealth {
  /** Which transport: `postgres` (LISTEN/NOTIFY) or `in-process`. */
  backend: string;
  up: boolean;
  /** Why it is down (null while up). */
  reason: string | null;
}

/**
 * Carries trigger messages between the replicas of one store (STYLE rule 1: declared by its consumer, the
 * trigger router). Every message reaches every subscribed replica, the sender included.
 */
export interface TriggerRelay {
  /** Sends a message; rejects when it could not be handed to the transport (e.g. the connection is down). */
  publish(message: RelayMessage): Promise<void>;
  /** Calls `handler` for every message received until the returned function is called. */
  subscribe(handler: (message: RelayMessage) => void): () => void;
  health(): RelayHealth;
  /** Stops listening and closes the transport. */
  close(): Promise<void>;
}
