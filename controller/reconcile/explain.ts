/**
 * `depctl explain SERIAL…`: for each serial, which profile the configuration wants on each server and why
 * (the Assignment listing it, the match rule that wins, the server's default, or the unassigned-devices
 * policy), what Apple has according to the store (and, when the caller asked Apple, the live details), whether
 * the device waits for a retry, when it arrived, and its audit history. Plain data; renderers live in
 * cli/views/explain-*.ts. Reads the store through the narrow {@link ExplainStore} and never calls Apple itself:
 * the command passes Apple's `POST /devices` answers in (STYLE rules 1 and 9).
 */
import type { SourceLoc } from '../config/problems.js';
import type { DepConfig } from '../config/types.js';
import type { Device } from '../dep/types.js';
import { compileServerRules, decide, type ServerRules } from './desired.js';
import { profileContentHash } from './profile-content.js';
import type { AuditEntry, DeviceRecord, DeviceResult, PlanStore, ProfileRecord, StatusStore } from './ports.js';

/** How many audit entries are shown per device and server (the newest ones). */
export const HISTORY_LIMIT = 20;

/** Audit entries read per store call while looking for the newest ones. */
const AUDIT_PAGE = 500;

/** Runs read at most to find the commits of the runs in a history. */
const RUN_LOOKUP_LIMIT = 10_000;

/**
 * What explain reads from the store: one device, a server's profile records, the audit log of a serial and
 * the runs (for their commits). `readAudit` is the store's test-side read (store/ports.ts `Store`); its
 * record is declared here structurally because reconcile does not import store/.
 */
export interface ExplainStore extends Pick<PlanStore, 'getDevice' | 'listProfiles'>, Pick<StatusStore, 'listRuns'> {
  readAudit(query: { server?: string; serial?: string; afterSeq?: number; limit: number }): Promise<(AuditEntry & { seq: number })[]>;
}

/** A place in the config repository (path relative to the config directory). */
export type ConfigLocation = SourceLoc;

/** Why the configuration wants what it wants for a device on one server. */
export type DesiredExplanation =
  | {
      kind: 'profile';
      profile: string;
      /** `serial`: listed explicitly; `match`: a match rule; `default`: the server's defaultProfile. */
      source: 'serial' | 'match' | 'default';
      /** The Assignment that lists the serial or whose rule matched; null for the default. */
      assignment: string | null;
      /** The match rule's priority (source `match` only). */
      priority: number | null;
      /** The device family whose `defaultProfiles` entry decided (source `default`), or null for `defaultProfile`. */
      defaultFamily: string | null;
      /** The Assignment (serial, match) or the MdmServer (default) document. */
      location: ConfigLocation | null;
    }
  | { kind: 'none'; policy: 'ignore' | 'remove'; location: ConfigLocation | null }
  | { kind: 'conflict'; message: string }
  /** The device record is not known (only the serial), so match rules cannot be evaluated. */
  | { kind: 'unknown'; listedIn: { assignment: string; profile: string; location: ConfigLocation }[] };

/** The profile a device carries, as depctl names it. */
export interface CarriedProfile {
  uuid: string;
  /** depctl's profile name for this UUID, or null for a profile depctl did not define (foreign). */
  name: string | null;
  /** True when the UUID is the define of the profile's current content in the config. */
  current: boolean;
}

/** Apple's record of the device, as last observed (store) or as Apple answered now (live). */
export interface AppleView {
  profile: CarriedProfile | null;
  profileStatus: string | null;
  profileAssignTime: string | null;
  opType: string | null;
  opDate: string | null;
  model: string | null;
  deviceFamily: string | null;
  os: string | null;
  description: string | null;
}

/** The store's view of the device on one server. */
export interface StoredView extends AppleView {
  /** When the record was last written from Apple's data (ISO 8601). */
  observedAt: string;
}

/** Apple's `POST /devices` answer for the serial on one server. */
export type LiveView = { status: string; device: AppleView | null } | { error: string };

