import { createHash, randomBytes } from 'node:crypto';
import type { DepConfig, EnrollmentProfile } from '../config/types.js';
import { compileServerRules, type ServerRules } from './desired.js';
import { deviceDriftMessage, ServerDiffer, type KnownProfile, type ObservedDevice } from './diff.js';
import type { Device } from '../dep/types.js';
import { observe, WrittenSerials, type ObserveOptions, type ObserveResult } from './observe.js';
import { PLAN_FORMAT_VERSION, summarise, type DriftItem, type MigrationDeadlines, type Plan, type ProfileDefine, type ServerPlan } from './plan.js';
import { profileChanges, profileContent, profileContentHash } from './profile-content.js';
import { problemFromError, type ServerProblem } from './outcome.js';
import { checkServerIdentity, identityOfRecord } from './identity.js';
import type { ApplyStore, CallOptions, MigrationDeadlineCount, PlanStore, ProfileRecord, ReconcileDepClient } from './ports.js';
import { adoptCarriedProfiles, countCarriedUuids, recoverDefines, type AdoptedOnFirstContact, type LookedUpProfile } from './recover.js';

/** One configured server as the planner gets it: a client, or the reason there is none. */
export interface ServerHandle {
  name: string;
  client: ReconcileDepClient | null;
  /** Why the server cannot be reached (token missing, undecryptable, expired, ...). */
  problem: ServerProblem | null;
  /** Expiry of the server token, for the drift warnings. */
  tokenExpiresAt: Date | null;
}

/**
 * The store makePlan writes to: observation, define recovery, and on first contact the adoption of profiles
 * Apple already has (recover.ts), which is audited.
 */
export type PlannerStore = PlanStore & Pick<ApplyStore, 'appendAudit'>;

/** Options of makePlan. */
export interface PlanOptions extends CallOptions {
  now: () => Date;
  /** Force a full fetch instead of a sync. */
  refresh?: boolean;
  /** Take FAILED serials now instead of at their retry time (`--retry-failed`); THROTTLED still waits. */
  retryFailed?: boolean;
  commit?: string | null;
  /** Called after each server's observation (for logs and metrics). */
  onObserved?: (server: string, result: ObserveResult) => void;
  /**
   * Plan only these servers (`--server`); the configuration's others are left out, listed in
   * `Plan.skippedServers`, and never reported as lacking serials they may hold. All servers when absent.
   */
  only?: readonly string[];
  /** Progress of each server's fetch or sync (pages and devices so far). */
  onProgress?: ObserveOptions['onProgress'];
}

/** Days before expiry at which a token is reported (DESIGN.md: 30/14/7 days, and 1). */
export const TOKEN_WARNING_DAYS = [30, 14, 7, 1] as const;

/**
 * Observes every server (a failure stops only that server) and diffs the configuration against the
 * store: the Plan. Writes nothing to Apple; the store is updated with what Apple reported.
 */
export async function makePlan(config: DepConfig, handles: readonly ServerHandle[], store: PlannerStore, opts: PlanOptions): Promise<Plan> {
  const servers: ServerPlan[] = [];
  const seenExplicit = new Map<string, Set<string>>();
  const errored = new Set<string>();
  const only = opts.only ? new Set(opts.only) : null;
  for (const h of handles) {
    if (only && !only.has(h.name)) continue;
    const plan = await planServer(config, h, store, opts, seenExplicit);
    plan.identity = identityOfRecord(await store.getServer(h.name));
    if (plan.error) errored.add(h.name);
    servers.push(plan);
  }
  // A left-out server was not read (not in seenExplicit), so assignments on it report no serials-not-seen.
  addSerialsNotSeen(config, servers, seenExplicit, errored);
  const planHash = hashChanges(servers);
  const skippedServers = only ? config.servers.map((s) => s.name).filter((n) => !only.has(n)) : [];
  return {
    version: PLAN_FORMAT_VERSION,
    createdAt: opts.now().toISOString(),
    commit: opts.commit ?? null,
    configHash: configHash(config),
    planHash,
    servers,
    ...(skippedServers.length > 0 ? { skippedServers } : {}),
    summary: summarise(servers),
  };
}

