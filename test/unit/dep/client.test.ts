import { readFileSync, readdirSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Agent } from 'undici';
import { createDepClient, type DepClient } from '../../../controller/dep/client.js';
import { DepProtocolError } from '../../../controller/dep/errors.js';
import { TEST_TOKEN, finishFakeDep, startFakeDep, type FakeDep, type Recorded } from './fake-dep-server.js';

let fake: FakeDep;
let agent: Agent;
let client: DepClient;

beforeEach(async () => {
  fake = await startFakeDep();
  agent = new Agent();
  client = createDepClient({ baseUrl: fake.url, token: TEST_TOKEN, dispatcher: agent, retry: { maxAttempts: 1 } });
});

afterEach(() => finishFakeDep(fake, agent));

const serials = (n: number, prefix = 'SER'): string[] => Array.from({ length: n }, (_, i) => `${prefix}${String(i).padStart(6, '0')}`);
const bodyOf = (r: Recorded | undefined): { devices: string[]; profile_uuid?: string } => JSON.parse(r?.body ?? '{}');
const statuses = (req: Recorded, status: string): Record<string, string> =>
  Object.fromEntries(bodyOf(req).devices.map((s) => [s, status]));

describe('serial batching', () => {
  it('assigns 2500 serials in 3 calls of at most 1000 and merges the results', async () => {
    fake.expectSession('S');
    for (let i = 0; i < 3; i++) {
      fake.expect('POST', '/profile/devices', (req) => ({ status: 200, body: { profile_uuid: 'P1', devices: statuses(req, 'SUCCESS') } }));
    }
    const all = serials(2500);
    const res = await client.assignProfile('P1', all);
    fake.assertDone();
    const calls = fake.requests.filter((r) => r.path === '/profile/devices');
    expect(calls.map((c) => bodyOf(c).devices.length)).toEqual([1000, 1000, 500]);
    expect(calls.every((c) => bodyOf(c).profile_uuid === 'P1')).toBe(true);
    expect(calls.flatMap((c) => bodyOf(c).devices)).toEqual(all);
    expect(Object.keys(res.devices)).toHaveLength(2500);
    expect(res.profile_uuid).toBe('P1');
  });

  it('returns THROTTLED serials and the largest retry_after_seconds as data', async () => {
    fake.expectSession('S');
    fake
      .expect('POST', '/profile/devices', (req) => ({ status: 200, body: { profile_uuid: 'P1', devices: statuses(req, 'SUCCESS') } }))
      .expect('POST', '/profile/devices', (req) => ({
        status: 200,
        body: { profile_uuid: 'P1', devices: { ...statuses(req, 'SUCCESS'), SER001001: 'THROTTLED' }, retry_after_seconds: 30 },
      }));
    const res = await client.assignProfile('P1', serials(1200));
    expect(res.devices.SER001001).toBe('THROTTLED');
    expect(res.devices.SER000000).toBe('SUCCESS');
    expect(res.retry_after_seconds).toBe(30);
    fake.assertDone();
  });

  it('sends duplicates once and no request at all for an empty list', async () => {
    fake.expectSession('S');
    fake.expect('POST', '/devices', (req) => ({ status: 200, body: { devices: Object.fromEntries(bodyOf(req).devices.map((s) => [s, { response_status: 'SUCCESS' }])) } }));
    await client.deviceDetails(['A', 'B', 'A']);
    expect(bodyOf(fake.requests.at(-1)).devices).toEqual(['A', 'B']);
    await expect(client.removeProfile([])).resolves.toEqual({ devices: {} });
    fake.assertDone();
    expect(fake.requests).toHaveLength(2);
  });

  it('removes profiles with DELETE and a JSON body', async () => {
    fake.expectSession('S');
    fake.expect('DELETE', '/profile/devices', (req) => ({ status: 200, body: { devices: statuses(req, 'SUCCESS') } }));
    await expect(client.removeProfile(['A'])).resolves.toEqual({ devices: { A: 'SUCCESS' } });
    expect(JSON.parse(fake.requests.at(-1)?.body ?? '')).toEqual({ devices: ['A'] });
    fake.assertDone();
  });

  it('defines a profile with more than 1000 devices by assigning the rest in batches', async () => {
    fake.expectSession('S');
    fake
      .expect('POST', '/profile', (req) => ({ status: 200, body: { profile_uuid: 'NEW', devices: statuses(req, 'SUCCESS') } }))
      .expect('POST', '/profile/devices', (req) => ({ status: 200, body: { profile_uuid: 'NEW', devices: statuses(req, 'SUCCESS') } }));
    const res = await client.defineProfile({ profile_name: 'p', url: 'https://mdm.example/enroll', department: '', devices: serials(1500) });
    const define = JSON.parse(fake.requests[1]?.body ?? '{}') as Record<string, unknown>;
    expect((define.devices as string[]).length).toBe(1000);
    // Apple rejects empty optional strings with *_INVALID, so they are not sent.
    expect(define).not.toHaveProperty('department');
    expect(bodyOf(fake.requests[2]).profile_uuid).toBe('NEW');
    expect(Object.keys(res.devices ?? {})).toHaveLength(1500);
    fake.assertDone();
  });
});

