import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startSimulator } from '../../../controller/sim/index.js';
import type { RunningSimulator } from '../../../controller/sim/api.js';
import { call, type Page, session } from './raw-client.js';

const BASE = { profile_name: 'Staff Macs', url: 'https://mdm.example.com/enroll' };
let clock = Date.UTC(2026, 6, 1, 9, 30, 0);
let sim: RunningSimulator;
let s: string;
let serials: string[];

beforeEach(async () => {
  clock = Date.UTC(2026, 6, 1, 9, 30, 0);
  sim = await startSimulator({ devices: 1200, seed: 4, now: () => clock });
  s = await session(sim);
  const r = await call(sim, 'POST', '/server/devices', { session: s, body: { limit: 1000 } });
  serials = (r.json as Page).devices.map((d) => d.serial_number);
});
afterEach(() => sim.close());

const api = (method: string, path: string, body?: unknown, version?: number) => call(sim, method, path, { session: s, body, ...(version ? { version } : {}) });
const define = (body: unknown) => api('POST', '/profile', body);

describe('POST /profile validation', () => {
  const cases: [string, Record<string, unknown>][] = [
    ['CONFIG_NAME_REQUIRED', { url: BASE.url }],
    ['CONFIG_NAME_INVALID', { ...BASE, profile_name: '' }],
    ['CONFIG_NAME_INVALID', { ...BASE, profile_name: 'x'.repeat(126) }],
    ['CONFIG_URL_REQUIRED', { profile_name: 'p' }],
    ['CONFIG_URL_INVALID', { ...BASE, url: '' }],
    ['CONFIG_URL_INVALID', { ...BASE, url: 'mdm.example.com/enroll' }],
    ['CONFIG_URL_INVALID', { ...BASE, url: `https://mdm.example.com/${'a'.repeat(2000)}` }],
    ['DEPARTMENT_INVALID', { ...BASE, department: '' }],
    ['DEPARTMENT_INVALID', { ...BASE, department: 'd'.repeat(126) }],
    ['MAGIC_INVALID', { ...BASE, org_magic: '' }],
    ['MAGIC_INVALID', { ...BASE, org_magic: 'm'.repeat(257) }],
    ['SUPPORT_PHONE_INVALID', { ...BASE, support_phone_number: '' }],
    ['SUPPORT_PHONE_INVALID', { ...BASE, support_phone_number: '1'.repeat(51) }],
    ['SUPPORT_EMAIL_INVALID', { ...BASE, support_email_address: '' }],
    ['SUPPORT_EMAIL_INVALID', { ...BASE, support_email_address: `${'e'.repeat(240)}@example.com` }],
    ['MALFORMED_REQUEST_BODY', { ...BASE, configuration_web_url: 5 }],
    ['FLAGS_INVALID', { ...BASE, is_mdm_removable: false }],
    ['FLAGS_INVALID', { ...BASE, is_mdm_removable: false, is_supervised: false }],
    ['LOCALE_INVALID', { ...BASE, language: 'english' }],
    ['LOCALE_INVALID', { ...BASE, region: 'fr' }],
    ['LOCALE_INVALID', { ...BASE, language: '' }],
    ['MALFORMED_REQUEST_BODY', { ...BASE, is_supervised: 'yes' }],
    ['MALFORMED_REQUEST_BODY', { ...BASE, skip_setup_items: 'Siri' }],
    ['MALFORMED_REQUEST_BODY', { ...BASE, devices: [1, 2] }],
  ];
  for (const [code, body] of cases) {
    it(`400 ${code} for ${JSON.stringify(body).slice(0, 80)}`, async () => {
      const r = await define(body);
      expect([r.status, r.text]).toEqual([400, code]);
    });
  }

  it('400 MALFORMED_REQUEST_BODY for a body that is not JSON', async () => {
    const r = await call(sim, 'POST', '/profile', { session: s, rawBody: 'profile_name=x' });
    expect([r.status, r.text]).toEqual([400, 'MALFORMED_REQUEST_BODY']);
  });

  // Apple documents these refusals and no others (dep-protocol.md §3, §4): where it is silent, the
  // simulator accepts, like Apple is assumed to.
  it('accepts what Apple documents no refusal for', async () => {
    const bodies: Record<string, unknown>[] = [
      { ...BASE, profile_name: '   ' },
      { ...BASE, url: 'http://mdm.example.com/enroll' },
      { ...BASE, configuration_web_url: 'nope' },
      { ...BASE, configuration_web_url: '' },
      { ...BASE, support_email_address: 'not-an-address' },
      { ...BASE, department: ' ' },
      { ...BASE, org_magic: ' ' },
      { ...BASE, skip_setup_items: ['Wallpaper', 'OSShowcase', 'NoSuchKey', 'Siri', 'Siri'] },
      { ...BASE, anchor_certs: ['not base64 at all'] },
      { ...BASE, devices: Array.from({ length: 1001 }, (_, i) => `S${i}`) },
    ];
    for (const body of bodies) {
      const r = await define(body);
      expect([r.status, JSON.stringify(body).slice(0, 80)]).toEqual([200, JSON.stringify(body).slice(0, 80)]);
    }
  });

  it('keeps retired and unknown SkipKeys as sent', async () => {
    const skip = ['Wallpaper', 'OSShowcase', 'WebContentFiltering', 'AdditionalPrivacySettings', 'NoSuchKey'];
    const { profile_uuid } = (await define({ ...BASE, skip_setup_items: skip })).json as { profile_uuid: string };
    expect(((await api('GET', `/profile?profile_uuid=${profile_uuid}`)).json as { skip_setup_items: string[] }).skip_setup_items).toEqual(skip);
  });

  it('accepts a full valid profile', async () => {
    const r = await define({ ...BASE, is_supervised: true, is_mdm_removable: false, language: 'fr', region: 'FR', department: 'IT', support_email_address: 'it@example.com', skip_setup_items: ['Siri'], anchor_certs: [] });
    expect(r.status, r.text).toBe(200);
  });
});

