import { request as httpRequest } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { AuthGuard } from '../../../controller/server/auth-guard.js';
import { createMetrics } from '../../../controller/server/metrics.js';
import { startHarness, type Harness } from './harness.js';
import { loadContract } from '../../helpers/openapi-contract.js';

const contract = loadContract();

// Failed authentication is slowed down per client address, with a manual clock: the free attempts get 401,
// then the address waits a doubling time (429 + Retry-After) during which even the right token is not looked
// at; a success clears the record; the log has one line per window and per block, not one per request.

describe('AuthGuard (pure, manual clock)', () => {
  it('gives free failures, then doubling waits, and starts over after a quiet window', () => {
    let t = 0;
    const g = new AuthGuard({ now: () => t, freeFailures: 3, windowMs: 60_000, baseDelayMs: 1000, maxDelayMs: 8000 });
    const verdicts = [1, 2, 3].map(() => g.failed('a'));
    expect(verdicts.map((v) => v.retryAfterMs)).toEqual([0, 0, 0]);
    expect(verdicts.map((v) => v.firstInWindow)).toEqual([true, false, false]);
    expect(g.failed('a')).toEqual({ retryAfterMs: 1000, firstBlock: true, firstInWindow: false });
    expect(g.blocked('a')).toBe(1000);
    expect(g.blocked('b')).toBe(0);
    t += 1000;
    expect(g.blocked('a')).toBe(0);
    expect(g.failed('a')).toEqual({ retryAfterMs: 2000, firstBlock: false, firstInWindow: false });
    t += 2000;
    expect(g.failed('a').retryAfterMs).toBe(4000);
    t += 4000;
    expect(g.failed('a').retryAfterMs).toBe(8000);
    t += 8000;
    expect(g.failed('a').retryAfterMs).toBe(8000); // capped
    t += 8000 + 60_000; // a quiet window: the next failure is free again
    expect(g.failed('a')).toEqual({ retryAfterMs: 0, firstBlock: false, firstInWindow: true });
    g.succeeded('a');
    expect(g.blocked('a')).toBe(0);
  });

  it('remembers a bounded number of addresses, dropping the least recently seen', () => {
    const g = new AuthGuard({ now: () => 0, maxClients: 100 });
    for (let i = 0; i < 1000; i++) g.failed(`10.0.${Math.floor(i / 256)}.${i % 256}`);
    expect(g.size).toBe(100);
  });
});

let h: Harness | undefined;
afterEach(async () => {
  await h?.server.close();
  h = undefined;
});

async function post(url: string, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(url, { method: 'POST', headers });
}

