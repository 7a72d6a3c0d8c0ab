import type { DepConfig, ProfileBody } from '../config/types.js';
import type { Profile } from '../dep/types.js';
import { isProfileNotFound } from '../dep/errors.js';
import { MAX_SERIALS_PER_REQUEST } from '../dep/types.js';
import { problemFromError, type ServerProblem } from './outcome.js';
import { profileContentHash } from './profile-content.js';
import type { Plan, ServerPlan } from './plan.js';
import type { ApplyStore, AuditEntry, CallOptions, DeviceResult, DeviceResultStatus, ReconcileDepClient, RunResult, RunTrigger } from './ports.js';

/** How long to wait before retrying a FAILED serial: Apple may need hours (Fleet users report up to 24 h). */
export const FAILED_RETRY_MS = [3600_000, 6 * 3600_000, 24 * 3600_000] as const;
/** Used when Apple says THROTTLED without retry_after_seconds (protocol < 10). */
export const DEFAULT_THROTTLE_SECONDS = 60;

/** Options of applyPlan. */
export interface ApplyOptions extends CallOptions {
  now: () => Date;
  /** Let servers whose plan exceeds maxChanges proceed. */
  allowLarge?: boolean;
  /** Assign calls in flight per server. */
  concurrency?: number;
  trigger?: RunTrigger;
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
  await store.finishRun(run.id, {
    finishedAt: opts.now(),
    result,
    summary: { servers: results.map((r) => ({ ...r, defined: r.defined.map((d) => ({ ...d })), problem: r.problem ? { ...r.problem } : null })) },
  });
  return { runId: run.id, result, servers: results };
}

/** Applies one server's part of the plan. */
class ServerApplier {
  private readonly uuids = new Map<string, string>();
  /** Old UUID → the UUID of the same content defined again after Apple answered 404 for the old one. */
  private readonly replaced = new Map<string, Promise<string>>();
  private fromIndex: Map<string, string | null> | undefined;

  constructor(
    private readonly sp: ServerPlan,
    private readonly config: DepConfig,
    private readonly client: ReconcileDepClient,
    private readonly store: ApplyStore,
    private readonly runId: number,
    private readonly opts: ApplyOptions,
    private readonly result: ServerApplyResult,
  ) {}

  async run(): Promise<void> {
    // Serials sent along with a define (the first batch of its devices) are not assigned again.
    const sentWithDefine = new Set<string>();
    for (const d of this.sp.defines) {
      const firstBatch = this.sp.assign.filter((g) => g.profile === d.profile && g.profileUuid === null).flatMap((g) => g.serials).slice(0, MAX_SERIALS_PER_REQUEST);
      // When the content turned out to be defined already (another run), nothing rode along: assign them all.
      if (await this.define(d.profile, d.contentHash, firstBatch)) for (const s of firstBatch) sentWithDefine.add(s);
    }
    const batches: { uuid: string; profile: string; fromUuid: string | null; serials: string[] }[] = [];
    for (const g of this.sp.assign) {
      const uuid = g.profileUuid ?? this.uuids.get(g.profile);
      if (!uuid) throw new Error(`profile "${g.profile}" has no UUID after its define`);
      const serials = g.serials.filter((s) => !sentWithDefine.has(s));
      for (let i = 0; i < serials.length; i += MAX_SERIALS_PER_REQUEST) {
        batches.push({ uuid, profile: g.profile, fromUuid: g.fromUuid, serials: serials.slice(i, i + MAX_SERIALS_PER_REQUEST) });
      }
    }
    await pool(batches, this.opts.concurrency ?? 4, async (b) => {
      const replacement = this.replaced.get(b.uuid);
      if (replacement) {
        const uuid = await replacement;
        await this.intent('assign', b.serials, () => b.fromUuid, uuid);
        const res = await this.client.assignProfile(uuid, b.serials, { signal: this.opts.signal });
        await this.record('assign', b.profile, () => b.fromUuid, uuid, res.devices, res.retry_after_seconds, b.serials);
        return;
      }
      try {
        await this.intent('assign', b.serials, () => b.fromUuid, b.uuid);
        const res = await this.client.assignProfile(b.uuid, b.serials, { signal: this.opts.signal });
        await this.record('assign', b.profile, () => b.fromUuid, b.uuid, res.devices, res.retry_after_seconds, b.serials);
      } catch (err) {
        if (!isProfileNotFound(err)) throw err;
        await this.redefine(b.profile, b.uuid, b.serials);
      }
    });
    for (const g of this.sp.remove) {
      for (let i = 0; i < g.serials.length; i += MAX_SERIALS_PER_REQUEST) {
        const serials = g.serials.slice(i, i + MAX_SERIALS_PER_REQUEST);
        await this.intent('remove', serials, () => g.fromUuid, null);
        const res = await this.client.removeProfile(serials, { signal: this.opts.signal });
        await this.record('remove', null, () => g.fromUuid, null, res.devices, undefined, serials);
      }
    }
  }

