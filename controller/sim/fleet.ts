/**
 * The seeded fleet generator. Device `i` of a fleet is a pure function of `(seed, i)`: its serial,
 * product, colour, radios and assigning administrator are recomputed on demand, so the simulator only
 * stores what changes (profile, presence, dates) in typed arrays. Same seed, same fleet.
 */
import { CATALOG, CATALOG_CUMULATIVE, type CatalogEntry, SERIAL_ALPHABET, SERIAL_PREFIXES } from './catalog.js';
import { hash32, pickWeighted, unit } from './rng.js';

const BASE = SERIAL_ALPHABET.length; // 34
/** 34^5: the 5 middle serial characters encode a permutation of the device index. */
const SERIAL_SPACE = BASE ** 5;
/** Multiplier coprime with 34^5 (odd and not a multiple of 17), so `i -> i*A+B mod 34^5` is a bijection. */
const MUL = 7761943;
const MUL_INVERSE = modInverse(MUL, SERIAL_SPACE);

/** Salts that keep each derived attribute independent. */
const SALT = { catalog: 1, description: 2, color: 3, prefix: 4, config: 5, admin: 6, radio: 7, date: 8, offset: 9 } as const;

/** The largest fleet the serial scheme supports without collisions. */
export const MAX_GENERATED_DEVICES = SERIAL_SPACE;

/** Attributes of a generated device that never change. */
export interface GeneratedDevice {
  serial_number: string;
  model: string;
  description: string;
  color: string;
  entry: CatalogEntry;
  device_assigned_by: string;
  imei?: string[];
  eid?: string;
  wifi_mac_address: string;
  bluetooth_mac_address: string;
  ethernet_mac_address?: string;
}

function modInverse(a: number, m: number): number {
  let [oldR, r] = [a, m];
  let [oldS, s] = [1, 0];
  while (r !== 0) {
    const q = Math.floor(oldR / r);
    [oldR, r] = [r, oldR - q * r];
    [oldS, s] = [s, oldS - q * s];
  }
  return ((oldS % m) + m) % m;
}

function mulMod(a: number, b: number, m: number): number {
  // a, b < 34^5 < 2^26, so a*b < 2^52 stays exact in a double.
  return (a * b) % m;
}

function offsetFor(seed: number): number {
  return hash32(seed, 0, SALT.offset) % SERIAL_SPACE;
}

/**
 * The generator index at which a fleet of `seed` starts so that its serials' middle characters fall
 * in window `[windowStart, windowStart + n)` of the index permutation. Fleets of one simulator group
 * start in disjoint windows, so no two servers ever generate the same serial, whatever their seeds
 * (a real device is on one MDM server only).
 */
export function generatorBaseForWindow(seed: number, windowStart: number): number {
  // serialFor's middle is i*MUL + offset; multiplied by MUL's inverse it is i + offset*MUL^-1, so the
  // window of index i is shifted by that constant.
  const shift = mulMod(offsetFor(seed), MUL_INVERSE, SERIAL_SPACE);
  return (((windowStart - shift) % SERIAL_SPACE) + SERIAL_SPACE) % SERIAL_SPACE;
}

/** The serial of generated device `index`: a 3-char prefix, 5 chars encoding the index, 4 config chars. */
export function serialFor(seed: number, index: number): string {
  let mid = (mulMod(index, MUL, SERIAL_SPACE) + offsetFor(seed)) % SERIAL_SPACE;
  let middle = '';
  for (let k = 0; k < 5; k++) {
    middle = SERIAL_ALPHABET[mid % BASE] + middle;
    mid = Math.floor(mid / BASE);
  }
  const prefix = SERIAL_PREFIXES[hash32(seed, index, SALT.prefix) % SERIAL_PREFIXES.length];
  let config = '';
  const h = hash32(seed, index, SALT.config);
  for (let k = 0; k < 4; k++) config += SERIAL_ALPHABET[(h >>> (k * 8)) % BASE];
  return `${prefix}${middle}${config}`;
}

