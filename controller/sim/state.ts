/**
 * The simulated MDM server's state: devices (device-store.ts), the operation log (event-log.ts) and
 * the defined profiles. Every mutation that Apple would report through sync appends a log entry.
 */
import type { Device, FetchProfileWireResponse, Profile } from '../dep/types.js';
import { type DeviceOverrides, DeviceStore, type StatusCode } from './device-store.js';
import { EventLog, OP_TYPES, type OpCode } from './event-log.js';
import { fillAssignedDates, MAX_GENERATED_DEVICES } from './fleet.js';

/** A stored profile, as GET /profile returns it (the Profile plus its UUID, without `devices`). */
export type StoredProfile = FetchProfileWireResponse;

const OP_ADDED: OpCode = 0;
const OP_MODIFIED: OpCode = 1;
const OP_DELETED: OpCode = 2;

/** Options of the state model. */
export interface SimStateOptions {
  seed: number;
  orgDomain: string;
  /** Mints a fresh profile UUID (32 upper-case hex digits, like Apple's). */
  newProfileUuid: () => string;
  /** Generator index of the first device (a group's per-server window; default 0). */
  generatorBase?: number;
  /** Most device slots this server may use (a group's window size; default unbounded). */
  capacity?: number;
}

/** Devices, operation log and profiles of one simulated server. */
export class SimState {
  readonly devices: DeviceStore;
  readonly log = new EventLog();
  private readonly profiles: StoredProfile[] = [];
  private readonly profileByUuid = new Map<string, number>();

  constructor(private readonly opts: SimStateOptions) {
    this.devices = new DeviceStore(opts.seed, opts.orgDomain, opts.generatorBase ?? 0, opts.capacity ?? Infinity);
  }

  /** Generates the seeded fleet: `count` devices added over the two years before `anchorSec`. */
  seedFleet(count: number, anchorSec: number): void {
    if (count > MAX_GENERATED_DEVICES) throw new RangeError(`at most ${MAX_GENERATED_DEVICES} devices`);
    const first = this.devices.allocate(count);
    const dates = this.devices.assignedDate.subarray(first, first + count);
    fillAssignedDates(this.opts.seed, count, anchorSec, dates);
    this.log.reserve(count);
    for (let i = 0; i < count; i++) this.addedAt(first + i, dates[i] ?? anchorSec);
  }

  private addedAt(index: number, timeSec: number): void {
    this.devices.present[index] = 1;
    this.devices.assignedDate[index] = timeSec;
    this.devices.lastEvent[index] = this.log.append(index, OP_ADDED, timeSec);
  }

  private record(index: number, op: OpCode, timeSec: number): void {
    this.devices.lastEvent[index] = this.log.append(index, op, timeSec);
  }

  /** Adds `count` generated devices now (portal: devices bought and added to this server). */
  addGenerated(count: number, nowSec: number): number[] {
    const out: number[] = [];
    const first = this.devices.allocate(count);
    for (let i = first; i < first + count; i++) {
      // A generated serial may already have been given to a device added by hand: leave a hole.
      if (this.devices.indexOf(this.devices.serialOf(i)) !== i) continue;
      this.addedAt(i, nowSec);
      out.push(i);
    }
    return out;
  }

  /** Adds one device with explicit attributes (a generated serial when none is given). */
  addCustom(device: Partial<Device>, nowSec: number): number {
    if (device.serial_number !== undefined && this.devices.hasSerial(device.serial_number)) {
      throw new Error(`serial ${device.serial_number} already exists`);
    }
    let index = this.devices.allocate(1);
    // Without a serial the device takes its slot's generated one, unless a hand-given serial already
    // took it: then that slot stays a hole (never on the server) and the next one is used.
    while (device.serial_number === undefined && this.devices.indexOf(this.devices.serialOf(index)) !== index) index = this.devices.allocate(1);
    const overrides: DeviceOverrides = { ...device };
    for (const k of ['profile_uuid', 'profile_status', 'profile_assign_time', 'profile_push_time', 'device_assigned_date', 'op_type', 'op_date'] as const) {
      delete (overrides as Partial<Device>)[k];
    }
    this.devices.setOverrides(index, overrides);
    const date = device.device_assigned_date !== undefined ? Date.parse(device.device_assigned_date) / 1000 : NaN;
    this.addedAt(index, Number.isFinite(date) ? Math.floor(date) : nowSec);
    if (device.profile_uuid !== undefined) this.assign(index, this.adoptProfile(device.profile_uuid), nowSec, false);
    return index;
  }

  /** Whether device `index` is on this server (not moved away, not disowned). */
  isOnServer(index: number): boolean {
    return index >= 0 && this.devices.present[index] === 1;
  }

  /** Moves a device to another MDM server: Apple reports `deleted`. */
  moveAway(index: number, nowSec: number): void {
    if (!this.isOnServer(index)) return;
    this.devices.present[index] = 0;
    this.record(index, OP_DELETED, nowSec);
  }

