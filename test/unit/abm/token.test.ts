import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Agent } from 'undici';
import { createAbmClient, type AbmClient } from '../../../controller/abm/client.js';
import { AbmAuthError, AbmTokenError } from '../../../controller/abm/errors.js';
import { generateApiAccount } from '../../../controller/sim/abm/credentials.js';
import { startFakeAbm, tokenReply, verifyAssertion, type FakeAbm } from './fake-abm-server.js';

const T0 = Date.parse('2026-12-01T00:00:00Z');
const account = generateApiAccount('business');
const DAY = 86_400_000;

let fake: FakeAbm;
let agent: Agent;
let clock: number;
let sleeps: number[];
let client: AbmClient;

function makeClient(maxAttempts = 1): AbmClient {
  return createAbmClient({
    credentials: { ...account, apiUrl: `${fake.url}/v1`, tokenUrl: `${fake.url}/auth/oauth2/token` },
    dispatcher: agent,
    now: () => clock,
    random: () => 0.5,
    retry: {
      maxAttempts,
      sleep: async (ms) => {
        sleeps.push(ms);
        clock += ms;
      },
    },
  });
}

const servers = { status: 200, body: { data: [], meta: { paging: { total: 0, limit: 100 } } } };

beforeEach(async () => {
  fake = await startFakeAbm();
  agent = new Agent();
  clock = T0;
  sleeps = [];
  client = makeClient();
});

afterEach(async () => {
  await agent.close();
  await fake.close();
});

describe('token request', () => {
  it('posts a client-credentials form with a verifiable assertion and uses the bearer on the API', async () => {
    fake.expect('POST', '/auth/oauth2/token', tokenReply('AT-1')).expect('GET', '/v1/mdmServers', servers);
    await expect(client.listMdmServers()).resolves.toEqual([]);
    fake.assertDone();
    const [tok, api] = fake.requests;
    expect(tok?.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(Object.fromEntries(tok?.form ?? [])).toMatchObject({
      grant_type: 'client_credentials',
      client_id: account.clientId,
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      scope: 'business.api',
    });
    const { header, claims } = verifyAssertion(tok?.form.get('client_assertion') ?? '', account.publicKeyPem);
    expect(header.kid).toBe(account.keyId);
    expect(claims.iat).toBe(T0 / 1000);
    expect(claims.exp).toBe(T0 / 1000 + 180 * 86_400);
    expect(api?.headers.authorization).toBe('Bearer AT-1');
    expect(api?.headers.accept).toBe('application/json');
  });
});

describe('renewal', () => {
  it('renews the access token at 80% of expires_in and the assertion at 95% of its 180 days', async () => {
    const assertions: string[] = [];
    const grab = (token: string) => (r: { form: URLSearchParams }) => {
      assertions.push(r.form.get('client_assertion') ?? '');
      return tokenReply(token);
    };
    fake.expect('POST', '/auth/oauth2/token', grab('AT-1'));
    await expect(client.tokens.accessToken()).resolves.toBe('AT-1');
    expect(client.tokens.renewalPoints()).toEqual({ accessToken: T0 + 2_880_000, assertion: T0 + Math.floor(180 * DAY * 0.95) });

    clock = T0 + 2_880_000 - 1;
    await expect(client.tokens.accessToken()).resolves.toBe('AT-1');
    expect(client.tokens.tokenRequests()).toBe(1);

    clock = T0 + 2_880_000;
    fake.expect('POST', '/auth/oauth2/token', grab('AT-2'));
    await expect(client.tokens.accessToken()).resolves.toBe('AT-2');
    expect(assertions[1]).toBe(assertions[0]);

    // Just before 95% of 180 days the old assertion still goes out; at 95% a new one is signed.
    clock = T0 + Math.floor(180 * DAY * 0.95) - 1;
    fake.expect('POST', '/auth/oauth2/token', grab('AT-3'));
    await client.tokens.accessToken();
    expect(assertions[2]).toBe(assertions[0]);
    // The next token request from 95% on (here forced by a 401's invalidate) carries a new assertion.
    clock = T0 + Math.floor(180 * DAY * 0.95);
    client.tokens.invalidate('AT-3');
    fake.expect('POST', '/auth/oauth2/token', grab('AT-4'));
    await client.tokens.accessToken();
    expect(assertions[3]).not.toBe(assertions[0]);
    const a = verifyAssertion(assertions[0] ?? '', account.publicKeyPem).claims;
    const b = verifyAssertion(assertions[3] ?? '', account.publicKeyPem).claims;
    expect(b.jti).not.toBe(a.jti);
    expect(b.iat).toBe(Math.floor(clock / 1000));
    fake.assertDone();
  });

  it('shares one token request among concurrent callers', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    fake.expect('POST', '/auth/oauth2/token', { ...tokenReply('AT-1'), gate });
    const calls = Array.from({ length: 5 }, () => client.tokens.accessToken());
    release();
    await expect(Promise.all(calls)).resolves.toEqual(['AT-1', 'AT-1', 'AT-1', 'AT-1', 'AT-1']);
    expect(client.tokens.tokenRequests()).toBe(1);
    fake.assertDone();
  });

  it('lets a caller abort its wait for a shared token request without failing the others', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    fake.expect('POST', '/auth/oauth2/token', { ...tokenReply('AT-1'), gate });
    const ac = new AbortController();
    const aborted = client.tokens.accessToken(ac.signal);
    const other = client.tokens.accessToken();
    ac.abort(new Error('caller gave up'));
    await expect(aborted).rejects.toThrow('caller gave up');
    release();
    await expect(other).resolves.toBe('AT-1');
  });
});

