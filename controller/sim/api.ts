/**
 * Public surface of the DEP simulator, fixed up front so that the client's contract tests, the
 * reconcile tests and `depctl sim` can be written against it. The implementation lives beside it in
 * controller/sim/ and is exported from controller/sim/index.ts as `startSimulator`.
 */
import type { Device, Profile, ServerToken } from '../dep/types.js';

/** Options of one simulated DEP server (one MDM server in Apple Business Manager). */
export interface SimulatorOptions {
  /** Host to listen on (default 127.0.0.1). */
  host?: string;
  /** Port (default 0: the OS picks a free one). */
  port?: number;
  /** Number of seeded devices (default 0). */
  devices?: number;
  /** Seed of the pseudo-random fleet generator (default 1); the same seed gives the same fleet. */
  seed?: number;
  /** OAuth credentials the simulator accepts; generated from the seed when absent. */
  token?: ServerToken;
  /** Session lifetime in milliseconds (default 30 minutes; at least 3 minutes for MicroMDM). */
  sessionTtlMs?: number;
  /** Clock in epoch milliseconds (default Date.now); tests pass a fake clock to age sessions and cursors. */
  now?: () => number;
  /** Server name and organisation reported by GET /account. */
  serverName?: string;
  orgName?: string;
  /**
   * Accepted distance between an OAuth `oauth_timestamp` and the clock, in milliseconds (default
   * 10 minutes; `Infinity` turns the check off, e.g. when a fake clock is far from the client's).
   */
  oauthTimestampToleranceMs?: number;
  /**
   * Called synchronously for every call to Apple's paths that passed the faults, auth and body checks (soak
   * tests kill a client at chosen calls: before Apple acts, or after it acted and before the answer leaves).
   */
  onCall?: (e: SimCallEvent) => void;
}

/**
 * One write Apple carried out through the API (define, assign, remove), in the order the simulator carried
 * them out: what Apple's side of an audit looks like. Recorded when the state changed, whether or not the
 * client lived to read the answer.
 */
export interface SimWrite {
  /** 1, 2, … in order. */
  seq: number;
  /** Simulator clock, epoch milliseconds. */
  at: number;
  /** `define` (POST /profile, with its devices), `assign` (POST or PUT /profile/devices), `remove` (DELETE). */
  op: 'define' | 'assign' | 'remove';
  /** The profile defined or assigned; null for remove. */
  profileUuid: string | null;
  /** Per serial, the status Apple answered (SUCCESS, FAILED, THROTTLED, NOT_ACCESSIBLE). */
  devices: Record<string, string>;
}

/** What a call hook sees: `received` before the endpoint runs, `handled` after it ran and before the answer is sent. */
export interface SimCallEvent {
  phase: 'received' | 'handled';
  method: string;
  path: string;
  /** The HTTP status of the answer (`handled` only). */
  status?: number;
}

/** Faults that can be injected; each applies to the next matching requests until cleared. */
export interface FaultSpec {
  /** Added latency in milliseconds for every request. */
  latencyMs?: number;
  /** Answer the next N requests (optionally only for this path) with this HTTP status. */
  httpStatus?: { status: 500 | 502 | 503 | 504 | 429; count: number; path?: string; retryAfter?: string };
  /** Reset (destroy) the next N connections without answering. */
  connectionResets?: { count: number; path?: string };
  /** Assign calls answer THROTTLED for these serials (with retry_after_seconds) until cleared. */
  throttledSerials?: { serials: string[]; retryAfterSeconds: number };
  /** Assign answers FAILED for these serials until cleared. */
  failedSerials?: string[];
  /** Every existing session is invalidated (next call gets 401; with `forbidden` 403 FORBIDDEN like depsim after a restart). */
  expireSessions?: { forbidden?: boolean };
  /** /session and every call answer 403 T_C_NOT_SIGNED until cleared. */
  termsNotSigned?: boolean;
  /** The token is revoked: /session answers 401 token_rejected, calls 403 token_rejected. */
  tokenRevoked?: boolean;
  /**
   * Every `every`-th authenticated response (1 = each) carries a fresh token in the
   * `X-ADM-Auth-Session` response header, as Apple may; with `revokeOld` (default true) the old token
   * stops working at once, so a client that does not adopt the new one must authenticate again.
   */
  rotateSession?: { every: number; revokeOld?: boolean };
}

