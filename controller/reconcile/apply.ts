import type { DepConfig, ProfileBody } from '../config/types.js';
import type { Profile } from '../dep/types.js';
import { isProfileNotFound } from '../dep/errors.js';
import { MAX_SERIALS_PER_REQUEST } from '../dep/types.js';
import { problemFromError, type ServerProblem } from './outcome.js';
import { profileContentHash } from './profile-content.js';
import type { Plan, ServerPlan } from './plan.js';
import type { ApplyStore, AuditEntry, CallOptions, DeviceResultUpdate, JsonValue, ReconcileDepClient, RunResult, RunTrigger } from './ports.js';
import { failedRetryDelayMs, IN_APPLY_RETRY_PAUSE_MS, resultOf, throttledUntil } from './retry-policy.js';
import { sleep } from '../util/sleep.js';
import type { OutboxEntry } from '../notify/ports.js';

/** Options of applyPlan. */
export interface ApplyOptions extends CallOptions {
  now: () => Date;
  /** Let servers whose plan exceeds maxChanges proceed. */
  allowLarge?: boolean;
  /** Assign calls in flight per server. */
  concurrency?: number;
  trigger?: RunTrigger;
  /** Waits before the in-apply retry of FAILED serials (injectable so tests need no real waiting). */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Called after each answered request of the first round (for progress bars and logs); must not throw. */
  onProgress?: (progress: ApplyProgress) => void;
  /**
   * Notifications caused by this apply's result, stored in the outbox in the same transaction as the run's
   * end (issue 18): a crash either keeps both or neither. Must not throw.
   */
  notificationsAtFinish?: (result: ApplyResult) => readonly OutboxEntry[];
  /**
   * The run's stored result and extra summary fields when the pass judges more than this apply (device
   * ownership, issue 15: activities that failed make the run partial although every DEP write succeeded).
   * Without it the run is stored with the apply's own result. Must not throw.
   */
  runAtFinish?: (result: ApplyResult) => { result: RunResult; summary?: Record<string, JsonValue> };
  /**
   * Called right before each write to Apple (define, assign, remove); throws to stop the apply. `depctl run`
   * checks here that this replica still holds leadership, so a replica whose state store session was cut
   * (its lock is then free for another replica) sends nothing more to Apple.
   */
  beforeWrite?: () => Promise<void>;
}

/** How far one server's apply has come. */
export interface ApplyProgress {
  server: string;
  /** Serials Apple has answered for (first round; the retry of FAILED serials is not counted again). */
  devices: number;
  /** Serials the plan assigns or removes on this server. */
  total: number;
  /** Requests answered so far. */
  requests: number;
}

/** Per-serial outcome counts of one server. */
export interface ServerApplyResult {
  server: string;
  defined: { profile: string; uuid: string }[];
  succeeded: number;
  failed: number;
  throttled: number;
  notAccessible: number;
  removed: number;
  /** The message of the problem that stopped the server; its remaining changes were not made. */
  error: string | null;
  /** Why the server stopped, typed (guardrail, or Apple's or the network's terminal/transient problem). */
  problem: ServerProblem | null;
  /** The earliest retry time given to a throttled or failed serial in this run (ISO 8601), if any. */
  earliestRetryAt: string | null;
}

/** What an apply did. */
export interface ApplyResult {
  runId: number;
  /** `success`: everything converged; `partial`: some serials failed or wait; `failed`: a server stopped; `noop`. */
  result: RunResult;
  servers: ServerApplyResult[];
}

/**
 * Carries out a plan: defines new profile contents (recording the intent first, and sending the first
 * devices with the define so a crash can be recovered — see recover.ts), assigns in batches of at most 1000
 * with bounded concurrency, removes, and records every per-serial outcome, retry time and audit entry.
 */
