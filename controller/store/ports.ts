/**
 * The store's capabilities, each declared as small as its consumer needs (STYLE.md rule 1). The
 * reconcile engine and the DEP client ask for one of these (`CursorStore`, `ProfileStore`, ...), never
 * for `Store`; `Store` is their union, used only by the backends and the composition root. Every
 * backend (memory, SQLite, PostgreSQL) passes the one suite in test/store/conformance.ts.
 *
 * Times are `Date` values supplied by the caller (clocks live at the edges, STYLE.md rule 9); backends
 * keep millisecond precision. Server names are the `metadata.name` of an `MdmServer` document.
 */
import type { Device, Profile } from '../dep/types.js';

/** Identity and token facts of one MDM server (one DEP server token). */
export interface ServerRecord {
  name: string;
  /** A fingerprint of the decrypted token (never the token itself), to notice a replaced token. */
  tokenFingerprint: string | null;
  /** `access_token_expiry` of the token, for the 30/14/7-day drift warnings. */
  tokenExpiresAt: Date | null;
  /** Apple's `server_uuid` from `GET /account`, when known. */
  serverUuid: string | null;
  updatedAt: Date;
  /** Identity of the inputs under which the last full diff of this server found nothing to do, or null. */
  convergedKey: string | null;
}

/** Fields of a server to write; an omitted field keeps its stored value. */
export interface ServerUpdate {
  tokenFingerprint?: string | null;
  tokenExpiresAt?: Date | null;
  serverUuid?: string | null;
  at: Date;
}

