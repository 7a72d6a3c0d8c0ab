/**
 * The typed DEP client: one method per Apple endpoint (dep-protocol.md section 3). Methods only build
 * requests; authentication, retries and errors live in transport.ts, retry.ts and errors.ts.
 */
import { Agent, type Dispatcher } from 'undici';
import { sendInBatches, batchSerials } from './batch.js';
import { DepProtocolError } from './errors.js';
import { checkAccount, checkDefineResponse, checkDetailsResponse, checkFetchResponse, checkProfileResponse, checkSerialStatusResponse } from './shapes.js';
import type { DepRequestEvent } from './http.js';
import { normaliseFetchedProfile, profileRequestBody, type FetchedProfile } from './profile.js';
import { retryPolicy, type RetryOptions } from './retry.js';
import { createDepTransport, DEFAULT_USER_AGENT, randomNonce, userAgentProblem, type DepTransport } from './transport.js';
import {
  MAX_FETCH_LIMIT,
  type AccountDetail,
  type AssignProfileResponse,
  type DefineProfileResponse,
  type DeviceDetailsResponse,
  type FetchDeviceRequest,
  type FetchDeviceResponse,
  type FetchProfileWireResponse,
  type Profile,
  type SerialStatusResponse,
  type ServerToken,
} from './types.js';

/** Options of {@link createDepClient}. */
export interface DepClientOptions {
  /** Apple's base URL (`https://mdmenrollment.apple.com`), a simulator or a proxy. */
  baseUrl: string;
  /** The decrypted server token. */
  token: ServerToken;
  /** `User-Agent` of every call (default `depctl/<version>`); must pass {@link userAgentProblem}. */
  userAgent?: string;
  /** undici dispatcher; by default one keep-alive Agent per client, closed by `close()`. */
  dispatcher?: Dispatcher;
  /** Clock in epoch milliseconds (OAuth timestamp, Retry-After dates, retry budget); Date.now by default. */
  now?: () => number;
  /** Random source in [0, 1) for backoff jitter; Math.random by default. */
  random?: () => number;
  /** OAuth nonce source; 128 random bits as hex by default. */
  nonce?: () => string;
  retry?: RetryOptions;
  /** Per-request timeout for a complete response (default 60 s). */
  timeoutMs?: number;
  /** Called once per HTTP exchange (retries and /session included), for metrics. */
  onRequest?: (e: DepRequestEvent) => void;
}

export { DEFAULT_USER_AGENT, userAgentProblem };

/** Options every method accepts. */
export interface CallOptions {
  signal?: AbortSignal;
}

/** Options of {@link DepClient.disownDevices}: disowning is permanent, so it must be asked for explicitly. */
export interface DisownOptions extends CallOptions {
  confirm: true;
}

/** A cursor and an optional page size for fetch and sync. */
export interface PageRequest {
  cursor?: string;
  limit?: number;
}

/** The DEP API of one MDM server (one server token). */
export interface DepClient {
  /** GET /account. */
  account(opts?: CallOptions): Promise<AccountDetail>;
  /** POST /server/devices: one page of the full device list; omit the cursor on the first call. */
  fetchDevices(req?: PageRequest, opts?: CallOptions): Promise<FetchDeviceResponse>;
  /** POST /devices/sync: one page of changes since `cursor`. */
  syncDevices(req: PageRequest & { cursor: string }, opts?: CallOptions): Promise<FetchDeviceResponse>;
  /**
   * Every page of a full fetch, following `more_to_follow`. Throws `DepProtocolError` if Apple hands back
   * a cursor it already gave while claiming more to follow (a loop NanoDEP and MicroMDM users have hit).
   */
  fetchAllDevices(req?: PageRequest, opts?: CallOptions): AsyncGenerator<FetchDeviceResponse, void, undefined>;
  /** Every page of a sync from `cursor`, with the same guard. */
  syncAllDevices(req: PageRequest & { cursor: string }, opts?: CallOptions): AsyncGenerator<FetchDeviceResponse, void, undefined>;
  /** POST /devices, in batches of 1000; per-serial `response_status` is data. */
  deviceDetails(serials: readonly string[], opts?: CallOptions): Promise<DeviceDetailsResponse>;
  /** POST /profile; `devices` beyond the first 1000 are assigned in further batches. */
  defineProfile(profile: Profile, opts?: CallOptions): Promise<DefineProfileResponse>;
  /** GET /profile?profile_uuid=, booleans normalised to `is_*`. */
  getProfile(profileUuid: string, opts?: CallOptions): Promise<FetchedProfile>;
  /** POST /profile/devices (Apple's current docs), in batches of 1000; THROTTLED and the largest `retry_after_seconds` are data. */
  assignProfile(profileUuid: string, serials: readonly string[], opts?: CallOptions): Promise<AssignProfileResponse>;
  /** DELETE /profile/devices with a JSON body, in batches of 1000. */
  removeProfile(serials: readonly string[], opts?: CallOptions): Promise<SerialStatusResponse>;
  /** POST /devices/disown, in batches of 1000. Permanent: refuses unless `{ confirm: true }`. */
  disownDevices(serials: readonly string[], opts: DisownOptions): Promise<SerialStatusResponse>;
  /** Closes the connection pool if the client created it. */
  close(): Promise<void>;
}

const DEFAULT_TIMEOUT_MS = 60_000;