describe('disown', () => {
  it('refuses without an explicit confirm flag and sends nothing', async () => {
    // @ts-expect-error the flag is required by the type as well
    await expect(client.disownDevices(['A'], {})).rejects.toThrow(/confirm: true/);
    expect(fake.requests).toHaveLength(0);
  });

  it('disowns with the flag', async () => {
    fake.expectSession('S');
    fake.expect('POST', '/devices/disown', { status: 200, body: { devices: { A: 'SUCCESS' } } });
    await expect(client.disownDevices(['A'], { confirm: true })).resolves.toEqual({ devices: { A: 'SUCCESS' } });
    fake.assertDone();
  });
});

describe('profiles', () => {
  it('normalises un-prefixed booleans from GET /profile to is_*', async () => {
    fake.expectSession('S');
    fake.expect('GET', '/profile', { status: 200, body: { profile_uuid: 'P', profile_name: 'n', url: 'u', supervised: true, mdm_removable: false, is_mandatory: true, mandatory: false } });
    const p = await client.getProfile('P');
    expect(fake.requests.at(-1)?.query.get('profile_uuid')).toBe('P');
    expect(p).toEqual({ profile_uuid: 'P', profile_name: 'n', url: 'u', is_supervised: true, is_mdm_removable: false, is_mandatory: true });
    fake.assertDone();
  });
});