  /**
   * Moves a device (known or not) to this server. Apple reports only `modified` here, never
   * `added` (micromdm wiki "DEP auto-assignment, reassignment oddities"). A device that was here before
   * comes back with the profile_uuid and profile_status Apple kept for it, although it may not get that
   * profile in Setup Assistant until it is assigned again (which is why Fleet assigns every arriving device
   * again: fleetdm/fleet server/mdm/apple/apple_mdm.go, processDeviceResponse); a device new to this
   * server has no profile here.
   */
  moveIn(serial: string, nowSec: number): number {
    let index = this.devices.indexOf(serial);
    if (index < 0) {
      index = this.devices.allocate(1);
      this.devices.setOverrides(index, { serial_number: serial });
    }
    if (this.devices.disowned[index] === 1) return -1;
    // Moving a device to the server it is already on changes nothing.
    if (this.isOnServer(index)) return index;
    this.devices.present[index] = 1;
    this.devices.assignedDate[index] = nowSec;
    this.record(index, OP_MODIFIED, nowSec);
    return index;
  }

  /** Disowns a device: permanent removal from the organisation (sync `deleted`). */
  disown(index: number, nowSec: number): void {
    this.devices.disowned[index] = 1;
    this.moveAway(index, nowSec);
  }

  private setStatus(index: number, profile: number, status: StatusCode): void {
    this.devices.profile[index] = profile;
    this.devices.status[index] = status;
  }

  /** Assigns profile number `profile` to a device (`profile_status` assigned, sync `modified`). */
  assign(index: number, profile: number, nowSec: number, emit = true): void {
    this.setStatus(index, profile, 1);
    this.devices.assignTime[index] = nowSec;
    if (emit) this.record(index, OP_MODIFIED, nowSec);
  }

  /** Clears a device's profile (`profile_status` removed); returns false when it had none. */
  clearProfile(index: number, nowSec: number): boolean {
    if ((this.devices.profile[index] ?? -1) < 0) return false;
    this.setStatus(index, -1, 3);
    this.record(index, OP_MODIFIED, nowSec);
    return true;
  }

  /** Marks a device as having pulled its profile during Setup Assistant (`pushed`). */
  markPushed(index: number, nowSec: number): void {
    if ((this.devices.profile[index] ?? -1) < 0) throw new Error('device has no profile to push');
    this.devices.status[index] = 2;
    this.devices.pushTime[index] = nowSec;
    this.record(index, OP_MODIFIED, nowSec);
  }

  /** Stores a new immutable profile under a fresh UUID and returns its number and UUID. */
  defineProfile(profile: Omit<Profile, 'devices'>, uuid = this.opts.newProfileUuid()): { index: number; uuid: string } {
    const index = this.profiles.push({ ...profile, profile_uuid: uuid }) - 1;
    this.profileByUuid.set(uuid, index);
    return { index, uuid };
  }

  /** The number of a profile known under `uuid`, defining a placeholder for one made elsewhere. */
  adoptProfile(uuid: string): number {
    return this.profileIndex(uuid) >= 0 ? this.profileIndex(uuid) : this.defineProfile({ profile_name: 'Defined elsewhere', url: 'https://mdm.invalid/enroll' }, uuid).index;
  }

  /** The number of a known profile, or -1 (unknown or forgotten). */
  profileIndex(uuid: string): number {
    return this.profileByUuid.get(uuid) ?? -1;
  }

  /** The stored profile, or undefined. */
  profile(uuid: string): StoredProfile | undefined {
    const i = this.profileIndex(uuid);
    return i >= 0 ? this.profiles[i] : undefined;
  }

  /** Number of profiles GET /profile still knows. */
  profileCount(): number {
    return this.profileByUuid.size;
  }

  /** Forgets a profile: GET answers NOT_FOUND, assign 404; devices keep showing its UUID. */
  forgetProfile(uuid: string): void {
    this.profileByUuid.delete(uuid);
  }

  /** Renders device `index` for protocol `version`. */
  render(index: number, version: number): Device {
    return this.devices.render(index, version, (p) => this.profiles[p]?.profile_uuid);
  }

  /** A fetch page: live devices of log positions [pos, end), at most `limit`. */
  fetchPage(pos: number, end: number, limit: number): { indices: number[]; next: number } {
    const { devices, next } = this.log.scanLive(pos, end, limit, (d, p) => this.devices.lastEvent[d] === p && this.devices.present[d] === 1);
    return { indices: devices, next };
  }

  /** A sync page: log entries from `pos`, at most `limit`, each with `op_type` and `op_date`. */
  syncPage(pos: number, limit: number, version: number): { devices: Device[]; next: number } {
    const end = Math.min(this.log.length, pos + limit);
    const devices: Device[] = [];
    for (let p = pos; p < end; p++) {
      const e = this.log.entry(p);
      const d = this.render(e.device, version);
      d.op_type = OP_TYPES[e.op];
      d.op_date = new Date(e.timeSec * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
      if (version >= 10 && e.op === OP_DELETED) d.released_by_replacement = false;
      devices.push(d);
    }
    return { devices, next: end };
  }
}
