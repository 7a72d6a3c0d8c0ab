/**
 * observe with the real DEP client against the simulator over HTTP: what the simulator reports for devices
 * that leave and come back (`deleted`, then `modified`, with the profile Apple kept), how observe marks their
 * arrival in the store, and the cursor answers (EXHAUSTED_CURSOR where dep-protocol.md places it: a fetch
 * with the last cursor of a completed fetch) the client reads.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Agent } from 'undici';
import { createDepClient, type DepClient } from '../../controller/dep/client.js';
import { isCursorExhausted } from '../../controller/dep/errors.js';
import { observe } from '../../controller/reconcile/observe.js';
import { startSimulator, type RunningSimulator } from '../../controller/sim/index.js';
import { openStore, type Store } from '../../controller/store/index.js';

let sim: RunningSimulator;
let agent: Agent;
let client: DepClient;
let store: Store;
let clock: number;

beforeEach(async () => {
  clock = Date.UTC(2026, 10, 25, 12);
  sim = await startSimulator({ devices: 12, seed: 5, now: () => clock, oauthTimestampToleranceMs: Infinity });
  agent = new Agent();
  client = createDepClient({ baseUrl: sim.url, token: sim.token, dispatcher: agent, now: () => clock });
  store = await openStore('memory:');
});

afterEach(async () => {
  await store.close();
  await agent.close();
  await sim.close();
});

const run = (refresh = false) => observe('main', client, store, { now: () => new Date(clock), refresh });

async function arrivals(): Promise<string[]> {
  const out: string[] = [];
  for await (const page of store.iterateDevices('main')) for (const d of page) if (d.arrivedAt) out.push(d.serial);
  return out.sort();
}

describe('observe against the simulator', () => {
  it('marks devices that leave and come back, new devices and moved-in ones as arrivals, never the first fetch', async () => {
    expect(await run()).toMatchObject({ mode: 'fetch', reason: 'first contact', upserted: 12 });
    expect(await arrivals()).toEqual([]);
    const serials: string[] = [];
    for await (const page of store.iterateDevices('main')) serials.push(...page.map((d) => d.serial));
    const [left, back, changed] = serials as [string, string, string];
    const uuid = 'C1F123098EB5074580041E69883004C3';
    sim.portal.setProfile(back, uuid);
    await run();

    clock += 60_000;
    sim.portal.moveAway([left, back]);
    sim.portal.moveIn([back]);
    sim.portal.setProfile(changed, uuid);
    const [added] = sim.portal.addDevices(1);
    sim.portal.moveIn(['C02MOVEDIN01']);
    expect(await run()).toMatchObject({ mode: 'sync', upserted: 4, deleted: 1 });
    expect(await arrivals()).toEqual([added!.serial_number, back, 'C02MOVEDIN01'].sort());
    // Apple kept the mapping of the device that came back: the store shows the UUID it carries.
    expect((await store.getDevice('main', back))?.device).toMatchObject({ profile_uuid: uuid, profile_status: 'assigned', op_type: 'modified' });
    expect(await store.getDevice('main', left)).toBeUndefined();

    // The device that left comes back after depctl saw it go: a `modified` for a serial the store does not hold.
    clock += 60_000;
    sim.portal.moveIn([left]);
    await run();
    expect(await arrivals()).toContain(left);
    const leftAgain = await store.getDevice('main', left);
    expect(leftAgain?.arrivedAt).toEqual(new Date(clock));
  });

  it('a refresh (full fetch) marks only the serials the store did not hold', async () => {
    await run();
    // Stored devices that Apple lists again are no arrivals; the new one is.
    const [added] = sim.portal.addDevices(1);
    clock += 60_000;
    expect(await run(true)).toMatchObject({ mode: 'fetch', reason: 'refresh requested', upserted: 13, deleted: 0 });
    expect(await arrivals()).toEqual([added!.serial_number]);
  });

  it('EXHAUSTED_CURSOR: fetching again with the last cursor of a completed fetch; a sync from it lists what changed', async () => {
    await run();
    const cursor = (await store.getCursor('main'))?.cursor as string;
    const err = await client.fetchDevices({ cursor }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(isCursorExhausted(err)).toBe(true);
    const [added] = sim.portal.addDevices(1);
    const events: string[] = [];
    for await (const page of client.syncAllDevices({ cursor })) events.push(...page.devices.map((d) => `${d.op_type} ${d.serial_number}`));
    expect(events).toEqual([`added ${added!.serial_number}`]);
  });
});
