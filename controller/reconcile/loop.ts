import type { ControllerStatus, Condition, ConditionType } from './status.js';

/** A source of config revisions (the git source). */
export interface RevisionSource {
  /** Brings the checkout up to date; throws when the source is unreachable (the last checkout stays usable). */
  sync(signal?: AbortSignal): Promise<{ revision: string; dir: string }>;
  describe(): string;
}

/** The result of validating a revision. */
export type Validation<C> = { ok: true; config: C } | { ok: false; message: string };

/** Outcome of one reconcile pass, as the loop needs it. */
export interface PassOutcome {
  /** `success`/`noop`: converged; `partial`: some serials wait; `failed`: a server stopped. */
  result: 'success' | 'partial' | 'failed' | 'noop';
  /** Terminal problems (terms not signed, revoked token): no retry until the revision changes. */
  terminal: string[];
  /** Transient problems (network, 5xx): retried with backoff. */
  transient: string[];
  /** The earliest time a deferred serial may be retried, if any. */
  nextRetryAt: Date | null;
}

/** Leadership among replicas (PostgreSQL advisory lock; always held with SQLite). */
export interface Leadership {
  tryAcquire(): Promise<boolean>;
  release(): Promise<void>;
}

/** Everything the loop depends on, injected by the composition root. */
export interface LoopDeps<C> {
  source: RevisionSource;
  validate(dir: string): Promise<Validation<C>>;
  reconcile(config: C, revision: string, trigger: Trigger): Promise<PassOutcome>;
  leadership: Leadership;
  now: () => Date;
  /** Uniform random in [0, 1), for jitter. */
  random: () => number;
  /** Called after each pass and on every state change (status page, metrics, notifications). */
  onStatus?: (status: ControllerStatus) => void;
  /** Called when a revision is refused or a pass ends, for notifications and logs. */
  onEvent?: (event: LoopEvent) => void;
  /** Called on each round of a follower replica, to refresh what it shows from the shared store. */
  onFollowerRound?: () => Promise<void>;
  version: string;
}

/** Timing of the loop. */
export interface LoopTiming {
  /** How often git is polled. */
  pollIntervalMs: number;
  /** How often Apple is synced when nothing else triggers a pass. */
  syncIntervalMs: number;
  /** First retry delay after a transient failure; doubles up to maxBackoffMs. */
  minBackoffMs: number;
  maxBackoffMs: number;
  /** How often a follower tries to become leader. */
  leaderRetryMs: number;
}

/** Default timing (DESIGN.md: `--poll-interval 1m`; Apple sync every 15 minutes). */
export const DEFAULT_TIMING: LoopTiming = {
  pollIntervalMs: 60_000,
  syncIntervalMs: 15 * 60_000,
  minBackoffMs: 5_000,
  maxBackoffMs: 10 * 60_000,
  leaderRetryMs: 10_000,
};

/** What started a pass. */
export type Trigger = 'schedule' | 'manual' | 'webhook' | 'git';

/** Events for notifications and logs. */
export type LoopEvent =
  | { kind: 'revision-refused'; revision: string; message: string }
  | { kind: 'pass'; revision: string; trigger: Trigger; outcome: PassOutcome }
  | { kind: 'source-error'; message: string }
  | { kind: 'leadership'; leader: boolean };

/**
 * The controller loop (STYLE rule 6): cancellable with one AbortSignal, triggerable (webhook, SIGHUP, API),
 * observable through a status snapshot. Each round polls git; a pass (plan + apply) runs when the revision
 * changed, when triggered by hand, when the Apple sync interval is due, when deferred serials become due, or
 * to retry after a failure (jittered exponential backoff). A revision that fails validation is never applied:
 * the last good one stays in force and the status says why the new one was refused.
 */
export class ControllerLoop<C> {
  private wake: (() => void) | undefined;
  private pendingTrigger: Trigger | null = null;
  private lastGood: { revision: string; config: C } | undefined;
  private refused: { revision: string; message: string } | null = null;
  private lastAttempted: string | null = null;
  private lastApplied: string | null = null;
  private lastPassAt = 0;
  private nextRetryAt: Date | null = null;
  private failures = 0;
  private stalledFor: string | null = null;
  private readonly conditions = new Map<ConditionType, Condition>();
  private status: ControllerStatus;
  private leader = false;