export async function applyPlan(
  plan: Plan,
  config: DepConfig,
  clients: ReadonlyMap<string, ReconcileDepClient>,
  store: ApplyStore,
  opts: ApplyOptions,
): Promise<ApplyResult> {
  const run = await store.startRun({ startedAt: opts.now(), commit: plan.commit, planHash: plan.planHash, trigger: opts.trigger ?? 'cli' });
  const results: ServerApplyResult[] = [];
  let wrote = false;
  for (const sp of plan.servers) {
    const r: ServerApplyResult = { server: sp.server, defined: [], succeeded: 0, failed: 0, throttled: 0, notAccessible: 0, removed: 0, error: null, problem: null, earliestRetryAt: null };
    results.push(r);
    const stop = (problem: ServerProblem): void => {
      r.problem = problem;
      r.error = problem.message;
    };
    const client = clients.get(sp.server);
    if (sp.problem || sp.error || !client) {
      stop(sp.problem ?? { server: sp.server, kind: 'terminal', reason: 'token-unavailable', message: sp.error ?? 'no DEP client', retryAt: null });
      continue;
    }
    if (sp.exceedsMaxChanges && !opts.allowLarge) {
      const message = `${sp.changeCount} changes exceed maxChanges (${sp.maxChanges}) on this server; review the plan and run apply with --allow-large`;
      stop({ server: sp.server, kind: 'guardrail', reason: 'max-changes', message, retryAt: null });
      continue;
    }
    if (sp.changeCount === 0) continue;
    wrote = true;
    try {
      await new ServerApplier(sp, config, client, store, run.id, opts, r).run();
    } catch (err) {
      stop(problemFromError(sp.server, err, opts.now()));
    }
  }
  const anyError = results.some((r) => r.error !== null);
  const anyPartial = results.some((r) => r.failed + r.throttled + r.notAccessible > 0);
  const result: ApplyResult['result'] = anyError ? 'failed' : anyPartial ? 'partial' : wrote ? 'success' : 'noop';
  const applied: ApplyResult = { runId: run.id, result, servers: results };
  const judged = opts.runAtFinish?.(applied);
  await store.finishRun(
    run.id,
    {
      finishedAt: opts.now(),
      result: judged?.result ?? result,
      summary: { servers: results.map((r) => ({ ...r, defined: r.defined.map((d) => ({ ...d })), problem: r.problem ? { ...r.problem } : null })), ...(judged?.summary ?? {}) },
    },
    opts.notificationsAtFinish?.(applied) ?? [],
  );
  return applied;
}

/** Applies one server's part of the plan. */
class ServerApplier {
  private readonly uuids = new Map<string, string>();
  /** Old UUID → the UUID of the same content defined again after Apple answered 404 for the old one. */
  private readonly replaced = new Map<string, Promise<string>>();
  private fromIndex: Map<string, string | null> | undefined;
  /** Serials that failed in the first round, for the one retry within this apply. */
  private readonly failedOnce: { action: 'assign' | 'remove'; uuid: string | null; profile: string | null; serial: string }[] = [];
  private readonly progress: ApplyProgress;

  constructor(
    private readonly sp: ServerPlan,
    private readonly config: DepConfig,
    private readonly client: ReconcileDepClient,
    private readonly store: ApplyStore,
    private readonly runId: number,
    private readonly opts: ApplyOptions,
    private readonly result: ServerApplyResult,
  ) {
    const total = sp.assign.reduce((n, g) => n + g.serials.length, 0) + sp.remove.reduce((n, g) => n + g.serials.length, 0);
    this.progress = { server: sp.server, devices: 0, total, requests: 0 };
  }

  async run(): Promise<void> {
    // Serials sent along with a define (the first batch of its devices) are not assigned again.
    const sentWithDefine = new Set<string>();
    for (const d of this.sp.defines) {
      const firstBatch = this.sp.assign.filter((g) => g.profile === d.profile && g.profileUuid === null).flatMap((g) => g.serials).slice(0, MAX_SERIALS_PER_REQUEST);
      // When the content turned out to be defined already (another run), nothing rode along: assign them all.
      if (await this.define(d.profile, d.contentHash, firstBatch)) for (const s of firstBatch) sentWithDefine.add(s);
    }
    // Serials are packed per target UUID across plan groups (several assignments, reasons or current
    // profiles), so the number of assign calls is ⌈serials per target / 1000⌉: the lower bound.
    const targets = new Map<string, { uuid: string; profile: string; serials: string[] }>();
    for (const g of this.sp.assign) {
      const uuid = g.profileUuid ?? this.uuids.get(g.profile);
      if (!uuid) throw new Error(`profile "${g.profile}" has no UUID after its define`);
      let t = targets.get(uuid);
      if (!t) targets.set(uuid, (t = { uuid, profile: g.profile, serials: [] }));
      for (const s of g.serials) if (!sentWithDefine.has(s)) t.serials.push(s);
    }
    const batches = inSerialOrder([...targets.values()].flatMap((t) => chunk(sortedSerials(t.serials)).map((serials) => ({ uuid: t.uuid, profile: t.profile, serials }))));
    await pool(batches, this.opts.concurrency ?? 4, (b) => this.assignBatch(b.uuid, b.profile, b.serials, 'first'));
    for (const serials of chunk(this.sp.remove.flatMap((g) => g.serials))) await this.removeBatch(serials, 'first');
    await this.retryFailed();
  }