/** The last apply result and the retry wait of a device. */
export interface RetryView {
  lastResult: { status: DeviceResult['status']; appleStatus: string | null; at: string } | null;
  attempts: number;
  /** Not tried again before this time (ISO 8601), or null. */
  retryNotBefore: string | null;
  /** True when `retryNotBefore` is later than now: the device waits for a retry. */
  deferred: boolean;
}

/** One audited write for the device. */
export interface HistoryEntry {
  seq: number;
  at: string;
  runId: number | null;
  /** The git commit the run applied, when the run is known and recorded one. */
  commit: string | null;
  action: string;
  before: string | null;
  after: string | null;
  /** depctl's profile names of `before` / `after` when they are UUIDs it defined. */
  beforeProfile: string | null;
  afterProfile: string | null;
  outcome: AuditEntry['outcome'];
  appleStatus: string | null;
}

/** What one server knows about a serial. */
export interface ServerExplanation {
  server: string;
  /** True when the store or Apple (live) knows the device on this server. */
  found: boolean;
  desired: DesiredExplanation;
  stored: StoredView | null;
  live: LiveView | null;
  retry: RetryView | null;
  /** When the device arrived on the server, until an apply succeeded for it (ISO 8601), or null. */
  arrivedAt: string | null;
  /** The newest audit entries, newest last; `more` older ones were left out. */
  history: { entries: HistoryEntry[]; more: number };
}

/** Everything about one serial given on the command line. */
export interface SerialExplanation {
  /** The argument as given. */
  input: string;
  /** The normalised serial, or null when the argument is no serial number. */
  serial: string | null;
  /** Why the argument is no serial number. */
  problem: string | null;
  /** True when at least one server knows the device. */
  found: boolean;
  /** The servers asked, in config order. */
  serversAsked: string[];
  /** Servers that know the device; when none does, one entry per server asked that lists it in the config. */
  servers: ServerExplanation[];
}

/** The whole answer. */
export interface ExplainReport {
  version: 1;
  generatedAt: string;
  /** Whether Apple was asked (`--live`). */
  live: boolean;
  serials: SerialExplanation[];
}

/** Apple's live answers per server: the details response's devices, or why the server could not be asked. */
export type LiveAnswers = ReadonlyMap<string, LiveAnswer>;

/** Apple's live answer for one server. */
export type LiveAnswer = { devices: Readonly<Record<string, Partial<Device> & { response_status: string }>> } | { error: string };

/** Inputs of {@link explainSerials}. */
export interface ExplainInput {
  config: DepConfig;
  store: ExplainStore;
  /** The serials as given (normalised here as the config loader does). */
  serials: readonly string[];
  /** The servers to ask (config names); all configured servers when absent. */
  servers?: readonly string[];
  now: Date;
  /** Apple's answers when `--live` was given. */
  live?: LiveAnswers;
  /** Normalises a serial (config/serials.ts normaliseSerial) and explains a refusal. */
  normalise: (raw: string) => { serial: string } | { problem: string };
}

