/**
 * The typed client of Apple's Business / School API (dep-protocol.md section 7): one method per endpoint
 * depctl needs for assignment. Methods only build requests; the token manager (token.ts) authenticates,
 * the transport (transport.ts) retries and types errors, and shapes.ts checks every answer.
 */
import { Agent, type Dispatcher } from 'undici';
import { DEFAULT_USER_AGENT } from '../dep/user-agent.js';
import { sleep as realSleep, type SleepFn } from '../util/sleep.js';
import { resolveAbmCredentials, type AbmCredentials } from './credentials.js';
import { AbmHttpError, AbmProtocolError } from './errors.js';
import { abmRetryPolicy, exchange, withRetries, type AbmRequestEvent, type AbmRetryOptions } from './http.js';
import { MAX_RESULT_CSV_BYTES, parseActivityResultsCsv } from './results.js';
import { checkActivity, checkAssignedServerLinkage, checkDeviceLinkagePage, checkMdmServer, checkMdmServerPage, checkOrgDevice, checkOrgDevicePage, type Page } from './shapes.js';
import { createAbmTokenManager, type AbmTokenManager } from './token.js';
import { createAbmTransport } from './transport.js';
import {
  ABM_ACTIVITY_TYPES,
  ABM_MAX_ACTIVITY_DEVICES,
  ABM_MAX_PAGE_LIMIT,
  type AbmActivityType,
  type ActivityDeviceResult,
  type MdmServer,
  type MdmServerCreate,
  type MdmServerUpdate,
  type OrgDevice,
  type OrgDeviceActivity,
} from './types.js';

/** Options of {@link createAbmClient}. */
export interface AbmClientOptions {
  credentials: AbmCredentials;
  /** `User-Agent` of every call (default `depctl/<version>`). */
  userAgent?: string;
  /** undici dispatcher; by default one keep-alive Agent per client, closed by `close()`. */
  dispatcher?: Dispatcher;
  /** Clock in epoch milliseconds (token renewal, Retry-After dates, retry budget); Date.now by default. */
  now?: () => number;
  random?: () => number;
  retry?: AbmRetryOptions;
  /** Per-request timeout for a complete response (default 60 s). */
  timeoutMs?: number;
  /** Assertion lifetime in seconds (default 180 days, Apple's maximum). */
  assertionLifetimeSec?: number;
  /** `jti` source of assertions (default random UUIDs). */
  jti?: () => string;
  onRequest?: (e: AbmRequestEvent) => void;
}

/** Options every method accepts. */
export interface AbmCallOptions {
  signal?: AbortSignal;
}

/** Options of the device list. */
export interface OrgDeviceListOptions extends AbmCallOptions {
  /** Page size, 1 to 1000 (Apple's default is 100). */
  limit?: number;
  /** `fields[orgDevices]`: only these attributes. */
  fields?: readonly string[];
  /** Start from this cursor instead of the first page. */
  cursor?: string;
}

/** An activity to create. */
export interface ActivityRequest {
  type: AbmActivityType;
  serverId: string;
  serials: readonly string[];
}

/** Options of {@link AbmClient.waitForActivity}. */
export interface WaitForActivityOptions extends AbmCallOptions {
  /** Time between polls (default 5 s). */
  intervalMs?: number;
  /** Give up after this long on the client clock (default 30 minutes); the last state is returned as is. */
  timeoutMs?: number;
  /** Injectable wait (default a real, abortable timer); tests advance a simulated clock here. */
  sleep?: SleepFn;
}