describe('fetch iterator', () => {
  it('follows more_to_follow with the returned cursors', async () => {
    fake.expectSession('S');
    fake
      .expect('POST', '/server/devices', { status: 200, body: { cursor: 'c1', devices: [{ serial_number: 'A', model: 'm' }], fetched_until: 't', more_to_follow: true } })
      .expect('POST', '/server/devices', { status: 200, body: { cursor: 'c2', devices: [{ serial_number: 'B', model: 'm' }], fetched_until: 't', more_to_follow: false } });
    const seen: string[] = [];
    for await (const page of client.fetchAllDevices({ limit: 1 })) seen.push(...page.devices.map((d) => d.serial_number));
    expect(seen).toEqual(['A', 'B']);
    const bodies = fake.requests.filter((r) => r.path === '/server/devices').map((r) => JSON.parse(r.body) as unknown);
    // The first fetch omits the cursor, as Apple documents and NanoDEP does.
    expect(bodies).toEqual([{ limit: 1 }, { cursor: 'c1', limit: 1 }]);
    fake.assertDone();
  });

  it('reads a page with non-ASCII text after an ASCII one, each as Apple sent it', async () => {
    const accented = { serial_number: 'C', model: 'iPad Pro 11″', asset_tag: 'Salle Ézé 🍎', description: 'ASCII \u00e9 escaped' };
    fake.expectSession('S');
    fake
      .expect('POST', '/server/devices', { status: 200, body: { cursor: 'c1', devices: [{ serial_number: 'A', model: 'm' }], fetched_until: 't', more_to_follow: true } })
      .expect('POST', '/server/devices', { status: 200, body: { cursor: 'c2', devices: [accented], fetched_until: 't', more_to_follow: false } });
    const seen: Array<Record<string, unknown>> = [];
    for await (const page of client.fetchAllDevices({ limit: 1 })) seen.push(...page.devices.map((d) => ({ ...d })));
    expect(seen).toEqual([{ serial_number: 'A', model: 'm' }, accented]);
    fake.assertDone();
  });

  it('stops with DepProtocolError when Apple echoes the same cursor with more_to_follow', async () => {
    fake.expectSession('S');
    const page = { cursor: 'same', devices: [], fetched_until: 't', more_to_follow: true };
    fake.expect('POST', '/server/devices', { status: 200, body: page }).expect('POST', '/server/devices', { status: 200, body: page });
    const pages: unknown[] = [];
    const run = async (): Promise<void> => {
      for await (const p of client.fetchAllDevices()) pages.push(p);
    };
    await expect(run()).rejects.toBeInstanceOf(DepProtocolError);
    expect(pages).toHaveLength(2);
    fake.assertDone();
  });

  it('rejects a limit above Apple’s documented maximum before sending', async () => {
    await expect(client.fetchDevices({ limit: 5000 })).rejects.toBeInstanceOf(RangeError);
    expect(fake.requests).toHaveLength(0);
  });
});

describe("Apple's real responses (test/fixtures/apple)", () => {
  const dir = new URL('../../fixtures/apple/', import.meta.url);
  const read = (name: string): unknown => JSON.parse(readFileSync(new URL(name, dir), 'utf8'));

  it('covers every fixture file', () => {
    expect(readdirSync(dir).filter((f) => f.endsWith('.json')).sort()).toEqual([
      'account_response.json',
      'device_details_response.json',
      'device_response.json',
      'empty_sync_response.json',
      'fetch_profile_response.json',
    ]);
  });

  it('parses each through the client', async () => {
    fake.expectSession('S');
    fake
      .expect('GET', '/account', { status: 200, body: read('account_response.json') })
      .expect('POST', '/server/devices', { status: 200, body: read('device_response.json') })
      .expect('POST', '/devices', { status: 200, body: read('device_details_response.json') })
      .expect('POST', '/devices/sync', { status: 200, body: read('empty_sync_response.json') })
      .expect('GET', '/profile', { status: 200, body: read('fetch_profile_response.json') });
    const account = await client.account();
    expect(account.server_uuid).toBe('6666ED66666666666666666666666666');
    expect(account.urls?.find((u) => u.uri === '/profile/devices')?.http_method).toEqual(['DELETE', 'POST', 'PUT']);
    const page = await client.fetchDevices();
    expect(page.devices[0]?.serial_number).toBe('C02T0HL0GGC0');
    expect(page.more_to_follow).toBe(false);
    const details = await client.deviceDetails(['C02T0HL0GGC0']);
    expect(details.devices.C02T0HL0GGC0?.response_status).toBe('SUCCESS');
    const sync = await client.syncDevices({ cursor: page.cursor });
    expect(sync.devices).toEqual([]);
    expect(JSON.parse(fake.requests.at(-1)?.body ?? '')).toEqual({ cursor: page.cursor });
    const profile = await client.getProfile('C1F123098EB5074580041E69883004C3');
    expect(profile).toMatchObject({ is_supervised: false, is_mdm_removable: true, is_multi_user: false, profile_uuid: 'C1F123098EB5074580041E69883004C3' });
    fake.assertDone();
  });
});