describe('the control server slows failed authentication down', () => {
  it('POST /api/reconcile: 401 for the free attempts, then 429 with Retry-After even for the right token, until the wait is over', async () => {
    let t = Date.parse('2026-12-01T10:00:00Z');
    const metrics = createMetrics({ defaultMetrics: false });
    h = await startHarness({ apiToken: 'right-token', metrics, authGuard: new AuthGuard({ now: () => t, freeFailures: 2, baseDelayMs: 5000 }) });
    const url = `${h.url}/api/reconcile`;
    expect((await post(url, { authorization: 'Bearer wrong-1' })).status).toBe(401);
    expect((await post(url, { authorization: 'Bearer wrong-2' })).status).toBe(401);
    const blocked = await post(url, { authorization: 'Bearer wrong-3' });
    expect(blocked.status).toBe(429);
    expect(blocked.headers.get('retry-after')).toBe('5');
    contract.check('/api/reconcile', 'post', 429, await blocked.json());
    const stillBlocked = await post(url, { authorization: 'Bearer right-token' });
    expect(stillBlocked.status).toBe(429);
    expect(h.triggers).toEqual([]);
    t += 5000;
    expect((await post(url, { authorization: 'Bearer right-token' })).status).toBe(202);
    expect(h.triggers).toEqual(['manual']);
    // One line for the window's first failure, one for the block: not one per request, and no token in them.
    const warnings = h.logs().split('\n').filter((l) => l.includes('"level":40'));
    expect(warnings).toHaveLength(2);
    expect(h.logs()).not.toMatch(/wrong-|right-token/);
    const text = await metrics.registry.metrics();
    expect(text).toMatch(/depctl_auth_failures_total\{route="api",outcome="rejected"\} 2/);
    expect(text).toMatch(/depctl_auth_failures_total\{route="api",outcome="blocked"\} 2/);
  });

  it('the webhook counts failed signatures the same way', async () => {
    let t = 0;
    h = await startHarness({ webhook: { githubSecret: 's3cret' }, authGuard: new AuthGuard({ now: () => t, freeFailures: 1, baseDelayMs: 3000 }) });
    const hook = (): Promise<Response> => post(`${h!.url}/hooks/git`, { 'x-hub-signature-256': 'sha256=00', 'x-github-event': 'push', 'content-type': 'application/json' });
    expect((await hook()).status).toBe(401);
    const second = await hook();
    expect(second.status).toBe(429);
    expect(second.headers.get('retry-after')).toBe('3');
    t += 3000;
    expect((await hook()).status).toBe(429); // the streak goes on: the wait doubles
  });

  it('a read token protects the page (Basic) and /api/status (Bearer); the API token reads too; probes and metrics stay open', async () => {
    h = await startHarness({ readToken: 'read-me', apiToken: 'api-token' });
    const page = await fetch(`${h.url}/`);
    expect(page.status).toBe(401);
    expect(page.headers.get('www-authenticate')).toMatch(/^Basic realm="depctl status"/);
    const basic = `Basic ${Buffer.from('anyone:read-me').toString('base64')}`;
    const ok = await fetch(`${h.url}/`, { headers: { authorization: basic } });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('content-security-policy')).toMatch(/frame-ancestors 'none'/);
    expect(ok.headers.get('x-content-type-options')).toBe('nosniff');
    const refused = await fetch(`${h.url}/api/status`);
    expect(refused.status).toBe(401);
    contract.check('/api/status', 'get', 401, await refused.json());
    expect((await fetch(`${h.url}/api/status`, { headers: { authorization: 'Bearer read-me' } })).status).toBe(200);
    expect((await fetch(`${h.url}/api/status`, { headers: { authorization: 'Bearer api-token' } })).status).toBe(200);
    expect((await fetch(`${h.url}/api/status`, { headers: { authorization: `Basic ${Buffer.from('x:wrong').toString('base64')}` } })).status).toBe(401);
    expect((await fetch(`${h.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${h.url}/metrics`)).status).toBe(200);
  });
});

describe('request limits on every route', () => {
  it('refuses a declared body over the route limit with 413 before the handler runs', async () => {
    h = await startHarness({ apiToken: 'api-token' });
    const res = await fetch(`${h.url}/api/reconcile`, { method: 'POST', headers: { authorization: 'Bearer api-token', 'content-type': 'text/plain' }, body: 'x'.repeat(20_000) });
    expect(res.status).toBe(413);
    expect(h.triggers).toEqual([]);
  });

  it('cuts an undeclared (chunked) body off at the limit on a route that reads none', async () => {
    h = await startHarness();
    const url = new URL(`${h.url}/healthz`);
    const errors: string[] = [];
    await new Promise<void>((resolve) => {
      const req = httpRequest({ host: url.hostname, port: url.port, path: '/healthz', method: 'GET', headers: { 'transfer-encoding': 'chunked' } });
      req.on('response', (res) => res.resume());
      req.on('error', (err: NodeJS.ErrnoException) => errors.push(err.code ?? err.message));
      req.on('close', () => resolve());
      // 4 MiB offered in 8 KiB chunks; a server that read it all would let the request end cleanly.
      const chunk = Buffer.alloc(8 * 1024, 'a');
      let sent = 0;
      const pump = (): void => {
        while (sent < 512) {
          sent++;
          if (!req.write(chunk)) return void req.once('drain', pump);
        }
        req.end();
      };
      pump();
    });
    // The server cut the connection once the body passed 16 KiB: the client's writes failed.
    expect(errors.length).toBeGreaterThan(0);
  });

  it('answers 431 to headers over 16 KiB', async () => {
    h = await startHarness();
    const res = await fetch(`${h.url}/healthz`, { headers: { 'x-padding': 'a'.repeat(20 * 1024) } });
    expect(res.status).toBe(431);
    expect((await fetch(`${h.url}/healthz`, { headers: { 'x-padding': 'a'.repeat(8 * 1024) } })).status).toBe(200);
  });
});
