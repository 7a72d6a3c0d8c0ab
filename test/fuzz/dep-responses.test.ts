import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { Agent } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDepClient, type DepClient } from '../../controller/dep/client.js';
import { DepError, DepProtocolError } from '../../controller/dep/errors.js';
import { TEST_TOKEN, startFakeDep, type FakeDep } from '../unit/dep/fake-dep-server.js';
import { fuzzParams } from '../helpers/fuzz.js';

// Apple's answers (or whatever a proxy or a wrong depUrl returns) reach the real client over HTTP from a
// loopback server. Whatever the body, a call resolves to a well-typed value or rejects with a DepError:
// never a TypeError, never a device without a serial number.

const real = (name: string): string => readFileSync(new URL(`../fixtures/apple/${name}`, import.meta.url), 'utf8');

let fake: FakeDep;
let agent: Agent;
let client: DepClient;

beforeAll(async () => {
  fake = await startFakeDep();
  agent = new Agent();
  client = createDepClient({ baseUrl: fake.url, token: TEST_TOKEN, dispatcher: agent, retry: { maxAttempts: 1 } });
  fake.expectSession('S');
  fake.expect('GET', '/account', { status: 200, body: real('account_response.json') });
  await client.account();
});

afterAll(async () => {
  await client.close();
  await agent.close();
  await fake.close();
});

/** Sends `body` as Apple's 200 answer to the next call and returns what the call did. */
async function answer<T>(method: string, path: string, body: string, call: () => Promise<T>): Promise<{ ok: T } | { err: unknown }> {
  fake.expect(method, path, { status: 200, body });
  try {
    return { ok: await call() };
  } catch (err) {
    return { err };
  }
}

function expectTyped(outcome: { err: unknown }): void {
  expect(outcome.err).toBeInstanceOf(DepError);
  expect(outcome.err).not.toBeInstanceOf(TypeError);
}

/** JSON values shaped like DEP answers, mutated: right keys with wrong types, extra keys, nesting. */
const deviceLike = fc.record(
  {
    serial_number: fc.oneof(fc.string(), fc.integer(), fc.constant(null), fc.constant('C02T0HL0GGC0')),
    model: fc.oneof(fc.string(), fc.boolean()),
    profile_status: fc.oneof(fc.constantFrom('empty', 'assigned', 'pushed', 'removed'), fc.integer()),
    imei: fc.oneof(fc.string(), fc.array(fc.string()), fc.array(fc.integer())),
    is_replacement_device: fc.oneof(fc.boolean(), fc.string()),
    op_type: fc.oneof(fc.constantFrom('added', 'modified', 'deleted'), fc.jsonValue()),
  },
  { requiredKeys: [] },
);
const fetchLike = fc.record(
  {
    devices: fc.oneof(fc.array(deviceLike, { maxLength: 5 }), fc.jsonValue()),
    cursor: fc.oneof(fc.string(), fc.integer(), fc.constant(null)),
    more_to_follow: fc.oneof(fc.boolean(), fc.string(), fc.constant(null)),
    fetched_until: fc.oneof(fc.string(), fc.integer()),
  },
  { requiredKeys: [] },
);

describe('DEP responses, fuzzed through the real client', () => {
  it('fetch: any JSON answer is a checked page or a DepProtocolError', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(fetchLike, fc.jsonValue()), async (value) => {
        const outcome = await answer('POST', '/server/devices', JSON.stringify(value), () => client.fetchDevices({}));
        if ('err' in outcome) {
          expectTyped(outcome);
          return;
        }
        expect(Array.isArray(outcome.ok.devices)).toBe(true);
        for (const d of outcome.ok.devices) expect(typeof d.serial_number === 'string' && d.serial_number !== '').toBe(true);
        expect(outcome.ok.more_to_follow === undefined || typeof outcome.ok.more_to_follow === 'boolean').toBe(true);
        if (outcome.ok.more_to_follow === true) expect(typeof outcome.ok.cursor).toBe('string');
      }),
      fuzzParams('dep fetch JSON'),
    );
  });

  it("fetch: Apple's real page cut short anywhere is a DepProtocolError, never half a page", async () => {
    const page = real('device_response.json');
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: page.trimEnd().length - 1 }), async (cut) => {
        const outcome = await answer('POST', '/server/devices', page.slice(0, cut), () => client.fetchDevices({}));
        expect('err' in outcome).toBe(true);
        if ('err' in outcome) expect(outcome.err).toBeInstanceOf(DepProtocolError);
      }),
      fuzzParams('dep fetch truncated'),
    );
  });

  it('account, define, assign and details: any JSON answer is checked or a DepError', async () => {
    const calls: [string, string, () => Promise<unknown>][] = [
      ['GET', '/account', () => client.account()],
      ['POST', '/profile', () => client.defineProfile({ profile_name: 'P', url: 'https://mdm.example.com/enroll' })],
      ['POST', '/profile/devices', () => client.assignProfile('UUID', ['C02T0HL0GGC0'])],
      ['POST', '/devices', () => client.deviceDetails(['C02T0HL0GGC0'])],
      ['GET', '/profile', () => client.getProfile('UUID')],
    ];
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: calls.length - 1 }), fc.jsonValue(), async (which, value) => {
        const [method, path, call] = calls[which] as (typeof calls)[number];
        const outcome = await answer(method, path, JSON.stringify(value), call);
        if ('err' in outcome) expectTyped(outcome);
      }),
      fuzzParams('dep other endpoints'),
    );
  });

  it('a body that is not JSON at all is a DepProtocolError', async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ minLength: 1 }).filter((s) => {
        try {
          JSON.parse(s);
          return false;
        } catch {
          return true;
        }
      }), async (text) => {
        const outcome = await answer('POST', '/server/devices', text, () => client.fetchDevices({}));
        expect('err' in outcome && outcome.err instanceof DepProtocolError).toBe(true);
      }),
      fuzzParams('dep not JSON', 100),
    );
  });
});
