/**
 * Public surface of the Apple Business API simulator (controller/sim/abm/): options, the running
 * simulator, faults, the move hook towards a DEP side, and the organisation's API account.
 */
import type { AbmScope } from '../../abm/types.js';

/**
 * Told when a finished activity moved a device between MDM servers (null: unassigned). The DEP side
 * (dep-bridge.ts) turns it into a `deleted` on the old server's sync and an `added` on the new one's.
 */
export type AbmMoveHook = (serial: string, fromServerId: string | null, toServerId: string | null) => void;

/** An API account as Apple hands it out: client ID, key ID and the EC P-256 private key (PEM). */
export interface SimApiAccount {
  clientId: string;
  keyId: string;
  privateKeyPem: string;
  /** The public half the simulator verifies assertions with. */
  publicKeyPem: string;
  scope: AbmScope;
}

/** An MDM server the organisation starts with. */
export interface AbmSimServerSpec {
  /** Default: a UUID-like id derived from the seed and the name. */
  id?: string;
  serverName: string;
  serverType?: 'MDM' | 'APPLE_CONFIGURATOR' | 'APPLE_MDM';
  /** Assign this many of the generated devices to the server (taken in order from the unassigned ones). */
  devices?: number;
}

/**
 * A device the organisation starts with, given explicitly (e.g. the fleet of a DEP simulator group, so that
 * both simulators hold the same devices). Added after the generated ones.
 */
export interface AbmSimOrgDevice {
  serialNumber: string;
  /** OrgDevice attributes (productFamily, deviceModel, orderNumber, color…); dates are filled in. */
  attributes?: Record<string, unknown>;
  /** The `serverName` of the server (from `servers`) it is assigned to; unassigned when absent. */
  serverName?: string;
}

/** Options of {@link startAbmSimulator}. */
export interface AbmSimulatorOptions {
  host?: string;
  port?: number;
  /** Clock in epoch milliseconds (default Date.now); tokens and activities age by it and by advanceClock. */
  now?: () => number;
  scope?: AbmScope;
  /** Generated devices in the organisation (default 0). */
  devices?: number;
  /** Seed of the generated devices and ids (default 1). */
  seed?: number;
  servers?: AbmSimServerSpec[];
  /** Devices with explicit serials and attributes, after the generated ones. */
  orgDevices?: AbmSimOrgDevice[];
  /** The API account; generated (a fresh P-256 key) when absent. */
  account?: SimApiAccount;
  /** Simulated time an activity spends in each sub-status (default 2 s; done after 5 steps). */
  activityStepMs?: number;
  /** Most devices one activity may list (default ABM_MAX_ACTIVITY_DEVICES; Apple publishes no number). */
  maxActivityDevices?: number;
  /** Access token lifetime in seconds (default 3600, as Apple). */
  accessTokenTtlSec?: number;
  onMove?: AbmMoveHook;
}

/** Faults; each applies to the next matching requests until used up or cleared. */
export interface AbmFaultSpec {
  /** Answer the next `count` API or token requests (optionally only paths starting with `path`) with this status. */
  httpStatus?: { status: 429 | 500 | 502 | 503 | 504; count: number; path?: string; retryAfter?: string };
  /** Every access token issued so far stops working (the next API call gets 401). */
  revokeTokens?: boolean;
  /** The next `count` activities end FAILED (COMPLETED_WITH_FAILURE), moving nothing. */
  failActivities?: number;
  /** The next `count` activities are stopped (STOPPING, then STOPPED), moving nothing. */
  stopActivities?: number;
  /** These serials fail inside an otherwise successful activity (COMPLETED_WITH_ERROR), until cleared. */
  failedSerials?: string[];
}

/** A device of the organisation as the simulator holds it. */
export interface AbmSimDevice {
  serialNumber: string;
  attributes: Record<string, unknown>;
  assignedServerId: string | null;
}

/** Read-only view for assertions. */
export interface AbmSimulatorInspect {
  device(serial: string): AbmSimDevice | undefined;
  deviceCount(): number;
  serverIds(): string[];
  /** Serials assigned to a server, in organisation order. */
  serialsOf(serverId: string): string[];
  /** Requests by `METHOD path` with ids replaced by `{id}`. */
  requestCounts(): Record<string, number>;
  /** Access tokens issued. */
  tokensIssued(): number;
  now(): number;
}

/** A running simulator. */
export interface RunningAbmSimulator {
  /** `http://127.0.0.1:PORT`. */
  readonly url: string;
  /** API base including `/v1` (the client's `apiUrl`). */
  readonly apiUrl: string;
  /** Token endpoint (the client's `tokenUrl`). */
  readonly tokenUrl: string;
  readonly account: SimApiAccount;
  readonly inspect: AbmSimulatorInspect;
  /** Adds generated devices (unassigned, or assigned to `serverId`); returns their serials. */
  addDevices(count: number, serverId?: string): string[];
  injectFaults(f: AbmFaultSpec): void;
  clearFaults(): void;
  /** Moves the clock forward: tokens expire, activities progress (and finish, calling onMove). */
  advanceClock(ms: number): void;
  /** Replaces the move hook. */
  setMoveHook(hook: AbmMoveHook | undefined): void;
  close(): Promise<void>;
}
