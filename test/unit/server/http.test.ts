import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { parseListen, startControlServer } from '../../../controller/server/http.js';
import { createMetrics } from '../../../controller/server/metrics.js';
import { STATUS_PAGE_CSP } from '../../../controller/server/status-page-style.js';
import { pino } from 'pino';
import { startHarness, type Harness } from './harness.js';

let h: Harness | undefined;
afterEach(async () => {
  await h?.server.close();
  h = undefined;
});

async function harness(...args: Parameters<typeof startHarness>): Promise<Harness> {
  h = await startHarness(...args);
  return h;
}

describe('probes', () => {
  it('answers /healthz 200 while live and 503 with the reason when wedged', async () => {
    const t = await harness();
    const ok = await fetch(`${t.url}/healthz`);
    expect(ok.status).toBe(200);
    expect(await ok.text()).toBe('ok\n');
    t.health = { live: false, ready: false, reason: 'loop has not ticked for 10 min' };
    const bad = await fetch(`${t.url}/healthz?verbose=1`);
    expect(bad.status).toBe(503);
    expect(await bad.text()).toContain('loop has not ticked for 10 min');
  });

  it('answers /readyz 200 only when ready, 503 with the reason otherwise', async () => {
    const t = await harness();
    expect((await fetch(`${t.url}/readyz`)).status).toBe(200);
    t.health = { live: true, ready: false, reason: 'no valid revision yet' };
    const res = await fetch(`${t.url}/readyz`);
    expect(res.status).toBe(503);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(await res.text()).toBe('not ready: no valid revision yet\n');
  });

  it('treats a health callback that throws as neither live nor ready', async () => {
    const t = await harness({ health: () => { throw new Error('store closed'); } });
    const res = await fetch(`${t.url}/healthz`);
    expect(res.status).toBe(503);
    expect(await res.text()).toContain('store closed');
    expect((await fetch(`${t.url}/readyz`)).status).toBe(503);
  });

  it('answers HEAD like GET without a body', async () => {
    const t = await harness();
    const res = await fetch(`${t.url}/healthz`, { method: 'HEAD' });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('');
  });
});

describe('read endpoints', () => {
  it('serves Prometheus text read from the live status at scrape time', async () => {
    const t = await harness();
    const res = await fetch(`${t.url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(await res.text()).toMatch(/^depctl_devices\{server="paris",profile="classroom-ipads"\} 800$/m);
    t.status = { ...t.status, leader: false };
    expect(await (await fetch(`${t.url}/metrics`)).text()).toMatch(/^depctl_leader 0$/m);
  });

  it('serves the snapshot as JSON without caching', async () => {
    const t = await harness();
    const res = await fetch(`${t.url}/api/status`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(await res.json()).toEqual(t.status);
  });

  it('serves the HTML page with a CSP that admits exactly its stylesheet', async () => {
    const t = await harness();
    const res = await fetch(`${t.url}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    const csp = res.headers.get('content-security-policy') ?? '';
    expect(csp).toBe(STATUS_PAGE_CSP);
    expect(csp).toContain("default-src 'none'");
    const html = await res.text();
    const css = /<style>([\s\S]*?)<\/style>/.exec(html)?.[1] ?? '';
    expect(csp).toContain(`'sha256-${createHash('sha256').update(css).digest('base64')}'`);
    expect(html).toContain('data-testid="devices-paris"');
  });
});

describe('routing', () => {
  it('answers 404 for unknown paths and 405 with Allow for a wrong method', async () => {
    const t = await harness({ apiToken: 'an-api-token-0123456789' });
    expect((await fetch(`${t.url}/nope`)).status).toBe(404);
    expect((await fetch(`${t.url}/healthz/`)).status).toBe(404);
    const post = await fetch(`${t.url}/healthz`, { method: 'POST' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
    const get = await fetch(`${t.url}/api/reconcile`);
    expect(get.status).toBe(405);
    expect(get.headers.get('allow')).toBe('POST');
    expect((await fetch(`${t.url}/hooks/git`)).status).toBe(405);
    expect(t.triggers).toEqual([]);
  });

  it('answers 500 without details when a handler throws', async () => {
    const t = await harness({ status: () => { throw new Error('snapshot exploded'); } });
    const res = await fetch(`${t.url}/api/status`);
    expect(res.status).toBe(500);
    expect(await res.text()).not.toContain('exploded');
  });
});

describe('POST /api/reconcile', () => {
  const token = 'api-token-5f1c2e8a9b7d';

  it('answers 404 when no API token is configured', async () => {
    const t = await harness();
    const res = await fetch(`${t.url}/api/reconcile`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(404);
    expect(t.triggers).toEqual([]);
  });

  it('answers 401 without, with a wrong or a partial token, and never logs it', async () => {
    const t = await harness({ apiToken: token });
    const attempts: (string | undefined)[] = [undefined, 'Bearer wrong-guess-1234567', `Bearer ${token.slice(0, -1)}`, `Bearer ${token}x`, `Basic ${token}`, `Bearer  `];
    for (const auth of attempts) {
      const res = await fetch(`${t.url}/api/reconcile`, { method: 'POST', headers: auth === undefined ? {} : { authorization: auth } });
      expect(res.status, String(auth)).toBe(401);
      expect(res.headers.get('www-authenticate')).toBe('Bearer realm="depctl"');
    }
    expect(t.triggers).toEqual([]);
    expect(t.logs()).toContain('authentication failed');
    expect(t.logs()).not.toContain('wrong-guess');
    expect(t.logs()).not.toContain(token.slice(0, -1));
  });

  it('answers 202 and triggers a manual pass with the right token', async () => {
    const t = await harness({ apiToken: token });
    const res = await fetch(`${t.url}/api/reconcile`, { method: 'POST', headers: { authorization: `bearer ${token}` } });
    expect(res.status).toBe(202);
    expect(await res.json()).toEqual({ triggered: true, reason: 'manual' });
    expect(t.triggers).toEqual(['manual']);
    expect(t.logs()).not.toContain(token);
  });
});

describe('startControlServer', () => {
  it('rejects when the port is taken, and close() frees it', async () => {
    const t = await harness();
    const port = new URL(t.url).port;
    const opts = { listen: `127.0.0.1:${port}`, status: () => t.status, metrics: createMetrics({ defaultMetrics: false }), health: () => t.health, trigger: () => undefined, logger: pino({ level: 'silent' }) };
    await expect(startControlServer(opts)).rejects.toThrow(/EADDRINUSE/);
    await fetch(`${t.url}/healthz`); // leaves a keep-alive connection open, which close() must not wait for
    await t.server.close();
    h = undefined;
    const again = await startControlServer(opts);
    expect(again.url).toBe(`http://127.0.0.1:${port}`);
    await again.close();
    await expect(fetch(`${again.url}/healthz`)).rejects.toThrow();
  });
});

describe('parseListen', () => {
  it('accepts HOST:PORT, [IPv6]:PORT and :PORT', () => {
    expect(parseListen('127.0.0.1:0')).toEqual({ host: '127.0.0.1', port: 0 });
    expect(parseListen('[::1]:8080')).toEqual({ host: '::1', port: 8080 });
    expect(parseListen(':9090')).toEqual({ host: '0.0.0.0', port: 9090 });
    expect(parseListen('localhost:8080')).toEqual({ host: 'localhost', port: 8080 });
  });

  it('rejects anything else', () => {
    for (const bad of ['8080', 'localhost', '127.0.0.1:99999', '127.0.0.1:http', '::1:8080', '']) {
      expect(() => parseListen(bad), bad).toThrow(/invalid listen address/);
    }
  });
});
