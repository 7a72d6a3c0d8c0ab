/**
 * The one store conformance suite (STYLE.md rule 1): every backend runs exactly these tests. A
 * backend test file passes a factory that creates a fresh, isolated database per test and can open
 * several handles on it (to check persistence, concurrent migrations and leadership).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LATEST_VERSION } from '../../controller/store/migrations/index.js';
import type { Store } from '../../controller/store/ports.js';
import { defineArrivalConformance } from './conformance-arrivals.js';
import { defineSyncEventConformance } from './conformance-sync-events.js';
import { defineCountConformance } from './conformance-counts.js';
import { defineDeviceConformance } from './conformance-devices.js';
import { defineDiffReadConformance } from './conformance-diff.js';
import { defineEnrollConformance } from './conformance-enroll.js';
import { defineOutboxConformance } from './conformance-outbox.js';
import { defineAbmActivityConformance } from './conformance-abm-activities.js';
import { defineRecordConformance } from './conformance-records.js';
import { T0, type ConformanceContext } from './conformance-context.js';

/** One isolated database for one test. */
export interface StoreHarness {
  /** Opens another handle on this test's database (migrated unless `migrate: false`). */
  open(opts?: { migrate?: boolean }): Promise<Store>;
  /** Deletes the database after every handle was closed. */
  destroy(): Promise<void>;
}

/** Creates a fresh, isolated database. */
export type StoreHarnessFactory = () => Promise<StoreHarness>;

/** Registers the whole suite for one backend. */
export function runStoreConformance(label: string, factory: StoreHarnessFactory): void {
  describe(`store conformance: ${label}`, () => {
    let harness: StoreHarness;
    let handles: Store[];
    const ctx = {} as ConformanceContext;

    beforeEach(async () => {
      harness = await factory();
      handles = [];
      ctx.open = async (opts) => {
        const s = await harness.open(opts);
        handles.push(s);
        return s;
      };
      ctx.store = await ctx.open();
    });

    afterEach(async () => {
      for (const s of handles) await s.close();
      await harness.destroy();
    });

    describe('migrations', () => {
      it('opens migrated to the latest version, and migrating again applies nothing', async () => {
        await expect(ctx.store.migrate()).resolves.toEqual({ applied: [], version: LATEST_VERSION });
      });

      it('applies each version exactly once when two handles migrate a fresh database at the same time', async () => {
        const fresh = await factory();
        const a = await fresh.open({ migrate: false });
        const b = await fresh.open({ migrate: false });
        try {
          const [ra, rb] = await Promise.all([a.migrate(), b.migrate()]);
          expect([...ra.applied, ...rb.applied].sort((x, y) => x - y)).toEqual(
            Array.from({ length: LATEST_VERSION }, (_, i) => i + 1),
          );
          expect(ra.version).toBe(LATEST_VERSION);
          expect(rb.version).toBe(LATEST_VERSION);
          await a.upsertServer('paris', { at: T0 });
          expect((await b.getServer('paris'))?.name).toBe('paris');
        } finally {
          await a.close();
          await b.close();
          await fresh.destroy();
        }
      });

      it('keeps data across handles (reopening the same database)', async () => {
        await ctx.store.startRun({ startedAt: T0, commit: 'abc', planHash: null, trigger: 'cli' });
        const again = await ctx.open();
        expect((await again.listRuns({ limit: 5 })).map((r) => r.commit)).toEqual(['abc']);
      });
    });

    defineRecordConformance(ctx);
    defineDeviceConformance(ctx);
    defineCountConformance(ctx);
    defineArrivalConformance(ctx);
    defineSyncEventConformance(ctx);
    defineDiffReadConformance(ctx);
    defineEnrollConformance(ctx);
    defineOutboxConformance(ctx);
    defineAbmActivityConformance(ctx);

    describe('leadership', () => {
      it('lets one handle lead per name until it releases or closes', async () => {
        const other = await ctx.open();
        expect(await ctx.store.tryAcquireLeadership('controller')).toBe(true);
        expect(await ctx.store.tryAcquireLeadership('controller')).toBe(true);
        expect(await other.tryAcquireLeadership('controller')).toBe(false);
        expect(await other.tryAcquireLeadership('another-lock')).toBe(true);
        await ctx.store.releaseLeadership('controller');
        expect(await other.tryAcquireLeadership('controller')).toBe(true);
        expect(await ctx.store.tryAcquireLeadership('controller')).toBe(false);
        await other.close();
        expect(await ctx.store.tryAcquireLeadership('controller')).toBe(true);
      });

      it('names the holder of a lock to another handle, and nobody once it is released', async () => {
        const other = await ctx.open();
        expect(await other.leadershipHolder('writer')).toBeNull();
        expect(await ctx.store.tryAcquireLeadership('writer', 'apply')).toBe(true);
        const holder = await other.leadershipHolder('writer');
        expect(holder?.pid).toBe(process.pid);
        if (ctx.store.backend !== 'memory') expect(holder).toMatchObject({ owner: 'apply', host: expect.any(String), since: expect.any(Date) });
        await ctx.store.releaseLeadership('writer');
        expect(await other.leadershipHolder('writer')).toBeNull();
        await other.close();
      });
    });
  });
}
