import type { EnrollmentProfile } from '../config/types.js';
import type { Device } from '../dep/types.js';
import { isProfileNotFound } from '../dep/errors.js';
import type { ApplyStore, CallOptions, DefineStore, DeviceScanStore, ReconcileDepClient } from './ports.js';
import { currentProfileUuid } from './diff.js';
import { profileContentHash } from './profile-content.js';
import { recordAdoption } from './adopt-records.js';

/** What GET /profile said about one UUID: its content hash and Apple's name, or null when Apple does not know it. */
export type LookedUpProfile = { contentHash: string; name: unknown } | null;

/**
 * Reads each UUID back from Apple once (GET /profile), in the given order. A UUID Apple no longer knows
 * (NOT_FOUND) maps to null; any other failure (network, 5xx) is thrown, so the caller's question stays open
 * for the next pass rather than being answered "not there" and the content defined a second time.
 */
async function lookUpProfiles(uuids: Iterable<string>, client: Pick<ReconcileDepClient, 'getProfile'>, opts: CallOptions): Promise<Map<string, LookedUpProfile>> {
  const out = new Map<string, LookedUpProfile>();
  for (const uuid of uuids) {
    try {
      const profile = await client.getProfile(uuid, opts);
      out.set(uuid, { contentHash: profileContentHash(profile), name: profile.profile_name });
    } catch (err) {
      if (!isProfileNotFound(err)) throw err;
      out.set(uuid, null);
    }
  }
  return out;
}

/**
 * Finishes defines that a crash interrupted. A `defining` row means depctl may have called POST /profile
 * without recording the UUID Apple returned. Apple has no way to list profiles, but depctl always sends the
 * first devices with the define, so those devices now carry the new UUID: a UUID seen on devices that
 * depctl does not know, whose content (GET /profile) hashes to the row's hash, is that profile. If none is
 * found the define never reached Apple (or reached no device) and the row is dropped, to be defined again.
 * A recovered define is audited (`recover-define`), so the audit log has a row for every profile Apple defined.
 */
export async function recoverDefines(server: string, client: ReconcileDepClient, store: DefineStore & DeviceScanStore, opts: CallOptions & { now: () => Date }): Promise<number> {
  const pending = await store.listProfiles(server, { state: 'defining' });
  if (pending.length === 0) return 0;
  const known = new Set((await store.listProfiles(server, { state: 'defined' })).map((p) => p.uuid));
  const candidates = new Set<string>();
  for await (const page of store.iterateDevices(server)) {
    for (const d of page) {
      const uuid = currentProfileUuid(d.device);
      if (uuid && !known.has(uuid)) candidates.add(uuid);
    }
  }
  const hashes = new Map<string, string>();
  for (const [uuid, found] of await lookUpProfiles(candidates, client, opts)) if (found) hashes.set(found.contentHash, uuid);
  let recovered = 0;
  for (const p of pending) {
    const key = { server, name: p.name, contentHash: p.contentHash };
    const uuid = hashes.get(p.contentHash);
    if (uuid) {
      const at = opts.now();
      await store.completeDefine(key, uuid, at, { runId: null, server, serial: null, action: 'recover-define', before: null, after: uuid, outcome: 'success', appleStatus: null, at });
      recovered++;
    } else {
      await store.abandonDefine(key);
    }
  }
  return recovered;
}

/** GET /profile calls a first contact spends at most per server and pass looking for profiles to adopt. */
export const MAX_ADOPT_LOOKUPS = 50;

/** What adopting profiles on first contact needs from the store: the define records and the audit log. */
export type AdoptProfilesStore = DefineStore & DeviceScanStore & Pick<ApplyStore, 'appendAudit'>;

/** What {@link adoptCarriedProfiles} did. */
export interface AdoptedOnFirstContact {
  /** The profiles recorded as defined with the UUID Apple already has, by name. */
  adopted: { profile: string; uuid: string }[];
  /** Every UUID read back from Apple (null: unknown to Apple), so the pass does not ask again to name it. */
  lookedUp: Map<string, LookedUpProfile>;
}

