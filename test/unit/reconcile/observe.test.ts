import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openStore, type Store } from '../../../controller/store/index.js';
import { FULL_FETCH_INTERVAL_MS, SYNC_WRITE_BATCH, observe } from '../../../controller/reconcile/observe.js';
import type { Device } from '../../../controller/dep/types.js';
import { FakeDepClient, appleError, device, manualClock, networkError, page, type ManualClock } from '../../helpers/reconcile-fakes.js';

let store: Store;
let clock: ManualClock;
let client: FakeDepClient;

beforeEach(async () => {
  store = await openStore('memory:');
  clock = manualClock();
  client = new FakeDepClient();
});
afterEach(async () => {
  await store.close();
});

const run = (refresh = false) => observe('paris', client, store, { now: clock.now, refresh });
const serials = async (): Promise<string[]> => {
  const out: string[] = [];
  for await (const p of store.iterateDevices('paris')) out.push(...p.map((d) => d.serial));
  return out;
};
const stored = async (serial: string): Promise<Device | undefined> => (await store.getDevice('paris', serial))?.device;
const event = (serial: string, op: 'added' | 'modified' | 'deleted', at: string, over: Partial<Device> = {}): Device => device(serial, { op_type: op, op_date: at, ...over });

/** A completed first full fetch of A, B, C ending on cursor `f2`. */
async function firstFetch(): Promise<void> {
  client.fetchScripts.push([page([device('A'), device('B')], 'f1', true), page([device('C')], 'f2')]);
  await run();
  client.calls.length = 0;
}

describe('observe: fetch, then sync from the stored cursor', () => {
  it('first contact is a full fetch of every page; the last cursor and the time are stored', async () => {
    client.fetchScripts.push([page([device('B'), device('A')], 'f1', true), page([device('C')], 'f2')]);
    const r = await run();
    expect(r).toEqual({ mode: 'fetch', reason: 'first contact', pages: 2, upserted: 3, deleted: 0, streamed: false });
    expect(client.calls).toEqual(['fetch']);
    expect(await serials()).toEqual(['A', 'B', 'C']);
    expect(await store.getCursor('paris')).toMatchObject({ cursor: 'f2', fetchedAt: clock.now(), syncedAt: clock.now() });
  });

  it('after a complete fetch, the next observation syncs from the stored cursor and stores the new one', async () => {
    await firstFetch();
    clock.advance(30 * 60_000);
    client.syncScripts.push([page([event('D', 'added', '2026-11-25T12:10:00Z')], 's1')]);
    const r = await run();
    expect(r).toMatchObject({ mode: 'sync', reason: null, pages: 1, upserted: 1, deleted: 0 });
    expect(client.calls).toEqual(['sync f2']);
    expect(await serials()).toEqual(['A', 'B', 'C', 'D']);
    const cursor = await store.getCursor('paris');
    expect(cursor?.cursor).toBe('s1');
    expect(cursor?.syncedAt).toEqual(clock.now());
    expect(cursor?.fetchedAt).toEqual(new Date(clock.now().getTime() - 30 * 60_000));
  });

  it.each([
    ['EXPIRED_CURSOR', 'cursor expired'],
    ['INVALID_CURSOR', 'cursor invalid'],
    ['EXHAUSTED_CURSOR', 'cursor exhausted'],
  ])('%s on sync falls back to a full fetch', async (code, reason) => {
    await firstFetch();
    client.syncScripts.push([appleError(400, code)]);
    client.fetchScripts.push([page([device('A'), device('C')], 'g1')]);
    const r = await run();
    expect(r).toMatchObject({ mode: 'fetch', reason, deleted: 1 });
    expect(client.calls).toEqual(['sync f2', 'fetch']);
    expect(await store.getCursor('paris')).toMatchObject({ cursor: 'g1' });
  });

  it('other sync errors are thrown: no full fetch, no cursor change, nothing stored', async () => {
    await firstFetch();
    client.syncScripts.push([page([event('D', 'added', '2026-11-25T12:10:00Z')], 's1', true), networkError('/devices/sync')]);
    await expect(run()).rejects.toThrow(/network error/);
    expect(client.calls).toEqual(['sync f2']);
    expect(await store.getCursor('paris')).toMatchObject({ cursor: 'f2' });
    // The first page's event is not stored without the cursor that follows it: it is read again next time.
    expect(await serials()).toEqual(['A', 'B', 'C']);
  });

  it('a full fetch is made weekly, not before', async () => {
    await firstFetch();
    clock.advance(FULL_FETCH_INTERVAL_MS - 1);
    client.syncScripts.push([page([], 's1')]);
    expect(await run()).toMatchObject({ mode: 'sync' });
    clock.advance(1);
    client.fetchScripts.push([page([device('A'), device('B'), device('C')], 'g1')]);
    expect(await run()).toMatchObject({ mode: 'fetch', reason: 'weekly full fetch' });
    // The week starts again from this fetch.
    clock.advance(FULL_FETCH_INTERVAL_MS - 1);
    client.syncScripts.push([page([], 's2')]);
    expect(await run()).toMatchObject({ mode: 'sync' });
    expect(client.calls).toEqual(['sync f2', 'fetch', 'sync g1']);
  });

  it('refresh forces a full fetch', async () => {
    await firstFetch();
    client.fetchScripts.push([page([device('A'), device('B'), device('C')], 'g1')]);
    expect(await run(true)).toMatchObject({ mode: 'fetch', reason: 'refresh requested' });
  });
});

