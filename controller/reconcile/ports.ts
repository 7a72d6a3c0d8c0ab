/**
 * What the reconcile engine needs from the store and the DEP client, declared here by their consumer
 * (STYLE rule 1). The store and client satisfy these structurally; reconcile never imports store/.
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

/** Observation state of one server. */
export interface CursorState {
  cursor: string | null;
  fetchStartedAt: Date | null;
  fetchedAt: Date | null;
  syncedAt: Date | null;
}

/** A stored profile record (content hash → UUID, with the crash-safe intent). */
export interface ProfileRecordView extends KnownProfile {
  server: string;
  body: Profile;
  createdAt: Date;
  definedAt: Date | null;
}

/** Last apply result of a device. */
export interface DeviceResultView {
  status: 'success' | 'failed' | 'throttled' | 'not-accessible' | 'error';
  at: Date;
  appleStatus: string | null;
}

/** The store capabilities observe, plan and apply use. */
export interface ReconcileStore {
  getCursor(server: string): Promise<CursorState | undefined>;
  setCursor(server: string, update: Partial<CursorState>): Promise<unknown>;
  upsertDevices(server: string, devices: readonly Device[], at: Date): Promise<number>;
  deleteDevices(server: string, serials: readonly string[]): Promise<number>;
  getDevice(server: string, serial: string): Promise<ObservedDevice | undefined>;
  countDevices(server: string): Promise<number>;
  iterateDevices(server: string, opts?: { pageSize?: number }): AsyncIterable<ObservedDevice[]>;
  setDesiredProfiles(server: string, desired: ReadonlyArray<{ serial: string; profile: string | null }>): Promise<number>;
  recordResults(server: string, results: ReadonlyArray<{ serial: string; result: DeviceResultView; retryNotBefore: Date | null; desiredProfile?: string | null }>): Promise<number>;
  beginDefine(intent: { server: string; name: string; contentHash: string; body: Profile; at: Date }): Promise<{ profile: ProfileRecordView; created: boolean }>;
  completeDefine(key: { server: string; name: string; contentHash: string }, uuid: string, at: Date): Promise<ProfileRecordView>;
  abandonDefine(key: { server: string; name: string; contentHash: string }): Promise<boolean>;
  forgetProfile(server: string, uuid: string): Promise<boolean>;
  listProfiles(server: string, filter?: { state?: 'defining' | 'defined' }): Promise<ProfileRecordView[]>;
  getServer(name: string): Promise<{ tokenExpiresAt: Date | null; convergedKey: string | null } | undefined>;
  setConvergedKey(name: string, key: string | null): Promise<void>;
  upsertServer(name: string, update: { tokenFingerprint?: string | null; tokenExpiresAt?: Date | null; serverUuid?: string | null; at: Date }): Promise<unknown>;
  startRun(run: { startedAt: Date; commit: string | null; planHash: string | null; trigger: 'schedule' | 'manual' | 'webhook' | 'git' | 'cli' }): Promise<{ id: number }>;
  finishRun(id: number, end: { finishedAt: Date; result: 'success' | 'partial' | 'failed' | 'noop'; summary: JsonLike | null }): Promise<unknown>;
  appendAudit(
    entries: ReadonlyArray<{
      runId: number | null;
      server: string;
      serial: string | null;
      action: string;
      before: string | null;
      after: string | null;
      outcome: DeviceResultView['status'] | 'pending';
      appleStatus: string | null;
      at: Date;
    }>,
  ): Promise<void>;
}

/** JSON data kept verbatim by the store. */
export type JsonLike = string | number | boolean | null | JsonLike[] | { [key: string]: JsonLike };
