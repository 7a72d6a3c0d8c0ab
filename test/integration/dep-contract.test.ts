/**
 * Contract tests: the real DEP client against the DEP simulator over HTTP, for every endpoint, the
 * error codes the client can provoke, and every injected fault (STYLE rule 10). Retry waits go through
 * an injected sleep, so no test really waits for a backoff.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Agent } from 'undici';
import { createDepClient, type DepClient, type DepClientOptions } from '../../controller/dep/client.js';
import {
  DepAuthError,
  DepHttpError,
  DepTimeoutError,
  isCursorExhausted,
  isCursorExpired,
  isCursorInvalid,
  isCursorRequired,
  isProfileNotFound,
  isTerminalAuthError,
} from '../../controller/dep/errors.js';
import type { Device, Profile, ServerToken } from '../../controller/dep/types.js';
import { startSimulator } from '../../controller/sim/index.js';
import type { RunningSimulator, SimulatorOptions } from '../../controller/sim/api.js';
import { isAbortError } from '../../controller/util/sleep.js';

const PROFILE: Profile = {
  profile_name: 'Contract',
  url: 'https://mdm.example.com/enroll',
  is_supervised: true,
  is_mdm_removable: false,
  await_device_configured: true,
  skip_setup_items: ['AppleID', 'Location'],
};

let sim: RunningSimulator;
let agent: Agent;
let client: DepClient;
let sleeps: number[];

async function boot(opts: SimulatorOptions = { devices: 30, seed: 7 }): Promise<void> {
  sim = await startSimulator(opts);
}

/** A client on the simulator's clock whose retry waits are recorded instead of slept. */
function connect(extra: Partial<DepClientOptions> = {}): DepClient {
  return createDepClient({
    baseUrl: sim.url,
    token: sim.token,
    dispatcher: agent,
    now: () => sim.inspect.now(),
    retry: {
      baseDelayMs: 50,
      sleep: async (ms) => {
        sleeps.push(ms);
      },
    },
    ...extra,
  });
}

async function allSerials(c: DepClient, limit = 7): Promise<{ serials: string[]; cursor: string }> {
  const serials: string[] = [];
  let cursor = '';
  for await (const page of c.fetchAllDevices({ limit })) {
    serials.push(...page.devices.map((d) => d.serial_number));
    cursor = page.cursor;
  }
  return { serials, cursor };
}

async function failure(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => {
      throw new Error('expected a failure');
    },
    (e: unknown) => e,
  );
}

beforeEach(async () => {
  agent = new Agent();
  sleeps = [];
  await boot();
  client = connect();
});

afterEach(async () => {
  await agent.close();
  await sim.close();
});

