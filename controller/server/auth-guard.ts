/**
 * Failed authentication, slowed down per client address (issue 18). The API token, the read token and the
 * webhook secrets are guessable only by trying; each failure from an address counts, and past a few in a
 * window the address waits a growing time (answered 429 with Retry-After, without even looking at what it
 * sent) before it may try again. A success clears its record. One warning per address and block, not one per
 * request, so a scanner cannot fill the log; the counts are metrics. Memory is bounded: at most `maxClients`
 * addresses are remembered, the least recently seen dropped first.
 *
 * Pure state with an injected clock: the server asks `blocked(addr)` before checking credentials and reports
 * `failed(addr)` or `succeeded(addr)` after.
 */

/** Settings; all have defaults. */
export interface AuthGuardOptions {
  /** Failures allowed in `windowMs` before the address waits. Default 5. */
  freeFailures?: number;
  /** The window in which failures count. Default 60 s. */
  windowMs?: number;
  /** The first wait; each failure past the free ones doubles it. Default 2 s. */
  baseDelayMs?: number;
  /** The longest wait. Default 15 min. */
  maxDelayMs?: number;
  /** Addresses remembered at most. Default 10,000. */
  maxClients?: number;
  /** Milliseconds clock. Default Date.now. */
  now?: () => number;
}

interface ClientRecord {
  /** Failure times within the window (oldest first). */
  failures: number[];
  /** Until when the address waits, or 0. */
  blockedUntil: number;
  /** Failures since the first block of this streak: the exponent of the wait. */
  strikes: number;
  /** Whether this block was logged already. */
  logged: boolean;
}

/** What `failed` decided. */
export interface FailureVerdict {
  /** The address must wait this long before it may try again (0: it may try again now). */
  retryAfterMs: number;
  /** True the first time an address is blocked in a streak: the caller logs it (once). */
  firstBlock: boolean;
  /** True for the first failure of a window: the caller logs it (once per window). */
  firstInWindow: boolean;
}

export class AuthGuard {
  private readonly clients = new Map<string, ClientRecord>();
  private readonly freeFailures: number;
  private readonly windowMs: number;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly maxClients: number;
  private readonly now: () => number;

  constructor(opts: AuthGuardOptions = {}) {
    this.freeFailures = opts.freeFailures ?? 5;
    this.windowMs = opts.windowMs ?? 60_000;
    this.baseDelayMs = opts.baseDelayMs ?? 2_000;
    this.maxDelayMs = opts.maxDelayMs ?? 15 * 60_000;
    this.maxClients = opts.maxClients ?? 10_000;
    this.now = opts.now ?? Date.now;
  }

  /** Milliseconds the address must still wait, or 0. Checked before credentials are looked at. */
  blocked(addr: string): number {
    const r = this.clients.get(addr);
    if (!r) return 0;
    return Math.max(0, r.blockedUntil - this.now());
  }

  /** Records a failed attempt; returns how long the address must now wait. */
  failed(addr: string): FailureVerdict {
    const t = this.now();
    let r = this.clients.get(addr);
    if (r) this.clients.delete(addr); // re-inserted below: the Map's order is least recently seen first
    else r = { failures: [], blockedUntil: 0, strikes: 0, logged: false };
    r.failures = r.failures.filter((f) => t - f < this.windowMs);
    r.failures.push(t);
    if (r.blockedUntil <= t && r.failures.length <= this.freeFailures) {
      // Within the free failures: a streak that ended (no failure for a window) starts over.
      if (r.failures.length === 1) {
        r.strikes = 0;
        r.logged = false;
      }
    }
    let verdict: FailureVerdict = { retryAfterMs: 0, firstBlock: false, firstInWindow: r.failures.length === 1 };
    if (r.failures.length > this.freeFailures || r.strikes > 0) {
      const delay = Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** r.strikes);
      r.strikes++;
      r.blockedUntil = t + delay;
      verdict = { retryAfterMs: delay, firstBlock: !r.logged, firstInWindow: false };
      r.logged = true;
    }
    this.clients.set(addr, r);
    while (this.clients.size > this.maxClients) {
      const oldest = this.clients.keys().next().value as string;
      this.clients.delete(oldest);
    }
    return verdict;
  }

  /** Clears the address's record after a successful authentication. */
  succeeded(addr: string): void {
    this.clients.delete(addr);
  }

  /** Addresses currently remembered (for tests of the bound). */
  get size(): number {
    return this.clients.size;
  }
}