async function planServer(
  config: DepConfig,
  h: ServerHandle,
  store: PlannerStore,
  opts: PlanOptions,
  seenExplicit: Map<string, Set<string>>,
): Promise<ServerPlan> {
  const rules = compileServerRules(config, h.name);
  const drift = tokenDrift(h, opts.now());
  if (h.problem || !h.client) {
    const problem: ServerProblem = h.problem ?? { server: h.name, kind: 'terminal', reason: 'token-unavailable', message: 'no DEP client', retryAt: null };
    return errorPlan(h.name, problem, drift, rules.server.maxChanges ?? null);
  }
  // Before any fetch or write: the token must still open the MDM server the store knows (identity.ts).
  const checked = await checkServerIdentity(h.name, h.client, store, opts);
  if (!checked.ok) return errorPlan(h.name, checked.problem, drift, rules.server.maxChanges ?? null);
  const profiles = new Map<string, { profile: EnrollmentProfile; contentHash: string }>();
  for (const p of config.profiles) if (p.servers.includes(h.name)) profiles.set(p.name, { profile: p, contentHash: profileContentHash(p.profile as Record<string, unknown>) });
  // On first contact the devices are diffed as they are fetched (they have no history yet), unless an
  // interrupted define must be recovered first, which may change the profile records the diff uses.
  const knownBefore = await store.listProfiles(h.name);
  const streaming = knownBefore.every((k) => k.state === 'defined')
    ? new ServerDiffer({ rules, profiles, known: knownBefore, now: opts.now(), retryFailed: opts.retryFailed ?? false, pendingMax: PENDING_MAX })
    : undefined;
  // No profile record at all: a new (or lost) state store. The profile UUIDs the fetched devices carry are
  // counted on the way, to adopt those whose content is configured instead of defining it again.
  const carried = knownBefore.length === 0 ? new Map<string, number>() : null;
  // A server found converged under the same inputs: claim its key, so only what the sync writes (and the devices
  // not as desired last time) need diffing, and nobody else's writes in between go unnoticed.
  const guard = await ConvergedGuard.open(h.name, store, opts.refresh ? null : convergedKey(config, h.name, profiles, knownBefore));
  const claim = guard.claim;
  const written = new WrittenSerials(INCREMENTAL_MAX);
  let adoption: AdoptedOnFirstContact = { adopted: [], lookedUp: new Map() };
  let observed: ObserveResult;
  try {
    observed = await observe(h.name, h.client, store, {
      now: opts.now,
      refresh: opts.refresh ?? false,
      signal: opts.signal,
      pageLimits: checked.pageLimits,
      written,
      beforeDeviceWrite: () => guard.beforeWrite(),
      ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
      ...(streaming
        ? {
            onFirstContact: (devices: readonly Device[]) => {
              if (carried) countCarriedUuids(carried, devices);
              streaming.add(devices.map(firstContact));
            },
          }
        : {}),
    });
    opts.onObserved?.(h.name, observed);
    await recoverDefines(h.name, h.client, store, opts);
    if (carried && observed.mode === 'fetch') {
      adoption = await adoptCarriedProfiles({ server: h.name, profiles, ...(observed.streamed ? { carried } : {}) }, h.client, store, opts);
    }
  } catch (err) {
    await guard.abandon(written);
    return errorPlan(h.name, problemFromError(h.name, err, opts.now()), drift, rules.server.maxChanges ?? null);
  }
  const known = await store.listProfiles(h.name);
  const key = convergedKey(config, h.name, profiles, known);

  // The server was found converged under the same inputs (config, profile records) and a sync wrote a bounded
  // number of devices since: diff those and the devices not as desired last time, and no other.
  if (claim !== null && claim.stored.key === key && observed.mode === 'sync' && !written.overflowed) {
    const plan = await incrementalPlan(h, rules, { profiles, known, key, stored: claim.stored, guard, written: written.serials, retryFailed: opts.retryFailed ?? false, now: opts.now() }, store, seenExplicit);
    if (plan !== null) {
      await nameForeignProfiles(h.client, plan.drift, opts, adoption.lookedUp);
      plan.drift.unshift(...drift);
      return plan;
    }
  }

  let differ: ServerDiffer;
  // Adopted profiles change the records the streamed diff was made with: diff the stored devices again.
  if (observed.streamed && streaming && adoption.adopted.length === 0) {
    differ = streaming;
  } else {
    differ = new ServerDiffer({ rules, profiles, known, now: opts.now(), retryFailed: opts.retryFailed ?? false, pendingMax: PENDING_MAX });
    const pages = store.iterateDiffDevices
      ? store.iterateDiffDevices(h.name, { descriptionAndColor: rules.readsDescriptionOrColor })
      : store.iterateDevices(h.name);
    for await (const page of pages) differ.add(page);
  }
  seenExplicit.set(h.name, differ.seenExplicit);
  const plan = differ.finish();
  describeDefines(plan.defines, profiles, known);
  // Every device the diff did not list as pending (a change, conflict, deferral, drift…) is as desired under
  // `key`: stored with the pending serials, so the next pass diffs only those and what its sync writes. Too
  // many pending devices: nothing is stored, and the next pass diffs everything.
  // Stored only if no other process replaced the key since this pass last did (its writes may postdate this diff).
  const pending = differ.pending();
  await guard.store(pending !== null ? convergedValue(key, plan.devices, pending) : null);
  await nameForeignProfiles(h.client, plan.drift, opts, adoption.lookedUp);
  plan.drift.unshift(...drift);
  return plan;
}