/** The Business API of one API account. */
export interface AbmClient {
  /** GET /orgDevices, one page. */
  orgDevicePage(opts?: OrgDeviceListOptions): Promise<Page<OrgDevice>>;
  /** Every device of the organisation, following cursors (devices released from the org are not listed). */
  listOrgDevices(opts?: OrgDeviceListOptions): AsyncGenerator<OrgDevice, void, undefined>;
  /** GET /orgDevices/{id} (the id is the serial number). */
  getOrgDevice(id: string, opts?: AbmCallOptions): Promise<OrgDevice>;
  /** GET /orgDevices/{serial}/relationships/assignedServer: the server id, or null when unassigned. */
  getAssignedServer(serial: string, opts?: AbmCallOptions): Promise<string | null>;
  /** GET /mdmServers, every page. */
  listMdmServers(opts?: AbmCallOptions): Promise<MdmServer[]>;
  /** GET /mdmServers/{id}/relationships/devices: the serials assigned to the server, following cursors. */
  listServerDeviceSerials(serverId: string, opts?: AbmCallOptions & { limit?: number }): AsyncGenerator<string, void, undefined>;
  /**
   * POST /mdmServers (API 2.1+), answers 201. Not retried after a 5xx or a lost answer (the server may
   * exist by then): list the servers before creating again. Activities, by contrast, are retried: assigning
   * a serial to the server it is already on changes nothing.
   */
  createMdmServer(input: MdmServerCreate, opts?: AbmCallOptions): Promise<MdmServer>;
  /** PATCH /mdmServers/{id} (API 2.1+). */
  updateMdmServer(id: string, input: MdmServerUpdate, opts?: AbmCallOptions): Promise<MdmServer>;
  /** DELETE /mdmServers/{id} (API 2.1+); Apple refuses a server that still has devices. */
  deleteMdmServer(id: string, opts?: AbmCallOptions): Promise<void>;
  /** POST /orgDeviceActivities with at most {@link ABM_MAX_ACTIVITY_DEVICES} serials; answers 201 with the activity. */
  createActivity(req: ActivityRequest, opts?: AbmCallOptions): Promise<OrgDeviceActivity>;
  /** As createActivity, split into activities of at most {@link ABM_MAX_ACTIVITY_DEVICES} serials, created in order. */
  createActivities(req: ActivityRequest, opts?: AbmCallOptions): Promise<OrgDeviceActivity[]>;
  /** GET /orgDeviceActivities/{id} (Apple keeps them 30 days). */
  getActivity(id: string, opts?: AbmCallOptions): Promise<OrgDeviceActivity>;
  /** Polls an activity until it leaves IN_PROGRESS or the timeout passes; returns the last state read. */
  waitForActivity(id: string, opts?: WaitForActivityOptions): Promise<OrgDeviceActivity>;
  /**
   * Reads the per-serial result CSV of a finished activity from its `downloadUrl` (presigned: sent
   * without the bearer token), at most {@link MAX_RESULT_CSV_BYTES}. Throws `AbmProtocolError` when the
   * activity has no download.
   */
  readActivityResults(activity: OrgDeviceActivity, opts?: AbmCallOptions): Promise<ActivityDeviceResult[]>;
  /** The token manager (renewal points and request counts, for status and tests). */
  readonly tokens: AbmTokenManager;
  /** Closes the connection pool if the client created it. */
  close(): Promise<void>;
}

const DEFAULT_TIMEOUT_MS = 60_000;

function checkLimit(limit: number): number {
  if (!Number.isInteger(limit) || limit < 1 || limit > ABM_MAX_PAGE_LIMIT) {
    throw new RangeError(`limit must be an integer from 1 to ${ABM_MAX_PAGE_LIMIT} (Apple's documented maximum), got ${limit}`);
  }
  return limit;
}

function segment(id: string, what: string): string {
  if (typeof id !== 'string' || id === '' || id.length > 200) throw new TypeError(`${what} must be a non-empty string`);
  return encodeURIComponent(id);
}

function checkActivityRequest(req: ActivityRequest): void {
  if (!ABM_ACTIVITY_TYPES.includes(req.type)) throw new TypeError(`activity type must be one of ${ABM_ACTIVITY_TYPES.join(', ')}`);
  segment(req.serverId, 'serverId');
  if (req.serials.length === 0) throw new RangeError('an activity needs at least one serial');
  const bad = req.serials.find((s) => typeof s !== 'string' || s.trim() === '');
  if (bad !== undefined) throw new TypeError('every serial must be a non-empty string');
  if (new Set(req.serials).size !== req.serials.length) throw new RangeError('an activity must not list a serial twice');
}