  /**
   * Apple answered 404 for a UUID depctl recorded (Apple forgot the profile, or the token now belongs to
   * another server): forget the record and define the same content again, once, sending this batch with it.
   */
  private redefine(profile: string, goneUuid: string, serials: string[]): Promise<string> {
    let pending = this.replaced.get(goneUuid);
    if (!pending) {
      pending = (async () => {
        await this.store.forgetProfile(this.sp.server, goneUuid);
        await this.store.appendAudit([{ runId: this.runId, server: this.sp.server, serial: null, action: 'forget-profile', before: goneUuid, after: null, outcome: 'success', appleStatus: 'PROFILE_NOT_FOUND', at: this.opts.now() }]);
        const entry = this.config.profiles.find((p) => p.name === profile);
        if (!entry) throw new Error(`profile "${profile}" is not in the configuration`);
        this.uuids.delete(profile);
        await this.define(profile, profileContentHash(entry.profile as Record<string, unknown>), serials);
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
      const res = await this.client.assignProfile(uuid, serials, { signal: this.opts.signal });
      await this.record('assign', profile, (s) => this.fromUuidOf(s), uuid, res.devices, res.retry_after_seconds, serials);
      return uuid;
    });
  }

  /** The profile UUID a serial carried when the plan was made (for the audit's `before`). */
  private fromUuidOf(serial: string): string | null {
    if (!this.fromIndex) {
      this.fromIndex = new Map();
      for (const g of this.sp.assign) for (const s of g.serials) this.fromIndex.set(s, g.fromUuid);
    }
    return this.fromIndex.get(serial) ?? null;
  }

  /**
   * Defines one profile content, crash-safely: intent first, UUID after. Returns true when `devices` were sent
   * with the define (false when the content was already defined and nothing was sent).
   */
  private async define(name: string, contentHash: string, devices: string[]): Promise<boolean> {
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
      res = await this.client.defineProfile({ ...body, devices }, { signal: this.opts.signal });
    } catch (err) {
      // Apple refused the define (e.g. a 400): no profile exists, so the intent is dropped.
      if (isClientError(err)) await this.store.abandonDefine(key);
      throw err;
    }
    await this.store.completeDefine(key, res.profile_uuid, this.opts.now());
    this.uuids.set(name, res.profile_uuid);
    this.result.defined.push({ profile: name, uuid: res.profile_uuid });
    await this.store.appendAudit([{ runId: this.runId, server: this.sp.server, serial: null, action: 'define', before: null, after: res.profile_uuid, outcome: 'success', appleStatus: null, at: this.opts.now() }]);
    if (devices.length > 0) await this.record('assign', name, (s) => this.fromUuidOf(s), res.profile_uuid, res.devices ?? {}, undefined, devices);
    return true;
  }

  /** Audits a write before it is sent (`pending`), so a crash between the call and its answer loses no entry. */
  private async intent(action: 'assign' | 'remove', serials: readonly string[], before: (serial: string) => string | null, after: string | null): Promise<void> {
    if (serials.length === 0) return;
    const at = this.opts.now();
    await this.store.appendAudit(serials.map((serial) => ({ runId: this.runId, server: this.sp.server, serial, action, before: before(serial), after, outcome: 'pending' as const, appleStatus: null, at })));
  }

  /** Records Apple's per-serial statuses: results, retry times, desired profiles and the audit log. */
  private async record(
    action: 'assign' | 'remove',
    profile: string | null,
    before: (serial: string) => string | null,
    after: string | null,
    statuses: Record<string, string>,
    retryAfterSeconds: number | undefined,
    sent: readonly string[],
  ): Promise<void> {
    const now = this.opts.now();
    // Every serial sent is recorded: one Apple leaves out of its answer is an error to retry, not a success.
    const serials = sent;
    const results: { serial: string; result: DeviceResult; retryNotBefore: Date | null }[] = [];
    const audit: AuditEntry[] = [];
    for (const serial of serials) {
      const apple = statuses[serial] ?? null;
      const { status, retryMs } = classify(apple, retryAfterSeconds);
      if (status === 'success') {
        if (action === 'remove') this.result.removed++;
        else this.result.succeeded++;
      } else if (status === 'throttled') this.result.throttled++;
      else if (status === 'not-accessible') this.result.notAccessible++;
      else this.result.failed++;
      const retryNotBefore = retryMs === null ? null : new Date(now.getTime() + retryMs);
      if (retryNotBefore && (this.result.earliestRetryAt === null || retryNotBefore.toISOString() < this.result.earliestRetryAt)) {
        this.result.earliestRetryAt = retryNotBefore.toISOString();
      }
      results.push({ serial, result: { status, at: now, appleStatus: apple }, retryNotBefore });
      audit.push({ runId: this.runId, server: this.sp.server, serial, action, before: before(serial), after, outcome: status, appleStatus: apple, at: now });
    }
    // Results and what depctl last put on each device, in one write: the profile for an assign; nothing after
    // a successful remove (so the cleared device is not taken for drift when the config wants a profile again).
    await this.store.recordResults(
      this.sp.server,
      results.map((r) => (action === 'assign' ? { ...r, desiredProfile: profile } : r.result.status === 'success' ? { ...r, desiredProfile: null } : r)),
    );
    await this.store.appendAudit(audit);
  }
}

/** Apple's per-serial status → our result, and when to retry. */
function classify(apple: string | null, retryAfterSeconds: number | undefined): { status: DeviceResultStatus; retryMs: number | null } {
  switch (apple) {
    case 'SUCCESS':
      return { status: 'success', retryMs: null };
    case 'THROTTLED':
      return { status: 'throttled', retryMs: (retryAfterSeconds ?? DEFAULT_THROTTLE_SECONDS) * 1000 };
    case 'NOT_ACCESSIBLE':
      return { status: 'not-accessible', retryMs: null };
    case 'FAILED':
      return { status: 'failed', retryMs: FAILED_RETRY_MS[0] };
    default:
      // No status for a serial we sent: treat as a failure worth a short retry.
      return { status: 'error', retryMs: FAILED_RETRY_MS[0] };
  }
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