describe('401 from the API', () => {
  it('gets a new token and replays the request once', async () => {
    fake
      .expect('POST', '/auth/oauth2/token', tokenReply('AT-1'))
      .expect('GET', '/v1/mdmServers', { status: 401, body: { errors: [{ status: '401', code: 'NOT_AUTHORIZED' }] } })
      .expect('POST', '/auth/oauth2/token', tokenReply('AT-2'))
      .expect('GET', '/v1/mdmServers', servers);
    await expect(client.listMdmServers()).resolves.toEqual([]);
    fake.assertDone();
    expect(fake.requests.map((r) => r.headers.authorization).filter(Boolean)).toEqual(['Bearer AT-1', 'Bearer AT-2']);
  });

  it('stops after one re-authentication with an AbmAuthError that names neither token', async () => {
    fake
      .expect('POST', '/auth/oauth2/token', tokenReply('AT-first-secret-token'))
      .expect('GET', '/v1/mdmServers', { status: 401, body: { errors: [{ status: '401', code: 'NOT_AUTHORIZED', detail: 'token AT-first-secret-token refused' }] } })
      .expect('POST', '/auth/oauth2/token', tokenReply('AT-second-secret-token'))
      .expect('GET', '/v1/mdmServers', { status: 401, body: { errors: [{ status: '401', code: 'NOT_AUTHORIZED', detail: 'Bearer AT-second-secret-token refused' }] } });
    const err = await client.listMdmServers().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AbmAuthError);
    const text = `${(err as AbmAuthError).message} ${(err as AbmAuthError).body} ${JSON.stringify((err as AbmAuthError).errors)}`;
    expect(text).not.toContain('AT-first-secret-token');
    expect(text).not.toContain('AT-second-secret-token');
    fake.assertDone();
  });
});

describe('token errors', () => {
  it('turns an RFC 6749 error into AbmTokenError without the assertion, and signs a new assertion next time', async () => {
    let sent = '';
    fake.expect('POST', '/auth/oauth2/token', (r) => {
      sent = r.form.get('client_assertion') ?? '';
      return { status: 400, body: { error: 'invalid_client', error_description: `bad client_assertion=${sent} for ${account.privateKeyPem}` } };
    });
    const err = await client.tokens.accessToken().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AbmTokenError);
    const e = err as AbmTokenError;
    expect(e.error).toBe('invalid_client');
    expect(e.message).toMatch(/invalid_client/);
    expect(e.message).toMatch(/client ID, the key ID/);
    for (const text of [e.message, e.errorDescription ?? '', e.stack ?? '']) {
      expect(text).not.toContain(sent);
      expect(text).not.toContain(sent.split('.')[2] ?? 'x');
      expect(text).not.toContain('PRIVATE KEY');
    }
    let second = '';
    fake.expect('POST', '/auth/oauth2/token', (r) => {
      second = r.form.get('client_assertion') ?? '';
      return tokenReply('AT-1');
    });
    await expect(client.tokens.accessToken()).resolves.toBe('AT-1');
    expect(second).not.toBe(sent);
    fake.assertDone();
  });

  it('retries a 503 from the token endpoint after its Retry-After', async () => {
    client = makeClient(3);
    fake
      .expect('POST', '/auth/oauth2/token', { status: 503, headers: { 'Retry-After': '7' } })
      .expect('POST', '/auth/oauth2/token', tokenReply('AT-1'));
    await expect(client.tokens.accessToken()).resolves.toBe('AT-1');
    expect(sleeps).toEqual([7000]);
    fake.assertDone();
  });
});