  /** Assigns one batch (at most 1000 serials) to a UUID, defining the content again if Apple forgot the UUID. */
  private async assignBatch(uuid: string, profile: string, serials: string[], round: Round): Promise<void> {
    const replacement = this.replaced.get(uuid);
    const target = replacement ? await replacement : uuid;
    try {
      await this.intent('assign', serials, (s) => this.fromUuidOf(s), target);
      await this.opts.beforeWrite?.();
      const res = await this.client.assignProfile(target, serials, { signal: this.opts.signal });
      await this.record('assign', profile, (s) => this.fromUuidOf(s), target, res.devices, res.retry_after_seconds, serials, round);
    } catch (err) {
      if (replacement || !isProfileNotFound(err)) throw err;
      await this.redefine(profile, uuid, serials, round);
    }
  }

  private async removeBatch(serials: string[], round: Round): Promise<void> {
    await this.intent('remove', serials, (s) => this.fromUuidOf(s), null);
    await this.opts.beforeWrite?.();
    const res = await this.client.removeProfile(serials, { signal: this.opts.signal });
    await this.record('remove', null, (s) => this.fromUuidOf(s), null, res.devices, undefined, serials, round);
  }

  /**
   * The one retry of FAILED serials within this apply (retry-policy.ts): after a short pause, through the
   * assign (or remove) endpoint, so serials that rode with a define and were throttled there get Apple's
   * real answer. What fails again gets the per-serial schedule.
   */
  private async retryFailed(): Promise<void> {
    if (this.failedOnce.length === 0) return;
    await (this.opts.sleep ?? sleep)(IN_APPLY_RETRY_PAUSE_MS, this.opts.signal);
    const groups = new Map<string, { action: 'assign' | 'remove'; uuid: string | null; profile: string | null; serials: string[] }>();
    for (const f of this.failedOnce.splice(0)) {
      const key = `${f.action}\u0000${f.uuid ?? ''}`;
      let g = groups.get(key);
      if (!g) groups.set(key, (g = { action: f.action, uuid: f.uuid, profile: f.profile, serials: [] }));
      g.serials.push(f.serial);
    }
    for (const g of groups.values()) {
      for (const serials of chunk(g.serials)) {
        if (g.action === 'remove' || g.uuid === null || g.profile === null) await this.removeBatch(serials, 'retry');
        else await this.assignBatch(g.uuid, g.profile, serials, 'retry');
      }
    }
  }

  /**
   * Apple answered 404 for a UUID depctl recorded (Apple forgot the profile, or the token now belongs to
   * another server): forget the record and define the same content again, once, sending this batch with it.
   */
  private redefine(profile: string, goneUuid: string, serials: string[], round: Round): Promise<string> {
    let pending = this.replaced.get(goneUuid);
    if (!pending) {
      pending = (async () => {
        await this.store.forgetProfile(this.sp.server, goneUuid);
        await this.store.appendAudit([{ runId: this.runId, server: this.sp.server, serial: null, action: 'forget-profile', before: goneUuid, after: null, outcome: 'success', appleStatus: 'PROFILE_NOT_FOUND', at: this.opts.now() }]);
        const entry = this.config.profiles.find((p) => p.name === profile);
        if (!entry) throw new Error(`profile "${profile}" is not in the configuration`);
        this.uuids.delete(profile);
        await this.define(profile, profileContentHash(entry.profile as Record<string, unknown>), serials, round);
        const uuid = this.uuids.get(profile);
        if (!uuid) throw new Error(`profile "${profile}" has no UUID after its define`);
        return uuid;
      })();
      this.replaced.set(goneUuid, pending);
      return pending;
    }
    // Another batch already redefined it: assign this batch to the new UUID.
    return pending.then(async (uuid) => {
      await this.intent('assign', serials, (s) => this.fromUuidOf(s), uuid);
      await this.opts.beforeWrite?.();
      const res = await this.client.assignProfile(uuid, serials, { signal: this.opts.signal });
      await this.record('assign', profile, (s) => this.fromUuidOf(s), uuid, res.devices, res.retry_after_seconds, serials, round);
      return uuid;
    });
  }

  /** The profile UUID a serial carried when the plan was made (for the audit's `before`). */
  private fromUuidOf(serial: string): string | null {
    if (!this.fromIndex) {
      // Only serials that carried a profile are indexed (none on a first contact): absent reads as null.
      this.fromIndex = new Map();
      for (const g of this.sp.assign) if (g.fromUuid !== null) for (const s of g.serials) this.fromIndex.set(s, g.fromUuid);
      for (const g of this.sp.remove) if (g.fromUuid !== null) for (const s of g.serials) this.fromIndex.set(s, g.fromUuid);
    }
    return this.fromIndex.get(serial) ?? null;
  }