/**
 * Inverts serialFor: returns the index whose generated serial is `serial`, or -1. Lookups therefore
 * need no serial-to-index map, whatever the fleet size.
 */
export function indexOfSerial(seed: number, serial: string): number {
  if (serial.length !== 12) return -1;
  let mid = 0;
  for (let k = 3; k < 8; k++) {
    const d = SERIAL_ALPHABET.indexOf(serial.charAt(k));
    if (d < 0) return -1;
    mid = mid * BASE + d;
  }
  const shifted = (mid - offsetFor(seed) + SERIAL_SPACE) % SERIAL_SPACE;
  const index = mulMod(shifted, MUL_INVERSE, SERIAL_SPACE);
  return serialFor(seed, index) === serial ? index : -1;
}

/** Lookup tables: rendering a page of 1000 devices must not be dominated by number formatting. */
const HEX2 = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));
const DEC3 = Array.from({ length: 1000 }, (_, i) => String(i).padStart(3, '0'));

function macAddress(seed: number, index: number, salt: number): string {
  const h = hash32(seed, index, SALT.radio * 31 + salt);
  // Apple's OUI f0:18:98 keeps the addresses plausible; the rest is derived from the device.
  return `f0:18:98:${HEX2[h & 255]}:${HEX2[(h >>> 8) & 255]}:${HEX2[h >>> 24]}`;
}

function digits(seed: number, index: number, salt: number, count: number): string {
  let out = '';
  for (let k = 0; out.length < count; k++) out += DEC3[hash32(seed, index, salt * 131 + k) % 1000];
  return out.slice(0, count);
}

const adminCache = new Map<string, readonly string[]>();

function adminsOf(orgDomain: string): readonly string[] {
  let a = adminCache.get(orgDomain);
  if (a === undefined) {
    a = [`it-admin@${orgDomain}`, `dep-manager@${orgDomain}`, `procurement@${orgDomain}`, 'system_user'];
    adminCache.set(orgDomain, a);
  }
  return a;
}

/** Derives every fixed attribute of generated device `index`. */
export function generateDevice(seed: number, index: number, orgDomain: string): GeneratedDevice {
  const entry = CATALOG[pickWeighted(CATALOG_CUMULATIVE, unit(seed, index, SALT.catalog))] as CatalogEntry;
  const color = entry.colors[hash32(seed, index, SALT.color) % entry.colors.length] as string;
  const template = entry.descriptions[hash32(seed, index, SALT.description) % entry.descriptions.length] as string;
  const admins = adminsOf(orgDomain);
  const device: GeneratedDevice = {
    serial_number: serialFor(seed, index),
    model: entry.model,
    description: template.replace('{C}', color),
    color,
    entry,
    device_assigned_by: admins[hash32(seed, index, SALT.admin) % admins.length] as string,
    wifi_mac_address: macAddress(seed, index, 1),
    bluetooth_mac_address: macAddress(seed, index, 2),
  };
  if (entry.cellular && (entry.family === 'iPhone' || template.includes('CELLULAR'))) {
    device.imei = [`35${digits(seed, index, 11, 13)}`];
    device.eid = `8904${digits(seed, index, 12, 28)}`;
  }
  if (entry.ethernet) device.ethernet_mac_address = macAddress(seed, index, 3);
  return device;
}

/**
 * Fills `out` with the assignment dates (epoch seconds) of the first `count` generated devices,
 * spread in ascending order over the two years before `anchorSec`, as a fleet bought over time.
 */
export function fillAssignedDates(seed: number, count: number, anchorSec: number, out: Uint32Array): void {
  const span = 730 * 86400;
  const start = anchorSec - span;
  const step = count > 0 ? span / count : 0;
  for (let i = 0; i < count; i++) {
    out[i] = Math.floor(start + (i + unit(seed, i, SALT.date) * 0.999) * step);
  }
}
