/**
 * Auth sessions handed out by GET /session, and the nonce cache that rejects replayed OAuth requests.
 * Lifetimes follow the injected clock so tests can age sessions without sleeping.
 */
import { randomBytes } from 'node:crypto';

/** Outcome of looking a session token up. */
export type SessionCheck = 'ok' | 'expired' | 'unknown';

/** The live auth sessions. */
export class SessionStore {
  private readonly sessions = new Map<string, number>();
  private issued = 0;

  /**
   * @param onIssue called with every token issued, so a simulator group can remember which server a
   *   session belongs to (Apple ties the session to the token used on GET /session).
   */
  constructor(
    private readonly now: () => number,
    private readonly ttlMs: number,
    private readonly onIssue?: (token: string) => void,
  ) {}

  /**
   * Issues a new opaque session token: 128 upper-case hex digits, the shape NanoDEP's docs show
   * from Apple.
   */
  issue(): string {
    const token = randomBytes(64).toString('hex').toUpperCase();
    this.sessions.set(token, this.now() + this.ttlMs);
    if (++this.issued % 1024 === 0) this.sweep();
    this.onIssue?.(token);
    return token;
  }

  /** Whether a token is live, expired (per the clock) or unknown. */
  check(token: string): SessionCheck {
    const expires = this.sessions.get(token);
    if (expires === undefined) return 'unknown';
    if (this.now() >= expires) return 'expired';
    return 'ok';
  }

  /** Revokes one token. */
  revoke(token: string): void {
    this.sessions.delete(token);
  }

  /** Revokes every token (a simulator restart, or the `expireSessions` fault). */
  revokeAll(): void {
    this.sessions.clear();
  }

  /** Number of tokens held (live or not yet swept). */
  get size(): number {
    return this.sessions.size;
  }

  private sweep(): void {
    const t = this.now();
    for (const [token, expires] of this.sessions) if (t >= expires) this.sessions.delete(token);
  }
}

/** Remembers OAuth nonces for the timestamp window; Apple answers 401 to a nonce already used. */
export class NonceCache {
  private readonly seen = new Map<string, number>();

  constructor(private readonly windowMs: number) {}

  /** Records a nonce; returns false when it was already used within the window. */
  use(nonce: string, nowMs: number): boolean {
    const until = this.seen.get(nonce);
    if (until !== undefined && (until > nowMs || !Number.isFinite(this.windowMs))) return false;
    if (this.seen.size > 100_000) {
      for (const [n, u] of this.seen) if (u <= nowMs) this.seen.delete(n);
    }
    // Twice the window: a nonce stays unusable for as long as its timestamp could still be accepted.
    this.seen.set(nonce, nowMs + 2 * this.windowMs);
    return true;
  }
}
