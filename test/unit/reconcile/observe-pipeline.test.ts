import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openStore, type Store } from '../../../controller/store/index.js';
import { FETCH_WRITE_BATCH, IDLE_WRITE_MIN, observe } from '../../../controller/reconcile/observe.js';
import type { Device, FetchDeviceResponse } from '../../../controller/dep/types.js';
import type { FetchWriteGroup, ObserveStore, ReconcileDepClient } from '../../../controller/reconcile/ports.js';
import { FakeDepClient, device, manualClock, page } from '../../helpers/reconcile-fakes.js';

/** A promise the test settles by hand. */
interface Deferred<T> { promise: Promise<T>; resolve: (v: T) => void; reject: (e: unknown) => void }
function deferred<T>(): Deferred<T> {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => { resolve = res; reject = rej; });
  return { promise, resolve, reject };
}

/** Lets every pending callback run (the pipeline waits a few event-loop turns between pages). */
const settle = async (): Promise<void> => {
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
};

/**
 * A full fetch whose pages resolve on demand: request k is logged when observe asks for it, and answered
 * when the test calls `answer(k)`. Each page holds a whole write batch, so every page is one store write.
 */
class OnDemandFetch {
  readonly log: string[] = [];
  readonly replies: Deferred<FetchDeviceResponse>[] = [];
  readonly signals: AbortSignal[] = [];
  constructor(private readonly pages: number, private readonly perPage = FETCH_WRITE_BATCH) {}

  /** A client whose full fetch (or, with `sync`, whose sync) serves these pages. */
  client(endpoint: 'fetch' | 'sync' = 'fetch'): ReconcileDepClient {
    const fake = new FakeDepClient();
    const { replies, signals, log, pages } = this;
    const serve = async function* (o?: { signal?: AbortSignal }): AsyncGenerator<FetchDeviceResponse> {
      for (let k = 0; k < pages; k++) {
        const reply = deferred<FetchDeviceResponse>();
        replies.push(reply);
        signals.push(o?.signal ?? new AbortController().signal);
        log.push(`request ${k}`);
        const aborted = new Promise<never>((_, reject) => o?.signal?.addEventListener('abort', () => reject(o.signal?.reason), { once: true }));
        yield await Promise.race([reply.promise, aborted]);
      }
    };
    if (endpoint === 'fetch') fake.fetchAllDevices = (_req, o) => serve(o);
    else fake.syncAllDevices = (_req, o) => serve(o);
    return fake;
  }

  answer(k: number): void {
    const devices: Device[] = Array.from({ length: this.perPage }, (_, i) => device(`P${k}-${String(i).padStart(5, '0')}`));
    this.replies[k]!.resolve(page(devices, `c${k}`, k < this.pages - 1));
  }
}

/** The memory store, with each upsertDevices held until the test releases (or fails) it. */
function gatedStore(inner: Store, log: string[]): { store: ObserveStore; writes: Deferred<void>[] } {
  const writes: Deferred<void>[] = [];
  const store: ObserveStore = Object.create(inner) as ObserveStore;
  store.upsertDevices = async (server, devices, at, opts) => {
    const k = writes.length;
    const gate = deferred<void>();
    writes.push(gate);
    log.push(`write ${k} start`);
    await gate.promise;
    const n = await inner.upsertDevices(server, devices, at, opts);
    log.push(`write ${k} done`);
    return n;
  };
  return { store, writes };
}

let inner: Store;
beforeEach(async () => {
  inner = await openStore('memory:');
});
afterEach(async () => {
  await inner.close();
});

