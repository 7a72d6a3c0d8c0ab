import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { openStore, type Store } from '../../../controller/store/index.js';
import type { AccountDetail } from '../../../controller/dep/types.js';
import {
  adoptServerChange,
  checkServerIdentity,
  identityLine,
  pageLimitsFromAccount,
  parseAdoptSpec,
} from '../../../controller/reconcile/identity.js';
import { makePlan, type ServerHandle } from '../../../controller/reconcile/planner.js';
import { hasChanges } from '../../../controller/reconcile/plan.js';
import {
  FakeDepClient,
  appleError,
  assignment,
  depConfig,
  device,
  enrollmentProfile,
  manualClock,
  mdmServer,
  networkError,
  page,
  withProfile,
  type ManualClock,
} from '../../helpers/reconcile-fakes.js';

const PARIS_UUID = '6666ED66666666666666666666666666';
const LYON_UUID = '7777AB77777777777777777777777777';
const FOREIGN = 'FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF1';

function account(over: Partial<AccountDetail> = {}): AccountDetail {
  return {
    server_name: 'Paris MDM',
    server_uuid: PARIS_UUID,
    admin_id: 'it@voltaire.example',
    org_name: 'Lycée Voltaire',
    org_email: 'it@voltaire.example',
    org_phone: '',
    org_address: '',
    org_id: '6666666',
    org_type: 'edu',
    ...over,
  };
}

const LYON = account({ server_name: 'Lyon MDM', server_uuid: LYON_UUID });

/** The strict fake with a scripted GET /account: an answer, or an error to throw. */
class AccountClient extends FakeDepClient {
  answer: AccountDetail | Error = account();
  override async account(): Promise<AccountDetail> {
    this.calls.push('account');
    if (this.answer instanceof Error) throw this.answer;
    return structuredClone(this.answer);
  }
}

let store: Store;
let clock: ManualClock;
let client: AccountClient;

beforeEach(async () => {
  store = await openStore('memory:');
  clock = manualClock(new Date('2026-11-25T12:00:00Z'));
  client = new AccountClient();
});
afterEach(async () => {
  await store.close();
});

describe('checkServerIdentity', () => {
  it('records the identity on first contact', async () => {
    const r = await checkServerIdentity('paris', client, store, { now: clock.now });
    expect(r).toEqual({
      ok: true,
      first: true,
      identity: { serverUuid: PARIS_UUID, serverName: 'Paris MDM', orgName: 'Lycée Voltaire', orgType: 'edu', orgId: '6666666' },
      pageLimits: { fetch: 1000, sync: 1000 },
    });
    expect(await store.getServer('paris')).toMatchObject({
      serverUuid: PARIS_UUID,
      appleServerName: 'Paris MDM',
      orgName: 'Lycée Voltaire',
      orgType: 'edu',
      orgId: '6666666',
      identityCheckedAt: new Date('2026-11-25T12:00:00Z'),
    });
    expect(client.calls).toEqual(['account']);
  });

  it('passes the same server, taking a new name from the portal and the time of the check', async () => {
    await checkServerIdentity('paris', client, store, { now: clock.now });
    clock.advance(3_600_000);
    client.answer = account({ server_name: 'Paris MDM (renamed)' });
    const r = await checkServerIdentity('paris', client, store, { now: clock.now });
    expect(r).toMatchObject({ ok: true, first: false, identity: { serverUuid: PARIS_UUID, serverName: 'Paris MDM (renamed)' } });
    expect(await store.getServer('paris')).toMatchObject({ appleServerName: 'Paris MDM (renamed)', identityCheckedAt: new Date('2026-11-25T13:00:00Z') });
  });

  it('stops a server whose token now belongs to another MDM server, naming both and the way to accept it', async () => {
    await checkServerIdentity('paris', client, store, { now: clock.now });
    client.answer = LYON;
    const r = await checkServerIdentity('paris', client, store, { now: clock.now });
    expect(r).toEqual({
      ok: false,
      identity: { serverUuid: PARIS_UUID, serverName: 'Paris MDM', orgName: 'Lycée Voltaire', orgType: 'edu', orgId: '6666666', checkedAt: '2026-11-25T12:00:00.000Z' },
      problem: {
        server: 'paris',
        kind: 'terminal',
        reason: 'server-changed',
        retryAt: null,
        message:
          'the token of server "paris" now belongs to another MDM server: it was "Paris MDM" (uuid 6666ED66666666666666666666666666), ' +
          'it is now "Lyon MDM" (uuid 7777AB77777777777777777777777777); nothing was fetched or changed on this server. ' +
          'If the new token is right, accept the change with `depctl apply --adopt-server paris` (for the controller: `depctl run --adopt-server paris`), ' +
          'which records the new server and forgets the devices stored for the old one; otherwise put back the token of "Paris MDM"',
      },
    });
    // Nothing of the other server is recorded.
    expect(await store.getServer('paris')).toMatchObject({ serverUuid: PARIS_UUID, appleServerName: 'Paris MDM' });
  });

  it('treats a failed GET /account as a transient problem of this pass, not a change of server', async () => {
    await checkServerIdentity('paris', client, store, { now: clock.now });
    client.answer = networkError('/account');
    const unreachable = await checkServerIdentity('paris', client, store, { now: clock.now });
    expect(unreachable).toMatchObject({ ok: false, problem: { server: 'paris', kind: 'transient', reason: 'unreachable', retryAt: null } });
    client.answer = appleError(503, 'SERVICE_UNAVAILABLE', '/account', 'GET');
    const apple = await checkServerIdentity('paris', client, store, { now: clock.now });
    expect(apple).toMatchObject({ ok: false, problem: { kind: 'transient', reason: 'apple-error' } });
    expect(await store.getServer('paris')).toMatchObject({ serverUuid: PARIS_UUID, identityCheckedAt: new Date('2026-11-25T12:00:00Z') });
  });

  it('does not record anything when the first GET /account fails', async () => {
    client.answer = networkError('/account');
    const r = await checkServerIdentity('paris', client, store, { now: clock.now });
    expect(r).toMatchObject({ ok: false, identity: null, problem: { kind: 'transient' } });
    expect((await store.getServer('paris'))?.serverUuid ?? null).toBeNull();
  });
});

