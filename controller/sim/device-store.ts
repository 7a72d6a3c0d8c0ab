/**
 * Column-wise storage of the simulated devices. Index `i` is a device; what never changes is derived
 * from the seed (fleet.ts), what does change lives in typed arrays, and devices given explicit
 * attributes by a portal action keep them in a small override map. A million devices cost roughly
 * 25 bytes each instead of a few hundred for plain objects.
 */
import type { Device } from '../dep/types.js';
import { generateDevice, indexOfSerial, MAX_GENERATED_DEVICES } from './fleet.js';

/** `profile_status` values by their stored code. */
export const PROFILE_STATUSES = ['empty', 'assigned', 'pushed', 'removed'] as const;

/** Stored code of a profile status. */
export type StatusCode = 0 | 1 | 2 | 3;

/** Device attributes a portal action may set explicitly (everything but state and sync fields). */
export type DeviceOverrides = Omit<Partial<Device>, 'profile_uuid' | 'profile_status' | 'profile_assign_time' | 'profile_push_time' | 'device_assigned_date' | 'op_type' | 'op_date'>;

/** The os Apple reports for each family (iPads: iPadOS from protocol v7). */
const FAMILY_OS: Record<string, string> = { iPad: 'iPadOS', iPhone: 'iOS', iPod: 'iOS', Mac: 'OSX', AppleTV: 'tvOS', Vision: 'visionOS', Watch: 'watchOS' };

const GROWN = ['present', 'disowned', 'status', 'profile', 'assignTime', 'pushTime', 'assignedDate', 'lastEvent'] as const;

/** Growable typed-array columns plus the override map. */
export class DeviceStore {
  /** Number of device slots in use (present or not). */
  count = 0;
  /** 1 when the device is on this MDM server. */
  present = new Uint8Array(0);
  /** 1 once disowned (permanent, Apple: "disowning is permanent"). */
  disowned = new Uint8Array(0);
  /** StatusCode of `profile_status`. */
  status = new Uint8Array(0);
  /** Index into the profile table, -1 for none. */
  profile = new Int32Array(0);
  /** `profile_assign_time`, epoch seconds. */
  assignTime = new Uint32Array(0);
  /** `profile_push_time`, epoch seconds. */
  pushTime = new Uint32Array(0);
  /** `device_assigned_date`, epoch seconds. */
  assignedDate = new Uint32Array(0);
  /** Position of the device's latest entry in the event log. */
  lastEvent = new Int32Array(0);
  private readonly overrides = new Map<number, DeviceOverrides>();
  private readonly customSerials = new Map<string, number>();

  /**
   * @param base generator index of slot 0 (0 for a lone server; a group gives each server its own
   *   window, see fleet.ts generatorBaseForWindow).
   * @param capacity most slots this store may use before its serials would enter another window.
   */
  constructor(
    readonly seed: number,
    readonly orgDomain: string,
    readonly base = 0,
    readonly capacity = Infinity,
  ) {}

  /** The generator index of slot `index`. */
  private generated(index: number): number {
    return this.base === 0 ? index : (this.base + index) % MAX_GENERATED_DEVICES;
  }

  /** Makes room for `extra` more devices and returns the first new index. */
  allocate(extra: number): number {
    const need = this.count + extra;
    if (need > this.capacity) throw new RangeError(`at most ${this.capacity} devices on this server`);
    if (need > this.present.length) {
      let cap = Math.max(1024, this.present.length);
      while (cap < need) cap *= 2;
      for (const key of GROWN) {
        const old = this[key];
        const grown = new (old.constructor as new (n: number) => typeof old)(cap);
        grown.set(old as never);
        (this as Record<string, unknown>)[key] = grown;
      }
      this.profile.fill(-1, this.count);
    }
    const first = this.count;
    this.count = need;
    return first;
  }

  /** Gives device `index` explicit attributes (its serial too, when set). */
  setOverrides(index: number, overrides: DeviceOverrides): void {
    this.overrides.set(index, overrides);
    if (overrides.serial_number !== undefined) this.customSerials.set(overrides.serial_number, index);
  }

  /** The serial of device `index`. */
  serialOf(index: number): string {
    return this.overrides.get(index)?.serial_number ?? generateDevice(this.seed, this.generated(index), this.orgDomain).serial_number;
  }

