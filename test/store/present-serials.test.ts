/**
 * PlanStore.presentSerials and getDevices on every store (memory, SQLite, PostgreSQL when DEPCTL_TEST_POSTGRES_URL
 * is set): the serials (devices) of a list that one server holds, agreeing with getDevice serial by serial.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { storeBackends } from '../helpers/store-backends.js';
import { device } from './conformance-devices.js';

const backends = storeBackends('depctl-present-');

for (const b of backends) {
  describe.skipIf(b.skip)(`presentSerials: ${b.name}`, () => {
    let cleanup: (() => Promise<void>) | undefined;
    afterEach(async () => {
      await cleanup?.();
      cleanup = undefined;
    });

    it('answers which listed serials the server holds, as getDevice does one by one', async () => {
      const { store, destroy } = await b.open();
      cleanup = async () => {
        await store.close();
        await destroy();
      };
      await store.migrate();
      const paris = Array.from({ length: 1500 }, (_, i) => device(i * 2));
      await store.upsertDevices('paris', paris, new Date('2026-01-01T00:00:00Z'));
      await store.upsertDevices('lyon', [device(1)], new Date('2026-01-01T00:00:00Z'));
      // Held, held by another server only, unknown, and a prefix of a held serial.
      const asked = [device(0).serial_number, device(2998).serial_number, device(1).serial_number, 'C99NOTHERE', device(2).serial_number.slice(0, 8)];
      const present = await store.presentSerials!('paris', asked);
      expect([...present].sort()).toEqual([device(0).serial_number, device(2998).serial_number].sort());
      for (const serial of asked) expect(present.has(serial)).toBe((await store.getDevice('paris', serial)) !== undefined);
      expect((await store.presentSerials!('paris', [])).size).toBe(0);
      expect((await store.presentSerials!('nowhere', asked)).size).toBe(0);
      // Many serials at once (more than one PostgreSQL batch): every stored one is found.
      const all = await store.presentSerials!('paris', [...paris.map((d) => d.serial_number), ...Array.from({ length: 6000 }, (_, i) => `X${i}`)]);
      expect(all.size).toBe(paris.length);
    });

    it('reads the listed devices the server holds with their state, as getDevice does one by one', async () => {
      const { store, destroy } = await b.open();
      cleanup = async () => {
        await store.close();
        await destroy();
      };
      await store.migrate();
      const at = new Date('2026-01-01T00:00:00Z');
      const paris = Array.from({ length: 1500 }, (_, i) => device(i * 2));
      await store.upsertDevices('paris', paris, at);
      await store.upsertDevices('lyon', [device(1)], at);
      await store.recordResults('paris', [{ serial: device(4).serial_number, result: { status: 'failed', at, appleStatus: 'FAILED' }, retryNotBefore: new Date('2026-01-02T00:00:00Z'), desiredProfile: 'ipads', attempts: 2 }]);
      // Held (one with state), asked twice, held by another server only, unknown.
      const asked = [device(4).serial_number, device(0).serial_number, device(4).serial_number, device(1).serial_number, 'C99NOTHERE'];
      const got = await store.getDevices!('paris', asked);
      const bySerial = new Map(got.map((d) => [d.serial, d]));
      expect(got.map((d) => d.serial).sort()).toEqual([device(0).serial_number, device(4).serial_number].sort());
      for (const serial of new Set(asked)) expect(bySerial.get(serial)).toEqual(await store.getDevice('paris', serial));
      expect(bySerial.get(device(4).serial_number)).toMatchObject({ desiredProfile: 'ipads', attempts: 2, lastResult: { status: 'failed' } });
      expect(await store.getDevices!('paris', [])).toEqual([]);
      expect(await store.getDevices!('nowhere', asked)).toEqual([]);
      // Many serials at once (more than one PostgreSQL batch): every stored one is read.
      const all = await store.getDevices!('paris', [...paris.map((d) => d.serial_number), ...Array.from({ length: 6000 }, (_, i) => `X${i}`)]);
      expect(all.length).toBe(paris.length);
    });
  });
}
