/**
 * The Business API simulator on its own: what its token endpoint accepts and refuses, its admin
 * endpoints, and the API-account files it writes for tests.
 */
import { createPrivateKey, randomUUID, sign } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Agent, request } from 'undici';
import { createAbmClient } from '../../../controller/abm/client.js';
import { ABM_ASSERTION_AUDIENCE } from '../../../controller/abm/types.js';
import { startAbmSimulator, writeApiAccount, type RunningAbmSimulator } from '../../../controller/sim/abm/index.js';

const NOW = Date.parse('2026-12-01T00:00:00Z');
const NOW_SEC = NOW / 1000;
let sim: RunningAbmSimulator;
let agent: Agent;

beforeEach(async () => {
  sim = await startAbmSimulator({ devices: 3, now: () => NOW, servers: [{ serverName: 'A' }] });
  agent = new Agent();
});
afterEach(async () => {
  await agent.close();
  await sim.close();
});

function jws(header: Record<string, unknown>, claims: Record<string, unknown>, pem = sim.account.privateKeyPem): string {
  const input = `${Buffer.from(JSON.stringify(header)).toString('base64url')}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`;
  return `${input}.${sign('sha256', Buffer.from(input), { key: createPrivateKey(pem), dsaEncoding: 'ieee-p1363' }).toString('base64url')}`;
}

function goodClaims(over: Record<string, unknown> = {}): Record<string, unknown> {
  return { sub: sim.account.clientId, iss: sim.account.clientId, aud: ABM_ASSERTION_AUDIENCE, iat: NOW_SEC, exp: NOW_SEC + 3600, jti: randomUUID(), ...over };
}

async function token(assertion: string, extra: Record<string, string> = {}, inQuery = false): Promise<{ status: number; body: Record<string, unknown> }> {
  const params = new URLSearchParams({
    grant_type: 'client_credentials',
    client_id: sim.account.clientId,
    client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
    client_assertion: assertion,
    scope: 'business.api',
    ...extra,
  });
  const res = await request(inQuery ? `${sim.tokenUrl}?${params.toString()}` : sim.tokenUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: inQuery ? '' : params.toString(),
    dispatcher: agent,
  });
  return { status: res.statusCode, body: (await res.body.json()) as Record<string, unknown> };
}

describe('token endpoint', () => {
  it('issues a one-hour bearer for a good assertion, in the body or (as Apple’s sample) the query string', async () => {
    const header = { alg: 'ES256', kid: sim.account.keyId };
    const ok = await token(jws(header, goodClaims()));
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ token_type: 'Bearer', expires_in: 3600, scope: 'business.api' });
    expect(typeof ok.body.access_token).toBe('string');
    expect((await token(jws(header, goodClaims()), {}, true)).status).toBe(200);
    expect(sim.inspect.tokensIssued()).toBe(2);
  });

  it('refuses a wrong aud, kid, iss/sub, an expired one, iat in the future, a lifetime over 180 days, alg and scope', async () => {
    const header = { alg: 'ES256', kid: sim.account.keyId };
    const cases: [string, Promise<{ status: number; body: Record<string, unknown> }>, string, RegExp][] = [
      ['aud', token(jws(header, goodClaims({ aud: 'https://account.apple.com/auth/oauth2/token' }))), 'invalid_client', /aud/],
      ['kid', token(jws({ ...header, kid: 'other' }, goodClaims())), 'invalid_client', /key id/],
      ['iss', token(jws(header, goodClaims({ iss: 'BUSINESSAPI.other' }))), 'invalid_client', /iss and sub/],
      ['expired', token(jws(header, goodClaims({ iat: NOW_SEC - 7200, exp: NOW_SEC - 1 }))), 'invalid_client', /expired/],
      ['future', token(jws(header, goodClaims({ iat: NOW_SEC + 3600, exp: NOW_SEC + 7200 }))), 'invalid_client', /future/],
      ['lifetime', token(jws(header, goodClaims({ exp: NOW_SEC + 180 * 86_400 + 1 }))), 'invalid_client', /180 days/],
      ['alg', token(jws({ ...header, alg: 'HS256' }, goodClaims())), 'invalid_client', /ES256/],
      ['scope', token(jws(header, goodClaims()), { scope: 'school.api' }), 'invalid_scope', /business\.api/],
      ['grant', token(jws(header, goodClaims()), { grant_type: 'password' }), 'unsupported_grant_type', /client_credentials/],
    ];
    for (const [name, pending, error, description] of cases) {
      const r = await pending;
      expect([name, r.status, r.body.error]).toEqual([name, 400, error]);
      expect(r.body.error_description).toMatch(description);
    }
    expect(sim.inspect.tokensIssued()).toBe(0);
  });

  it('lets one assertion be used again (clients keep it for months) but refuses a different one reusing its jti', async () => {
    const header = { alg: 'ES256', kid: sim.account.keyId };
    const claims = goodClaims({ jti: 'fixed-jti' });
    const a = jws(header, claims);
    expect((await token(a)).status).toBe(200);
    expect((await token(a)).status).toBe(200);
    const replay = await token(jws(header, { ...claims, exp: NOW_SEC + 7200 }));
    expect(replay).toMatchObject({ status: 400, body: { error: 'invalid_client' } });
    expect(replay.body.error_description).toMatch(/jti/);
  });
});