describe('observe: sync events', () => {
  beforeEach(firstFetch);

  it('events of one serial are merged, the latest op_date winning whatever the order Apple lists them in', async () => {
    client.syncScripts.push([
      page([event('A', 'modified', '2026-11-25T12:05:00Z', { asset_tag: 'newest' }), event('B', 'deleted', '2026-11-25T12:01:00Z')], 's1', true),
      page([event('A', 'modified', '2026-11-25T12:03:00Z', { asset_tag: 'older' }), event('B', 'added', '2026-11-25T12:02:00Z', { asset_tag: 'back' })], 's2', true),
      page([event('C', 'deleted', '2026-11-25T12:09:00Z'), event('A', 'modified', '2026-11-25T12:04:00Z', { asset_tag: 'old' })], 's3', true),
      page([event('C', 'modified', '2026-11-25T12:08:00Z')], 's4'),
    ]);
    const r = await run();
    expect(r).toMatchObject({ mode: 'sync', pages: 4, upserted: 2, deleted: 1 });
    expect((await stored('A'))?.asset_tag).toBe('newest');
    expect((await stored('B'))?.asset_tag).toBe('back');
    expect(await stored('C')).toBeUndefined();
    expect(await store.getCursor('paris')).toMatchObject({ cursor: 's4' });
  });

  it('on an op_date tie, the later event in Apple’s order wins', async () => {
    client.syncScripts.push([page([event('A', 'modified', '2026-11-25T12:05:00Z', { asset_tag: 'first' }), event('A', 'modified', '2026-11-25T12:05:00Z', { asset_tag: 'second' })], 's1')]);
    await run();
    expect((await stored('A'))?.asset_tag).toBe('second');
  });

  it('`deleted` removes the device', async () => {
    client.syncScripts.push([page([event('B', 'deleted', '2026-11-25T12:05:00Z')], 's1')]);
    expect(await run()).toMatchObject({ deleted: 1, upserted: 0 });
    expect(await serials()).toEqual(['A', 'C']);
  });

  it('`modified` of a device never seen (moved in from another server) inserts it', async () => {
    client.syncScripts.push([page([event('MOVED', 'modified', '2026-11-25T12:05:00Z', { profile_status: 'empty' })], 's1')]);
    expect(await run()).toMatchObject({ upserted: 1 });
    expect(await stored('MOVED')).toMatchObject({ serial_number: 'MOVED', op_type: 'modified' });
  });

  it('a sync event keeps what depctl recorded about the device (desired profile, last result)', async () => {
    await store.recordResults('paris', [{ serial: 'A', result: { status: 'success', at: new Date(0), appleStatus: 'SUCCESS' }, retryNotBefore: null, desiredProfile: 'ipads' }]);
    client.syncScripts.push([page([event('A', 'modified', '2026-11-25T12:05:00Z', { profile_status: 'assigned', profile_uuid: 'U1' })], 's1')]);
    await run();
    expect(await store.getDevice('paris', 'A')).toMatchObject({ desiredProfile: 'ipads', device: { profile_uuid: 'U1' } });
  });
});