describe('pageLimitsFromAccount', () => {
  it('takes the advertised maximum, never above 1000', () => {
    // Real Apple answer (MicroMDM's testdata, 2018): default 1000, maximum 5000 on both paged paths.
    const real = JSON.parse(readFileSync(new URL('../../fixtures/apple/account_response.json', import.meta.url), 'utf8')) as AccountDetail;
    expect(pageLimitsFromAccount(real)).toEqual({ fetch: 1000, sync: 1000 });
    const paged = (fetch: number, sync: number): AccountDetail =>
      account({ urls: [{ uri: '/server/devices', http_method: ['POST'], limit: { default: 100, maximum: fetch } }, { uri: '/devices/sync', http_method: ['POST'], limit: { default: 100, maximum: sync } }] });
    expect(pageLimitsFromAccount(paged(500, 200))).toEqual({ fetch: 500, sync: 200 });
    expect(pageLimitsFromAccount(paged(0, 1000))).toEqual({ fetch: 1000, sync: 1000 });
    expect(pageLimitsFromAccount(account())).toEqual({ fetch: 1000, sync: 1000 });
  });
});

/** iPads get `ipads`; every other device on paris loses its profile (`unassignedDevices: remove`). */
const removeConfig = depConfig({
  servers: [mdmServer('paris', { unassignedDevices: 'remove' })],
  profiles: [enrollmentProfile('ipads', ['paris'])],
  assignments: [assignment('all-ipads', 'ipads', ['paris'], { match: { device_family: ['iPad'] } })],
});

function handle(c: FakeDepClient): ServerHandle {
  return { name: 'paris', client: c, problem: null, tokenExpiresAt: null };
}

