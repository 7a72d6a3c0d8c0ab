import { createHmac } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startSimulator } from '../../../controller/sim/index.js';
import type { RunningSimulator } from '../../../controller/sim/api.js';
import { call, oauthHeader, session } from './raw-client.js';

const T0 = Date.UTC(2026, 2, 1, 12, 0, 0);
let clock = T0;
let sim: RunningSimulator;

beforeEach(async () => {
  clock = T0;
  sim = await startSimulator({ devices: 3, seed: 5, now: () => clock, sessionTtlMs: 10 * 60_000 });
});
afterEach(() => sim.close());

const ts = (): number => Math.floor(clock / 1000);
const getSession = (authorization: string, headers: Record<string, string> = {}) => call(sim, 'GET', '/session', { headers: { authorization, ...headers } });

describe('GET /session OAuth 1.0a verification', () => {
  it('accepts a signature computed by hand with node:crypto (no realm, like NanoDEP)', async () => {
    // Every step of RFC 5849 §3.4 spelled out here, independent of any helper.
    const t = sim.token;
    const params = [
      ['oauth_consumer_key', t.consumer_key],
      ['oauth_nonce', 'n0nce-by-hand'],
      ['oauth_signature_method', 'HMAC-SHA1'],
      ['oauth_timestamp', String(ts())],
      ['oauth_token', t.access_token],
      ['oauth_version', '1.0'],
    ] as const;
    const paramString = params.map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join('&');
    const base = `GET&${encodeURIComponent(`${sim.url}/session`)}&${encodeURIComponent(paramString)}`;
    const signature = createHmac('sha1', `${t.consumer_secret}&${t.access_secret}`).update(base).digest('base64');
    const header = `OAuth ${params.map(([k, v]) => `${k}="${encodeURIComponent(v)}"`).join(', ')}, oauth_signature="${encodeURIComponent(signature)}"`;
    const r = await getSession(header);
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('application/json;charset=UTF8');
    const token = (r.json as { auth_session_token: string }).auth_session_token;
    expect(token).toMatch(/^[0-9A-F]{128}$/);
    expect((await call(sim, 'GET', '/account', { session: token })).status).toBe(200);
  });

  it('accepts unquoted parameter values as well as quoted ones', async () => {
    const quoted = oauthHeader(sim.token, `${sim.url}/session`, { timestamp: ts() });
    expect((await getSession(quoted.replace(/"/g, ''))).status).toBe(200);
  });

  it('accepts realm="ADM" and hands out a different token each time', async () => {
    const a = await session(sim, { realm: true });
    const b = await session(sim);
    expect(a).not.toBe(b);
  });

  it('answers 401 to a bad signature, an unknown consumer key and a wrong Host in the base string', async () => {
    const url = `${sim.url}/session`;
    expect((await getSession(oauthHeader(sim.token, url, { timestamp: ts(), consumerSecret: 'CS_wrong' }))).status).toBe(401);
    expect((await getSession(oauthHeader(sim.token, url, { timestamp: ts(), consumerKey: 'CK_unknown' }))).status).toBe(401);
    const other = oauthHeader(sim.token, 'http://mdmenrollment.apple.com/session', { timestamp: ts() });
    const r = await getSession(other);
    expect(r.status).toBe(401);
    expect(r.text).toBe('UNAUTHORIZED');
    // The same header is right when the client did call through that Host (a proxy or DNS override).
    expect((await getSession(other, { host: 'mdmenrollment.apple.com' })).status).toBe(200);
  });

  it('signs over https when a TLS proxy says so in X-Forwarded-Proto', async () => {
    const host = new URL(sim.url).host;
    const header = oauthHeader(sim.token, `https://${host}/session`, { timestamp: ts() });
    expect((await getSession(header)).status).toBe(401);
    expect((await getSession(oauthHeader(sim.token, `https://${host}/session`, { timestamp: ts() }), { 'x-forwarded-proto': 'https' })).status).toBe(200);
  });

  it('answers 401 to a reused nonce', async () => {
    const header = oauthHeader(sim.token, `${sim.url}/session`, { timestamp: ts(), nonce: 'same-nonce' });
    expect((await getSession(header)).status).toBe(200);
    expect((await getSession(header)).status).toBe(401);
    expect((await getSession(oauthHeader(sim.token, `${sim.url}/session`, { timestamp: ts(), nonce: 'same-nonce' }))).status).toBe(401);
  });

  it('answers 401 to a timestamp too far from the clock', async () => {
    const url = `${sim.url}/session`;
    expect((await getSession(oauthHeader(sim.token, url, { timestamp: ts() - 3600 }))).status).toBe(401);
    expect((await getSession(oauthHeader(sim.token, url, { timestamp: ts() + 3600 }))).status).toBe(401);
    expect((await getSession(oauthHeader(sim.token, url, { timestamp: ts() - 60 }))).status).toBe(200);
  });

  it('answers 400 to malformed OAuth headers', async () => {
    const good = oauthHeader(sim.token, `${sim.url}/session`, { timestamp: ts() });
    const cases = [
      good.replace(/, oauth_nonce="[^"]*"/, ''),
      good.replace('HMAC-SHA1', 'PLAINTEXT'),
      `${good}, oauth_nonce="again"`,
      `${good}, oauth_callback="oob"`,
      'Basic dXNlcjpwYXNz',
    ];
    for (const header of cases) expect((await getSession(header)).status, header).toBe(400);
    expect((await call(sim, 'GET', '/session')).status).toBe(400);
  });

  it('requires a User-Agent (400 USER_AGENT_MISSING)', async () => {
    const r = await call(sim, 'GET', '/session', { headers: { 'user-agent': '', authorization: oauthHeader(sim.token, `${sim.url}/session`, { timestamp: ts() }) } });
    expect(r.status).toBe(400);
    expect(r.text).toBe('USER_AGENT_MISSING');
  });
});

describe('sessions', () => {
  it('expire after sessionTtlMs on the injected clock (401)', async () => {
    const s = await session(sim);
    clock += 9 * 60_000;
    expect((await call(sim, 'GET', '/account', { session: s })).status).toBe(200);
    clock += 2 * 60_000;
    const r = await call(sim, 'GET', '/account', { session: s });
    expect(r.status).toBe(401);
    expect(r.text).toBe('UNAUTHORIZED');
  });

  it('answer 401 to a missing or unknown session, 403 FORBIDDEN under the depsim fault', async () => {
    expect((await call(sim, 'GET', '/account')).status).toBe(401);
    expect((await call(sim, 'GET', '/account', { session: 'NOPE' })).status).toBe(401);
    const s = await session(sim);
    sim.injectFaults({ expireSessions: { forbidden: true } });
    const r = await call(sim, 'GET', '/account', { session: s });
    expect([r.status, r.text]).toEqual([403, 'FORBIDDEN']);
    const fresh = await session(sim);
    expect((await call(sim, 'GET', '/account', { session: fresh })).status).toBe(200);
  });

  it('reject an expired server token at /session', async () => {
    await sim.close();
    sim = await startSimulator({ now: () => clock, token: { ...sim.token, access_token_expiry: '2026-01-01T00:00:00Z' } });
    const r = await getSession(oauthHeader(sim.token, `${sim.url}/session`, { timestamp: ts() }));
    expect(r.status).toBe(401);
    expect(r.text).toContain('Unauthorized');
  });
});
