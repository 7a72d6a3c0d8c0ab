import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openStore, type Store } from '../../../controller/store/index.js';
import { readLiveState, type LiveStateClient } from '../../../controller/reconcile/live-state.js';
import type { Profile } from '../../../controller/dep/types.js';
import { appleError, device, networkError, withProfile } from '../../helpers/reconcile-fakes.js';

const U_FOREIGN = '11111111111111111111111111111111';
const U_MACS = '22222222222222222222222222222222';
const U_PREVIOUS = '33333333333333333333333333333333';
const U_GONE = '44444444444444444444444444444444';
const U_OURS = '55555555555555555555555555555555';
const AT = new Date('2026-03-01T10:00:00Z');

type AppleProfile = Omit<Profile, 'devices'> & { profile_uuid: string };

/** Answers GET /profile from `profiles`; unknown UUIDs get Apple's 400 NOT_FOUND. Records every UUID asked. */
class FakeProfiles implements LiveStateClient {
  readonly asked: string[] = [];
  readonly profiles = new Map<string, AppleProfile>();
  error: Error | null = null;

  getProfile = async (uuid: string): Promise<AppleProfile> => {
    this.asked.push(uuid);
    if (this.error) throw this.error;
    const p = this.profiles.get(uuid);
    if (!p) throw appleError(400, 'NOT_FOUND', '/profile', 'GET');
    return p;
  };
}

const apple = (uuid: string, name: string): AppleProfile => ({ profile_uuid: uuid, profile_name: name, url: 'https://mdm.example.com/enroll' });

let store: Store;
let client: FakeProfiles;

async function defined(name: string, contentHash: string, uuid: string): Promise<void> {
  await store.beginDefine({ server: 'paris', name, contentHash, body: { profile_name: name, url: 'https://mdm.example.com/enroll' }, at: AT });
  await store.completeDefine({ server: 'paris', name, contentHash }, uuid, AT);
}

beforeEach(async () => {
  store = await openStore('memory:');
  client = new FakeProfiles();
});
afterEach(async () => {
  await store.close();
});

/** The config of these tests: `ipads` on paris, `macs` only on lyon. */
const profiles = [
  { name: 'ipads', servers: ['paris'] },
  { name: 'macs', servers: ['lyon'] },
];
const read = () => readLiveState({ server: 'paris', profiles }, client, store);

describe('readLiveState', () => {
  it('sorts the devices into managed, without profile, odd serials, foreign (read from Apple) and gone', async () => {
    await defined('ipads', 'hash-ipads', U_OURS);
    await defined('old-import', 'hash-old', U_PREVIOUS);
    await defined('macs', 'hash-macs', U_MACS);
    await store.upsertDevices(
      'paris',
      [
        withProfile('IPAD0001', U_OURS),
        withProfile('IPAD0002', U_OURS, { profile_status: 'pushed' }),
        device('IPAD0003'),
        // A removed profile is no longer carried.
        withProfile('IPAD0004', U_FOREIGN, { profile_status: 'removed' }),
        withProfile('MAC00002', U_FOREIGN),
        withProfile('mac00003', U_FOREIGN),
        withProfile('BAD-1', U_FOREIGN),
        withProfile('MAC00004', U_PREVIOUS),
        withProfile('MAC00005', U_MACS),
        withProfile('MAC00006', U_GONE),
        withProfile('MAC00007', U_GONE),
      ],
      AT,
    );
    client.profiles.set(U_FOREIGN, apple(U_FOREIGN, 'Staff Macs'));
    client.profiles.set(U_PREVIOUS, apple(U_PREVIOUS, 'Old'));
    client.profiles.set(U_MACS, apple(U_MACS, 'Macs'));

    expect(await read()).toEqual({
      devices: 11,
      withoutProfile: 2,
      managed: 2,
      oddSerials: ['BAD-1'],
      foreign: [
        // Serials are normalised to upper case for the config.
        { uuid: U_FOREIGN, profile: apple(U_FOREIGN, 'Staff Macs'), serials: ['MAC00002', 'MAC00003'] },
        // Recorded for a profile this server's config no longer has (or never had): foreign, keeping its name.
        { uuid: U_MACS, profile: apple(U_MACS, 'Macs'), serials: ['MAC00005'], preferredName: 'macs' },
        { uuid: U_PREVIOUS, profile: apple(U_PREVIOUS, 'Old'), serials: ['MAC00004'], preferredName: 'old-import' },
      ],
      gone: [{ uuid: U_GONE, devices: 2 }],
    });
    // One GET per UUID depctl does not manage, in UUID order; never for its own.
    expect(client.asked).toEqual([U_FOREIGN, U_MACS, U_PREVIOUS, U_GONE]);
  });

  it('a pending define does not make its UUID managed', async () => {
    await store.beginDefine({ server: 'paris', name: 'ipads', contentHash: 'hash-ipads', body: { profile_name: 'ipads', url: 'https://mdm.example.com/enroll' }, at: AT });
    await store.upsertDevices('paris', [withProfile('IPAD0001', U_OURS)], AT);
    client.profiles.set(U_OURS, apple(U_OURS, 'iPads'));
    expect(await read()).toEqual({
      devices: 1,
      withoutProfile: 0,
      managed: 0,
      oddSerials: [],
      foreign: [{ uuid: U_OURS, profile: apple(U_OURS, 'iPads'), serials: ['IPAD0001'] }],
      gone: [],
    });
  });

  it('an empty server reads nothing from Apple', async () => {
    expect(await read()).toEqual({ devices: 0, withoutProfile: 0, managed: 0, oddSerials: [], foreign: [], gone: [] });
    expect(client.asked).toEqual([]);
  });

  it('an error other than NOT_FOUND propagates', async () => {
    await store.upsertDevices('paris', [withProfile('MAC00001', U_FOREIGN)], AT);
    client.error = networkError('/profile');
    await expect(read()).rejects.toThrow('ECONNREFUSED');
  });
});