/**
 * On first contact with a server (the store holds no profile record for it: a new or lost state store), adopts
 * the profiles Apple already has instead of defining every configured profile again: each distinct UUID the
 * devices carry is read back (GET /profile; those on the most devices first, at most MAX_ADOPT_LOOKUPS), and a
 * UUID whose canonical content hash equals a configured profile's hash for this server is recorded as that
 * profile's define (as `depctl import` records what it adopts) and audited as `adopt-profile`. The diff then
 * sees the devices carrying it as unchanged. `carried` counts devices per UUID when the caller already has them
 * (the streamed first fetch); otherwise the stored devices are read. A content on several UUIDs is adopted
 * with the one on the most devices (the store maps a content to one UUID); two configured profiles with the
 * same content adopt it for the first by name. Failures other than NOT_FOUND are thrown (see lookUpProfiles).
 */
export async function adoptCarriedProfiles(
  input: { server: string; profiles: ReadonlyMap<string, { profile: Pick<EnrollmentProfile, 'profile'>; contentHash: string }>; carried?: ReadonlyMap<string, number> },
  client: Pick<ReconcileDepClient, 'getProfile'>,
  store: AdoptProfilesStore,
  opts: CallOptions & { now: () => Date },
): Promise<AdoptedOnFirstContact> {
  const { server } = input;
  const none: AdoptedOnFirstContact = { adopted: [], lookedUp: new Map() };
  if (input.profiles.size === 0 || (await store.listProfiles(server)).length > 0) return none;
  const carried = input.carried ?? (await countCarried(server, store));
  const uuids = [...carried].sort(([a, n], [b, m]) => m - n || a.localeCompare(b)).slice(0, MAX_ADOPT_LOOKUPS).map(([uuid]) => uuid);
  const lookedUp = await lookUpProfiles(uuids, client, opts);
  const byHash = new Map<string, string>();
  for (const [name, p] of [...input.profiles].sort(([a], [b]) => a.localeCompare(b))) if (!byHash.has(p.contentHash)) byHash.set(p.contentHash, name);
  const adopted: { name: string; uuid: string }[] = [];
  for (const uuid of uuids) {
    const found = lookedUp.get(uuid);
    const name = found ? byHash.get(found.contentHash) : undefined;
    if (name === undefined || adopted.some((a) => a.name === name)) continue;
    adopted.push({ name, uuid });
  }
  if (adopted.length === 0) return { adopted: [], lookedUp };
  const loaded = adopted.map((a) => ({ name: a.name, profile: (input.profiles.get(a.name) as { profile: Pick<EnrollmentProfile, 'profile'> }).profile.profile }));
  await recordAdoption(store, { server, adopted, loaded, now: opts.now });
  const at = opts.now();
  await store.appendAudit(adopted.map((a) => ({ runId: null, server, serial: null, action: 'adopt-profile', before: null, after: a.uuid, outcome: 'success' as const, appleStatus: null, at })));
  return { adopted: adopted.map((a) => ({ profile: a.name, uuid: a.uuid })), lookedUp };
}

/** Adds the profile UUIDs `devices` carry to `counts` (devices per UUID), e.g. page by page as a fetch streams them. */
export function countCarriedUuids(counts: Map<string, number>, devices: readonly Device[]): void {
  for (const d of devices) {
    const uuid = currentProfileUuid(d);
    if (uuid !== null) counts.set(uuid, (counts.get(uuid) ?? 0) + 1);
  }
}

/** Devices per profile UUID they carry, from the stored devices. */
async function countCarried(server: string, store: DeviceScanStore): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for await (const page of store.iterateDevices(server)) countCarriedUuids(counts, page.map((d) => d.device));
  return counts;
}
