import { isProfileNotFound } from '../dep/errors.js';
import type { CallOptions, DefineStore, DeviceScanStore, ReconcileDepClient } from './ports.js';
import { currentProfileUuid } from './diff.js';
import { profileContentHash } from './profile-content.js';

/**
 * Finishes defines that a crash interrupted. A `defining` row means depctl may have called POST /profile
 * without recording the UUID Apple returned. Apple has no way to list profiles, but depctl always sends the
 * first devices with the define, so those devices now carry the new UUID: a UUID seen on devices that
 * depctl does not know, whose content (GET /profile) hashes to the row's hash, is that profile. If none is
 * found the define never reached Apple (or reached no device) and the row is dropped, to be defined again.
 */
export async function recoverDefines(server: string, client: ReconcileDepClient, store: DefineStore & DeviceScanStore, opts: CallOptions & { now: () => Date }): Promise<number> {
  const pending = await store.listProfiles(server, { state: 'defining' });
  if (pending.length === 0) return 0;
  const known = new Set((await store.listProfiles(server, { state: 'defined' })).map((p) => p.uuid));
  const candidates = new Set<string>();
  for await (const page of store.iterateDevices(server, { pageSize: 5000 })) {
    for (const d of page) {
      const uuid = currentProfileUuid(d.device);
      if (uuid && !known.has(uuid)) candidates.add(uuid);
    }
  }
  const hashes = new Map<string, string>();
  for (const uuid of candidates) {
    try {
      hashes.set(profileContentHash(await client.getProfile(uuid, opts)), uuid);
    } catch (err) {
      // A UUID Apple no longer knows is simply not a candidate. Any other failure (network, 5xx) leaves the
      // question open: keep the `defining` rows for the next pass rather than risk defining the content twice.
      if (!isProfileNotFound(err)) throw err;
    }
  }
  let recovered = 0;
  for (const p of pending) {
    const key = { server, name: p.name, contentHash: p.contentHash };
    const uuid = hashes.get(p.contentHash);
    if (uuid) {
      await store.completeDefine(key, uuid, opts.now());
      recovered++;
    } else {
      await store.abandonDefine(key);
    }
  }
  return recovered;
}