/** Creates a client for one server token. */
export function createDepClient(opts: DepClientOptions): DepClient {
  const userAgent = opts.userAgent ?? DEFAULT_USER_AGENT;
  const uaProblem = userAgentProblem(userAgent);
  if (uaProblem !== undefined) throw new TypeError(`DEP client: the User-Agent ${uaProblem}`);
  const owned = opts.dispatcher === undefined ? new Agent({ keepAliveTimeout: 30_000, connections: 4 }) : undefined;
  const now = opts.now ?? Date.now;
  const random = opts.random ?? Math.random;
  const t: DepTransport = createDepTransport({
    baseUrl: opts.baseUrl,
    token: opts.token,
    userAgent,
    dispatcher: opts.dispatcher ?? (owned as Dispatcher),
    now,
    nonce: opts.nonce ?? randomNonce,
    retry: retryPolicy(opts.retry, now, random),
    timeoutMs: opts.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    onRequest: opts.onRequest,
  });

  const page = async (path: '/server/devices' | '/devices/sync', req: PageRequest, o?: CallOptions): Promise<FetchDeviceResponse> => {
    const body: FetchDeviceRequest = {};
    // NanoDEP omits an empty cursor; Apple documents leaving it out on the first fetch.
    if (req.cursor) body.cursor = req.cursor;
    if (req.limit !== undefined) body.limit = checkLimit(req.limit);
    return checkFetchResponse(path, await t.request<unknown>({ method: 'POST', path, body, signal: o?.signal }));
  };

  async function* pages(path: '/server/devices' | '/devices/sync', req: PageRequest, o?: CallOptions): AsyncGenerator<FetchDeviceResponse, void, undefined> {
    const seen = new Set<string>();
    let cursor = req.cursor;
    for (;;) {
      const res = await page(path, { cursor, limit: req.limit }, o);
      yield res;
      if (!res.more_to_follow) return;
      if (!res.cursor || res.cursor === cursor || seen.has(res.cursor)) {
        throw new DepProtocolError(path, 'more_to_follow is true but the cursor did not advance; stopping instead of looping');
      }
      seen.add(res.cursor);
      cursor = res.cursor;
    }
  }

  const serialCall = <R extends { devices: Record<string, unknown> }>(
    method: 'POST' | 'DELETE',
    path: string,
    serials: readonly string[],
    extra: Record<string, unknown>,
    o: CallOptions | undefined,
    mergeExtra?: (acc: R, next: R) => void,
    check: (endpoint: string, v: unknown) => R = checkSerialStatusResponse as unknown as (endpoint: string, v: unknown) => R,
  ): Promise<R> =>
    sendInBatches<unknown, R>(
      serials,
      async (batch) => check(path, await t.request<unknown>({ method, path, body: { ...extra, devices: batch }, signal: o?.signal })),
      mergeExtra,
    ).then((r) => r ?? ({ ...extra, devices: {} } as unknown as R));

  const assign = (profileUuid: string, serials: readonly string[], o?: CallOptions): Promise<AssignProfileResponse> =>
    serialCall<AssignProfileResponse>('POST', '/profile/devices', serials, { profile_uuid: profileUuid }, o, (acc, next) => {
      if (next.retry_after_seconds !== undefined) {
        acc.retry_after_seconds = Math.max(acc.retry_after_seconds ?? 0, next.retry_after_seconds);
      }
    });

  return {
    account: async (o) => checkAccount('/account', await t.request<unknown>({ method: 'GET', path: '/account', signal: o?.signal })),
    fetchDevices: (req = {}, o) => page('/server/devices', req, o),
    syncDevices: (req, o) => page('/devices/sync', req, o),
    fetchAllDevices: (req = {}, o) => pages('/server/devices', req, o),
    syncAllDevices: (req, o) => pages('/devices/sync', req, o),
    deviceDetails: (serials, o) => serialCall<DeviceDetailsResponse>('POST', '/devices', serials, {}, o, undefined, checkDetailsResponse),
    async defineProfile(profile, o) {
      const [first = [], ...rest] = batchSerials(profile.devices ?? []);
      const body = profileRequestBody({ ...profile, devices: first });
      if (profile.devices === undefined) delete body.devices;
      const res: DefineProfileResponse = checkDefineResponse('/profile', await t.request<unknown>({ method: 'POST', path: '/profile', body, signal: o?.signal }));
      if (rest.length === 0) return res;
      const more = await assign(res.profile_uuid, rest.flat(), o);
      return { ...res, devices: { ...res.devices, ...more.devices } };
    },
    async getProfile(profileUuid, o) {
      const wire = checkProfileResponse<FetchProfileWireResponse>(
        '/profile',
        await t.request<unknown>({
          method: 'GET',
          path: '/profile',
          query: { profile_uuid: profileUuid },
          signal: o?.signal,
        }),
      );
      return normaliseFetchedProfile(wire);
    },
    assignProfile: assign,
    removeProfile: (serials, o) => serialCall<SerialStatusResponse>('DELETE', '/profile/devices', serials, {}, o),
    disownDevices(serials, o) {
      if (o?.confirm !== true) {
        return Promise.reject(
          new Error('disownDevices refused: disowning removes devices from the organisation permanently; pass { confirm: true }'),
        );
      }
      return serialCall<SerialStatusResponse>('POST', '/devices/disown', serials, {}, o);
    },
    close: async () => {
      await owned?.close();
    },
  };
}

function checkLimit(limit: number): number {
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_FETCH_LIMIT) {
    throw new RangeError(`limit must be an integer from 1 to ${MAX_FETCH_LIMIT} (Apple's documented maximum), got ${limit}`);
  }
  return limit;
}