/**
 * Serials of devices not as desired that the stored converged state keeps (the next pass diffs them again);
 * with more, nothing is stored and the next pass diffs every device.
 */
export const PENDING_MAX = 5000;

/** Devices a sync may write for the next plan to diff only those (and the pending ones); more, and it diffs all. */
export const INCREMENTAL_MAX = 20_000;

/** What the store's converged key says (see convergedValue). */
export interface ConvergedState {
  key: string;
  /** The server's device count when it was stored; null in a value written by an older depctl. */
  devices: number | null;
  /** Serials of the devices that were not as desired (every other device was). */
  pending: readonly string[];
}

/**
 * The stored converged state: the key of the inputs (config, profile records) under which the last diff found
 * every device as desired except `pending`, and the server's device count, so a no-op pass need not count a
 * million rows (the key is a hex digest, so the space cannot be part of it; PostgreSQL text holds no NUL). Any
 * device write replaces the value first (observe.ts, or the planner's claim). A value without a count (an older
 * depctl) still matches. Pending serials come first, as a JSON line: an older depctl reads such a value as a key
 * that matches nothing, and diffs every device, rather than skip the pending ones.
 */
export function convergedValue(key: string, devices: number, pending: readonly string[] = []): string {
  return `${pending.length > 0 ? `pending=${JSON.stringify(pending)}\n` : ''}${key} devices=${devices}`;
}

/** Reads convergedValue back; null when nothing (or nothing readable) is stored. */
export function parseConverged(value: string | null | undefined): ConvergedState | null {
  if (value === null || value === undefined) return null;
  let pending: string[] = [];
  if (value.startsWith('pending=')) {
    const end = value.indexOf('\n');
    let list: unknown;
    try {
      list = JSON.parse(value.slice('pending='.length, end < 0 ? undefined : end));
    } catch {
      return null;
    }
    if (end < 0 || !Array.isArray(list) || !list.every((s): s is string => typeof s === 'string')) return null;
    pending = list;
    value = value.slice(end + 1);
  }
  const at = value.lastIndexOf(' devices=');
  if (at < 0) return { key: value, devices: null, pending };
  const devices = Number(value.slice(at + ' devices='.length));
  return { key: value.slice(0, at), devices: Number.isSafeInteger(devices) && devices >= 0 ? devices : null, pending };
}

/** A converged key this pass claimed: the value it held and the marker that replaced it. */
interface Claim {
  value: string;
  stored: ConvergedState;
  marker: string;
}

/** A value for the converged key that matches no key (a key is a hex digest), unique to a pass. */
function passMarker(what: 'claimed' | 'written'): string {
  return `${what} by a pass ${randomBytes(12).toString('hex')}`;
}

