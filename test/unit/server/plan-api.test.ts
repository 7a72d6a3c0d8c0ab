import { afterEach, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { createPlanApi, RemotePlanError, type PlanApiOptions, type RemotePlanner, type RemotePlanResult } from '../../../controller/server/plan-api.js';
import { renderPlanMarkdown } from '../../../controller/cli/views/plan-markdown.js';
import { inLinePlan } from '../../helpers/plans.js';
import { loadContract } from '../../helpers/openapi-contract.js';
import { startHarness, type Harness } from './harness.js';

const TOKEN = 'plan-api-token-0123456789';
const SHA = 'a'.repeat(40);
const TRUSTED = 'b'.repeat(40);
const contract = loadContract();

/** A planner that answers at once, or waits for `release()` (or its signal) when `hold` is set. */
function fakePlanner(): { planner: RemotePlanner; calls: { ref: string; sha: string | undefined }[]; hold: boolean; release(): void; aborted: AbortSignal[] } {
  let releases: (() => void)[] = [];
  const f = {
    calls: [] as { ref: string; sha: string | undefined }[],
    hold: false,
    aborted: [] as AbortSignal[],
    release: () => {
      releases.forEach((r) => r());
      releases = [];
    },
    planner: (async (ref, sha, signal) => {
      f.calls.push({ ref, sha });
      if (ref === 'bad') throw new RemotePlanError(422, '1 validation error(s)', ['servers.yaml:3:1: boom']);
      if (ref === 'gone') throw new RemotePlanError(404, 'no such branch');
      if (f.hold) {
        await new Promise<void>((resolve) => {
          releases.push(resolve);
          signal.addEventListener('abort', () => {
            f.aborted.push(signal);
            resolve();
          });
        });
      }
      return { ref, sha: SHA, trustedRevision: TRUSTED, plan: inLinePlan() } satisfies RemotePlanResult;
    }) as RemotePlanner,
  };
  return f;
}

describe('GET|POST /api/plan (plan-api.ts) and the OpenAPI contract', () => {
  let h: Harness | undefined;
  let clock = 0;
  afterEach(async () => {
    await h?.server.close();
    h = undefined;
  });

  async function start(f: ReturnType<typeof fakePlanner>, extra: Partial<PlanApiOptions> = {}, token: string | undefined = TOKEN): Promise<Harness> {
    clock = 1_000_000;
    h = await startHarness({
      ...(token ? { apiToken: token } : {}),
      planApi: createPlanApi({ planner: f.planner, renderMarkdown: renderPlanMarkdown, now: () => clock, ...extra }),
    });
    return h;
  }

  async function call(path: string, opts: { method?: 'GET' | 'POST'; token?: string | null; body?: string } = {}): Promise<{ status: number; headers: Record<string, unknown>; text: string; json: unknown }> {
    const res = await request(`${h?.url}${path}`, {
      method: opts.method ?? 'GET',
      headers: { ...(opts.token === null ? {} : { authorization: `Bearer ${opts.token ?? TOKEN}` }), ...(opts.body ? { 'content-type': 'application/json' } : {}) },
      ...(opts.body ? { body: opts.body } : {}),
    });
    const text = await res.body.text();
    const type = String(res.headers['content-type'] ?? '');
    const json: unknown = type.startsWith('application/json') ? JSON.parse(text) : undefined;
    // Every JSON answer of every /api route must match the document.
    const route = path.split('?')[0] as string;
    if (json !== undefined && route.startsWith('/api/')) contract.check(route, (opts.method ?? 'GET').toLowerCase() as 'get' | 'post', res.statusCode, json);
    return { status: res.statusCode, headers: res.headers, text, json };
  }

  it('answers the plan as JSON (GET and POST) and as Markdown, with the refs planned and compared', async () => {
    const f = fakePlanner();
    await start(f);
    const got = await call('/api/plan?ref=refs%2Fpull%2F7%2Fhead');
    expect(got.status).toBe(200);
    expect(got.json).toEqual({ ref: 'refs/pull/7/head', sha: SHA, trustedRevision: TRUSTED, plan: JSON.parse(JSON.stringify(inLinePlan())) });
    const posted = await call('/api/plan', { method: 'POST', body: JSON.stringify({ ref: 'feature', sha: SHA }) });
    expect(posted.status).toBe(200);
    expect(f.calls).toEqual([{ ref: 'refs/pull/7/head', sha: undefined }, { ref: 'feature', sha: SHA }]);
    const md = await call('/api/plan?ref=feature&format=markdown');
    expect(md.status).toBe(200);
    expect(md.headers['content-type']).toBe('text/markdown; charset=utf-8');
    expect(md.headers['x-depctl-sha']).toBe(SHA);
    expect(md.headers['x-depctl-trusted-revision']).toBe(TRUSTED);
    expect(md.text).toContain(renderPlanMarkdown(inLinePlan()));
  });

  it('refuses without the bearer token (401), and is absent without an API token (404)', async () => {
    const f = fakePlanner();
    await start(f);
    expect((await call('/api/plan?ref=main', { token: null })).status).toBe(401);
    const wrong = await call('/api/plan?ref=main', { token: 'nope' });
    expect(wrong.status).toBe(401);
    expect(wrong.headers['www-authenticate']).toBe('Bearer realm="depctl"');
    expect(f.calls).toEqual([]);
    expect(h?.logs()).not.toContain(TOKEN);
    await h?.server.close();
    h = await startHarness({ planApi: createPlanApi({ planner: f.planner, renderMarkdown: renderPlanMarkdown }) });
    expect((await call('/api/plan?ref=main')).status).toBe(404);
    await h.server.close();
    h = await startHarness({});
    expect((await call('/api/plan?ref=main')).status).toBe(404);
  });

  it('says what is wrong with a request: 400 for parameters, the planner\'s 404 and 422, 405 for other methods', async () => {
    const f = fakePlanner();
    await start(f);
    expect((await call('/api/plan')).status).toBe(400);
    expect((await call('/api/plan?ref=main&format=html')).status).toBe(400);
    expect((await call(`/api/plan?ref=${'x'.repeat(300)}`)).status).toBe(400);
    expect((await call('/api/plan', { method: 'POST', body: '{not json' })).status).toBe(400);
    expect((await call('/api/plan?ref=gone')).json).toEqual({ error: 'no such branch' });
    const bad = await call('/api/plan?ref=bad');
    expect(bad.status).toBe(422);
    expect(bad.json).toEqual({ error: '1 validation error(s)', problems: ['servers.yaml:3:1: boom'] });
    const put = await request(`${h?.url}/api/plan`, { method: 'PUT' });
    await put.body.dump();
    expect(put.statusCode).toBe(405);
    expect(put.headers['allow']).toBe('GET, HEAD, POST');
  });

  it('runs one plan at a time: a second request while one runs gets 429 with Retry-After', async () => {
    const f = fakePlanner();
    f.hold = true;
    await start(f);
    const first = call('/api/plan?ref=one');
    await expect.poll(() => f.calls.length).toBe(1);
    const second = await call('/api/plan?ref=two');
    expect(second.status).toBe(429);
    expect(Number(second.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    f.release();
    expect((await first).status).toBe(200);
    f.hold = false;
    expect((await call('/api/plan?ref=three')).status).toBe(200);
    expect(f.calls.map((c) => c.ref)).toEqual(['one', 'three']);
  });

  it('cancels a plan at its deadline and answers 504', async () => {
    const f = fakePlanner();
    f.hold = true;
    await start(f, { deadlineMs: 50 });
    const res = await call('/api/plan?ref=slow');
    expect(res.status).toBe(504);
    expect(f.aborted).toHaveLength(1);
    // The next plan may start once the cancelled one has ended.
    f.hold = false;
    expect((await call('/api/plan?ref=next')).status).toBe(200);
  });

  it('rate-limits each client (manual clock): over the limit 429, a new window lets it through', async () => {
    const f = fakePlanner();
    await start(f, { rateLimit: 2, rateWindowMs: 60_000 });
    expect((await call('/api/plan?ref=a')).status).toBe(200);
    expect((await call('/api/plan?ref=b')).status).toBe(200);
    clock += 20_000;
    const limited = await call('/api/plan?ref=c');
    expect(limited.status).toBe(429);
    expect(limited.headers['retry-after']).toBe('40');
    clock += 40_000;
    expect((await call('/api/plan?ref=d')).status).toBe(200);
    expect(f.calls.map((c) => c.ref)).toEqual(['a', 'b', 'd']);
  });

  it('serves the OpenAPI document; every /api route and status answered here matches it', async () => {
    const f = fakePlanner();
    await start(f);
    const doc = await call('/api/openapi.json');
    expect(doc.status).toBe(200);
    expect(doc.json).toMatchObject({ openapi: '3.1.0', paths: expect.objectContaining({ '/api/plan': expect.anything(), '/api/status': expect.anything(), '/api/reconcile': expect.anything() }) });
    // The validator is not a rubber stamp: a plan answer without its plan, or a plan missing a field, fails.
    expect(() => contract.check('/api/plan', 'get', 200, { ref: 'x', sha: SHA, trustedRevision: TRUSTED })).toThrow(/plan/);
    const { summary: _s, ...noSummary } = JSON.parse(JSON.stringify(inLinePlan())) as Record<string, unknown>;
    expect(() => contract.check('/api/plan', 'get', 200, { ref: 'x', sha: SHA, trustedRevision: TRUSTED, plan: noSummary })).toThrow(/summary/);
    expect(() => contract.check('/api/plan', 'get', 418, { error: 'teapot' })).toThrow(/does not declare/);
    // The served document is the one the validator uses.
    expect(doc.json).toEqual(JSON.parse(JSON.stringify(contract.doc)));
    expect((await call('/api/status')).status).toBe(200);
    expect((await call('/api/reconcile', { method: 'POST' })).status).toBe(202);
    expect((await call('/api/reconcile', { method: 'POST', token: 'wrong' })).status).toBe(401);
    for (const path of ['/api/status', '/api/openapi.json']) expect((await call(path, { method: 'POST' })).status).toBe(405);
    const get = await call('/api/reconcile');
    expect(get.status).toBe(405);
    await h?.server.close();
    h = await startHarness({});
    expect((await call('/api/reconcile', { method: 'POST' })).status).toBe(404);
    // The probes answer text as documented.
    for (const probe of ['/healthz', '/readyz']) {
      const res = await call(probe);
      expect(res.status).toBe(200);
      expect(contract.declared()).toContain(`GET ${probe} 200`);
    }
  });
});