/** Creates a client for one API account; the credentials are checked (and the key parsed) here. */
export function createAbmClient(opts: AbmClientOptions): AbmClient {
  const creds = resolveAbmCredentials(opts.credentials);
  const owned = opts.dispatcher === undefined ? new Agent({ keepAliveTimeout: 30_000, connections: 4 }) : undefined;
  const dispatcher = opts.dispatcher ?? (owned as Dispatcher);
  const now = opts.now ?? Date.now;
  const retry = abmRetryPolicy(opts.retry, now, opts.random ?? Math.random);
  const userAgent = opts.userAgent ?? DEFAULT_USER_AGENT;
  const http = { dispatcher, timeoutMs: opts.timeoutMs ?? DEFAULT_TIMEOUT_MS, onRequest: opts.onRequest };
  const tokens = createAbmTokenManager({ credentials: creds, http, retry, now, userAgent, assertionLifetimeSec: opts.assertionLifetimeSec, jti: opts.jti });
  const t = createAbmTransport({ apiUrl: creds.apiUrl, tokens, http, retry, now, userAgent });
  const basePath = new URL(creds.apiUrl).pathname.replace(/\/+$/, '');

  async function* follow<T>(path: string, query: Record<string, string>, check: (endpoint: string, v: unknown) => Page<T>, signal?: AbortSignal, start?: string): AsyncGenerator<Page<T>, void, undefined> {
    const seen = new Set<string>();
    let cursor = start;
    for (;;) {
      const q = cursor === undefined ? query : { ...query, cursor };
      const page = check(`${basePath}${path}`, await t.request({ method: 'GET', path, query: q, signal }));
      yield page;
      if (page.nextCursor === undefined) return;
      if (page.nextCursor === cursor || seen.has(page.nextCursor)) {
        throw new AbmProtocolError(`${basePath}${path}`, 'the next cursor did not advance; stopping instead of looping');
      }
      seen.add(page.nextCursor);
      cursor = page.nextCursor;
    }
  }

  const deviceQuery = (o: OrgDeviceListOptions | undefined): Record<string, string> => ({
    ...(o?.limit !== undefined ? { limit: String(checkLimit(o.limit)) } : {}),
    ...(o?.fields !== undefined && o.fields.length > 0 ? { 'fields[orgDevices]': o.fields.join(',') } : {}),
  });

  const createActivity = async (req: ActivityRequest, o?: AbmCallOptions): Promise<OrgDeviceActivity> => {
    checkActivityRequest(req);
    if (req.serials.length > ABM_MAX_ACTIVITY_DEVICES) {
      throw new RangeError(`an activity takes at most ${ABM_MAX_ACTIVITY_DEVICES} serials (got ${req.serials.length}); use createActivities to split them`);
    }
    const body = {
      data: {
        type: 'orgDeviceActivities',
        attributes: { activityType: req.type },
        relationships: {
          mdmServer: { data: { type: 'mdmServers', id: req.serverId } },
          devices: { data: req.serials.map((id) => ({ type: 'orgDevices', id })) },
        },
      },
    };
    return checkActivity(`${basePath}/orgDeviceActivities`, await t.request({ method: 'POST', path: '/orgDeviceActivities', body, signal: o?.signal }));
  };

  const getActivity = async (id: string, o?: AbmCallOptions): Promise<OrgDeviceActivity> =>
    checkActivity(`${basePath}/orgDeviceActivities/{id}`, await t.request({ method: 'GET', path: `/orgDeviceActivities/${segment(id, 'activity id')}`, signal: o?.signal }));

  return {
    tokens,
    async orgDevicePage(o) {
      const q = deviceQuery(o);
      if (o?.cursor !== undefined) q.cursor = o.cursor;
      return checkOrgDevicePage(`${basePath}/orgDevices`, await t.request({ method: 'GET', path: '/orgDevices', query: q, signal: o?.signal }));
    },
    async *listOrgDevices(o) {
      for await (const page of follow('/orgDevices', deviceQuery(o), checkOrgDevicePage, o?.signal, o?.cursor)) yield* page.items;
    },
    async getOrgDevice(id, o) {
      return checkOrgDevice(`${basePath}/orgDevices/{id}`, await t.request({ method: 'GET', path: `/orgDevices/${segment(id, 'device id')}`, signal: o?.signal }));
    },
    async getAssignedServer(serial, o) {
      return checkAssignedServerLinkage(
        `${basePath}/orgDevices/{id}/relationships/assignedServer`,
        await t.request({ method: 'GET', path: `/orgDevices/${segment(serial, 'serial')}/relationships/assignedServer`, signal: o?.signal }),
      );
    },
    async listMdmServers(o) {
      const out: MdmServer[] = [];
      for await (const page of follow('/mdmServers', {}, checkMdmServerPage, o?.signal)) out.push(...page.items);
      return out;
    },
    async *listServerDeviceSerials(serverId, o) {
      const path = `/mdmServers/${segment(serverId, 'serverId')}/relationships/devices`;
      const q: Record<string, string> = o?.limit !== undefined ? { limit: String(checkLimit(o.limit)) } : {};
      for await (const page of follow(path, q, checkDeviceLinkagePage, o?.signal)) yield* page.items;
    },
    async createMdmServer(input, o) {
      if (typeof input.serverName !== 'string' || input.serverName.trim() === '') throw new TypeError('serverName is required');
      if (typeof input.serverCertificate?.name !== 'string' || typeof input.serverCertificate.data !== 'string' || input.serverCertificate.data === '') {
        throw new TypeError('serverCertificate {name, data} is required (data: the base64 certificate)');
      }
      const body = { data: { type: 'mdmServers', attributes: { ...input } } };
      return checkMdmServer(`${basePath}/mdmServers`, await t.request({ method: 'POST', path: '/mdmServers', body, signal: o?.signal, notIdempotent: true }));
    },
    async updateMdmServer(id, input, o) {
      const body = { data: { type: 'mdmServers', id, attributes: { ...input } } };
      return checkMdmServer(`${basePath}/mdmServers/{id}`, await t.request({ method: 'PATCH', path: `/mdmServers/${segment(id, 'server id')}`, body, signal: o?.signal }));
    },
    async deleteMdmServer(id, o) {
      await t.request({ method: 'DELETE', path: `/mdmServers/${segment(id, 'server id')}`, signal: o?.signal });
    },
    createActivity,
    async createActivities(req, o) {
      checkActivityRequest(req);
      const out: OrgDeviceActivity[] = [];
      for (let i = 0; i < req.serials.length; i += ABM_MAX_ACTIVITY_DEVICES) {
        out.push(await createActivity({ ...req, serials: req.serials.slice(i, i + ABM_MAX_ACTIVITY_DEVICES) }, o));
      }
      return out;
    },
    getActivity,
    async waitForActivity(id, o) {
      const interval = o?.intervalMs ?? 5_000;
      const wait = o?.sleep ?? realSleep;
      const deadline = now() + (o?.timeoutMs ?? 30 * 60_000);
      for (;;) {
        const a = await getActivity(id, o);
        if (a.status !== 'IN_PROGRESS' || now() >= deadline) return a;
        await wait(interval, o?.signal);
      }
    },
    async readActivityResults(activity, o) {
      const endpoint = `${basePath}/orgDeviceActivities/{id} downloadUrl`;
      if (activity.downloadUrl === undefined) throw new AbmProtocolError(endpoint, `activity ${activity.id} (${activity.status}/${activity.subStatus}) has no result file`);
      let url: URL;
      try {
        url = new URL(activity.downloadUrl);
      } catch {
        throw new AbmProtocolError(endpoint, 'downloadUrl is not a URL');
      }
      if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new AbmProtocolError(endpoint, 'downloadUrl is not an http(s) URL');
      // Presigned: no Authorization (the bearer must not travel to a blob store), and no query in errors.
      const presigned = [url.search, ...url.searchParams.values()];
      const res = await withRetries(retry, o?.signal, () =>
        exchange(
          { ...http, secrets: () => [...tokens.secrets(), ...presigned] },
          { method: 'GET', url: url.href, endpoint: url.pathname, headers: { Accept: 'text/csv, */*', 'User-Agent': userAgent }, signal: o?.signal, maxBytes: MAX_RESULT_CSV_BYTES },
        ),
      );
      if (res.status < 200 || res.status >= 300) throw new AbmHttpError({ status: res.status, method: 'GET', endpoint: url.pathname, body: res.body, secrets: presigned });
      return parseActivityResultsCsv(endpoint, res.body);
    },
    close: async () => {
      await owned?.close();
    },
  };
}
