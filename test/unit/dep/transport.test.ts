import { readFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Agent } from 'undici';
import { createDepClient, type DepClient } from '../../../controller/dep/client.js';
import { DepAuthError, DepHttpError, isTerminalAuthError } from '../../../controller/dep/errors.js';
import type { DepRequestEvent } from '../../../controller/dep/http.js';
import { TEST_TOKEN, parseOAuthHeader, finishFakeDep, startFakeDep, type FakeDep } from './fake-dep-server.js';

const NOW = Date.parse('2026-11-25T12:00:00Z');
const ACCOUNT = { server_name: 'S', server_uuid: 'U', admin_id: 'a', org_name: 'O', org_email: 'e', org_phone: 'p', org_address: 'x' };
/** The released version, as package.json states it (the User-Agent names it). */
const PACKAGE_VERSION = (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

let fake: FakeDep;
let agent: Agent;
let client: DepClient;
let events: DepRequestEvent[];

beforeEach(async () => {
  fake = await startFakeDep();
  agent = new Agent();
  events = [];
  client = createDepClient({
    baseUrl: fake.url,
    token: TEST_TOKEN,
    dispatcher: agent,
    now: () => NOW,
    retry: { maxAttempts: 1 },
    onRequest: (e) => events.push(e),
  });
});

afterEach(() => finishFakeDep(fake, agent));

describe('headers and session', () => {
  it('signs /session with OAuth (realm ADM, clock timestamp) and sends the pinned headers everywhere', async () => {
    fake.expectSession('SESSION-1').expect('GET', '/account', { status: 200, body: ACCOUNT });
    await expect(client.account()).resolves.toEqual(ACCOUNT);
    fake.assertDone();
    const [session, account] = fake.requests;
    const oauth = parseOAuthHeader(String(session?.headers.authorization));
    expect(oauth.get('realm')).toBe('ADM');
    expect(oauth.get('oauth_timestamp')).toBe(String(NOW / 1000));
    expect(oauth.get('oauth_consumer_key')).toBe(TEST_TOKEN.consumer_key);
    expect(oauth.get('oauth_nonce')).toMatch(/^[0-9a-f]{32}$/);
    // dep-protocol.md section 2: every call (and /session, which depsim checks) carries these. Version 10 is
    // the one that adds retry_after_seconds and per-device THROTTLED, which apply relies on; Apple's
    // examples spell the charset "UTF8" without a hyphen.
    for (const req of [session, account]) {
      expect(req?.headers['x-server-protocol-version']).toBe('10');
      expect(req?.headers['user-agent']).toBe(`depctl/${PACKAGE_VERSION}`);
      expect(req?.headers['content-type']).toBe('application/json;charset=UTF8');
      expect(req?.headers.accept).toBe('application/json;charset=UTF8');
    }
    expect(session?.headers['x-adm-auth-session']).toBeUndefined();
    expect(account?.headers['x-adm-auth-session']).toBe('SESSION-1');
    expect(account?.headers.authorization).toBeUndefined();
    expect(events.map((e) => `${e.method} ${e.endpoint} ${e.status}`)).toEqual(['GET /session 200', 'GET /account 200']);
  });

  it('uses a fresh nonce per /session call', async () => {
    fake
      .expectSession('S1')
      .expect('GET', '/account', { status: 401, body: 'UNAUTHORIZED' })
      .expectSession('S2')
      .expect('GET', '/account', { status: 200, body: ACCOUNT });
    await client.account();
    const nonces = fake.requests.filter((r) => r.path === '/session').map((r) => parseOAuthHeader(String(r.headers.authorization)).get('oauth_nonce'));
    expect(new Set(nonces).size).toBe(2);
  });

  it('caches the session and shares one /session call between concurrent requests', async () => {
    fake.expectSession('S1');
    for (let i = 0; i < 3; i++) fake.expect('GET', '/account', { status: 200, body: ACCOUNT });
    await Promise.all([client.account(), client.account()]);
    await client.account();
    fake.assertDone();
    expect(fake.requests.filter((r) => r.path === '/session')).toHaveLength(1);
  });

  it('adopts a refreshed X-ADM-Auth-Session from any response', async () => {
    fake
      .expectSession('S1')
      .expect('GET', '/account', { status: 200, body: ACCOUNT, headers: { 'X-ADM-Auth-Session': 'S2' } })
      .expect('POST', '/server/devices', { status: 400, body: 'INVALID_CURSOR', headers: { 'X-ADM-Auth-Session': 'S3' } })
      .expect('GET', '/account', { status: 200, body: ACCOUNT });
    await client.account();
    await expect(client.fetchDevices({ cursor: 'x' })).rejects.toBeInstanceOf(DepHttpError);
    await client.account();
    fake.assertDone();
    expect(fake.requests.map((r) => r.headers['x-adm-auth-session'])).toEqual([undefined, 'S1', 'S2', 'S3']);
  });
});

describe('re-authentication', () => {
  it('re-authenticates once on 401 and replays the request body', async () => {
    fake
      .expectSession('S1')
      .expect('POST', '/profile/devices', { status: 401, body: 'UNAUTHORIZED' })
      .expectSession('S2')
      .expect('POST', '/profile/devices', { status: 200, body: { profile_uuid: 'P', devices: { A: 'SUCCESS' } } });
    await expect(client.assignProfile('P', ['A'])).resolves.toEqual({ profile_uuid: 'P', devices: { A: 'SUCCESS' } });
    fake.assertDone();
    const [first, replay] = fake.requests.filter((r) => r.path === '/profile/devices');
    expect(replay?.body).toBe(first?.body);
    expect(JSON.parse(replay?.body ?? '')).toEqual({ profile_uuid: 'P', devices: ['A'] });
    expect(replay?.headers['x-adm-auth-session']).toBe('S2');
  });

  it("re-authenticates on 403 FORBIDDEN (depsim's quoted body after a restart)", async () => {
    fake
      .expectSession('S1')
      .expect('GET', '/account', { status: 403, body: '"FORBIDDEN"' })
      .expectSession('S2')
      .expect('GET', '/account', { status: 200, body: ACCOUNT });
    await expect(client.account()).resolves.toEqual(ACCOUNT);
    fake.assertDone();
  });

  it('re-authenticates only once: a second 401 is an error', async () => {
    fake
      .expectSession('S1')
      .expect('GET', '/account', { status: 401, body: 'UNAUTHORIZED' })
      .expectSession('S2')
      .expect('GET', '/account', { status: 401, body: 'UNAUTHORIZED' });
    const err = await client.account().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DepHttpError);
    expect((err as DepHttpError).status).toBe(401);
    fake.assertDone();
  });

  it('does not re-authenticate on other 403s', async () => {
    fake.expectSession('S1').expect('GET', '/account', { status: 403, body: 'ACCESS_DENIED' });
    const err = await client.account().catch((e: unknown) => e);
    expect(isTerminalAuthError(err)).toBe(true);
    expect((err as DepAuthError).reason).toBe('access-denied');
    fake.assertDone();
  });
});

