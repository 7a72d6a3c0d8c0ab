/**
 * Seeding a simulator group from a depctl config, for demos and the quickstart (`depctl sim
 * --config DIR`): every serial an Assignment lists is put on one of the assignment's servers, as a
 * device whose product fits the profile it is meant to get. The config is read through the small
 * structural shape below (config/types.ts DepConfig fits it), so sim/ keeps importing dep types only.
 *
 * The product heuristic (a demo aid, not Apple behaviour): the profile's config name, then its
 * `profile_name`, is searched case-insensitively for `ipad` (iPad), `mac` (Mac), `tv` (Apple TV) and
 * `iphone` (iPhone), in that order; the first text with a hit decides. Without a hit the device is
 * drawn from the generator's usual mix. Model, description, colour, os and radios always come from
 * one catalogue product, so they agree; the same serial always gets the same product.
 */
import { createHash } from 'node:crypto';
import type { Device } from '../dep/types.js';
import type { CatalogEntry } from './catalog.js';
import { generateDevice, type GeneratedDevice } from './fleet.js';
import { ORG_DOMAIN } from './server-context.js';

/** The parts of a depctl config that seeding reads. */
export interface SeedConfig {
  servers: readonly { name: string }[];
  profiles: readonly { name: string; profile: { profile_name?: string } }[];
  assignments: readonly { name: string; profile: string; servers: readonly string[]; serials: readonly string[] }[];
}

/** Device families the heuristic can pick. */
export type DemoFamily = Extract<CatalogEntry['family'], 'iPad' | 'Mac' | 'AppleTV' | 'iPhone'>;

/** Keywords in the order they are tried. */
const KEYWORDS: readonly (readonly [string, DemoFamily])[] = [
  ['ipad', 'iPad'],
  ['mac', 'Mac'],
  ['tv', 'AppleTV'],
  ['iphone', 'iPhone'],
];

/** The family a profile's devices are assumed to be, or undefined for the generator's mix. */
export function familyForProfile(name: string, profileName?: string): DemoFamily | undefined {
  for (const text of [name, profileName ?? '']) {
    const lower = text.toLowerCase();
    for (const [keyword, family] of KEYWORDS) if (lower.includes(keyword)) return family;
  }
  return undefined;
}

/** Tries before giving up on a family (Apple TVs are 1.5% of the mix: ~70 tries on average). */
const MAX_TRIES = 10_000;

function serialSeed(serial: string): number {
  return Number.parseInt(createHash('sha256').update(`depctl-sim-config:${serial}`).digest('hex').slice(0, 8), 16);
}

/** A generated device's fixed attributes as explicit ones; absent radios are set absent on purpose. */
function explicit(serial: string, g: GeneratedDevice): Partial<Device> {
  return {
    serial_number: serial,
    model: g.model,
    description: g.description,
    color: g.color,
    device_family: g.entry.family,
    os: g.entry.os,
    device_assigned_by: g.device_assigned_by,
    imei: g.imei,
    eid: g.eid,
    wifi_mac_address: g.wifi_mac_address,
    bluetooth_mac_address: g.bluetooth_mac_address,
    ethernet_mac_address: g.ethernet_mac_address,
  };
}

/** A device record for `serial` of `family` (or of the usual mix), the same for the same serial. */
export function deviceForSerial(serial: string, family?: DemoFamily): Partial<Device> {
  const seed = serialSeed(serial);
  let g = generateDevice(seed, 0, ORG_DOMAIN);
  for (let k = 1; family !== undefined && g.entry.family !== family && k < MAX_TRIES; k++) g = generateDevice(seed, k, ORG_DOMAIN);
  return explicit(serial, g);
}

/** What seeding puts on each server. */
export interface ConfigSeeding {
  /** Devices per server name (every given server has an entry, maybe empty). */
  devices: Map<string, Partial<Device>[]>;
  /** Listed serials left out because none of their assignment's servers is in the group. */
  skipped: number;
}

/**
 * Places every serial the config's assignments list: on the first of the assignment's servers
 * that is in `serverNames` (a real device is on one MDM server, so an assignment spanning several
 * servers cannot put one serial on each). A serial listed twice stays where it was first placed.
 */
export function seedFromConfig(config: SeedConfig, serverNames: readonly string[]): ConfigSeeding {
  const devices = new Map<string, Partial<Device>[]>(serverNames.map((n) => [n, []]));
  const placed = new Set<string>();
  const unplaced = new Set<string>();
  for (const a of config.assignments) {
    const target = a.servers.find((s) => devices.has(s));
    const profile = config.profiles.find((p) => p.name === a.profile);
    const family = familyForProfile(a.profile, profile?.profile.profile_name);
    for (const serial of a.serials) {
      if (placed.has(serial)) continue;
      if (target === undefined) {
        unplaced.add(serial);
        continue;
      }
      placed.add(serial);
      devices.get(target)?.push(deviceForSerial(serial, family));
    }
  }
  return { devices, skipped: [...unplaced].filter((s) => !placed.has(s)).length };
}
