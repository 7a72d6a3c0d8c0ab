import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startSimulator } from '../../../controller/sim/index.js';
import type { RunningSimulator } from '../../../controller/sim/api.js';
import { call, type Page, session } from './raw-client.js';

let sim: RunningSimulator;
let s: string;
let serials: string[];

beforeEach(async () => {
  sim = await startSimulator({ devices: 10, seed: 17 });
  s = await session(sim);
  serials = ((await call(sim, 'POST', '/server/devices', { session: s })).json as Page).devices.map((d) => d.serial_number);
});
afterEach(() => sim.close());

const api = (method: string, path: string, body?: unknown, version = 10) => call(sim, method, path, { session: s, body, version });

describe('fault injection', () => {
  it('answers the next N matching requests with 5xx/429 and Retry-After, then recovers', async () => {
    sim.injectFaults({ httpStatus: { status: 503, count: 2, path: '/account', retryAfter: '7' } });
    expect((await api('POST', '/devices', { devices: [serials[0]] })).status).toBe(200);
    const first = await api('GET', '/account');
    expect([first.status, first.text, first.headers['retry-after']]).toEqual([503, 'SERVICE_UNAVAILABLE', '7']);
    expect((await api('GET', '/account')).status).toBe(503);
    expect((await api('GET', '/account')).status).toBe(200);
    sim.injectFaults({ httpStatus: { status: 429, count: 1 } });
    const throttled = await api('POST', '/server/devices', {});
    expect([throttled.status, throttled.text, throttled.headers['retry-after']]).toEqual([429, 'TOO_MANY_REQUESTS', undefined]);
    expect(sim.inspect.requestCounts()['GET /account']).toBe(3);
  });

  it('resets connections without answering', async () => {
    sim.injectFaults({ connectionResets: { count: 1, path: '/account' } });
    await expect(api('GET', '/account')).rejects.toThrow();
    expect(sim.inspect.faults().connectionResets?.count).toBe(0);
    expect((await api('GET', '/account')).status).toBe(200);
  });

  it('adds latency to every request', async () => {
    sim.injectFaults({ latencyMs: 150 });
    const t = performance.now();
    expect((await api('GET', '/account')).status).toBe(200);
    expect(performance.now() - t).toBeGreaterThanOrEqual(140);
  });

  it('THROTTLED (with retry_after_seconds from v10, FAILED before v9) and FAILED serials on assign', async () => {
    const [a, b, c] = serials as [string, string, string];
    sim.injectFaults({ throttledSerials: { serials: [a], retryAfterSeconds: 45 }, failedSerials: [b] });
    const { profile_uuid } = (await api('POST', '/profile', { profile_name: 'p', url: 'https://m.example.com/e' })).json as { profile_uuid: string };
    const r = await api('POST', '/profile/devices', { profile_uuid, devices: [a, b, c] });
    expect(r.json).toEqual({ profile_uuid, devices: { [a]: 'THROTTLED', [b]: 'FAILED', [c]: 'SUCCESS' }, retry_after_seconds: 45 });
    expect(sim.inspect.device(a)?.profile_status).toBe('empty');
    const v9 = await api('PUT', '/profile/devices', { profile_uuid, devices: [a] }, 9);
    expect(v9.json).toEqual({ profile_uuid, devices: { [a]: 'THROTTLED' } });
    const v8 = await api('PUT', '/profile/devices', { profile_uuid, devices: [a] }, 8);
    expect(v8.json).toEqual({ profile_uuid, devices: { [a]: 'FAILED' } });
    sim.clearFaults();
    expect(((await api('POST', '/profile/devices', { profile_uuid, devices: [a, b] })).json as { devices: unknown }).devices).toEqual({ [a]: 'SUCCESS', [b]: 'SUCCESS' });
  });

  it('T&C not signed: 403 T_C_NOT_SIGNED from /session and from calls', async () => {
    sim.injectFaults({ termsNotSigned: true });
    expect((await api('GET', '/account')).text).toBe('T_C_NOT_SIGNED');
    await expect(session(sim)).rejects.toThrow(/403 T_C_NOT_SIGNED/);
    sim.clearFaults();
    expect((await api('GET', '/account')).status).toBe(200);
  });

  it('revoked token: 401 token_rejected from /session, 403 token_rejected on calls', async () => {
    sim.injectFaults({ tokenRevoked: true });
    const call403 = await api('GET', '/account');
    expect([call403.status, call403.text]).toEqual([403, 'token_rejected']);
    await expect(session(sim)).rejects.toThrow(/401 token_rejected/);
  });

  it('expireSessions invalidates every session once (401); new sessions work', async () => {
    sim.injectFaults({ expireSessions: {} });
    expect((await api('GET', '/account')).status).toBe(401);
    s = await session(sim);
    expect((await api('GET', '/account')).status).toBe(200);
  });

  it('rotates the session token in X-ADM-Auth-Session every Nth reply and revokes the old one', async () => {
    sim.injectFaults({ rotateSession: { every: 2 } });
    const r1 = await api('GET', '/account');
    expect(r1.headers['x-adm-auth-session']).toBeUndefined();
    const r2 = await api('GET', '/account');
    const fresh = r2.headers['x-adm-auth-session'] as string;
    expect(fresh).toMatch(/^[0-9A-F]{128}$/);
    expect((await api('GET', '/account')).status).toBe(401);
    s = fresh;
    expect((await api('GET', '/account')).status).toBe(200);
    sim.injectFaults({ rotateSession: { every: 1, revokeOld: false } });
    const r3 = await api('GET', '/account');
    expect(r3.headers['x-adm-auth-session']).toMatch(/^[0-9A-F]{128}$/);
    expect((await api('GET', '/account')).status).toBe(200);
  });

  it('counts requests by METHOD path (not /_sim) and resets the counts', async () => {
    sim.inspect.resetRequestCounts();
    await api('GET', '/account');
    await api('GET', `/profile?profile_uuid=X`);
    await api('PUT', '/profile/devices', {});
    await call(sim, 'GET', '/_sim/state');
    expect(sim.inspect.requestCounts()).toEqual({ 'GET /account': 1, 'GET /profile': 1, 'PUT /profile/devices': 1 });
  });
});