describe('observe: a full fetch pipelines the next page under the work on the current one', () => {
  it('asks for page k+1 before the write of page k completes, and stores the cursor only after every write', async () => {
    const fetch = new OnDemandFetch(3);
    const { store, writes } = gatedStore(inner, fetch.log);
    const clock = manualClock();
    const done = observe('paris', fetch.client(), store, { now: clock.now });
    await settle();
    expect(fetch.log).toEqual(['request 0']);
    fetch.answer(0);
    await settle();
    // Page 1 is on the wire while page 0 is being written.
    expect(fetch.log).toEqual(['request 0', 'request 1', 'write 0 start']);
    fetch.answer(1);
    await settle();
    expect(fetch.log).toEqual(['request 0', 'request 1', 'write 0 start', 'request 2']);
    expect((await inner.getCursor('paris'))?.cursor ?? null).toBeNull();
    writes[0]!.resolve();
    await settle();
    expect(fetch.log.slice(4)).toEqual(['write 0 done', 'write 1 start']);
    fetch.answer(2);
    writes[1]!.resolve();
    await settle();
    expect((await inner.getCursor('paris'))?.cursor ?? null).toBeNull();
    writes[2]!.resolve();
    const r = await done;
    expect(r).toMatchObject({ mode: 'fetch', pages: 3, upserted: 3 * FETCH_WRITE_BATCH });
    expect(fetch.log.slice(-2)).toEqual(['write 2 start', 'write 2 done']);
    expect(await inner.getCursor('paris')).toMatchObject({ cursor: 'c2' });
    expect(await inner.countDevices('paris')).toBe(3 * FETCH_WRITE_BATCH);
  });

  it('buffers at most one written, one pending and one asked-ahead page while a write is slow (backpressure)', async () => {
    const fetch = new OnDemandFetch(10);
    const { store, writes } = gatedStore(inner, fetch.log);
    const done = observe('paris', fetch.client(), store, { now: manualClock().now });
    // Answer every page as soon as it is asked for, while the first write never finishes.
    for (let round = 0; round < 10; round++) {
      await settle();
      for (let k = 0; k < fetch.replies.length; k++) fetch.answer(k);
    }
    await settle();
    const requests = fetch.log.filter((l) => l.startsWith('request')).length;
    // Page 0 in the write, page 1 waiting for it, page 2 asked ahead: no fourth request.
    expect(requests).toBe(3);
    expect(writes).toHaveLength(1);
    for (let k = 0; k < 10; k++) {
      writes[k]!.resolve();
      await settle();
      for (let j = 0; j < fetch.replies.length; j++) fetch.answer(j);
    }
    expect(await done).toMatchObject({ pages: 10, upserted: 10 * FETCH_WRITE_BATCH });
    // At any time, requests issued never ran more than three pages ahead of the writes completed.
    let issued = 0;
    let stored = 0;
    for (const l of fetch.log) {
      if (l.startsWith('request')) issued++;
      if (l.endsWith('done')) stored++;
      expect(issued - stored).toBeLessThanOrEqual(3);
    }
  });

  it('writes a smaller group while the next page is still on the wire, so little is left after the last page', async () => {
    const fetch = new OnDemandFetch(3, IDLE_WRITE_MIN);
    const { store, writes } = gatedStore(inner, fetch.log);
    const done = observe('paris', fetch.client(), store, { now: manualClock().now });
    await settle();
    fetch.answer(0);
    await settle();
    // Page 1 has not arrived: the store is idle, so page 0 is written now rather than with a full batch.
    expect(fetch.log).toEqual(['request 0', 'request 1', 'write 0 start']);
    fetch.answer(1);
    await settle();
    // Page 1 waits: the store is busy with page 0 (one write at a time).
    expect(fetch.log).toEqual(['request 0', 'request 1', 'write 0 start', 'request 2']);
    writes[0]!.resolve();
    fetch.answer(2);
    await settle();
    writes[1]?.resolve();
    await settle();
    writes[2]?.resolve();
    expect(await done).toMatchObject({ pages: 3, upserted: 3 * IDLE_WRITE_MIN });
    expect(await inner.countDevices('paris')).toBe(3 * IDLE_WRITE_MIN);
  });

  it('a failed write stops the fetch with its error: the page on the wire is aborted and no cursor is stored', async () => {
    const fetch = new OnDemandFetch(5);
    const { store, writes } = gatedStore(inner, fetch.log);
    const done = observe('paris', fetch.client(), store, { now: manualClock().now });
    await settle();
    fetch.answer(0);
    await settle();
    expect(fetch.log).toEqual(['request 0', 'request 1', 'write 0 start']);
    const failure = new Error('disk full');
    writes[0]!.reject(failure);
    await expect(done).rejects.toBe(failure);
    expect(fetch.signals[1]!.aborted).toBe(true);
    expect(fetch.log.filter((l) => l.startsWith('request'))).toHaveLength(2);
    const cursor = await inner.getCursor('paris');
    expect(cursor?.cursor ?? null).toBeNull();
    expect(cursor?.fetchedAt ?? null).toBeNull();
  });

  it('an abort from the caller stops the fetch between pages and stores no cursor', async () => {
    const fetch = new OnDemandFetch(5);
    const { store, writes } = gatedStore(inner, fetch.log);
    const caller = new AbortController();
    const done = observe('paris', fetch.client(), store, { now: manualClock().now, signal: caller.signal });
    await settle();
    fetch.answer(0);
    await settle();
    caller.abort(new Error('shutting down'));
    writes[0]!.resolve();
    await expect(done).rejects.toThrow('shutting down');
    expect((await inner.getCursor('paris'))?.cursor ?? null).toBeNull();
  });
});