  /**
   * Defines one profile content, crash-safely: intent first, UUID after. Returns true when `devices` were sent
   * with the define (false when the content was already defined and nothing was sent).
   */
  private async define(name: string, contentHash: string, devices: string[], round: Round = 'first'): Promise<boolean> {
    const entry = this.config.profiles.find((p) => p.name === name);
    if (!entry) throw new Error(`profile "${name}" is not in the configuration`);
    const body = toAppleProfile(entry.profile);
    const key = { server: this.sp.server, name, contentHash };
    const { profile: rec } = await this.store.beginDefine({ ...key, body, at: this.opts.now() });
    if (rec.state === 'defined' && rec.uuid) {
      this.uuids.set(name, rec.uuid);
      return false;
    }
    let res;
    await this.intent('assign', devices, (s) => this.fromUuidOf(s), `(new ${name})`);
    try {
      await this.opts.beforeWrite?.();
      res = await this.client.defineProfile({ ...body, devices }, { signal: this.opts.signal });
    } catch (err) {
      // Apple refused the define (e.g. a 400): no profile exists, so the intent is dropped.
      if (isClientError(err)) await this.store.abandonDefine(key);
      throw err;
    }
    // The UUID and its audit row are stored together (a crash between them would leave an unaudited define).
    const at = this.opts.now();
    const audit: AuditEntry = { runId: this.runId, server: this.sp.server, serial: null, action: 'define', before: null, after: res.profile_uuid, outcome: 'success', appleStatus: null, at };
    try {
      await this.store.completeDefine(key, res.profile_uuid, at, audit);
    } catch (err) {
      // The row was recorded with another UUID, or dropped, meanwhile: by a replica that lost leadership while
      // its define of the same content was in flight. Apple defined this UUID all the same, so its audit row is
      // kept on its own before the error ends this server's pass (the next pass plans from what is recorded).
      if (storeErrorCode(err) === 'store-conflict' || storeErrorCode(err) === 'store-not-found') await this.store.appendAudit([audit]);
      throw err;
    }
    this.uuids.set(name, res.profile_uuid);
    this.result.defined.push({ profile: name, uuid: res.profile_uuid });
    if (devices.length > 0) await this.record('assign', name, (s) => this.fromUuidOf(s), res.profile_uuid, res.devices ?? {}, undefined, devices, round);
    return true;
  }

  /** Audits a write before it is sent (`pending`), so a crash between the call and its answer loses no entry. */
  private async intent(action: 'assign' | 'remove', serials: readonly string[], before: (serial: string) => string | null, after: string | null): Promise<void> {
    if (serials.length === 0) return;
    const at = this.opts.now();
    await this.store.appendAudit(serials.map((serial) => ({ runId: this.runId, server: this.sp.server, serial, action, before: before(serial), after, outcome: 'pending' as const, appleStatus: null, at })));
  }

