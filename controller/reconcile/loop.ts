import type { ControllerStatus, Condition, ControllerPhase } from './status.js';
import type { PassOutcome } from './outcome.js';
import type { LoopTrigger } from './ports.js';
import {
  afterPass,
  conditionsFor,
  decideRound,
  DEFAULT_TIMING,
  INITIAL_MEMORY,
  restingPhase,
  withTransitions,
  type LoopMemory,
  type LoopTiming,
  type SourceReport,
} from './loop-decision.js';

export { DEFAULT_TIMING, type LoopTiming } from './loop-decision.js';

/** What started a pass of the loop. */
export type Trigger = LoopTrigger;

/** A source of config revisions (the git source). */
export interface RevisionSource {
  /** Brings the checkout up to date; throws when the source is unreachable (the last checkout stays usable). */
  sync(signal?: AbortSignal): Promise<{ revision: string; dir: string }>;
  describe(): string;
}

/** The result of validating a revision. */
export type Validation<C> = { ok: true; config: C } | { ok: false; message: string };

/** Leadership among replicas (PostgreSQL advisory lock; always held with SQLite). */
export interface Leadership {
  tryAcquire(): Promise<boolean>;
  release(): Promise<void>;
}

/** Everything the loop depends on, injected by the composition root. */
export interface LoopDeps<C> {
  source: RevisionSource;
  validate(dir: string): Promise<Validation<C>>;
  /** Runs one pass (reconcile/pass.ts) and returns its outcome; throws only when the pass could not run. */
  reconcile(config: C, revision: string, trigger: Trigger): Promise<PassOutcome>;
  leadership: Leadership;
  now: () => Date;
  /** Uniform random in [0, 1), for jitter. */
  random: () => number;
  /** Called on every state change (status page, metrics). */
  onStatus?: (status: ControllerStatus) => void;
  /** Called when a revision is refused or a pass ends, for notifications and logs. */
  onEvent?: (event: LoopEvent) => void;
  /** Called on each round of a follower replica, to refresh what it shows from the shared store. */
  onFollowerRound?: () => Promise<void>;
  version: string;
}

/** Events for notifications and logs. */
export type LoopEvent =
  | { kind: 'revision-refused'; revision: string; message: string }
  | { kind: 'pass'; revision: string; trigger: Trigger; outcome: PassOutcome }
  | { kind: 'pass-error'; revision: string; message: string }
  | { kind: 'source-error'; message: string }
  | { kind: 'leadership'; leader: boolean };

/**
 * The controller loop (STYLE rule 6): cancellable with one AbortSignal, triggerable (webhook, SIGHUP, API),
 * observable through a status snapshot. What to do each round, and which conditions hold, is decided by the
 * pure functions of loop-decision.ts; this class carries it out: leadership, git, validation, the pass,
 * the wait. A revision that fails validation is never applied: the last good one stays in force.
 */
export class ControllerLoop<C> {
  private wake: (() => void) | undefined;
  private pendingTrigger: Trigger | null = null;
  private memory: LoopMemory = INITIAL_MEMORY;
  /** The config of `memory.good`. */
  private goodConfig: C | undefined;
  private conditions: Condition[] = [];
  private status: ControllerStatus;

  constructor(
    private readonly deps: LoopDeps<C>,
    private readonly timing: LoopTiming = DEFAULT_TIMING,
  ) {
    this.conditions = withTransitions([], [{ type: 'Ready', status: 'Unknown', reason: 'Starting', message: 'the controller is starting' }], this.deps.now().toISOString());
    this.status = this.snapshot('starting', null);
  }

  /** Replaces the per-server details and recent runs shown in the status (computed by the composition root). */
  setDetails(servers: ControllerStatus['servers'], recentRuns: ControllerStatus['recentRuns']): void {
    this.status = { ...this.status, servers, recentRuns };
    this.deps.onStatus?.(this.status);
  }

  /** The latest status snapshot. */
  current(): ControllerStatus {
    return this.status;
  }

  /**
   * The revision in force and its validated config (what a remote plan of an unmerged ref is compared with),
   * or undefined before this replica has read a valid revision (a follower never reads the repository).
   */
  trusted(): { revision: string; config: C } | undefined {
    const revision = this.memory.good;
    return revision !== null && this.goodConfig !== undefined ? { revision, config: this.goodConfig } : undefined;
  }

  /** Cuts the current wait short and runs a pass (webhook, SIGHUP, POST /api/reconcile). */
  trigger(reason: Trigger): void {
    this.pendingTrigger = reason === 'manual' || this.pendingTrigger === null ? reason : this.pendingTrigger;
    this.wake?.();
  }