describe('observe: full fetch completeness', () => {
  it('a complete full fetch deletes devices Apple no longer lists', async () => {
    await firstFetch();
    client.fetchScripts.push([page([device('C')], 'g1', true), page([device('A'), device('E')], 'g2')]);
    const r = await run(true);
    expect(r).toEqual({ mode: 'fetch', reason: 'refresh requested', pages: 2, upserted: 3, deleted: 1, streamed: false });
    expect(await serials()).toEqual(['A', 'C', 'E']);
  });

  it('a complete full fetch that finds every stored device again reads no device back to look for leavers', async () => {
    await firstFetch();
    let scans = 0;
    const scan = store.iterateDevices.bind(store);
    store.iterateDevices = (...args) => {
      scans++;
      return scan(...args);
    };
    client.fetchScripts.push([page([device('C'), device('D')], 'g1', true), page([device('A'), device('B')], 'g2')]);
    expect(await run(true)).toMatchObject({ mode: 'fetch', upserted: 4, deleted: 0 });
    expect(scans).toBe(0);
    // One gone: the store holds one more than was listed, and the scan finds it.
    client.fetchScripts.push([page([device('C'), device('D')], 'h1', true), page([device('A')], 'h2')]);
    expect(await run(true)).toMatchObject({ mode: 'fetch', upserted: 3, deleted: 1 });
    expect(scans).toBe(1);
    expect(await serials()).toEqual(['A', 'C', 'D']);
  });

  it('a full fetch failing part-way deletes nothing and leaves the cursor; the next observation fetches again', async () => {
    await firstFetch();
    const before = await store.getCursor('paris');
    clock.advance(60_000);
    client.fetchScripts.push([page([device('A')], 'g1', true), networkError()]);
    await expect(run(true)).rejects.toThrow(/network error/);
    expect(await serials()).toEqual(['A', 'B', 'C']);
    const after = await store.getCursor('paris');
    expect(after).toMatchObject({ cursor: before?.cursor, fetchedAt: before?.fetchedAt });

    // Syncing from the old cursor now would skip whatever the unfinished fetch should have shown.
    clock.advance(60_000);
    client.fetchScripts.push([page([device('A'), device('C')], 'h1')]);
    expect(await run()).toMatchObject({ mode: 'fetch', reason: 'previous full fetch did not complete', deleted: 1 });
    expect(client.calls).toEqual(['fetch', 'fetch']);
  });

  it('a first full fetch failing part-way leaves no cursor, so the next observation starts over', async () => {
    client.fetchScripts.push([page([device('A')], 'f1', true), networkError()]);
    await expect(run()).rejects.toThrow();
    expect((await store.getCursor('paris'))?.cursor ?? null).toBeNull();
    client.fetchScripts.push([page([device('A'), device('B')], 'f2')]);
    expect(await run()).toMatchObject({ mode: 'fetch', upserted: 2 });
    expect(client.calls).toEqual(['fetch', 'fetch']);
  });
});