describe('define and read profiles', () => {
  it('mints a new 32-hex upper-case UUID for every define, even of identical content', async () => {
    const a = (await define(BASE)).json as { profile_uuid: string };
    const b = (await define(BASE)).json as { profile_uuid: string };
    expect(a.profile_uuid).toMatch(/^[0-9A-F]{32}$/);
    expect(b.profile_uuid).not.toBe(a.profile_uuid);
    expect(sim.inspect.profileCount()).toBe(2);
  });

  it('GET returns the profile with Apple defaults and its UUID, without devices', async () => {
    const { profile_uuid } = (await define({ ...BASE, devices: [serials[0]], skip_setup_items: ['AppleID'], unknown_key: 1 })).json as { profile_uuid: string };
    const r = await api('GET', `/profile?profile_uuid=${profile_uuid}`);
    expect(r.json).toEqual({
      ...BASE,
      profile_uuid,
      allow_pairing: true,
      is_supervised: false,
      is_mandatory: false,
      is_mdm_removable: true,
      await_device_configured: false,
      is_multi_user: false,
      auto_advance_setup: false,
      skip_setup_items: ['AppleID'],
    });
    expect([(await api('GET', '/profile')).text, (await api('GET', '/profile?profile_uuid=')).text]).toEqual(['PROFILE_UUID_REQUIRED', 'PROFILE_UUID_REQUIRED']);
    const missing = await api('GET', '/profile?profile_uuid=00000000000000000000000000000000');
    expect([missing.status, missing.text]).toEqual([400, 'NOT_FOUND']);
  });

  it('assigns the optional devices in the same call', async () => {
    const [a] = serials as [string];
    const r = await define({ ...BASE, devices: [a, 'NOTMYSERIAL1'] });
    const { profile_uuid, devices } = r.json as { profile_uuid: string; devices: Record<string, string> };
    expect(devices).toEqual({ [a]: 'SUCCESS', NOTMYSERIAL1: 'NOT_ACCESSIBLE' });
    expect(sim.inspect.device(a)).toMatchObject({ profile_uuid, profile_status: 'assigned' });
  });
});