  /** Index of the device with this serial, or -1 (O(1): the generated serials are invertible). */
  indexOf(serial: string): number {
    const custom = this.customSerials.get(serial);
    if (custom !== undefined) return custom;
    const g = indexOfSerial(this.seed, serial);
    const i = g < 0 || this.base === 0 ? g : (g - this.base + MAX_GENERATED_DEVICES) % MAX_GENERATED_DEVICES;
    if (i < 0 || i >= this.count || this.overrides.get(i)?.serial_number !== undefined) return -1;
    return i;
  }

  /** Whether a serial is already taken by an existing device. */
  hasSerial(serial: string): boolean {
    return this.indexOf(serial) >= 0;
  }

  /**
   * Renders device `index` as Apple would for protocol `version`: `os`/`device_family` from v2,
   * iPads as `iPadOS` from v7, radios and replacement flags from v10 (dep-protocol.md §2 table).
   */
  render(index: number, version: number, profileUuid: (profileIndex: number) => string | undefined): Device {
    const g = generateDevice(this.seed, this.generated(index), this.orgDomain);
    const o = this.overrides.get(index) ?? {};
    const d: Device = {
      serial_number: o.serial_number ?? g.serial_number,
      model: o.model ?? g.model,
      description: o.description ?? g.description,
      color: o.color ?? g.color,
    };
    if (o.asset_tag !== undefined) d.asset_tag = o.asset_tag;
    if (version >= 2) {
      const family = o.device_family ?? g.entry.family;
      // A device added with only a family gets that family's os, never the generated product's.
      let os = o.os ?? (o.device_family !== undefined ? (FAMILY_OS[o.device_family] ?? g.entry.os) : g.entry.os);
      if (os === 'iPadOS' && version < 7) os = 'iOS';
      d.os = os;
      d.device_family = family;
    }
    const status = (this.status[index] ?? 0) as StatusCode;
    d.profile_status = PROFILE_STATUSES[status];
    const p = this.profile[index] ?? -1;
    if (p >= 0) {
      const uuid = profileUuid(p);
      if (uuid !== undefined) d.profile_uuid = uuid;
      d.profile_assign_time = isoSeconds(this.assignTime[index] ?? 0);
    }
    if (status === 2) d.profile_push_time = isoSeconds(this.pushTime[index] ?? 0);
    d.device_assigned_by = o.device_assigned_by ?? g.device_assigned_by;
    d.device_assigned_date = isoSeconds(this.assignedDate[index] ?? 0);
    if (version >= 8 && o.mdm_migration_deadline !== undefined) d.mdm_migration_deadline = o.mdm_migration_deadline;
    if (version >= 10) {
      // A device given its own product (the `in` checks) has exactly that product's radios: a Mac
      // seeded over a generated iPhone slot must not inherit the iPhone's IMEI.
      const imei = 'imei' in o ? o.imei : g.imei;
      if (imei !== undefined) d.imei = imei;
      if (o.meid !== undefined) d.meid = o.meid;
      const eid = 'eid' in o ? o.eid : g.eid;
      if (eid !== undefined) d.eid = eid;
      d.wifi_mac_address = o.wifi_mac_address ?? g.wifi_mac_address;
      d.bluetooth_mac_address = o.bluetooth_mac_address ?? g.bluetooth_mac_address;
      const eth = 'ethernet_mac_address' in o ? o.ethernet_mac_address : g.ethernet_mac_address;
      if (eth !== undefined) d.ethernet_mac_address = eth;
      d.is_replacement_device = o.is_replacement_device ?? false;
    }
    return d;
  }
}

const TWO_DIGITS = Array.from({ length: 60 }, (_, i) => String(i).padStart(2, '0'));
let cachedDay = NaN;
let cachedDayPrefix = '';

/**
 * ISO 8601 UTC with whole seconds, as every Apple timestamp (`2018-09-08T16:49:09Z`). The date part
 * is cached per day because fleet pages render thousands of timestamps.
 */
export function isoSeconds(epochSec: number): string {
  const day = Math.floor(epochSec / 86400);
  if (day !== cachedDay) {
    cachedDay = day;
    cachedDayPrefix = new Date(day * 86_400_000).toISOString().slice(0, 11);
  }
  const s = epochSec - day * 86400;
  return `${cachedDayPrefix}${TWO_DIGITS[Math.floor(s / 3600)]}:${TWO_DIGITS[Math.floor(s / 60) % 60]}:${TWO_DIGITS[s % 60]}Z`;
}