describe('observe: arrivals', () => {
  const arrivedAt = async (serial: string): Promise<Date | null | undefined> => (await store.getDevice('paris', serial))?.arrivedAt;
  const arrivals = async (): Promise<string[]> => {
    const out: string[] = [];
    for await (const p of store.iterateDevices('paris')) for (const d of p) if (d.arrivedAt) out.push(d.serial);
    return out;
  };
  /** An event whose op_type Apple wrote in another case (the type allows only lower case). */
  const shouted = (serial: string, op: string, at: string): Device => ({ ...device(serial), op_type: op as 'added', op_date: at });

  it('the first full fetch is no arrival; a later full fetch marks the serials the store did not hold', async () => {
    await firstFetch();
    expect(await arrivals()).toEqual([]);
    clock.advance(60_000);
    client.fetchScripts.push([page([device('A'), device('C'), device('D')], 'g1')]);
    expect(await run(true)).toMatchObject({ mode: 'fetch', reason: 'refresh requested', deleted: 1 });
    expect(await arrivals()).toEqual(['D']);
    expect(await arrivedAt('D')).toEqual(clock.now());
  });

  it('a first full fetch interrupted and started over is still no arrival', async () => {
    client.fetchScripts.push([page([device('A')], 'f1', true), networkError()]);
    await expect(run()).rejects.toThrow();
    client.fetchScripts.push([page([device('A'), device('B')], 'f2')]);
    expect(await run()).toMatchObject({ mode: 'fetch', reason: 'first contact', streamed: false });
    expect(await arrivals()).toEqual([]);
  });

  it('EXHAUSTED_CURSOR on sync: the full fetch that follows marks the serials the store did not hold', async () => {
    await firstFetch();
    client.syncScripts.push([appleError(400, 'EXHAUSTED_CURSOR')]);
    client.fetchScripts.push([page([device('A'), device('B'), device('C'), device('MOVED')], 'g1')]);
    expect(await run()).toMatchObject({ mode: 'fetch', reason: 'cursor exhausted', deleted: 0 });
    expect(client.calls).toEqual(['sync f2', 'fetch']);
    expect(await arrivals()).toEqual(['MOVED']);
  });

  it('sync: `added` in any case, an event for a serial the store does not hold, and a device that left and came back arrive', async () => {
    await firstFetch();
    clock.advance(60_000);
    client.syncScripts.push([
      page([shouted('A', 'ADDED', '2026-11-25T12:01:00Z'), event('B', 'modified', '2026-11-25T12:20:00Z'), event('NEW', 'modified', '2026-11-25T12:02:00Z')], 's1', true),
      // C leaves and comes back within this sync; B's `deleted` is listed after its newer `modified` (it left
      // at 12:05 and was back by 12:20); GONE comes and goes.
      page([shouted('C', 'Deleted', '2026-11-25T12:03:00Z'), event('C', 'modified', '2026-11-25T12:04:00Z'), shouted('B', 'DELETED', '2026-11-25T12:05:00Z')], 's2', true),
      page([event('GONE', 'modified', '2026-11-25T12:06:00Z'), event('GONE', 'deleted', '2026-11-25T12:07:00Z')], 's3'),
    ]);
    expect(await run()).toMatchObject({ mode: 'sync', upserted: 4, deleted: 0 });
    expect(await arrivals()).toEqual(['A', 'B', 'C', 'NEW']);
    expect(await arrivedAt('A')).toEqual(clock.now());
    expect(await stored('GONE')).toBeUndefined();
  });

  it('sync: a `modified` of a device that never left is no arrival, and keeps an earlier mark', async () => {
    await firstFetch();
    client.syncScripts.push([page([event('A', 'added', '2026-11-25T12:01:00Z')], 's1')]);
    await run();
    const marked = clock.now();
    clock.advance(60_000);
    client.syncScripts.push([page([event('A', 'modified', '2026-11-25T12:30:00Z'), event('B', 'modified', '2026-11-25T12:31:00Z')], 's2')]);
    await run();
    expect(await arrivals()).toEqual(['A']);
    expect(await arrivedAt('A')).toEqual(marked);
  });

  it('an older event listed after the newer one was written (another write group) loses to the stored record, and to a deletion', async () => {
    await firstFetch();
    // Page 1 fills a whole write group, so A's newest event and B's deletion are stored before page 2 arrives.
    const fillers = Array.from({ length: SYNC_WRITE_BATCH }, (_, i) => event(`F${String(i).padStart(6, '0')}`, 'modified', '2026-11-25T12:10:00Z'));
    client.syncScripts.push([
      page([event('A', 'modified', '2026-11-25T12:10:00Z', { asset_tag: 'newest' }), event('B', 'deleted', '2026-11-25T12:10:00Z'), ...fillers], 's1', true),
      page([event('A', 'modified', '2026-11-25T12:05:00Z', { asset_tag: 'stale' }), event('B', 'modified', '2026-11-25T12:05:00Z'), event('C', 'modified', '2026-11-25T12:04:00Z', { asset_tag: 'c' })], 's2'),
    ]);
    expect(await run()).toMatchObject({ mode: 'sync', pages: 2, deleted: 1 });
    expect((await stored('A'))?.asset_tag).toBe('newest');
    expect(await stored('B')).toBeUndefined();
    // C's event is older than the newest of the sync, but newer than anything known of C: it is written.
    expect((await stored('C'))?.asset_tag).toBe('c');
  });

  it('sync: op_date is compared as an instant, not as text', async () => {
    await firstFetch();
    client.syncScripts.push([
      page([event('A', 'modified', '2026-11-25T11:20:00Z', { asset_tag: 'later' }), event('A', 'modified', '2026-11-25T12:10:00+01:00', { asset_tag: 'earlier' })], 's1'),
    ]);
    await run();
    expect((await stored('A'))?.asset_tag).toBe('later');
  });
});

describe('observe: page sizes', () => {
  it("asks for Apple's advertised page sizes (GET /account urls[].limit), never more than 1000", async () => {
    client.fetchScripts.push([page([device('A')], 'c1')]);
    await observe('paris', client, store, { now: clock.now, pageLimits: { fetch: 200, sync: 5000 } });
    client.syncScripts.push([page([], 'c2')]);
    await observe('paris', client, store, { now: clock.now, pageLimits: { fetch: 200, sync: 5000 } });
    client.syncScripts.push([page([], 'c3')]);
    await observe('paris', client, store, { now: clock.now });
    expect(client.limits).toEqual(['fetch 200', 'sync 1000', 'sync 1000']);
  });
});