  /** Runs until the signal aborts; resolves after the current pass has ended and leadership is released. */
  async run(signal: AbortSignal): Promise<void> {
    const onAbort = (): void => this.wake?.();
    signal.addEventListener('abort', onAbort);
    try {
      while (!signal.aborted) {
        const waitMs = await this.round(signal);
        if (signal.aborted) break;
        await this.sleep(waitMs, signal);
      }
    } finally {
      signal.removeEventListener('abort', onAbort);
      this.publish('stopping', null);
      if (this.memory.leader) await this.deps.leadership.release().catch(() => undefined);
    }
  }

  /** One round: gather the inputs, decide, act. Returns how long to wait before the next round. */
  private async round(signal: AbortSignal): Promise<number> {
    const leader = await this.deps.leadership.tryAcquire().catch(() => false);
    if (leader !== this.memory.leader) this.deps.onEvent?.({ kind: 'leadership', leader });
    const trigger = this.pendingTrigger;
    this.pendingTrigger = null;
    const source = leader ? await this.readSource(signal) : null;
    const decision = decideRound(this.memory, { now: this.deps.now().getTime(), leader, trigger, source, random: this.deps.random() }, this.timing);
    this.memory = decision.memory;
    const step = decision.step;
    if (step.kind === 'follow') {
      await this.deps.onFollowerRound?.().catch(() => undefined);
      this.publish('idle', decision.waitMs);
      return decision.waitMs;
    }
    if (step.kind === 'wait') {
      this.publish(restingPhase(this.memory), decision.waitMs);
      return decision.waitMs;
    }
    const config = this.goodConfig as C;
    this.publish('reconciling', null, step);
    let outcome: PassOutcome | undefined;
    let failure: string | undefined;
    try {
      outcome = await this.deps.reconcile(config, step.revision, step.trigger);
    } catch (err) {
      failure = (err as Error).message;
    }
    const after = afterPass(this.memory, outcome ? { ok: true, outcome } : { ok: false, message: failure ?? 'unknown error' }, this.deps.now().getTime(), this.timing, this.deps.random());
    this.memory = after.memory;
    if (outcome) this.deps.onEvent?.({ kind: 'pass', revision: step.revision, trigger: step.trigger, outcome });
    else this.deps.onEvent?.({ kind: 'pass-error', revision: step.revision, message: failure ?? 'unknown error' });
    this.publish(restingPhase(this.memory), after.waitMs);
    return after.waitMs;
  }

  /** Syncs the source and validates a revision not seen before. */
  private async readSource(signal: AbortSignal): Promise<SourceReport> {
    try {
      const src = await this.deps.source.sync(signal);
      const { revision } = src;
      if (revision === this.memory.good || revision === this.memory.refused?.revision) return { ok: true, revision, validation: null };
      const v = await this.deps.validate(src.dir);
      if (v.ok) {
        this.goodConfig = v.config;
        return { ok: true, revision, validation: { ok: true } };
      }
      this.deps.onEvent?.({ kind: 'revision-refused', revision, message: v.message });
      return { ok: true, revision, validation: { ok: false, message: v.message } };
    } catch (err) {
      const message = `config source ${this.deps.source.describe()} failed: ${(err as Error).message}`;
      this.deps.onEvent?.({ kind: 'source-error', message });
      return { ok: false, message };
    }
  }

  private sleep(ms: number, signal: AbortSignal): Promise<void> {
    if (this.pendingTrigger !== null || signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.wake = () => {
        this.wake = undefined;
        done();
      };
    });
  }

  private publish(phase: ControllerPhase, waitMs: number | null, reconciling: { revision: string; trigger: Trigger } | null = null): void {
    if (phase !== 'stopping') this.conditions = withTransitions(this.conditions, conditionsFor(this.memory, reconciling), this.deps.now().toISOString());
    this.status = this.snapshot(phase, waitMs === null ? null : new Date(this.deps.now().getTime() + waitMs));
    this.deps.onStatus?.(this.status);
  }

  private snapshot(phase: ControllerPhase, nextRunAt: Date | null): ControllerStatus {
    const m = this.memory;
    const transient = m.last?.problems.filter((p) => p.kind === 'transient').map((p) => `${p.server}: ${p.message}`) ?? [];
    return {
      phase,
      leader: m.leader,
      conditions: this.conditions,
      lastAppliedRevision: m.lastApplied,
      lastAttemptedRevision: m.lastAttempted,
      refusedRevision: m.refused,
      nextRunAt: nextRunAt?.toISOString() ?? null,
      lastError: m.passError ?? m.sourceError ?? (transient.length > 0 ? transient.join('; ') : null),
      servers: this.status?.servers ?? [],
      recentRuns: this.status?.recentRuns ?? [],
      version: this.deps.version,
    };
  }
}
