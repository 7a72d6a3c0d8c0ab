/**
 * What one server's devices carry, read for `depctl import`: the stored devices (observe has just
 * refreshed them) grouped by the profile UUID they carry, with each UUID depctl does not manage read back
 * from Apple with GET /profile. Apple cannot list profiles, so the devices are the only way to find them.
 */
import { normaliseSerial } from '../config/serials.js';
import type { EnrollmentProfile } from '../config/types.js';
import { isProfileNotFound } from '../dep/errors.js';
import type { ForeignProfile } from './adopt.js';
import type { DefineStore, DeviceScanStore } from './ports.js';
import { currentProfileUuid } from './diff.js';
import type { CallOptions, ReconcileDepClient } from './ports.js';

/** The DEP call the live state needs. */
export interface LiveStateClient {
  getProfile: ReconcileDepClient['getProfile'];
}

/** What the live server holds, grouped by the profile devices carry. */
export interface LiveState {
  devices: number;
  withoutProfile: number;
  /** Devices carrying a profile depctl defined for a profile the config still has. */
  managed: number;
  /** Serials that cannot be written to a config (not 8–14 letters and digits), as Apple spells them. */
  oddSerials: string[];
  /** The profiles to adopt, by ascending UUID, each with the (normalised) serials carrying it. */
  foreign: ForeignProfile[];
  /** UUIDs Apple no longer knows (GET /profile: NOT_FOUND), with their device counts. */
  gone: { uuid: string; devices: number }[];
}

/**
 * Reads the live state of `server`. A device counts as managed when it carries a UUID the store records as
 * defined for a profile `profiles` still has on this server (this content or an earlier one: plan keeps or
 * replaces it); any other UUID is foreign and read back from Apple once, keeping the name the store
 * recorded for it (a previous import) as the preferred name. Errors other than NOT_FOUND propagate.
 */
export async function readLiveState(
  input: { server: string; profiles: readonly Pick<EnrollmentProfile, 'name' | 'servers'>[] },
  client: LiveStateClient,
  store: Pick<DefineStore, 'listProfiles'> & DeviceScanStore,
  opts: CallOptions = {},
): Promise<LiveState> {
  const { server } = input;
  const known = new Map((await store.listProfiles(server, { state: 'defined' })).filter((k) => k.uuid).map((k) => [k.uuid as string, k]));
  const configured = new Set(input.profiles.filter((p) => p.servers.includes(server)).map((p) => p.name));
  const live: LiveState = { devices: 0, withoutProfile: 0, managed: 0, oddSerials: [], foreign: [], gone: [] };
  const byUuid = new Map<string, string[]>();
  for await (const page of store.iterateDevices(server)) {
    for (const d of page) {
      live.devices++;
      const uuid = currentProfileUuid(d.device);
      if (uuid === null) {
        live.withoutProfile++;
        continue;
      }
      // A UUID depctl recorded for a profile the config still has (this content or an earlier one) is
      // depctl's own: plan keeps or replaces it, so it is not adopted again.
      const rec = known.get(uuid);
      if (rec && configured.has(rec.name)) {
        live.managed++;
        continue;
      }
      const serial = normaliseSerial(d.serial);
      if (serial === undefined) {
        live.oddSerials.push(d.serial);
        continue;
      }
      const group = byUuid.get(uuid);
      if (group) group.push(serial);
      else byUuid.set(uuid, [serial]);
    }
  }
  for (const [uuid, serials] of [...byUuid].sort(([a], [b]) => a.localeCompare(b))) {
    try {
      const profile = await client.getProfile(uuid, opts);
      const preferredName = known.get(uuid)?.name;
      live.foreign.push({ uuid, profile, serials, ...(preferredName ? { preferredName } : {}) });
    } catch (err) {
      if (!isProfileNotFound(err)) throw err;
      live.gone.push({ uuid, devices: serials.length });
    }
  }
  return live;
}
