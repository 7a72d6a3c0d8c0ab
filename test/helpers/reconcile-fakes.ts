/**
 * Builders and a hand-written fake DEP client for the reconcile engine's unit tests. The store is the real
 * memory store (`openStore('memory:')`, which passes the store conformance suite), so only the client is
 * faked: it plays back scripted fetch and sync pages, records every call, and throws the DEP client's own
 * typed errors (STYLE rule 10: strict fakes, the simulator for everything else).
 */
import type {
  AccountDetail,
  AssignProfileResponse,
  DefineProfileResponse,
  Device,
  FetchDeviceResponse,
  Profile,
  SerialStatusResponse,
} from '../../controller/dep/types.js';
import { DepAuthError, DepHttpError, DepNetworkError } from '../../controller/dep/errors.js';
import type { Assignment, DepConfig, EnrollmentProfile, MdmServer, ProfileBody } from '../../controller/config/types.js';
import type { ObservedDevice } from '../../controller/reconcile/diff.js';
import type { CallOptions, ReconcileDepClient } from '../../controller/reconcile/ports.js';

/** One day in milliseconds. */
export const DAY_MS = 86_400_000;

const loc = { file: 'test.yaml', line: 1, column: 1 };

/** A validated MdmServer with the loader's defaults (`ignore`, `correct`). */
export function mdmServer(name: string, over: Partial<MdmServer> = {}): MdmServer {
  return {
    name,
    token: { file: `${name}/token.p7m` },
    privateKey: { file: `${name}/key.pem` },
    unassignedDevices: 'ignore',
    driftPolicy: 'correct',
    source: loc,
    ...over,
  };
}

/** A validated EnrollmentProfile; the body defaults to a minimal valid Apple profile named after it. */
export function enrollmentProfile(name: string, servers: string[], body: Partial<ProfileBody> = {}): EnrollmentProfile {
  return { name, servers, profile: { profile_name: name, url: 'https://mdm.example.com/enroll', ...body }, source: loc };
}

/** A validated Assignment (no serials, no match, priority 0 unless given). */
export function assignment(name: string, profile: string, servers: string[], over: Partial<Assignment> = {}): Assignment {
  return { name, profile, servers, serials: [], priority: 0, source: loc, ...over };
}

/** A whole DepConfig. */
export function depConfig(parts: { servers: MdmServer[]; profiles?: EnrollmentProfile[]; assignments?: Assignment[]; dir?: string }): DepConfig {
  return { dir: parts.dir ?? '/config', servers: parts.servers, profiles: parts.profiles ?? [], assignments: parts.assignments ?? [] };
}

/** An Apple device record: an iPad with no profile unless overridden. */
export function device(serial: string, over: Partial<Device> = {}): Device {
  return { serial_number: serial, model: 'iPad Air', description: 'IPAD AIR WI-FI 64GB', color: 'SPACE GRAY', device_family: 'iPad', os: 'iPadOS', profile_status: 'empty', ...over };
}

/** A device record carrying `uuid` (profile_status `assigned`). */
export function withProfile(serial: string, uuid: string, over: Partial<Device> = {}): Device {
  return device(serial, { profile_uuid: uuid, profile_status: 'assigned', ...over });
}

/** A device as the store hands it to the differ. */
export function observed(d: Device, over: Partial<Omit<ObservedDevice, 'device'>> = {}): ObservedDevice {
  return { serial: d.serial_number, device: d, desiredProfile: null, lastResult: null, retryNotBefore: null, ...over };
}

/** A fetch or sync page. */
export function page(devices: Device[], cursor: string, more = false): FetchDeviceResponse {
  return { devices, cursor, more_to_follow: more, fetched_until: '2026-11-25T12:00:00Z' };
}

/** A manual clock: `now()` returns a copy of the current time; `advance` moves it. */
export interface ManualClock {
  now: () => Date;
  advance(ms: number): void;
  set(at: Date): void;
}

/** Creates a manual clock at `start`. */
export function manualClock(start = new Date('2026-11-25T12:00:00Z')): ManualClock {
  let t = start.getTime();
  return { now: () => new Date(t), advance: (ms) => void (t += ms), set: (at) => void (t = at.getTime()) };
}

/** The error the DEP client throws when nothing answers (connection refused). */
export function networkError(endpoint = '/server/devices'): DepNetworkError {
  return new DepNetworkError('POST', endpoint, 'ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:9');
}

/** Apple's 400 with a plain-text code (EXPIRED_CURSOR, INVALID_CURSOR, NOT_FOUND, ...). */
export function appleError(status: number, code: string, endpoint = '/devices/sync', method = 'POST'): DepHttpError {
  return new DepHttpError({ status, method, endpoint, body: code });
}

/** Apple's 403 T_C_NOT_SIGNED: a terminal authentication error. */
export function termsNotSigned(): DepAuthError {
  return new DepAuthError({ status: 403, method: 'GET', endpoint: '/session', body: 'T_C_NOT_SIGNED' }, 'terms-not-signed');
}

/** A scripted step of a paged call: a page, or an error thrown when the step is reached. */
export type Step = FetchDeviceResponse | Error;