  /**
   * Records Apple's per-serial statuses: results, retry times, attempts, desired profiles and the audit log.
   * In the first round a FAILED serial (or one Apple left out of its answer) is only audited and queued for
   * the in-apply retry; in the retry round it gets the per-serial schedule (retry-policy.ts).
   */
  private async record(
    action: 'assign' | 'remove',
    profile: string | null,
    before: (serial: string) => string | null,
    after: string | null,
    statuses: Record<string, string>,
    retryAfterSeconds: number | undefined,
    sent: readonly string[],
    round: Round,
  ): Promise<void> {
    const now = this.opts.now();
    const results: DeviceResultUpdate[] = [];
    const audit: AuditEntry[] = [];
    // Apple's answer as a Map: only its own keys count (a serial named `constructor` is not Object's), and looking
    // a serial up in a Map leaves it as it is, where a property lookup on the answer internalises it (V8 turns
    // the plan's string into a reference to the answer's key, so every serial sent kept a second copy alive until
    // the plan was dropped: 776,000 copies, about 20 MiB of live heap, 70 s into a million-device apply).
    const answered = new Map(Object.entries(statuses));
    // Every serial sent is recorded: one Apple leaves out of its answer is an error to retry, not a success.
    for (const serial of sent) {
      const apple = answered.get(serial) ?? null;
      const { status, failure } = resultOf(apple);
      audit.push({ runId: this.runId, server: this.sp.server, serial, action, before: before(serial), after, outcome: status, appleStatus: apple, at: now });
      if (failure && round === 'first') {
        this.failedOnce.push({ action, uuid: after, profile, serial });
        continue;
      }
      let retryNotBefore: Date | null = null;
      let attempts: number | undefined;
      if (status === 'success') {
        if (action === 'remove') this.result.removed++;
        else this.result.succeeded++;
        attempts = 0;
      } else if (status === 'throttled') {
        this.result.throttled++;
        retryNotBefore = throttledUntil(now, retryAfterSeconds);
      } else if (status === 'not-accessible') {
        this.result.notAccessible++;
      } else {
        this.result.failed++;
        attempts = ((await this.store.getDevice(this.sp.server, serial))?.attempts ?? 0) + 1;
        retryNotBefore = new Date(now.getTime() + failedRetryDelayMs(attempts));
      }
      if (retryNotBefore && (this.result.earliestRetryAt === null || retryNotBefore.toISOString() < this.result.earliestRetryAt)) {
        this.result.earliestRetryAt = retryNotBefore.toISOString();
      }
      const update: DeviceResultUpdate = { serial, result: { status, at: now, appleStatus: apple }, retryNotBefore, ...(attempts !== undefined ? { attempts } : {}) };
      // What depctl last put on each device goes in the same write: the profile for an assign; nothing after a
      // successful remove (so the cleared device is not taken for drift when the config wants a profile again).
      if (action === 'assign') update.desiredProfile = profile;
      else if (status === 'success') update.desiredProfile = null;
      results.push(update);
    }
    // Results and their audit rows in one transaction: a crash keeps both or neither.
    if (results.length > 0) await this.store.recordResults(this.sp.server, results, audit);
    else await this.store.appendAudit(audit);
    if (round === 'first' && this.opts.onProgress) {
      this.progress.devices += sent.length;
      this.progress.requests++;
      this.opts.onProgress({ ...this.progress });
    }
  }
}

/** Which try of a serial within one apply: the first, or the one retry of FAILED serials. */
type Round = 'first' | 'retry';

/** The serials in byte order (the store's order), sorted only when they are not already. */
function sortedSerials(serials: string[]): string[] {
  for (let i = 1; i < serials.length; i++) if (serials[i - 1]! > serials[i]!) return serials.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return serials;
}

/**
 * Batches ordered by their first serial, across target profiles: the calls sweep the serial space once instead of
 * once per profile. The store keeps devices' state and the audit's serial index in serial order, so results then
 * land next to each other instead of splitting pages across the whole table once per profile, and Apple's sync
 * lists the assignments in the order they were made, so the echo rewrites each page of device state once too
 * (`.scratch/echo-var.mjs`: a million echo events in serial order 7.7 s of SQLite CPU, in three runs by profile
 * 9.1 s). The number of calls is unchanged: each profile's serials are still packed a thousand to a call.
 */
function inSerialOrder<T extends { serials: readonly string[] }>(batches: T[]): T[] {
  return batches.sort((a, b) => {
    const x = a.serials[0] ?? '';
    const y = b.serials[0] ?? '';
    return x < y ? -1 : x > y ? 1 : 0;
  });
}

/** Splits serials into requests of at most 1000 (Apple's limit per assign or remove). */
function chunk(serials: readonly string[]): string[][] {
  const out: string[][] = [];
  for (let i = 0; i < serials.length; i += MAX_SERIALS_PER_REQUEST) out.push(serials.slice(i, i + MAX_SERIALS_PER_REQUEST));
  return out;
}

/** The profile as sent to Apple: config keys verbatim, never an empty optional string. */
export function toAppleProfile(body: ProfileBody): Profile {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(body)) if (v !== undefined && v !== '') out[k] = v;
  return out as unknown as Profile;
}

function isClientError(err: unknown): boolean {
  const status = (err as { status?: unknown }).status;
  return typeof status === 'number' && status >= 400 && status < 500 && !isProfileNotFound(err);
}

/** Runs `work` over items with at most `limit` in flight; the first error stops new work and is thrown. */
async function pool<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: unknown;
  const worker = async (): Promise<void> => {
    while (failure === undefined && next < items.length) {
      const item = items[next++] as T;
      try {
        await work(item);
      } catch (err) {
        failure ??= err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failure !== undefined) throw failure;
}

/** The `code` of a store error (store/errors.ts: told apart by code, not class), or undefined. */
function storeErrorCode(err: unknown): string | undefined {
  const code = err instanceof Error ? (err as Error & { code?: unknown }).code : undefined;
  return typeof code === 'string' ? code : undefined;
}
