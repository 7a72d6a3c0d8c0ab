/**
 * The simulated organisation: its devices, MDM servers, activities and issued tokens, over an
 * injectable clock. Activities move through Apple's sub-statuses as simulated time passes
 * (SUBMITTED → PRE_PROCESSING → PENDING → PROCESSING → POST_PROCESSING → COMPLETED_WITH_*; a stopped one
 * goes SUBMITTED → PRE_PROCESSING → STOPPING → STOPPED; a failed one ends FAILED after PROCESSING) and
 * carry out their moves when they complete, calling the move hook. `settle()` runs before every request
 * and after every clock change, so moves happen in completion order whatever is asked.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { AbmActivityStatus, AbmActivitySubStatus, AbmActivityType } from '../../abm/types.js';
import { hash32, hexDigits, normaliseSeed } from '../rng.js';
import type { AbmFaultSpec, AbmMoveHook, AbmSimDevice, AbmSimOrgDevice, AbmSimServerSpec } from './api.js';

/** An MDM server of the organisation. */
export interface SimServer {
  id: string;
  serverName: string;
  serverType: string;
  createdAt: number;
  updatedAt: number;
  enableMdmDisownFlag: boolean;
  certificateName: string | undefined;
}

type Outcome = 'success' | 'stop' | 'fail';

/** One activity. */
export interface SimActivity {
  id: string;
  type: AbmActivityType;
  serverId: string;
  serials: string[];
  createdAt: number;
  outcome: Outcome;
  /** Set when the activity finished: per serial, `SUCCESS` or `FAILED` with a message. */
  results?: { serial: string; status: 'SUCCESS' | 'FAILED'; message: string }[];
  /** Query signature of the presigned download. */
  downloadSig: string;
}

const FAMILIES = [
  { productFamily: 'Mac', deviceModel: 'MacBook Air 13"', productType: 'Mac15,12', partNumber: 'MRXN3LL/A' },
  { productFamily: 'iPhone', deviceModel: 'iPhone 15', productType: 'iPhone15,4', partNumber: 'MTLX3LL/A' },
  { productFamily: 'iPad', deviceModel: 'iPad Air 11"', productType: 'iPad14,8', partNumber: 'MUWC3LL/A' },
  { productFamily: 'AppleTV', deviceModel: 'Apple TV 4K', productType: 'AppleTV14,1', partNumber: 'MN873LL/A' },
] as const;
const COLORS = ['SPACE GRAY', 'SILVER', 'MIDNIGHT', 'STARLIGHT', 'BLUE'];

/** Steps (of activityStepMs) until an activity is done. */
export const STEPS_TO_COMPLETE = 5;

/** The organisation's state. */
export class SimOrg {
  readonly devices = new Map<string, AbmSimDevice>();
  readonly servers = new Map<string, SimServer>();
  readonly activities = new Map<string, SimActivity>();
  /** Access token → expiry (epoch ms). */
  readonly tokens = new Map<string, number>();
  /** Assertion `jti` → hash of the assertion that first used it. */
  readonly jtis = new Map<string, string>();
  faults: AbmFaultSpec = {};
  /** Errors the move hook threw (the activity still succeeds on Apple's side), for assertions. */
  readonly hookErrors: string[] = [];
  onMove: AbmMoveHook | undefined;
  tokensIssued = 0;
  private generated = 0;
  private readonly seed: number;

  constructor(
    seed: number,
    readonly now: () => number,
    readonly stepMs: number,
  ) {
    this.seed = normaliseSeed(seed);
  }

  /** A stable, UUID-shaped id. */
  idFor(kind: string, n: number): string {
    const h = createHash('sha256').update(`${this.seed}:${kind}:${n}`).digest('hex').toUpperCase();
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
  }

  addServer(spec: AbmSimServerSpec, nth: number): SimServer {
    const t = this.now();
    const id = spec.id ?? this.idFor(`server:${spec.serverName}`, nth);
    if (this.servers.has(id)) throw new Error(`server id ${id} is given twice`);
    const s: SimServer = { id, serverName: spec.serverName, serverType: spec.serverType ?? 'MDM', createdAt: t, updatedAt: t, enableMdmDisownFlag: false, certificateName: undefined };
    this.servers.set(id, s);
    return s;
  }

