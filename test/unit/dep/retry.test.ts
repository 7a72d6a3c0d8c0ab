import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Agent } from 'undici';
import { createDepClient, type DepClientOptions } from '../../../controller/dep/client.js';
import { DepHttpError, DepNetworkError, DepTimeoutError } from '../../../controller/dep/errors.js';
import { isAbortError } from '../../../controller/util/sleep.js';
import { TEST_TOKEN, finishFakeDep, startFakeDep, type FakeDep } from './fake-dep-server.js';

const ACCOUNT = { server_name: 'S', server_uuid: '6666ED66666666666666666666666666' };
const START = Date.parse('2026-11-25T12:00:00Z');

let fake: FakeDep;
let agent: Agent;
let clock: number;
let sleeps: number[];

/** A client whose sleeps are recorded and advance the fake clock instead of waiting. */
const make = (extra: Partial<DepClientOptions> = {}) =>
  createDepClient({
    baseUrl: fake.url,
    token: TEST_TOKEN,
    dispatcher: agent,
    now: () => clock,
    random: () => 0.5,
    retry: {
      maxAttempts: 4,
      baseDelayMs: 100,
      maxDelayMs: 10_000,
      maxElapsedMs: 60_000,
      sleep: async (ms) => {
        sleeps.push(ms);
        clock += ms;
      },
    },
    ...extra,
  });

beforeEach(async () => {
  fake = await startFakeDep();
  agent = new Agent();
  clock = START;
  sleeps = [];
});

afterEach(() => finishFakeDep(fake, agent));

describe('retries', () => {
  it('retries 5xx with growing jittered delays, then succeeds', async () => {
    fake
      .expectSession('S')
      .expect('GET', '/account', { status: 500, body: 'oops' })
      .expect('GET', '/account', { status: 503, body: '' })
      .expect('GET', '/account', { status: 200, body: ACCOUNT });
    await expect(make().account()).resolves.toEqual(ACCOUNT);
    fake.assertDone();
    // random 0.5 → 3/4 of base*2^(n-1).
    expect(sleeps).toEqual([75, 150]);
  });

  it('honours Retry-After in seconds on 429', async () => {
    fake
      .expectSession('S')
      .expect('GET', '/account', { status: 429, body: '', headers: { 'Retry-After': '7' } })
      .expect('GET', '/account', { status: 200, body: ACCOUNT });
    await make().account();
    fake.assertDone();
    expect(sleeps).toEqual([7000]);
  });

  it('honours Retry-After as an HTTP date against the injected clock', async () => {
    const at = new Date(START + 12_000).toUTCString();
    fake
      .expectSession('S')
      .expect('GET', '/account', { status: 503, body: '', headers: { 'Retry-After': at } })
      .expect('GET', '/account', { status: 200, body: ACCOUNT });
    await make().account();
    expect(sleeps).toEqual([12_000]);
  });

  it('retries connection resets (also on /session)', async () => {
    fake
      .expect('GET', '/session', { reset: true })
      .expectSession('S')
      .expect('POST', '/devices', { reset: true })
      .expect('POST', '/devices', { status: 200, body: { devices: { A: { response_status: 'SUCCESS' } } } });
    await expect(make().deviceDetails(['A'])).resolves.toEqual({ devices: { A: { response_status: 'SUCCESS' } } });
    fake.assertDone();
    expect(sleeps).toHaveLength(2);
  });

  it('gives up after maxAttempts with a typed error carrying the last status', async () => {
    fake.expectSession('S');
    for (let i = 0; i < 4; i++) fake.expect('GET', '/account', { status: 502, body: 'bad gateway' });
    const err = await make().account().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DepHttpError);
    expect(err).toMatchObject({ status: 502, transient: true });
    expect(sleeps).toHaveLength(3);
    fake.assertDone();
  });

  it('gives up on network errors after maxAttempts with DepNetworkError', async () => {
    fake.expectSession('S');
    for (let i = 0; i < 4; i++) fake.expect('GET', '/account', { reset: true });
    const err = await make().account().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DepNetworkError);
    fake.assertDone();
  });

  it('stops when the next wait would exceed the total time budget, keeping Retry-After on the error', async () => {
    fake
      .expectSession('S')
      .expect('GET', '/account', { status: 429, body: '', headers: { 'Retry-After': '3600' } });
    const err = await make().account().catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 429, retryAfterMs: 3_600_000 });
    expect(sleeps).toEqual([]);
    fake.assertDone();
  });

  it('never retries a 4xx other than 429', async () => {
    fake.expectSession('S').expect('POST', '/devices/sync', { status: 400, body: 'EXPIRED_CURSOR' });
    await expect(make().syncDevices({ cursor: 'old' })).rejects.toMatchObject({ status: 400, code: 'EXPIRED_CURSOR' });
    expect(sleeps).toEqual([]);
    fake.assertDone();
  });
});

describe('timeouts and abort', () => {
  it('times out a request that never answers, then retries it', async () => {
    fake.expectSession('S').expect('GET', '/account', { hang: true }).expect('GET', '/account', { status: 200, body: ACCOUNT });
    await expect(make({ timeoutMs: 200 }).account()).resolves.toEqual(ACCOUNT);
    expect(sleeps).toHaveLength(1);
    fake.assertDone();
  });

  it('reports DepTimeoutError when every attempt times out', async () => {
    fake.expectSession('S').expect('GET', '/account', { hang: true });
    const client = make({ timeoutMs: 100, retry: { maxAttempts: 1 } });
    const err = await client.account().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DepTimeoutError);
    expect((err as DepTimeoutError).timeoutMs).toBe(100);
  });

  it('aborts an in-flight request with the caller’s reason and does not retry', async () => {
    const ac = new AbortController();
    fake.expectSession('S').expect('GET', '/account', () => {
      ac.abort();
      return { hang: true };
    });
    const err = await make().account({ signal: ac.signal }).catch((e: unknown) => e);
    expect(isAbortError(err)).toBe(true);
    expect(sleeps).toEqual([]);
    fake.assertDone();
  });

  it('aborts during a backoff wait', async () => {
    const ac = new AbortController();
    fake.expectSession('S').expect('GET', '/account', { status: 500, body: '' });
    const client = make({
      retry: {
        sleep: async () => {
          ac.abort();
          ac.signal.throwIfAborted();
        },
      },
    });
    const err = await client.account({ signal: ac.signal }).catch((e: unknown) => e);
    expect(isAbortError(err)).toBe(true);
    fake.assertDone();
  });

  it('does not send anything when the signal has already aborted', async () => {
    const err = await make().account({ signal: AbortSignal.abort() }).catch((e: unknown) => e);
    expect(isAbortError(err)).toBe(true);
    expect(fake.requests).toHaveLength(0);
  });
});