describe('admin endpoints', () => {
  it('reports state, adds devices, injects and clears faults, and moves the clock', async () => {
    const call = async (method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> => {
      const res = await request(`${sim.url}/_sim/${path}`, { method, body: body === undefined ? undefined : JSON.stringify(body), dispatcher: agent });
      return { status: res.statusCode, json: (await res.body.json()) as Record<string, unknown> };
    };
    expect((await call('GET', 'state')).json).toMatchObject({ devices: 3, apiUrl: sim.apiUrl, tokenUrl: sim.tokenUrl, clientId: sim.account.clientId });
    const [serverId] = sim.inspect.serverIds();
    const added = await call('POST', 'devices', { count: 2, serverId });
    expect((added.json.serials as string[]).length).toBe(2);
    expect(sim.inspect.serialsOf(serverId ?? '')).toEqual(added.json.serials);
    expect((await call('GET', `devices/${(added.json.serials as string[])[0]}`)).json).toMatchObject({ assignedServerId: serverId });
    expect((await call('POST', 'faults', { httpStatus: { status: 429, count: 1 } })).json).toEqual({ httpStatus: { status: 429, count: 1 } });
    expect((await call('POST', 'faults', { bogus: 1 })).status).toBe(400);
    expect((await call('DELETE', 'faults')).status).toBe(200);
    expect((await call('GET', 'faults')).json).toEqual({});
    expect((await call('POST', 'clock', { advanceMs: 60_000 })).json).toEqual({ now: new Date(NOW + 60_000).toISOString() });
  });
});

describe('API account files', () => {
  it('writes the private key (0600) and the IDs the way Apple hands them out, and the client works from them', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'abm-account-'));
    try {
      const written = await writeApiAccount(dir, sim.account, 'acme');
      expect((await stat(written.privateKeyPath)).mode & 0o777).toBe(0o600);
      const ids = JSON.parse(await readFile(written.accountPath, 'utf8')) as { clientId: string; keyId: string; scope: 'business' };
      expect(ids).toEqual({ clientId: sim.account.clientId, keyId: sim.account.keyId, scope: 'business' });
      expect(await readFile(written.accountPath, 'utf8')).not.toContain('PRIVATE KEY');
      const client = createAbmClient({
        credentials: { ...ids, privateKeyPem: await readFile(written.privateKeyPath, 'utf8'), apiUrl: sim.apiUrl, tokenUrl: sim.tokenUrl },
        dispatcher: agent,
        now: () => NOW,
      });
      await expect(client.listMdmServers()).resolves.toHaveLength(1);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
