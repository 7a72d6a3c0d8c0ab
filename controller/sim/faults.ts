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

const isCount = (v: unknown): boolean => typeof v === 'number' && Number.isInteger(v) && v >= 0;
const isStrings = (v: unknown): boolean => Array.isArray(v) && v.every((x) => typeof x === 'string');
const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Checks a FaultSpec that came over HTTP (`POST /_sim/faults`); returns a message naming the first
 * bad key, or undefined when the spec is well-formed.
 */
export function faultSpecProblem(spec: Record<string, unknown>): string | undefined {
  const checks: Record<string, (v: unknown) => boolean> = {
    latencyMs: isCount,
    httpStatus: (v) => isRecord(v) && [429, 500, 502, 503, 504].includes(v.status as number) && isCount(v.count) && (v.path === undefined || typeof v.path === 'string') && (v.retryAfter === undefined || typeof v.retryAfter === 'string'),
    connectionResets: (v) => isRecord(v) && isCount(v.count) && (v.path === undefined || typeof v.path === 'string'),
    throttledSerials: (v) => isRecord(v) && isStrings(v.serials) && isCount(v.retryAfterSeconds),
    failedSerials: isStrings,
    expireSessions: (v) => isRecord(v) && (v.forbidden === undefined || typeof v.forbidden === 'boolean'),
    termsNotSigned: (v) => typeof v === 'boolean',
    tokenRevoked: (v) => typeof v === 'boolean',
    rotateSession: (v) => isRecord(v) && isCount(v.every) && (v.every as number) >= 1 && (v.revokeOld === undefined || typeof v.revokeOld === 'boolean'),
  };
  for (const [key, value] of Object.entries(spec)) {
    const check = checks[key];
    if (check === undefined) return `unknown fault ${key}`;
    if (!check(value)) return `malformed fault ${key}`;
  }
  return undefined;
}

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