/** Explains every serial on every server asked. */
export async function explainSerials(input: ExplainInput): Promise<ExplainReport> {
  const { config, store, now } = input;
  const asked = input.servers ?? config.servers.map((s) => s.name);
  const rules = new Map<string, ServerRules>(asked.map((name) => [name, compileServerRules(config, name)]));
  const profileCache = new Map<string, Promise<ProfileRecord[]>>();
  const profilesOf = (server: string): Promise<ProfileRecord[]> => {
    let p = profileCache.get(server);
    if (!p) profileCache.set(server, (p = store.listProfiles(server)));
    return p;
  };
  const currentHash = new Map(config.profiles.map((p) => [p.name, profileContentHash(p.profile as Record<string, unknown>)] as const));
  const runs = new RunCommits(store);
  const out: SerialExplanation[] = [];
  for (const raw of input.serials) {
    const n = input.normalise(raw);
    if ('problem' in n) {
      out.push({ input: raw, serial: null, problem: n.problem, found: false, serversAsked: [...asked], servers: [] });
      continue;
    }
    const serial = n.serial;
    const servers: ServerExplanation[] = [];
    for (const server of asked) {
      const r = rules.get(server) as ServerRules;
      const record = await store.getDevice(server, serial);
      const liveAnswer = input.live?.get(server);
      const profiles = await profilesOf(server);
      const carried = (uuid: string | undefined): CarriedProfile | null => carriedProfile(uuid, profiles, currentHash);
      const live = liveView(liveAnswer, serial, carried);
      const liveDevice = liveAnswer && 'devices' in liveAnswer ? liveAnswer.devices[serial] : undefined;
      const liveFound = live !== null && 'status' in live && live.status === 'SUCCESS';
      const device: Device | undefined = record?.device ?? (liveFound && liveDevice ? { model: '', ...liveDevice, serial_number: serial } : undefined);
      const history = await historyOf(store, server, serial, profiles, runs);
      if (!device) {
        // Not on this server: still say where the config lists it (Apple would show it as "serials not seen").
        const listedIn = explicitListings(config, server, serial);
        if (listedIn.length > 0 || live !== null || history.entries.length > 0) {
          servers.push({ server, found: false, desired: { kind: 'unknown', listedIn }, stored: null, live, retry: null, arrivedAt: null, history });
        }
        continue;
      }
      servers.push({
        server,
        found: true,
        desired: explainDecision(config, r, device),
        stored: record ? storedView(record, carried) : null,
        live,
        retry: record ? retryView(record, now) : null,
        arrivedAt: record?.arrivedAt?.toISOString() ?? null,
        history,
      });
    }
    out.push({ input: raw, serial, problem: null, found: servers.some((s) => s.found), serversAsked: [...asked], servers });
  }
  return { version: 1, generatedAt: now.toISOString(), live: input.live !== undefined, serials: out };
}

/** Which profile the configuration wants for the device on the server, with the config location that decides it. */
export function explainDecision(config: DepConfig, rules: ServerRules, device: Device): DesiredExplanation {
  const d = decide(rules, device);
  const server = rules.server;
  if (d.kind === 'conflict') return { kind: 'conflict', message: d.message };
  if (d.kind === 'remove' || d.kind === 'ignore') return { kind: 'none', policy: d.kind, location: server.source };
  if (d.source === 'default') {
    const family = device.device_family;
    const fromFamily = family !== undefined && server.defaultProfiles !== undefined && Object.hasOwn(server.defaultProfiles, family);
    return { kind: 'profile', profile: d.profile, source: 'default', assignment: null, priority: null, defaultFamily: fromFamily ? family : null, location: server.source };
  }
  const a = config.assignments.find((x) => x.name === d.assignment);
  return {
    kind: 'profile',
    profile: d.profile,
    source: d.source === 'serial' ? 'serial' : 'match',
    assignment: d.assignment,
    priority: d.source === 'match' ? (a?.priority ?? null) : null,
    defaultFamily: null,
    location: a?.source ?? null,
  };
}

/** The assignments that list the serial explicitly for the server. */
function explicitListings(config: DepConfig, server: string, serial: string): { assignment: string; profile: string; location: ConfigLocation }[] {
  return config.assignments
    .filter((a) => a.servers.includes(server) && a.serials.includes(serial))
    .map((a) => ({ assignment: a.name, profile: a.profile, location: a.source }));
}

function carriedProfile(uuid: string | undefined, profiles: readonly ProfileRecord[], currentHash: ReadonlyMap<string, string>): CarriedProfile | null {
  if (!uuid) return null;
  const p = profiles.find((x) => x.uuid !== null && x.uuid.toUpperCase() === uuid.toUpperCase());
  if (!p) return { uuid, name: null, current: false };
  return { uuid, name: p.name, current: currentHash.get(p.name) === p.contentHash };
}