describe('endpoints', () => {
  it('GET /account', async () => {
    const account = await client.account();
    expect(account.server_name).toBeTruthy();
    expect(account.server_uuid).toBeTruthy();
    // Protocol v3+ fields, since we pin v10.
    expect(Array.isArray(account.urls)).toBe(true);
  });

  it('fetches every device across pages, then EXHAUSTED_CURSOR on the final cursor', async () => {
    const { serials, cursor } = await allSerials(client);
    expect(new Set(serials).size).toBe(30);
    expect(serials.length).toBe(sim.inspect.deviceCount());
    expect(sim.inspect.requestCounts()['POST /server/devices']).toBe(Math.ceil(30 / 7));
    const err = await failure(client.fetchDevices({ cursor }));
    expect(isCursorExhausted(err)).toBe(true);
  });

  it('syncs added, moved-away and moved-in devices after a fetch', async () => {
    const { serials, cursor } = await allSerials(client);
    const added = sim.portal.addDevices(2).map((d) => d.serial_number);
    const gone = serials[0] as string;
    sim.portal.moveAway([gone]);
    const ops: Device[] = [];
    for await (const page of client.syncAllDevices({ cursor })) ops.push(...page.devices);
    expect(ops.filter((d) => d.op_type === 'added').map((d) => d.serial_number).sort()).toEqual([...added].sort());
    expect(ops.find((d) => d.serial_number === gone)?.op_type).toBe('deleted');
  });

  it('INVALID_CURSOR, CURSOR_REQUIRED and EXPIRED_CURSOR', async () => {
    expect(isCursorInvalid(await failure(client.syncDevices({ cursor: 'bm90LWEtY3Vyc29y' })))).toBe(true);
    expect(isCursorInvalid(await failure(client.fetchDevices({ cursor: 'bm90LWEtY3Vyc29y' })))).toBe(true);
    // The client leaves an empty cursor out, so the simulator sees no cursor at all.
    expect(isCursorRequired(await failure(client.syncDevices({ cursor: '' })))).toBe(true);
    const { cursor } = await allSerials(client);
    sim.advanceClock(8 * 24 * 3600 * 1000);
    // The session has expired too: the client re-authenticates (on the simulator's clock) and then gets the cursor error.
    expect(isCursorExpired(await failure(client.syncDevices({ cursor })))).toBe(true);
  });

  it('POST /devices: details with SUCCESS and NOT_ACCESSIBLE as data', async () => {
    const { serials } = await allSerials(client);
    const known = serials.slice(0, 3);
    const res = await client.deviceDetails([...known, 'NOSUCHSERIAL1']);
    for (const s of known) expect(res.devices[s]?.response_status).toBe('SUCCESS');
    expect(res.devices[known[0] as string]?.serial_number).toBe(known[0]);
    expect(res.devices.NOSUCHSERIAL1?.response_status).toBe('NOT_ACCESSIBLE');
  });

  it('defines, reads back, assigns and removes a profile', async () => {
    const { serials } = await allSerials(client);
    const [a, b, c] = serials as [string, string, string];
    const defined = await client.defineProfile({ ...PROFILE, devices: [a] });
    expect(defined.devices?.[a]).toBe('SUCCESS');
    expect(sim.inspect.device(a)?.profile_uuid).toBe(defined.profile_uuid);
    const read = await client.getProfile(defined.profile_uuid);
    expect(read).toMatchObject({ profile_uuid: defined.profile_uuid, profile_name: 'Contract', is_supervised: true, is_mdm_removable: false });
    expect(read).not.toHaveProperty('supervised');
    const assigned = await client.assignProfile(defined.profile_uuid, [b, c, 'NOSUCHSERIAL1']);
    expect(assigned.devices).toEqual({ [b]: 'SUCCESS', [c]: 'SUCCESS', NOSUCHSERIAL1: 'NOT_ACCESSIBLE' });
    expect(sim.inspect.device(b)?.profile_status).toBe('assigned');
    const removed = await client.removeProfile([a, b]);
    expect(removed.devices).toEqual({ [a]: 'SUCCESS', [b]: 'SUCCESS' });
    expect(sim.inspect.device(a)?.profile_uuid ?? null).toBeNull();
  });

  it('assigns 2500 serials in 3 requests', async () => {
    sim.portal.addDevices(2470);
    const { serials } = await allSerials(client, 1000);
    expect(serials).toHaveLength(2500);
    const { profile_uuid } = await client.defineProfile(PROFILE);
    sim.inspect.resetRequestCounts();
    const res = await client.assignProfile(profile_uuid, serials);
    expect(sim.inspect.requestCounts()['POST /profile/devices']).toBe(3);
    expect(Object.values(res.devices).filter((s) => s === 'SUCCESS')).toHaveLength(2500);
  });

  it('disowns only with the explicit flag', async () => {
    const { serials } = await allSerials(client);
    const s = serials[0] as string;
    // @ts-expect-error the flag is required
    await expect(client.disownDevices([s], {})).rejects.toThrow(/confirm/);
    expect(sim.inspect.requestCounts()['POST /devices/disown']).toBeUndefined();
    const res = await client.disownDevices([s], { confirm: true });
    expect(res.devices[s]).toBe('SUCCESS');
  });
});

