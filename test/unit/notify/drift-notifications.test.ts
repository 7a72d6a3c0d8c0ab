import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { driftNotification, driftNotifications } from '../../../controller/notify/events.js';
import { makePlan, type ServerHandle } from '../../../controller/reconcile/planner.js';
import { profileContentHash } from '../../../controller/reconcile/profile-content.js';
import { openStore, type Store } from '../../../controller/store/index.js';
import type { Device } from '../../../controller/dep/types.js';
import { FakeDepClient, assignment, depConfig, enrollmentProfile, manualClock, mdmServer, page, withProfile, type ManualClock } from '../../helpers/reconcile-fakes.js';

const STAFF_UUID = '5EAF0000000000000000000000000001';
const OTHER_UUID = '1A2B3C4D5E6F708192A3B4C5D6E7F801';
const THIRD_UUID = '7777000000000000000000000000AAAA';
const SERIALS = ['C02DRIFT0001', 'C02DRIFT0002', 'C02DRIFT0003'];

const staffMacs = enrollmentProfile('staff-macs', ['paris']);
const config = depConfig({
  servers: [mdmServer('paris')],
  profiles: [staffMacs],
  assignments: [assignment('all-macs', 'staff-macs', ['paris'], { match: { device_family: ['Mac'] } })],
});

let store: Store;
let clock: ManualClock;
let client: FakeDepClient;

const mac = (serial: string, uuid: string, over: Partial<Device> = {}) => withProfile(serial, uuid, { device_family: 'Mac', os: 'OSX', model: 'MacBook Pro', ...over });

function paris(): ServerHandle[] {
  // A reachable server: no error and no problem (both spellings of "nothing stops it" the handle has had).
  const handle = { name: 'paris', client, error: null, problem: null, tokenExpiresAt: null };
  return [handle];
}

beforeEach(async () => {
  store = await openStore('memory:');
  clock = manualClock(new Date('2026-11-25T12:00:00Z'));
  client = new FakeDepClient();
  client.profiles.set(OTHER_UUID, { profile_name: 'Other MDM Profile', url: 'https://other-mdm.example/enroll', profile_uuid: OTHER_UUID });
  const hash = profileContentHash(staffMacs.profile as Record<string, unknown>);
  await store.beginDefine({ server: 'paris', name: 'staff-macs', contentHash: hash, body: staffMacs.profile, at: clock.now() });
  await store.completeDefine({ server: 'paris', name: 'staff-macs', contentHash: hash }, STAFF_UUID, clock.now());
  // depctl assigned staff-macs to three Macs, and Apple confirmed it.
  client.fetchScripts.push([page(SERIALS.map((s) => mac(s, STAFF_UUID)), 'c1')]);
  const first = await makePlan(config, paris(), store, { now: clock.now });
  expect(first.servers[0]).toMatchObject({ error: null, drift: [], unchanged: 3 });
  const at = clock.now();
  await store.recordResults('paris', SERIALS.map((serial) => ({ serial, result: { status: 'success' as const, at, appleStatus: 'SUCCESS' }, retryNotBefore: null, desiredProfile: 'staff-macs' })));
  clock.set(new Date('2026-12-01T08:00:00Z'));
});
afterEach(async () => {
  await store.close();
});

describe('drift notifications', () => {
  it('one out-of-band change of 3 devices to a foreign profile is exactly one notification, naming what they carry and should carry', async () => {
    // Someone assigned another MDM's profile to the three Macs in Apple Business Manager.
    client.syncScripts.push([
      page(
        [
          mac(SERIALS[1]!, OTHER_UUID, { profile_assign_time: '2026-11-30T10:41:00Z', op_type: 'modified', op_date: '2026-11-30T10:41:05Z' }),
          mac(SERIALS[0]!, OTHER_UUID, { profile_assign_time: '2026-11-30T10:40:00Z', op_type: 'modified', op_date: '2026-11-30T10:40:05Z' }),
          mac(SERIALS[2]!, OTHER_UUID, { profile_assign_time: '2026-11-30T10:42:00Z', op_type: 'modified', op_date: '2026-11-30T10:42:05Z' }),
        ],
        'c2',
      ),
    ]);
    const plan = await makePlan(config, paris(), store, { now: clock.now });

    expect(driftNotifications(plan)).toEqual([
      {
        key: 'drift:paris:profile-changed:1A2B3C4D5E6F708192A3B4C5D6E7F801:staff-macs:1838b3819b11bbd2',
        notification: {
          kind: 'drift',
          severity: 'warning',
          server: 'paris',
          text: 'depctl: drift on paris: 3 device(s) now carry "Other MDM Profile" (foreign UUID 1A2B3C4D…, not defined by depctl) instead of "staff-macs", since 2026-11-30; apply reassigns them',
          details: {
            driftKind: 'profile-changed',
            devices: 3,
            corrected: true,
            currentUuid: '1A2B3C4D5E6F708192A3B4C5D6E7F801',
            currentProfile: null,
            currentName: 'Other MDM Profile',
            desired: 'staff-macs',
            since: '2026-11-30T10:40:00Z',
          },
        },
      },
    ]);
    expect(client.calls.filter((c) => c.startsWith('getProfile'))).toEqual(['getProfile 1A2B3C4D5E6F708192A3B4C5D6E7F801']);

    // The next pass sees the same situation: the same key, so the notifier does not send it again.
    client.syncScripts.push([page([], 'c3')]);
    clock.advance(15 * 60_000);
    const again = await makePlan(config, paris(), store, { now: clock.now });
    expect(driftNotifications(again).map((n) => n.key)).toEqual(['drift:paris:profile-changed:1A2B3C4D5E6F708192A3B4C5D6E7F801:staff-macs:1838b3819b11bbd2']);

    // Moved again, to a third profile Apple does not name: a new change, a new key.
    client.syncScripts.push([page(SERIALS.map((s) => mac(s, THIRD_UUID, { op_type: 'modified', op_date: '2026-12-01T08:10:00Z' })), 'c4')]);
    const moved = await makePlan(config, paris(), store, { now: clock.now });
    expect(driftNotifications(moved).map((n) => [n.key, n.notification.text])).toEqual([
      [
        'drift:paris:profile-changed:7777000000000000000000000000AAAA:staff-macs:1838b3819b11bbd2',
        'depctl: drift on paris: 3 device(s) now carry foreign profile 77770000… (not defined by depctl) instead of "staff-macs", since 2026-12-01; apply reassigns them',
      ],
    ]);
  });

  it('token expiry is not a drift notification; findings without devices keep a plain key', () => {
    expect(driftNotification('paris', { kind: 'token-expiry', message: 'the server token expires in 7 day(s)', serials: [], corrected: false })).toBeNull();
    expect(driftNotification('paris', { kind: 'serials-not-seen', message: '1 serial(s) of assignment "carts" are not on server(s) paris', serials: ['NOWHERE1'], corrected: false })).toEqual({
      key: 'drift:paris:serials-not-seen:-:-:cd940d8d79d1e17e',
      notification: {
        kind: 'drift',
        severity: 'warning',
        server: 'paris',
        text: 'depctl: drift on paris: 1 serial(s) of assignment "carts" are not on server(s) paris',
        details: { driftKind: 'serials-not-seen', devices: 1, corrected: false },
      },
    });
  });
});