/**
 * A pass's hold on a server's converged key. Every value the pass stores is a compare-and-set against the value it
 * last saw or put there (swapConvergedKey), and before its first device write it puts a marker of its own there:
 * another depctl process writing devices meanwhile (a CLI `plan` next to the controller) replaces the key too, and
 * then this pass stores nothing, since its diff may have missed those writes; the next pass diffs every device. A
 * crash leaves a marker, which matches no key: the same.
 */
class ConvergedGuard {
  /** The key when this pass holds a claim on it (the server was converged under the same inputs). */
  claim: Claim | null = null;
  private lost = false;

  private constructor(
    private readonly server: string,
    private readonly keys: PlannerStore,
    private expected: string | null,
  ) {}

  /**
   * Reads the key and, when it was stored under `key` (null: never; `any`: whatever key it was stored under),
   * claims it: replaces it with a marker, so any other process sees the server as not converged until this pass
   * puts a value back.
   */
  static async open(server: string, store: PlannerStore, key: string | null | 'any'): Promise<ConvergedGuard> {
    const value = (await store.getServer(server))?.convergedKey ?? null;
    const guard = new ConvergedGuard(server, store, value);
    const stored = parseConverged(value);
    if (key === null || value === null || stored === null || (key !== 'any' && stored.key !== key)) return guard;
    const marker = passMarker('claimed');
    if (await store.swapConvergedKey(server, value, marker)) {
      guard.expected = marker;
      guard.claim = { value, stored, marker };
    } else guard.lost = true;
    return guard;
  }

  /** Before observe's first device write: a claim's marker already stands; otherwise this pass's goes there. */
  async beforeWrite(): Promise<void> {
    if (this.claim !== null) return;
    const marker = passMarker('written');
    if (!this.lost && (await this.keys.swapConvergedKey(this.server, this.expected, marker))) {
      this.expected = marker;
      return;
    }
    // Someone else replaced the key meanwhile: this pass will store nothing, but its writes must still show.
    this.lost = true;
    await this.keys.setConvergedKey(this.server, marker);
  }

  /** After a failed observation: the claimed value goes back when nothing was written; otherwise the marker stays. */
  async abandon(written: WrittenSerials): Promise<void> {
    if (this.claim !== null && !written.any) await this.store(this.claim.value).catch(() => undefined);
  }

  /** Stores `value` when the key is still what this pass last saw or put there; says whether it did. */
  async store(value: string | null): Promise<boolean> {
    if (this.lost) return false;
    if (await this.keys.swapConvergedKey(this.server, this.expected, value)) {
      this.expected = value;
      return true;
    }
    this.lost = true;
    return false;
  }
}

/**
 * The plan of a server found converged under the same inputs, from the devices a sync wrote since and those not
 * as desired then: every other device is as desired, as the last diff found it (nothing it depends on changed).
 * Null when the claim was lost (another process wrote in between) or too many devices are pending now: the
 * caller then diffs every device.
 */
async function incrementalPlan(
  h: ServerHandle,
  rules: ServerRules,
  input: {
    profiles: ReadonlyMap<string, { profile: EnrollmentProfile; contentHash: string }>;
    known: readonly ProfileRecord[];
    key: string;
    /** The claimed converged state. */
    stored: ConvergedState;
    guard: ConvergedGuard;
    written: ReadonlySet<string>;
    retryFailed: boolean;
    now: Date;
  },
  store: PlannerStore,
  seenExplicit: Map<string, Set<string>>,
): Promise<ServerPlan | null> {
  const { stored, written } = input;
  const serials = withWritten(stored, written);
  const differ = new ServerDiffer({ rules, profiles: input.profiles, known: input.known, now: input.now, retryFailed: input.retryFailed, pendingMax: PENDING_MAX });
  if (serials.length > 0) differ.add(store.getDevices ? await store.getDevices(h.name, serials) : await getEach(store, h.name, serials));
  const pending = differ.pending();
  if (pending === null) return null;
  const devices = await deviceCount(store, h.name, stored, written.size > 0);
  if (!(await input.guard.store(convergedValue(input.key, devices, pending)))) return null;
  const part = differ.finish();
  describeDefines(part.defines, input.profiles, input.known);
  seenExplicit.set(h.name, await explicitSerialsPresent(rules.explicit.keys(), h.name, store));
  // The other devices are as desired: counted unchanged, and the migration deadlines come from the store's count.
  const deadlines = migrationDeadlinesOf(await store.countMigrationDeadlines(h.name));
  const planned = part.migrationDeadlines?.planned ?? 0;
  return {
    ...part,
    devices,
    unchanged: part.unchanged + (devices - part.devices),
    migrationDeadlines: deadlines === null ? null : { ...deadlines, planned },
  };
}