describe('profile errors', () => {
  it('unknown profile: 400 NOT_FOUND on GET, 404 on assign; PROFILE_UUID_REQUIRED', async () => {
    const get = await failure(client.getProfile('0000000000000000'));
    expect(isProfileNotFound(get)).toBe(true);
    const { profile_uuid } = await client.defineProfile(PROFILE);
    sim.portal.forgetProfile(profile_uuid);
    const { serials } = await allSerials(client);
    const assign = await failure(client.assignProfile(profile_uuid, serials.slice(0, 1)));
    expect(isProfileNotFound(assign)).toBe(true);
    expect((assign as DepHttpError).status).toBe(404);
    expect(await failure(client.getProfile(''))).toMatchObject({ status: 400, code: 'PROFILE_UUID_REQUIRED' });
  });

  const invalid: [string, Partial<Profile> & Record<string, unknown>][] = [
    ['CONFIG_NAME_REQUIRED', { profile_name: undefined }],
    ['CONFIG_NAME_INVALID', { profile_name: '' }],
    ['CONFIG_URL_REQUIRED', { url: undefined }],
    ['CONFIG_URL_INVALID', { url: 'not a url' }],
    ['FLAGS_INVALID', { is_supervised: false, is_mdm_removable: false }],
    ['SUPPORT_EMAIL_INVALID', { support_email_address: `${'e'.repeat(240)}@example.com` }],
    ['LOCALE_INVALID', { region: 'france' }],
  ];
  for (const [code, change] of invalid) {
    it(`define answers 400 ${code}`, async () => {
      const err = await failure(client.defineProfile({ ...PROFILE, ...change } as Profile));
      expect(err).toMatchObject({ status: 400, code });
    });
  }
});

describe('per-serial results', () => {
  it('THROTTLED with retry_after_seconds, and FAILED, come back as data', async () => {
    const { serials } = await allSerials(client);
    const [a, b, c] = serials as [string, string, string];
    sim.injectFaults({ throttledSerials: { serials: [a], retryAfterSeconds: 45 }, failedSerials: [b] });
    const { profile_uuid } = await client.defineProfile(PROFILE);
    const res = await client.assignProfile(profile_uuid, [a, b, c]);
    expect(res.devices).toEqual({ [a]: 'THROTTLED', [b]: 'FAILED', [c]: 'SUCCESS' });
    expect(res.retry_after_seconds).toBe(45);
  });
});

