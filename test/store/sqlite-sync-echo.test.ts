import Database from 'better-sqlite3';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openStore } from '../../controller/store/open-store.js';
import { T0, at } from './conformance-context.js';
import { device } from './conformance-devices.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'depctl-echo-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The raw devices row of a serial (what a write to Apple's record would change). */
function rawRow(path: string, serial: string): { record: string; observed_at: number } {
  const db = new Database(path, { readonly: true });
  try {
    return db.prepare('SELECT record, observed_at FROM devices WHERE serial = ?').get(serial) as { record: string; observed_at: number };
  } finally {
    db.close();
  }
}

describe('SQLite: the sync echo of an apply', () => {
  it('leaves the row of Apple\'s record alone when only the profile fields changed, and rewrites it otherwise', async () => {
    const path = join(dir, 'state.db');
    const store = await openStore(`sqlite:${path}`);
    try {
      await store.upsertDevices('paris', [device(1), device(2)], T0);
      const before = rawRow(path, device(1).serial_number);
      const echo = device(1, { profile_uuid: 'U1', profile_status: 'assigned', op_type: 'modified', op_date: '2026-12-01T00:00:00Z' });
      const renamed = device(2, { description: 'renamed', profile_uuid: 'U1', profile_status: 'assigned', op_type: 'modified', op_date: '2026-12-01T00:00:00Z' });
      await store.upsertDevices('paris', [echo, renamed], at(1), { syncEvents: true });
      // Device 1: the wide row is as before (no page rewritten); its new profile fields are read from device_state.
      expect(rawRow(path, device(1).serial_number)).toEqual(before);
      expect((await store.getDevice('paris', echo.serial_number))?.device).toEqual(echo);
      // Device 2: more than the profile changed, so the record was rewritten.
      expect(rawRow(path, renamed.serial_number).observed_at).toBe(at(1).getTime());
      expect(JSON.parse(rawRow(path, renamed.serial_number).record)).toMatchObject({ description: 'renamed' });
      expect(JSON.parse(rawRow(path, renamed.serial_number).record)).not.toHaveProperty('profile_uuid');
    } finally {
      await store.close();
    }
  });
});

describe('SQLite: the stored record leaves out what the typed columns hold', () => {
  it('stores serial, family, OS and model in their columns only, and reads a row written before schema 10 (the whole record) the same', async () => {
    const path = join(dir, 'state.db');
    const store = await openStore(`sqlite:${path}`);
    try {
      await store.upsertDevices('paris', [device(1), device(2)], T0);
      const stored = JSON.parse(rawRow(path, device(1).serial_number).record) as Record<string, unknown>;
      for (const field of ['serial_number', 'device_family', 'os', 'model']) expect(stored).not.toHaveProperty(field);
      expect(stored).toMatchObject({ description: 'device 1', color: 'SPACE GRAY' });
      // Device 2's row as schema 9 wrote it: the whole record without its profile fields.
      const { profile_status: _p, ...whole } = device(2);
      const db = new Database(path);
      try {
        db.prepare('UPDATE devices SET record = ? WHERE serial = ?').run(JSON.stringify(whole), device(2).serial_number);
      } finally {
        db.close();
      }
      expect((await store.getDevice('paris', device(2).serial_number))?.device).toEqual(device(2));
      expect((await store.listDevices('paris', { limit: 10 })).devices.map((d) => d.device)).toEqual([device(1), device(2)]);
    } finally {
      await store.close();
    }
  });
});
