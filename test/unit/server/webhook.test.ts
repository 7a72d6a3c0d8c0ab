import { createHmac } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { bearerMatches, githubSignatureValid, gitlabTokenValid, secretsEqual } from '../../../controller/server/webhook.js';
import type { WebhookOptions } from '../../../controller/server/http.js';
import { startHarness, type Harness } from './harness.js';

const GITHUB_SECRET = 'gh-webhook-secret-7c1e0f';
const GITLAB_TOKEN = 'gl-webhook-token-93ab54';
const PUSH = JSON.stringify({ ref: 'refs/heads/main', after: '3f2a9c1d4e5b6a7980a1b2c3d4e5f60718293a4b' });

function sign(body: string | Buffer, secret = GITHUB_SECRET): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

let h: Harness | undefined;
afterEach(async () => {
  await h?.server.close();
  h = undefined;
});

async function harness(webhook: WebhookOptions | undefined): Promise<Harness> {
  h = await startHarness({ webhook });
  return h;
}

function github(t: Harness, event: string, body: string | Buffer, signature: string | undefined): Promise<Response> {
  const headers: Record<string, string> = { 'content-type': 'application/json', 'x-github-event': event };
  if (signature !== undefined) headers['x-hub-signature-256'] = signature;
  return fetch(`${t.url}/hooks/git`, { method: 'POST', headers, body });
}

function gitlab(t: Harness, event: string, token: string): Promise<Response> {
  return fetch(`${t.url}/hooks/git`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-gitlab-event': event, 'x-gitlab-token': token }, body: PUSH });
}

describe('POST /hooks/git', () => {
  it('answers 404 when no webhook secret is configured', async () => {
    const t = await harness(undefined);
    expect((await github(t, 'push', PUSH, sign(PUSH))).status).toBe(404);
    await t.server.close();
    const u = await harness({ maxBodyBytes: 10 });
    expect((await github(u, 'push', PUSH, sign(PUSH))).status).toBe(404);
    expect(u.triggers).toEqual([]);
  });

  it('triggers a pass for a GitHub push with a valid signature (202)', async () => {
    const t = await harness({ githubSecret: GITHUB_SECRET });
    const res = await github(t, 'push', PUSH, sign(PUSH));
    expect(res.status).toBe(202);
    expect(await res.json()).toEqual({ triggered: true, reason: 'webhook' });
    expect(t.triggers).toEqual(['webhook']);
  });

  it('answers a signed ping 200 without triggering, and ignores other events', async () => {
    const t = await harness({ githubSecret: GITHUB_SECRET });
    const ping = JSON.stringify({ zen: 'Keep it logically awesome.', hook_id: 1 });
    const res = await github(t, 'ping', ping, sign(ping));
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ok: true, event: 'ping' });
    expect((await github(t, 'issues', PUSH, sign(PUSH))).status).toBe(200);
    expect(t.triggers).toEqual([]);
  });

  it('answers 401 for a bad, missing, malformed or SHA-1 signature, and logs none of them', async () => {
    const t = await harness({ githubSecret: GITHUB_SECRET });
    const wrongSecret = sign(PUSH, 'not-the-secret');
    const otherBody = sign(`${PUSH} `);
    const cases: [string, Record<string, string>][] = [
      ['wrong secret', { 'x-hub-signature-256': wrongSecret }],
      ['signature of another body', { 'x-hub-signature-256': otherBody }],
      ['no signature', {}],
      ['malformed', { 'x-hub-signature-256': 'sha256=zz' }],
      ['bare hex', { 'x-hub-signature-256': wrongSecret.slice(7) }],
      ['sha1 only', { 'x-hub-signature': `sha1=${createHmac('sha1', GITHUB_SECRET).update(PUSH).digest('hex')}` }],
    ];
    for (const [name, extra] of cases) {
      const res = await fetch(`${t.url}/hooks/git`, { method: 'POST', headers: { 'x-github-event': 'push', ...extra }, body: PUSH });
      expect(res.status, name).toBe(401);
    }
    expect(t.triggers).toEqual([]);
    const logs = t.logs();
    expect(logs).toContain('webhook rejected');
    for (const secret of [GITHUB_SECRET, wrongSecret.slice(7), otherBody.slice(7), sign(PUSH).slice(7)]) expect(logs).not.toContain(secret);
  });

  it('checks the GitLab token: push and tag push trigger, a wrong token is 401, other events are ignored', async () => {
    const t = await harness({ gitlabToken: GITLAB_TOKEN });
    expect((await gitlab(t, 'Push Hook', GITLAB_TOKEN)).status).toBe(202);
    expect((await gitlab(t, 'Tag Push Hook', GITLAB_TOKEN)).status).toBe(202);
    expect((await gitlab(t, 'Merge Request Hook', GITLAB_TOKEN)).status).toBe(200);
    expect((await gitlab(t, 'Push Hook', `${GITLAB_TOKEN}0`)).status).toBe(401);
    expect((await gitlab(t, 'Push Hook', GITLAB_TOKEN.slice(0, 5))).status).toBe(401);
    expect((await gitlab(t, 'Push Hook', '')).status).toBe(401);
    expect(t.triggers).toEqual(['webhook', 'webhook']);
    expect(t.logs()).not.toContain(GITLAB_TOKEN.slice(0, 5));
  });

  it('refuses a provider whose secret is not configured', async () => {
    const t = await harness({ gitlabToken: GITLAB_TOKEN });
    expect((await github(t, 'push', PUSH, sign(PUSH))).status).toBe(401);
    await t.server.close();
    const u = await harness({ githubSecret: GITHUB_SECRET });
    expect((await gitlab(u, 'Push Hook', GITLAB_TOKEN)).status).toBe(401);
    expect(u.triggers).toEqual([]);
  });

  it('answers 413 above the body limit, declared or streamed, and accepts a body of exactly the limit', async () => {
    const t = await harness({ githubSecret: GITHUB_SECRET, gitlabToken: GITLAB_TOKEN, maxBodyBytes: 1024 });
    const exact = Buffer.alloc(1024, 0x20);
    exact.write(PUSH);
    expect((await github(t, 'push', exact, sign(exact))).status).toBe(202);
    const over = Buffer.alloc(1025, 0x20);
    expect((await github(t, 'push', over, sign(over))).status).toBe(413);
    // Chunked, without Content-Length: counted as it arrives.
    const chunks = [Buffer.alloc(600, 0x20), Buffer.alloc(600, 0x20)];
    const stream = new ReadableStream<Uint8Array>({
      pull(c) {
        const next = chunks.shift();
        if (next) c.enqueue(next);
        else c.close();
      },
    });
    const streamed = await fetch(`${t.url}/hooks/git`, { method: 'POST', headers: { 'x-github-event': 'push', 'x-hub-signature-256': sign(Buffer.alloc(1200, 0x20)) }, body: stream, duplex: 'half' } as RequestInit);
    expect(streamed.status).toBe(413);
    const big = await fetch(`${t.url}/hooks/git`, { method: 'POST', headers: { 'x-gitlab-event': 'Push Hook', 'x-gitlab-token': GITLAB_TOKEN }, body: Buffer.alloc(5000, 0x20) });
    expect(big.status).toBe(413);
    expect(t.triggers).toEqual(['webhook']);
    // The server is still healthy after discarding the oversized bodies.
    expect((await fetch(`${t.url}/healthz`)).status).toBe(200);
  });
});