describe('terminal errors', () => {
  const cases = [
    { where: '/session', status: 403, body: 'T_C_NOT_SIGNED', reason: 'terms-not-signed', advice: /accept/i },
    { where: '/session', status: 401, body: 'token_rejected', reason: 'token-rejected', advice: /new token/i },
    { where: '/session', status: 401, body: '', reason: 'session-unauthorized', advice: /new token/i },
    { where: '/session', status: 403, body: 'ACCESS_DENIED', reason: 'access-denied', advice: /Apple Business Manager/ },
    { where: '/account', status: 403, body: 'T_C_NOT_SIGNED', reason: 'terms-not-signed', advice: /accept/i },
    { where: '/account', status: 403, body: 'token_rejected', reason: 'token-rejected', advice: /new token/i },
    { where: '/account', status: 403, body: 'signature_invalid', reason: 'signature-invalid', advice: /new token/i },
  ] as const;

  for (const c of cases) {
    it(`${c.status} ${c.body || '(empty)'} from ${c.where} is terminal and tells the admin what to do`, async () => {
      if (c.where === '/session') fake.expect('GET', '/session', { status: c.status, body: c.body });
      else fake.expectSession('S1').expect('GET', '/account', { status: c.status, body: c.body });
      const err = await client.account().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DepAuthError);
      const auth = err as DepAuthError;
      expect(auth.reason).toBe(c.reason);
      expect(auth.endpoint).toBe(c.where);
      expect(auth.message).toMatch(c.advice);
      expect(auth.transient).toBe(false);
      for (const secret of [TEST_TOKEN.consumer_secret, TEST_TOKEN.access_secret, TEST_TOKEN.access_token, 'S1']) {
        expect(auth.message).not.toContain(secret);
      }
      fake.assertDone();
    });
  }

  it('rejects an empty auth_session_token', async () => {
    fake.expect('GET', '/session', { status: 200, body: { auth_session_token: '' } });
    await expect(client.account()).rejects.toThrow(/empty auth_session_token/);
  });

  it('scrubs an echoed session token from error bodies', async () => {
    fake.expectSession('SECRET-SESSION-TOKEN').expect('GET', '/account', { status: 400, body: 'bad request for SECRET-SESSION-TOKEN' });
    const err = (await client.account().catch((e: unknown) => e)) as DepHttpError;
    expect(err.body).not.toContain('SECRET-SESSION-TOKEN');
    expect(err.body).toContain('[REDACTED]');
  });
});