describe('faults', () => {
  it('retries injected 503s honouring Retry-After seconds', async () => {
    sim.injectFaults({ httpStatus: { status: 503, count: 2, path: '/account', retryAfter: '2' } });
    await expect(client.account()).resolves.toHaveProperty('server_name');
    expect(sleeps).toHaveLength(2);
    expect(sleeps.every((ms) => ms >= 2000)).toBe(true);
    expect(sim.inspect.requestCounts()['GET /account']).toBe(3);
  });

  it('retries an injected 429 honouring a Retry-After date', async () => {
    const at = new Date(sim.inspect.now() + 5000).toUTCString();
    sim.injectFaults({ httpStatus: { status: 429, count: 1, path: '/server/devices', retryAfter: at } });
    await expect(client.fetchDevices()).resolves.toHaveProperty('cursor');
    expect(sleeps).toHaveLength(1);
    // An HTTP date has whole seconds, so the wait is between 4 and 5 seconds.
    expect(sleeps[0]).toBeGreaterThan(3000);
  });

  it('gives up on a persistent 500 with a transient DepHttpError', async () => {
    sim.injectFaults({ httpStatus: { status: 500, count: 100, path: '/account' } });
    const err = await failure(connect({ retry: { maxAttempts: 3, sleep: async () => {} } }).account());
    expect(err).toBeInstanceOf(DepHttpError);
    expect(err).toMatchObject({ status: 500, transient: true });
    expect(sim.inspect.requestCounts()['GET /account']).toBe(3);
  });

  it('retries connection resets, on /session too', async () => {
    sim.injectFaults({ connectionResets: { count: 2 } });
    await expect(client.account()).resolves.toHaveProperty('server_name');
    expect(sleeps).toHaveLength(2);
  });

  it('times out slow responses (latency fault) and reports DepTimeoutError', async () => {
    const slow = connect({ timeoutMs: 100, retry: { maxAttempts: 2, sleep: async () => {} } });
    await slow.account();
    sim.injectFaults({ latencyMs: 400 });
    const err = await failure(slow.account());
    expect(err).toBeInstanceOf(DepTimeoutError);
  });

  it('aborts an in-flight call', async () => {
    await client.account();
    sim.injectFaults({ latencyMs: 2000 });
    const ac = new AbortController();
    const pending = client.account({ signal: ac.signal });
    setImmediate(() => ac.abort());
    expect(isAbortError(await failure(pending))).toBe(true);
  });

  it('re-authenticates after sessions expire (401)', async () => {
    await client.account();
    sim.injectFaults({ expireSessions: {} });
    await expect(client.account()).resolves.toHaveProperty('server_name');
    expect(sim.inspect.requestCounts()['GET /session']).toBe(2);
  });

  it('re-authenticates on 403 FORBIDDEN (depsim after a restart)', async () => {
    await client.account();
    sim.injectFaults({ expireSessions: { forbidden: true } });
    await expect(client.account()).resolves.toHaveProperty('server_name');
    expect(sim.inspect.requestCounts()['GET /session']).toBe(2);
  });

  it('re-authenticates when the session ages out on the simulator clock', async () => {
    await client.account();
    sim.advanceClock(2 * 3600 * 1000);
    await expect(client.account()).resolves.toHaveProperty('server_name');
    expect(sim.inspect.requestCounts()['GET /session']).toBe(2);
  });

  it('adopts rotated X-ADM-Auth-Session tokens without authenticating again', async () => {
    sim.injectFaults({ rotateSession: { every: 1, revokeOld: true } });
    for (let i = 0; i < 5; i++) await client.account();
    expect(sim.inspect.requestCounts()['GET /session']).toBe(1);
    expect(sim.inspect.requestCounts()['GET /account']).toBe(5);
  });

  it('T_C_NOT_SIGNED is terminal, from /session and from a call with a live session', async () => {
    sim.injectFaults({ termsNotSigned: true });
    const fromSession = await failure(client.account());
    expect(fromSession).toBeInstanceOf(DepAuthError);
    expect(fromSession).toMatchObject({ reason: 'terms-not-signed', endpoint: '/session' });
    sim.clearFaults();
    const other = connect();
    await other.account();
    sim.injectFaults({ termsNotSigned: true });
    const fromCall = await failure(other.account());
    expect(fromCall).toMatchObject({ reason: 'terms-not-signed', endpoint: '/account' });
    expect((fromCall as Error).message).toMatch(/accept/);
  });

  it('a revoked token is terminal (401 token_rejected from /session, 403 on calls)', async () => {
    const live = connect();
    await live.account();
    sim.injectFaults({ tokenRevoked: true });
    expect(await failure(live.account())).toMatchObject({ reason: 'token-rejected', status: 403 });
    expect(await failure(connect().account())).toMatchObject({ reason: 'token-rejected', status: 401, endpoint: '/session' });
  });

  it('wrong credentials are terminal and the error carries no secret', async () => {
    const wrong: ServerToken = { ...sim.token, access_secret: `${sim.token.access_secret}x` };
    const err = await failure(connect({ token: wrong }).account());
    expect(isTerminalAuthError(err)).toBe(true);
    expect((err as DepAuthError).reason).toBe('session-unauthorized');
    const shown = `${(err as Error).message} ${(err as DepHttpError).body} ${JSON.stringify(err)}`;
    for (const secret of [sim.token.consumer_secret, sim.token.access_secret, sim.token.access_token]) expect(shown).not.toContain(secret);
  });
});

describe('expired server token', () => {
  it('is terminal from /session (token_expiredUnauthorized)', async () => {
    await sim.close();
    const token: ServerToken = {
      consumer_key: 'CK_1111111111111111111111111111111111111111',
      consumer_secret: 'CS_2222222222222222222222222222222222222222',
      access_token: 'AT_O3333333333O4444444444444444444444444444444444444444O1600000000000',
      access_secret: 'AS_5555555555555555555555555555555555555555',
      access_token_expiry: '2020-01-01T00:00:00Z',
    };
    await boot({ devices: 1, token });
    const err = await failure(connect().account());
    expect(err).toMatchObject({ status: 401, reason: 'session-unauthorized', endpoint: '/session' });
  });
});