/** Servers known to the store. Rows are also created implicitly by the cursor capability. */
export interface ServerStore {
  /** Creates or updates a server row. */
  upsertServer(name: string, update: ServerUpdate): Promise<ServerRecord>;
  /** Returns one server, or undefined. */
  getServer(name: string): Promise<ServerRecord | undefined>;
  /** Returns every server ordered by name. */
  listServers(): Promise<ServerRecord[]>;
  /**
   * Records (or clears with null) the key of the inputs under which the server was found converged, so a
   * later pass with the same inputs and an empty sync can skip re-reading every device. No-op for an
   * unknown server.
   */
  setConvergedKey(name: string, key: string | null): Promise<void>;
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

/** The per-server fetch/sync cursor (nanodep stores it after each page; so should the caller). */
export interface CursorStore {
  /** Returns the cursor state, or undefined for a server never observed. */
  getCursor(server: string): Promise<CursorState | undefined>;
  /** Updates the cursor state, creating the server row when needed, and returns the new state. */
  setCursor(server: string, update: CursorUpdate): Promise<CursorState>;
}

/** `defining` is recorded before `POST /profile`; `defined` once Apple returned the UUID. */
export type ProfileState = 'defining' | 'defined';

/** One defined (or being defined) profile content on one server. Apple profiles are immutable. */
export interface ProfileRecord {
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

/** What to record before calling `POST /profile`. */
export interface ProfileIntent {
  server: string;
  name: string;
  contentHash: string;
  body: Profile;
  at: Date;
}

/** The profile key: server + name + canonical content hash (DESIGN.md "Profiles are immutable"). */
export interface ProfileKey {
  server: string;
  name: string;
  contentHash: string;
}

/**
 * Profile content hash → Apple UUID, with a crash-safe intent: `beginDefine` before the Apple call,
 * `completeDefine` after it. A leftover `defining` row tells the reconcile engine that a define may
 * have happened without its UUID being recorded; a `defined` row is never redefined.
 */
export interface ProfileStore {
  /**
   * Records the intent to define, unless the key already exists. Returns the stored row and whether
   * this call created it; an existing row (either state) is returned unchanged.
   */
  beginDefine(intent: ProfileIntent): Promise<{ profile: ProfileRecord; created: boolean }>;
  /**
   * Records Apple's UUID for a `defining` row. Idempotent for the same UUID; throws
   * `StoreConflictError` when the row is already defined with another UUID or does not exist.
   */
  completeDefine(key: ProfileKey, uuid: string, at: Date): Promise<ProfileRecord>;
  /** Deletes a `defining` row whose define Apple rejected; returns false for a defined or missing row. */
  abandonDefine(key: ProfileKey): Promise<boolean>;
  /**
   * Deletes a defined profile's row because Apple no longer knows its UUID (404 PROFILE_NOT_FOUND, GET
   * NOT_FOUND), so the content can be defined again. Returns false when there was no row with that UUID.
   */
  forgetProfile(server: string, uuid: string): Promise<boolean>;
  /** Returns the row for a key, or undefined. */
  getProfile(key: ProfileKey): Promise<ProfileRecord | undefined>;
  /** Returns the row holding an Apple UUID on a server, or undefined. */
  getProfileByUuid(server: string, uuid: string): Promise<ProfileRecord | undefined>;
  /** Returns a server's rows ordered by name then creation, optionally only one state. */
  listProfiles(server: string, filter?: { state?: ProfileState }): Promise<ProfileRecord[]>;
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

/** One device as the store knows it: Apple's record plus what depctl decided and did. */
export interface DeviceRecord {
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
}

/** Equality filters on the typed device columns (all given filters must match). */
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
}

/** A page of devices in serial order; pass `next` as `after` for the following page. */
export interface DevicePage {
  devices: DeviceRecord[];
  /** The last serial of this page when more devices follow, or null when this is the last page. */
  next: string | null;
}

/**
 * Devices per server, built for 1,000,000 devices: bulk upserts and keyset-paged reads in serial
 * order (byte order of the serial), so nothing is loaded twice.
 */
export interface DeviceStore {
  /**
   * Inserts or replaces Apple's records (keyed by `serial_number`; the last of duplicates wins) in
   * one transaction, keeping the desired profile, last result and retry time of existing rows.
   * Returns the number of records given.
   */
  upsertDevices(server: string, devices: readonly Device[], at: Date): Promise<number>;
  /** Deletes devices (Apple's `op_type: deleted`, or devices released from the organisation). */
  deleteDevices(server: string, serials: readonly string[]): Promise<number>;
  /** Returns one device, or undefined. */
  getDevice(server: string, serial: string): Promise<DeviceRecord | undefined>;
  /** Counts a server's devices matching the filter. */
  countDevices(server: string, filter?: DeviceFilter): Promise<number>;
  /** Returns up to `limit` devices with serial greater than `after`, in serial order. */
  listDevices(server: string, page: { after?: string | null; limit: number; filter?: DeviceFilter }): Promise<DevicePage>;
  /** Streams every matching device page by page (keyset pagination over `listDevices`). */
  iterateDevices(server: string, opts?: { pageSize?: number; filter?: DeviceFilter }): AsyncIterable<DeviceRecord[]>;
  /**
   * Sets the desired profile name (or null) per serial. Unknown serials are ignored and the last
   * entry per serial wins. Returns the number of distinct serials updated.
   */
  setDesiredProfiles(server: string, desired: ReadonlyArray<{ serial: string; profile: string | null }>): Promise<number>;
  /** Records apply results and retry times, like `setDesiredProfiles` (unknown ignored, last wins). */
  recordResults(server: string, results: readonly DeviceResultUpdate[]): Promise<number>;
  /** Devices whose `retryNotBefore` is set and not after `now`, earliest first. */
  listDueForRetry(server: string, now: Date, limit: number): Promise<DeviceRecord[]>;
}

/** How a run ended (DESIGN.md: a partial apply is partial, never success). */
export type RunResult = 'success' | 'partial' | 'failed' | 'noop';

/** What started a run. */
export type RunTrigger = 'schedule' | 'manual' | 'webhook' | 'git' | 'cli';

/** JSON data the store keeps verbatim. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

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

/** Reconcile runs. */
export interface RunStore {
  /** Records a started run and returns it with its new id. */
  startRun(run: { startedAt: Date; commit: string | null; planHash: string | null; trigger: RunTrigger }): Promise<RunRecord>;
  /** Records how a run ended; throws `StoreNotFoundError` for an unknown id. */
  finishRun(id: number, end: { finishedAt: Date; result: RunResult; summary: JsonValue | null }): Promise<RunRecord>;
  /** Returns one run, or undefined. */
  getRun(id: number): Promise<RunRecord | undefined>;
  /** Returns the latest runs, newest first. */
  listRuns(opts: { limit: number }): Promise<RunRecord[]>;
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

/** A stored audit entry with its insertion sequence number. */
export interface AuditRecord extends AuditEntry {
  seq: number;
}

/** The append-only audit log: entries can be added and read in insertion order, never changed. */
export interface AuditLog {
  /** Appends entries in the given order, atomically. */
  appendAudit(entries: readonly AuditEntry[]): Promise<void>;
  /** Reads entries in insertion order after sequence number `afterSeq` (exclusive). */
  readAudit(query: { runId?: number; server?: string; serial?: string; afterSeq?: number; limit: number }): Promise<AuditRecord[]>;
}

/**
 * Leadership for HA replicas (DESIGN.md "one leader (advisory lock) writes"). PostgreSQL uses a
 * session advisory lock on a dedicated connection; SQLite and memory hold the lock inside this
 * process only (one process per SQLite file is the supported deployment).
 */
export interface LeaderLock {
  /** Takes leadership for `name` if free (re-entrant for the same store); returns whether held. */
  tryAcquireLeadership(name: string): Promise<boolean>;
  /** Gives leadership up; a no-op when not held. */
  releaseLeadership(name: string): Promise<void>;
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

/** Everything the store offers: built by the composition root, handed out as its narrow parts. */
export interface Store extends ServerStore, CursorStore, ProfileStore, DeviceStore, RunStore, AuditLog, LeaderLock {
  readonly backend: StoreBackend;
  /** Applies pending migrations (idempotent; concurrent callers are serialised). */
  migrate(): Promise<MigrationReport>;
  /** Releases leadership and connections; the store is unusable afterwards. */
  close(): Promise<void>;
}
