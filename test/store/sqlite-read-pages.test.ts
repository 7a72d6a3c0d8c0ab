import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openStore } from '../../controller/store/open-store.js';
import type { Store } from '../../controller/store/ports.js';
import { SQLITE_READ_PAGE } from '../../controller/store/sqlite/sqlite-store.js';
import { T0 } from './conformance-context.js';
import { device } from './conformance-devices.js';

// SQLite reads every device in small pages unless the caller names a size (sqlite-store.ts SQLITE_READ_PAGE):
// what a page holds is alive while the next one is read, and on Node 24 two large pages outlived young-
// generation collections and filled the old generation. The planner names no size, so this is its read.

let dir: string;
let store: Store;
const N = SQLITE_READ_PAGE * 2 + 7;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'depctl-read-pages-'));
  store = await openStore(`sqlite:${join(dir, 'state.db')}`);
  await store.upsertDevices('paris', Array.from({ length: N }, (_, i) => device(i)), T0);
});
afterEach(async () => {
  await store.close();
  await rm(dir, { recursive: true, force: true });
});

async function sizes<T>(pages: AsyncIterable<readonly T[]>): Promise<number[]> {
  const out: number[] = [];
  for await (const page of pages) out.push(page.length);
  return out;
}

describe('SQLite: pages of a read of every device', () => {
  it('are SQLITE_READ_PAGE devices when the caller names no size, whole or for the differ', async () => {
    expect(SQLITE_READ_PAGE).toBeLessThanOrEqual(1000);
    const want = [SQLITE_READ_PAGE, SQLITE_READ_PAGE, 7];
    expect(await sizes(store.iterateDevices('paris'))).toEqual(want);
    expect(await sizes(store.iterateDiffDevices('paris', { descriptionAndColor: false }))).toEqual(want);
    expect(await sizes(store.iterateDiffDevices('paris', { descriptionAndColor: true }))).toEqual(want);
  });

  it('are the size a caller names', async () => {
    expect(await sizes(store.iterateDiffDevices('paris', { pageSize: 5000, descriptionAndColor: false }))).toEqual([N]);
    expect(await sizes(store.iterateDevices('paris', { pageSize: 1500 }))).toEqual([1500, N - 1500]);
  });
});