  constructor(
    private readonly deps: LoopDeps<C>,
    private readonly timing: LoopTiming = DEFAULT_TIMING,
  ) {
    this.status = this.snapshot('starting', null, null);
    this.setCondition('Ready', 'Unknown', 'Starting', 'the controller is starting');
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
      if (this.leader) await this.deps.leadership.release().catch(() => undefined);
    }
  }

  /** One round: leadership, git, maybe a pass. Returns how long to wait before the next round. */
  private async round(signal: AbortSignal): Promise<number> {
    const { timing } = this;
    const leader = await this.deps.leadership.tryAcquire().catch(() => false);
    if (leader !== this.leader) {
      this.leader = leader;
      this.deps.onEvent?.({ kind: 'leadership', leader });
    }
    if (!leader) {
      this.setCondition('Reconciling', 'False', 'Follower', 'another replica holds the leader lock; this one serves read endpoints');
      await this.deps.onFollowerRound?.().catch(() => undefined);
      this.publish('idle', new Date(this.deps.now().getTime() + timing.leaderRetryMs));
      return timing.leaderRetryMs;
    }

    let trigger = this.pendingTrigger;
    this.pendingTrigger = null;
    let revision: string | undefined;
    try {
      const src = await this.deps.source.sync(signal);
      revision = src.revision;
      if (revision !== this.lastGood?.revision && revision !== this.refused?.revision) {
        const v = await this.deps.validate(src.dir);
        if (v.ok) {
          this.lastGood = { revision, config: v.config };
          this.refused = null;
          this.stalledFor = null;
          trigger ??= 'git';
        } else {
          this.refused = { revision, message: v.message };
          this.deps.onEvent?.({ kind: 'revision-refused', revision, message: v.message });
        }
      }
    } catch (err) {
      const message = `config source ${this.deps.source.describe()} failed: ${(err as Error).message}`;
      this.deps.onEvent?.({ kind: 'source-error', message });
      if (!this.lastGood) return this.backoff(message);
    }
    if (!this.lastGood) {
      const message = this.refused ? `revision ${short(this.refused.revision)} is invalid: ${this.refused.message}` : 'no valid revision yet';
      this.setCondition('Ready', 'False', 'ValidationFailed', message);
      this.setCondition('Stalled', 'True', 'ValidationFailed', message);
      this.publish('idle', new Date(this.deps.now().getTime() + timing.pollIntervalMs));
      return timing.pollIntervalMs;
    }

    const now = this.deps.now().getTime();
    const dueSync = now - this.lastPassAt >= timing.syncIntervalMs;
    const dueRetry = this.nextRetryAt !== null && this.nextRetryAt.getTime() <= now;
    const dueBackoff = this.failures > 0;
    if (this.stalledFor !== null && trigger !== 'manual' && trigger !== 'git' && !dueSync) {
      // Terminal: no retry until the revision changes, someone asks, or the Apple sync interval comes round
      // (a new token dropped into the secrets directory needs no new revision).
      this.publish('idle', new Date(now + timing.pollIntervalMs));
      return timing.pollIntervalMs;
    }
    if (trigger === null && !dueSync && !dueRetry && !dueBackoff) {
      this.publish('idle', this.nextRunAt());
      return this.untilNextRun();
    }
    const reason: Trigger = trigger ?? 'schedule';
    const { revision: rev, config } = this.lastGood;
    this.lastAttempted = rev;
    this.setCondition('Reconciling', 'True', 'Progressing', `reconciling revision ${short(rev)} (${reason})`);
    this.publish('reconciling', null);
    let outcome: PassOutcome;
    try {
      outcome = await this.deps.reconcile(config, rev, reason);
    } catch (err) {
      this.setCondition('Reconciling', 'False', 'Failed', (err as Error).message);
      return this.backoff(`reconcile of ${short(rev)} failed: ${(err as Error).message}`);
    }
    this.lastPassAt = this.deps.now().getTime();
    this.nextRetryAt = outcome.nextRetryAt;
    this.deps.onEvent?.({ kind: 'pass', revision: rev, trigger: reason, outcome });
    this.setCondition('Reconciling', 'False', 'Done', `last pass: ${outcome.result}`);
    if (outcome.terminal.length > 0) {
      this.stalledFor = rev;
      this.failures = 0;
      const message = outcome.terminal.join('; ');
      this.setCondition('Ready', 'False', 'Stalled', message);
      this.setCondition('Stalled', 'True', 'TerminalError', message);
      this.lastApplied = rev;
      this.publish('idle', new Date(this.deps.now().getTime() + timing.pollIntervalMs));
      return timing.pollIntervalMs;
    }
    this.setCondition('Stalled', 'False', 'NotStalled', '');
    if (outcome.transient.length > 0) return this.backoff(outcome.transient.join('; '));
    this.failures = 0;
    this.lastApplied = rev;
    const refusedNote = this.refused ? `; newer revision ${short(this.refused.revision)} refused: ${this.refused.message}` : '';
    if (outcome.result === 'partial') {
      this.setCondition('Ready', 'False', 'PartialApply', `revision ${short(rev)} applied partly; deferred serials are retried at ${outcome.nextRetryAt?.toISOString() ?? 'the next pass'}${refusedNote}`);
    } else if (this.refused) {
      this.setCondition('Ready', 'False', 'ValidationFailed', `revision ${short(rev)} is applied, but newer revision ${short(this.refused.revision)} was refused: ${this.refused.message}`);
    } else {
      this.setCondition('Ready', 'True', 'ReconciliationSucceeded', `revision ${short(rev)} is applied`);
    }
    this.publish('idle', this.nextRunAt());
    return this.untilNextRun();
  }

  private backoff(message: string): number {
    this.failures++;
    const base = Math.min(this.timing.maxBackoffMs, this.timing.minBackoffMs * 2 ** (this.failures - 1));
    const wait = Math.round(base * (0.5 + this.deps.random() / 2));
    this.setCondition('Ready', 'False', 'RetryingAfterFailure', `${message} (attempt ${this.failures}; retrying in ${Math.round(wait / 1000)} s)`);
    this.publish('waiting', new Date(this.deps.now().getTime() + wait), message);
    return wait;
  }

  private nextRunAt(): Date {
    return new Date(this.deps.now().getTime() + this.untilNextRun());
  }

  /** Until the next git poll (which also runs a pass when the sync interval or a retry time is due). */
  private untilNextRun(): number {
    const now = this.deps.now().getTime();
    let wait = this.timing.pollIntervalMs;
    const sync = this.lastPassAt + this.timing.syncIntervalMs - now;
    wait = Math.min(wait, Math.max(0, sync));
    if (this.nextRetryAt) wait = Math.min(wait, Math.max(0, this.nextRetryAt.getTime() - now));
    // Jitter (±10%) so replicas and many controllers do not poll in step.
    return Math.max(0, Math.round(wait * (0.9 + this.deps.random() * 0.2)));
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

  private setCondition(type: ConditionType, status: Condition['status'], reason: string, message: string): void {
    const prev = this.conditions.get(type);
    const changed = !prev || prev.status !== status || prev.reason !== reason;
    this.conditions.set(type, { type, status, reason, message, lastTransitionTime: changed ? this.deps.now().toISOString() : prev.lastTransitionTime });
  }

  private publish(phase: ControllerStatus['phase'], nextRunAt: Date | null, lastError: string | null = null): void {
    this.status = this.snapshot(phase, nextRunAt, lastError);
    this.deps.onStatus?.(this.status);
  }

  private snapshot(phase: ControllerStatus['phase'], nextRunAt: Date | null, lastError: string | null): ControllerStatus {
    return {
      phase,
      leader: this.leader,
      conditions: [...this.conditions.values()],
      lastAppliedRevision: this.lastApplied,
      lastAttemptedRevision: this.lastAttempted,
      refusedRevision: this.refused,
      nextRunAt: nextRunAt?.toISOString() ?? null,
      lastError,
      servers: this.status?.servers ?? [],
      recentRuns: this.status?.recentRuns ?? [],
      version: this.deps.version,
    };
  }
}

function short(rev: string): string {
  return rev.slice(0, 12);
}