describe('assign and remove', () => {
  it('POST and PUT assign: status assigned, assign time, a sync modified event', async () => {
    const { profile_uuid } = (await define(BASE)).json as { profile_uuid: string };
    // Finish a full fetch (1200 devices: two pages) to get a cursor to sync from.
    const fetchAll = await api('POST', '/server/devices', { limit: 1000 });
    const more = await api('POST', '/server/devices', { cursor: (fetchAll.json as Page).cursor, limit: 1000 });
    const syncCursor = (more.json as Page).cursor;
    clock += 5000;
    const [a, b, c] = serials as [string, string, string];
    const post = await api('POST', '/profile/devices', { profile_uuid, devices: [a, b, 'NOTMYSERIAL1'] });
    expect(post.json).toEqual({ profile_uuid, devices: { [a]: 'SUCCESS', [b]: 'SUCCESS', NOTMYSERIAL1: 'NOT_ACCESSIBLE' } });
    const put = await api('PUT', '/profile/devices', { profile_uuid, devices: [c] });
    expect(put.json).toEqual({ profile_uuid, devices: { [c]: 'SUCCESS' } });
    expect(sim.inspect.device(a)).toMatchObject({ profile_uuid, profile_status: 'assigned', profile_assign_time: '2026-07-01T09:30:05Z' });
    const sync = await api('POST', '/devices/sync', { cursor: syncCursor });
    expect((sync.json as Page).devices.map((d) => [d.serial_number, d.op_type, d.profile_uuid])).toEqual([
      [a, 'modified', profile_uuid],
      [b, 'modified', profile_uuid],
      [c, 'modified', profile_uuid],
    ]);
  });

  it('assign serves more than 1000 serials (Apple documents no refusal), refuses an unknown profile (404) and missing fields', async () => {
    const { profile_uuid } = (await define(BASE)).json as { profile_uuid: string };
    const many = await api('POST', '/profile/devices', { profile_uuid, devices: [...serials.slice(0, 1000), 'NOTMYSERIAL1'] });
    expect(many.status).toBe(200);
    const statuses = Object.values((many.json as { devices: Record<string, string> }).devices);
    expect([statuses.length, statuses.filter((x) => x === 'SUCCESS').length]).toEqual([1001, 1000]);
    const unknown = await api('POST', '/profile/devices', { profile_uuid: 'FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF', devices: [serials[0]] });
    expect(unknown.status).toBe(404);
    expect(unknown.text).toContain('NOT_FOUND');
    sim.portal.forgetProfile(profile_uuid);
    expect((await api('PUT', '/profile/devices', { profile_uuid, devices: [serials[0]] })).status).toBe(404);
    expect((await api('POST', '/profile/devices', { devices: [serials[0]] })).text).toBe('PROFILE_UUID_REQUIRED');
    expect((await api('POST', '/profile/devices', { profile_uuid, devices: [] })).text).toBe('DEVICE_ID_REQUIRED');
  });

  it('DELETE with a JSON body clears the profile (removed), NOT_ACCESSIBLE for others', async () => {
    const [a, b] = serials as [string, string];
    const { profile_uuid } = (await define({ ...BASE, devices: [a] })).json as { profile_uuid: string };
    expect(sim.inspect.device(a)?.profile_uuid).toBe(profile_uuid);
    const r = await api('DELETE', '/profile/devices', { devices: [a, b, 'NOTMYSERIAL1'] });
    expect(r.json).toEqual({ devices: { [a]: 'SUCCESS', [b]: 'SUCCESS', NOTMYSERIAL1: 'NOT_ACCESSIBLE' } });
    const after = sim.inspect.device(a);
    expect(after?.profile_status).toBe('removed');
    expect(after).not.toHaveProperty('profile_uuid');
    expect(sim.inspect.device(b)?.profile_status).toBe('empty');
    expect((await api('DELETE', '/profile/devices', { devices: [] })).text).toBe('DEVICE_ID_REQUIRED');
  });

  it('405 for wrong methods, 404 for unknown paths', async () => {
    const wrong = await api('GET', '/profile/devices');
    expect(wrong.status).toBe(405);
    expect(wrong.headers.allow).toBe('POST, PUT, DELETE');
    expect((await api('DELETE', '/profile')).status).toBe(405);
    expect((await api('GET', '/server/devices')).status).toBe(405);
    expect((await api('GET', '/no/such/path')).status).toBe(404);
  });
});

describe('write log and call hook', () => {
  it('logs every write Apple carried out, in order, with per-serial statuses, and serves it at /_sim/writes', async () => {
    const [a, b, c] = serials as [string, string, string];
    const { profile_uuid } = (await define({ ...BASE, devices: [a] })).json as { profile_uuid: string };
    sim.injectFaults({ throttledSerials: { serials: [c], retryAfterSeconds: 5 } });
    await api('POST', '/profile/devices', { profile_uuid, devices: [b, c, 'NOTMYSERIAL1'] }, 10);
    clock += 1000;
    await api('DELETE', '/profile/devices', { devices: [a] });
    // Refused writes change nothing and are not logged.
    expect((await api('POST', '/profile/devices', { profile_uuid: '00000000000000000000000000000000', devices: [a] })).status).toBe(404);
    expect((await define({ profile_name: 'no url' })).status).toBe(400);
    const expected = [
      { seq: 1, at: Date.UTC(2026, 6, 1, 9, 30, 0), op: 'define', profileUuid: profile_uuid, devices: { [a]: 'SUCCESS' } },
      { seq: 2, at: Date.UTC(2026, 6, 1, 9, 30, 0), op: 'assign', profileUuid: profile_uuid, devices: { [b]: 'SUCCESS', [c]: 'THROTTLED', NOTMYSERIAL1: 'NOT_ACCESSIBLE' } },
      { seq: 3, at: Date.UTC(2026, 6, 1, 9, 30, 1), op: 'remove', profileUuid: null, devices: { [a]: 'SUCCESS' } },
    ];
    expect(sim.inspect.writes()).toEqual(expected);
    const admin = await fetch(`${sim.url}/_sim/writes`);
    expect(await admin.json()).toEqual(expected);
  });

  it('calls the hook before the endpoint runs and after, with the status, for calls that reach an endpoint', async () => {
    const events: string[] = [];
    const hooked = await startSimulator({ devices: 3, seed: 4, now: () => clock, onCall: (e) => events.push(`${e.phase} ${e.method} ${e.path}${e.status !== undefined ? ` ${e.status}` : ''}:${hooked.inspect.writes().length}`) });
    try {
      const hs = await session(hooked);
      hooked.injectFaults({ httpStatus: { status: 503, count: 1 } });
      await call(hooked, 'POST', '/profile', { session: hs, body: BASE });
      await call(hooked, 'POST', '/profile', { session: hs, body: BASE });
      // The write happens between the two phases: none at `received`, one at `handled`.
      expect(events).toEqual(['received GET /session:0', 'handled GET /session 200:0', 'received POST /profile:0', 'handled POST /profile 200:1']);
    } finally {
      await hooked.close();
    }
  });
});
