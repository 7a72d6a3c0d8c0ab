/**
 * The read-only overlay a remote plan writes into (controller/store/overlay-store.ts): the same writes
 * applied to a memory store and to an overlay over an identical memory store must read back the same, and
 * the store under the overlay must not change.
 */
import { describe, expect, it } from 'vitest';
import { MemoryStore } from '../../controller/store/index.js';
import { OverlayFullError, OverlayStore } from '../../controller/store/overlay-store.js';
import type { Device } from '../../controller/dep/types.js';
import type { PlanStore } from '../../controller/reconcile/ports.js';

const T0 = new Date('2026-11-20T10:00:00.000Z');
const T1 = new Date('2026-11-21T10:00:00.000Z');

function device(serial: string, extra: Partial<Device> = {}): Device {
  return { serial_number: serial, model: 'iPad', device_family: 'iPad', os: 'iPadOS', ...extra };
}

async function seed(store: MemoryStore): Promise<void> {
  const devices = Array.from({ length: 40 }, (_, i) => device(`S${String(i * 2).padStart(3, '0')}`, i % 3 === 0 ? { device_family: 'Mac', os: 'OSX' } : {}));
  await store.upsertDevices('paris', devices, T0);
  await store.recordResults('paris', [{ serial: 'S004', result: { status: 'failed', at: T0, appleStatus: 'FAILED' }, retryNotBefore: T1, desiredProfile: 'ipads', attempts: 2 }]);
  await store.setCursor('paris', { cursor: 'c1', fetchStartedAt: T0, fetchedAt: T0, syncedAt: T0 });
  await store.upsertServer('paris', { tokenFingerprint: 'fp', at: T0 });
  const { profile } = await store.beginDefine({ server: 'paris', name: 'ipads', contentHash: 'h1', body: { profile_name: 'iPads', url: 'https://mdm.example.com/enroll' }, at: T0 });
  await store.completeDefine(profile, 'UUID-1', T0);
  await store.beginDefine({ server: 'paris', name: 'macs', contentHash: 'h2', body: { profile_name: 'Macs', url: 'https://mdm.example.com/enroll' }, at: T0 });
}

/** The writes a plan may make: a sync's devices (changed, new, deleted), cursor, identity, defines, converged key. */
async function writes(s: PlanStore & { appendAudit: MemoryStore['appendAudit'] }): Promise<void> {
  await s.upsertDevices('paris', [device('S004', { profile_uuid: 'UUID-1', profile_status: 'assigned' }), device('S005'), device('S999', { device_family: 'Mac', os: 'OSX' }), device('A000')], T1, { newArrive: true, arrived: new Set(['S004']) });
  await s.deleteDevices('paris', ['S010', 'S012', 'S005', 'NOPE']);
  await s.setCursor('paris', { cursor: 'c2', syncedAt: T1 });
  await s.upsertServer('paris', { serverUuid: 'SRV', appleServerName: 'Paris', identityCheckedAt: T1, at: T1 });
  await s.completeDefine({ server: 'paris', name: 'macs', contentHash: 'h2' }, 'UUID-2', T1);
  await s.beginDefine({ server: 'paris', name: 'ipads', contentHash: 'h3', body: { profile_name: 'iPads 2', url: 'https://mdm.example.com/enroll' }, at: T1 });
  await s.forgetProfile('paris', 'UUID-1');
  await s.setConvergedKey('paris', 'key-1');
  await s.appendAudit([{ runId: null, server: 'paris', serial: null, action: 'adopt-profile', before: null, after: 'UUID-2', outcome: 'success', appleStatus: null, at: T1 }]);
}

async function view(s: PlanStore): Promise<unknown> {
  const pages: string[][] = [];
  const devices: unknown[] = [];
  for await (const page of s.iterateDevices('paris', { pageSize: 7 })) {
    pages.push(page.map((d) => d.serial));
    devices.push(...page);
  }
  return {
    pages,
    devices,
    count: await s.countDevices('paris'),
    macs: await s.countDevices('paris', { deviceFamily: 'Mac' }),
    assigned: await s.countDevices('paris', { profileUuid: 'UUID-1' }),
    one: await s.getDevice('paris', 'S004'),
    gone: await s.getDevice('paris', 'S010'),
    cursor: await s.getCursor('paris'),
    server: await s.getServer('paris'),
    profiles: await s.listProfiles('paris'),
    defining: await s.listProfiles('paris', { state: 'defining' }),
    deadlines: await s.countMigrationDeadlines('paris'),
  };
}

describe('OverlayStore: reads see the writes, the store below does not', () => {
  it('reads back exactly what a real store would after the same writes, and leaves the base untouched', async () => {
    const real = new MemoryStore();
    const base = new MemoryStore();
    await seed(real);
    await seed(base);
    const before = await view(base);
    const overlay = new OverlayStore(base);
    await writes(real);
    await writes(overlay);
    const expected = (await view(real)) as Record<string, unknown>;
    const got = (await view(overlay)) as Record<string, unknown>;
    // Only the server row's update time is stamped differently by the memory store.
    expect({ ...got, server: { ...(got['server'] as object), updatedAt: null } }).toEqual({ ...expected, server: { ...(expected['server'] as object), updatedAt: null } });
    expect(overlay.writes()).toBeGreaterThan(0);
    expect(await view(base)).toEqual(before);
    expect(await real.readAudit({ limit: 10 })).toHaveLength(1);
    expect(await base.readAudit({ limit: 10 })).toEqual([]);
  });

  it('refuses to hold more devices than its bound, rather than a whole fleet in memory', async () => {
    const overlay = new OverlayStore(new MemoryStore(), 3);
    await overlay.upsertDevices('paris', [device('A'), device('B'), device('C')], T0);
    await expect(overlay.upsertDevices('paris', [device('D')], T0)).rejects.toBeInstanceOf(OverlayFullError);
    await expect(overlay.adoptServer('paris')).rejects.toThrow(/cannot adopt/);
  });
});