describe('a swapped token in a plan', () => {
  beforeEach(async () => {
    client.fetchScripts.push([page([device('IPAD1')], 'c1')]);
    const first = await makePlan(removeConfig, [handle(client)], store, { now: clock.now });
    expect(first.servers[0]).toMatchObject({ error: null, identity: { serverUuid: PARIS_UUID, serverName: 'Paris MDM' } });
    client.calls.length = 0;
  });

  it('stops the server before any fetch: zero removals even with `unassignedDevices: remove`', async () => {
    // The other server's devices all carry another MDM's profile: a diff would remove every one of them.
    client.answer = LYON;
    client.fetchScripts.push([page([withProfile('LYON1', FOREIGN, { device_family: 'iPhone' }), withProfile('LYON2', FOREIGN, { device_family: 'Mac' })], 'l1')]);
    client.syncScripts.push([page([withProfile('LYON1', FOREIGN, { device_family: 'iPhone' })], 'l2')]);
    const plan = await makePlan(removeConfig, [handle(client)], store, { now: clock.now });
    expect(client.calls).toEqual(['account']);
    expect(hasChanges(plan)).toBe(false);
    expect(plan.summary).toMatchObject({ remove: 0, assign: 0, defines: 0, errors: 1 });
    expect(plan.servers[0]?.problem).toMatchObject({ kind: 'terminal', reason: 'server-changed' });
    // The recorded identity is what the plan header shows, marked as no longer what the token opens.
    expect(identityLine('paris', plan.servers[0]?.identity ?? null, true)).toBe(
      'paris → Apple server "Paris MDM" (org Lycée Voltaire, uuid 6666ED66666666666666666666666666), as recorded: the token now opens another server (see below)',
    );
    expect(await store.countDevices('paris')).toBe(1);
  });

  it('after adoption, the next plan is a first contact with the new server', async () => {
    client.answer = LYON;
    const adopted = await adoptServerChange('paris', client, store, { now: clock.now });
    expect(adopted).toMatchObject({ kind: 'adopted', from: { serverUuid: PARIS_UUID }, to: { serverUuid: LYON_UUID, serverName: 'Lyon MDM' } });
    expect(await store.countDevices('paris')).toBe(0);
    expect(await store.listProfiles('paris')).toEqual([]);
    expect(await store.getCursor('paris')).toMatchObject({ cursor: null, fetchedAt: null });
    client.calls.length = 0;
    client.fetchScripts.push([page([device('LYONPAD')], 'l1')]);
    client.onDefine = () => ({ profile_uuid: 'NEWUUID', devices: {} });
    const plan = await makePlan(removeConfig, [handle(client)], store, { now: clock.now });
    expect(client.calls).toEqual(['account', 'fetch']);
    expect(plan.servers[0]).toMatchObject({ error: null, identity: { serverUuid: LYON_UUID, serverName: 'Lyon MDM' } });
    expect(plan.servers[0]?.assign.flatMap((g) => g.serials)).toEqual(['LYONPAD']);
    expect(plan.servers[0]?.defines.map((d) => d.reason)).toEqual(['new']);
  });
});

describe('adoptServerChange', () => {
  beforeEach(async () => {
    await checkServerIdentity('paris', client, store, { now: clock.now });
    await store.upsertDevices('paris', [device('IPAD1')], clock.now());
  });

  it('changes nothing when the token still belongs to the recorded server', async () => {
    expect(await adoptServerChange('paris', client, store, { now: clock.now })).toMatchObject({ kind: 'unchanged', identity: { serverUuid: PARIS_UUID } });
    expect(await store.countDevices('paris')).toBe(1);
  });

  it('with NAME=UUID, accepts only that server', async () => {
    client.answer = LYON;
    expect(await adoptServerChange('paris', client, store, { now: clock.now, expectUuid: 'AAAA' })).toMatchObject({ kind: 'mismatch', expected: 'AAAA' });
    expect(await store.countDevices('paris')).toBe(1);
    expect(await adoptServerChange('paris', client, store, { now: clock.now, expectUuid: LYON_UUID.toLowerCase() })).toMatchObject({ kind: 'adopted' });
    expect(await store.getServer('paris')).toMatchObject({ serverUuid: LYON_UUID, appleServerName: 'Lyon MDM' });
  });

  it('changes nothing when Apple does not answer', async () => {
    client.answer = networkError('/account');
    expect(await adoptServerChange('paris', client, store, { now: clock.now })).toMatchObject({ kind: 'failed', problem: { kind: 'transient' } });
    expect(await store.countDevices('paris')).toBe(1);
  });
});

describe('parseAdoptSpec', () => {
  it('reads NAME and NAME=UUID', () => {
    expect(parseAdoptSpec('paris')).toEqual({ server: 'paris' });
    expect(parseAdoptSpec('paris=7777AB')).toEqual({ server: 'paris', expectUuid: '7777AB' });
  });
});
