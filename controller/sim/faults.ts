/**
 * Fault injection state. Faults merge key by key (FaultSpec in api.ts) and the counted ones
 * (`httpStatus`, `connectionResets`) are consumed request by request until they run out.
 */
import type { FaultSpec } from './api.js';

/** Default bodies for injected statuses (AppleClassClient maps 429 `TOO_MANY_REQUESTS` and 503). */
const STATUS_BODIES: Record<number, string> = {
  429: 'TOO_MANY_REQUESTS',
  500: 'INTERNAL_SERVER_ERROR',
  502: 'BAD_GATEWAY',
  503: 'SERVICE_UNAVAILABLE',
  504: 'GATEWAY_TIMEOUT',
};

/** An injected HTTP failure to send instead of the real answer. */
export interface InjectedStatus {
  status: number;
  body: string;
  retryAfter?: string;
}

/** Current faults plus their remaining counts. */
export class FaultState {
  private spec: FaultSpec = {};
  private throttled = new Set<string>();
  private failed = new Set<string>();

  /** Merges `faults` into the current ones (a key given replaces that key). */
  set(faults: FaultSpec): void {
    const copy = structuredClone(faults);
    this.spec = { ...this.spec, ...copy };
    if (copy.throttledSerials !== undefined) this.throttled = new Set(copy.throttledSerials.serials);
    if (copy.failedSerials !== undefined) this.failed = new Set(copy.failedSerials);
  }

  /** Clears every fault. */
  clear(): void {
    this.spec = {};
    this.throttled.clear();
    this.failed.clear();
  }

  /** The faults in force, with remaining counts. */
  current(): FaultSpec {
    return structuredClone(this.spec);
  }

  /** Added latency in milliseconds. */
  latencyMs(): number {
    return Math.max(0, this.spec.latencyMs ?? 0);
  }

  /** Consumes one connection reset for `path`, if any is pending. */
  takeConnectionReset(path: string): boolean {
    const r = this.spec.connectionResets;
    if (r === undefined || r.count <= 0 || (r.path !== undefined && r.path !== path)) return false;
    r.count--;
    return true;
  }

  /** Consumes one injected status for `path`, if any is pending. */
  takeHttpStatus(path: string): InjectedStatus | undefined {
    const h = this.spec.httpStatus;
    if (h === undefined || h.count <= 0 || (h.path !== undefined && h.path !== path)) return undefined;
    h.count--;
    const out: InjectedStatus = { status: h.status, body: STATUS_BODIES[h.status] ?? 'ERROR' };
    if (h.retryAfter !== undefined) out.retryAfter = h.retryAfter;
    return out;
  }

  /** Seconds to report for a THROTTLED serial, or undefined when it is not throttled. */
  throttledFor(serial: string): number | undefined {
    return this.throttled.has(serial) ? (this.spec.throttledSerials?.retryAfterSeconds ?? 30) : undefined;
  }

  /** Whether assign must answer FAILED for this serial. */
  failedFor(serial: string): boolean {
    return this.failed.has(serial);
  }

  /** Whether unknown sessions answer 403 FORBIDDEN (depsim after a restart) instead of 401. */
  forbidUnknownSessions(): boolean {
    return this.spec.expireSessions?.forbidden === true;
  }

  /** Whether the organisation has not accepted the latest terms (403 T_C_NOT_SIGNED). */
  termsNotSigned(): boolean {
    return this.spec.termsNotSigned === true;
  }

  /** Whether the server token was revoked in the portal (token_rejected). */
  tokenRevoked(): boolean {
    return this.spec.tokenRevoked === true;
  }

  /** Session rotation: every Nth authenticated response carries a new X-ADM-Auth-Session. */
  rotation(): { every: number; revokeOld: boolean } | undefined {
    const r = this.spec.rotateSession;
    if (r === undefined || !(r.every >= 1)) return undefined;
    return { every: Math.floor(r.every), revokeOld: r.revokeOld ?? true };
  }
}