function appleView(d: Partial<Device>, carried: (uuid: string | undefined) => CarriedProfile | null): AppleView {
  return {
    profile: carried(d.profile_uuid),
    profileStatus: d.profile_status ?? null,
    profileAssignTime: d.profile_assign_time ?? null,
    opType: d.op_type ?? null,
    opDate: d.op_date ?? null,
    model: d.model ?? null,
    deviceFamily: d.device_family ?? null,
    os: d.os ?? null,
    description: d.description ?? null,
  };
}

function storedView(r: DeviceRecord, carried: (uuid: string | undefined) => CarriedProfile | null): StoredView {
  return { ...appleView(r.device, carried), observedAt: r.observedAt.toISOString() };
}

function liveView(answer: LiveAnswer | undefined, serial: string, carried: (uuid: string | undefined) => CarriedProfile | null): LiveView | null {
  if (answer === undefined) return null;
  if ('error' in answer) return { error: answer.error };
  const d = answer.devices[serial];
  if (!d) return { status: 'NO_ANSWER', device: null };
  return { status: d.response_status, device: d.response_status === 'SUCCESS' ? appleView(d, carried) : null };
}

function retryView(r: DeviceRecord, now: Date): RetryView {
  return {
    lastResult: r.lastResult ? { status: r.lastResult.status, appleStatus: r.lastResult.appleStatus, at: r.lastResult.at.toISOString() } : null,
    attempts: r.attempts,
    retryNotBefore: r.retryNotBefore?.toISOString() ?? null,
    deferred: r.retryNotBefore !== null && r.retryNotBefore.getTime() > now.getTime(),
  };
}

/** The newest {@link HISTORY_LIMIT} audit entries of the serial on the server, newest last, and how many more there are. */
async function historyOf(store: ExplainStore, server: string, serial: string, profiles: readonly ProfileRecord[], runs: RunCommits): Promise<{ entries: HistoryEntry[]; more: number }> {
  // The audit log reads forwards only (by sequence number); keep a window of the newest entries.
  let window: (AuditEntry & { seq: number })[] = [];
  let total = 0;
  let after = 0;
  for (;;) {
    const page = await store.readAudit({ server, serial, afterSeq: after, limit: AUDIT_PAGE });
    total += page.length;
    window = [...window, ...page].slice(-HISTORY_LIMIT);
    if (page.length < AUDIT_PAGE) break;
    after = (page[page.length - 1] as { seq: number }).seq;
  }
  const nameOf = (uuid: string | null): string | null => (uuid === null ? null : (profiles.find((p) => p.uuid !== null && p.uuid.toUpperCase() === uuid.toUpperCase())?.name ?? null));
  const commits = await runs.commits(window.map((e) => e.runId).filter((id): id is number => id !== null));
  const entries = window.map((e) => ({
    seq: e.seq,
    at: e.at.toISOString(),
    runId: e.runId,
    commit: e.runId === null ? null : (commits.get(e.runId) ?? null),
    action: e.action,
    before: e.before,
    after: e.after,
    beforeProfile: nameOf(e.before),
    afterProfile: nameOf(e.after),
    outcome: e.outcome,
    appleStatus: e.appleStatus,
  }));
  return { entries, more: total - entries.length };
}

/** Run id → commit, read from the store's latest runs (the store has no lookup by id; run ids ascend). */
class RunCommits {
  private readonly known = new Map<number, string | null>();
  private newest: number | undefined;

  constructor(private readonly store: ExplainStore) {}

  async commits(ids: readonly number[]): Promise<ReadonlyMap<number, string | null>> {
    const missing = ids.filter((id) => !this.known.has(id));
    if (missing.length > 0) {
      if (this.newest === undefined) this.newest = (await this.store.listRuns({ limit: 1 }))[0]?.id ?? 0;
      const oldest = Math.min(...missing);
      const limit = Math.min(RUN_LOOKUP_LIMIT, Math.max(1, this.newest - oldest + 1));
      for (const r of await this.store.listRuns({ limit })) this.known.set(r.id, r.commit);
      // Runs older than the lookup bound keep an unknown commit rather than a wrong one.
      for (const id of missing) if (!this.known.has(id)) this.known.set(id, null);
    }
    return this.known;
  }
}