/** Actions an administrator would take in the Apple Business Manager portal. */
export interface PortalActions {
  /** Adds devices to this server (generated ones, or the given records); emits sync `added` events. */
  addDevices(devices: number | Partial<Device>[]): Device[];
  /** Moves devices to another MDM server (emits `deleted`). */
  moveAway(serials: string[]): void;
  /** Moves devices back from another server (emits `modified`, as Apple does). */
  moveIn(serials: string[]): void;
  /** Changes a device's profile out of band (another tool or the portal); emits `modified`. */
  setProfile(serial: string, profileUuid: string | null): void;
  /** Marks a device as having pulled its profile (profile_status `pushed`). */
  markPushed(serial: string): void;
  /** Forgets a defined profile (GET returns NOT_FOUND, assign 404). */
  forgetProfile(profileUuid: string): void;
}

/** Read-only view of the simulator's state, for assertions. */
export interface SimulatorInspect {
  device(serial: string): Device | undefined;
  deviceCount(): number;
  profile(profileUuid: string): (Profile & { profile_uuid: string }) | undefined;
  profileCount(): number;
  /** Requests received, by `METHOD path` (e.g. `POST /profile/devices`), since start or reset. */
  requestCounts(): Record<string, number>;
  resetRequestCounts(): void;
  /** Every write Apple carried out (define, assign, remove), in order (a copy). */
  writes(): SimWrite[];
  /** Number of entries in the operation log that fetch and sync read. */
  eventCount(): number;
  /** Number of auth sessions held (live or not yet swept). */
  sessionCount(): number;
  /** The faults in force, with their remaining counts. */
  faults(): FaultSpec;
  /** The simulator's clock (epoch milliseconds), including any `advanceClock` offset. */
  now(): number;
}

/** A running simulator. */
export interface RunningSimulator {
  /** Base URL, e.g. `http://127.0.0.1:43817` (Apple's paths are served at `/`). */
  readonly url: string;
  /** The OAuth credentials it accepts (the decrypted server token). */
  readonly token: ServerToken;
  readonly portal: PortalActions;
  readonly inspect: SimulatorInspect;
  /** Sets faults (merged with those set before). */
  injectFaults(faults: FaultSpec): void;
  clearFaults(): void;
  /** Moves the simulator's clock forward (ages sessions and cursors); also `POST /_sim/clock`. */
  advanceClock(ms: number): void;
  close(): Promise<void>;
}

/** One MDM server of a simulator group (startSimulatorGroup). */
export interface SimulatorServerSpec {
  /** The server's name in depctl's config (`MdmServer` metadata.name); unique in the group. */
  name: string;
  /** Number of seeded, generated devices (default 0). */
  devices?: number;
  /** Seed of the server's fleet and credentials (default 1); mixed with `name`, so servers differ. */
  seed?: number;
  /** Server name reported by GET /account (default `name`). */
  serverName?: string;
  /** Devices with explicit attributes (e.g. serials a config lists), added after the generated fleet. */
  extraDevices?: Partial<Device>[];
}

/** Options of a simulator group: several MDM servers behind one listener. */
export interface SimulatorGroupOptions {
  /** The servers, in order; the first one also answers the plain `/_sim/…` admin paths. */
  servers: SimulatorServerSpec[];
  /** Host to listen on (default 127.0.0.1). */
  host?: string;
  /** Port (default 0: the OS picks a free one). */
  port?: number;
  /** Clock in epoch milliseconds (default Date.now), shared by every server. */
  now?: () => number;
  /** Session lifetime in milliseconds (default 30 minutes). */
  sessionTtlMs?: number;
  /** Accepted OAuth timestamp skew in milliseconds (default 10 minutes; `Infinity` turns it off). */
  oauthTimestampToleranceMs?: number;
  /** Organisation reported by every server's GET /account (default `Example Inc`). */
  orgName?: string;
}

/** One server of a running group: its credentials, portal, inspect view and faults. */
export interface SimulatedServer {
  readonly name: string;
  /** The OAuth credentials of this server (the decrypted server token). */
  readonly token: ServerToken;
  readonly portal: PortalActions;
  readonly inspect: SimulatorInspect;
  /** Sets faults on this server only (merged with those set before). */
  injectFaults(faults: FaultSpec): void;
  clearFaults(): void;
}

/** A running group: one listener, one clock, several MDM servers told apart by their tokens. */
export interface RunningSimulatorGroup {
  /** Base URL shared by every server (e.g. the value of DEPCTL_DEP_URL). */
  readonly url: string;
  /** The servers by name, in the order they were given. */
  readonly servers: ReadonlyMap<string, SimulatedServer>;
  /** Moves the shared clock forward (every server's sessions and cursors age). */
  advanceClock(ms: number): void;
  /**
   * Swaps two servers' tokens, so each token opens the other MDM server (GET /account, devices, profiles):
   * a token downloaded for the wrong server. Revokes both servers' sessions. Also `POST
   * /_sim/servers/NAME/swap-token` with `{with: OTHER}`.
   */
  swapTokens(a: string, b: string): void;
  close(): Promise<void>;
}