/**
 * A sync outside a plan (the controller's settling sync after an apply): the devices it writes join the stored
 * pending serials, so the next pass diffs them (and the others pending) instead of every device. With more than
 * PENDING_MAX pending, or after a failure past the first write, the key is left stale and the next pass diffs
 * everything, as after any write observe makes on its own.
 */
export async function observeSettling(server: string, client: ReconcileDepClient, store: PlannerStore, opts: ObserveOptions): Promise<ObserveResult> {
  const guard = await ConvergedGuard.open(server, store, 'any');
  const claim = guard.claim;
  const written = new WrittenSerials(PENDING_MAX);
  let observed: ObserveResult;
  try {
    observed = await observe(server, client, store, { ...opts, written, beforeDeviceWrite: () => guard.beforeWrite() });
  } catch (err) {
    await guard.abandon(written);
    throw err;
  }
  if (claim === null || observed.mode !== 'sync' || written.overflowed) return observed;
  const pending = withWritten(claim.stored, written.serials).sort();
  if (pending.length > PENDING_MAX) return observed;
  const devices = await deviceCount(store, server, claim.stored, written.any);
  await guard.store(convergedValue(claim.stored.key, devices, pending));
  return observed;
}

/** The stored pending serials and those written since, each once. */
function withWritten(stored: ConvergedState, written: ReadonlySet<string>): string[] {
  return [...new Set([...stored.pending, ...written])];
}

/** The server's device count: the one stored with the key is exact while nothing was written (any write replaces the key first). */
async function deviceCount(store: PlannerStore, server: string, stored: ConvergedState, wrote: boolean): Promise<number> {
  return !wrote && stored.devices !== null ? stored.devices : store.countDevices(server);
}

/** `getDevice` for each serial (a store without getDevices). */
async function getEach(store: PlannerStore, server: string, serials: readonly string[]): Promise<ObservedDevice[]> {
  const found: ObservedDevice[] = [];
  for (const s of serials) {
    const d = await store.getDevice(server, s);
    if (d) found.push(d);
  }
  return found;
}

/**
 * Says what each define brings: a first define (`new`) its whole content, a changed one (`changed`) each key
 * that differs from the stored content of the UUID it replaces (the newest of its earlier UUIDs), so a
 * reviewer sees `is_mdm_removable: false → true` rather than only a new hash. Records kept without a body
 * (none should be) leave `changes` out rather than claim every key changed.
 */
export function describeDefines(
  defines: ProfileDefine[],
  profiles: ReadonlyMap<string, { profile: EnrollmentProfile }>,
  known: readonly Pick<ProfileRecord, 'name' | 'uuid' | 'state' | 'body' | 'createdAt' | 'definedAt'>[],
): void {
  for (const d of defines) {
    const desired = profiles.get(d.profile)?.profile.profile as Record<string, unknown> | undefined;
    if (!desired) continue;
    if (d.reason === 'new') {
      d.content = profileContent(desired);
      continue;
    }
    if (d.reason !== 'changed') continue;
    const time = (k: (typeof known)[number]): number => (k.definedAt ?? k.createdAt).getTime();
    const replaced = known
      .filter((k) => k.name === d.profile && k.state === 'defined' && k.uuid !== null && d.previousUuids.includes(k.uuid))
      .sort((x, y) => time(y) - time(x))[0];
    if (!replaced?.uuid || typeof replaced.body !== 'object' || replaced.body === null) continue;
    d.changesFrom = replaced.uuid;
    d.changes = profileChanges(replaced.body as unknown as Record<string, unknown>, desired);
  }
}