describe('observe: a full fetch writes in the groups its store states', () => {
  /** `base` stating `group`, recording the size of each device write. */
  const sized = (group: FetchWriteGroup, base: Store = inner): { store: ObserveStore; sizes: number[] } => {
    const sizes: number[] = [];
    const store: ObserveStore = Object.create(base, { fetchWriteGroup: { value: group } }) as ObserveStore;
    store.upsertDevices = async (server, devices, at, opts) => {
      sizes.push(devices.length);
      return base.upsertDevices(server, devices, at, opts);
    };
    return { store, sizes };
  };
  /** A client whose full fetch has every one of `pages` pages of two devices ready at once (no wire time). */
  const ready = (pages: number): ReconcileDepClient => {
    const fake = new FakeDepClient();
    fake.fetchAllDevices = async function* (): AsyncGenerator<FetchDeviceResponse> {
      for (let k = 0; k < pages; k++) yield page([device(`R${k}-0`), device(`R${k}-1`)], `c${k}`, k < pages - 1);
    };
    return fake;
  };

  it('writes `min` devices while the next page is on the wire', async () => {
    const fetch = new OnDemandFetch(6, 2);
    const { store, sizes } = sized({ min: 4, max: 6 });
    const done = observe('paris', fetch.client(), store, { now: manualClock().now });
    for (let k = 0; k < 6; k++) {
      await settle();
      fetch.answer(k);
    }
    expect(await done).toMatchObject({ mode: 'fetch', pages: 6, upserted: 12 });
    expect(sizes).toEqual([4, 4, 4]);
    expect(await inner.countDevices('paris')).toBe(12);
  });

  it('writes `max` devices when every page is there at once', async () => {
    const { store, sizes } = sized({ min: 4, max: 6 });
    expect(await observe('paris', ready(6), store, { now: manualClock().now })).toMatchObject({ pages: 6, upserted: 12 });
    expect(sizes).toEqual([6, 6]);
  });

  it('falls back to the defaults for groups that make no sense', async () => {
    for (const group of [{ min: 5, max: 2 }, { min: 0, max: 4 }, { min: 1.5, max: 4 }]) {
      const base = await openStore('memory:');
      const { store, sizes } = sized(group, base);
      await observe('paris', ready(6), store, { now: manualClock().now });
      await base.close();
      // 12 devices: below both defaults (IDLE_WRITE_MIN, FETCH_WRITE_BATCH), so one write after the last page.
      expect(sizes).toEqual([12]);
    }
  });
});

describe('observe: a sync pipelines the next page under the write of the current one', () => {
  /** A store that has completed a full fetch of paris (cursor c-start), so observe syncs. */
  const synced = async (): Promise<ReturnType<typeof manualClock>> => {
    const clock = manualClock();
    await inner.setCursor('paris', { cursor: 'c-start', fetchedAt: clock.now(), syncedAt: clock.now() });
    return clock;
  };

  it('asks for page k+1 while page k is written, and moves the cursor only after every write', async () => {
    const clock = await synced();
    const sync = new OnDemandFetch(3);
    const { store, writes } = gatedStore(inner, sync.log);
    const done = observe('paris', sync.client('sync'), store, { now: clock.now });
    await settle();
    expect(sync.log).toEqual(['request 0']);
    sync.answer(0);
    await settle();
    // Page 1 is on the wire while page 0's events are written.
    expect(sync.log).toEqual(['request 0', 'request 1', 'write 0 start']);
    sync.answer(1);
    await settle();
    // One page ahead at most: page 2 is not asked for until page 1 is taken, which waits for write 0.
    expect(sync.log).toEqual(['request 0', 'request 1', 'write 0 start']);
    writes[0]!.resolve();
    await settle();
    expect(sync.log.slice(3)).toEqual(['write 0 done', 'request 2', 'write 1 start']);
    expect((await inner.getCursor('paris'))?.cursor).toBe('c-start');
    sync.answer(2);
    writes[1]!.resolve();
    await settle();
    expect((await inner.getCursor('paris'))?.cursor).toBe('c-start');
    writes[2]!.resolve();
    expect(await done).toMatchObject({ mode: 'sync', pages: 3, upserted: 3 * FETCH_WRITE_BATCH });
    expect(await inner.getCursor('paris')).toMatchObject({ cursor: 'c2' });
  });

  it('a failed write stops the sync with its error: the page on the wire is aborted and the cursor stays', async () => {
    const clock = await synced();
    const sync = new OnDemandFetch(5);
    const { store, writes } = gatedStore(inner, sync.log);
    const done = observe('paris', sync.client('sync'), store, { now: clock.now });
    await settle();
    sync.answer(0);
    await settle();
    expect(sync.log).toEqual(['request 0', 'request 1', 'write 0 start']);
    const failure = new Error('disk full');
    writes[0]!.reject(failure);
    await expect(done).rejects.toBe(failure);
    expect(sync.signals[1]!.aborted).toBe(true);
    expect(sync.log.filter((l) => l.startsWith('request'))).toHaveLength(2);
    expect((await inner.getCursor('paris'))?.cursor).toBe('c-start');
  });
});