/**
 * A strict fake of the DEP client. Fetch and sync play back the scripts (each call to `syncAllDevices`
 * takes the next script from `syncScripts`); a call that has no script fails the test. getProfile answers
 * from `profiles` (unknown UUIDs: Apple's 400 NOT_FOUND) unless `getProfileError` is set. Writes are
 * answered by `onDefine`/`onAssign`/`onRemove` and fail the test when no handler is set. Every call is
 * recorded in `calls`.
 */
export class FakeDepClient implements ReconcileDepClient {
  /** Every call, e.g. `fetch`, `sync CURSOR`, `getProfile UUID`, in order. */
  readonly calls: string[] = [];
  /** Scripts of the next full fetches, one per call. */
  readonly fetchScripts: Step[][] = [];
  /** Scripts of the next syncs, one per call. */
  readonly syncScripts: Step[][] = [];
  /** Profiles Apple knows, by UUID (as GET /profile returns them). */
  readonly profiles = new Map<string, Omit<Profile, 'devices'> & { profile_uuid: string }>();
  /** When set, every call throws this (an unreachable server, a revoked token). */
  failAll: Error | null = null;
  /** When set, getProfile throws this instead of answering. */
  getProfileError: Error | null = null;
  /** Answers POST /profile; without it a define fails the test. */
  onDefine: ((profile: Profile) => DefineProfileResponse) | null = null;
  /** Answers assign calls; without it an assign fails the test. */
  onAssign: ((uuid: string, serials: readonly string[]) => AssignProfileResponse) | null = null;
  /** Answers remove calls; without it a remove fails the test. */
  onRemove: ((serials: readonly string[]) => SerialStatusResponse) | null = null;
  /** The bodies of every define, in order. */
  readonly defines: Profile[] = [];
  /** Every assign call's UUID and serials, in order. */
  readonly assigns: { uuid: string; serials: string[] }[] = [];
  /** Every remove call's serials, in order. */
  readonly removes: string[][] = [];

  async account(_o?: CallOptions): Promise<AccountDetail> {
    this.calls.push('account');
    if (this.failAll) throw this.failAll;
    return { server_name: 'fake', server_uuid: 'FAKE', admin_id: 'admin@example.com', org_name: 'Example', org_email: 'it@example.com', org_phone: '', org_address: '' };
  }

  /** The page sizes asked for, in call order (`fetch N` / `sync N`). */
  readonly limits: string[] = [];

  async *fetchAllDevices(req?: { cursor?: string; limit?: number }, _o?: CallOptions): AsyncGenerator<FetchDeviceResponse> {
    this.calls.push('fetch');
    this.limits.push(`fetch ${req?.limit ?? 'none'}`);
    if (this.failAll) throw this.failAll;
    const script = this.fetchScripts.shift();
    if (!script) throw new Error('FakeDepClient: unexpected full fetch');
    yield* play(script);
  }

  async *syncAllDevices(req: { cursor: string; limit?: number }, _o?: CallOptions): AsyncGenerator<FetchDeviceResponse> {
    this.calls.push(`sync ${req.cursor}`);
    this.limits.push(`sync ${req.limit ?? 'none'}`);
    if (this.failAll) throw this.failAll;
    const script = this.syncScripts.shift();
    if (!script) throw new Error('FakeDepClient: unexpected sync');
    yield* play(script);
  }

  async defineProfile(profile: Profile, _o?: CallOptions): Promise<DefineProfileResponse> {
    this.calls.push('defineProfile');
    this.defines.push(structuredClone(profile));
    if (this.failAll) throw this.failAll;
    if (!this.onDefine) throw new Error('FakeDepClient: unexpected defineProfile');
    return this.onDefine(profile);
  }

  async getProfile(uuid: string, _o?: CallOptions): Promise<Omit<Profile, 'devices'> & { profile_uuid: string }> {
    this.calls.push(`getProfile ${uuid}`);
    if (this.failAll) throw this.failAll;
    if (this.getProfileError) throw this.getProfileError;
    const p = this.profiles.get(uuid);
    if (!p) throw appleError(400, 'NOT_FOUND', '/profile', 'GET');
    return structuredClone(p);
  }

  async assignProfile(uuid: string, serials: readonly string[], _o?: CallOptions): Promise<AssignProfileResponse> {
    this.calls.push('assignProfile');
    this.assigns.push({ uuid, serials: [...serials] });
    if (this.failAll) throw this.failAll;
    if (!this.onAssign) throw new Error('FakeDepClient: unexpected assignProfile');
    return this.onAssign(uuid, serials);
  }

  async removeProfile(serials: readonly string[], _o?: CallOptions): Promise<SerialStatusResponse> {
    this.calls.push('removeProfile');
    this.removes.push([...serials]);
    if (this.failAll) throw this.failAll;
    if (!this.onRemove) throw new Error('FakeDepClient: unexpected removeProfile');
    return this.onRemove(serials);
  }
}

async function* play(script: Step[]): AsyncGenerator<FetchDeviceResponse> {
  for (const step of script) {
    if (step instanceof Error) throw step;
    yield structuredClone(step);
  }
}