/** The store's count of devices with an MDM migration deadline, as a converged plan shows it (nothing planned). */
function migrationDeadlinesOf(count: MigrationDeadlineCount): MigrationDeadlines | null {
  if (count.devices === 0 || count.earliest === null) return null;
  return { devices: count.devices, earliest: count.earliest.toISOString().replace(/\.000Z$/, 'Z'), planned: 0 };
}

/** A device seen for the first time: depctl has decided and done nothing for it yet. */
function firstContact(device: Device): ObservedDevice {
  return { serial: device.serial_number, device, desiredProfile: null, lastResult: null, retryNotBefore: null };
}

/** Which of a server's explicitly listed serials it has (for serials-not-seen without reading every device). */
async function explicitSerialsPresent(serials: Iterable<string>, server: string, store: PlanStore): Promise<Set<string>> {
  if (store.presentSerials) return store.presentSerials(server, [...serials]);
  const present = new Set<string>();
  for (const serial of serials) if (await store.getDevice(server, serial)) present.add(serial);
  return present;
}

/** Identity of everything a server's diff depends on besides the devices: its config and its profile records. */
export function convergedKey(config: DepConfig, server: string, profiles: ReadonlyMap<string, { contentHash: string }>, known: readonly KnownProfile[]): string {
  const s = config.servers.find((x) => x.name === server);
  return sha256({
    server: s ? { ...s, source: null } : null,
    profiles: [...profiles].map(([name, p]) => [name, p.contentHash]).sort(),
    assignments: config.assignments.filter((a) => a.servers.includes(server)).map(({ source: _s, ...rest }) => rest),
    known: known.map((k) => [k.name, k.contentHash, k.state, k.uuid]).sort(),
  });
}

/** The message for an error that stops a server: Apple's own guidance for terminal auth errors. */
export function describeServerError(err: unknown): string {
  return problemFromError('', err, new Date()).message;
}

/** A server plan with no changes: stopped by `problem`, or (null) converged without reading its devices. */
function errorPlan(server: string, problem: ServerProblem | null, drift: DriftItem[], maxChanges: number | null): ServerPlan {
  return { server, defines: [], assign: [], remove: [], drift, deferred: [], conflicts: [], devices: 0, unchanged: 0, changeCount: 0, maxChanges, exceedsMaxChanges: false, error: problem?.message ?? null, problem };
}

/** Token expiry findings: within 30 days, or expired. */
function tokenDrift(h: ServerHandle, now: Date): DriftItem[] {
  if (!h.tokenExpiresAt) return [];
  const days = Math.floor((h.tokenExpiresAt.getTime() - now.getTime()) / 86_400_000);
  if (days > TOKEN_WARNING_DAYS[0]) return [];
  const when = h.tokenExpiresAt.toISOString().slice(0, 10);
  const message =
    days < 0
      ? `the server token expired on ${when}; download a new token for this MDM server in Apple Business Manager`
      : `the server token expires in ${days} day(s), on ${when}; download a new token for this MDM server in Apple Business Manager and replace it in the secrets directory`;
  return [{ kind: 'token-expiry', message, serials: [], corrected: false }];
}

/** Serials listed in the config that none of their assignment's servers has. */
function addSerialsNotSeen(config: DepConfig, servers: ServerPlan[], seen: Map<string, Set<string>>, errored: Set<string>): void {
  for (const a of config.assignments) {
    if (a.serials.length === 0 || a.servers.some((s) => errored.has(s) || !seen.has(s))) continue;
    const missing = a.serials.filter((serial) => !a.servers.some((s) => seen.get(s)?.has(serial)));
    if (missing.length === 0) continue;
    const target = servers.find((p) => p.server === a.servers[0]);
    target?.drift.push({
      kind: 'serials-not-seen',
      message: `${missing.length} serial(s) of assignment "${a.name}" are not on server(s) ${a.servers.join(', ')} (not yet assigned to this MDM server in Apple Business Manager, or a typo)`,
      serials: missing.sort(),
      corrected: false,
    });
  }
}