  /** Adds `count` generated devices, unassigned or assigned to `serverId`. */
  addGenerated(count: number, serverId: string | null = null): string[] {
    if (serverId !== null && !this.servers.has(serverId)) throw new Error(`unknown server ${serverId}`);
    const out: string[] = [];
    const t = new Date(this.now()).toISOString();
    for (let k = 0; k < count; k++) {
      const i = this.generated++;
      const serial = `${'CFGHJKLMNPQRTVWXY'[hash32(this.seed, i, 1) % 17]}${hexDigits(this.seed, i, 2, 9)}${String(i % 100).padStart(2, '0')}`;
      const fam = FAMILIES[hash32(this.seed, i, 3) % FAMILIES.length] as (typeof FAMILIES)[number];
      const cellular = fam.productFamily === 'iPhone' || (fam.productFamily === 'iPad' && hash32(this.seed, i, 4) % 2 === 0);
      const imei = cellular ? [`35${String(hash32(this.seed, i, 5)).padStart(10, '0').slice(0, 10)}${String(i % 1000).padStart(3, '0')}`] : [];
      this.devices.set(serial, {
        serialNumber: serial,
        assignedServerId: serverId,
        attributes: {
          serialNumber: serial,
          addedToOrgDateTime: t,
          updatedDateTime: t,
          deviceModel: fam.deviceModel,
          productFamily: fam.productFamily,
          productType: fam.productType,
          deviceCapacity: ['128GB', '256GB', '512GB'][hash32(this.seed, i, 6) % 3],
          partNumber: fam.partNumber,
          orderNumber: `ORDER_${String(hash32(this.seed, Math.floor(i / 50), 7) % 1_000_000).padStart(6, '0')}`,
          color: COLORS[hash32(this.seed, i, 8) % COLORS.length],
          orderDateTime: t,
          imei,
          meid: cellular ? [hexDigits(this.seed, i, 9, 14)] : [],
          eid: cellular ? hexDigits(this.seed, i, 10, 32) : undefined,
          wifiMacAddress: hexDigits(this.seed, i, 11, 12),
          bluetoothMacAddress: hexDigits(this.seed, i, 12, 12),
          purchaseSourceId: String(hash32(this.seed, 0, 13) % 10_000_000),
          purchaseSourceType: 'APPLE',
        },
      });
      out.push(serial);
    }
    return out;
  }

  /** Adds devices with explicit serials and attributes, each unassigned or on the server of that name. */
  addExplicit(devices: readonly AbmSimOrgDevice[]): void {
    const byName = new Map([...this.servers.values()].map((s) => [s.serverName, s.id]));
    const t = new Date(this.now()).toISOString();
    for (const d of devices) {
      if (this.devices.has(d.serialNumber)) throw new RangeError(`serial ${d.serialNumber} is given twice`);
      const serverId = d.serverName === undefined ? null : byName.get(d.serverName);
      if (serverId === undefined) throw new RangeError(`no server named ${d.serverName ?? ''} for ${d.serialNumber}`);
      const attributes = { addedToOrgDateTime: t, updatedDateTime: t, orderDateTime: t, purchaseSourceType: 'APPLE', ...d.attributes, serialNumber: d.serialNumber };
      this.devices.set(d.serialNumber, { serialNumber: d.serialNumber, assignedServerId: serverId, attributes });
    }
  }

  /** Current attributes of a device (status follows its assignment). */
  deviceAttributes(d: AbmSimDevice): Record<string, unknown> {
    const a: Record<string, unknown> = { ...d.attributes, status: d.assignedServerId === null ? 'UNASSIGNED' : 'ASSIGNED' };
    for (const [k, v] of Object.entries(a)) if (v === undefined) delete a[k];
    return a;
  }

  serialsOf(serverId: string): string[] {
    const out: string[] = [];
    for (const d of this.devices.values()) if (d.assignedServerId === serverId) out.push(d.serialNumber);
    return out;
  }

  /** Issues a bearer token. */
  issueToken(ttlSec: number): string {
    const token = randomBytes(32).toString('base64url');
    this.tokens.set(token, this.now() + ttlSec * 1000);
    this.tokensIssued++;
    return token;
  }

  tokenValid(token: string | undefined): boolean {
    if (token === undefined) return false;
    const exp = this.tokens.get(token);
    return exp !== undefined && this.now() < exp;
  }