describe('comparisons', () => {
  it('compares secrets of any length without throwing', () => {
    expect(secretsEqual('abc', 'abc')).toBe(true);
    expect(secretsEqual('abc', 'abcd')).toBe(false);
    expect(secretsEqual('', 'a')).toBe(false);
    expect(secretsEqual(Buffer.from('x'), 'x')).toBe(true);
  });

  it('parses bearer headers strictly', () => {
    expect(bearerMatches('Bearer tok123', 'tok123')).toBe(true);
    expect(bearerMatches('BEARER tok123', 'tok123')).toBe(true);
    expect(bearerMatches('Bearer tok123 extra', 'tok123')).toBe(false);
    expect(bearerMatches('tok123', 'tok123')).toBe(false);
    expect(bearerMatches(undefined, 'tok123')).toBe(false);
  });

  it('validates GitHub signatures and GitLab tokens', () => {
    const body = Buffer.from(PUSH);
    expect(githubSignatureValid(sign(body), body, GITHUB_SECRET)).toBe(true);
    expect(githubSignatureValid(sign(body).toUpperCase().replace('SHA256', 'sha256'), body, GITHUB_SECRET)).toBe(true);
    expect(githubSignatureValid(undefined, body, GITHUB_SECRET)).toBe(false);
    expect(gitlabTokenValid(GITLAB_TOKEN, GITLAB_TOKEN)).toBe(true);
    expect(gitlabTokenValid(undefined, '')).toBe(false);
  });
});