/** Foreign profiles whose names one server's pass looks up at most (one `GET /profile` each). */
export const MAX_PROFILE_NAME_LOOKUPS = 20;
/** Look-ups in flight at once. */
const NAME_LOOKUP_CONCURRENCY = 4;
/** Longest foreign profile name kept; Apple's is free text from another MDM. */
const MAX_PROFILE_NAME = 200;

/**
 * Names the foreign profiles that device drift says devices carry, with Apple's `profile_name` from
 * `GET /profile?profile_uuid=`, and says the findings again with those names. Each distinct UUID is looked up
 * once, those on the most devices first, at most MAX_PROFILE_NAME_LOOKUPS per server and pass; the rest keep
 * `name: null`. Best effort: a failed look-up (Apple's 400 NOT_FOUND or 404, network) or a cancelled pass
 * leaves the name null and never fails the plan. Runs after the diff, which stays pure.
 */
async function nameForeignProfiles(client: ReconcileDepClient, drift: DriftItem[], opts: CallOptions, lookedUp: ReadonlyMap<string, LookedUpProfile>): Promise<void> {
  const devices = new Map<string, number>();
  for (const d of drift) {
    if (!d.current || d.current.uuid === null || d.current.profile !== null) continue;
    devices.set(d.current.uuid, (devices.get(d.current.uuid) ?? 0) + d.serials.length);
  }
  const names = new Map<string, string>();
  // UUIDs this pass already read back (first-contact adoption) are not asked again.
  for (const uuid of devices.keys()) {
    const found = lookedUp.get(uuid);
    const name = found ? profileName(found.name) : null;
    if (name !== null) names.set(uuid, name);
  }
  const uuids = [...devices]
    .filter(([uuid]) => !lookedUp.has(uuid))
    .sort(([a, n], [b, m]) => m - n || a.localeCompare(b))
    .slice(0, MAX_PROFILE_NAME_LOOKUPS)
    .map(([uuid]) => uuid);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < uuids.length && !opts.signal?.aborted) {
      const uuid = uuids[next++] as string;
      try {
        const name = profileName((await client.getProfile(uuid, { signal: opts.signal })).profile_name);
        if (name !== null) names.set(uuid, name);
      } catch {
        // Unknown to Apple, or Apple did not answer: the finding keeps the bare UUID.
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(NAME_LOOKUP_CONCURRENCY, uuids.length) }, worker));
  for (const d of drift) {
    const name = d.current?.uuid ? names.get(d.current.uuid) : undefined;
    if (!d.current || name === undefined || d.desired === undefined || d.since === undefined) continue;
    d.current = { ...d.current, name };
    d.message = deviceDriftMessage({ kind: d.kind, serials: d.serials, corrected: d.corrected, current: d.current, desired: d.desired, since: d.since });
  }
}

/** A profile name fit for one line of a plan or a chat message: no control characters, bounded; null when empty. */
function profileName(raw: unknown): string | null {
  if (typeof raw !== 'string') return null;
  // eslint-disable-next-line no-control-regex -- removing control characters is the point
  const clean = raw.replace(/[\u0000-\u001f\u007f-\u009f]+/g, ' ').trim();
  if (clean === '') return null;
  return clean.length > MAX_PROFILE_NAME ? `${clean.slice(0, MAX_PROFILE_NAME - 1)}…` : clean;
}

function sha256(value: unknown): string {
  return createHash('sha256').update(JSON.stringify(value)).digest('hex');
}

/** Hash of the configuration's content (locations left out). */
export function configHash(config: DepConfig): string {
  return sha256({
    servers: config.servers.map(({ source: _s, ...rest }) => rest),
    profiles: config.profiles.map(({ source: _s, ...rest }) => rest),
    assignments: config.assignments.map(({ source: _s, ...rest }) => rest),
  });
}

/** Hash of what a plan would write: defines, assignments and removals per server. */
export function hashChanges(servers: readonly ServerPlan[]): string {
  return sha256(
    servers.map((s) => ({
      server: s.server,
      defines: s.defines.map((d) => [d.profile, d.contentHash]),
      assign: s.assign.map((g) => [g.profile, g.profileUuid, g.fromUuid, g.serials]),
      remove: s.remove.map((g) => [g.fromUuid, g.serials]),
      error: s.error,
    })),
  );
}