  /** Creates an activity (already validated); the faults decide how it ends. */
  createActivity(type: AbmActivityType, serverId: string, serials: string[]): SimActivity {
    let outcome: Outcome = 'success';
    if ((this.faults.failActivities ?? 0) > 0) {
      outcome = 'fail';
      this.faults.failActivities = (this.faults.failActivities ?? 1) - 1;
    } else if ((this.faults.stopActivities ?? 0) > 0) {
      outcome = 'stop';
      this.faults.stopActivities = (this.faults.stopActivities ?? 1) - 1;
    }
    const a: SimActivity = {
      id: this.idFor('activity', this.activities.size + 1).toLowerCase(),
      type,
      serverId,
      serials,
      createdAt: this.now(),
      outcome,
      downloadSig: randomBytes(16).toString('hex'),
    };
    this.activities.set(a.id, a);
    return a;
  }

  /** Status and sub-status of an activity at the current time. */
  activityState(a: SimActivity): { status: AbmActivityStatus; subStatus: AbmActivitySubStatus; completedAt?: number } {
    const step = Math.floor((this.now() - a.createdAt) / this.stepMs);
    const at = (n: number): number => a.createdAt + n * this.stepMs;
    if (a.outcome === 'stop') {
      if (step >= 3) return { status: 'STOPPED', subStatus: 'STOPPING', completedAt: at(3) };
      return { status: 'IN_PROGRESS', subStatus: (['SUBMITTED', 'PRE_PROCESSING', 'STOPPING'] as const)[step] ?? 'STOPPING' };
    }
    if (a.outcome === 'fail') {
      if (step >= 4) return { status: 'FAILED', subStatus: 'COMPLETED_WITH_FAILURE', completedAt: at(4) };
      return { status: 'IN_PROGRESS', subStatus: (['SUBMITTED', 'PRE_PROCESSING', 'PENDING', 'PROCESSING'] as const)[step] ?? 'PROCESSING' };
    }
    if (step >= STEPS_TO_COMPLETE) {
      const anyFailed = a.results?.some((r) => r.status === 'FAILED') ?? false;
      return { status: 'COMPLETED', subStatus: anyFailed ? 'COMPLETED_WITH_ERROR' : 'COMPLETED_WITH_SUCCESS', completedAt: at(STEPS_TO_COMPLETE) };
    }
    return { status: 'IN_PROGRESS', subStatus: (['SUBMITTED', 'PRE_PROCESSING', 'PENDING', 'PROCESSING', 'POST_PROCESSING'] as const)[step] ?? 'POST_PROCESSING' };
  }

  /** Carries out every activity whose completion time has passed, oldest first. */
  settle(): void {
    // The move hook may read the organisation (inspect settles too): never complete an activity twice.
    if (this.settling) return;
    this.settling = true;
    try {
      this.settleDue();
    } finally {
      this.settling = false;
    }
  }

  private settling = false;

  private settleDue(): void {
    const due = [...this.activities.values()]
      .filter((a) => a.outcome === 'success' && a.results === undefined && this.now() - a.createdAt >= STEPS_TO_COMPLETE * this.stepMs)
      .sort((x, y) => x.createdAt - y.createdAt);
    for (const a of due) this.complete(a);
  }

  private notifyMove(serial: string, from: string | null, to: string | null): void {
    try {
      this.onMove?.(serial, from, to);
    } catch (err) {
      this.hookErrors.push(`${serial}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  private complete(a: SimActivity): void {
    const failed = new Set(this.faults.failedSerials ?? []);
    const stamp = new Date(a.createdAt + STEPS_TO_COMPLETE * this.stepMs).toISOString();
    a.results = a.serials.map((serial) => {
      const d = this.devices.get(serial);
      if (d === undefined) return { serial, status: 'FAILED' as const, message: 'Device is no longer in the organization' };
      if (failed.has(serial)) return { serial, status: 'FAILED' as const, message: 'Simulated failure for this device' };
      const from = d.assignedServerId;
      if (a.type === 'UNASSIGN_DEVICES') {
        if (from !== a.serverId) return { serial, status: 'FAILED' as const, message: 'Device is not assigned to this device management service' };
        d.assignedServerId = null;
      } else {
        if (!this.servers.has(a.serverId)) return { serial, status: 'FAILED' as const, message: 'Device management service no longer exists' };
        d.assignedServerId = a.serverId;
      }
      d.attributes.updatedDateTime = stamp;
      if (from !== d.assignedServerId) this.notifyMove(serial, from, d.assignedServerId);
      return { serial, status: 'SUCCESS' as const, message: '' };
    });
  }
}
